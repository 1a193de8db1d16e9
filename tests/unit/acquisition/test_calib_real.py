"""Calibrating OpenCV's real stereo sample (``../shared/data/opencv_stereo``) reproduces its
reference figures (README there): left/right RMS 0.408/0.458 px, stereo RMS 0.447 px with all
13 pairs, and triangulated adjacent corners 1 square apart."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.acquisition.calibration.boards import load_board
from scan2ad.acquisition.calibration.model import load_calibration
from scan2ad.acquisition.calibration.pipeline import calibrate_images
from scan2ad.acquisition.calibration.solve import SolveConfig, triangulate
from scan2ad.cli import main

GLOBS = {"cam0": "left*.jpg", "cam1": "right*.jpg"}


@pytest.fixture(scope="module")
def stereo_dir(shared_data):
    d = shared_data / "opencv_stereo"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def test_reference_figures_with_all_views(stereo_dir, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    rc = main(
        [
            "calibrate",
            "stereo",
            "--images",
            str(stereo_dir),
            "--board",
            "opencv_sample_9x6.toml",
            "--cam0",
            "left*.jpg",
            "--cam1",
            "right*.jpg",
            "--keep-all-views",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    cal = load_calibration(out)
    assert abs(cal.cameras["cam0"].rms_px - 0.408) < 0.03
    assert abs(cal.cameras["cam1"].rms_px - 0.458) < 0.03
    assert abs(cal.stereo.rms_px - 0.447) < 0.05
    assert len(cal.stereo.per_view_rms_px) == 13
    np.testing.assert_allclose(
        cal.cameras["cam0"].K[[0, 1, 0, 1], [0, 1, 2, 2]],
        [536.07, 536.01, 342.37, 235.53],
        atol=0.5,
    )
    np.testing.assert_allclose(cal.stereo.T, [-3.344, 0.042, 0.053], atol=0.02)
    # never silent: the view far above the others is named even when kept
    assert "kept suspect view 02" in capsys.readouterr().out


def test_triangulated_adjacent_corners_are_one_square_apart(stereo_dir):
    board = load_board("opencv_sample_9x6.toml")
    run = calibrate_images(stereo_dir, board, "stereo", SolveConfig(max_rounds=0), GLOBS)
    cal = run.calibration
    d = []
    for n in sorted(run.views["cam0"].detections):
        a, b = run.views["cam0"].detections[n], run.views["cam1"].detections[n]
        X = triangulate(
            cal.stereo, cal.cameras["cam0"], cal.cameras["cam1"], a.image_points, b.image_points
        )
        X = X.reshape(board.rows, board.cols, 3)
        d += [
            np.linalg.norm(np.diff(X, axis=1), axis=2).ravel(),
            np.linalg.norm(np.diff(X, axis=0), axis=2).ravel(),
        ]
    d = np.concatenate(d)
    assert abs(d.mean() - 1.0) < 0.005, d.mean()
    assert d.std() < 0.03


def test_default_rejects_the_bad_pair_and_says_why(stereo_dir):
    run = calibrate_images(
        stereo_dir, load_board("opencv_sample_9x6.toml"), "stereo", SolveConfig(), GLOBS
    )
    cal = run.calibration
    assert "02" in cal.cameras["cam0"].rejected_views and "02" in cal.stereo.rejected_views
    assert "px >" in cal.stereo.rejected_views["02"]
    assert cal.cameras["cam0"].rms_px < 0.3 and cal.stereo.rms_px < 0.35
    assert cal.per_view_errors["cam0"]["rejected"] == cal.cameras["cam0"].rejected_views
