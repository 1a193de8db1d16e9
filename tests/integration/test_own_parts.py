"""Issue 23 acceptance at full test size (slow): the user's own gear-, bushing- and screw-like
meshes — captured as sessions with ``scan2ad capture`` on the virtual rig, scanned by the
``pipeline`` source, or carved at a larger size — each built, validated and evaluated with
open3d-ad in one command each. The default-run version (carve, small) is in
tests/unit/datasets/test_own_parts.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import own_parts as parts

from scan2ad.cli import main
from scan2ad.io import sha256_file

pytestmark = pytest.mark.slow

COMMON = """
n_train = 2
n_test_normal = 1
n_per_defect = 2
defects = ["Dent"]
points = 12000
poisson_depth = 7
split_ks = [1]
split_seeds = [1]
gallery = true
"""


def _manifest(root: Path) -> dict:
    return {r["relpath"]: r for r in json.loads((root / "manifest.json").read_text())["samples"]}


def _per_class(run: Path) -> dict:
    with open(run / "per_class.csv") as fh:
        return {(r["class"], r["metric"]): float(r["mean"]) for r in csv.DictReader(fh)
                if r["subset"] == "overall"}


def _build_validate_evaluate(spec: Path, out: Path, run: Path, capsys) -> dict:
    assert main(["build", str(spec), "--out", str(out), "--workers", "2"]) == 0
    assert "built own" in capsys.readouterr().out
    assert main(["dataset", "validate", str(out)]) == 0
    assert main(["evaluate", str(out), "-m", "open3d-ad", "--out", str(run), "--no-plots"]) == 0
    return _per_class(run)


def test_capture_sessions_of_own_meshes_build_validate_and_evaluate(tmp_path, capsys):
    files = parts.write_parts(tmp_path / "parts")
    for name, f in files.items():
        for i in (1, 2):  # two captures per part: one for train/, one for test/
            assert main(["capture", "--part", str(f), "--views", "2", "--seed", str(i), "--no-decode",
                         "--out", str(tmp_path / "scans" / f"{name}_{i}")]) == 0
    spec = tmp_path / "sessions.toml"
    spec.write_text('name = "own-sessions"\nsource = "carve"\nclasses = [\n'
                    + "".join(f'  {{ name = "{n}", sessions = ["scans/{n}_*"] }},\n' for n in files)
                    + "]\n" + COMMON)
    out = tmp_path / "ds"
    metrics = _build_validate_evaluate(spec, out, tmp_path / "run", capsys)
    man = _manifest(out)
    assert len(man) == 3 * 5
    for cls in files:
        recs = [r for r in man.values() if r["class"] == cls]
        train = {r["provenance"]["source_file"] for r in recs if r["split"] == "train"}
        test = {r["provenance"]["source_file"] for r in recs if r["split"] == "test"}
        assert len(train) == len(test) == 1 and not train & test
        for r in recs:
            prov = r["provenance"]
            assert prov["source"] == "session" and prov["rig"] == "virtual" and prov["views"] == 2
            assert len(prov["source_sha256"]) == 64
            # the carving mesh is the session's reconstruction
            assert (out / prov["session"] / "carve_mesh.ply").is_file()
            if r["type"] != "good":
                assert 0.005 <= r["anomaly_ratio"] <= 0.026, r
        assert (cls, "P-AUROC") in metrics
    # a rebuild reconstructs nothing again: every unit is cached by the session's hash
    assert main(["build", str(spec), "--out", str(out), "--workers", "1"]) == 0
    assert "(0 units ran" in capsys.readouterr().out


def test_pipeline_source_scans_own_meshes_on_the_virtual_rig(tmp_path, capsys):
    files = parts.write_parts(tmp_path / "parts")
    spec = tmp_path / "pipeline.toml"
    spec.write_text('name = "own-pipeline"\nsource = "pipeline"\nviews = 2\nsamples_per_scan = 3\n'
                    'classes = [{ name = "gear", meshes = ["parts/gear.stl"], size_jitter = 0.05 },'
                    ' "heavy_washer"]\n' + COMMON)
    out = tmp_path / "ds"
    metrics = _build_validate_evaluate(spec, out, tmp_path / "run", capsys)
    man = _manifest(out)
    gear = [r for r in man.values() if r["class"] == "gear"]
    assert len(gear) == 5
    for r in gear:
        prov = r["provenance"]
        assert prov["source"] == "pipeline" and prov["part_source"] == "mesh"
        assert prov["source_file"] == "parts/gear.stl" and prov["source_sha256"] == sha256_file(files["gear"])
    washer = [r for r in man.values() if r["class"] == "heavy_washer"]
    assert washer and all(r["provenance"]["part_source"] == "scan2ad.acquisition.parts" for r in washer)
    assert ("gear", "P-AUROC") in metrics and ("heavy_washer", "P-AUROC") in metrics


def test_three_own_meshes_at_a_larger_size_are_detectable(tmp_path, capsys):
    parts.write_parts(tmp_path / "parts")
    spec = tmp_path / "carve.toml"
    spec.write_text('name = "own-carve"\nsource = "carve"\npoints = 20000\nn_train = 6\n'
                    'n_test_normal = 3\nn_per_defect = 3\ndefects = ["Bump", "Dent"]\n'
                    'split_ks = [1, 2]\nsplit_seeds = [1, 2]\n'
                    'classes = [{ name = "gear", meshes = ["parts/gear.stl"], size_jitter = 0.03 },\n'
                    '  { name = "bushing", meshes = ["parts/bushing.ply"] },\n'
                    '  { name = "screw", meshes = ["parts/screw.obj"] }]\n')
    metrics = _build_validate_evaluate(spec, tmp_path / "ds", tmp_path / "run", capsys)
    # carved defects on the user's parts are found point-wise well above chance
    assert metrics[("Average", "P-AUROC")] > 0.75, metrics
