"""``scan2ad capture``: capture a structured-light session on a real or the virtual rig.

Heavy imports (numpy-heavy stage modules, open3d, cv2) happen inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import SEED, Int


@click.command()
@click.option(
    "--rig",
    "rig_arg",
    default="virtual",
    show_default=True,
    help="Rig description: a TOML path or a name in calibration_data/rigs/.",
)
@click.option(
    "--part",
    required=True,
    help="Mesh file (.ply/.stl/.obj) or procedural part name (virtual rig); a label (real rig).",
)
@click.option(
    "--units",
    type=click.Choice(["mm", "cm", "m", "in"]),
    default="mm",
    show_default=True,
    help="Length unit of a --part mesh file (the virtual rig works in mm; a mesh whose size "
    "does not fit the rig is refused, naming the units that would).",
)
@click.option(
    "--views",
    type=Int(min=1),
    default=None,
    help="Number of equal turntable steps [default: the rig's turntable angles].",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Session folder to write."
)
@click.option(
    "--overwrite", is_flag=True, help="Capture again over a finished or different session."
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    default=None,
    help="calibration.json to record in the session [default: the rig's, if present].",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Virtual camera noise seed.")
@click.option(
    "--part-seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the procedural part's variation.",
)
@click.option(
    "--decode/--no-decode",
    "do_decode",
    default=True,
    show_default=True,
    help="Decode the first view afterwards: valid pixel share and a preview PNG.",
)
@click.option(
    "--large",
    is_flag=True,
    help="Go ahead with a capture needing more than 20 GB of disk or 4 hours.",
)
def capture(
    rig_arg: str,
    part: str,
    units: str,
    views: int | None,
    out: Path,
    overwrite: bool,
    calibration: Path | None,
    seed: int,
    part_seed: int,
    do_decode: bool,
    large: bool,
) -> None:
    """Capture a structured-light session (DESIGN §3 layout); a rerun resumes an interrupted one."""
    import time

    from scan2ad.acquisition.rig import load_rig
    from scan2ad.acquisition.session import capture_need, capture_session
    from scan2ad.params import check_large_request, check_output_file

    rig = load_rig(rig_arg)
    if not out.exists():  # a place no file can be created (read-only, /proc) is named first
        check_output_file(out / "session.json", option="--out")
    n_views = len(rig.turntable.view_angles_deg(views))
    disk, seconds = capture_need(rig, n_views)
    check_large_request(
        f"a capture of {n_views} views", out, disk, seconds, allowed=large, flag="--large"
    )
    if calibration is not None:  # a file that is not a calibration must not be recorded as one
        from scan2ad.acquisition.calibration.model import load_calibration

        load_calibration(calibration)
    rig_path = str(Path(rig_arg).resolve()) if Path(rig_arg).is_file() else rig_arg
    from scan2ad.outputs import _Lock

    t0 = time.perf_counter()
    if out.parent.exists() and not out.parent.is_dir():
        from scan2ad.errors import InputError

        raise InputError(f"{out.parent} is a file, not a folder", out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = _Lock(out, "capture")  # a second capture into this session stops here, named
    try:
        session = capture_session(
            out,
            rig,
            part,
            views,
            overwrite=overwrite,
            seed=seed,
            part_seed=part_seed,
            calibration=calibration,
            rig_path=rig_path,
            units=units,
        )
    finally:
        lock.release()
    _report(session, out, time.perf_counter() - t0, do_decode)


def _report(session, out: Path, dt: float, do_decode: bool) -> None:
    n = session.n_views
    click.echo(
        f"session {out}: {n} views x {len(session.cameras)} cameras x "
        f"{len(session.patterns.frames)} frames ({session.patterns.kind}) in {dt:.1f} s"
    )
    if do_decode and n:
        from scan2ad.acquisition.decode import save_decoded_preview

        maps = session.decode(0)
        shares = ", ".join(f"{cam} {m.valid_fraction() * 100:.1f}%" for cam, m in maps.items())
        white = {cam: session.frames(0, cam)[0] for cam in maps}
        preview = save_decoded_preview(maps, out / "preview_view_000.png", white)
        click.echo(f"view 0 decoded pixels: {shares} (picture: {preview})")
