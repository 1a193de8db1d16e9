"""Hostile input and faults for the stage commands (issue 22): capture, calibrate, register,
reconstruct, carve, review, label, pointcloud, parts.

Each row of ``CASES`` is what a careless user types; the real CLI runs it (in-process
``scan2ad.cli.main``: same exit codes and messages as the installed command) in a fresh folder,
and the test asserts the exit code, that the message names the real problem (a regex), that no
"unexpected" exception leaked, and that the output the row protects is byte-identical afterwards.
The tests below the table cover what a row cannot: a capture interrupted by a full disk resumes
bit-identically and leaves no temporary file, the output lock, a full disk during calibrate,
a small tmpfs, and the reconstruct output folder (resume, other jobs, failure).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.robust_cli import run_cli, snapshot, sphere, write_xyz

RIG = ["--rig", "virtual_small"]
BOARD = ["--board", "chessboard_11x8_6mm.toml"]
CARVE = ["carve", "part:heavy_washer", "--defect", "Bump", "--no-review"]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    """A finished 2-view capture of the virtual_small rig (with its true calibration)."""
    out = tmp_path_factory.mktemp("fixture") / "s2"
    rc, text = run_cli(["capture", *RIG, "--part", "heavy_washer", "--views", "2", "--out", out, "--no-decode"])
    assert rc == 0, text
    return out


def _calibration(session: Path, d: Path, edit) -> Path:
    doc = json.loads((session / "truth" / "calibration.json").read_text())
    edit(doc)
    (d / "c.json").write_text(json.dumps(doc))  # NaN is written as the NaN token, as a careless tool would
    return d / "c.json"


def _sample(d: Path, labels=None) -> Path:
    """A labelled sample folder (cloud.ply + labels.npy) without carving."""
    from scan2ad.pointcloud import PointCloud, write_cloud

    s = d / "s"
    pts = sphere(400)
    write_cloud(s / "cloud.ply", PointCloud(pts))
    np.save(s / "labels.npy", np.zeros(len(pts), np.uint8) if labels is None else labels(len(pts)))
    return s


def _rig(d: Path, old: str, new: str) -> Path:
    from scan2ad.acquisition.rig import RIGS_DIR

    text = (RIGS_DIR / "virtual_small.toml").read_text()
    assert old in text
    (d / "r.toml").write_text(text.replace(old, new, 1))
    return d / "r.toml"


def _marker_folder(out: Path, command: str, job: dict) -> Path:
    from scan2ad.io import write_text
    from scan2ad.outputs import claim_output

    with claim_output(out, command, job) as o:
        write_text(o.work / "part.ply", "another job's result\n")
    return out


def _file(p: Path, text: str = "precious\n") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def _dir(p: Path) -> Path:
    p.mkdir(parents=True)
    (p / "mine.txt").write_text("precious\n")
    return p


# (id, setup(d, session) -> (argv, protected path or None), exit code, regex the message must match)
CASES = [
    # ---------------------------------------------------------------- pointcloud
    ("pc-ascii-ply-0-vertices",
     lambda d, s: (["pointcloud", "info", _file(d / "z.ply", "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\n"
                                                "property float y\nproperty float z\nend_header\n")], None),
     2, r"z\.ply: the cloud is empty \(the header says 0 vertices\)"),
    ("pc-negative-vertex-count",
     lambda d, s: (["pointcloud", "info", _file(d / "n.ply", "ply\nformat ascii 1.0\nelement vertex -3\nproperty float x\n"
                                                "property float y\nproperty float z\nend_header\n1 2 3\n")], None),
     2, r"negative vertex count \(-3\)"),
    ("pc-huge-vertex-count",
     lambda d, s: (["pointcloud", "info", _file(d / "h.ply", "ply\nformat binary_little_endian 1.0\nelement vertex "
                                                "99999999999999\nproperty float x\nproperty float y\nproperty float z\n"
                                                "end_header\n")], None),
     2, r"truncated: header says 99999999999999 vertices, file has 0"),
    ("pc-validate-labels-123",
     lambda d, s: (["pointcloud", "validate", write_xyz(d / "l.txt", sphere(6), [1, 2, 3, 0, 1, 2])], None),
     2, r"labels must be 0 \(normal\) or 1 \(anomalous\); 3 point\(s\) have other values \(2, 3\)"),
    ("pc-info-npz-label-7",
     lambda d, s: (np.savez(d / "a.npz", points=sphere(5), labels=np.array([0, 7, 0, 1, 0])),
                   (["pointcloud", "info", d / "a.npz"], None))[1],
     2, r"a\.npz: field 'labels': labels must be 0 .* \(7\)"),
    ("pc-convert-beyond-float32-over-good-file",
     lambda d, s: (run_cli(["pointcloud", "convert", write_xyz(d / "g.xyz", sphere(10)), d / "good.ply"]),
                   (["pointcloud", "convert", write_xyz(d / "big.xyz", sphere(10) * 1e40), d / "good.ply", "--overwrite"],
                    d / "good.ply"))[1],
     2, r"good\.ply: coordinates reach .* beyond the float32 range .* nothing was written"),
    ("pc-convert-onto-existing-file",
     lambda d, s: (["pointcloud", "convert", write_xyz(d / "a.xyz", sphere(10)), _file(d / "b.ply")], d / "b.ply"),
     2, r"b\.ply: DST exists; pass --overwrite"),
    ("pc-convert-src-is-dst",
     lambda d, s: (["pointcloud", "convert", write_xyz(d / "a.xyz", sphere(10)), d / "a.xyz"], d / "a.xyz"),
     2, r"DST exists; pass --overwrite"),
    ("pc-convert-into-folder",
     lambda d, s: (["pointcloud", "convert", write_xyz(d / "a.xyz", sphere(10)), _dir(d / "o.ply")], d / "o.ply"),
     2, r"o\.ply: DST names a folder"),
    # ---------------------------------------------------------------- register
    ("register-3-points",
     lambda d, s: (["register", write_xyz(d / "a.xyz", sphere(3)), write_xyz(d / "b.xyz", sphere(50)),
                    "--out", d / "t.json"], None),
     2, r"a\.xyz: 3 point\(s\); registration needs at least 4"),
    ("register-collinear",
     lambda d, s: (["register", write_xyz(d / "a.xyz", np.linspace(0, 10, 100)[:, None] * [1, 2, 3]),
                    write_xyz(d / "b.xyz", sphere(50)), "--out", d / "t.json"], None),
     2, r"a\.xyz: the points are collinear"),
    ("register-coincident",
     lambda d, s: (["register", write_xyz(d / "b.xyz", sphere(50)), write_xyz(d / "a.xyz", np.ones((50, 3))),
                    "--out", d / "t.json"], None),
     2, r"a\.xyz: the points are all the same point"),
    ("register-coordinates-1e30",
     lambda d, s: (["register", write_xyz(d / "a.xyz", sphere(50) * 1e30), write_xyz(d / "b.xyz", sphere(50)),
                    "--out", d / "t.json"], None),
     2, r"a\.xyz: coordinates reach [\d.]+e\+31 mm, beyond 1e\+08 mm"),
    ("register-overlap-nan",
     lambda d, s: (["register", "a.xyz", "b.xyz", "--overlap", "nan", "--out", d / "t.json"], None),
     2, r"--overlap.*'nan' is not a finite number \(allowed: \(0, 1\]\)"),
    ("register-time-budget-negative",
     lambda d, s: (["register", "a.xyz", "b.xyz", "--time-budget", "-1", "--out", d / "t.json"], None),
     2, r"--time-budget.*-1 is out of range \(allowed: \(0, 86400\]\)"),
    ("register-out-is-folder",
     lambda d, s: (["register", "a.xyz", "b.xyz", "--out", _dir(d / "o.json")], d / "o.json"),
     2, r"o\.json: --out names a folder"),
    ("register-out-exists",
     lambda d, s: (["register", "a.xyz", "b.xyz", "--out", _file(d / "t.json")], d / "t.json"),
     2, r"t\.json: --out exists; pass --overwrite"),
    # ---------------------------------------------------------------- procam (decoding options shared)
    ("triangulate-min-contrast-nan",
     lambda d, s: (["triangulate", "cap", "--calibration", "c.json", "--out", d / "c.ply",
                    "--min-contrast", "nan"], None),
     2, r"--min-contrast.*'nan' is not a finite number \(allowed: \[0, 65535\]\)"),
    ("calibrate-procam-min-bit-margin-inf",
     lambda d, s: (["calibrate", "procam", "--images", "x", "--board", "b", "--out", d / "c.json",
                    "--min-bit-margin", "inf"], None),
     2, r"--min-bit-margin.*'inf' is not a finite number"),
    # ---------------------------------------------------------------- capture
    ("capture-views-0",
     lambda d, s: (["capture", *RIG, "--part", "heavy_washer", "--views", "0", "--out", d / "o"], None),
     2, r"--views.*0 is out of range \(allowed: >= 1\)"),
    ("capture-views-100000",
     lambda d, s: (["capture", *RIG, "--part", "heavy_washer", "--views", "100000", "--out", d / "o"], None),
     2, r"a capture of 100000 views needs about 512\.0 GB of disk and 19\.9 h"),
    ("capture-views-500-full-rig",
     lambda d, s: (["capture", "--part", "heavy_washer", "--views", "500", "--out", d / "o"], None),
     2, r"a capture of 500 views needs about 26\.\d GB of disk and \d+ min.*(pass --large|free)"),
    ("capture-seed-negative",
     lambda d, s: (["capture", *RIG, "--part", "heavy_washer", "--seed", "-1", "--out", d / "o"], None),
     2, r"--seed.*-1 is out of range \(allowed: \[0, 4294967295\]\)"),
    ("capture-rig-unknown-backend",
     lambda d, s: (["capture", "--rig", _rig(d, 'backend = "virtual"', 'backend = "virtaul"'),
                    "--part", "heavy_washer", "--out", d / "o"], None),
     2, r"r\.toml: cameras\.cam0\.backend = 'virtaul' is not a known backend \(known: virtual, genicam, uvc\)"),
    ("capture-rig-negative-resolution",
     lambda d, s: (["capture", "--rig", _rig(d, "resolution = [400, 320]", "resolution = [-400, 320]"),
                    "--part", "heavy_washer", "--out", d / "o"], None),
     2, r"r\.toml: .*resolution.*(-400 is out of range|negative)"),
    ("capture-rig-zero-steps",
     lambda d, s: (["capture", "--rig", _rig(d, "steps = 12", "steps = 0"), "--part", "heavy_washer",
                    "--out", d / "o"], None),
     2, r"r\.toml: turntable\.steps = 0 is out of range \(allowed: \[1, 100000\]\)"),
    ("capture-calibration-garbage",
     lambda d, s: (["capture", *RIG, "--part", "heavy_washer", "--views", "1", "--out", d / "o",
                    "--calibration", _file(d / "c.json", "{garbage")], None),
     2, r"c\.json: not valid JSON"),
    ("capture-out-is-file",
     lambda d, s: (["capture", *RIG, "--part", "heavy_washer", "--views", "1", "--out", _file(d / "f")], d / "f"),
     2, r"f: the output path exists and is not a capture session"),
    ("capture-over-other-session",
     lambda d, s: (["capture", *RIG, "--part", "split_pin", "--views", "2", "--out",
                    shutil.copytree(s, d / "s")], d / "s"),
     2, r"holds a different capture session \(part differ\); pass --overwrite"),
    # ---------------------------------------------------------------- calibrate
    ("calibrate-outlier-factor-nan",
     lambda d, s: (["calibrate", "cameras", "--images", d, *BOARD, "--out", d / "c.json", "--outlier-factor", "nan"],
                   None),
     2, r"--outlier-factor.*'nan' is not a finite number \(allowed: \[1, 1000\]\)"),
    ("calibrate-min-views-0",
     lambda d, s: (["calibrate", "all", "--images", d, *BOARD, "--out", d / "c.json", "--min-views", "0"], None),
     2, r"--min-views.*0 is out of range \(allowed: \[3, 100000\]\)"),
    ("calibrate-out-is-folder",
     lambda d, s: (["calibrate", "cameras", "--images", d, *BOARD, "--out", _dir(d / "o")], d / "o"),
     2, r"o: --out names a folder"),
    ("calibrate-out-exists",
     lambda d, s: (["calibrate", "cameras", "--images", d, *BOARD, "--out", _file(d / "c.json")], d / "c.json"),
     2, r"c\.json: --out exists; pass --overwrite"),
    ("calibrate-virtual-angles-nan",
     lambda d, s: (["calibrate", "virtual-images", *RIG, "--out", d / "o", "--angles", "0,nan"], None),
     2, r"--angles.*'nan' is not a finite number"),
    ("calibrate-virtual-workers-0",
     lambda d, s: (["calibrate", "virtual-images", *RIG, "--out", d / "o", "--workers", "0"], None),
     2, r"--workers.*0 is out of range \(allowed: \[1, 64\]\)"),
    # ---------------------------------------------------------------- reconstruct
    ("reconstruct-zero-baseline",
     lambda d, s: (["reconstruct", s, "--out", d / "r", "--calibration",
                    _calibration(s, d, lambda c: c["stereo"].update(T=[0.0, 0.0, 0.0]))], None),
     2, r"c\.json: stereo\.T is zero: .*zero baseline"),
    ("reconstruct-nan-in-K",
     lambda d, s: (["reconstruct", s, "--out", d / "r", "--calibration",
                    _calibration(s, d, lambda c: c["cameras"]["cam0"]["K"][0].__setitem__(0, float("nan")))], None),
     2, r"c\.json: cameras\.cam0\.K must be a finite 3x3 matrix"),
    ("reconstruct-cameras-only-calibration",
     lambda d, s: (["reconstruct", s, "--out", d / "r", "--calibration",
                    _calibration(s, d, lambda c: c.update(stereo=None))], None),
     2, r"c\.json: the calibration has no stereo pair"),
    ("reconstruct-missing-views",
     lambda d, s: ((shutil.copytree(s, d / "s"), (d / "s" / "view_001" / "view.json").unlink()),
                   (["reconstruct", d / "s", "--out", d / "r"], None))[1],
     2, r"1 of 2 views are complete \(missing view_001\): the capture was interrupted.*--partial"),
    ("reconstruct-target-points-0",
     lambda d, s: (["reconstruct", s, "--out", d / "r", "--target-points", "0"], None),
     2, r"--target-points.*0 is out of range \(allowed: \[100, 100000000\]\)"),
    ("reconstruct-config-nan",
     lambda d, s: (["reconstruct", s, "--out", d / "r", "--config",
                    _file(d / "c.toml", "min_view_points = 5\ntable_margin_mm = nan\n")], None),
     2, r"c\.toml: table_margin_mm.*(is not|must be) a finite number"),
    ("reconstruct-out-is-file",
     lambda d, s: (["reconstruct", s, "--out", _file(d / "f")], d / "f"),
     2, r"f: output exists and is not a folder"),
    ("reconstruct-out-foreign-folder",
     lambda d, s: (["reconstruct", s, "--out", _dir(d / "o")], d / "o"),
     2, r"o: the output folder is not empty and was not written by scan2ad reconstruct \(it holds mine\.txt\)"),
    ("reconstruct-out-of-another-job",
     lambda d, s: (["reconstruct", s, "--out", _marker_folder(d / "r", "reconstruct", {"session": "elsewhere"})],
                   d / "r"),
     2, r"r: the output folder was written for another job .*--overwrite"),
    # ---------------------------------------------------------------- carve
    ("carve-points-negative",
     lambda d, s: ([*CARVE, "--out", d / "o", "--points", "-5"], None),
     2, r"--points.*-5 is out of range \(allowed: \[100, 10000000\]\)"),
    ("carve-radius-nan",
     lambda d, s: ([*CARVE, "--out", d / "o", "--radius", "nan"], None),
     2, r"--radius.*'nan' is not a finite number \(allowed: > 0\)"),
    ("carve-noise-negative",
     lambda d, s: ([*CARVE, "--out", d / "o", "--noise-sigma", "-1"], None),
     2, r"--noise-sigma.*-1 is out of range \(allowed: \[0, 10\]\)"),
    ("carve-ratio-range-reversed",
     lambda d, s: ([*CARVE, "--out", d / "o", "--ratio-range", "0.5", "0.1"], None),
     2, r"--ratio-range.*low end must be below the high end"),
    ("carve-centre-nan",
     lambda d, s: ([*CARVE, "--out", d / "o", "--location", "given", "--centre", "0", "nan", "0"], None),
     2, r"--centre.*'nan' is not a finite number"),
    ("carve-depth-1000-no-ratio-check",
     lambda d, s: ([*CARVE, "--out", d / "o", "--depth", "1000", "--no-ratio-check"], None),
     2, r"--depth 1000 mm is beyond this part's size: allowed up to 21\.1 mm"),
    ("carve-out-foreign-folder",
     lambda d, s: ([*CARVE, "--out", _dir(d / "o"), "--points", "2000"], d / "o"),
     2, r"o: the output folder is not empty and was not written by scan2ad carve"),
    ("carve-radius-1e-9",
     lambda d, s: ([*CARVE, "--out", d / "o", "--points", "2000", "--radius", "1e-9", "--no-ratio-check"], None),
     2, r"the carved defect changed no sampled point \(0 of 2000 anomalous"),
    # ---------------------------------------------------------------- review / label
    ("review-labels-2-3",
     lambda d, s: (["review", _sample(d, lambda n: np.arange(n) % 4)], None),
     2, r"labels\.npy: field 'labels': labels must be 0 \(normal\) or 1 \(anomalous\)"),
    ("review-labels-pickle",
     lambda d, s: ((_sample(d), np.save(d / "s" / "labels.npy", np.array([{"a": 1}], dtype=object))),
                   (["review", d / "s"], None))[1],
     2, r"labels\.npy: not a labels array"),
    ("review-out-is-folder",
     lambda d, s: (["review", _sample(d), "--out", _dir(d / "o.png")], d / "o.png"),
     2, r"o\.png: --out names a folder"),
    ("review-out-exists",
     lambda d, s: (["review", _sample(d), "--out", _file(d / "p.png")], d / "p.png"),
     2, r"p\.png: --out exists; pass --overwrite"),
    ("label-labels-0-to-4",
     lambda d, s: ((_sample(d), np.save(d / "l.npy", np.arange(400) % 5)),
                   (["label", d / "s", "--labels", d / "l.npy", "--screenshot", d / "x.png"], None))[1],
     2, r"l\.npy: field 'labels': labels must be 0 .*\(2, 3, 4\)"),
    # ---------------------------------------------------------------- parts
    ("parts-export-over-existing",
     lambda d, s: (["parts", "export", "heavy_washer", "--out", _file(d / "x.ply")], d / "x.ply"),
     2, r"x\.ply: --out exists; pass --overwrite"),
    ("parts-render-seeds-100000",
     lambda d, s: (["parts", "render", "--out", d / "x.png", "--seeds", "100000"], None),
     2, r"--seeds.*100000 is out of range \(allowed: \[1, 8\]\)"),
]


@pytest.mark.parametrize("name,setup,code,message", CASES, ids=[c[0] for c in CASES])
def test_stage_command_refuses_clearly(name, setup, code, message, tmp_path, session, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "case"
    d.mkdir()
    argv, protected = setup(d, session)
    before = snapshot(protected) if protected is not None else None
    rc, text = run_cli(argv)
    assert rc == code, f"exit {rc}, expected {code}:\n{text}"
    assert "unexpected" not in text and "Traceback" not in text, text
    assert __import__("re").search(message, text, __import__("re").S), f"message does not match {message!r}:\n{text}"
    if protected is not None:
        assert snapshot(protected) == before, f"{protected} changed"


# ------------------------------------------------------------------------------ beyond one row
def _frames(session: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(session).items() if k.endswith(".png") or k.startswith("truth/")}


def test_capture_interrupted_by_full_disk_resumes_bit_identical(tmp_path, monkeypatch):
    """A full disk in the middle of view 1 stops the capture naming the frame; the rerun resumes
    and the session equals an uninterrupted one frame for frame (the virtual camera noise used
    to run on from the views before: views after a resume differed); stale temporaries of a
    killed writer are removed."""
    argv = ["capture", *RIG, "--part", "heavy_washer", "--views", "2", "--no-decode", "--seed", "7"]
    rc, text = run_cli([*argv, "--out", tmp_path / "whole"])
    assert rc == 0, text
    monkeypatch.setenv("SCAN2AD_FAULT", "enospc:*.png:100")  # frame 100 of 160: inside view 1
    rc, text = run_cli([*argv, "--out", tmp_path / "cut"])
    assert rc == 1 and "disk is full" in text and "view_001" in text and "unexpected" not in text, text
    monkeypatch.delenv("SCAN2AD_FAULT")
    assert not (tmp_path / "cut" / "view_001" / "view.json").exists()
    (tmp_path / "cut" / "view_001" / "cam0" / ".05.png.k9k9k9.tmp.png").write_bytes(b"half a frame")
    rc, text = run_cli([*argv, "--out", tmp_path / "cut"])
    assert rc == 0, text
    assert _frames(tmp_path / "cut") == _frames(tmp_path / "whole")
    assert not [p for p in (tmp_path / "cut").rglob("*") if ".tmp" in p.name]


def test_capture_refuses_a_second_writer(tmp_path):
    from scan2ad.outputs import _Lock

    lock = _Lock(tmp_path / "s", "capture")
    try:
        rc, text = run_cli(["capture", *RIG, "--part", "heavy_washer", "--views", "1", "--out", tmp_path / "s"])
    finally:
        lock.release()
    assert rc == 2 and "another scan2ad process is writing this folder" in text, text
    assert not (tmp_path / "s").exists()


def test_capture_needing_more_than_the_free_disk_is_refused_on_a_small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=False, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount permission)")
    try:
        rc, text = run_cli(["capture", *RIG, "--part", "heavy_washer", "--views", "4", "--out", mnt / "s"])
        assert rc == 2 and re_search(r"needs about 20\.5 MB of disk .* has 2\.\d MB free", text), text
        assert list(mnt.iterdir()) == []
        # the same file system read-only: every file output is refused before any work, named
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=False, capture_output=True).returncode == 0
        a = write_xyz(tmp_path / "a.xyz", sphere(100))
        for argv in (["register", a, a, "--out", mnt / "t.json"], ["pointcloud", "convert", a, mnt / "a.ply"],
                     ["parts", "export", "heavy_washer", "--out", mnt / "w.ply"]):
            rc, text = run_cli(argv)
            assert rc == 2 and "read-only file system" in text and "unexpected" not in text, text
    finally:
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True)


def re_search(pattern: str, text: str):
    import re

    return re.search(pattern, text, re.DOTALL)


def test_calibrate_full_disk_keeps_the_previous_calibration_and_report(tmp_path, monkeypatch):
    images = tmp_path / "boards"
    rc, text = run_cli(["calibrate", "virtual-images", *RIG, "--out", images, "--views", "6", "--angles", "0,40,80,120"])
    assert rc == 0, text
    out = tmp_path / "cal" / "calibration.json"
    rc, text = run_cli(["calibrate", "cameras", "--images", images, *BOARD, "--out", out])
    assert rc == 0, text
    before = snapshot(out.parent)
    assert set(before) == {"calibration.json", "calibration_report.png"}
    monkeypatch.setenv("SCAN2AD_FAULT", "enospc:calibration.json")
    rc, text = run_cli(["calibrate", "cameras", "--images", images, *BOARD, "--out", out, "--overwrite",
                        "--min-views", "5"])
    assert rc == 1 and "calibration.json: the disk is full" in text and "unexpected" not in text, text
    assert snapshot(out.parent) == before


def test_register_without_inliers_writes_null_rmse_not_infinity(tmp_path):
    a = write_xyz(tmp_path / "a.xyz", sphere(300))
    b = write_xyz(tmp_path / "b.xyz", sphere(300) + 1000.0)
    rc, text = run_cli(["register", a, b, "--init", "none", "--refine", "none", "--out", tmp_path / "t.json"])
    assert rc == 0, text
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["fitness"] == 0.0 and doc["inlier_rmse"] is None and "undefined (no inlier)" in text


def test_register_flags_a_planar_cloud(tmp_path):
    pts = sphere(400)
    pts[:, 2] = 0.0
    a = write_xyz(tmp_path / "a.xyz", pts)
    rc, text = run_cli(["register", a, a, "--init", "none", "--out", tmp_path / "t.json"])
    assert rc == 0 and "SOURCE is planar and TARGET is planar" in text, text
    assert json.loads((tmp_path / "t.json").read_text())["degenerate"] == ["SOURCE is planar", "TARGET is planar"]


@pytest.mark.slow
def test_reconstruct_output_folder_resumes_refuses_and_survives_failure(tmp_path, session, monkeypatch):
    out = tmp_path / "r"
    argv = ["reconstruct", session, "--out", out, "--no-mesh", "--partial"]
    rc, text = run_cli(argv)
    assert rc == 0, text
    rc, text = run_cli(argv)  # the same job again: allowed
    assert rc == 0, text
    good = snapshot(out)  # (timings in the reports differ from the first run's)
    rc, text = run_cli([*argv, "--target-points", "5000"])  # another job: refused, untouched
    assert rc == 2 and "another job (cleanup.target_points: None there, 5000 now)" in text, text
    monkeypatch.setenv("SCAN2AD_FAULT", "enospc:part.ply")
    rc, text = run_cli([*argv, "--target-points", "5000", "--overwrite"])  # fails while writing
    assert rc == 1 and "part.ply: the disk is full" in text, text
    monkeypatch.delenv("SCAN2AD_FAULT")
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith(".scan2ad")} == \
        {k: v for k, v in good.items() if not k.startswith(".scan2ad")}


@pytest.mark.slow
def test_capture_killed_by_sigkill_resumes_bit_identical(tmp_path):
    argv = [sys.executable, "-P", "-m", "scan2ad.cli", "capture", *RIG, "--part", "heavy_washer", "--views", "4",
            "--no-decode"]
    env = dict(os.environ, OMP_NUM_THREADS="1", SCAN2AD_NO_PROGRESS="1")
    subprocess.run([*argv, "--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*argv, "--out", str(tmp_path / "cut")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "cut" / "view_001" / "view.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    subprocess.run([*argv, "--out", str(tmp_path / "cut")], env=env, check=True, capture_output=True)
    assert _frames(tmp_path / "cut") == _frames(tmp_path / "whole")
    assert not [p for p in (tmp_path / "cut").rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
def test_carve_through_the_part_is_refused(tmp_path):
    rc, text = run_cli(["carve", "part:heavy_washer", "--defect", "Dent", "--no-review", "--points", "3000",
                        "--depth", "15", "--no-ratio-check", "--out", tmp_path / "o"])
    assert rc == 2 and "the carve went through the part (Dent depth 15 mm)" in text, text
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command,shown", [
    ("carve", "--points INTEGER [100, 10000000]"), ("capture", "--views INTEGER >= 1"),
    ("register", "--overlap FLOAT (0, 1]"), ("reconstruct", "--target-points INTEGER [100, 100000000]"),
    ("calibrate cameras", "--outlier-factor FLOAT [1, 1000]"), ("calibrate virtual-images", "--workers INTEGER [1, 64]"),
    ("parts render", "--seeds INTEGER [1, 8]"), ("parts export", "--seed INTEGER [0, 4294967295]"),
    ("review", "--overwrite"), ("pointcloud convert", "--overwrite"),
])
def test_help_shows_the_allowed_ranges(command, shown):
    rc, text = run_cli([*command.split(), "--help"])
    assert rc == 0 and shown in " ".join(text.split()), text
