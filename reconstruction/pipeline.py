"""The reconstruction stage driver: decoded views -> per-view clouds -> registration -> fused,
clean and resampled cloud -> Poisson mesh, with the artefacts and reports of DESIGN §3:

    <recon>/views/view_NNN.ply            points (mm, cam0 frame), normals, confidence; the
                                          turntable surface already cropped
    <recon>/registration.json             per view T_world_view; per pair method, fitness, RMSE, ...
    <recon>/fused.ply, clean.ply, part.ply  each with a .json report (points in/out, parameters)
    <recon>/mesh.ply (+ .json)            Poisson surface for carving
    <recon>/report.png                    views coloured by source, registration residuals
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from scan2ad.config import config_to_dict, doc
from scan2ad.errors import InputError, Scan2adError
from scan2ad.io import atomic_path, write_json
from scan2ad.log import get_logger, progress
from scan2ad.pointcloud import PointCloud, write_cloud
from scan2ad.reconstruction.cleanup import (
    CleanupConfig,
    denoise,
    drop_off_surface,
    octree_resample,
    poisson_mesh,
    replaced,
)
from scan2ad.reconstruction.procam import ProcamTriangulateConfig, triangulate_procam
from scan2ad.reconstruction.registration.markers import session_view_markers
from scan2ad.reconstruction.registration.multiview import (
    MultiviewConfig,
    register_views,
    turntable_prior,
)
from scan2ad.reconstruction.triangulate import (
    TriangulateConfig,
    rectification,
    triangulate_view,
    uses_projector,
)
from scan2ad.render import save_figure

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class ReconstructConfig:
    triangulate: TriangulateConfig = doc(
        "stereo back-projection", default_factory=TriangulateConfig
    )
    procam: ProcamTriangulateConfig = doc(
        "camera–projector triangulation (a one-camera rig: its calibration has no stereo pair, "
        "and a projector)",
        default_factory=ProcamTriangulateConfig,
    )
    multiview: MultiviewConfig = doc(
        "multi-view registration (turntable prior, pairwise FRICP, loop closure, markers)",
        default_factory=MultiviewConfig,
    )
    cleanup: CleanupConfig = doc("denoising, resampling, meshing", default_factory=CleanupConfig)
    table_margin_mm: float = doc(
        "points below this height above the turntable (world z) are the table: dropped", 0.5
    )
    table_noise_factor: float = doc(
        "the crop margin grows to this × the view's depth noise on the table (robust std of "
        "world z from the points up to 3 mm below the table surface) where that is larger than "
        "table_margin_mm (0: fixed margin). The dark table measures with 0.14 mm of noise "
        "(robust std, heavy-tailed) through virtual_small_procam's 400x320 camera and 55 mm "
        "baseline, and a fixed 0.5 mm margin let it into the part cloud (lock_nut, one view: "
        "563 points over 1 mm off the part; 4x: 563, 6x: 41, 8x: 3); virtual_small's two "
        "cameras measure it with 0.065 mm (8x: 0.52 mm), the full-size rigs' smaller pixels less",
        8.0,
    )
    max_radius_mm: float = doc(
        "points farther than this from the turntable axis are dropped (0: no limit)", 0.0
    )
    min_view_points: int = doc("a view with fewer triangulated points fails the stage", 500)
    grazing_deg: float = doc(
        "a fused point seen at more than this incidence (extra['incidence']) is kept only "
        "where no point of any view seen below it lies within grazing_radius_mm: the surface "
        "is then measured better elsewhere (90: keep all). The hard limit is the "
        "triangulation's max_incidence_deg",
        70.0,
    )
    grazing_radius_mm: float = doc(
        "see grazing_deg (about three pixel footprints at the rig's 300 mm)", 0.25
    )
    mesh: bool = doc("build the Poisson mesh", True)


def _transform(cloud: PointCloud, T: np.ndarray) -> PointCloud:
    pts = cloud.points @ T[:3, :3].T + T[:3, 3]
    nrm = None if cloud.normals is None else cloud.normals @ T[:3, :3].T
    return PointCloud(pts, nrm, cloud.colors, cloud.labels, dict(cloud.extra))


def _crop_table(
    cloud: PointCloud, T_world_view: np.ndarray, config: ReconstructConfig
) -> PointCloud:
    """Drop the turntable surface (world z below the margin) and, optionally, far points, using
    the turntable prior of the view (DESIGN §2: world z = 0 is the table surface)."""
    w = cloud.points @ T_world_view[:3, :3].T + T_world_view[:3, 3]
    margin = config.table_margin_mm
    # the table's noise from the points measured *below* its surface: nothing of the part is
    # there, and the half of a symmetric noise below zero gives its spread (median |z| of a
    # half-normal is 0.674 sigma)
    below = (w[:, 2] < 0.0) & (w[:, 2] > -3.0)
    if config.table_noise_factor > 0 and below.sum() >= 100:
        sigma = 1.4826 * float(np.median(-w[below, 2]))
        margin = max(margin, config.table_noise_factor * sigma)
    keep = w[:, 2] > margin
    if config.max_radius_mm > 0:
        keep &= np.hypot(w[:, 0], w[:, 1]) < config.max_radius_mm
    return cloud.subset(keep)


def drop_redundant_grazing(
    cloud: PointCloud, grazing_deg: float, radius_mm: float
) -> tuple[PointCloud, int]:
    """Drop the points seen at more than ``grazing_deg`` (``extra["incidence"]``) that have a
    point seen below it within ``radius_mm``: of two measurements of one surface the grazing
    one is the less accurate (lock_nut, one view: 2-10x the error above 70°), but where the
    grazing one is all there is (thread flanks, a nail's cone seen at 70-80° from every view:
    threaded_nail lost 5% of its visible area to a hard 70° limit) it stays. Returns the
    cloud and the number dropped."""
    if grazing_deg >= 90 or "incidence" not in cloud.extra:
        return cloud, 0
    drop = replaced(cloud.points, cloud.extra["incidence"] > grazing_deg, radius_mm)
    if not drop.any():
        return cloud, 0
    return cloud.subset(~drop), int(drop.sum())


def _pattern_kind(dm) -> str:
    """``graycode`` when the decoded coordinates are integers (a pure Gray-code set), else
    ``phase``: the sub-pixel smoothing depends on it."""
    v = dm.col[dm.valid]
    v = v[np.isfinite(v)][:20000]
    return "graycode" if len(v) and np.all(v == np.round(v)) else "phase"


def reconstruct_views(
    views,
    calib,
    out: str | Path,
    config: ReconstructConfig = ReconstructConfig(),
    markers: list | None = None,
) -> dict:
    """``views``: iterable of ``(name, angle_deg, maps)`` where maps is ``{"cam0": DecodedMap,
    "cam1": DecodedMap}``; ``markers``: per view the circular-marker centres (M, 3) in its cam0
    frame, or None where none are seen. Writes the stage's artefacts under ``out``; returns a
    summary."""
    out = Path(out)
    (out / "views").mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    one_camera = calib.stereo is None
    if one_camera and calib.projector_model() is None:
        raise InputError(
            "the calibration has neither a stereo pair nor a projector: a one-camera rig needs "
            "`scan2ad calibrate procam`, a two-camera rig `scan2ad calibrate all`"
        )
    rect = None if one_camera else rectification(calib)
    names, angles, clouds = [], [], []
    views = list(views)
    for name, angle, maps in progress(views, desc="triangulate", total=len(views), unit="view"):
        maps = maps() if callable(maps) else maps
        if one_camera:
            cloud, _ = triangulate_procam(
                maps["cam0"], calib, _pattern_kind(maps["cam0"]), config.procam
            )
        else:
            cloud = triangulate_view(maps, calib, rect, config.triangulate)
        cloud = _crop_table(cloud, turntable_prior(calib.T_world_cam0, [angle])[0], config)
        if len(cloud) < config.min_view_points:
            raise Scan2adError(
                f"{name}: only {len(cloud)} points triangulated "
                f"(< {config.min_view_points}); check its decoded maps"
            )
        cloud.extra["view"] = np.full(len(cloud), len(names), np.int32)
        write_cloud(out / "views" / f"{name}.ply", cloud)
        names.append(name)
        angles.append(float(angle))
        clouds.append(cloud)
    if markers is not None and len(markers) != len(names):
        raise InputError(f"{len(markers)} marker sets for {len(names)} views")
    # registration on the well-measured points only (grazing ones, kept for coverage, made
    # FRICP slide threaded_nail's loop-closure pair by 1.7 mm)
    steep = [
        c.subset(c.extra["incidence"] <= config.grazing_deg) if "incidence" in c.extra else c
        for c in clouds
    ]
    mv = config.multiview
    if mv.fit_check == "auto":
        # on for three rays only: the two-camera output predates the check (MultiviewConfig)
        three = not one_camera and uses_projector(calib, config.triangulate)
        mv = dataclasses.replace(mv, fit_check="on" if three else "off")
    reg = register_views(steep, angles, calib.T_world_cam0, mv, names, markers)
    n_markers = [0 if markers is None or m is None else len(m) for m in (markers or names)]
    write_json(
        out / "registration.json",
        {
            "views": {
                n: {"angle_deg": a, "T_world_view": T.tolist(), "points": len(c), "markers": k}
                for n, a, T, c, k in zip(names, angles, reg["T_world_view"], clouds, n_markers)
            },
            "pairs": reg["pairs"],
            "method": reg["method"],
            "parameters": config_to_dict(config.multiview),
        },
    )
    world = [_transform(c, T) for c, T in zip(clouds, reg["T_world_view"])]
    fused = PointCloud(
        np.vstack([c.points for c in world]),
        np.vstack([c.normals for c in world]),
        extra={
            k: np.concatenate([c.extra[k] for c in world])
            for k in ("confidence", "view", "incidence")
        },
    )
    fused, n_grazing = drop_redundant_grazing(fused, config.grazing_deg, config.grazing_radius_mm)
    write_cloud(out / "fused.ply", fused)
    write_json(
        out / "fused.json",
        {
            "points_in": [len(c) for c in clouds],
            "grazing_dropped": n_grazing,
            "points_out": len(fused),
            "views": names,
        },
    )
    clean, rep = denoise(fused, config.cleanup)
    clean, rep["off_surface"] = drop_off_surface(clean, config.cleanup)
    rep["points_out"] = len(clean)
    write_cloud(out / "clean.ply", clean)
    write_json(out / "clean.json", rep)
    part, rep2 = octree_resample(
        clean, config.cleanup.target_points, pick=config.cleanup.octree_pick
    )
    write_cloud(out / "part.ply", part)
    write_json(out / "part.json", {**rep2, "parameters": config_to_dict(config.cleanup)})
    summary = {"views": len(names), "fused": len(fused), "clean": len(clean), "part": len(part)}
    if config.mesh:
        mesh, mrep = poisson_mesh(part, config.cleanup)
        with atomic_path(out / "mesh.ply") as tmp:
            mesh.export(tmp, file_type="ply")
        write_json(out / "mesh.json", mrep)
        summary["mesh_watertight"] = mrep["watertight"]
    report_png(out, fused, reg["pairs"], names)
    summary["time_s"] = time.perf_counter() - t_start
    write_json(out / "reconstruction.json", {**summary, "config": config_to_dict(config)})
    return summary


def report_png(out: Path, fused: PointCloud, pairs: list[dict], names: list[str]) -> Path:
    """Two panels: the fused cloud (top view, coloured by source view) and per-pair residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    pick = rng.choice(len(fused), min(30000, len(fused)), replace=False)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8))
    p, v = fused.points[pick], fused.extra["view"][pick]
    for a, (i, j), title in ((ax[0], (0, 1), "top (x-y)"), (ax[1], (0, 2), "side (x-z)")):
        sc = a.scatter(
            p[:, i], p[:, j], c=v, s=0.3, cmap="tab20", vmin=0, vmax=max(len(names) - 1, 1)
        )
        a.set_aspect("equal")
        a.set_title(f"fused views, {title}")
        a.set_xlabel("mm")
    fig.colorbar(sc, ax=ax[1], label="source view")
    if pairs:
        lab = [f"{q['source'][-3:]}→{q['target'][-3:]}" for q in pairs]
        ax[2].bar(lab, [q["inlier_rmse"] for q in pairs], color="tab:blue")
        ax[2].set_ylabel("inlier RMSE (mm)")
        t2 = ax[2].twinx()
        t2.plot(lab, [q["fitness"] for q in pairs], "o-", color="tab:red")
        t2.set_ylabel("fitness", color="tab:red")
        ax[2].tick_params(axis="x", rotation=90)
        ax[2].set_title("pairwise registration")
    else:
        ax[2].text(0.5, 0.5, "one view: no registration", ha="center")
        ax[2].axis("off")
    fig.tight_layout()
    return save_figure(fig, out / "report.png", dpi=110)


def session_calibration(session, calibration: str | Path | None = None):
    from scan2ad.acquisition.calibration.model import load_calibration

    if calibration is not None:
        return load_calibration(calibration)
    rec = session.meta.get("calibration") or {}
    if rec.get("path") and Path(rec["path"]).is_file():
        return load_calibration(rec["path"])
    truth = session.truth_path("calibration")
    if truth is not None and truth.is_file():
        return load_calibration(truth)
    raise InputError("the session names no readable calibration; pass --calibration", session.root)


def reconstruct_session(
    session_dir: str | Path,
    out: str | Path,
    calibration: str | Path | None = None,
    config: ReconstructConfig = ReconstructConfig(),
) -> dict:
    """Reconstruct every complete view of a capture session (``scan2ad.acquisition.session``)."""
    from scan2ad.acquisition.session import open_session

    session = open_session(session_dir)
    done = session.completed()
    if not done:
        raise InputError("the session has no complete view", session.root)
    calib = session_calibration(session, calibration)
    views = [
        (f"view_{i:03d}", session.angles_deg[i], (lambda i=i: session.decode(i))) for i in done
    ]
    markers = None
    if config.multiview.markers.enabled and "cam1" in session.cameras:
        markers = [session_view_markers(session, i, calib, config.multiview.markers) for i in done]
        log.info("circular markers per view: %s", [0 if m is None else len(m) for m in markers])
    return reconstruct_views(views, calib, out, config, markers)
