"""From a folder of board images to ``calibration.json`` (what ``scan2ad calibrate`` runs).

Image folder layout (the virtual rig writes it, :mod:`virtual_boards`; a real rig's capture
script too)::

    DIR/cam0/NAME.png, DIR/cam1/NAME.png     the board at one pose seen by both cameras
                                             (same NAME = same instant; any image format OpenCV reads)
    DIR/turntable/cam0/NAME.png              board lying on the table, one image per table angle
    DIR/turntable/angles.json                {"angles_deg": {"NAME": angle, ...}}

Other layouts are read with globs whose first ``*`` is the view name, e.g. OpenCV's sample
``--cam0 'left*.jpg' --cam1 'right*.jpg'`` pairs ``left01.jpg`` with ``right01.jpg`` as view ``01``.

Every input problem is an :class:`InputError` that names the images concerned; the output is
written (atomically) only after everything succeeded.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from pathlib import Path

import numpy as np

from scan2ad.acquisition.calibration.boards import BoardSpec, Detection, detect_board
from scan2ad.acquisition.calibration.model import Calibration
from scan2ad.acquisition.calibration.solve import (
    SolveConfig,
    calibrate_intrinsics,
    calibrate_stereo,
    epipolar_distances,
    fit_turntable_axis,
)
from scan2ad.errors import FormatError, InputError
from scan2ad.log import get_logger, progress

log = get_logger(__name__)

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"}
DEFAULT_GLOBS = {"cam0": "cam0/*", "cam1": "cam1/*", "turntable": "turntable/cam0/*"}


def find_views(root: Path, pattern: str) -> dict[str, Path]:
    """Images under ``root`` matching ``pattern`` (relative, ``/``-separated glob), keyed by view
    name: the text the first ``*`` matched, without the file extension."""
    root = Path(root)
    rx = re.compile(fnmatch.translate(pattern).replace(".*", "(.*)", 1))
    # only walk the fixed folder part of the pattern (e.g. "turntable/cam0")
    fixed = pattern.split("*", 1)[0].rsplit("/", 1)[0] if "/" in pattern.split("*", 1)[0] else ""
    base = root / fixed
    if not base.is_dir():
        return {}
    out: dict[str, Path] = {}
    for p in sorted(base.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in IMAGE_EXTS:
            continue
        m = rx.match(p.relative_to(root).as_posix())
        if not m:
            continue
        name = m.group(1) if m.groups() else p.stem
        name = re.sub(r"\.[A-Za-z0-9]+$", "", name) or p.stem
        if name in out:
            raise InputError(
                f"two images give view name {name!r}: {out[name].name} and {p.name}", root
            )
        out[name] = p
    return out


@dataclasses.dataclass
class CameraViews:
    """The board detections of one camera's images."""

    name: str
    paths: dict[str, Path]
    detections: dict[str, Detection]
    image_size: tuple[int, int]
    not_found: list[str]


def read_gray(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FormatError("not an image OpenCV can read", path)
    return img


def detect_views(
    camera: str, paths: dict[str, Path], board: BoardSpec, min_views: int
) -> CameraViews:
    """Detect ``board`` in every image; fail clearly on size mismatches or too few detections."""
    if not paths:
        raise InputError(f"{camera}: no images found")
    sizes: dict[tuple[int, int], list[str]] = {}
    dets: dict[str, Detection] = {}
    for name, p in progress(
        sorted(paths.items()), desc=f"detect board ({camera})", total=len(paths)
    ):
        img = read_gray(p)
        sizes.setdefault((img.shape[1], img.shape[0]), []).append(p.name)
        d = detect_board(img, board)
        if d is not None:
            dets[name] = d
    if len(sizes) > 1:
        common = max(sizes, key=lambda s: len(sizes[s]))
        odd = {f"{w}x{h}": v for (w, h), v in sizes.items() if (w, h) != common}
        raise InputError(
            f"{camera}: images differ in size: most are {common[0]}x{common[1]}, but "
            + "; ".join(f"{', '.join(v)} {k}" for k, v in odd.items()),
            next(iter(paths.values())).parent,
        )
    size = next(iter(sizes))
    missing = sorted(set(paths) - set(dets))
    if len(dets) < min_views:
        where = next(iter(paths.values())).parent
        hint = " — does the board file match these images?" if not dets else ""
        raise InputError(
            f"{camera}: board {board.name} ({board.describe()}) found in {len(dets)} of {len(paths)} images "
            f"(need {min_views}){hint}; not found in: {', '.join(paths[n].name for n in missing)}",
            where,
        )
    if missing:
        log.warning(
            "%s: board not found in %d of %d images: %s",
            camera,
            len(missing),
            len(paths),
            ", ".join(paths[n].name for n in missing),
        )
    return CameraViews(camera, paths, dets, size, missing)


def read_angles(images: Path, turntable_glob: str) -> dict[str, float]:
    from scan2ad.io import read_json

    base = images / Path(turntable_glob).parent
    for cand in (base / "angles.json", base.parent / "angles.json"):
        if cand.is_file():
            doc = read_json(cand, supported=None)  # may come from a capture script, not scan2ad
            try:
                return {str(k): float(v) for k, v in doc["angles_deg"].items()}
            except (KeyError, TypeError, ValueError, AttributeError):
                raise FormatError('expected {"angles_deg": {"VIEW": degrees, ...}}', cand) from None
    raise InputError(
        "turntable images need angles.json (the table angle of each view) beside them", base
    )


@dataclasses.dataclass
class CalibrationRun:
    """Everything a calibration produced: the contract object plus what the report draws."""

    calibration: Calibration
    views: dict[str, CameraViews]
    epipolar_px: np.ndarray | None = None  # (N, 2) per stereo corner
    turntable_views: CameraViews | None = None


def _epipolar_summary(e: np.ndarray) -> dict:
    s = e.sum(1)
    return {
        "mean_sum_px": float(s.mean()),
        "mean_px": float(e.mean()),
        "median_px": float(np.median(e)),
        "p95_px": float(np.percentile(e, 95)),
        "max_px": float(e.max()),
        "points": len(e),
    }


def calibrate_images(
    images: str | Path,
    board: BoardSpec,
    what: str = "all",
    solve: SolveConfig | None = None,
    globs: dict[str, str] | None = None,
    base: Calibration | None = None,
    rig: str = "",
) -> CalibrationRun:
    """Calibrate from an image folder. ``what``: ``cameras`` (intrinsics of every camera folder
    present), ``stereo`` (intrinsics unless ``base`` gives them, then the pair), ``turntable``
    (needs ``base`` with cam0 — and keeps its stereo), or ``all``."""
    images = Path(images)
    solve = solve or SolveConfig()
    if not images.is_dir():
        raise InputError("image folder not found", images)
    globs = {**DEFAULT_GLOBS, **(globs or {})}
    if what not in ("cameras", "stereo", "turntable", "all"):
        raise ValueError(f"unknown calibration step {what!r}")
    from scan2ad.acquisition.calibration.model import CameraCalibration

    cams: dict[str, CameraCalibration] = dict(base.cameras) if base else {}
    stereo = base.stereo if base else None
    views: dict[str, CameraViews] = {}
    per_view: dict = dict(base.per_view_errors) if base else {}
    epi = None
    need_cams = what in ("cameras", "all") or (
        what == "stereo" and not (base and {"cam0", "cam1"} <= set(cams))
    )
    cam_names = ["cam0", "cam1"]
    if what != "turntable":
        for cam in cam_names:
            paths = find_views(images, globs[cam])
            if not paths and what == "cameras" and cam == "cam1":
                continue
            if not paths:
                raise InputError(f"{cam}: no images match {globs[cam]!r}", images)
            views[cam] = detect_views(cam, paths, board, solve.min_views)
            if need_cams:
                res = calibrate_intrinsics(views[cam].detections, views[cam].image_size, solve, cam)
                cams[cam] = res.camera
                per_view[cam] = {
                    "rms_px": res.camera.per_view_rms_px,
                    "rejected": res.camera.rejected_views,
                    "suspect": res.suspect,
                    "not_found": views[cam].not_found,
                }
            elif cams[cam].image_size != views[cam].image_size:
                raise InputError(
                    f"{cam}: images are {views[cam].image_size[0]}x{views[cam].image_size[1]} but the "
                    f"given intrinsics are for {cams[cam].image_size[0]}x{cams[cam].image_size[1]}",
                    images,
                )
    if what in ("stereo", "all"):
        sres = calibrate_stereo(
            views["cam0"].detections, views["cam1"].detections, cams["cam0"], cams["cam1"], solve
        )
        stereo, cams["cam0"], cams["cam1"] = sres.stereo, sres.cam0, sres.cam1
        epi = np.vstack(
            [
                epipolar_distances(stereo, cams["cam0"], cams["cam1"], a, b)
                for _, a, b in sres.pairs.values()
            ]
        )
        per_view["stereo"] = {
            "rms_px": stereo.per_view_rms_px,
            "rejected": stereo.rejected_views,
            "suspect": sres.suspect,
        }
        per_view["epipolar"] = _epipolar_summary(epi)
    tt = None
    T_world_cam0 = base.T_world_cam0 if base is not None else np.eye(4)
    tviews = None
    if what in ("turntable", "all"):
        if "cam0" not in cams:
            raise InputError(
                "turntable calibration needs cam0's intrinsics: run `calibrate cameras` first "
                "and pass its output with --calibration",
                images,
            )
        paths = find_views(images, globs["turntable"])
        if not paths:
            raise InputError(f"turntable: no images match {globs['turntable']!r}", images)
        angles = read_angles(images, globs["turntable"])
        unknown = sorted(set(paths) - set(angles))
        if unknown:
            raise InputError(
                f"turntable: angles.json gives no angle for {', '.join(paths[n].name for n in unknown)}",
                images / Path(globs["turntable"]).parent,
            )
        tviews = detect_views("turntable/cam0", paths, board, max(3, solve.min_views - 1))
        if tviews.image_size != tuple(cams["cam0"].image_size):
            raise InputError(
                f"turntable images are {tviews.image_size[0]}x{tviews.image_size[1]}, cam0's "
                f"calibration images {cams['cam0'].image_size[0]}x{cams['cam0'].image_size[1]}",
                images / Path(globs["turntable"]).parent,
            )
        hint = (
            None if stereo is None else -stereo.R.T @ stereo.T
        )  # cam1's centre in cam0: the baseline
        tres = fit_turntable_axis(
            tviews.detections, angles, cams["cam0"], board.thickness_mm, solve, hint
        )
        tt, T_world_cam0 = tres.turntable, tres.T_world_cam0
        per_view["turntable"] = {
            "rms_px": tt.per_view_rms_px,
            "residual_mm": tres.per_view_mm,
            "rejected": tres.rejected,
            "suspect": tres.suspect,
            "not_found": tviews.not_found,
        }
    elif base is not None:
        tt = base.turntable
    calib = Calibration(
        cams,
        stereo,
        tt,
        T_world_cam0,
        rig=rig or (base.rig if base else ""),
        board=board.to_dict(),
        projector=dict(base.projector) if base else {},
        per_view_errors=per_view,
        source="images",
    )
    return CalibrationRun(calib, views, epi, tviews)
