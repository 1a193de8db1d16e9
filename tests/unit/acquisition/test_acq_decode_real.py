"""Our decoder on a real projector-camera Gray-code capture (shared/data/procam_graycode)."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.acquisition.decode import DecodeConfig, decode_frames
from scan2ad.acquisition.patterns import PatternSet


@pytest.fixture(scope="module")
def capture(shared_data):
    cv2 = pytest.importorskip("cv2")
    root = shared_data / "procam_graycode" / "capture_0"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    imgs = [
        cv2.imread(str(root / f"graycode_{i:02d}.png"), cv2.IMREAD_GRAYSCALE) for i in range(42)
    ]
    assert all(i is not None for i in imgs)
    # OpenCV GrayCodePattern(1024, 768) order: 40 bit frames (pattern, inverse; columns then
    # rows, MSB first), then white (40) and black (41); ours puts white and black first
    frames = [imgs[40], imgs[41]] + imgs[:40]
    ok, corners = cv2.findChessboardCorners(imgs[40], (9, 7))
    assert ok, "the chessboard must be found in the white frame"
    corners = corners.reshape(7, 9, 2)
    mask = np.zeros(imgs[40].shape, np.uint8)
    hull = cv2.convexHull(corners.reshape(-1, 2)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    return frames, corners, mask.astype(bool)


def _board_row_monotonic(values_along_rows):
    """Fraction of successive valid samples along board rows that do not decrease by > 1 px."""
    good = total = 0
    for v in values_along_rows:
        v = v[~np.isnan(v)]
        dv = np.diff(v)
        good += int((dv >= -1.0).sum())
        total += dv.size
    return good / max(total, 1), total


@pytest.mark.parametrize("rule,min_valid", [("contrast", 0.65), ("direct_global", 0.45)])
def test_real_graycode_capture_decodes_monotonic_over_the_board(capture, rule, min_valid):
    frames, corners, board = capture
    ps = PatternSet(1024, 768, kind="graycode")
    d = decode_frames(frames, ps, DecodeConfig(bit_rule=rule))
    assert d.valid[board].mean() >= min_valid
    # sample the maps along each board row, densely between its corners
    cols, rows = [], []
    for r in range(7):
        a, b = corners[r, 0], corners[r, -1]
        t = np.linspace(0, 1, 400)
        pts = np.rint(a[None] + t[:, None] * (b - a)[None]).astype(int)
        cols.append(d.col[pts[:, 1], pts[:, 0]])
        rows.append(d.row[pts[:, 1], pts[:, 0]])
    frac, n = _board_row_monotonic(cols)
    assert n > 1000 and frac == 1.0, (frac, n)
    # columns advance along a row (the projector is roughly aligned with the camera) ...
    spans = [np.nanmax(c) - np.nanmin(c) for c in cols]
    assert min(spans) > 250
    # ... while the projector row changes little along a board row and increases down the board
    row_means = [np.nanmedian(r) for r in rows]
    assert all(np.nanmax(r) - np.nanmin(r) < 25 for r in rows)
    assert np.all(np.diff(row_means) > 0)


def test_opencv_thresholds_give_a_subset(capture):
    """OpenCV's own thresholds (black 40, white 5) decode fewer pixels, and the same values."""
    frames, _, board = capture
    ps = PatternSet(1024, 768, kind="graycode")
    ours = decode_frames(frames, ps)
    strict = decode_frames(frames, ps, DecodeConfig(min_contrast=40, min_bit_margin=5))
    assert (strict.valid & ~ours.valid).sum() == 0
    assert strict.valid[board].mean() < ours.valid[board].mean()
    both = strict.valid
    assert np.array_equal(strict.col[both], ours.col[both])
