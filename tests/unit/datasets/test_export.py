"""Exporters: export a small dataset, read it back the way each group's own loader does.

The readers below re-implement the authors' file expectations (globs, name tests, gt parsing),
not our readers, so a naming slip that our tolerant readers would forgive still fails here:
* Open-Industry, hzzzzzhappy/open-industry Open3DAD/data/mc3dad.py: train ``*.pcd``; normal test
  ``<cls>_[0-9]*.pcd``; anomalies ``gt/<cls>_<Type>*.txt`` read with ``np.genfromtxt`` (label
  > 0.5); seen anomalies chosen by relpath ``<cls>/gt/<name>.txt``.
* Real3D-AD, M-3LAB/Real3D-AD dataset_pc.py: train ``*template*.pcd``; test ``*.pcd`` without
  'temp' in the path; 'good' in the path means normal, else ``gt/<stem>.txt`` read with
  ``np.genfromtxt(delimiter=" ")``.
* Anomaly-ShapeNet (v1), Open3DAD/data/anomalyshape.py: normal test has 'positive' in its name;
  anomalies are ``GT/<base class>*.txt``.
"""

from __future__ import annotations

import fnmatch
import os

import numpy as np
import pytest
from click.testing import CliRunner

from scan2ad.datasets.export import export_dataset, read_export
from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.errors import InputError
from scan2ad.io import read_json
from scan2ad.pointcloud import read_cloud


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec = SyntheticSpec(classes=("ring",), n_train=2, n_test_normal=2, n_per_defect=2, points=512)
    root = make_synthetic_dataset(tmp_path_factory.mktemp("src"), spec, package=True)
    return root, read_open_industry(root)


def _pcd_points(path: str) -> np.ndarray:
    return read_cloud(path).points


def _by_source(out):
    return {e.source: e for e in read_export(out)}


def test_open_industry_export_reads_back_as_their_loader_reads_it(tiny, tmp_path):
    src, samples = tiny
    out = tmp_path / "oi"
    export_dataset(samples, out, "open-industry", source=src)
    cdir = out / "ring"
    train = sorted(p for p in os.listdir(cdir / "train") if p.endswith(".pcd"))
    test_normal = sorted(p for p in os.listdir(cdir / "test") if fnmatch.fnmatch(p, "ring_[0-9]*.pcd"))
    assert len(train) == 2 and len(test_normal) == 2
    back = _by_source(out)
    for s in samples:
        if s.defect_type == NORMAL:
            continue
        e = back[s.relpath]
        t = s.defect_type[:1].upper() + s.defect_type[1:]
        assert fnmatch.fnmatch(os.path.basename(e.gt_relpath), f"ring_{t}*.txt")
        data = np.atleast_2d(np.genfromtxt(out / e.gt_relpath, dtype=np.float32))
        assert data.shape[1] == 4
        ours = load_sample(s)
        np.testing.assert_allclose(data[:, :3], ours.points, atol=1e-5)
        np.testing.assert_array_equal((np.isfinite(data[:, 3]) & (data[:, 3] > 0.5)), ours.labels > 0)
        np.testing.assert_allclose(_pcd_points(out / e.relpath), ours.points, atol=1e-5)
    # split files follow the renamed samples, and name what their selection code looks for
    splits = sorted((out / "splits" / "ring").glob("*.json"))
    assert splits and len(splits) == len(list((src / "splits" / "ring").glob("*.json")))
    doc = read_json(splits[0])
    src_doc = read_json(src / "splits" / "ring" / splits[0].name)
    assert [back[r].relpath for r in src_doc["selected_relpaths"]] == doc["selected_relpaths"]
    for r in doc["selected_relpaths"]:
        gt = out / "ring" / "gt" / (os.path.splitext(os.path.basename(r))[0] + ".txt")
        assert gt.is_file()


def test_real3d_export_reads_back_as_their_loader_reads_it(tiny, tmp_path):
    src, samples = tiny
    out = tmp_path / "r3d"
    split = read_json(min((src / "splits" / "ring").glob("*_k1_seed1.json")))
    export_dataset(samples, out, "real3d-ad", source=src, exclude=set(split["selected_relpaths"]))
    cdir = out / "ring"
    train = [p for p in os.listdir(cdir / "train") if "template" in p and p.endswith(".pcd")]
    assert len(train) == 2
    tests = [str(cdir / "test" / p) for p in os.listdir(cdir / "test") if p.endswith(".pcd")]
    tests = [p for p in tests if "temp" not in p]
    n_anom = sum(1 for s in samples if s.label == 1) - len(split["selected_relpaths"])
    assert sum("good" in p for p in tests) == 2 and sum("good" not in p for p in tests) == n_anom
    back = {e.relpath: e for e in read_export(out)}
    by_rel = {s.relpath: s for s in samples}
    for p in tests:
        if "good" in p:
            continue
        stem = os.path.splitext(os.path.basename(p))[0]
        data = np.genfromtxt(os.path.join(cdir, "gt", stem + ".txt"), delimiter=" ")
        ours = load_sample(by_rel[back[os.path.relpath(p, out)].source])
        np.testing.assert_allclose(data[:, :3], ours.points, atol=1e-5)
        np.testing.assert_array_equal(data[:, 3], ours.labels)
    assert not set(split["selected_relpaths"]) & {e.source for e in read_export(out)}


def test_anomaly_shapenet_export_reads_back_as_their_loader_reads_it(tiny, tmp_path):
    src, samples = tiny
    out = tmp_path / "asn"
    export_dataset(samples, out, "anomaly-shapenet", source=src)
    cdir = out / "ring"
    tests = sorted(os.listdir(cdir / "test"))
    assert sum("positive" in p for p in tests) == 2
    gts = sorted(p for p in os.listdir(cdir / "GT") if fnmatch.fnmatch(p, "ring*.txt"))
    assert len(gts) == sum(1 for s in samples if s.label == 1)
    for g in gts:
        data = np.atleast_2d(np.genfromtxt(cdir / "GT" / g, dtype=np.float32, delimiter=","))
        if data.shape[1] < 4:   # their loader: comma first, then whitespace
            data = np.atleast_2d(np.genfromtxt(cdir / "GT" / g, dtype=np.float32))
        assert data.shape[1] == 4 and set(np.unique(data[:, 3])) <= {0.0, 1.0}
        assert (data[:, 3] > 0.5).any()


def test_export_refuses_a_foreign_folder_and_replaces_its_own(tiny, tmp_path):
    src, samples = tiny
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="overwrite"):
        export_dataset(samples, foreign, "real3d-ad", source=src)
    assert (foreign / "keep.txt").read_text() == "mine"
    out = tmp_path / "own"
    export_dataset(samples, out, "anomaly-shapenet", source=src)
    export_dataset(samples, out, "anomaly-shapenet", source=src)   # its own: replaced
    export_dataset(samples, foreign, "real3d-ad", source=src, overwrite=True)
    assert not (foreign / "keep.txt").exists() and (foreign / "export.json").is_file()


def test_real3d_export_refuses_paths_their_loader_would_misread(tiny, tmp_path):
    src, samples = tiny
    with pytest.raises(InputError, match="temp"):
        export_dataset(samples, tmp_path / "template_out", "real3d-ad", source=src)


def test_cli_export(tiny, tmp_path):
    from scan2ad.datasets.cli import dataset

    src, samples = tiny
    split = min((src / "splits" / "ring").glob("*_k1_seed1.json"))
    out = tmp_path / "cli"
    r = CliRunner().invoke(dataset, ["export", str(src), "--format", "real3d-ad", "--out", str(out),
                                     "--exclude-split", str(split)])
    assert r.exit_code == 0, r.output
    assert len(read_export(out)) == len(samples) - len(read_json(split)["selected_relpaths"])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    r = CliRunner().invoke(dataset, ["export", str(src), "--format", "open-industry",
                                     "--out", str(tmp_path / "busy")])
    assert r.exit_code != 0 and "overwrite" in str(r.exception)
