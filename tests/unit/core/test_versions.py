"""Every manifest.json and metrics.json records the resolved versions of the key libraries."""

import json
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from scan2ad.versions import KEY_LIBRARIES, library_versions

ROOT = Path(__file__).resolve().parents[3]


def test_versions_are_the_installed_distributions_and_none_when_missing():
    import numpy as np

    got = library_versions()
    assert set(got) == {"python", *KEY_LIBRARIES}
    assert got["numpy"] == np.__version__
    assert got["open3d"] == metadata.version("open3d")
    assert library_versions(("no-such-distribution-xyz",))["no-such-distribution-xyz"] is None


def test_the_venv_runs_the_locked_versions():
    """make installs uv.lock exactly: what a result records is what the lock pins."""
    lock = ROOT / "uv.lock"
    if not lock.is_file():
        pytest.skip("no uv.lock beside this checkout")
    locked = {p["name"]: p["version"] for p in tomllib.loads(lock.read_text())["package"]}
    got = library_versions()
    for name in KEY_LIBRARIES:
        assert got[name] == locked[name], name
    assert got["torch"].endswith("+cpu")  # the CPU wheel from the machine's disk, not PyPI's CUDA build


def test_manifest_and_metrics_record_them(tmp_path):
    from scan2ad.datasets.package import write_manifest
    from scan2ad.datasets.samples import NORMAL
    from scan2ad.detectors.evaluate import EvalSettings, summarise

    rec = {"relpath": "a/train/a_001.pcd", "class": "a", "split": "train", "type": NORMAL}
    write_manifest(tmp_path, [rec], "tiny")
    assert json.loads((tmp_path / "manifest.json").read_text())["libraries"] == library_versions()

    m = {"O-AUROC": 0.5, "O-AUPR": 0.5, "P-AUROC": 0.5, "P-AUPR": 0.5}
    speed = {"fps": [1.0], "cpu_s": [1.0], "fit_s": [1.0], "parameters": 1, "points_per_sample": [10.0]}
    payload = summarise(EvalSettings(seeds=(1,)), {1: {"overall": {"a": m}}}, speed, ["a"])
    assert payload["libraries"] == library_versions()
