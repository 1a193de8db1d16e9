"""``scan2ad carve``, ``scan2ad review``, ``scan2ad label`` (heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path

import click

from scan2ad.params import SEED, Float, Int

TYPES_HELP = ("Bump, Dent, Scratch, Scar, Deformation (Open-Industry); bulge, concavity, hole, break, "
              "bending, crack, scratch (Anomaly-ShapeNet)")


def _load_part(part: str, seed: int):
    """A mesh file, or ``part:<name>`` for a procedural part of the acquisition library."""
    from scan2ad.errors import InputError

    from .meshprep import load_mesh

    if part.startswith("part:"):
        try:
            from scan2ad.acquisition.parts import make_part
        except ImportError:
            raise InputError("the procedural part library (scan2ad.acquisition.parts) is not installed") from None
        return make_part(part[5:], seed)
    return load_mesh(part)


@click.command()
@click.argument("part_mesh")
@click.option("--defect", "defects", multiple=True, help=f"Defect type (repeatable): {TYPES_HELP}.")
@click.option("--spec", "spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Carve the specs of an existing defects.json instead (reproduces that sample).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of location, frame and randomness.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Sample folder.")
@click.option("--location", type=click.Choice(["random", "curvature", "given"]), default="random",
              show_default=True, help="Where to put the defect on the surface.")
@click.option("--centre", type=Float(), nargs=3, default=None, help="Point near the defect centre (mm), with --location given.")
@click.option("--radius", type=Float(0.0, min_open=True), default=None, help="Defect radius / half width (mm); default from the target ratio.")
@click.option("--depth", type=Float(0.0, min_open=True), default=None, help="Depth / height (mm).")
@click.option("--length", type=Float(0.0), default=None, help="Scratch/crack length, bending lever (mm).")
@click.option("--profile", type=click.Choice(["cosine", "gaussian", "spherical", "u", "v", "bend", "twist"]), default=None,
              help="Falloff (Bump/Dent/Scar), groove section u/v (Scratch/crack), bend/twist (Deformation).")
@click.option("--points", "n_points", type=Int(100, 10_000_000), default=30000, show_default=True, help="Points sampled on the carved part.")
@click.option("--noise-sigma", type=Float(0.0, 10.0), default=0.05, show_default=True,
              help="Scanner noise (mm); the label threshold is 3 sigma.")
@click.option("--ratio-range", type=Float(0.0, 1.0), nargs=2, default=None,
              help="Accepted fraction of anomalous points, reject the carve outside "
                   "[default: 0.005 0.026 for Open-Industry types, 0.01 0.10 for Anomaly-ShapeNet's].")
@click.option("--no-ratio-check", is_flag=True, help="Accept any anomaly ratio.")
@click.option("--draws", type=click.IntRange(1, 100), default=5, show_default=True,
              help="A carve outside the accepted ratio range is redrawn with the next seed (new location, "
                   "frame and default sizes), as the dataset builder does, up to this many draws in all.")
@click.option("--normal", is_flag=True,
              help="Write a normal (defect-free) sample instead: points sampled as a carve samples them, labels 0.")
@click.option("--review/--no-review", default=True, show_default=True, help="Also render review.png.")
@click.option("--overwrite", is_flag=True,
              help="Replace an --out folder made by another command or for another sample.")
def carve(part_mesh, defects, spec_path, seed, out, location, centre, radius, depth, length, profile,
          n_points, noise_sigma, ratio_range, no_ratio_check, draws, normal, review, overwrite):
    """Carve defects into PART_MESH (a mesh file, or part:<name>) with Blender and label the points.

    Writes OUT/cloud.ply + labels.npy, the carved mesh.ply and defects.json (and review.png). With
    --normal: the same files for the uncarved part (no defects, every label 0). OUT is written only
    when the whole sample is made: a failure leaves a previous sample there as it was.
    """
    import dataclasses

    from scan2ad.errors import InputError
    from scan2ad.outputs import claim_output

    from .labels import LabelConfig
    from .sample import carve_sample, carve_sample_redrawn
    from .specs import read_defects

    if ratio_range and not ratio_range[0] < ratio_range[1]:
        raise click.BadParameter(f"the low end must be below the high end, got {ratio_range[0]:g} "
                                 f"{ratio_range[1]:g} (allowed: 0 <= LOW < HIGH <= 1)", param_hint="--ratio-range")
    job = {"part": _part_identity(part_mesh), "defects": list(defects),
           "spec": _part_identity(str(spec_path)) if spec_path else None, "seed": seed, "location": location,
           "centre": centre, "radius": radius, "depth": depth, "length": length, "profile": profile,
           "points": n_points, "noise_sigma": noise_sigma, "ratio_range": ratio_range,
           "ratio_check": not no_ratio_check, "draws": draws, "normal": normal}
    if normal:
        given = [name for name, v in (("--defect", defects), ("--spec", spec_path), ("--centre", centre),
                                      ("--radius", radius), ("--depth", depth), ("--length", length),
                                      ("--profile", profile), ("--ratio-range", ratio_range)) if v]
        if given:
            raise InputError(f"--normal writes a sample without defects: drop {', '.join(given)}")
        with claim_output(out, "carve", job, overwrite=overwrite, staging="always", inside_ok=True,
                          inputs=_inputs(part_mesh, None)) as o:
            _normal_sample(part_mesh, seed, o.work, n_points, noise_sigma, review)
        return
    if not defects and spec_path is None:
        raise InputError("give --defect TYPE (repeatable), --spec defects.json, or --normal")
    if location == "given" and not centre:
        raise InputError("--location given needs --centre X Y Z")
    mesh = _load_part(part_mesh, seed)
    _check_sizes(mesh, {"--radius": radius, "--depth": depth, "--length": length}, part_mesh)
    cfg = LabelConfig(n_points=n_points, noise_sigma_mm=noise_sigma, check_ratio=not no_ratio_check)
    if ratio_range:
        cfg = dataclasses.replace(cfg, ratio_min=ratio_range[0], ratio_max=ratio_range[1],
                                  shapenet_ratio_min=ratio_range[0], shapenet_ratio_max=ratio_range[1])
    specs = read_defects(spec_path) if spec_path is not None else None
    if spec_path is not None:
        from scan2ad.io import read_json

        seed = int(read_json(spec_path).get("seed", seed))
        for sp in specs:
            _check_sizes(mesh, {"radius": sp.radius, "depth": sp.depth, "length": sp.length or None},
                         spec_path)
    with claim_output(out, "carve", job, overwrite=overwrite, staging="always", inside_ok=True,
                      inputs=_inputs(part_mesh, spec_path)) as o:
        kwargs = {"location": location, "centre": centre, "label_cfg": cfg, "out": o.work, "where": part_mesh,
                  "sizes": {"radius": radius, "depth": depth, "length": length, "profile": profile}}
        if specs is not None:  # a given defects.json is reproduced as it is, never redrawn
            sample = carve_sample(mesh, list(defects), seed, specs=specs, **kwargs)
        else:
            sample, used = carve_sample_redrawn(mesh, list(defects), seed, draws=draws, **kwargs)
            if used != seed:
                click.echo(f"seeds {seed}..{used - 1} labelled a ratio outside the accepted range: redrawn, "
                           f"kept seed {used} (recorded in defects.json)")
        _check_carved(sample, mesh, part_mesh)
        if sample.repair.method != "none":
            click.echo(f"repaired the mesh with {sample.repair.method}: {'; '.join(sample.repair.problems)}")
        for s in sample.specs:
            click.echo(f"{s.type}: centre {tuple(round(x, 2) for x in s.centre)} radius {s.radius:.2f} mm "
                       f"depth {s.depth:.2f} mm" + (f" length {s.length:.2f} mm" if s.length else ""))
        if review:
            from .review import review_sample

            review_sample(o.work)
    click.echo(f"{int(sample.cloud.labels.sum())}/{len(sample.cloud.labels)} points anomalous "
               f"({100 * sample.ratio:.2f}%) -> {out}")
    if review:
        click.echo(f"review: {out / 'review.png'}")


def _inputs(part: str, spec_path) -> dict:
    """The files a carve reads, kept apart from its --out (a library part is no file)."""
    return {"the part mesh": None if part.startswith("part:") else part, "the --spec file": spec_path}


def _part_identity(part: str) -> str:
    """What a sample folder's job records of a part or spec: the library name, or the file's path
    and sha256 (another mesh at the same path is another job)."""
    p = Path(part)
    if part.startswith("part:") or not p.is_file():
        return part
    from scan2ad.io import sha256_file

    return f"{p.resolve()}#sha256={sha256_file(p)}"


def _check_sizes(mesh, sizes: dict, where) -> None:
    """A defect larger than the part is not a defect: radius and depth at most half the part's
    bounding-box diagonal, length at most the diagonal (a 1000 mm Bump on a 30 mm washer made a
    spike 30 times the part)."""
    import numpy as np

    from scan2ad.errors import InputError

    lo, hi = np.asarray(mesh.bounds, float)
    diag = float(np.linalg.norm(hi - lo))
    for name, value in sizes.items():
        if value is None:
            continue
        limit = diag if "length" in name else diag / 2
        if value > limit:
            raise InputError(
                f"{name} {value:g} mm is beyond this part's size: allowed up to {limit:.3g} mm "
                f"({'the' if 'length' in name else 'half the'} part's {diag:.3g} mm bounding-box diagonal)",
                where if isinstance(where, Path) else None)


# displacement defects that push the surface inward: their carved surface stays inside the part
_INWARD = ("Dent", "concavity", "Scratch", "scratch", "crack", "Scar")


def _check_carved(sample, mesh, where: str) -> None:
    """A carve that changed no sampled point, pushed an inward defect out through the other side
    of the part, or left a mesh that is not a closed outward surface, is not a defect sample,
    whatever the ratio check says."""
    import numpy as np

    from scan2ad.errors import InputError, Scan2adError

    n = int(sample.cloud.labels.sum())
    if n == 0:
        sizes = ", ".join(f"{s.type} radius {s.radius:.3g} mm depth {s.depth:.3g} mm" for s in sample.specs)
        raise InputError(
            f"the carved defect changed no sampled point (0 of {len(sample.cloud.labels)} anomalous; {sizes}): "
            "too small for the point spacing and the 3-sigma label threshold; give a larger --radius/--depth, "
            "more --points or a smaller --noise-sigma")
    m = sample.carved_mesh
    inward = [sp for sp in sample.specs if sp.type in _INWARD]
    if inward and hasattr(m, "bounds"):
        lo, hi = np.asarray(mesh.bounds, float)
        clo, chi = np.asarray(m.bounds, float)
        out_by = float(max((lo - clo).max(), (chi - hi).max()))
        if out_by > 1e-3 * float(np.linalg.norm(hi - lo)) + 1e-6:
            sizes = ", ".join(f"{sp.type} depth {sp.depth:.3g} mm" for sp in inward)
            raise InputError(
                f"the carve went through the part ({sizes}): the carved surface leaves the part's "
                f"bounding box by {out_by:.3g} mm; choose a --depth below the part's thickness there")
    if hasattr(m, "is_volume") and not (m.is_watertight and m.is_winding_consistent and m.volume > 0):
        raise Scan2adError(
            f"carving {where} left a mesh that is not a closed, outward-facing surface (watertight "
            f"{m.is_watertight}, consistent winding {m.is_winding_consistent}, volume {m.volume:.3g} mm³); "
            "choose a smaller --depth/--radius")


def _normal_sample(part_mesh: str, seed: int, out: Path, n_points: int, noise_sigma: float, review: bool) -> None:
    from .labels import LabelConfig
    from .sample import normal_sample

    mesh = _load_part(part_mesh, seed)
    cloud = normal_sample(mesh, seed, label_cfg=LabelConfig(n_points=n_points, noise_sigma_mm=noise_sigma),
                          out=out, where=part_mesh)
    click.echo(f"normal sample: {len(cloud.points)} points, none anomalous")
    if review:
        from .review import review_sample

        review_sample(out)


def _sample_dirs(root: Path) -> list[Path]:
    if (root / "cloud.ply").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("cloud.ply"))


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="PNG path (one sample) — default <sample>/review.png, or <cloud stem>.review.png "
                   "beside a labelled cloud file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out PNG.")
def review(path, out, overwrite):
    """Render labelled samples (a sample folder, a folder of them, or a labelled cloud) to PNG.

    Anomalous points are red; four viewpoints per image.
    """
    from scan2ad.errors import InputError
    from scan2ad.log import progress
    from scan2ad.params import check_output_file

    from .review import review_sample

    targets = [path] if path.is_file() else _sample_dirs(path)
    if not targets:
        raise InputError("no labelled sample (cloud.ply) found", path)
    if out is not None and len(targets) > 1:
        raise InputError("--out names one PNG but several samples were found", path)
    if out is not None:
        check_output_file(out, overwrite, suffixes=(".png",))
    for t in progress(targets, desc="review", total=len(targets)):
        # a labelled cloud file gets its own PNG: two clouds in one folder must not share one
        png, ratio = review_sample(t, out if out is not None or t.is_dir()
                                   else t.with_name(t.stem + ".review.png"))
        click.echo(f"{png}  ({100 * ratio:.2f}% anomalous)")


@click.command()
@click.argument("cloud", type=click.Path(exists=True, path_type=Path))
@click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Start from these labels (default: the sample's labels.npy, or the cloud's).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where 's' saves labels.npy (default: beside the cloud). Unsaved work is autosaved "
                   "after every change to <out stem>.autosave.npz beside it and restored on restart. "
                   "With --import-cloudcompare: a sample folder, a labelled cloud file or a .npy.")
@click.option("--brush", type=float, default=0.0, show_default=True, help="Brush radius (mm), 0 = single point.")
@click.option("--window-size", type=int, nargs=2, default=(1200, 900), show_default=True,
              help="Window width and height (pixels).")
@click.option("--ignore-autosave", is_flag=True,
              help="Start from the saved labels even when an autosave of unsaved work exists (it is replaced "
                   "at the first edit).")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Render off screen to this PNG and exit (no window).")
@click.option("--import-cloudcompare", "cc_export", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="No window: take the labels from this CloudCompare ASCII export of CLOUD "
                                 "(a scalar field per point; any separator, optional //header and count lines).")
@click.option("--field", default=None,
              help="With --import-cloudcompare: the scalar field, by header name or 0-based column index "
                   "[default: the header's only scalar field, or column 3 of a 4-column file].")
@click.option("--threshold", type=float, default=None,
              help="With --import-cloudcompare: anomalous when the field's value > THRESHOLD (e.g. a distance "
                   "field) [default: the field must hold only 0/1; NaN counts as 0].")
@click.option("--tolerance", type=float, default=None,
              help="With --import-cloudcompare: an export point matches a point of CLOUD within this distance "
                   "(mm) [default: 0.01].")
@click.option("--overwrite", is_flag=True, help="With --import-cloudcompare: replace an existing output.")
def label(cloud, labels_path, out, brush, window_size, ignore_autosave, screenshot, cc_export, field, threshold,
          tolerance, overwrite):
    """Label anomalous points of CLOUD (a point-cloud file or a sample folder) in a pyvista window.

    Keys: p/right-click brush at the point under the mouse, l then drag a free-hand lasso, r then drag a
    rectangle, e add/erase, +/- brush radius, u undo, y redo, s save, Esc cancel a selection, q quit.

    With --import-cloudcompare EXPORT.txt no window opens: each point of CLOUD takes the label of the
    export's nearest point (within --tolerance), and OUT is written: a sample folder (cloud.ply +
    labels.npy + labels.json), a labelled cloud file (.ply/.pcd/.txt/.npz) or a labels .npy.
    """
    if cc_export is not None:
        _import_cloudcompare(cloud, cc_export, out, field, threshold, 0.01 if tolerance is None else tolerance,
                             overwrite)
        return
    stray = [name for name, v in (("--field", field), ("--threshold", threshold), ("--tolerance", tolerance),
                                  ("--overwrite", overwrite or None)) if v is not None]
    if stray:
        from scan2ad.errors import InputError

        raise InputError(f"{', '.join(stray)} only go with --import-cloudcompare")
    import math
    import os
    import sys

    from scan2ad.errors import InputError

    from .labeller import Labeller
    from .review import load_labelled, read_labels

    if not (math.isfinite(brush) and brush >= 0):
        raise InputError(f"--brush must be a finite radius >= 0 mm, got {brush}")
    if not all(16 <= v <= 10000 for v in window_size):
        raise InputError(f"--window-size must be 16..10000 pixels each, got {window_size[0]} {window_size[1]}")
    points, labels, src = load_labelled(cloud)
    if labels_path is not None:
        labels = read_labels(labels_path)  # 0/1 only, a readable array, named when not
    if out is None:
        out = (src / "labels.npy") if src.is_dir() else src.with_name(src.stem + ".labels.npy")
    if out.is_dir():
        raise InputError("--out is a folder: the labeller saves a labels .npy file", out)
    if screenshot is None and os.name != "nt" and sys.platform != "darwin" \
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError("no display for the labeller window (use --screenshot PNG off screen)", cloud)
    lab = Labeller(points, labels, save_path=out, brush_radius=brush, off_screen=screenshot is not None,
                   window_size=window_size, autosave=screenshot is None, restore=not ignore_autosave)
    if lab.message:
        click.echo(lab.message)
    if screenshot is not None:
        click.echo(f"screenshot: {lab.screenshot(screenshot)}")
        lab.close()
        return
    click.echo(Labeller.HELP)
    lab.show()
    if lab.unsaved:
        click.echo(f"quit with unsaved labels: kept in {lab.autosave.path}" if lab.autosave is not None
                   else "quit with unsaved labels")


def _import_cloudcompare(cloud: Path, export: Path, out: Path | None, field, threshold, tolerance,
                         overwrite: bool) -> None:
    import math

    import numpy as np

    from scan2ad.errors import InputError
    from scan2ad.io import atomic_path, sha256_file, write_json
    from scan2ad.pointcloud import FORMATS, PointCloud, read_cloud, write_cloud

    from .cloudcompare import import_labels

    if threshold is not None and not math.isfinite(threshold):
        raise InputError(f"--threshold must be a finite number, got {threshold}")
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise InputError(f"--tolerance must be a finite distance > 0 mm, got {tolerance}")
    src = cloud / "cloud.ply" if cloud.is_dir() else cloud
    pc = read_cloud(src)
    if out is None:
        out = (cloud / "labels.npy") if cloud.is_dir() else cloud.with_name(cloud.stem + ".labels.npy")
    imported = import_labels(pc.points, export, field, threshold, tolerance, cloud_name=src)
    kind = "npy" if out.suffix.lower() == ".npy" else (
        "cloud" if out.suffix.lower().lstrip(".") in FORMATS else "sample")
    targets = [out] if kind != "sample" else [out / "cloud.ply", out / "labels.npy", out / "labels.json"]
    if kind == "sample" and out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", out)
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise InputError(f"output exists ({', '.join(t.name for t in existing)}): give --overwrite to replace it",
                         out)
    labels = imported.labels.astype(np.uint8)
    labelled = PointCloud(pc.points, normals=pc.normals, colors=pc.colors, labels=labels, extra=pc.extra)
    if kind == "npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, labels)
    elif kind == "cloud":
        write_cloud(out, labelled)
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_cloud(out / "cloud.ply", labelled)
        with atomic_path(out / "labels.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, labels)
        write_json(out / "labels.json", {
            "source": "cloudcompare", "cloud": str(src), "cloud_sha256": sha256_file(src),
            "export": str(export), "export_sha256": sha256_file(export), "field": imported.field,
            "rule": imported.rule, "tolerance_mm": tolerance, "max_match_distance_mm": imported.max_distance,
            "points": len(labels), "anomalous_points": int(labels.sum()), "anomaly_ratio": imported.ratio})
    click.echo(f"{int(labels.sum())}/{len(labels)} points anomalous ({100 * imported.ratio:.2f}%) from "
               f"{imported.field} of {export.name} ({imported.rule}; matched within "
               f"{imported.max_distance:.3g} mm) -> {out}")
