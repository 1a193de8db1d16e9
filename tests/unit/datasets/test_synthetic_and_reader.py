import numpy as np
import pytest

from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import NORMAL, load_sample, select
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.errors import FormatError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec = SyntheticSpec(classes=("ring", "bracket"), n_train=3, n_test_normal=2, n_per_defect=2, points=1024)
    return make_synthetic_dataset(tmp_path_factory.mktemp("tiny"), spec), spec


def test_reader_finds_every_sample(tiny):
    root, spec = tiny
    samples = read_open_industry(root)
    assert len(select(samples, split="train")) == 2 * spec.n_train
    anomalous = [s for s in samples if s.label == 1]
    assert len(anomalous) == 2 * len(spec.defects) * spec.n_per_defect
    assert {s.defect_type for s in anomalous} == set(spec.defects)
    assert all(s.gt_path is not None for s in anomalous)


def test_defects_are_labelled_and_rare(tiny):
    root, _ = tiny
    for s in read_open_industry(root):
        c = load_sample(s)
        if s.defect_type == NORMAL:
            assert c.labels.sum() == 0
        else:
            ratio = c.labels.mean()
            assert 0.001 < ratio < 0.08, (s.relpath, ratio)


def test_reader_reports_every_problem(tiny, tmp_path):
    import shutil

    root, _ = tiny
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    (bad / "ring" / "gt" / "ring_Bump_001.txt").unlink()
    (bad / "bracket" / "test" / "weird.pcd").write_text("x")
    with pytest.raises(FormatError) as e:
        read_open_industry(bad)
    msg = str(e.value)
    assert "ring_Bump_001" in msg and "weird.pcd" in msg


def test_reader_points_a_class_folder_to_its_dataset(tiny, tmp_path):
    root, _ = tiny
    with pytest.raises(FormatError) as e:
        read_open_industry(root / "ring")
    assert "one class folder" in str(e.value) and str(root) in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no class folders with a train/ subfolder"):
        read_open_industry(tmp_path / "empty")


def test_reader_accepts_uppercase_gt_and_nan_labels(tiny, tmp_path):
    import shutil

    root, _ = tiny
    alt = tmp_path / "alt"
    shutil.copytree(root, alt)
    gt = alt / "ring" / "gt"
    f = gt / "ring_Dent_001.txt"
    rows = [ln.split() for ln in f.read_text().splitlines()]
    f.write_text("\n".join(",".join(r[:3] + (["nan"] if r[3] == "0" else ["1"])) for r in rows))
    gt.rename(alt / "ring" / "GT")
    s = next(s for s in read_open_industry(alt) if s.name == "ring_Dent_001")
    c = load_sample(s)
    assert c.labels.sum() == sum(r[3] == "1" for r in rows)
    assert np.isfinite(c.points).all()
