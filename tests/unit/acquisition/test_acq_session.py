"""Capture sessions: DESIGN §3 layout, resume, refusal to overwrite, the CLI, in-memory path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from scan2ad.acquisition.calibration.model import load_calibration, true_calibration
from scan2ad.acquisition.rig import RIGS_DIR, load_rig
from scan2ad.acquisition.session import (
    capture_in_memory,
    capture_session,
    check_part_size,
    open_session,
    resolve_part,
)
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def rig():
    return load_rig("virtual_small")


@pytest.fixture(scope="module")
def part_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("part") / "ring.stl"
    trimesh.creation.annulus(r_min=8.0, r_max=20.0, height=10.0).export(p)
    return p


@pytest.fixture(scope="module")
def session(rig, part_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "session"
    return capture_session(out, rig, part_file, views=2, seed=5)


def test_layout_truth_and_decode(session, rig):
    root = session.root
    meta = json.loads((root / "session.json").read_text())
    assert meta["schema_version"] == 1 and meta["part"]["id"] == "ring" and meta["part"]["sha256"]
    assert meta["angles_deg"] == [0.0, 180.0] and meta["cameras"] == ["cam0", "cam1"]
    n = len(session.patterns.frames)
    for i in range(2):
        for cam in ("cam0", "cam1"):
            files = sorted(p.name for p in (root / f"view_{i:03d}" / cam).iterdir())
            assert files == [f"{k:02d}.png" for k in range(n)]
        view = session.view(i)
        assert view["angle_deg"] == [0.0, 180.0][i]
        assert np.allclose(
            np.array(view["T_world_part"])[:3, :3] @ [1, 0, 0],
            [np.cos(np.deg2rad(view["angle_deg"])), np.sin(np.deg2rad(view["angle_deg"])), 0],
            atol=1e-9,
        )
    calib = load_calibration(session.truth_path("calibration"))
    assert np.allclose(calib.T_world_cam0, true_calibration(rig).T_world_cam0)
    mesh = trimesh.load(session.truth_path("mesh"))
    assert abs(mesh.bounds[0, 2]) < 1e-6  # resting on the table top (z = 0)
    maps = session.decode(1)
    assert set(maps) == {"cam0", "cam1"}
    assert all(0.1 < m.valid_fraction() < 0.95 for m in maps.values())


def test_resume_at_first_incomplete_view(session, rig, part_file):
    v0 = session.view_dir(0) / "cam0" / "00.png"
    before = v0.stat().st_mtime_ns
    (session.view_dir(1) / "view.json").unlink()  # as if interrupted while writing view 1
    (session.view_dir(1) / "cam1" / "07.png").unlink()
    assert not open_session(session.root).finished
    s = capture_session(session.root, rig, part_file, views=2, seed=5)
    assert s.finished and v0.stat().st_mtime_ns == before  # view 0 was not captured again
    assert (s.view_dir(1) / "cam1" / "07.png").is_file()


def test_refuses_finished_different_and_foreign(session, rig, part_file, tmp_path):
    with pytest.raises(InputError, match="already complete"):
        capture_session(session.root, rig, part_file, views=2, seed=5)
    with pytest.raises(InputError, match="different capture session.*angles_deg"):
        capture_session(session.root, rig, part_file, views=3, seed=5)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a capture session"):
        capture_session(foreign, rig, part_file, views=1, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(InputError, match="neither a mesh file"):
        resolve_part("no such part")
    with pytest.raises(InputError, match="not found"):
        resolve_part(tmp_path / "missing.stl")
    assert resolve_part("bracket-7", need_mesh=False).source == "label"


def test_part_mesh_units_are_applied_and_a_size_the_rig_cannot_scan_is_refused(rig, tmp_path):
    """A mesh in metres read as mm is a speck; a part far wider than the table is not a part for
    this rig: both refused before anything is written, naming the file and the units that fit."""
    metres = tmp_path / "bracket_m.stl"
    trimesh.creation.box((0.03, 0.02, 0.01)).export(metres)
    with pytest.raises(InputError, match=r"bracket_m\.stl.*0\.03742 mm across.*--units m makes it 37\.42 mm"):
        check_part_size(resolve_part(metres), rig)
    src = resolve_part(metres, units="m")
    assert np.allclose(src.mesh.extents, (30, 20, 10)) and src.to_dict()["units"] == "m"
    check_part_size(src, rig)  # fits
    assert "units" not in resolve_part(metres).to_dict()  # mm sessions keep their layout
    wide = tmp_path / "plate.stl"
    trimesh.creation.box((300.0, 200.0, 5.0)).export(wide)
    radius = rig.virtual.table_radius_mm
    with pytest.raises(InputError, match=rf"reaches 180.3 mm from the turntable axis.*{radius:g} mm table"):
        check_part_size(resolve_part(wide), rig)
    with pytest.raises(InputError, match="units must be one of"):
        resolve_part(metres, units="ft")
    out = tmp_path / "never"
    with pytest.raises(InputError, match="bracket_m.stl"):
        capture_session(out, rig, metres, views=1)
    assert not out.exists()


def test_cli_capture_overwrite_and_exit_codes(rig, part_file, tmp_path, capsys):
    from scan2ad.cli import main

    out = tmp_path / "cli_session"
    args = [
        "capture",
        "--rig",
        str(RIGS_DIR / "virtual_small.toml"),
        "--part",
        str(part_file),
        "--views",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "1 views" in text and "decoded pixels" in text
    assert main(args) == 2
    assert "already complete" in capsys.readouterr().err
    stamp = (out / "view_000" / "view.json").stat().st_mtime_ns
    assert main(args + ["--overwrite", "--no-decode"]) == 0
    assert (out / "view_000" / "view.json").stat().st_mtime_ns != stamp
    assert (
        main(["capture", "--part", str(tmp_path / "nope.ply"), "--out", str(tmp_path / "x")]) == 2
    )
    assert "nope.ply" in capsys.readouterr().err


def test_in_memory_capture_matches_saved_session(session, rig, part_file):
    from scan2ad.acquisition.decode import decode_frames

    views = capture_in_memory(rig, trimesh.load(part_file), views=2, seed=5, keep_frames=True)
    assert [v.angle_deg for v in views] == [0.0, 180.0]
    v = views[0]
    saved = session.frames(0, "cam0")
    # same seed, same renderer: the PNGs hold exactly the in-memory frames
    assert all(np.array_equal(a, b) for a, b in zip(saved, v.frames["cam0"]))
    d = decode_frames(saved, session.patterns)
    assert np.array_equal(d.valid, v.decoded["cam0"].valid)
    assert np.allclose(views[1].T_world_part, session.view(1)["T_world_part"])


def test_library_part_names_resolve_through_the_part_library(monkeypatch):
    """``--part <name>`` asks scan2ad.acquisition.parts (here a stand-in module with the same
    two names the library offers) and records name and seed."""
    import sys
    import types

    fake = types.ModuleType("scan2ad.acquisition.parts")
    fake.PART_NAMES = ("Heavy Washer", "Split Pin")
    fake.make_part = lambda name, seed: trimesh.creation.annulus(5.0 + seed, 12.0, 3.0)
    monkeypatch.setitem(sys.modules, "scan2ad.acquisition.parts", fake)
    import scan2ad.acquisition as acq

    monkeypatch.setattr(acq, "parts", fake, raising=False)  # the real package may be imported
    src = resolve_part("Heavy Washer", seed=2)
    assert (src.id, src.source, src.seed) == ("Heavy Washer", "library", 2)
    assert abs(src.mesh.bounds[1, 0] - 12.0) < 1e-9
    with pytest.raises(InputError, match="library parts: Heavy Washer, Split Pin"):
        resolve_part("Hex Bolt")


def test_iterating_in_memory_capture_yields_views_lazily(rig):
    from scan2ad.acquisition.session import iter_capture_in_memory

    it = iter_capture_in_memory(rig, trimesh.creation.box((20, 15, 10)), views=3)
    first = next(it)
    assert first.index == 0 and first.frames is None and set(first.decoded) == {"cam0", "cam1"}
    assert first.decoded["cam0"].valid.any()
    with pytest.raises(InputError, match="nothing to return"):
        next(iter_capture_in_memory(rig, trimesh.creation.box((1, 1, 1)), decode=False))
