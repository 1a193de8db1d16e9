"""The registry entries of issue 8 with their DEFAULT (shipped) encoders: each constructs, trains
on a tiny open-set dataset and scores; the paper spellings name the same detectors; the shipped
weights are package data. Token sizes are small (64 groups of 32 of 2048 points, one view, 30
head steps) so the whole file takes ~20 s on 2 cores; the encoder is whatever the entry names."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import numpy as np
import pytest

from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import load_sample
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors.base import TrainSet
from scan2ad.detectors.features.backbones import SHIPPED, WEIGHTS_DIR
from scan2ad.detectors.registry import REGISTRY, create

REPO = Path(__file__).resolve().parents[3]
ENTRIES = ["patchcore-pointmae", "m3dm", "reg3d-ad", "devnet-pm", "devnet-pb", "dra-pm", "dra-pb"]
SMALL = {"feature_points": 2048, "groups": 64, "group_size": 32}
HEADS = {"views": 1, "steps": 30, "batch_size": 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("shipped"), SyntheticSpec(
        classes=("ring",), n_train=3, n_test_normal=1, n_per_defect=2, points=3000, defect_depth_mm=3.0))
    samples = read_open_industry(root)
    bumps = [s for s in samples if s.defect_type == "Bump"]
    train = TrainSet([load_sample(s) for s in samples if s.split == "train"], [load_sample(bumps[0])],
                     ["Bump"], "ring")
    test = [load_sample(s) for s in samples if s.split == "test" and s.defect_type == "good"] + \
        [load_sample(bumps[1])]
    return train, test


@pytest.mark.parametrize("name", ENTRIES)
def test_default_entry_trains_and_scores_with_its_shipped_encoder(name, tiny):
    from scan2ad.detectors.features import pointmae_extractor as pe

    train, test = tiny
    det = create(name, **SMALL, **(HEADS if name.startswith(("devnet", "dra")) else {}))
    spec = det.config.encoder
    assert spec == REGISTRY[name].overrides.get("encoder", "point_mae_small")
    kind = "point-bert" if spec.startswith("point-bert:") else "point-mae"
    shipped = spec.removeprefix("point-bert:")
    assert shipped in SHIPPED and kind == ("point-bert" if name.endswith("-pb") else "point-mae")
    det.fit(train)
    for cloud in test:
        s = det.score(cloud.points)
        assert s.points.shape == (len(cloud),) and np.isfinite(s.points).all() and np.isfinite(s.object)
    # the detector holds the shipped weights' fingerprint
    assert det.state_dict()["encoder_fingerprint"] == pe.encoder_fingerprint(spec)


def test_paper_spellings_name_the_same_detectors():
    for alias, name in (("DevNet_pm", "devnet-pm"), ("DevNet_pb", "devnet-pb"), ("DRA_pm", "dra-pm"),
                        ("DRA_pb", "dra-pb")):
        det = create(alias)
        assert type(det) is type(create(name)) and det.config == create(name).config and det.name == alias


def test_shipped_weights_are_package_data():
    """setup.py's package_data for the backbones package matches every file of weights/."""
    tree = ast.parse((REPO / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    data = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "package_data"))
    patterns = data["scan2ad.detectors.features.backbones"]
    files = sorted(p.name for p in WEIGHTS_DIR.iterdir())
    assert {"point_mae_small.pt", "point_bert_small.pt", "README.md"} <= set(files)
    for f in files:
        assert any(fnmatch.fnmatch(f"weights/{f}", p) for p in patterns), f


@pytest.mark.slow
def test_full_demo_step_runs_patchcore_pointmae_on_the_shipped_weights(tmp_path):
    """The full (not --quick) demo step runs PatchCore(PointMAE) with the shipped point_mae_small
    beside Open3D-AD, under the same protocol, and reports both."""
    from scan2ad.demo import DemoContext
    from scan2ad.detectors.demo import run

    root = make_synthetic_dataset(tmp_path / "ds", SyntheticSpec(
        classes=("ring",), n_train=4, n_test_normal=3, n_per_defect=2, points=8192))
    ctx = DemoContext(workdir=tmp_path / "demo", workers=1, quick=False, artefacts={"dataset": root})
    summary = run(ctx)
    assert "open3d-ad O-AUROC" in summary and "patchcore-pointmae (shipped point_mae_small) O-AUROC" in summary
    table = ctx.artefacts["detector_run_pointmae"] / "table.md"
    assert table.is_file() and "patchcore-pointmae" in table.read_text()
