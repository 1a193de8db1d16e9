"""``scan2ad register`` and ``scan2ad reconstruct``. Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import SEED, Float, Int

MIN_POINTS = 4  # S4PCS bases and a rigid transform need at least four points
MAX_COORD_MM = 1e8  # 100 km: float64 still resolves 1e-8 mm there; 1e30 mm gave a 5.6e14 mm shift


def _check_geometry(points, path: Path) -> str | None:
    """Refuse a cloud whose shape cannot fix a rigid transform; name a planar one.

    Collinear (or coincident) points leave the rotation about their line free: any answer would
    be arbitrary, so they are an input error. A plane leaves a slide and a turn within itself
    free: registration runs but the result is flagged. Returns ``"planar"`` or None."""
    import numpy as np

    from scan2ad.errors import ValidationError

    if len(points) < MIN_POINTS:
        raise ValidationError(
            f"{len(points)} point(s); registration needs at least {MIN_POINTS}", path)
    reach = float(np.abs(points).max())
    if reach > MAX_COORD_MM:
        raise ValidationError(
            f"coordinates reach {reach:.3g} mm, beyond {MAX_COORD_MM:.0e} mm (100 km): not a scan in "
            "millimetres (check the units); the transform would be lost in rounding", path)
    centred = points - points.mean(0)
    s = np.linalg.svd(centred[:: max(1, len(points) // 20000)], compute_uv=False)
    if s[0] <= 0 or s[1] / s[0] < 1e-6:
        what = "all the same point" if s[0] <= 0 else "collinear (on one line)"
        raise ValidationError(
            f"the points are {what}: a rigid transform is not determined by them", path)
    return "planar" if s[2] / s[0] < 1e-6 else None


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--init",
    "init",
    type=click.Choice(["s4pcs", "fpfh", "none"]),
    default="s4pcs",
    show_default=True,
    help="Coarse alignment: Super4PCS, Open3D FPFH+RANSAC, or none.",
)
@click.option(
    "--refine",
    type=click.Choice(["fricp", "fricp-plane", "none"]),
    default="fricp",
    show_default=True,
    help="Fine alignment: FRICP point-to-point or point-to-plane.",
)
@click.option(
    "--overlap",
    type=Float(0.0, 1.0, min_open=True),
    default=0.5,
    show_default=True,
    help="Expected share of SOURCE seen in TARGET (S4PCS).",
)
@click.option(
    "--time-budget",
    type=Float(0.0, 86400.0, min_open=True),
    default=10.0,
    show_default=True,
    help="S4PCS time budget in seconds.",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="JSON file for T_target_source and the scores.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out when it exists.")
def register(source, target, init, refine, overlap, time_budget, seed, out, overwrite):
    """Register SOURCE onto TARGET (any .ply/.pcd/.xyz/.txt/.npz clouds); prints fitness,
    inlier RMSE and the 4x4 transform mapping SOURCE into TARGET."""
    import numpy as np

    from scan2ad.errors import Scan2adError
    from scan2ad.io import write_json
    from scan2ad.log import get_logger
    from scan2ad.params import check_output_file
    from scan2ad.pointcloud import read_cloud
    from scan2ad.reconstruction.registration.pairwise import register_pair
    from scan2ad.reconstruction.registration.result import evaluate, point_spacing

    check_output_file(out, overwrite, suffixes=(".json",))
    src, tgt = read_cloud(source), read_cloud(target)
    shapes = [_check_geometry(src.points, source), _check_geometry(tgt.points, target)]
    degenerate = [f"{name} is planar" for name, sh in zip(("SOURCE", "TARGET"), shapes) if sh]
    if degenerate:
        get_logger(__name__).warning(
            "%s: a plane can slide and turn within itself, so the transform is not fixed by "
            "the geometry (recorded as 'degenerate' in %s)", " and ".join(degenerate), out)
    coarse, fine, T = register_pair(
        src.points,
        tgt.points,
        init=init,
        refine=refine,
        overlap=overlap,
        target_normals=tgt.normals,
        max_time_seconds=time_budget,
        seed=seed,
    )
    from scipy.spatial import cKDTree

    dist = 3.0 * point_spacing(tgt.points)
    fitness, rmse = evaluate(src.points, cKDTree(tgt.points), T, dist)
    if not (np.isfinite(T).all() and np.isfinite(fitness) and np.isfinite(dist)):
        raise Scan2adError(
            f"registration of {source} onto {target} diverged (non-finite transform, fitness "
            f"{fitness} or inlier distance {dist}); nothing was written")
    if not np.isfinite(rmse):  # no inlier at all: RMSE is undefined, fitness says so (0)
        rmse = None
    payload = {
        "source": str(source),
        "target": str(target),
        "T_target_source": T.tolist(),
        "fitness": fitness,
        "inlier_rmse": rmse,
        "max_distance": dist,
        "coarse": coarse.to_dict() if coarse else None,
        "fine": fine.to_dict() if fine else None,
        "degenerate": degenerate,
    }
    write_json(out, payload)
    shown = "undefined (no inlier)" if rmse is None else f"{rmse:.6g}"
    click.echo(f"fitness {fitness:.4f}  inlier RMSE {shown}  (inlier distance {dist:.4g})")
    for step in (coarse, fine):
        if step is not None:
            click.echo(
                f"  {step.method}: {step.iterations} iterations, {step.time_s:.2f} s, "
                f"fitness {step.fitness:.4f}"
            )
    click.echo("T_target_source =")
    with np.printoptions(precision=6, suppress=True):
        click.echo(str(np.asarray(T)))
    click.echo(f"wrote {out}")


@click.command()
@click.argument("session", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Reconstruction folder to write."
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    default=None,
    help="calibration.json [default: the one the session records, else its truth].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML with ReconstructConfig fields (triangulate/multiview/cleanup tables).",
)
@click.option("--target-points", type=Int(100, 100_000_000), default=None,
              help="Points kept by octree resampling.")
@click.option("--no-mesh", is_flag=True, help="Skip the Poisson mesh.")
@click.option("--partial", is_flag=True,
              help="Reconstruct a session with missing views (an interrupted capture) from the "
                   "views it has (recorded as missing_views in reconstruction.json).")
@click.option("--overwrite", is_flag=True,
              help="Replace an --out folder made by another command or for another job.")
def reconstruct(session, out, calibration, config_path, target_points, no_mesh, partial, overwrite):
    """Reconstruct the part cloud of a capture SESSION: per-view clouds, registration, fused,
    clean and resampled clouds, Poisson mesh and report.png under --out.

    --out is written only when the whole reconstruction succeeds: a failure leaves a previous
    result there as it was."""
    import dataclasses

    from scan2ad.acquisition.session import open_session
    from scan2ad.config import config_to_dict, load_config
    from scan2ad.errors import InputError
    from scan2ad.io import read_json, sha256_file, write_json
    from scan2ad.log import get_logger
    from scan2ad.outputs import claim_output
    from scan2ad.params import check_config
    from scan2ad.reconstruction.pipeline import (
        ReconstructConfig,
        reconstruct_session,
        session_calibration,
    )

    cfg = load_config(ReconstructConfig, config_path) if config_path else ReconstructConfig()
    if target_points is not None:
        cfg = dataclasses.replace(
            cfg, cleanup=dataclasses.replace(cfg.cleanup, target_points=target_points)
        )
    if no_mesh:
        cfg = dataclasses.replace(cfg, mesh=False)
    check_config(cfg, RECONSTRUCT_RANGES, path=config_path)
    sess = open_session(session)
    done = sess.completed()
    missing = [f"view_{i:03d}" for i in range(sess.n_views) if i not in set(done)]
    if missing and (not partial or not done):
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise InputError(
            f"{len(done)} of {sess.n_views} views are complete (missing {shown}): the capture "
            f"was interrupted. Rerun the same `scan2ad capture` to finish it"
            + (f", or pass --partial to reconstruct from the {len(done)} views present" if done else ""),
            session,
        )
    if missing:
        get_logger(__name__).warning(
            "%s: reconstructing %d of %d views; missing %s", session, len(done), sess.n_views,
            ", ".join(missing))
    calib_path = calibration or (sess.meta.get("calibration") or {}).get("path")
    calib = session_calibration(sess, calibration)  # a bad calibration stops here, before any output
    # a one-camera session needs the projector calibrated, a two-camera one the stereo pair
    if calib.stereo is None and (len(sess.cameras) > 1 or calib.projector_model() is None):
        raise InputError("the calibration has no stereo pair (made by `scan2ad calibrate cameras`): "
                         "run `scan2ad calibrate stereo` or `all` (a one-camera rig: "
                         "`scan2ad calibrate procam`)", calib_path or session)
    job = {
        "session": str(Path(session).resolve()),
        "session_sha256": sha256_file(Path(session) / "session.json"),
        "views": done,
        "calibration": str(Path(calib_path).resolve()) if calib_path else "truth",
        # settings that differ from the defaults, by dotted name: a refusal names just those
        **_changed(config_to_dict(cfg), config_to_dict(ReconstructConfig())),
    }
    # --out may lie inside the session folder (<session>/recon), never be it or hold it
    with claim_output(out, "reconstruct", job, overwrite=overwrite, staging="always", inside_ok=True,
                      inputs={"the capture session": session, "the calibration": calib_path}) as o:
        summary = reconstruct_session(session, o.work, calibration, cfg)
        if missing:
            doc = read_json(o.work / "reconstruction.json")
            doc["missing_views"] = missing
            write_json(o.work / "reconstruction.json", doc)
    click.echo(
        f"{summary['views']} view(s): fused {summary['fused']} -> clean {summary['clean']} -> "
        f"part {summary['part']} points in {summary['time_s']:.1f} s; "
        f"mesh watertight: {summary.get('mesh_watertight', 'skipped')}"
        + (f"; MISSING {len(missing)} view(s)" if missing else "")
    )
    click.echo(f"wrote {out}/part.ply, registration.json, report.png")


def _changed(cfg: dict, default: dict, prefix: str = "") -> dict:
    """``{"cleanup.target_points": 5000, ...}``: the leaves of ``cfg`` that differ from ``default``."""
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and isinstance(default.get(k), dict):
            out.update(_changed(v, default[k], f"{prefix}{k}."))
        elif default.get(k) != v:
            out[f"{prefix}{k}"] = v
    return out


# allowed ranges of ReconstructConfig fields, (low, high, low open), by bare or dotted name;
# every other number must be finite (fields with a -1 "automatic" sentinel, procam's smoothing,
# are left to their declared ranges in scan2ad.config)
_NON_NEGATIVE = (0.0, None, False)
RECONSTRUCT_RANGES = {
    **{k: _NON_NEGATIVE for k in (
        "max_jump", "max_row_error", "triangulate.smooth_sigma_px", "triangulate.smooth_max_change",
        "edge_jump", "max_median_epipolar_px", "edge_radius_px", "nu_begin_mm", "max_correction_mm",
        "min_normal_shift_mm", "loop_closure_deg", "match_tol_mm", "max_deviation_deg",
        "max_deviation_mm", "std_ratio", "local_ratio", "surface_ratio", "surface_support",
        "grazing_radius_mm", "max_radius_mm", "max_point_error_px", "point_error_factor",
        "max_median_error_px")},
    "poisson_threads": (-1, 256, False),
    "target_points": (100, 100_000_000, False),
    "min_view_points": (1, None, False),
    "nb_neighbors": (1, 1000, False),
    "max_passes": (1, 1000, False),
    "poisson_depth": (1, 16, False),
    "min_matches": (3, None, False),
    "min_confidence": (0.0, 1.0, False),
    "min_fitness": (0.0, 1.0, False),
    "max_fitness_loss": (0.0, 1.0, False),
    "stop_fraction": (0.0, 1.0, False),
    "density_quantile": (0.0, 1.0, False),
    "max_incidence_deg": (0.0, 90.0, True),
    "grazing_deg": (0.0, 90.0, True),
    "max_correction_deg": (0.0, 180.0, False),
    "voxel_mm": (0.0, None, True),
    "max_depth_mm": (0.0, None, True),
    "poisson_scale": (1.0, 10.0, False),
    "min_kept_fraction": (0.0, 1.0, False),
}
