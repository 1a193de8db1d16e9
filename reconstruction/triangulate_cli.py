"""``scan2ad triangulate``: one camera's capture and a calibrated projector to a point cloud.

    scan2ad triangulate CAPTURE --calibration calibration.json --out cloud.ply

CAPTURE is an OpenCV-order Gray-code folder (``graycode_NN.png``, white and black last) or a
view of a capture session (``<session>/view_NNN``; ``--camera`` picks the camera). Writes the
cloud (mm, cam0 frame, normals, ``confidence`` and ``epipolar_px`` per point) and beside it
``<out stem>.json``: points, the calibration check and the settings. Heavy imports happen inside.
"""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import Float, decoding_options


@click.command()
@click.argument("capture", type=click.Path(path_type=Path))
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    required=True,
    help="calibration.json with a projector (scan2ad calibrate procam).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Cloud to write (.ply, .pcd, .npz).")
@click.option("--camera", default="cam0", show_default=True, help="Camera of a session view.")
@click.option(
    "--smooth-sigma",
    type=Float(min=-1.0, max=50.0),
    default=-1.0,
    show_default=True,
    help="Sub-pixel smoothing window of the decoded maps, camera px (-1: Gray code 3, phase 1; 0: off).",
)
@decoding_options
@click.option(
    "--max-point-error",
    type=Float(min=0.0, max=1000.0),
    default=1.5,
    show_default=True,
    help="Drop points farther than this (projector px) from their epipolar line.",
)
@click.option(
    "--max-median-error",
    type=Float(min=0.0, max=1000.0),
    default=3.0,
    show_default=True,
    help="Stop when the median epipolar error exceeds this (the calibration does not fit).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
def triangulate(capture, calibration, out, camera, smooth_sigma, min_contrast, min_bit_margin,
                max_point_error, max_median_error, overwrite) -> None:
    """Triangulate one capture against the calibrated projector (one camera + projector)."""
    import numpy as np

    from scan2ad import __version__
    from scan2ad.acquisition.calibration.model import load_calibration
    from scan2ad.acquisition.decode import DecodeConfig, read_capture
    from scan2ad.config import config_to_dict
    from scan2ad.errors import InputError
    from scan2ad.io import write_json
    from scan2ad.pointcloud import write_cloud
    from scan2ad.reconstruction.procam import ProcamTriangulateConfig, triangulate_procam

    out = Path(out)
    report = out.with_suffix(".json")
    if out.suffix.lower() not in (".ply", ".pcd", ".npz"):
        raise click.BadParameter(f"{out.name}: write .ply, .pcd or .npz", param_hint="--out")
    for p in (out, report):
        if p.exists() and not overwrite:
            raise click.UsageError(f"{p} exists: pass --overwrite to replace it")
    calib = load_calibration(calibration)
    proj = calib.projector_model()
    if proj is None:
        raise InputError(
            "the calibration has no projector entry: make one with `scan2ad calibrate procam`",
            calibration,
        )
    cap = read_capture(capture, proj.resolution, camera)
    if (cap.pattern_set.width, cap.pattern_set.height) != tuple(proj.resolution):
        raise InputError(
            f"the capture's projector is {cap.pattern_set.width}x{cap.pattern_set.height}, the "
            f"calibration's {proj.resolution[0]}x{proj.resolution[1]}",
            capture,
        )
    decode = DecodeConfig(min_contrast=min_contrast, min_bit_margin=min_bit_margin)
    cfg = ProcamTriangulateConfig(
        smooth_sigma_px=smooth_sigma,
        max_point_error_px=max_point_error,
        max_median_error_px=max_median_error,
    )
    dm = cap.decode(decode)
    cloud, check = triangulate_procam(dm, calib, cap.pattern_set.kind, cfg, camera=camera)
    if len(cloud) == 0:
        raise InputError("no point triangulated: nothing in the capture decoded", capture)
    write_cloud(out, cloud)
    write_json(
        report,
        {
            "capture": str(capture),
            "layout": cap.layout,
            "camera": camera,
            "calibration": str(calibration),
            "points": len(cloud),
            "decoded_pixels": int(dm.valid.sum()),
            "check": check.to_dict(),
            "decode": config_to_dict(decode),
            "triangulate": config_to_dict(cfg),
            "scan2ad_version": __version__,
        },
    )
    z = cloud.points[:, 2]
    click.echo(
        f"{len(cloud)} points from {int(dm.valid.sum())} decoded pixels, depth "
        f"{np.percentile(z, 5):.0f}-{np.percentile(z, 95):.0f} mm; epipolar error median "
        f"{check.median_error_px:.3f} px, {check.kept_fraction:.1%} within {max_point_error:g} px"
    )
    click.echo(f"wrote {out} and {report}")
