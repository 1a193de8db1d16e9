"""Camera–projector calibration and triangulation on the real Gray-code captures in
``../shared/data/procam_graycode`` (4 poses of a 75 mm chessboard at 3.2-3.6 m). Upstream
script's figures (data README): RMS camera 0.336, projector 0.234, stereo 0.464 px; plane RMS
2.87 / 1.06 / 1.67 / 2.54 mm with integer decoding."""

from __future__ import annotations

import pytest

from scan2ad.acquisition.calibration.boards import load_board
from scan2ad.acquisition.calibration.procam import calibrate_procam, find_captures
from scan2ad.acquisition.calibration.solve import SolveConfig


@pytest.fixture(scope="module")
def captures(shared_data):
    root = shared_data / "procam_graycode"
    if not (root / "capture_0").is_dir():
        pytest.skip(f"{root} is absent")
    return root, find_captures(root, (1024, 768))


@pytest.fixture(scope="module")
def run(captures):
    board = load_board("chessboard_9x7_75mm.toml")
    solve = SolveConfig(max_iterations=200, fix_k3=True, stereo_fix_intrinsics=False)
    return calibrate_procam(captures[1], board, solve)


def test_calibration_rms_within_the_upstream_figures(run):
    cal = run.calibration
    proj = cal.projector_model()
    assert cal.cameras["cam0"].rms_px <= 0.336 + 0.03
    assert proj.rms_px <= 0.234 + 0.03
    assert proj.stereo_rms_px <= 0.464 + 0.03
    assert proj.resolution == (1024, 768)
    # the projector sits ~0.66 m above the camera (upstream: (89.4, -634.5, -160.2) mm)
    t = proj.T_projector_cam0[:3, 3]
    assert 80 < t[0] < 100 and -650 < t[1] < -600 and -260 < t[2] < -150
    assert all(len(d) == 63 for d in run.projector_views.values())


def _check_capture(run, captures, name):
    from scan2ad.reconstruction.procam import board_figures, triangulate_procam

    cap = captures[1][name]
    cloud, check = triangulate_procam(cap.decode(), run.calibration, "graycode")
    fig = board_figures(cap.white, cloud.points, load_board("chessboard_9x7_75mm.toml"),
                        run.calibration.cameras["cam0"])
    rms, mean, std, n = fig.plane_rms_mm, fig.spacing_mean_mm, fig.spacing_std_mm, fig.n_points
    assert n > 5000
    assert rms <= 1.0, rms  # upstream integer decoding: 1.06-2.87 mm
    assert abs(mean - 75.0) <= 0.15, mean
    assert check.median_error_px < 0.5 and check.kept_fraction > 0.9
    # each corner ray cut with the measured surface around it (the board is not quite flat)
    assert abs(fig.surface_spacing_mean_mm - 75.0) <= 0.15, fig
    assert fig.surface_spacing_std_mm <= 0.30, fig
    return std


def test_triangulated_board_is_flat_and_to_scale(run, captures):
    std = _check_capture(run, captures, "capture_2")
    assert std <= 0.30, std


@pytest.mark.slow
@pytest.mark.parametrize("name", ["capture_0", "capture_1", "capture_3"])
def test_every_capture_flat_and_to_scale(run, captures, name):
    std = _check_capture(run, captures, name)
    # capture_1's board curls at one corner (the cloud lies 1.0-1.2 mm below the fitted plane
    # there, seen 56° from its normal: the plane misplaces those corners by up to 1.6 mm; the
    # corners themselves are found to 0.05 px whatever the detector): with one plane its
    # spacing spreads by 0.51 mm, on the measured surface by 0.22 mm (checked above)
    assert std <= (0.55 if name == "capture_1" else 0.30), std


def test_cli_calibrates_and_triangulates_and_refuses_a_foreign_calibration(captures, tmp_path):
    import json

    from scan2ad.acquisition.calibration.model import load_calibration, save_calibration
    from scan2ad.cli import main

    root = captures[0]
    out = tmp_path / "calibration.json"
    args = ["calibrate", "procam", "--images", str(root), "--board", "chessboard_9x7_75mm.toml",
            "--projector", "1024x768", "--out", str(out), "--fix-k3"]
    assert main(args) == 0
    assert (tmp_path / "calibration_report.png").is_file()
    assert main(args) == 2  # no overwrite without --overwrite
    doc = json.loads(out.read_text())
    assert set(doc["projector"]) >= {"K", "dist", "resolution", "T_projector_cam0", "rms_px",
                                     "stereo_rms_px"}
    cal = load_calibration(out)
    # a projector that moved 40 mm sideways since calibration: stopped, with the measured error
    moved = cal.projector_model()
    T = moved.T_projector_cam0.copy()
    T[0, 3] += 40.0
    cal.projector = type(moved)(moved.K, moved.dist, moved.resolution, T).to_dict()
    save_calibration(tmp_path / "moved.json", cal)
    cloud = tmp_path / "c.ply"
    rc = main(["triangulate", str(root / "capture_2"), "--calibration", str(tmp_path / "moved.json"),
               "--out", str(cloud)])
    assert rc == 2 and not cloud.exists()
