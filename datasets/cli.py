"""CLI: ``scan2ad build`` and ``scan2ad dataset validate|stats|splits|gallery|export``.

Heavy imports happen inside the commands so ``scan2ad --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("spec", type=str)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset folder to write.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel workers (default: all cores).")
@click.option("--address", type=str, default=None, help="Ray cluster HOST:PORT (--executor ray).")
@click.option("--overwrite", is_flag=True, help="Replace an OUT dataset of another spec (or a folder "
              "build did not make); the old one stays until the new build completes.")
@click.option("--allow-large", is_flag=True, help="Build a spec estimated at more than 50 GB or "
              "24 CPU hours, or more than the free disk space.")
def build(spec: str, out: Path, executor: str, workers: int | None, address: str | None,
          overwrite: bool, allow_large: bool) -> None:
    """Build a dataset from SPEC (a TOML file or a shipped spec: tiny, demo,
    open-industry-full, tiny-pipeline, demo-pipeline).

    Units are cached in OUT/.build: rerunning after a kill finishes the same dataset.

    \b
    Your own parts: an entry of `classes` may be a table instead of a
    library name; paths are glob patterns relative to the spec file:
      classes = ["heavy_washer",
        { name = "bracket", meshes = ["parts/bracket_*.stl"], units = "mm",
          size_jitter = 0.05 },
        { name = "hinge", sessions = ["scans/hinge_*"],
          real_anomalies = [{ path = "labelled/hinge_dent", type = "Dent" }] },
        { name = "knob", clouds = ["recon/knob_*"] }]
    \b
      meshes    ply/stl/obj files, one part instance each, in `units`
                (mm|cm|m|in; size checked, repaired or refused by name),
                carved (source = "carve") or scanned on the virtual rig
                first (source = "pipeline")
      sessions  folders of `scan2ad capture` (real or virtual rig): each
                reconstructed once, defects carved into its mesh and
                applied to its measured points
      clouds    reconstruction folders (part.ply + mesh.ply): carved as
                sessions are
      real_anomalies  hand-labelled captures of defective parts (a folder
                of cloud.ply + labels.npy, as `scan2ad label` saves): extra
                test samples of their type, counted apart in stats.csv
    Train and test never share a session or cloud (a class needs two).
    The manifest records every sample's source file and its sha256."""
    import shutil

    from scan2ad.datasets.budget import LIMIT_CPU_HOURS, LIMIT_GB, estimate
    from scan2ad.datasets.builder import build as run_build
    from scan2ad.datasets.spec import load_spec
    from scan2ad.datasets.validate import validate_dataset
    from scan2ad.errors import InputError, Scan2adError
    from scan2ad.outputs import check_apart

    s = load_spec(spec)
    check_apart(out, {"the spec file": spec if Path(spec).is_file() else None}, inside_ok=True)
    budget = estimate(s)
    probe = next((p for p in (out, *out.absolute().parents) if p.exists()), Path("."))
    free_gb = shutil.disk_usage(probe).free / 1e9
    if not allow_large and (budget.large or budget.disk_gb > free_gb):
        why = (f"only {free_gb:.1f} GB are free there" if budget.disk_gb > free_gb
               else f"beyond {LIMIT_GB:.0f} GB or {LIMIT_CPU_HOURS:.0f} CPU hours")
        raise InputError(f"this spec asks for {budget.text()} ({why}); check n_train, n_test_normal, "
                         f"n_per_defect, points and classes, or pass --allow-large to build it anyway", spec)
    r = run_build(s, out, executor=executor, workers=workers, address=address, overwrite=overwrite)
    problems = validate_dataset(out)
    click.echo(f"built {s.name}: {r.samples} samples in {out} ({r.ran} units ran, {r.cached} cached, "
               f"{r.seconds:.1f} s)")
    if problems:
        raise Scan2adError("the built dataset does not validate:\n  " + "\n  ".join(problems))


@click.group()
def dataset() -> None:
    """Validate, describe and read datasets."""


@dataset.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["open-industry", "real3d-ad", "anomaly-shapenet", "iec3d-ad"]),
              default=None, help="Validate a public release in this layout as it is shipped (test/good/, GT/, "
                                 "gt-only anomalies, csv with a header); manifest and splits only when present. "
                                 "Default: a dataset scan2ad built (Open-Industry layout, manifest and splits required).")
def validate(root: Path, fmt: str | None) -> None:
    """Check layout, names, gt files, manifest and splits; list every problem (exit 2)."""
    from scan2ad.datasets.validate import validate_dataset
    from scan2ad.errors import ValidationError

    problems = validate_dataset(root, fmt)
    if problems:
        for p in problems:
            click.echo(f"  - {p}")
        raise ValidationError(f"{len(problems)} problem(s), listed above", root)
    click.echo(f"{root}: valid")


@dataset.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None, help="Layout (default: detected).")
def stats(root: Path, fmt: str | None) -> None:
    """Print Table-II-style statistics of any supported dataset."""
    from scan2ad.datasets.package import _md_table, sample_record, stats_rows
    from scan2ad.datasets.readers import read_dataset
    from scan2ad.log import progress

    samples = read_dataset(root, fmt)
    recs = [sample_record(root, s) for s in progress(samples, desc="reading", total=len(samples))]
    click.echo(_md_table(stats_rows(recs)))


@dataset.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--write", is_flag=True, help="(Re)package: write manifest, splits, stats, README.")
@click.option("--gallery/--no-gallery", default=True, help="With --write: render the gallery.")
def splits(root: Path, write: bool, gallery: bool) -> None:
    """List the open-set split files per class; --write packages the folder first."""
    from scan2ad.datasets.formats.open_industry import read_open_industry
    from scan2ad.datasets.package import package_dataset
    from scan2ad.datasets.splits import list_splits

    if write:
        package_dataset(root, gallery=gallery)
    for cls in sorted({s.cls for s in read_open_industry(root)}):
        found = list_splits(root, cls)
        kinds = sorted({"+".join(k) for k, _, _ in found})
        ks = sorted({k for _, k, _ in found})
        seeds = sorted({s for _, _, s in found})
        click.echo(f"{cls}: {len(found)} split(s); known {kinds}; k {ks}; seeds {seeds}")


@dataset.command()
@click.argument("root", type=click.Path(path_type=Path))
def gallery(root: Path) -> None:
    """Render gallery/<class>.png (a normal sample and one per defect type, anomalies red)."""
    from scan2ad.datasets.package import render_gallery
    from scan2ad.datasets.readers import read_dataset

    samples = read_dataset(root)
    for cls in sorted({s.cls for s in samples}):
        click.echo(str(render_gallery(root, samples, cls)))


@dataset.command("export")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True,
              type=click.Choice(["open-industry", "real3d-ad", "anomaly-shapenet"]),
              help="Layout to write (the one the other group's loader reads).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--from-format", "src_fmt", default=None, help="Layout of ROOT (default: detected).")
@click.option("--class", "classes", multiple=True, help="Only this class (repeatable).")
@click.option("--exclude-split", type=click.Path(path_type=Path), default=None,
              help="Leave out the samples a split JSON selects (its k seen anomalies), for loaders "
                   "without an open-set protocol.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty OUT that no export made.")
def export(root: Path, fmt: str, out: Path, src_fmt: str | None, classes: tuple[str, ...],
           exclude_split: Path | None, overwrite: bool) -> None:
    """Write ROOT's samples to OUT in another group's layout (Real3D-AD, Anomaly-ShapeNet or the
    authors' Open-Industry layout), so their code reads exactly our samples."""
    from scan2ad.datasets.export import export_dataset
    from scan2ad.datasets.readers import read_dataset
    from scan2ad.errors import InputError
    from scan2ad.io import read_json
    from scan2ad.log import progress

    samples = read_dataset(root, src_fmt, classes=list(classes) or None)
    exclude: set[str] = set()
    if exclude_split is not None:
        doc = read_json(exclude_split)
        if "selected_relpaths" not in doc:
            raise InputError("split file has no 'selected_relpaths'", exclude_split)
        exclude = set(doc["selected_relpaths"])
        missing = sorted(exclude - {s.relpath for s in samples})
        if missing:
            raise InputError(f"split names {len(missing)} sample(s) not in the dataset: {missing[:3]}",
                             exclude_split)
    written = export_dataset(samples, out, fmt, source=root, exclude=exclude, overwrite=overwrite,
                             progress=lambda it: progress(it, desc=f"export {fmt}", total=len(it)))
    click.echo(f"exported {len(written)} samples to {out} ({fmt})")
