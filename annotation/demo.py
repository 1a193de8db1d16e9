"""Demo step: carve a defect into a part mesh, label it, render the review PNG.

Uses the reconstruction step's mesh (``ctx.artefacts["mesh"]``, a path) when there is one, else a
procedural part of the acquisition library (or a trimesh primitive when that library is absent).
"""

from __future__ import annotations

from pathlib import Path


def _reconstructed_mesh(ctx) -> Path | None:
    mesh_path = ctx.artefacts.get("mesh")
    if mesh_path is None and ctx.artefacts.get("recon") is not None:
        mesh_path = Path(ctx.artefacts["recon"]) / "mesh.ply"
    return Path(mesh_path) if mesh_path is not None and Path(mesh_path).is_file() else None


def _procedural_mesh():
    try:
        from scan2ad.acquisition.parts import make_part

        return make_part("heavy_washer", 0), "heavy_washer"
    except ImportError:
        import trimesh

        return trimesh.creation.annulus(r_min=5.0, r_max=15.0, height=6.0, sections=96), "annulus"


def run(ctx) -> str:
    from scan2ad.errors import Scan2adError

    from .labels import LabelConfig
    from .meshprep import load_mesh
    from .review import review_sample
    from .sample import carve_sample

    out = Path(ctx.workdir) / "annotation" / "sample_Dent"
    cfg = LabelConfig(n_points=8000 if ctx.quick else 30000)
    note = ""
    recon = _reconstructed_mesh(ctx)
    sample = None
    if recon is not None:
        name = f"reconstructed {recon.name}"
        try:
            sample = carve_sample(load_mesh(recon), ["Dent"], seed=3, label_cfg=cfg, out=out, where=recon)
        except Scan2adError as exc:  # e.g. an unrepairable quick-mode mesh: say so, use a procedural part
            note = f" (reconstructed mesh refused: {exc})"
    if sample is None:
        mesh, name = _procedural_mesh()
        sample = carve_sample(mesh, ["Dent"], seed=3, label_cfg=cfg, out=out, where=name)
    png, _ = review_sample(out)
    ctx.artefacts["carved_sample"] = out
    return (f"carved a Dent into {name} ({sample.specs[0].radius:.1f} mm radius, {sample.specs[0].depth:.2f} mm "
            f"deep), {100 * sample.ratio:.2f}% anomalous points -> {out}, review {png.name}{note}")
