"""``scan2ad pointcloud info|validate|convert``: the core I/O as commands."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def pointcloud() -> None:
    """Inspect, validate and convert point clouds (PLY, PCD, XYZ/TXT, NPZ)."""


@pointcloud.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check every file; report every problem, exit 2 if any file is bad."""
    from scan2ad.errors import InputError, ValidationError
    from scan2ad.pointcloud import read_cloud

    bad = 0
    for p in paths:
        try:
            cloud = read_cloud(p)
            click.echo(f"ok   {p}: {len(cloud)} points")
        except InputError as exc:
            bad += 1
            click.echo(f"BAD  {exc}")
    if bad:
        raise ValidationError(f"{bad} of {len(paths)} file(s) failed validation")


@pointcloud.command()
@click.argument("path", type=click.Path(path_type=Path))
def info(path: Path) -> None:
    """Print point count, fields, bounding box and label statistics."""
    import numpy as np

    from scan2ad.pointcloud import read_cloud

    c = read_cloud(path)
    lo, hi = c.points.min(0), c.points.max(0)
    click.echo(f"{path}: {len(c)} points")
    click.echo(f"  bbox min {np.round(lo, 4).tolist()} max {np.round(hi, 4).tolist()} "
               f"diagonal {float(np.linalg.norm(hi - lo)):.4f} mm")
    click.echo(f"  normals: {'yes' if c.normals is not None else 'no'}, colors: "
               f"{'yes' if c.colors is not None else 'no'}")
    if c.labels is not None:
        click.echo(f"  labels: {int(c.labels.sum())} anomalous ({100 * c.labels.mean():.2f}%)")
    for k, v in c.extra.items():
        click.echo(f"  field {k}: shape {v.shape}, dtype {v.dtype}")


@pointcloud.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--ascii", "ascii_", is_flag=True, help="Write ASCII PLY/PCD instead of binary.")
@click.option("--overwrite", is_flag=True, help="Replace DST when it exists.")
def convert(src: Path, dst: Path, ascii_: bool, overwrite: bool) -> None:
    """Convert between formats by extension (fields that the target can hold are kept).

    DST is written only when the whole cloud converts (a cloud a format cannot hold, such as
    coordinates beyond float32 for PLY/PCD, is refused and an existing DST kept)."""
    from scan2ad.params import check_output_file
    from scan2ad.pointcloud import _fmt_of, read_cloud, write_cloud

    _fmt_of(dst, None)  # an unknown target format is refused before any work
    check_output_file(dst, overwrite, option="DST")
    c = read_cloud(src)
    write_cloud(dst, c, binary=not ascii_)
    click.echo(f"wrote {dst} ({len(c)} points)")
