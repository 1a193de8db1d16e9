"""Calibration of the virtual rig from its own rendered board images, against the true geometry.

Acceptance (issue 4): focal lengths and principal points within 0.2 % of the truth, stereo
baseline within 0.1 %, RMS reprojection under 0.15 px, turntable axis direction within 0.05°.
The images are rendered once per module (40 hand-held poses in both cameras + 8 table angles,
about 25 s on one core) and calibrated through the real command, ``scan2ad calibrate all``.
"""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.acquisition.calibration.boards import load_board
from scan2ad.acquisition.calibration.model import load_calibration, true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.cli import main

BOARD = "chessboard_11x8_6mm.toml"


def _angle_deg(a, b) -> float:
    return float(
        np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
    )


def assert_acceptance(cal, truth):
    for name in ("cam0", "cam1"):
        K, Kt = cal.cameras[name].K, truth.cameras[name].K
        for (i, j), what in (((0, 0), "fx"), ((1, 1), "fy"), ((0, 2), "cx"), ((1, 2), "cy")):
            rel = abs(K[i, j] / Kt[i, j] - 1)
            assert rel < 0.002, f"{name} {what} {K[i, j]:.2f} vs true {Kt[i, j]:.2f} ({rel:.3%})"
        assert cal.cameras[name].rms_px < 0.15
    assert abs(cal.stereo.baseline_mm / truth.stereo.baseline_mm - 1) < 0.001
    assert cal.stereo.rms_px < 0.15
    assert _angle_deg(cal.turntable.axis_direction_cam0, truth.turntable.axis_direction_cam0) < 0.05
    assert cal.turntable.reprojection_rms_px < 0.15


@pytest.fixture(scope="module")
def virtual_images(tmp_path_factory):
    from scan2ad.acquisition.calibration.virtual_boards import PoseConfig, render_calibration_images

    out = tmp_path_factory.mktemp("virtual_boards")
    poses = PoseConfig(views=40, seed=0)
    render_calibration_images(out, load_rig("virtual"), load_board(BOARD), poses)
    return out


@pytest.fixture(scope="module")
def calibrated(virtual_images, tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "calibration.json"
    rc = main(
        [
            "calibrate",
            "all",
            "--images",
            str(virtual_images),
            "--board",
            BOARD,
            "--fix-k3",
            "--rig",
            "virtual",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return out


def test_rendered_corners_sit_where_the_true_geometry_projects_them(virtual_images):
    import cv2

    from scan2ad.acquisition.calibration.boards import detect_board
    from scan2ad.acquisition.calibration.virtual_boards import project
    from scan2ad.io import read_json

    rig, board = load_rig("virtual"), load_board(BOARD)
    truth = read_json(virtual_images / "truth.json")
    errs = []
    for i in (0, 7, 19):
        for cam, dev in (("cam0", rig.virtual.cam0), ("cam1", rig.virtual.cam1)):
            img = cv2.imread(str(virtual_images / cam / f"{i:03d}.png"), cv2.IMREAD_GRAYSCALE)
            assert img.shape == (1024, 1280)
            det = detect_board(img, board)
            T_cam_board = np.linalg.inv(dev.T_world_device) @ np.array(
                truth["T_world_board"]["handheld"][i]
            )
            errs.append(det.image_points - project(dev, T_cam_board, det.object_points))
    e = np.linalg.norm(np.vstack(errs), axis=1)
    # sub-pixel detection on realistic images (noise, blur, uneven light); no systematic offset
    assert np.sqrt((e**2).mean()) < 0.08 and e.max() < 0.4
    assert np.abs(np.vstack(errs).mean(0)).max() < 0.02


def test_calibrate_all_recovers_the_true_rig(calibrated, capsys):
    cal = load_calibration(calibrated)
    truth = true_calibration(load_rig("virtual"))
    assert cal.source == "images" and cal.rig == "virtual"
    assert_acceptance(cal, truth)
    # the world frame (axis origin at the board plane, x along the baseline) is the rig's own
    np.testing.assert_allclose(cal.T_world_cam0[:3, :3], truth.T_world_cam0[:3, :3], atol=2e-3)
    np.testing.assert_allclose(cal.T_world_cam0[:3, 3], truth.T_world_cam0[:3, 3], atol=0.3)
    assert cal.turntable.residual_mm < 0.02
    assert calibrated.with_name("calibration_report.png").stat().st_size > 10_000


def test_shipped_virtual_calibration_was_calibrated_from_images(repo_root):
    """calibration_data/virtual/calibration.json (made by `scan2ad calibrate all`, see cli.py)."""
    cal = load_calibration(repo_root / "calibration_data" / "virtual" / "calibration.json")
    assert cal.source == "images" and len(cal.cameras["cam0"].per_view_rms_px) >= 40
    assert_acceptance(cal, true_calibration(load_rig("virtual")))
    assert (
        load_rig("virtual").calibration_path()
        == repo_root / "calibration_data" / "virtual" / "calibration.json"
    )


def test_step_by_step_commands_match_all(virtual_images, calibrated, tmp_path):
    cams = tmp_path / "cams.json"
    assert (
        main(
            [
                "calibrate",
                "cameras",
                "--images",
                str(virtual_images),
                "--board",
                BOARD,
                "--fix-k3",
                "--out",
                str(cams),
                "--no-report",
            ]
        )
        == 0
    )
    c = load_calibration(cams)
    assert c.stereo is None and c.turntable is None and set(c.cameras) == {"cam0", "cam1"}
    st = tmp_path / "stereo.json"
    assert (
        main(
            [
                "calibrate",
                "stereo",
                "--images",
                str(virtual_images),
                "--board",
                BOARD,
                "--calibration",
                str(cams),
                "--out",
                str(st),
                "--no-report",
            ]
        )
        == 0
    )
    tt = tmp_path / "tt.json"
    assert (
        main(
            [
                "calibrate",
                "turntable",
                "--images",
                str(virtual_images),
                "--board",
                BOARD,
                "--calibration",
                str(st),
                "--out",
                str(tt),
                "--no-report",
            ]
        )
        == 0
    )
    step, once = load_calibration(tt), load_calibration(calibrated)
    np.testing.assert_allclose(step.stereo.T, once.stereo.T, atol=1e-6)
    np.testing.assert_allclose(step.T_world_cam0, once.T_world_cam0, atol=1e-6)


def test_outlier_view_is_rejected_and_reported(virtual_images):
    from scan2ad.acquisition.calibration.pipeline import detect_views, find_views
    from scan2ad.acquisition.calibration.solve import SolveConfig, calibrate_intrinsics

    board = load_board(BOARD)
    views = detect_views("cam0", find_views(virtual_images, "cam0/*"), board, 4)
    dets = dict(list(views.detections.items())[:12])
    bad = dets["005"]
    rng = np.random.default_rng(1)
    bad.image_points = bad.image_points + rng.normal(0, 1.5, bad.image_points.shape)
    res = calibrate_intrinsics(dets, views.image_size, SolveConfig(fix_k3=True), "cam0")
    assert list(res.camera.rejected_views) == ["005"]
    assert "median" in res.camera.rejected_views["005"]
    assert "005" not in res.poses and res.camera.rms_px < 0.1
    kept = calibrate_intrinsics(
        dets, views.image_size, SolveConfig(fix_k3=True, max_rounds=0), "cam0"
    )
    assert not kept.camera.rejected_views and list(kept.suspect) == ["005"]


def test_turntable_outlier_view_is_rejected(virtual_images, calibrated):
    from scan2ad.acquisition.calibration.pipeline import detect_views, find_views, read_angles
    from scan2ad.acquisition.calibration.solve import SolveConfig, fit_turntable_axis

    cal = load_calibration(calibrated)
    views = detect_views(
        "turntable", find_views(virtual_images, "turntable/cam0/*"), load_board(BOARD), 3
    )
    dets = views.detections
    dets["003"].image_points = dets["003"].image_points + np.random.default_rng(2).normal(
        0, 1.0, (88, 2)
    )
    angles = read_angles(virtual_images, "turntable/cam0/*")
    res = fit_turntable_axis(dets, angles, cal.cameras["cam0"], 0.0, SolveConfig())
    assert list(res.rejected) == ["003"] and "003" not in res.turntable.per_view_rms_px
    truth = true_calibration(load_rig("virtual"))
    assert _angle_deg(res.turntable.axis_direction_cam0, truth.turntable.axis_direction_cam0) < 0.05
