"""Demo step: build the ``demo`` spec (``tiny``-sized with --quick) and validate it."""

from __future__ import annotations


def run(ctx) -> str:
    from scan2ad.datasets.builder import build
    from scan2ad.datasets.spec import load_spec
    from scan2ad.datasets.validate import validate_dataset

    from scan2ad.errors import Scan2adError

    spec = load_spec("tiny" if ctx.quick else "demo")
    out = ctx.workdir / "dataset"
    r = build(spec, out, workers=1 if ctx.quick else ctx.workers)
    problems = validate_dataset(out)
    if problems:
        raise Scan2adError(f"demo dataset invalid: {problems[:5]}")
    ctx.artefacts["dataset"] = out
    return f"{spec.name}: {r.samples} samples, {len(spec.classes)} classes, valid ({out})"
