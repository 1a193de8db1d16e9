"""One-class and open-set partitions (Open3D-AD §III-C): seen samples go to training, the rest of
the known types are "seen" test samples, other types "unseen"; a shipped split file wins."""

import json

import pytest
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors import data as D

from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    make_synthetic_dataset(root, SyntheticSpec(classes=("ring",), n_train=2, n_test_normal=2,
                                               n_per_defect=4, points=256))
    return root


def test_one_class_partition(tiny):
    part = D.one_class_partition(D.load_dataset(tiny), "ring")
    assert len(part.train_normal) == 2 and part.train_anomalies == []
    assert len(part.test) == 2 + 3 * 4
    assert list(part.subsets()) == ["overall"]


def test_open_set_partition_is_seeded_and_disjoint(tiny):
    samples = D.load_dataset(tiny)
    a = D.open_set_partition(samples, "ring", ("Dent", "Bump"), k=2, seed=3)
    b = D.open_set_partition(samples, "ring", ("Bump", "Dent"), k=2, seed=3)
    assert a.known == ("Bump", "Dent") and a.unseen == ("Scratch",)
    assert [s.relpath for s in a.train_anomalies] == [s.relpath for s in b.train_anomalies]
    assert sorted(s.defect_type for s in a.train_anomalies) == ["Bump", "Bump", "Dent", "Dent"]
    assert not {s.path for s in a.train_anomalies} & {s.path for s in a.test}
    subsets = a.subsets()
    assert {s.defect_type for s in subsets["seen"]} == {"good", "Bump", "Dent"}
    assert {s.defect_type for s in subsets["unseen"]} == {"good", "Scratch"}
    assert len(subsets["seen"]) == 2 + 2 * 2 and len(subsets["unseen"]) == 2 + 4


def test_seeds_choose_different_samples(tiny):
    samples = D.load_dataset(tiny)
    chosen = {tuple(s.relpath for s in D.open_set_partition(samples, "ring", ("Bump",), 1, seed).train_anomalies)
              for seed in range(1, 6)}
    assert len(chosen) > 1


def test_split_file_is_used_verbatim(tiny):
    split = tiny / "splits" / "ring" / "known-Scratch_k1_seed1.json"
    split.parent.mkdir(parents=True)
    split.write_text(json.dumps({"schema_version": 1, "seed": 1, "k": 1, "known_defects": ["Scratch"],
                                 "selected_relpaths": ["ring/test/ring_Scratch_003.pcd"]}))
    try:
        part = D.open_set_partition(D.load_dataset(tiny), "ring", None, 1, 1, root=tiny)
        assert part.source.startswith("split file")
        assert [s.relpath for s in part.train_anomalies] == ["ring/test/ring_Scratch_003.pcd"]
        assert part.known == ("Scratch",) and part.unseen == ("Bump", "Dent")
    finally:
        split.unlink()


def test_bad_requests_are_input_errors(tiny):
    samples = D.load_dataset(tiny)
    with pytest.raises(InputError, match="do not occur"):
        D.open_set_partition(samples, "ring", ("Crack",), 1, 1)
    with pytest.raises(InputError, match="leave none"):
        D.open_set_partition(samples, "ring", ("Bump",), 4, 1)
    assert D.default_known(["Scratch", "Bump", "Dent"]) == ("Bump",)
