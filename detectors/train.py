"""Train a detector on every class of a dataset and save the models, without testing.

``<out>/models/<class>/seed<s>/`` holds each fitted model (``Detector.save``) and
``<out>/config.json`` the settings, so ``scan2ad evaluate --models <out>`` scores with them later
(the same protocol and seeds must be given: the open-set partition decides the test samples).
"""

from __future__ import annotations

import time
from pathlib import Path

from scan2ad.config import config_to_dict
from scan2ad.detectors import data as D
from scan2ad.detectors.evaluate import EvalSettings, _train_set, partition, run_job
from scan2ad.errors import InputError
from scan2ad.io import write_json
from scan2ad.log import progress


def train(dataset: str | Path, out: str | Path, settings: EvalSettings, overwrite: bool = False) -> dict[str, float]:
    """Fit and save one model per class and seed; returns fit seconds per ``class/seed``.

    The run folder is claimed like ``evaluate``'s (:mod:`scan2ad.outputs`, staged: a failure
    leaves the previous run as it was); another method's or another job's folder is refused
    unless ``overwrite``."""
    from scan2ad.detectors.registry import REGISTRY, create
    from scan2ad.outputs import claim_output

    if settings.method not in REGISTRY:
        raise InputError(f"unknown detector {settings.method!r}; known: {', '.join(REGISTRY)}")
    root, out = Path(dataset), Path(out)
    samples = D.load_dataset(root, list(settings.classes) or None)
    classes = D.class_names(samples)
    parts = {(seed, cls): partition(samples, cls, settings, seed, root)
             for seed in settings.seeds for cls in classes}
    create(settings.method, **{**settings.overrides, "seed": settings.seeds[0]})  # settings valid?
    times = {}
    with claim_output(out, "train", run_job(settings, root), overwrite=overwrite, staging="always",
                      inputs={"the dataset": root}) as claim:
        work = claim.work
        write_json(work / "config.json", {"settings": config_to_dict(settings), "dataset": str(root.resolve()),
                                          "classes": classes})
        for seed in settings.seeds:
            for cls in progress(classes, desc=f"train {settings.method} seed {seed}"):
                det = create(settings.method, **{**settings.overrides, "seed": seed})
                t0 = time.perf_counter()
                det.fit(_train_set(parts[(seed, cls)]))
                times[f"{cls}/seed{seed}"] = time.perf_counter() - t0
                det.save(work / "models" / cls / f"seed{seed}", meta={"class": cls, "seed": seed})
    return times
