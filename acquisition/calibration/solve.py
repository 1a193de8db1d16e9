"""The calibration solvers: Zhang intrinsics, the stereo pair, the turntable axis.

Seed paper 003 (§III-A, "Calibration"): each CCD camera is calibrated with Zhang's method [35]
from a plate at several positions and inclinations, then the plate is laid on the revolving
stage, which spins at specified angles while images are captured. The paper does not say how
the axis is computed from those images; here (:func:`fit_turntable_axis`) the axis (point and
direction) and the plate's pose at the first angle are fitted together by least squares on the
reprojection error of every corner in every turntable view, the table angles being known.

Outlier views (a blurred frame, a mis-detected board) are removed in rounds: a view whose RMS
reprojection error exceeds ``outlier_factor`` × the median view's (and ``outlier_floor_px``) is
rejected and the calibration redone. Every rejection is returned with its reason and logged;
nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.acquisition.calibration.boards import Detection
from scan2ad.acquisition.calibration.model import (
    CameraCalibration,
    StereoCalibration,
    TurntableCalibration,
)
from scan2ad.config import doc
from scan2ad.errors import InputError
from scan2ad.log import get_logger

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SolveConfig:
    """Settings of the calibration solvers."""

    min_views: int = doc("fewest usable board views per camera / pair / turntable sequence", 4)
    outlier_factor: float = doc(
        "reject a view whose RMS exceeds this × the median view RMS ...", 4.0
    )
    outlier_floor_px: float = doc(
        "... and this many pixels (never reject views better than this)", 0.3
    )
    max_rounds: int = doc(
        "outlier-rejection rounds (each recalibrates without the rejected views)", 3
    )
    fix_k3: bool = doc(
        "fix the 6th-order radial coefficient k3 at 0 (fewer unknowns for narrow lenses)", False
    )
    max_iterations: int = doc(
        "Levenberg-Marquardt iterations of the intrinsics (OpenCV's default 30; a projector "
        "seen in a few board poses needs more: on ../shared/data/procam_graycode it stops at "
        "RMS 0.28 px after 30 and reaches its minimum, 0.206 px, by 200)",
        30,
    )
    stereo_fix_intrinsics: bool = doc(
        "stereo: keep each camera's intrinsics (CALIB_FIX_INTRINSIC)", True
    )


def _f32(views: list[Detection]):
    return (
        [d.object_points.astype(np.float32).reshape(-1, 1, 3) for d in views],
        [d.image_points.astype(np.float32).reshape(-1, 1, 2) for d in views],
    )


def _outliers(errors: dict[str, float], cfg: SolveConfig) -> dict[str, str]:
    med = float(np.median(list(errors.values())))
    limit = max(cfg.outlier_factor * med, cfg.outlier_floor_px)
    return {
        k: f"view RMS {e:.3f} px > {limit:.3f} px (= max({cfg.outlier_factor:g} × median {med:.3f}, "
        f"{cfg.outlier_floor_px:g}))"
        for k, e in errors.items()
        if e > limit
    }


def _suspects(errors: dict[str, float], cfg: SolveConfig, what: str) -> dict[str, str]:
    """Views that break the outlier rule but were kept (no rounds left, or too few views): warned."""
    sus = _outliers(errors, cfg)
    for n, why in sus.items():
        log.warning("%s: view %s kept although %s", what, n, why)
    return sus


@dataclasses.dataclass
class IntrinsicsResult:
    camera: CameraCalibration
    poses: dict[str, np.ndarray]  # view -> T_cam_board (4x4) of the kept views
    suspect: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # kept despite the outlier rule


def _pose(rvec, tvec) -> np.ndarray:
    import cv2

    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
    T[:3, 3] = np.asarray(tvec, np.float64).ravel()
    return T


def calibrate_intrinsics(
    views: dict[str, Detection],
    image_size: tuple[int, int],
    cfg: SolveConfig,
    camera: str = "camera",
) -> IntrinsicsResult:
    """Zhang's method (``cv2.calibrateCamera``, k1 k2 p1 p2 k3) with rejection of outlier views."""
    import cv2

    names = sorted(views)
    rejected: dict[str, str] = {}
    flags = cv2.CALIB_FIX_K3 if cfg.fix_k3 else 0
    for _round in range(cfg.max_rounds + 1):
        if len(names) < cfg.min_views:
            raise InputError(
                f"{camera}: only {len(names)} usable board views (need {cfg.min_views}); "
                f"rejected: {rejected or 'none'}"
            )
        obj, img = _f32([views[n] for n in names])
        rms, K, dist, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
            obj, img, tuple(image_size), None, None, flags=flags,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, cfg.max_iterations,
                      np.finfo(float).eps),
        )
        errors = {n: float(e) for n, e in zip(names, np.ravel(per_view))}
        bad = _outliers(errors, cfg) if _round < cfg.max_rounds else {}
        if not bad or len(names) - len(bad) < cfg.min_views:
            break
        for n, why in bad.items():
            log.warning("%s: rejecting view %s: %s", camera, n, why)
        rejected.update(bad)
        names = [n for n in names if n not in bad]
    suspect = _suspects(errors, cfg, camera)
    cam = CameraCalibration(
        K,
        np.ravel(dist)[:5].astype(np.float64),
        tuple(int(x) for x in image_size),
        float(rms),
        errors,
        rejected,
    )
    return IntrinsicsResult(cam, {n: _pose(r, t) for n, r, t in zip(names, rvecs, tvecs)}, suspect)


def common_points(d0: Detection, d1: Detection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object points and both cameras' image points of the board points seen in both views."""
    _, i0, i1 = np.intersect1d(d0.ids, d1.ids, return_indices=True)
    return d0.object_points[i0], d0.image_points[i0], d1.image_points[i1]


@dataclasses.dataclass
class StereoResult:
    stereo: StereoCalibration
    cam0: CameraCalibration
    cam1: CameraCalibration
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # kept view -> (obj, img0, img1)
    suspect: dict[str, str] = dataclasses.field(default_factory=dict)


def calibrate_stereo(
    views0: dict[str, Detection],
    views1: dict[str, Detection],
    cam0: CameraCalibration,
    cam1: CameraCalibration,
    cfg: SolveConfig,
) -> StereoResult:
    """``cv2.stereoCalibrate`` over the views found in both cameras, with outlier rejection.

    With ``stereo_fix_intrinsics`` (default, as OpenCV's stereo sample does) only R and T are
    estimated; otherwise the intrinsics are refined too, starting from the given ones.
    """
    import cv2

    pairs = {}
    for n in sorted(set(views0) & set(views1)):
        obj, a, b = common_points(views0[n], views1[n])
        if len(obj) >= 6:
            pairs[n] = (obj, a, b)
    names = sorted(pairs)
    rejected: dict[str, str] = {}
    flags = (
        cv2.CALIB_FIX_INTRINSIC
        if cfg.stereo_fix_intrinsics
        else (cv2.CALIB_USE_INTRINSIC_GUESS | (cv2.CALIB_FIX_K3 if cfg.fix_k3 else 0))
    )
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    for _round in range(cfg.max_rounds + 1):
        if len(names) < cfg.min_views:
            raise InputError(
                f"stereo: only {len(names)} board views usable in both cameras (need "
                f"{cfg.min_views}); views seen by cam0 only: {sorted(set(views0) - set(views1))}, "
                f"by cam1 only: {sorted(set(views1) - set(views0))}; rejected: {rejected or 'none'}"
            )
        obj = [pairs[n][0].astype(np.float32).reshape(-1, 1, 3) for n in names]
        i0 = [pairs[n][1].astype(np.float32).reshape(-1, 1, 2) for n in names]
        i1 = [pairs[n][2].astype(np.float32).reshape(-1, 1, 2) for n in names]
        out = cv2.stereoCalibrateExtended(
            obj,
            i0,
            i1,
            cam0.K.copy(),
            cam0.dist.copy(),
            cam1.K.copy(),
            cam1.dist.copy(),
            tuple(cam0.image_size),
            None,
            None,
            flags=flags,
            criteria=crit,
        )
        rms, K0, D0, K1, D1, R, T, E, F, _, _, per_view = out
        per_view = np.asarray(per_view).reshape(len(names), 2)
        errors = {n: float(np.sqrt((e**2).mean())) for n, e in zip(names, per_view)}
        bad = _outliers(errors, cfg) if _round < cfg.max_rounds else {}
        if not bad or len(names) - len(bad) < cfg.min_views:
            break
        for n, why in bad.items():
            log.warning("stereo: rejecting view %s: %s", n, why)
        rejected.update(bad)
        names = [n for n in names if n not in bad]
    c0 = (
        dataclasses.replace(cam0, K=K0, dist=np.ravel(D0)[:5])
        if not cfg.stereo_fix_intrinsics
        else cam0
    )
    c1 = (
        dataclasses.replace(cam1, K=K1, dist=np.ravel(D1)[:5])
        if not cfg.stereo_fix_intrinsics
        else cam1
    )
    F = F / F[2, 2] if abs(F[2, 2]) > 1e-300 else F
    st = StereoCalibration(R, np.ravel(T), E, F, float(rms), errors, rejected)
    return StereoResult(st, c0, c1, {n: pairs[n] for n in names}, _suspects(errors, cfg, "stereo"))


def undistort_pixels(cam: CameraCalibration, pts: np.ndarray, to_pixels: bool = True) -> np.ndarray:
    """Undistorted positions of (N, 2) pixels: ideal pixels (``to_pixels``) or normalised coordinates."""
    import cv2

    p = np.asarray(pts, np.float64).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
    out = cv2.undistortPointsIter(p, cam.K, cam.dist, None, cam.K if to_pixels else None, crit)
    return out.reshape(-1, 2)


def epipolar_distances(
    stereo: StereoCalibration,
    cam0: CameraCalibration,
    cam1: CameraCalibration,
    pts0: np.ndarray,
    pts1: np.ndarray,
) -> np.ndarray:
    """(N, 2): distance of each undistorted cam1 point to the epipolar line of its cam0 point and
    vice versa, pixels (OpenCV's stereo sample sums the two; its "average epipolar error")."""
    import cv2

    u0, u1 = undistort_pixels(cam0, pts0), undistort_pixels(cam1, pts1)
    l1 = cv2.computeCorrespondEpilines(u0.reshape(-1, 1, 2), 1, stereo.F).reshape(-1, 3)
    l0 = cv2.computeCorrespondEpilines(u1.reshape(-1, 1, 2), 2, stereo.F).reshape(-1, 3)
    d1 = np.abs((l1[:, :2] * u1).sum(1) + l1[:, 2])
    d0 = np.abs((l0[:, :2] * u0).sum(1) + l0[:, 2])
    return np.stack([d0, d1], axis=1)


def triangulate(
    stereo: StereoCalibration,
    cam0: CameraCalibration,
    cam1: CameraCalibration,
    pts0: np.ndarray,
    pts1: np.ndarray,
) -> np.ndarray:
    """(N, 3) points in the cam0 frame (mm) from matching distorted pixels of the two cameras."""
    import cv2

    n0, n1 = undistort_pixels(cam0, pts0, False), undistort_pixels(cam1, pts1, False)
    P0 = np.hstack([np.eye(3), np.zeros((3, 1))])
    P1 = np.hstack([stereo.R, stereo.T.reshape(3, 1)])
    X = cv2.triangulatePoints(P0, P1, n0.T.astype(np.float64), n1.T.astype(np.float64))
    return (X[:3] / X[3]).T


# ---------------------------------------------------------------------- turntable
def _axis_motion(d: np.ndarray, p: np.ndarray, angle_rad: float) -> np.ndarray:
    """4x4 rotation by ``angle_rad`` about the line through ``p`` along unit ``d`` (right-handed)."""
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec(d * angle_rad).as_matrix()
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p - R @ p
    return T


def _perp_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(d, a)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


@dataclasses.dataclass
class TurntableResult:
    turntable: TurntableCalibration
    T_world_cam0: np.ndarray
    per_view_mm: dict[str, float]
    rejected: dict[str, str] = dataclasses.field(default_factory=dict)
    suspect: dict[str, str] = dataclasses.field(default_factory=dict)


def _fit_turntable_once(
    views: dict[str, Detection],
    angles_deg: dict[str, float],
    cam0: CameraCalibration,
    board_thickness_mm: float,
    cfg: SolveConfig,
    x_hint_cam0: np.ndarray | None = None,
) -> TurntableResult:
    """Turntable axis and ``T_world_cam0`` from a board lying on the table at known angles.

    Model: the board corners ``Y`` of view k are ``A(d, p, θ_k − θ_0) · T_0 · Y`` in cam0, with
    ``A`` the rotation about the axis line (point ``p``, direction ``d``) and ``T_0`` the board's
    pose at the first view. Initial values: ``d`` the mean rotation axis of the relative motions
    ``T_k T_0⁻¹`` from per-view PnP, ``p`` the least-squares solution of ``(I − R_k) p = t_k``.
    Then ``scipy.optimize.least_squares`` on the reprojection error of all corners refines d, p and
    T_0 together (10 unknowns; ``p`` moves only across the axis, ``d`` keeps unit length).

    World frame (DESIGN §2): +z = ``d`` (up: the table turns counter-clockwise seen from above for a
    positive angle), origin where the axis meets the table surface (the board plane at view 0,
    ``board_thickness_mm`` lower), +x along ``x_hint_cam0`` projected onto the table plane — the
    stereo baseline from cam0 to cam1 when there is a pair, else cam0's x axis — so the world is
    fixed by the cameras, not by where the board happened to lie; y = z × x (away from the cameras).
    Residual reported: RMS distance (mm) between the model corners and the per-view PnP corners,
    and the RMS reprojection error (px).
    """
    import cv2
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    names = [n for n in sorted(views) if n in angles_deg]
    missing = sorted(set(views) - set(angles_deg))
    if missing:
        raise InputError(f"turntable: no table angle given for views {missing}")
    if len(names) < max(3, cfg.min_views - 1):
        raise InputError(
            f"turntable: only {len(names)} views with the board found (need {max(3, cfg.min_views - 1)})"
        )
    theta = np.deg2rad(np.array([angles_deg[n] for n in names]))
    dth = theta - theta[0]
    turned = np.abs(np.mod(dth + np.pi, 2 * np.pi) - np.pi)  # angle from view 0, wrapped to [0, π]
    if turned.max() < np.deg2rad(10):
        raise InputError(
            "turntable: the table angles span less than 10°; the axis is not observable"
        )
    poses = []
    for n in names:
        d = views[n]
        ok, r, t = cv2.solvePnP(
            d.object_points, d.image_points, cam0.K, cam0.dist, flags=cv2.SOLVEPNP_ITERATIVE
        )
        if not ok:
            raise InputError(f"turntable: board pose of view {n} could not be solved")
        poses.append(_pose(r, t))
    T0 = poses[0]
    # initial axis
    dirs, rows, rhs = [], [], []
    for k in range(1, len(names)):
        M = poses[k] @ np.linalg.inv(T0)
        rv = Rotation.from_matrix(M[:3, :3]).as_rotvec()
        ang = np.linalg.norm(rv)
        if ang > np.deg2rad(2):
            dirs.append(
                rv
                / ang
                * np.sign(np.sin(dth[k]) if abs(np.sin(dth[k])) > 1e-6 else 1.0)
                * abs(np.sin(ang))
            )
        rows.append(np.eye(3) - M[:3, :3])
        rhs.append(M[:3, 3])
    d0 = np.sum(dirs, axis=0)
    d0 /= np.linalg.norm(d0)
    p0 = np.linalg.lstsq(np.vstack(rows), np.hstack(rhs), rcond=None)[0]
    p0 = p0 - (p0 @ d0) * d0
    e1, e2 = _perp_basis(d0)
    rv0, _ = cv2.Rodrigues(T0[:3, :3])
    x0 = np.r_[0.0, 0.0, 0.0, 0.0, rv0.ravel(), T0[:3, 3]]

    def unpack(x):
        d = d0 + x[0] * e1 + x[1] * e2
        d /= np.linalg.norm(d)
        p = p0 + x[2] * e1 + x[3] * e2
        return d, p, _pose(x[4:7], x[7:10])

    def residuals(x):
        d, p, Tb = unpack(x)
        res = []
        for k, n in enumerate(names):
            T = _axis_motion(d, p, dth[k]) @ Tb
            rvec, _ = cv2.Rodrigues(T[:3, :3])
            uv, _ = cv2.projectPoints(
                views[n].object_points.reshape(-1, 1, 3), rvec, T[:3, 3], cam0.K, cam0.dist
            )
            res.append((uv.reshape(-1, 2) - views[n].image_points).ravel())
        return np.concatenate(res)

    sol = least_squares(residuals, x0, method="lm", x_scale="jac")
    d, p, Tb = unpack(sol.x)
    r = sol.fun.reshape(-1, 2)
    counts = np.cumsum([0] + [len(views[n]) for n in names])
    per_view_px = {
        n: float(np.sqrt((r[counts[k] : counts[k + 1]] ** 2).sum(1).mean()))
        for k, n in enumerate(names)
    }
    per_view_mm = {}
    for k, n in enumerate(names):
        Y = np.c_[views[n].object_points, np.ones(len(views[n]))]
        model = (_axis_motion(d, p, dth[k]) @ Tb @ Y.T)[:3].T
        pnp = (poses[k] @ Y.T)[:3].T
        per_view_mm[n] = float(np.sqrt(((model - pnp) ** 2).sum(1).mean()))
    # world frame
    nrm, c = Tb[:3, 2], Tb[:3, 3]
    s = nrm @ (c - p) / (nrm @ d)
    origin = p + s * d - board_thickness_mm * d
    x = np.asarray(x_hint_cam0, np.float64) if x_hint_cam0 is not None else np.array([1.0, 0, 0])
    x = x - (x @ d) * d
    x /= np.linalg.norm(x)
    y = np.cross(d, x)
    T_cam0_world = np.eye(4)
    T_cam0_world[:3, :3] = np.column_stack([x, y, d])
    T_cam0_world[:3, 3] = origin
    rms_mm = float(np.sqrt(np.mean(np.square(list(per_view_mm.values())))))
    tt = TurntableCalibration(
        origin,
        d,
        rms_mm,
        [float(angles_deg[n]) for n in names],
        float(np.sqrt((r**2).sum(1).mean())),
        per_view_px,
    )
    return TurntableResult(tt, np.linalg.inv(T_cam0_world), per_view_mm)


def fit_turntable_axis(
    views: dict[str, Detection],
    angles_deg: dict[str, float],
    cam0: CameraCalibration,
    board_thickness_mm: float,
    cfg: SolveConfig,
    x_hint_cam0: np.ndarray | None = None,
) -> TurntableResult:
    """:func:`_fit_turntable_once`, repeated without views whose reprojection RMS breaks the
    outlier rule (``SolveConfig.outlier_factor``); rejected views are logged and returned."""
    views = dict(views)
    rejected: dict[str, str] = {}
    for _round in range(cfg.max_rounds + 1):
        res = _fit_turntable_once(views, angles_deg, cam0, board_thickness_mm, cfg, x_hint_cam0)
        bad = _outliers(res.turntable.per_view_rms_px, cfg) if _round < cfg.max_rounds else {}
        if not bad or len(views) - len(bad) < 3:
            break
        for n, why in bad.items():
            log.warning("turntable: rejecting view %s: %s", n, why)
            views.pop(n)
        rejected.update(bad)
    res.rejected = rejected
    res.suspect = _suspects(res.turntable.per_view_rms_px, cfg, "turntable")
    return res
