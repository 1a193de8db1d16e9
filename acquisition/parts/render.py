"""Contact sheet of the part library: one labelled off-screen pyvista view per category (5 × 3),
so a person can judge at a glance whether the parts look like the real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.errors import InputError
from scan2ad.io import atomic_path
from scan2ad.log import progress

from . import PART_INFO, PART_NAMES, make_part


def render_contact_sheet(
    out: str | Path,
    seeds: int = 1,
    names: tuple[str, ...] = PART_NAMES,
    cell_px: int = 420,
    columns: int = 5,
) -> Path:
    """Write a PNG grid of ``names`` (default all 15). With ``seeds`` > 1 each cell shows seeds
    0..seeds−1 side by side, so the intra-class variation is visible. Returns the path written."""
    from scan2ad.render import offscreen_pyvista

    pv = offscreen_pyvista()

    if seeds < 1:
        raise InputError(f"seeds must be at least 1, got {seeds}")
    unknown = [n for n in names if n not in PART_INFO]
    if unknown:
        raise InputError(f"unknown parts {unknown}; known parts: {', '.join(PART_NAMES)}")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError("the contact sheet is written as PNG; give an --out ending in .png", out)
    rows = int(np.ceil(len(names) / columns))
    plotter = pv.Plotter(
        off_screen=True,
        shape=(rows, columns),
        window_size=(cell_px * columns, cell_px * rows),
        border=True,
        border_color="gray",
    )
    for idx, name in enumerate(progress(names, desc="render parts", total=len(names))):
        plotter.subplot(idx // columns, idx % columns)
        plotter.set_background("white")
        offset = 0.0
        for seed in range(seeds):
            mesh = make_part(name, seed)
            if seed:
                offset += mesh.extents[0] * 0.6
            grid = pv.wrap(mesh)
            grid.translate([offset, 0.0, 0.0], inplace=True)
            offset += mesh.extents[0] * 0.6
            plotter.add_mesh(
                grid,
                color=(0.72, 0.74, 0.78),
                smooth_shading=False,
                specular=0.4,
                specular_power=20,
                ambient=0.15,
                diffuse=0.8,
            )
        info = PART_INFO[name]
        plotter.add_text(
            f"{info.display_name}\n{info.standard} {info.nominal_size}",
            position=(0.03, 0.86),
            viewport=True,
            font_size=max(6, cell_px // 42),
            color="black",
        )
        plotter.camera_position = "iso"
        plotter.camera.elevation = -12.0
        plotter.reset_camera()
        plotter.camera.zoom(0.95)
    with atomic_path(out) as tmp:
        plotter.screenshot(str(tmp))
    plotter.close()
    return out
