"""``scan2ad calibrate``: cameras, stereo pair and turntable axis from board images.

    scan2ad calibrate all --images DIR --board calibration_data/boards/X.toml --out calibration.json
    scan2ad calibrate cameras|stereo|turntable ...   (one step; --calibration gives earlier results)
    scan2ad calibrate virtual-images --out DIR       (the virtual rig photographs its board)

The folder layout is described in :mod:`scan2ad.acquisition.calibration.pipeline`. Beside
``--out`` a report picture ``<out stem>_report.png`` is written. Heavy imports happen inside
the commands.

``calibration_data/virtual/calibration.json`` is made by::

    scan2ad calibrate virtual-images --out /tmp/virtual_boards --views 60 --workers 2
    scan2ad calibrate all --images /tmp/virtual_boards --board calibration_data/boards/chessboard_11x8_6mm.toml \\
        --fix-k3 --rig virtual --out calibration_data/virtual/calibration.json
"""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import SEED, Float, Int, decoding_options


def _options(fn):
    opts = [
        click.option(
            "--images",
            type=click.Path(path_type=Path),
            required=True,
            help="Folder of board images (cam0/, cam1/, turntable/cam0/ + angles.json).",
        ),
        click.option(
            "--board",
            type=click.Path(path_type=Path),
            required=True,
            help="Board file (calibration_data/boards/*.toml, or a name in that folder).",
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            required=True,
            help="calibration.json to write.",
        ),
        click.option(
            "--calibration",
            "base",
            type=click.Path(path_type=Path),
            default=None,
            help="An earlier calibration.json whose cameras (and stereo) this step builds on.",
        ),
        click.option(
            "--cam0",
            "glob0",
            default="cam0/*",
            show_default=True,
            help="cam0 images under --images; the first * is the view name.",
        ),
        click.option(
            "--cam1",
            "glob1",
            default="cam1/*",
            show_default=True,
            help="cam1 images, paired by view name.",
        ),
        click.option(
            "--turntable",
            "glob_tt",
            default="turntable/cam0/*",
            show_default=True,
            help="cam0 images of the board on the turntable (angles.json beside them).",
        ),
        click.option(
            "--fix-k3", is_flag=True, help="Fix k3 = 0 (narrow lenses, where k3 is not observable)."
        ),
        click.option(
            "--outlier-factor",
            type=Float(1.0, 1000.0),
            default=4.0,
            show_default=True,
            help="Reject views whose RMS exceeds this x the median view RMS.",
        ),
        click.option(
            "--keep-all-views",
            is_flag=True,
            help="Reject no view (per-view errors are still reported).",
        ),
        click.option(
            "--min-views", type=Int(3, 100_000), default=4, show_default=True, help="Fewest usable views."
        ),
        click.option("--rig", default="", help="Rig name recorded in the output."),
        click.option(
            "--report/--no-report",
            default=True,
            show_default=True,
            help="Write <out stem>_report.png beside --out.",
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing --out (and its report)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _run(
    what: str,
    images,
    board,
    out,
    base,
    glob0,
    glob1,
    glob_tt,
    fix_k3,
    outlier_factor,
    keep_all_views,
    min_views,
    rig,
    report,
    overwrite,
) -> None:
    import numpy as np

    from scan2ad.acquisition.calibration.boards import load_board
    from scan2ad.acquisition.calibration.model import load_calibration
    from scan2ad.acquisition.calibration.pipeline import calibrate_images
    from scan2ad.acquisition.calibration.solve import SolveConfig
    from scan2ad.params import check_output_file

    # before the solve: a folder, an unwritable place or another file at --out is refused now
    check_output_file(out, overwrite, suffixes=(".json",))
    if report:
        check_output_file(Path(out).with_name(Path(out).stem + "_report.png"), overwrite,
                          option="the report beside --out")
    spec = load_board(board)
    base_cal = load_calibration(base) if base else None
    if what == "turntable" and base_cal is None:
        raise click.UsageError(
            "calibrate turntable needs --calibration (a file with cam0's intrinsics)"
        )
    solve = SolveConfig(
        min_views=min_views,
        outlier_factor=outlier_factor,
        fix_k3=fix_k3,
        max_rounds=0 if keep_all_views else 3,
    )
    run = calibrate_images(
        images,
        spec,
        what,
        solve,
        {"cam0": glob0, "cam1": glob1, "turntable": glob_tt},
        base=base_cal,
        rig=rig,
    )
    cal = run.calibration
    rpath = Path(out).with_name(Path(out).stem + "_report.png")
    _save_pair(out, cal, rpath if report else None, run)
    for name, cam in cal.cameras.items():
        K = cam.K
        click.echo(
            f"{name}: fx {K[0, 0]:.2f} fy {K[1, 1]:.2f} cx {K[0, 2]:.2f} cy {K[1, 2]:.2f} "
            f"dist {np.array2string(np.asarray(cam.dist), precision=4)} RMS {cam.rms_px:.3f} px "
            f"({len(cam.per_view_rms_px)} views)"
        )
        for view, why in cam.rejected_views.items():
            click.echo(f"  rejected view {view}: {why}")
        for view, why in cal.per_view_errors.get(name, {}).get("suspect", {}).items():
            click.echo(f"  kept suspect view {view}: {why}")
    if cal.stereo is not None and what in ("stereo", "all"):
        st = cal.stereo
        click.echo(
            f"stereo: RMS {st.rms_px:.3f} px, baseline {st.baseline_mm:.3f} mm, "
            f"T {np.array2string(st.T, precision=3)}, epipolar error mean "
            f"{cal.per_view_errors['epipolar']['mean_px']:.3f} px ({len(st.per_view_rms_px)} pairs)"
        )
        for view, why in st.rejected_views.items():
            click.echo(f"  rejected pair {view}: {why}")
        for view, why in cal.per_view_errors.get("stereo", {}).get("suspect", {}).items():
            click.echo(f"  kept suspect pair {view}: {why}")
    if cal.turntable is not None and what in ("turntable", "all"):
        tt = cal.turntable
        click.echo(
            f"turntable: axis {np.array2string(tt.axis_direction_cam0, precision=5)} through "
            f"{np.array2string(tt.axis_point_cam0, precision=2)} mm (cam0), residual {tt.residual_mm:.4f} mm, "
            f"{tt.reprojection_rms_px:.3f} px over {len(tt.angles_deg)} table angles"
        )
        tv = cal.per_view_errors.get("turntable", {})
        for view, why in tv.get("rejected", {}).items():
            click.echo(f"  rejected table view {view}: {why}")
        for view, why in tv.get("suspect", {}).items():
            click.echo(f"  kept suspect table view {view}: {why}")
    click.echo(f"wrote {out}")
    if report:
        click.echo(f"wrote {rpath}")


def _save_pair(out: Path, cal, rpath: Path | None, run) -> None:
    """Write the report and calibration.json together: the report goes to a temporary file first,
    so a failure (a full disk) while writing either leaves both previous files as they were."""
    from scan2ad.acquisition.calibration.model import save_calibration
    from scan2ad.io import atomic_path

    if rpath is None:
        save_calibration(out, cal)
        return
    from scan2ad.acquisition.calibration.report import write_report

    with atomic_path(rpath) as tmp:  # renamed onto rpath only when everything succeeded
        try:
            write_report(run, tmp)
        except OSError as exc:  # name the report, not its temporary file
            raise OSError(exc.errno, exc.strerror or str(exc), str(rpath)) from exc
        save_calibration(out, cal)


@click.group()
def calibrate() -> None:
    """Calibrate cameras, stereo pair and turntable from board images."""


@calibrate.command()
@_options
def cameras(**kw) -> None:
    """Intrinsics (Zhang) of every camera folder present."""
    _run("cameras", **kw)


@calibrate.command()
@_options
def stereo(**kw) -> None:
    """The stereo pair (and the intrinsics, unless --calibration gives them)."""
    _run("stereo", **kw)


@calibrate.command()
@_options
def turntable(**kw) -> None:
    """The turntable axis and T_world_cam0 (needs --calibration with cam0)."""
    _run("turntable", **kw)


@calibrate.command(name="all")
@_options
def all_(**kw) -> None:
    """Cameras, stereo pair and turntable axis in one go."""
    _run("all", **kw)


@calibrate.command(name="virtual-images")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Folder to write the images into."
)
@click.option("--rig", default="virtual", show_default=True, help="A virtual rig (name or TOML).")
@click.option(
    "--board",
    type=click.Path(path_type=Path),
    default=None,
    help="Board file (default: the rig's).",
)
@click.option(
    "--views", type=Int(1, 10_000), default=40, show_default=True, help="Hand-held board poses (both cameras)."
)
@click.option(
    "--angles",
    default="0,45,90,135,180,225,270,315",
    show_default=True,
    help="Turntable angles of the board-on-table views, degrees, comma-separated.",
)
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Random seed of poses and noise."
)
@click.option(
    "--workers", type=Int(1, 64), default=1, show_default=True, help="Parallel render processes."
)
@click.option(
    "--overwrite", is_flag=True, help="Replace an --out folder of other images (other rig, board, poses)."
)
def virtual_images(
    out: Path, rig: str, board, views: int, angles: str, seed: int, workers: int, overwrite: bool
) -> None:
    """Photograph the calibration board with the virtual rig's true cameras.

    --out is written only when every image is rendered, and never mixes two image sets: a folder
    of other images (other rig, board or poses) is refused unless --overwrite."""
    from scan2ad.acquisition.calibration.boards import load_board
    from scan2ad.acquisition.calibration.virtual_boards import PoseConfig, render_calibration_images
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.errors import InputError

    r = load_rig(rig)
    if r.virtual is None:
        raise InputError(
            f"rig {r.name!r} is not virtual: photograph the board with the real cameras"
        )
    spec = load_board(board or r.board_path())
    try:
        ang = tuple(Float(-360.0, 360.0).convert(a.strip(), None, None)
                    for a in angles.split(",") if a.strip())
    except click.BadParameter as exc:
        raise click.BadParameter(
            f"not a comma-separated list of angles in degrees: {angles!r} ({exc.message})",
            param_hint="--angles",
        ) from None
    from scan2ad.params import check_large_request

    px = sum(c.resolution[0] * c.resolution[1] for c in r.cameras)
    check_large_request(f"{2 * views + len(ang)} board images", out,
                        (views + len(ang)) * px * 0.5, (views + len(ang)) * px * 2e-7, allowed=False)
    from scan2ad.config import config_to_dict
    from scan2ad.io import stable_hash
    from scan2ad.outputs import claim_output

    poses = PoseConfig(views=views, turntable_angles_deg=ang, seed=seed)
    # rig and board by name and content hash: an edited rig TOML is another job
    job = {"rig": r.name, "rig_hash": stable_hash(config_to_dict(r))[:16], "board": spec.name,
           "board_hash": stable_hash(config_to_dict(spec))[:16], "views": views, "angles": list(ang),
           "seed": seed}
    # a rig or board given as a file must not be in the folder the images replace
    files = {"the rig file": rig if Path(rig).is_file() else None,
             "the board file": board if board and Path(board).is_file() else None}
    with claim_output(out, "calibrate virtual-images", job, overwrite=overwrite, staging="always",
                      inside_ok=True, inputs=files) as o:
        render_calibration_images(o.work, r, spec, poses, workers=workers)
    click.echo(f"wrote {2 * views + len(ang)} images of {spec.name} into {out}")


def _resolution(value: str, param_hint: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, e.g. 1024x768, got {value!r}",
                                 param_hint=param_hint) from None
    if w < 2 or h < 2:
        raise click.BadParameter(f"{w}x{h} is too small", param_hint=param_hint)
    return w, h


@calibrate.command(name="procam")
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of capture_*/ Gray-code captures (OpenCV GrayCodePattern order: graycode_NN.png, "
    "white and black last), or a capture session whose views show the board.",
)
@click.option(
    "--board",
    type=click.Path(path_type=Path),
    required=True,
    help="Board file (calibration_data/boards/*.toml, or a name in that folder).",
)
@click.option(
    "--projector",
    "projector",
    default=None,
    help="Projector resolution WIDTHxHEIGHT (needed for OpenCV-order captures).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="calibration.json to write.")
@click.option(
    "--patch-radius",
    type=click.IntRange(0, 200),
    default=0,
    show_default=True,
    help="Half side of the camera patch of each local homography, px (0: image width / 180).",
)
@decoding_options
@click.option(
    "--fix-k3",
    is_flag=True,
    help="Fix k3 = 0 for camera and projector (long lenses; on the real captures in "
    "shared/data/procam_graycode k3 is otherwise fitted to 783).",
)
@click.option(
    "--refine-jointly/--fixed-intrinsics",
    default=True,
    show_default=True,
    help="Refine both intrinsics with the extrinsics (stereo RMS 0.281 px on the real captures, "
    "97-99.9%% of decoded pixels within 1.5 px of their epipolar line), or keep them (0.340 px, 76-81%%).",
)
@click.option(
    "--min-views", type=click.IntRange(3, None), default=4, show_default=True, help="Fewest usable captures."
)
@click.option("--rig", default="", help="Rig name recorded in the output.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write <out stem>_report.png beside --out.",
)
def procam(images, board, projector, out, patch_radius, min_contrast, min_bit_margin, fix_k3,
           refine_jointly, min_views, rig, overwrite, report) -> None:
    """Camera and projector intrinsics and their extrinsics from Gray-code board captures
    (Moreno & Taubin 2012: local homographies around each corner)."""
    from scan2ad.acquisition.calibration.boards import load_board
    from scan2ad.acquisition.calibration.model import save_calibration
    from scan2ad.acquisition.calibration.procam import (
        ProcamConfig,
        calibrate_procam,
        find_captures,
        write_procam_report,
    )
    from scan2ad.acquisition.calibration.solve import SolveConfig
    from scan2ad.acquisition.decode import DecodeConfig

    size = _resolution(projector, "--projector") if projector else None
    out = Path(out)
    if out.exists() and not overwrite:
        raise click.UsageError(f"{out} exists: pass --overwrite to replace it")
    spec = load_board(board)
    run = calibrate_procam(
        find_captures(images, size),
        spec,
        SolveConfig(min_views=min_views, fix_k3=fix_k3, max_iterations=200,
                    stereo_fix_intrinsics=not refine_jointly),
        ProcamConfig(patch_radius_px=patch_radius),
        DecodeConfig(min_contrast=min_contrast, min_bit_margin=min_bit_margin),
        rig=rig,
    )
    cal = run.calibration
    save_calibration(out, cal)
    cam, proj = cal.cameras["cam0"], cal.projector_model()
    for name, c, rms in (("camera", cam, cam.rms_px), ("projector", proj, proj.rms_px)):
        K = c.K
        click.echo(
            f"{name}: fx {K[0, 0]:.2f} fy {K[1, 1]:.2f} cx {K[0, 2]:.2f} cy {K[1, 2]:.2f} "
            f"RMS {rms:.3f} px ({len(c.per_view_rms_px)} poses)"
        )
        for view, why in c.rejected_views.items():
            click.echo(f"  rejected pose {view}: {why}")
    skipped = sum(len(s) for s in run.skipped_corners.values())
    t = proj.T_projector_cam0[:3, 3]
    click.echo(
        f"camera-projector: RMS {proj.stereo_rms_px:.3f} px, T_projector_cam0 translation "
        f"({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) mm, epipolar error median "
        f"{cal.per_view_errors['procam_epipolar']['median_px']:.3f} px; "
        f"{skipped} corners without a projector coordinate"
    )
    click.echo(f"wrote {out}")
    if report:
        rpath = out.with_name(out.stem + "_report.png")
        write_procam_report(run, rpath)
        click.echo(f"wrote {rpath}")
