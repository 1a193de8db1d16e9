"""Demo step: train and evaluate a detector on the demo dataset (or a small synthetic one).

Open-set protocol with one seen sample per known type when the dataset has enough anomalies per
type, the one-class protocol otherwise. ``--quick``: the first class only, PatchCore on small
clouds, one heat map; otherwise Open3D-AD on every class.
"""

from __future__ import annotations

from pathlib import Path


def run(ctx) -> str:
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
    from scan2ad.detectors import data as D
    from scan2ad.detectors.evaluate import EvalSettings, evaluate

    from scan2ad.errors import InputError

    work = Path(ctx.workdir) / "detectors"
    dataset = ctx.artefacts.get("dataset")
    origin = "demo dataset"
    if dataset is None or not Path(dataset).is_dir():
        dataset = work / "synthetic"
        origin = "synthetic dataset"
        if not (dataset / "ring").is_dir():
            make_synthetic_dataset(dataset, SyntheticSpec(
                classes=("ring",) if ctx.quick else ("ring", "washer", "bracket"), n_train=4,
                n_test_normal=3, n_per_defect=2, points=2048 if ctx.quick else 8192))
    classes = D.class_names(D.load_dataset(dataset))
    method = "patchcore-fpfh" if ctx.quick else "open3d-ad"
    overrides = {"groups": 256, "group_size": 16} if ctx.quick else {}
    base = EvalSettings(method=method, protocol="open-set", k=1, seeds=(1,),
                        classes=tuple(classes[:1]) if ctx.quick else (), overrides=overrides,
                        heatmaps=1 if ctx.quick else 2)
    out = work / "run"
    try:
        payload = evaluate(dataset, out, base)
    except InputError:  # too few anomalies per type for the open-set protocol
        import dataclasses

        payload = evaluate(dataset, out, dataclasses.replace(base, protocol="one-class"))
    ctx.artefacts["detector_run"] = out
    m = payload["mean"]["overall"]
    return (f"{method} ({payload['protocol']}) on {len(payload['classes'])} class(es) of the {origin}: "
            f"O-AUROC {m['O-AUROC'][0]:.3f}, P-AUROC {m['P-AUROC'][0]:.3f}, "
            f"{payload['fps']:.1f} samples/s -> {out / 'table.md'}")
