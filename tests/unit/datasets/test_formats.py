"""Readers on small fixtures in the public releases' exact layouts (names, gt folders, separators)."""

import numpy as np
import pytest

from scan2ad.datasets.readers import detect_format, read_dataset
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.errors import FormatError, InputError
from scan2ad.pointcloud import PointCloud, write_cloud


def _cloud(n, seed):
    return np.random.default_rng(seed).normal(size=(n, 3)) * 10


def _gt(path, pts, labels, sep=" ", nan_normal=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for p, lab in zip(pts, labels):
        lab_s = "nan" if (nan_normal and lab == 0) else str(int(lab))
        rows.append(sep.join([f"{v:.6f}" for v in p] + [lab_s]))
    path.write_text("\n".join(rows) + "\n")


def make_real3d(root):
    """airplane/{train/N_template.pcd, test/N_good.pcd, N_bulge.pcd, N_sink_cut.pcd, gt/*.txt}."""
    c = root / "airplane"
    for i in (1, 2):
        write_cloud(c / "train" / f"{i}_template.pcd", PointCloud(_cloud(50, i)))
    write_cloud(c / "test" / "3_good.pcd", PointCloud(_cloud(40, 3)))
    for stem, seed in (("4_bulge", 4), ("5_sink_cut", 5)):
        write_cloud(c / "test" / f"{stem}.pcd", PointCloud(_cloud(45, seed)))
        pts = _cloud(30, seed + 10)  # the gt holds other points than the pcd (Real3D-AD)
        lab = np.zeros(30)
        lab[:4] = 1
        _gt(c / "gt" / f"{stem}.txt", pts, lab)
    write_cloud(c / "test" / "temp_6.pcd", PointCloud(_cloud(10, 6)))  # the loader skips "temp"
    return root


def make_shapenet(root, version):
    c = root / "ashtray0"
    if version == "v1":
        train = ["ashtray0_template0", "ashtray0_template1"]
        normal, anom = ["ashtray0_positive0"], [("ashtray0_bulge0", "bulge"), ("ashtray0_concavity1", "concavity")]
    else:
        train = ["0_template", "1_template"]
        normal, anom = ["2_good"], [("3_bulge", "bulge"), ("4_concavity", "concavity")]
    for i, s in enumerate(train):
        write_cloud(c / "train" / f"{s}.pcd", PointCloud(_cloud(50, i)))
    for s in normal:
        write_cloud(c / "test" / f"{s}.pcd", PointCloud(_cloud(40, 9)))
    for i, (s, _) in enumerate(anom):
        pts = _cloud(35, 20 + i)
        write_cloud(c / "test" / f"{s}.pcd", PointCloud(pts))
        lab = np.zeros(35)
        lab[-3:] = 1
        _gt(c / "GT" / f"{s}.txt", pts, lab, sep=",", nan_normal=True)
    return root, [t for _, t in anom]


def make_iec3d(root):
    c = root / "washer"
    for i in (1, 2):
        write_cloud(c / "train" / f"{i}.pcd", PointCloud(_cloud(40, i)))
    write_cloud(c / "test" / "3_good.pcd", PointCloud(_cloud(40, 3)))
    pts = _cloud(40, 4)
    write_cloud(c / "test" / "4_convex.pcd", PointCloud(pts))
    lab = np.zeros(40)
    lab[5:8] = 1
    _gt(c / "gt" / "4_convex.txt", pts, lab)
    return root


def test_real3d_ad_points_from_gt(tmp_path):
    root = make_real3d(tmp_path / "r3d")
    assert detect_format(root) == "real3d-ad"
    samples = read_dataset(root)
    assert sorted((s.split, s.defect_type) for s in samples) == [
        ("test", "bulge"), ("test", NORMAL), ("test", "sink"), ("train", NORMAL), ("train", NORMAL)]
    bulge = next(s for s in samples if s.defect_type == "bulge")
    c = load_sample(bulge)
    assert len(c) == 30 and c.labels.sum() == 4  # from the gt, not the 45-point pcd


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_anomaly_shapenet_both_namings(tmp_path, version):
    root, types = make_shapenet(tmp_path / version, version)
    assert detect_format(root) == "anomaly-shapenet"
    samples = read_dataset(root)
    assert sorted(s.defect_type for s in samples if s.split == "test") == sorted(types + [NORMAL])
    for s in samples:
        c = load_sample(s)
        assert c.labels.sum() == (3 if s.defect_type != NORMAL else 0)  # comma-separated, NaN normal


def test_iec3d_ad(tmp_path):
    root = make_iec3d(tmp_path / "iec")
    assert detect_format(root) == "iec3d-ad"
    samples = read_dataset(root)
    anom = [s for s in samples if s.label == 1]
    assert [s.defect_type for s in anom] == ["convex"]
    assert load_sample(anom[0]).labels.sum() == 3


def test_readers_list_every_problem(tmp_path):
    root = make_real3d(tmp_path / "r3d")
    (root / "airplane" / "gt" / "4_bulge.txt").unlink()
    write_cloud(root / "airplane" / "test" / "oddname.pcd", PointCloud(_cloud(5, 1)))
    write_cloud(root / "airplane" / "train" / "9_other.pcd", PointCloud(_cloud(5, 1)))
    with pytest.raises(FormatError) as e:
        read_dataset(root, "real3d-ad")
    msg = str(e.value)
    assert "3 problem(s)" in msg and "4_bulge" in msg and "oddname.pcd" in msg and "9_other.pcd" in msg

    root2, _ = make_shapenet(tmp_path / "v1", "v1")
    (root2 / "ashtray0" / "GT" / "ashtray0_bulge0.txt").unlink()
    _gt(root2 / "ashtray0" / "GT" / "ashtray0_crack5.txt", _cloud(3, 0), np.zeros(3))
    with pytest.raises(FormatError) as e:
        read_dataset(root2, "anomaly-shapenet")
    assert "ashtray0_bulge0" in str(e.value) and "ashtray0_crack5.txt" in str(e.value)


def test_detect_rejects_unknown_and_ambiguous(tmp_path):
    with pytest.raises(FormatError, match="no class folders"):
        detect_format(tmp_path)
    make_real3d(tmp_path / "mix")
    make_iec3d(tmp_path / "mix")
    with pytest.raises(FormatError, match="cannot tell"):
        detect_format(tmp_path / "mix")
    with pytest.raises(InputError, match="unknown dataset format"):
        read_dataset(tmp_path / "mix", "mvtec")
