"""Camera–projector triangulation: one camera's decoded map and a calibrated projector to points.

The projector is an inverse camera (Moreno & Taubin 2012; ``calibration.json`` → ``projector``):
a camera pixel decoded to projector coordinates (column, row) is a pair of rays, one from each
centre. Per pixel (:func:`intersect_rays`): both pixels are undistorted to normalised
coordinates (``cv2.undistortPoints`` with each device's K and dist), and the depth ``t`` along
the camera ray ``t·d`` is the least-squares solution of the two projection equations of the
projector, ``(R t d + T)_x − x_p (R t d + T)_z = 0`` and the same for y (``X_p = R X_c + T``,
``T_projector_cam0``). Both projector coordinates enter, so the solution does not depend on the
baseline's direction (the real rig in ``../shared/data/procam_graycode`` has a mostly vertical
baseline: its rows carry the depth); the residual of the reprojection into the projector,
in projector pixels, is the pixel's *epipolar error*: the distance of the decoded projector
position from the epipolar line of the camera pixel. With one coded direction only, the camera
ray is cut with that column's (or row's) plane and no residual is known.

Sub-pixel projector coordinates: a Gray-code decode is integer (one projector pixel is ~9 mm of
depth at 3.4 m on the real rig); the decoded maps are smoothed over valid pixels by the same
normalised convolution the stereo path uses (:func:`scan2ad.reconstruction.triangulate.
_smooth_decoded`: a local quadratic per pixel, weighted least squares over a Gaussian window),
with a wider window for Gray code (its quantisation error is a ±0.5 px sawtooth, correlated
over the ~2 camera pixels of one stripe; the window must span several stripes) than for phase
shift, whose decode is already sub-pixel (see ``smooth_sigma_px``).

Calibration check (:func:`check_correspondences`): a calibration that does not fit the images
(another rig, a moved projector, cameras swapped) gives epipolar errors of many pixels. The
median over all decoded pixels, and the share of pixels kept, are measured before any point is
returned; above ``max_median_error_px`` (or below ``min_kept_fraction``) triangulation stops with
:class:`CalibrationMismatch`, which says what was measured and what to do.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import InputError
from scan2ad.log import get_logger
from scan2ad.pointcloud import PointCloud
from scan2ad.reconstruction.triangulate import CalibrationMismatch

log = get_logger(__name__)

__all__ = [
    "BoardFigures", "CalibrationMismatch", "ProcamTriangulateConfig", "board_figures",
    "intersect_rays", "triangulate_procam",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcamTriangulateConfig:
    """Settings of camera–projector triangulation."""

    smooth_sigma_px: float = doc(
        "Gaussian applicability (camera px) of the normalised-convolution smoothing of the "
        "decoded maps; -1: by pattern (Gray code 3: real captures' plane RMS 2.4-2.8 -> "
        "0.6-0.9 mm; phase shift 1.5: one map and half the stereo baseline, so more smoothing "
        "than the stereo path's 1; on the virtual rig with 0.1 px decoder noise, lock_nut / "
        "square_taper_washer mean error 1.70 / 1.70x the two-camera rig's with 1, 1.20 / 1.16x "
        "with 1.5); 0: off",
        -1.0,
    )
    smooth_order: int = doc("order of the local polynomial of the smoothing (0 or 2)", 2)
    smooth_fine_sigma_px: float = doc(
        "scale selection: a second, finer smoothing (camera px) is kept at the pixels where the "
        "two scales disagree by more than smooth_select_k × their robust spread over the view "
        "(there the coarse window's bias, on a curved or grazing surface, exceeds its gain in "
        "noise; see subpixel_maps); -1: by pattern (phase shift 1, the stereo path's scale; "
        "Gray code off: a window under several stripes cannot undo its quantisation); 0: off",
        -1.0,
    )
    smooth_select_k: float = doc(
        "see smooth_fine_sigma_px: the disagreement (in robust standard deviations of the "
        "difference of the two smoothings over the view) above which the fine scale is kept "
        "(2: about the 5% two-sided tail of a normal difference, the intersection-of-confidence-"
        "intervals rule's usual threshold; on the virtual rig, square_plug view 0 per-view mean "
        "/ p95 0.0793 / 0.2495% of the diagonal without selection, 0.0762 / 0.2238 with 3, "
        "0.0724 / 0.2039 with 2, only the fine scale 0.0834 / 0.2130)",
        2.0,
    )
    smooth_max_change: float = doc(
        "a pixel whose smoothed value departs from its own by more than this (projector px) "
        "keeps its own; -1: by pattern (Gray code 1.0, its values are integers; phase 0.3)",
        -1.0,
    )
    min_confidence: float = doc("pixels below this decode confidence are ignored", 0.05)
    max_depth_mm: float = doc("points farther than this from the camera are dropped", 20000.0)
    max_point_error_px: float = doc(
        "a point whose decoded projector position lies farther than this (projector px) from "
        "its camera pixel's epipolar line is dropped ...",
        1.5,
    )
    point_error_factor: float = doc(
        "... or farther than this × the view's median epipolar error (at least 0.25 px): a "
        "sub-pixel decode (phase shift: median ~0.02 px on the virtual rig) then rejects mixed "
        "pixels at edges that a Gray-code limit would keep",
        8.0,
    )
    max_median_error_px: float = doc(
        "calibration check: the median epipolar error over all decoded pixels above this "
        "(projector px) stops triangulation (a calibration of another rig, or a moved projector)",
        3.0,
    )
    min_kept_fraction: float = doc(
        "calibration check: fewer than this share of the decoded pixels within "
        "max_point_error_px stops triangulation",
        0.5,
    )
    max_incidence_deg: float = doc(
        "points seen by the camera or lit by the projector at more than this angle from the "
        "surface normal are dropped (90: keep all; the stereo path's limit)",
        80.0,
    )

    def __post_init__(self):
        for name in ("min_confidence", "max_depth_mm", "max_point_error_px",
                     "max_median_error_px", "min_kept_fraction", "max_incidence_deg",
                     "point_error_factor", "smooth_select_k"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.smooth_order not in (0, 2):
            raise InputError(f"smooth_order must be 0 or 2, got {self.smooth_order!r}")
        for name in ("smooth_sigma_px", "smooth_max_change", "smooth_fine_sigma_px"):
            if not np.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be finite, got {getattr(self, name)!r}")

    def smoothing(self, pattern_kind: str) -> tuple[float, float]:
        """(sigma, max_change) for a pattern set of ``pattern_kind``."""
        gray = pattern_kind == "graycode"
        sigma = self.smooth_sigma_px if self.smooth_sigma_px >= 0 else (3.0 if gray else 1.5)
        change = self.smooth_max_change if self.smooth_max_change >= 0 else (1.0 if gray else 0.3)
        return sigma, change

    def fine_sigma(self, pattern_kind: str) -> float:
        """The finer scale of the scale selection for ``pattern_kind`` (0: none)."""
        if self.smooth_fine_sigma_px >= 0:
            return self.smooth_fine_sigma_px
        return 0.0 if pattern_kind == "graycode" else 1.0


@dataclasses.dataclass
class CorrespondenceCheck:
    """How well decoded correspondences agree with a calibration."""

    median_error_px: float
    p90_error_px: float
    kept_fraction: float
    decoded: int
    what: str = "camera–projector"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def problem(self, max_median: float, min_kept: float) -> str | None:
        if self.decoded == 0:
            return None
        if self.median_error_px > max_median or self.kept_fraction < min_kept:
            return (
                f"the decoded {self.what} correspondences disagree with the calibration: median "
                f"epipolar error {self.median_error_px:.2f} px (limit {max_median:g}), "
                f"{self.kept_fraction:.1%} of {self.decoded} decoded pixels within tolerance "
                f"(need {min_kept:.0%})"
            )
        return None


def _rays(K, dist, pix: np.ndarray) -> np.ndarray:
    """Normalised undistorted coordinates (N, 2) of distorted pixels (N, 2)."""
    import cv2

    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9)
    return cv2.undistortPointsIter(
        np.asarray(pix, np.float64).reshape(-1, 1, 2), np.asarray(K, float),
        np.asarray(dist, float), None, None, crit,
    ).reshape(-1, 2)


@dataclasses.dataclass(frozen=True)
class BoardFigures:
    """Accuracy of a triangulated flat chessboard (the figures of the data README)."""

    n_points: int  # points whose camera pixel lies inside the board's corner hull
    plane_rms_mm: float  # RMS distance of those points from their least-squares plane
    spacing_mean_mm: float  # adjacent-corner distance of the corner rays cut with that plane
    spacing_std_mm: float
    # the same with each corner ray cut with the measured surface around that corner (the plane
    # of the points within ``surface_radius_px`` camera pixels of it): where the printed board is
    # not flat (a curled corner) the one plane misplaces the corners, the cloud does not
    surface_spacing_mean_mm: float = float("nan")
    surface_spacing_std_mm: float = float("nan")


def _spacing(C: np.ndarray) -> np.ndarray:
    """Adjacent-corner distances of a (rows, cols, 3) corner grid."""
    return np.r_[np.linalg.norm(np.diff(C, axis=1), axis=-1).ravel(),
                 np.linalg.norm(np.diff(C, axis=0), axis=-1).ravel()]


def board_figures(
    white: np.ndarray, points: np.ndarray, board, camera, surface_radius_px: float = 25.0
) -> BoardFigures:
    """Plane RMS of the cloud's points inside the board and the adjacent-corner spacing of the
    board's corner rays cut with that plane, for a cloud in the camera frame (mm).

    ``white`` is the camera's all-white frame (the board is detected in it), ``board`` a
    :class:`~scan2ad.acquisition.calibration.boards.Board`, ``camera`` the camera's calibration
    (``K``, ``dist``). Used by the real-capture tests and ``benchmarks/procam.py``.
    """
    import cv2

    from scan2ad.acquisition.calibration.boards import detect_board

    det = detect_board(white, board)
    mask = np.zeros(white.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(det.image_points.astype(np.int32)), 1)
    uv_f, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), camera.K, camera.dist)
    uv_f = uv_f.reshape(-1, 2)
    uv = np.rint(uv_f).astype(int)
    h, w = mask.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    inside[inside] = mask[uv[inside, 1], uv[inside, 0]] > 0
    if inside.sum() < 3:
        raise InputError(f"only {int(inside.sum())} points fall inside the detected board")
    P = points[inside]
    c = P.mean(0)
    n = np.linalg.svd(P - c, full_matrices=False)[2][2]
    rms = float(np.sqrt(np.mean(((P - c) @ n) ** 2)))
    d = np.hstack([_rays(camera.K, camera.dist, det.image_points), np.ones((len(det), 1))])
    C = (d * ((c @ n) / (d @ n))[:, None]).reshape(board.rows, board.cols, 3)
    sp = _spacing(C)
    # each corner ray cut with the local plane of the points around the corner (camera pixels;
    # at least 10 points, else the 30 nearest)
    from scipy.spatial import cKDTree

    tree = cKDTree(uv_f)
    local = []
    for k, (px, ray) in enumerate(zip(det.image_points, d)):
        idx = tree.query_ball_point(px, surface_radius_px)
        if len(idx) < 10:
            idx = tree.query(px, min(30, len(points)))[1]
        Q = points[np.atleast_1d(idx)]
        cq = Q.mean(0)
        nq = np.linalg.svd(Q - cq, full_matrices=True)[2][2]
        local.append(ray * (cq @ nq) / (ray @ nq))
    sl = _spacing(np.asarray(local).reshape(board.rows, board.cols, 3))
    return BoardFigures(int(inside.sum()), rms, float(sp.mean()), float(sp.std()),
                        float(sl.mean()), float(sl.std()))


def intersect_rays(
    cam_pix: np.ndarray, proj_pix: np.ndarray, cam, projector
) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3, camera frame, mm) and epipolar errors (N, projector px; NaN when only one
    projector coordinate is known) of camera pixels ``cam_pix`` (N, 2) decoded to projector
    coordinates ``proj_pix`` (N, 2; a NaN column or row means that direction is not coded)."""
    proj_pix = np.asarray(proj_pix, np.float64)
    has_c = np.isfinite(proj_pix[:, 0])
    has_r = np.isfinite(proj_pix[:, 1])
    K_p = np.asarray(projector.K, float)
    xy_c = _rays(cam.K, cam.dist, cam_pix)
    d = np.hstack([xy_c, np.ones((len(xy_c), 1))])
    if has_c.all() and has_r.all():
        xy_p = _rays(K_p, projector.dist, proj_pix)
    else:
        # one direction only: the missing coordinate is taken at the principal point (it does
        # not enter the solution below); the distortion is then only approximately undone
        filled = np.where(np.isfinite(proj_pix), proj_pix, K_p[[0, 1], [2, 2]][None, :])
        xy_p = _rays(K_p, projector.dist, filled)
    T_pc = np.asarray(projector.T_projector_cam0, float)
    R, T = T_pc[:3, :3], T_pc[:3, 3]
    a = d @ R.T
    c1 = a[:, 0] - xy_p[:, 0] * a[:, 2]
    b1 = xy_p[:, 0] * T[2] - T[0]
    c2 = a[:, 1] - xy_p[:, 1] * a[:, 2]
    b2 = xy_p[:, 1] * T[2] - T[1]
    w1, w2 = has_c.astype(float), has_r.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (w1 * c1 * b1 + w2 * c2 * b2) / (w1 * c1 * c1 + w2 * c2 * c2)
    X = d * t[:, None]
    Xp = X @ R.T + T
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = (Xp[:, 0] / Xp[:, 2] - xy_p[:, 0]) * K_p[0, 0]
        ey = (Xp[:, 1] / Xp[:, 2] - xy_p[:, 1]) * K_p[1, 1]
    err = np.where(has_c & has_r, np.hypot(ex, ey), np.nan)
    return X, err


def _organised_normals(P: np.ndarray) -> np.ndarray:
    """Unit normals of an organised (H, W, 3) point map (central differences), towards the
    camera at the origin; NaN where a neighbour is missing."""
    dx = np.full_like(P, np.nan)
    dy = np.full_like(P, np.nan)
    dx[:, 1:-1] = P[:, 2:] - P[:, :-2]
    dy[1:-1] = P[2:] - P[:-2]
    n = np.cross(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / np.linalg.norm(n, axis=-1, keepdims=True)
        flip = np.einsum("hwc,hwc->hw", n, P) > 0
    n[flip] *= -1
    return n


def subpixel_maps(dm, pattern_kind: str, config: ProcamTriangulateConfig):
    """The decoded (col, row) maps smoothed to sub-pixel precision (see the module docstring)."""
    from scan2ad.reconstruction.triangulate import _smooth_decoded

    sigma, change = config.smoothing(pattern_kind)
    col = np.asarray(dm.col, np.float32)
    row = np.asarray(dm.row, np.float32)
    if sigma <= 0:
        return col, row
    coded = [m for m in (col, row) if np.isfinite(m).any()]
    valid = dm.valid & np.all([np.isfinite(m) for m in coded], axis=0)
    smoothed = _smooth_decoded(coded, valid, sigma, config.smooth_order, change)
    fine = config.fine_sigma(pattern_kind)
    if 0 < fine < sigma:
        smoothed = [
            select_scale(c, f, config.smooth_select_k)
            for c, f in zip(smoothed, _smooth_decoded(coded, valid, fine, config.smooth_order, change))
        ]
    smoothed = iter(smoothed)
    return tuple(next(smoothed) if np.isfinite(m).any() else m for m in (col, row))


def select_scale(coarse: np.ndarray, fine: np.ndarray, k: float) -> np.ndarray:
    """Per pixel, the coarse smoothing where it agrees with the fine one within ``k`` robust
    standard deviations of their difference over the map, else the fine one. Where the decoded
    map is locally quadratic both are unbiased and differ by noise only (most of a view), so
    the spread of the difference measures that noise with no setting; where it is not (thread
    crests, grazing flanks: the code varies faster than a quadratic over the coarse window) the
    coarse value is biased by more than it gains in noise, and the difference shows it."""
    d = coarse - fine
    ok = np.isfinite(d)
    if ok.sum() < 100:
        return coarse
    dv = d[ok]
    spread = 1.4826 * float(np.median(np.abs(dv - np.median(dv))))
    if spread <= 0:
        return coarse
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(d) > k * spread, fine, coarse).astype(coarse.dtype)


def check_correspondences(err: np.ndarray, max_point_error: float) -> CorrespondenceCheck:
    """Epipolar-error statistics of the decoded pixels (NaN errors: not measurable, ignored)."""
    e = err[np.isfinite(err)]
    if not len(e):
        return CorrespondenceCheck(float("nan"), float("nan"), 1.0, 0)
    return CorrespondenceCheck(
        float(np.median(e)), float(np.percentile(e, 90)), float((e <= max_point_error).mean()), len(e)
    )


def triangulate_procam(
    dm, calib, pattern_kind: str = "graycode", config: ProcamTriangulateConfig = ProcamTriangulateConfig(),
    camera: str = "cam0",
) -> tuple[PointCloud, CorrespondenceCheck]:
    """Points (mm, camera frame) with normals and ``extra["confidence"]``, ``extra["epipolar_px"]``
    from one camera's decoded map and the calibration's projector. Raises
    :class:`CalibrationMismatch` when the correspondences disagree with the calibration."""
    proj = calib.projector_model()
    if proj is None:
        raise InputError(
            "the calibration has no projector: run `scan2ad calibrate procam` (one camera and a "
            "projector) first"
        )
    if camera not in calib.cameras:
        raise InputError(f"the calibration has no camera {camera!r}")
    cam = calib.cameras[camera]
    H, W = dm.shape
    if (W, H) != tuple(cam.image_size):
        raise InputError(
            f"the decoded map is {W}x{H} but the calibration's {camera} is "
            f"{cam.image_size[0]}x{cam.image_size[1]}: is this the calibration of this camera?"
        )
    if camera != "cam0":
        # points are triangulated in this camera's frame, then moved into cam0's
        T_c0 = (np.linalg.inv(calib.T_world_cam(camera)) @ calib.T_world_cam0)
        proj = dataclasses.replace(proj, T_projector_cam0=proj.T_projector_cam0 @ np.linalg.inv(T_c0))
    col, row = subpixel_maps(dm, pattern_kind, config)
    ok = dm.valid & (dm.confidence >= config.min_confidence)
    ok &= np.isfinite(col) | np.isfinite(row)
    wp, hp = proj.resolution
    with np.errstate(invalid="ignore"):
        outside = (col < -0.5) | (col > wp - 0.5) | (row < -0.5) | (row > hp - 0.5)
    ok &= ~outside
    ys, xs = np.nonzero(ok)
    pix = np.stack([xs, ys], 1).astype(np.float64)
    X, err = intersect_rays(pix, np.stack([col[ys, xs], row[ys, xs]], 1), cam, proj)
    check = check_correspondences(err, config.max_point_error_px)
    problem = check.problem(config.max_median_error_px, config.min_kept_fraction)
    if problem:
        raise CalibrationMismatch(
            problem + ". Recalibrate (`scan2ad calibrate procam`) with this rig as it stands "
            "now, and check that the calibration belongs to this camera and projector (a "
            "swapped camera, another projector resolution or a moved projector do this)"
        )
    P = np.full((H, W, 3), np.nan)
    good = (X[:, 2] > 0) & (X[:, 2] < config.max_depth_mm)
    limit = config.max_point_error_px
    if np.isfinite(check.median_error_px):
        limit = min(limit, max(0.25, config.point_error_factor * check.median_error_px))
    good &= ~(err > limit)  # NaN (one direction) passes
    P[ys[good], xs[good]] = X[good]
    E = np.full((H, W), np.nan)
    E[ys, xs] = err
    n = _organised_normals(P)
    keep = np.isfinite(P).all(-1) & np.isfinite(n).all(-1)
    centre_p = proj.T_cam0_projector[:3, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_inc = np.ones((H, W))
        for c in (np.zeros(3), centre_p):
            ray = c - P
            cos = np.abs(np.einsum("hwc,hwc->hw", n, ray)) / np.linalg.norm(ray, axis=-1)
            cos_inc = np.fmin(cos_inc, cos)
    keep &= cos_inc >= np.cos(np.radians(config.max_incidence_deg))
    e = np.nan_to_num(E[keep], nan=0.0)
    conf = dm.confidence[keep] * np.exp(-((e / max(config.max_point_error_px, 1e-6)) ** 2))
    pts, nrm = P[keep], n[keep]
    if camera != "cam0":
        T_0c = np.linalg.inv(T_c0)
        pts, nrm = pts @ T_0c[:3, :3].T + T_0c[:3, 3], nrm @ T_0c[:3, :3].T
    return PointCloud(
        pts.astype(np.float64),
        nrm.astype(np.float64),
        extra={
            "confidence": conf.astype(np.float32),
            "epipolar_px": np.nan_to_num(E[keep], nan=-1.0).astype(np.float32),
            "incidence": np.degrees(np.arccos(np.clip(cos_inc[keep], 0, 1))).astype(np.float32),
        },
    ), check
