"""``scan2ad parts``: list, export and render the procedural part library.

Heavy imports (trimesh, manifold3d, pyvista) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import SEED, Float, Int

MESH_SUFFIXES = (".ply", ".stl", ".obj", ".off", ".glb")


@click.group()
def parts() -> None:
    """The procedural part library (the 15 Open-Industry categories)."""


@parts.command("list")
def list_parts() -> None:
    """Print the categories: name, display name, standard, nominal size."""
    from scan2ad.acquisition.parts import PART_INFO

    width = max(len(n) for n in PART_INFO)
    for name, info in PART_INFO.items():
        click.echo(
            f"{name:<{width}}  {info.display_name:<27}  {info.standard} {info.nominal_size}"
            f"  (~{info.nominal_extent_mm:.0f} mm)"
        )


@parts.command("export")
@click.argument("name")
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Seed of the part's variation."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help=f"Mesh file to write ({', '.join(MESH_SUFFIXES)}); millimetres, resting pose.",
)
@click.option(
    "--variation",
    type=Float(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="Spread of the instances around the nominal part: 1 = the standard's whole tolerance "
    "band, 0.1 = one production batch, 0 = the nominal part.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out when it exists.")
def export_part(name: str, seed: int, out: Path, variation: float, overwrite: bool) -> None:
    """Write one part NAME (see `scan2ad parts list`) as a watertight mesh file."""
    from scan2ad.acquisition.parts import make_part
    from scan2ad.errors import InputError
    from scan2ad.io import atomic_path
    from scan2ad.params import check_output_file

    if out.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(
            f"unsupported mesh format {out.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}", out
        )
    check_output_file(out, overwrite)
    mesh = make_part(name, seed, variation)
    with atomic_path(out) as tmp:
        mesh.export(tmp, file_type=out.suffix.lower().lstrip("."))
    lo, hi = mesh.bounds
    click.echo(
        f"{name} seed {seed}: {len(mesh.faces)} triangles, {mesh.volume:.1f} mm³, "
        f"extent {hi[0] - lo[0]:.1f} × {hi[1] - lo[1]:.1f} × {hi[2] - lo[2]:.1f} mm -> {out}"
    )


@parts.command("render")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="PNG contact sheet to write."
)
@click.option(
    "--seeds",
    type=Int(1, 8),
    default=1,
    show_default=True,
    help="Seeds per part shown side by side in each cell (to judge the variation).",
)
@click.option("--overwrite", is_flag=True, help="Replace --out when it exists.")
def render_parts(out: Path, seeds: int, overwrite: bool) -> None:
    """Render all 15 parts into a labelled 5 × 3 contact sheet (pyvista, off-screen)."""
    from scan2ad.acquisition.parts.render import render_contact_sheet
    from scan2ad.params import check_output_file

    check_output_file(out, overwrite, suffixes=(".png",))

    path = render_contact_sheet(out, seeds=seeds)
    click.echo(f"contact sheet of 15 parts × {seeds} seed(s) -> {path}")
