"""Board files, detection of every board type on virtual images, and the canonical corner order."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.acquisition.calibration.boards import BoardSpec, detect_board, load_board
from scan2ad.acquisition.calibration.virtual_boards import (
    BoardRenderConfig,
    PoseConfig,
    _board_centre,
    _rot,
    handheld_board_poses,
    project,
    render_board,
)
from scan2ad.acquisition.rig import load_rig
from scan2ad.errors import InputError

BOARDS = [
    "chessboard_11x8_6mm.toml",
    "circles_asym_4x11_5mm.toml",
    "circles_7x6_8mm.toml",
    "charuco_12x9_6mm.toml",
]


def _turned(board: BoardSpec, T_world_board: np.ndarray, degrees: float) -> np.ndarray:
    """The same board pose, turned in its own plane about its centre."""
    c = _board_centre(board)
    M = np.eye(4)
    M[:3, :3] = _rot([0, 0, 1], np.deg2rad(degrees))
    M[:3, 3] = c - M[:3, :3] @ c
    return T_world_board @ M


def _render(board, T_world_board, seed=0, cam=0):
    rig = load_rig("virtual")
    dev = (rig.virtual.cam0, rig.virtual.cam1)[cam]
    T_cam_board = np.linalg.inv(dev.T_world_device) @ T_world_board
    img = render_board(
        board,
        dev,
        (1280, 1024),
        T_cam_board,
        BoardRenderConfig.from_rig(rig),
        np.random.default_rng(seed),
    )
    return img, dev, T_cam_board


@pytest.mark.parametrize("name", BOARDS)
def test_every_board_is_detected_to_sub_pixel_in_the_canonical_order(name):
    board = load_board(name)
    rig = load_rig("virtual")
    T = handheld_board_poses(rig, board, PoseConfig(views=1, seed=3))[0]
    # a symmetric circle grid cannot tell a board turned by 180°: it is only used upright
    turns = (0.0,) if board.type == "circles" else (0.0, 180.0)
    for turn in turns:
        img, dev, T_cam_board = _render(board, _turned(board, T, turn))
        det = detect_board(img, board)
        assert det is not None and len(det) == board.n_points
        err = np.linalg.norm(
            det.image_points - project(dev, T_cam_board, det.object_points), axis=1
        )
        assert np.sqrt((err**2).mean()) < 0.1 and err.max() < 0.3, (name, turn, err.max())


def test_charuco_partial_view_keeps_ids():
    board = load_board("charuco_12x9_6mm.toml")
    T = handheld_board_poses(load_rig("virtual"), board, PoseConfig(views=1, seed=4))[0]
    img, dev, T_cam_board = _render(board, T)
    truth = project(dev, T_cam_board, board.object_points())
    cut = int(np.median(truth[:, 0]))
    img[:, cut:] = 40  # half of the board hidden
    det = detect_board(img, board)
    assert det is not None and 20 <= len(det) < board.n_points
    assert (truth[det.ids, 0] < cut).all()
    err = np.linalg.norm(det.image_points - truth[det.ids], axis=1)
    assert err.max() < 0.3


def test_nothing_is_found_in_an_empty_image():
    for name in BOARDS:
        assert detect_board(np.full((480, 640), 90, np.uint8), load_board(name)) is None


@pytest.mark.parametrize("name", ["circles_asym_4x11_5mm.toml", "charuco_12x9_6mm.toml"])
def test_zhang_intrinsics_from_other_boards(name):
    from scan2ad.acquisition.calibration.solve import SolveConfig, calibrate_intrinsics

    board = load_board(name)
    rig = load_rig("virtual")
    poses = handheld_board_poses(rig, board, PoseConfig(views=10, seed=5))
    dets = {}
    for i, T in enumerate(poses):
        img, _, _ = _render(board, T, seed=i)
        dets[f"{i:02d}"] = detect_board(img, board)
    res = calibrate_intrinsics(dets, (1280, 1024), SolveConfig(fix_k3=True), "cam0")
    K, Kt = res.camera.K, rig.virtual.cam0.K
    assert abs(K[0, 0] / Kt[0, 0] - 1) < 0.003 and abs(K[1, 1] / Kt[1, 1] - 1) < 0.003
    assert np.hypot(K[0, 2] - Kt[0, 2], K[1, 2] - Kt[1, 2]) < 8
    assert res.camera.rms_px < 0.15


def test_board_files_are_checked(tmp_path):
    for name in BOARDS + ["opencv_sample_9x6.toml"]:
        b = load_board(name)
        assert b.name and len(b.object_points()) == b.n_points
    bad = {
        "type.toml": 'type = "dots"\ncols = 9\nrows = 6\nsquare_mm = 1.0\n',
        "small.toml": 'type = "chessboard"\ncols = 1\nrows = 6\nsquare_mm = 1.0\n',
        "dict.toml": 'type = "charuco"\ncols = 12\nrows = 9\nsquare_mm = 6\nmarker_mm = 4\ndictionary = "DICT_4X4_50"\n',
        "circle.toml": 'type = "circles"\ncols = 4\nrows = 4\nsquare_mm = 5\ncircle_diameter_mm = 6\n',
    }
    for fname, text in bad.items():
        p = tmp_path / fname
        p.write_text(text)
        with pytest.raises(InputError) as e:
            load_board(p)
        assert fname in str(e.value)
    assert "54 markers but DICT_4X4_50 has 50" in str(
        pytest.raises(InputError, load_board, tmp_path / "dict.toml").value
    )
    with pytest.raises(InputError, match="board file not found"):
        load_board(tmp_path / "missing.toml")
