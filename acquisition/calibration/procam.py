"""Camera–projector calibration from Gray-code captures of a board (``scan2ad calibrate procam``).

Method: Moreno & Taubin, "Simple, Accurate, and Robust Projector-Camera Calibration" (3DIMPVT
2012). For every pose of a printed board:

1. the board corners are found in the all-white frame (Zhang's camera calibration uses them);
2. the Gray code is decoded into a projector column and row per camera pixel;
3. around each corner a *local homography* from the camera pixels of a small patch to their
   decoded projector coordinates is fitted and applied to the sub-pixel corner: the corner's
   projector coordinate, sub-pixel although the code is integer (the paper's §3.2; the board is
   locally planar, so a homography is the exact local map up to lens distortion);
4. the projector is calibrated as an inverse camera (Zhang again, on those projector corners),
   then the camera–projector extrinsics with both intrinsics fixed (``cv2.stereoCalibrate``,
   the paper's §3.3).

Choices where the paper is silent: the patch is ``2r + 1`` camera pixels square with
``r = ceil(width / 180)`` (17 px on a 1280-pixel camera, what the upstream "procam-calibration"
script uses); a corner whose patch is less than ``min_decoded_fraction`` decoded is left out of the
projector calibration (and of the extrinsics), with its reason reported. The projector's
Levenberg–Marquardt runs to convergence (``SolveConfig.max_iterations``): with OpenCV's default
30 iterations it stops early on four poses (RMS 0.28 px instead of 0.206 px on the real captures
in ``../shared/data/procam_graycode``); the upstream script's 0.234 px is such an unconverged
result, reached from another starting principal point.

Input layouts (:func:`find_captures`): ``DIR/capture_*/graycode_NN.png`` in OpenCV
``GrayCodePattern`` order (see :func:`scan2ad.acquisition.decode.read_capture`), or a capture
session whose views show the board (``DIR/session.json``, ``DIR/view_NNN/cam0/NN.png``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from scan2ad.acquisition.calibration.boards import BoardSpec, Detection, detect_board
from scan2ad.acquisition.calibration.model import (
    Calibration,
    ProjectorCalibration,
)
from scan2ad.acquisition.calibration.solve import (
    SolveConfig,
    calibrate_intrinsics,
    calibrate_stereo,
    epipolar_distances,
)
from scan2ad.acquisition.decode import Capture, DecodeConfig, DecodedMap, read_capture
from scan2ad.config import doc
from scan2ad.errors import InputError
from scan2ad.log import get_logger, progress
from scan2ad.render import save_figure

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcamConfig:
    """Settings of the projector-corner step."""

    patch_radius_px: int = doc(
        "half side r of the square camera patch (2r+1 px) around each corner whose decoded "
        "pixels fit the local homography; 0: ceil(image width / 180)",
        0,
    )
    min_decoded_fraction: float = doc(
        "a corner whose patch has fewer decoded pixels than this fraction is left out of the "
        "projector calibration",
        0.25,
    )

    def __post_init__(self):
        if not isinstance(self.patch_radius_px, int) or self.patch_radius_px < 0:
            raise InputError(f"patch_radius_px must be an integer >= 0, got {self.patch_radius_px!r}")
        if not (0.0 < float(self.min_decoded_fraction) <= 1.0):
            raise InputError(
                f"min_decoded_fraction must be in (0, 1], got {self.min_decoded_fraction!r}"
            )

    def radius(self, image_width: int) -> int:
        return self.patch_radius_px or math.ceil(image_width / 180)


def find_captures(
    images: str | Path, projector: tuple[int, int] | None
) -> dict[str, Capture]:
    """The board captures under ``images``, keyed by name (``capture_0`` …, or ``view_000`` …)."""
    images = Path(images)
    if not images.is_dir():
        raise InputError("capture folder not found", images)
    if (images / "session.json").is_file():
        from scan2ad.acquisition.session import open_session

        session = open_session(images)
        views = session.completed()
        if not views:
            raise InputError("the session has no complete view", images)
        return {
            session.view_dir(i).name: read_capture(session.view_dir(i), projector, "cam0")
            for i in views
        }
    folders = sorted(p for p in images.glob("capture_*") if p.is_dir())
    if not folders:
        raise InputError(
            "no capture_*/ folders (OpenCV-order Gray-code captures) and no session.json here",
            images,
        )
    return {p.name: read_capture(p, projector) for p in folders}


def projector_corners(
    decoded: DecodedMap, corners: np.ndarray, radius: int, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Projector coordinates of camera ``corners`` (N, 2) by local homographies (Moreno &
    Taubin 2012, §3.2). Returns (indices of the corners found, their (M, 2) projector
    coordinates, {index: why skipped})."""
    import cv2

    H, W = decoded.shape
    side = 2 * radius + 1
    need = max(8, math.ceil(min_fraction * side * side))
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    kept, out, skipped = [], [], {}
    for i, (x, y) in enumerate(np.asarray(corners, float)):
        cx, cy = int(np.rint(x)), int(np.rint(y))
        if cx - radius < 0 or cy - radius < 0 or cx + radius >= W or cy + radius >= H:
            skipped[i] = "patch leaves the image"
            continue
        ys, xs = cy + dy, cx + dx
        ok = decoded.valid[ys, xs]
        n = int(ok.sum())
        if n < need:
            skipped[i] = f"{n} of {side * side} patch pixels decoded (need {need})"
            continue
        src = np.stack([xs[ok], ys[ok]], 1).astype(np.float64)
        dst = np.stack([decoded.col[ys, xs][ok], decoded.row[ys, xs][ok]], 1).astype(np.float64)
        Hm, _ = cv2.findHomography(src, dst, 0)
        if Hm is None or not np.isfinite(Hm).all():
            skipped[i] = "the local homography is degenerate"
            continue
        p = Hm @ np.array([x, y, 1.0])
        if abs(p[2]) < 1e-12:
            skipped[i] = "the local homography maps the corner to infinity"
            continue
        kept.append(i)
        out.append(p[:2] / p[2])
    return np.asarray(kept, int), np.asarray(out, float).reshape(-1, 2), skipped


@dataclasses.dataclass
class ProcamRun:
    """What ``calibrate procam`` produced: the calibration plus what its report draws."""

    calibration: Calibration
    camera_views: dict[str, Detection]
    projector_views: dict[str, Detection]
    camera_size: tuple[int, int]
    projector_size: tuple[int, int]
    skipped_corners: dict[str, dict[int, str]]
    epipolar_px: np.ndarray  # (N, 2) camera / projector distance to the other's epipolar line


# defaults of calibrate_procam (frozen configs: one shared instance each)
_SOLVE = SolveConfig(max_iterations=200)
_DECODE = DecodeConfig()


def calibrate_procam(
    captures: dict[str, Capture],
    board: BoardSpec,
    solve: SolveConfig = _SOLVE,
    config: ProcamConfig = ProcamConfig(),
    decode: DecodeConfig = _DECODE,
    rig: str = "",
) -> ProcamRun:
    """Camera intrinsics, projector intrinsics and their extrinsics from board captures."""
    if not captures:
        raise InputError("no captures given")
    sizes = {name: (c.white.shape[1], c.white.shape[0]) for name, c in captures.items()}
    cam_size = max(set(sizes.values()), key=list(sizes.values()).count)
    odd = [n for n, s in sizes.items() if s != cam_size]
    if odd:
        raise InputError(
            f"captures differ in camera image size: most are {cam_size[0]}x{cam_size[1]}, "
            + ", ".join(f"{n} is {sizes[n][0]}x{sizes[n][1]}" for n in odd)
        )
    projs = {(c.pattern_set.width, c.pattern_set.height) for c in captures.values()}
    if len(projs) != 1:
        raise InputError(f"captures were made with different projector resolutions: {sorted(projs)}")
    proj_size = projs.pop()
    kinds = {tuple(c.pattern_set.directions) for c in captures.values()}
    if kinds != {("columns", "rows")}:
        raise InputError("projector calibration needs both column and row codes in every capture")
    radius = config.radius(cam_size[0])
    cam_views: dict[str, Detection] = {}
    proj_views: dict[str, Detection] = {}
    skipped: dict[str, dict[int, str]] = {}
    not_found = []
    for name, cap in progress(sorted(captures.items()), desc="projector corners", total=len(captures)):
        det = detect_board(cap.white, board)
        if det is None:
            not_found.append(name)
            log.warning("%s: board %s not found in the white frame", cap.source, board.name)
            continue
        dm = cap.decode(decode)
        idx, pc, why = projector_corners(dm, det.image_points, radius, config.min_decoded_fraction)
        skipped[name] = why
        for i, reason in why.items():
            log.warning("%s: corner %d left out of the projector calibration: %s", name, i, reason)
        cam_views[name] = det
        if len(idx) >= 6:
            proj_views[name] = Detection(pc, det.object_points[idx], det.ids[idx])
        else:
            log.warning("%s: only %d projector corners, the pose is not used for the projector", name, len(idx))
    if len(cam_views) < solve.min_views:
        raise InputError(
            f"board {board.name} ({board.describe()}) found in the white frame of {len(cam_views)} "
            f"of {len(captures)} captures (need {solve.min_views}); not found in: "
            f"{', '.join(not_found) or 'none'}"
        )
    if len(proj_views) < solve.min_views:
        raise InputError(
            f"only {len(proj_views)} captures give >= 6 projector corners (need {solve.min_views}): "
            "is the board lit by the projector, and do --projector and the frames agree?"
        )
    cam = calibrate_intrinsics(cam_views, cam_size, solve, "camera").camera
    proj = calibrate_intrinsics(proj_views, proj_size, solve, "projector").camera
    sres = calibrate_stereo(cam_views, proj_views, cam, proj, solve)
    st = sres.stereo
    if not solve.stereo_fix_intrinsics:  # refined jointly with the extrinsics
        cam = dataclasses.replace(cam, K=sres.cam0.K, dist=sres.cam0.dist)
        proj = dataclasses.replace(proj, K=sres.cam1.K, dist=sres.cam1.dist)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = st.R, st.T
    epi = np.vstack(
        [epipolar_distances(st, cam, proj, a, b) for _, a, b in sres.pairs.values()]
    )
    projector = ProjectorCalibration(
        proj.K, proj.dist, proj_size, T, proj.rms_px, st.rms_px, proj.per_view_rms_px,
        proj.rejected_views, source="images",
    )
    per_view = {
        "cam0": {"rms_px": cam.per_view_rms_px, "rejected": cam.rejected_views,
                 "not_found": not_found},
        "projector": {
            "rms_px": proj.per_view_rms_px,
            "rejected": proj.rejected_views,
            "corners_used": {n: len(d) for n, d in proj_views.items()},
            "corners_skipped": {n: {str(i): w for i, w in s.items()} for n, s in skipped.items()},
            "patch_px": 2 * radius + 1,
        },
        "procam_stereo": {"rms_px": st.per_view_rms_px, "rejected": st.rejected_views,
                          "suspect": sres.suspect},
        "procam_epipolar": {
            "mean_px": float(epi.mean()),
            "median_px": float(np.median(epi)),
            "p95_px": float(np.percentile(epi, 95)),
            "max_px": float(epi.max()),
            "points": len(epi),
        },
    }
    calib = Calibration(
        {"cam0": cam},
        None,
        None,
        np.eye(4),
        rig=rig,
        board=board.to_dict(),
        projector=projector.to_dict(),
        per_view_errors=per_view,
        source="images",
    )
    return ProcamRun(calib, cam_views, proj_views, cam_size, proj_size, skipped, epi)


def write_procam_report(run: ProcamRun, path: str | Path) -> Path:
    """The report PNG: per-view RMS of camera, projector and extrinsics; corner coverage of the
    camera and projector images; the epipolar distances of the corner pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    cal = run.calibration
    cam = cal.cameras["cam0"]
    proj = cal.projector_model()
    pv = cal.per_view_errors
    fig, axes = plt.subplots(2, 3, figsize=(14, 8.4))
    bars = [
        ("camera", cam.per_view_rms_px, cam.rejected_views, cam.rms_px),
        ("projector", proj.per_view_rms_px, proj.rejected_views, proj.rms_px),
        ("camera–projector", pv["procam_stereo"]["rms_px"], pv["procam_stereo"]["rejected"],
         proj.stereo_rms_px),
    ]
    for ax, (title, errors, rejected, rms) in zip(axes[0], bars):
        names = sorted(set(errors) | set(rejected))
        ax.bar(range(len(names)), [errors.get(n, np.nan) for n in names],
               color=["tab:red" if n in rejected else "tab:blue" for n in names])
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_ylabel("view RMS reprojection error, px")
        ax.set_title(f"{title}: RMS {rms:.3f} px, {len(rejected)} rejected (red)", fontsize=9)
    for ax, views, size, title in (
        (axes[1][0], run.camera_views, run.camera_size, "camera corners"),
        (axes[1][1], run.projector_views, run.projector_size, "projector corners (local homographies)"),
    ):
        for n, d in sorted(views.items()):
            ax.scatter(d.image_points[:, 0], d.image_points[:, 1], s=4, label=n)
        ax.set_xlim(0, size[0])
        ax.set_ylim(size[1], 0)
        ax.set_aspect("equal")
        ax.legend(fontsize=6, loc="upper right")
        ax.set_title(f"{title}, {size[0]}x{size[1]}", fontsize=9)
    e = run.epipolar_px.ravel()
    axes[1][2].hist(e, bins=40, color="tab:green")
    axes[1][2].set_xlabel("distance to the epipolar line, px (undistorted)")
    axes[1][2].set_title(
        f"epipolar error: mean {e.mean():.3f}, 95% {np.percentile(e, 95):.3f} px", fontsize=9
    )
    fig.suptitle(
        f"camera–projector calibration — board {cal.board.get('name', '')}, "
        f"{len(run.camera_views)} poses", fontsize=11,
    )
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
