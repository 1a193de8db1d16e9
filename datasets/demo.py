"""Demo step: build the ``demo`` spec (``tiny``-sized with --quick) and validate it.

``SCAN2AD_DEMO_SPEC`` picks another spec for the full demo: ``demo-pipeline`` builds the main job
(each scan captured on the virtual rig, reconstructed, carved in Blender, labelled; 32 samples,
about 3 minutes on 2 idle cores) instead of ``demo`` (the part library carved directly). With
--quick the step always builds ``tiny`` (seconds: the quick demo must finish in 20 s).
"""

from __future__ import annotations

import os

DEFAULT_SPEC = "demo"
SPEC_ENV = "SCAN2AD_DEMO_SPEC"


def run(ctx) -> str:
    from scan2ad.datasets.builder import build
    from scan2ad.datasets.spec import load_spec
    from scan2ad.datasets.validate import validate_dataset
    from scan2ad.errors import Scan2adError

    spec = load_spec("tiny" if ctx.quick else os.environ.get(SPEC_ENV) or DEFAULT_SPEC)
    # a spec of its own name gets a folder of its own: a build never mixes two specs' samples
    out = ctx.workdir / ("dataset" if spec.name in ("tiny", DEFAULT_SPEC) else f"dataset-{spec.name}")
    # the demo's own folder: a dataset of an earlier demo spec is rebuilt (staged) without asking
    r = build(spec, out, workers=1 if ctx.quick else ctx.workers, overwrite=True)
    problems = validate_dataset(out)
    if problems:
        raise Scan2adError(f"demo dataset invalid: {problems[:5]}")
    ctx.artefacts["dataset"] = out
    return (f"{spec.name} ({spec.source} source): {r.samples} samples, {len(spec.classes)} classes, "
            f"valid ({out})")
