"""Calibration boards: definitions (``calibration_data/boards/*.toml``), detection, reflectance.

A board file is a :class:`BoardSpec` in TOML. Three kinds, as the field uses them:

- ``chessboard``: ``cols`` × ``rows`` *inner* corners, ``square_mm`` squares. Detected with
  OpenCV's ``findChessboardCornersSB`` (``detector = "sb"``, sub-pixel by construction) or the
  classic ``findChessboardCorners`` + ``cornerSubPix`` (``detector = "classic"``, the recipe of
  OpenCV's stereo sample, used to reproduce its reference figures).
- ``circles`` / ``asymmetric_circles``: ``cols`` × ``rows`` dark circles of ``circle_diameter_mm``
  on a light board, centre spacing ``square_mm`` (for the asymmetric grid the OpenCV convention:
  circle (i, j) at ``((2j + i mod 2)·s, i·s)``). ``findCirclesGrid``; blob centres are sub-pixel.
- ``charuco``: ``cols`` × ``rows`` *squares* with ArUco markers (``marker_mm``, ``dictionary``)
  in the white squares; ``cv2.aruco.CharucoDetector``. Partial views are fine: corners carry ids.

Board frame: x along a row, y down the columns, z into the board (a camera looking at the front
of the board sees x right and y down, like an image). Object points are in millimetres; for
chessboards and circle grids the first corner/circle is the origin, for ChArUco the board's outer
corner is (OpenCV's convention).

Corner order. A chessboard with an even × odd number of squares looks different when turned by
180°, but neither OpenCV detector promises which of the two orders it returns. Stereo pairs and
turntable sequences need the same order in every image, so detections are put into the board's
canonical order: un-mirrored (the row direction × the column direction points into the board)
and with the black outer square diagonally before corner 0 (:func:`canonical_chessboard_order`).
Symmetric circle grids have no such cue: their circle 0 is put towards the image's top left,
which is consistent between the two cameras of a pair but not over a turntable revolution; use
them for intrinsics and stereo, a chessboard or ChArUco board for the turntable.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Literal

import numpy as np

from scan2ad.config import doc, load_config
from scan2ad.errors import InputError

BoardType = Literal["chessboard", "circles", "asymmetric_circles", "charuco"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoardSpec:
    """A calibration board (one ``calibration_data/boards/*.toml`` file)."""

    name: str = doc("board name, used in reports", "")
    type: BoardType = doc("chessboard | circles | asymmetric_circles | charuco")
    cols: int = doc(
        "chessboard: inner corners per row; circles: circles per row; charuco: squares per row"
    )
    rows: int = doc(
        "chessboard: inner corners per column; circles: rows of circles; charuco: squares per column"
    )
    square_mm: float = doc(
        "square side (chessboard, charuco) or circle centre spacing (circle grids), mm"
    )
    circle_diameter_mm: float = doc("circle grids: circle diameter, mm", 0.0)
    marker_mm: float = doc("charuco: ArUco marker side, mm", 0.0)
    dictionary: str = doc(
        "charuco: cv2.aruco predefined dictionary name (≥ cols·rows/2 markers)", "DICT_4X4_100"
    )
    margin_mm: float = doc("white border around the pattern (outer squares / circles), mm", 6.0)
    thickness_mm: float = doc(
        "board thickness: the pattern lies this far above the surface it rests on", 0.0
    )
    detector: Literal["sb", "classic"] = doc(
        "chessboard detector: sb = findChessboardCornersSB, classic = findChessboardCorners + cornerSubPix",
        "sb",
    )
    subpix_window: int = doc(
        "classic chessboard: cornerSubPix winSize (half the side of the search window), px", 11
    )
    white_albedo: float = doc("virtual rendering: reflectance of the white print", 0.85)
    black_albedo: float = doc("virtual rendering: reflectance of the black print", 0.06)

    def __post_init__(self):
        if self.cols < 2 or self.rows < 2:
            raise ValueError(
                f"board {self.name!r}: cols and rows must be ≥ 2, got {self.cols}×{self.rows}"
            )
        if self.square_mm <= 0:
            raise ValueError(f"board {self.name!r}: square_mm must be > 0")
        if self.type in ("circles", "asymmetric_circles") and not 0 < self.circle_diameter_mm < (
            self.square_mm * (1.4 if self.type == "asymmetric_circles" else 1.0)
        ):
            raise ValueError(
                f"board {self.name!r}: circle_diameter_mm must be > 0 and smaller than the spacing"
            )
        if self.type == "charuco" and not 0 < self.marker_mm < self.square_mm:
            raise ValueError(
                f"board {self.name!r}: marker_mm must be > 0 and smaller than square_mm"
            )
        if self.type == "charuco":
            import cv2

            if not self.dictionary.startswith("DICT_") or not hasattr(cv2.aruco, self.dictionary):
                raise ValueError(
                    f"board {self.name!r}: unknown ArUco dictionary {self.dictionary!r}"
                )
            size = cv2.aruco.getPredefinedDictionary(
                getattr(cv2.aruco, self.dictionary)
            ).bytesList.shape[0]
            if self.cols * self.rows // 2 > size:
                raise ValueError(
                    f"board {self.name!r}: {self.cols}x{self.rows} squares hold "
                    f"{self.cols * self.rows // 2} markers but {self.dictionary} has {size}"
                )

    # ------------------------------------------------------------------ geometry
    @property
    def pattern_size(self) -> tuple[int, int]:
        """The (cols, rows) OpenCV's detectors take."""
        return self.cols, self.rows

    @property
    def n_points(self) -> int:
        if self.type == "charuco":
            return (self.cols - 1) * (self.rows - 1)
        return self.cols * self.rows

    def object_points(self) -> np.ndarray:
        """(N, 3) float64 points of the pattern in the board frame (mm), in detection order."""
        s = self.square_mm
        if self.type == "charuco":
            return np.asarray(self.cv_charuco_board().getChessboardCorners(), np.float64).reshape(
                -1, 3
            )
        j, i = np.meshgrid(np.arange(self.cols), np.arange(self.rows))  # i = row, j = column
        if self.type == "asymmetric_circles":
            x, y = (2 * j + i % 2) * s, i * s
        else:
            x, y = j * s, i * s
        return np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1).astype(np.float64)

    def extent_mm(self) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1): the printed board, margin included, in the board frame."""
        s, m = self.square_mm, self.margin_mm
        if self.type == "chessboard":
            return -s - m, -s - m, self.cols * s + m, self.rows * s + m
        if self.type == "charuco":
            return -m, -m, self.cols * s + m, self.rows * s + m
        r = self.circle_diameter_mm / 2
        pts = self.object_points()
        return (
            pts[:, 0].min() - r - m,
            pts[:, 1].min() - r - m,
            pts[:, 0].max() + r + m,
            pts[:, 1].max() + r + m,
        )

    def describe(self) -> str:
        extra = {
            "chessboard": f"{self.cols}x{self.rows} inner corners",
            "charuco": f"{self.cols}x{self.rows} squares, {self.marker_mm:g} mm {self.dictionary} markers",
        }.get(self.type, f"{self.cols}x{self.rows} circles of {self.circle_diameter_mm:g} mm")
        return f"{self.type} {extra}, {self.square_mm:g} mm pitch"

    def to_dict(self) -> dict:
        from scan2ad.config import config_to_dict

        return config_to_dict(self)

    def cv_charuco_board(self):
        """OpenCV's ``CharucoBoard`` for this board (built once per board)."""
        return _cv_charuco_board(
            self.cols, self.rows, self.square_mm, self.marker_mm, self.dictionary
        )


@functools.lru_cache(maxsize=8)
def _cv_charuco_board(cols: int, rows: int, square: float, marker: float, dictionary: str):
    import cv2

    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    return cv2.aruco.CharucoBoard((cols, rows), square, marker, d)


def load_board(path: str | Path) -> BoardSpec:
    """A board by path, or by file name in ``calibration_data/boards/``."""
    from scan2ad.acquisition.rig import BOARDS_DIR

    p = Path(path)
    if not p.is_file() and (BOARDS_DIR / p.name).is_file() and len(p.parts) == 1:
        p = BOARDS_DIR / p.name
    if not p.is_file():
        known = ", ".join(sorted(x.name for x in BOARDS_DIR.glob("*.toml")))
        raise InputError(f"board file not found (boards in {BOARDS_DIR}: {known})", p)
    try:
        spec = load_config(BoardSpec, p)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(str(exc), p) from None
    return spec if spec.name else dataclasses.replace(spec, name=p.stem)


# ---------------------------------------------------------------------- detection
@dataclasses.dataclass
class Detection:
    """Board points found in one image: pixel positions, the matching object points and ids."""

    image_points: np.ndarray  # (N, 2) float64, pixels
    object_points: np.ndarray  # (N, 3) float64, mm, board frame
    ids: np.ndarray  # (N,) int: index of each point in board.object_points()

    def __len__(self) -> int:
        return len(self.ids)


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image


def _mean_in_polygon(gray: np.ndarray, quad: np.ndarray) -> float:
    import cv2

    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad * 16).astype(np.int32), 255, cv2.LINE_8, shift=4)
    vals = gray[mask > 0]
    return float(vals.mean()) if vals.size else float("nan")


def canonical_chessboard_order(
    gray: np.ndarray, corners: np.ndarray, cols: int, rows: int
) -> np.ndarray:
    """Reorder detected inner corners (row-major, ``cols`` per row) into the board's canonical order.

    Un-mirror first (in a front view the column direction is the row direction turned by +90°,
    i.e. ``cross(d_row, d_col) > 0`` in image coordinates with y down), then turn by 180° unless the
    square between corners (0, 0) and (1, 1) is darker than its neighbour along the row (the board
    prints square (0, 0) black). Turning an (even × odd)-square board by 180° swaps the colours of
    those two squares; an (odd × odd) or (even × even) board is symmetric and keeps the detector's order.
    """
    g = corners.reshape(rows, cols, 2)
    d_row, d_col = g[0, -1] - g[0, 0], g[-1, 0] - g[0, 0]
    if d_row[0] * d_col[1] - d_row[1] * d_col[0] < 0:
        g = g[:, ::-1]
    if (cols + rows) % 2 == 1:
        first = np.array([g[0, 0], g[0, 1], g[1, 1], g[1, 0]])
        second = np.array([g[0, 1], g[0, 2], g[1, 2], g[1, 1]])
        if _mean_in_polygon(gray, first) > _mean_in_polygon(gray, second):
            g = g[::-1, ::-1]
    return np.ascontiguousarray(g).reshape(-1, 2)


def detect_board(image: np.ndarray, board: BoardSpec) -> Detection | None:
    """Find ``board`` in ``image`` (grey or BGR); ``None`` when it is not (fully) found.

    Chessboards and circle grids must be complete; a ChArUco view needs at least 6 corners.
    """
    import cv2

    gray = _gray(image)
    obj = board.object_points()
    if board.type == "chessboard":
        size = board.pattern_size
        if board.detector == "sb":
            ok, corners = cv2.findChessboardCornersSB(
                gray,
                size,
                flags=cv2.CALIB_CB_NORMALIZE_IMAGE
                | cv2.CALIB_CB_EXHAUSTIVE
                | cv2.CALIB_CB_ACCURACY,
            )
        else:
            ok, corners = cv2.findChessboardCorners(
                gray, size, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
            )
            if ok:
                w = board.subpix_window
                corners = cv2.cornerSubPix(
                    gray,
                    corners,
                    (w, w),
                    (-1, -1),
                    (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01),
                )
        if not ok:
            return None
        pts = canonical_chessboard_order(gray, corners.reshape(-1, 2).astype(np.float64), *size)
        return Detection(pts, obj.copy(), np.arange(len(obj)))
    if board.type in ("circles", "asymmetric_circles"):
        flags = (
            cv2.CALIB_CB_ASYMMETRIC_GRID
            if board.type == "asymmetric_circles"
            else cv2.CALIB_CB_SYMMETRIC_GRID
        )
        ok, centres = cv2.findCirclesGrid(
            gray, board.pattern_size, flags=flags | cv2.CALIB_CB_CLUSTERING
        )
        if not ok:
            ok, centres = cv2.findCirclesGrid(gray, board.pattern_size, flags=flags)
        if not ok:
            return None
        pts = centres.reshape(-1, 2).astype(np.float64)
        if board.type == "circles":
            # a symmetric grid has no 180° cue: un-mirror, then put circle 0 towards the image's
            # top left (consistent between two cameras looking at a board that is not upside down)
            g = pts.reshape(board.rows, board.cols, 2)
            d_row, d_col = g[0, -1] - g[0, 0], g[-1, 0] - g[0, 0]
            if d_row[0] * d_col[1] - d_row[1] * d_col[0] < 0:
                g = g[:, ::-1]
            if (g[-1, -1] - g[0, 0]).sum() < 0:
                g = g[::-1, ::-1]
            pts = np.ascontiguousarray(g).reshape(-1, 2)
        return Detection(pts, obj.copy(), np.arange(len(obj)))
    # charuco
    detector = cv2.aruco.CharucoDetector(board.cv_charuco_board())
    ch_corners, ch_ids, _, _ = detector.detectBoard(gray)
    if ch_ids is None or len(ch_ids) < 6:
        return None
    ids = ch_ids.ravel().astype(int)
    # OpenCV ≤ 4.12 returns ChArUco corners shifted by +0.5 px (opencv/opencv#25539, fixed by
    # PR #28380): refine them again with cornerSubPix, which converges to the saddle point itself.
    # The window stays clear of the markers: the gap between a corner and the nearest marker is
    # (square − marker)/2, i.e. that fraction of the median corner spacing in pixels.
    pts = ch_corners.reshape(-1, 2).astype(np.float32)
    from scipy.spatial import cKDTree

    spacing = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1]))
    gap = (board.square_mm - board.marker_mm) / 2 / board.square_mm
    w = int(max(2, min(board.subpix_window, 0.9 * gap * spacing)))
    pts = cv2.cornerSubPix(
        gray,
        pts.reshape(-1, 1, 2),
        (w, w),
        (-1, -1),
        (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 40, 0.001),
    )
    return Detection(pts.reshape(-1, 2).astype(np.float64), obj[ids].copy(), ids)


# ---------------------------------------------------------------------- reflectance (virtual rendering)
def _tri(x: np.ndarray) -> np.ndarray:
    """∫₀ˣ q for the unit square wave q = +1 on [2k, 2k+1), −1 on [2k+1, 2k+2): a triangle wave."""
    a = np.floor(x)
    f = x - a
    odd = np.mod(a, 2.0)
    return np.where(odd == 0, f, 1.0 - f)


def _box_integrals_1d(x0: np.ndarray, x1: np.ndarray, lo: float, hi: float, s: float):
    """Over [x0, x1]: ∫ 1[lo, hi] and ∫ 1[lo, hi]·q(x/s) (q the square wave, +1 on the square at 0)."""
    c0, c1 = np.clip(x0, lo, hi), np.clip(x1, lo, hi)
    return c1 - c0, s * (_tri(c1 / s) - _tri(c0 / s))


def chessboard_reflectance(board: BoardSpec, u, v, fu, fv, background: float) -> np.ndarray:
    """Mean reflectance of a chessboard over the axis-aligned boxes ``[u ± fu/2] × [v ± fv/2]`` (mm).

    Exact area average, written by hand because no library box-filters a procedural texture:
    the black squares are ``B = 1_pattern(u)·1_pattern(v)·(1 + q(u) q(v)) / 2`` with ``q`` the
    ±1 square wave of period 2 squares, which is separable, so ∫∫B over a box is a sum of
    products of 1-D integrals, each piecewise linear (:func:`_tri`). The square (−1, −1) before
    corner 0 is black.
    """
    s = board.square_mm
    lo_u, lo_v = -s, -s
    hi_u, hi_v = board.cols * s, board.rows * s
    u0, u1, v0, v1 = u - fu / 2, u + fu / 2, v - fv / 2, v + fv / 2
    # shift by one square so that the square wave is +1 on the black square (−1, −1)
    iu, qu = _box_integrals_1d(u0 + s, u1 + s, lo_u + s, hi_u + s, s)
    iv, qv = _box_integrals_1d(v0 + s, v1 + s, lo_v + s, hi_v + s, s)
    black = 0.5 * (iu * iv + qu * qv)
    e = board.extent_mm()
    su = np.clip(u1, e[0], e[2]) - np.clip(u0, e[0], e[2])
    sv = np.clip(v1, e[1], e[3]) - np.clip(v0, e[1], e[3])
    area = fu * fv
    substrate = su * sv
    return (
        background * (area - substrate)
        + board.white_albedo * (substrate - black)
        + board.black_albedo * black
    ) / area


def circles_reflectance(board: BoardSpec, u, v, fu, fv, background: float) -> np.ndarray:
    """Reflectance of a circle grid, the circle edges anti-aliased over the sample footprint.

    Coverage of a disc by a small box is taken as ``clip(0.5 + (r − d)/w)`` with ``d`` the
    distance to the nearest centre and ``w`` the footprint width: symmetric about the edge, so
    it moves no centre; supersampling (the renderer's) averages the rest.
    """
    s, r = board.square_mm, board.circle_diameter_mm / 2
    w = np.sqrt(fu * fv)
    best = np.full(np.shape(u), np.inf)
    if board.type == "asymmetric_circles":
        for parity in (0, 1):
            i = np.clip(
                np.round((v / s - parity) / 2) * 2 + parity,
                parity,
                board.rows - 1 - (board.rows - 1 - parity) % 2,
            )
            j = np.clip(np.round((u / s - parity) / 2), 0, board.cols - 1)
            cu, cv = (2 * j + parity) * s, i * s
            best = np.minimum(best, np.hypot(u - cu, v - cv))
    else:
        j = np.clip(np.round(u / s), 0, board.cols - 1)
        i = np.clip(np.round(v / s), 0, board.rows - 1)
        best = np.hypot(u - j * s, v - i * s)
    cover = np.clip(0.5 + (r - best) / w, 0.0, 1.0)
    e = board.extent_mm()
    inside = np.clip(
        (np.minimum(np.minimum(u - e[0], e[2] - u), np.minimum(v - e[1], e[3] - v))) / w + 0.5, 0, 1
    )
    board_refl = board.white_albedo * (1 - cover) + board.black_albedo * cover
    return background * (1 - inside) + board_refl * inside


@functools.cache
def _charuco_texture(board: BoardSpec, px_per_mm: float) -> np.ndarray:
    b = board.cv_charuco_board()
    size = (
        round(board.cols * board.square_mm * px_per_mm),
        round(board.rows * board.square_mm * px_per_mm),
    )
    img = b.generateImage(size, marginSize=0, borderBits=1)
    return img.astype(np.float32) / 255.0


def charuco_reflectance(
    board: BoardSpec, u, v, fu, fv, background: float, px_per_mm: float = 40.0
) -> np.ndarray:
    """Reflectance of a ChArUco board: OpenCV's own board image (``generateImage``) at ``px_per_mm``,
    sampled bilinearly (the texture is finer than a camera sample, supersampling does the rest)."""
    import cv2

    tex = _charuco_texture(board, px_per_mm)
    mu = (u * px_per_mm - 0.5).astype(np.float32)
    mv = (v * px_per_mm - 0.5).astype(np.float32)
    t = cv2.remap(
        tex, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0
    ).astype(np.float64)
    refl = board.black_albedo + (board.white_albedo - board.black_albedo) * t
    e = board.extent_mm()
    w = np.sqrt(fu * fv)
    inside = np.clip(
        (np.minimum(np.minimum(u - e[0], e[2] - u), np.minimum(v - e[1], e[3] - v))) / w + 0.5, 0, 1
    )
    return background * (1 - inside) + refl * inside


def board_reflectance(board: BoardSpec, u, v, fu, fv, background: float = 0.2) -> np.ndarray:
    """Mean reflectance of the printed board (and the ``background`` beyond it) over sample footprints."""
    if board.type == "chessboard":
        return chessboard_reflectance(board, u, v, fu, fv, background)
    if board.type == "charuco":
        return charuco_reflectance(board, u, v, fu, fv, background)
    return circles_reflectance(board, u, v, fu, fv, background)
