"""Demo step: carve a defect into a part mesh, label it, render the review PNG.

Uses the reconstruction step's mesh (``ctx.artefacts["mesh"]``, a path) when there is one, else a
procedural part of the acquisition library (or a trimesh primitive when that library is absent).
"""

from __future__ import annotations

from pathlib import Path


def _part_mesh(ctx):
    mesh_path = ctx.artefacts.get("mesh")
    if mesh_path is not None and Path(mesh_path).is_file():
        from .meshprep import load_mesh

        return load_mesh(mesh_path), Path(mesh_path).name
    try:
        from scan2ad.acquisition.parts import make_part

        return make_part("heavy_washer", 0), "heavy_washer"
    except ImportError:
        import trimesh

        return trimesh.creation.annulus(r_min=5.0, r_max=15.0, height=6.0, sections=96), "annulus"


def run(ctx) -> str:
    from .labels import LabelConfig
    from .review import review_sample
    from .sample import carve_sample

    mesh, name = _part_mesh(ctx)
    out = Path(ctx.workdir) / "annotation" / "sample_Dent"
    cfg = LabelConfig(n_points=8000 if ctx.quick else 30000)
    sample = carve_sample(mesh, ["Dent"], seed=3, label_cfg=cfg, out=out, where=name)
    png, _ = review_sample(out)
    ctx.artefacts["carved_sample"] = out
    return (f"carved a Dent into {name} ({sample.specs[0].radius:.1f} mm radius, {sample.specs[0].depth:.2f} mm "
            f"deep), {100 * sample.ratio:.2f}% anomalous points -> {out}, review {png.name}")
