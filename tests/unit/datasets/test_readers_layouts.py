"""Readers and ``dataset validate --format`` on tiny trees in the layouts the public datasets are
actually shipped in: normal test samples under ``test/good/``, Anomaly-ShapeNet-v2's ``GT/`` folder
holding the anomalous samples alone, Open-Industry's anomalies read from ``gt/`` as its authors'
test loader does, and csv clouds/gt files with a header line."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.cli import main
from scan2ad.datasets.readers import detect_format, read_dataset
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.datasets.validate import validate_dataset
from scan2ad.errors import InputError
from scan2ad.pointcloud import PointCloud, write_cloud


def _pts(n, seed):
    return np.round(np.random.default_rng(seed).normal(size=(n, 3)) * 10, 4)


def _rows(path, pts, labels, sep=" ", nan_normal=False, header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] if header else []
    for p, lab in zip(pts, labels):
        lab_s = "nan" if (nan_normal and lab == 0) else str(int(lab))
        lines.append(sep.join([f"{v:.4f}" for v in p] + [lab_s]))
    path.write_text("\n".join(lines) + "\n")


def _labels(n, k):
    lab = np.zeros(n)
    lab[:k] = 1
    return lab


def shapenet_v2_gt_only(root):
    """ashtray0/{train/N_template.pcd, test/good/N_good.pcd, GT/N_<type>.txt} (comma, NaN normal),
    one type grouped in a GT subfolder; no anomalous test clouds at all."""
    c = root / "ashtray0"
    for i in (0, 1):
        write_cloud(c / "train" / f"{i}_template.pcd", PointCloud(_pts(50, i)))
    for i in (2, 3):
        write_cloud(c / "test" / "good" / f"{i}_good.pcd", PointCloud(_pts(40, i)))
    _rows(c / "GT" / "4_bulge.txt", _pts(30, 4), _labels(30, 3), sep=",", nan_normal=True)
    _rows(c / "GT" / "5_crak.txt", _pts(31, 5), _labels(31, 4), sep=",", nan_normal=True)
    _rows(c / "GT" / "concavity" / "6_concavity.txt", _pts(32, 6), _labels(32, 5), sep=",")
    return root


def real3d_test_good(root):
    """airplane/{train/N_template.pcd, test/good/*.pcd, test/N_bulge.pcd, gt/N_bulge.txt}."""
    c = root / "airplane"
    write_cloud(c / "train" / "1_template.pcd", PointCloud(_pts(60, 1)))
    write_cloud(c / "test" / "good" / "2_good.pcd", PointCloud(_pts(40, 2)))
    write_cloud(c / "test" / "3_bulge.pcd", PointCloud(_pts(45, 3)))
    _rows(c / "gt" / "3_bulge.txt", _pts(33, 13), _labels(33, 2))  # other points than the pcd
    write_cloud(c / "test" / "4_sink_cut.pcd", PointCloud(_pts(45, 4)))
    _rows(c / "gt" / "4_sink_cut.txt", _pts(34, 14), _labels(34, 6))
    return root


def open_industry_public(root):
    """kaikouxiao/{train/<cls>_N.pcd, test/<cls>_N.pcd, gt/<cls>_<Type>_N.txt}: the anomalies exist
    only as gt files (whitespace, NaN = normal), as the authors' test loader reads them."""
    cls = "kaikouxiao"
    c = root / cls
    for i in (1, 2):
        write_cloud(c / "train" / f"{cls}_{i:03d}.pcd", PointCloud(_pts(50, i)))
    write_cloud(c / "test" / f"{cls}_003.pcd", PointCloud(_pts(40, 3)))
    _rows(c / "gt" / f"{cls}_Bump_001.txt", _pts(40, 4), _labels(40, 2), nan_normal=True)
    _rows(c / "gt" / f"{cls}_Scratch_001.txt", _pts(40, 5), _labels(40, 3), nan_normal=True)
    return root


def iec3d_csv(root):
    """washer/{train/N.csv, test/N_good.csv, test/N_convex.csv, gt/N_convex.csv}, all with headers."""
    c = root / "washer"
    for i in (1, 2):
        _rows(c / "train" / f"{i}.csv", _pts(40, i), np.zeros(40), sep=",", header="x,y,z,label")
    p = _pts(40, 3)
    (c / "test").mkdir(parents=True)
    (c / "test" / "3_good.csv").write_text("x,y,z\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in p) + "\n")
    p4 = _pts(40, 4)
    (c / "test" / "4_convex.csv").write_text(
        "X Y Z\n" + "\n".join(" ".join(f"{v:.4f}" for v in r) for r in p4) + "\n")
    _rows(c / "gt" / "4_convex.csv", p4, _labels(40, 7), sep=",", header="x,y,z,label")
    return root


def test_anomaly_shapenet_v2_gt_folder_only(tmp_path):
    root = shapenet_v2_gt_only(tmp_path / "as")
    assert detect_format(root) == "anomaly-shapenet"
    samples = read_dataset(root)
    test = sorted((s.defect_type, s.relpath) for s in samples if s.split == "test")
    assert test == [("bulge", "ashtray0/GT/4_bulge.txt"), ("concavity", "ashtray0/GT/concavity/6_concavity.txt"),
                    ("crak", "ashtray0/GT/5_crak.txt"),
                    (NORMAL, "ashtray0/test/good/2_good.pcd"), (NORMAL, "ashtray0/test/good/3_good.pcd")]
    sums = {s.defect_type: int(load_sample(s).labels.sum()) for s in samples}
    assert sums == {NORMAL: 0, "bulge": 3, "crak": 4, "concavity": 5}
    assert validate_dataset(root, "anomaly-shapenet") == []
    # beside anomalous test clouds, a gt file without its cloud is a naming problem, not a sample
    write_cloud(root / "ashtray0" / "test" / "7_hole.pcd", PointCloud(_pts(20, 7)))
    _rows(root / "ashtray0" / "GT" / "7_hole.txt", _pts(20, 7), _labels(20, 2), sep=",")
    problems = validate_dataset(root, "anomaly-shapenet")
    assert any("4_bulge.txt: gt file without a test cloud" in p for p in problems), problems


def test_real3d_ad_test_good_folder(tmp_path):
    root = real3d_test_good(tmp_path / "r3d")
    assert detect_format(root) == "real3d-ad"
    samples = read_dataset(root, "real3d-ad")
    assert sorted((s.split, s.defect_type) for s in samples) == [
        ("test", "bulge"), ("test", NORMAL), ("test", "sink"), ("train", NORMAL)]
    bulge = next(s for s in samples if s.defect_type == "bulge")
    assert len(load_sample(bulge)) == 33  # Real3D-AD: the gt's points, not the pcd's 45
    assert validate_dataset(root, "real3d-ad") == []
    # every problem listed, by file
    gt = root / "airplane" / "gt" / "4_sink_cut.txt"
    gt.write_text(gt.read_text().replace(" 1\n", " 2\n", 1))
    (root / "airplane" / "gt" / "3_bulge.txt").unlink()
    problems = validate_dataset(root, "real3d-ad")
    text = "\n".join(problems)
    assert "airplane/test/3_bulge.pcd: no gt file airplane/gt/3_bulge.txt" in text
    assert "airplane/gt/4_sink_cut.txt: 1 label(s) not 0, 1 or NaN" in text
    assert main(["dataset", "validate", str(root), "--format", "real3d-ad"]) == 2


def test_open_industry_anomalies_from_gt_and_no_manifest(tmp_path, capsys):
    root = open_industry_public(tmp_path / "oi")
    assert detect_format(root) == "open-industry"
    samples = read_dataset(root, "open-industry")
    anom = sorted((s.defect_type, s.points_from_gt) for s in samples if s.label)
    assert anom == [("Bump", True), ("Scratch", True)]
    assert {s.defect_type: int(load_sample(s).labels.sum()) for s in samples if s.label} == {"Bump": 2,
                                                                                              "Scratch": 3}
    # a public release has neither manifest.json nor splits/: valid in its layout ...
    assert validate_dataset(root, "open-industry") == []
    assert main(["dataset", "validate", str(root), "--format", "open-industry"]) == 0
    # ... but not as a dataset scan2ad built
    assert "manifest.json: missing" in validate_dataset(root)
    assert main(["dataset", "validate", str(root), "--format", "mvtec"]) == 2
    assert "mvtec" in capsys.readouterr().err


def test_csv_clouds_with_a_header(tmp_path):
    root = iec3d_csv(tmp_path / "iec")
    assert detect_format(root) == "iec3d-ad"
    samples = read_dataset(root)
    convex = next(s for s in samples if s.defect_type == "convex")
    c = load_sample(convex)
    assert len(c) == 40 and c.labels.sum() == 7
    assert all(len(load_sample(s)) == 40 for s in samples)
    assert validate_dataset(root, "iec3d-ad") == []
    # the gt's points must be the cloud's, in order, for IEC3D-AD
    gt = root / "washer" / "gt" / "4_convex.csv"
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join([lines[0], *lines[2:], lines[1]]) + "\n")
    assert any("same order" in p for p in validate_dataset(root, "iec3d-ad"))
    bad = root / "washer" / "gt" / "4_convex.csv"
    bad.write_text("x,y,z,w\n1,2,3,0\n")
    assert any("names no label column" in p for p in validate_dataset(root, "iec3d-ad"))


def test_validate_rejects_unknown_format(tmp_path):
    with pytest.raises(InputError, match="unknown dataset format"):
        validate_dataset(tmp_path, "mvtec")
