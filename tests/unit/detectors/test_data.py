"""One-class and open-set partitions (Open3D-AD §III-C): seen samples go to training, the rest of
the known types are "seen" test samples, other types "unseen"; a shipped split file wins."""

import json
import shutil

import pytest

from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors import data as D
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Packaged as the builder packages it: the dataset writes its own open-set split files."""
    root = tmp_path_factory.mktemp("ds")
    make_synthetic_dataset(root, SyntheticSpec(classes=("ring",), n_train=2, n_test_normal=2,
                                               n_per_defect=4, points=256), package=True)
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


def test_split_file_is_used_verbatim(tiny, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny, root)  # a private copy: the shared dataset's own splits stay as written
    split = root / "splits" / "ring" / "known-Scratch_k1_seed1.json"
    split.parent.mkdir(parents=True, exist_ok=True)  # packaging may have written splits already
    split.write_text(json.dumps({"schema_version": 1, "seed": 1, "k": 1, "known_defects": ["Scratch"],
                                 "selected_relpaths": ["ring/test/ring_Scratch_003.pcd"]}))
    samples = D.load_dataset(root)
    part = D.open_set_partition(samples, "ring", ("Scratch",), 1, 1, root=root)
    assert part.source == "split file known-Scratch_k1_seed1.json"
    assert [s.relpath for s in part.train_anomalies] == ["ring/test/ring_Scratch_003.pcd"]
    assert part.known == ("Scratch",) and part.unseen == ("Bump", "Dent")
    # asking for other known types than any file holds derives the partition instead
    derived = D.open_set_partition(samples, "ring", ("Dent",), 1, 1, root=root)
    assert derived.source.startswith("derived")


def test_packaged_split_files_drive_the_open_set_protocol(tiny):
    """The split files the packaging wrote are what the open-set protocol trains on; with no
    known types given, the file of the default known types (the first half) is chosen."""
    files = sorted((tiny / "splits" / "ring").glob("known-*_k*_seed*.json"))
    assert files, "packaging wrote no split files"
    meta = json.loads(files[0].read_text())
    samples = D.load_dataset(tiny)
    part = D.open_set_partition(samples, "ring", tuple(meta["known_defects"]), meta["k"], meta["seed"],
                                root=tiny)
    assert part.source == f"split file {files[0].name}"
    assert sorted(s.relpath for s in part.train_anomalies) == sorted(meta["selected_relpaths"])
    assert not {s.relpath for s in part.test} & set(meta["selected_relpaths"])
    default = D.open_set_partition(samples, "ring", None, meta["k"], meta["seed"], root=tiny)
    assert default.known == D.default_known(D.defect_types(samples, "ring"))
    assert default.source.startswith("split file known-" + "+".join(default.known) + "_k")


def test_split_file_without_its_fields_is_an_input_error(tiny, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny, root)
    (root / "splits" / "ring" / "known-Bump_k1_seed9.json").write_text(json.dumps({"schema_version": 1, "seed": 9, "k": 1}))
    with pytest.raises(InputError, match="no 'known_defects'"):
        D.open_set_partition(D.load_dataset(root), "ring", ("Bump",), 1, 9, root=root)


def test_bad_requests_are_input_errors(tiny):
    samples = D.load_dataset(tiny)
    with pytest.raises(InputError, match="do not occur"):
        D.open_set_partition(samples, "ring", ("Crack",), 1, 1)
    with pytest.raises(InputError, match="leave none"):
        D.open_set_partition(samples, "ring", ("Bump",), 4, 1)
    assert D.default_known(["Scratch", "Bump", "Dent"]) == ("Bump",)
