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
from scan2ad.detectors.evaluate import EvalSettings, _train_set, partition
from scan2ad.errors import InputError
from scan2ad.io import write_json
from scan2ad.log import progress


def train(dataset: str | Path, out: str | Path, settings: EvalSettings) -> dict[str, float]:
    """Fit and save one model per class and seed; returns fit seconds per ``class/seed``."""
    from scan2ad.detectors.registry import REGISTRY, create

    if settings.method not in REGISTRY:
        raise InputError(f"unknown detector {settings.method!r}; known: {', '.join(REGISTRY)}")
    root, out = Path(dataset), Path(out)
    samples = D.load_dataset(root, list(settings.classes) or None)
    classes = D.class_names(samples)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"settings": config_to_dict(settings), "dataset": str(root.resolve()),
                                     "classes": classes})
    times = {}
    for seed in settings.seeds:
        for cls in progress(classes, desc=f"train {settings.method} seed {seed}"):
            part = partition(samples, cls, settings, seed, root)
            det = create(settings.method, **{**settings.overrides, "seed": seed})
            t0 = time.perf_counter()
            det.fit(_train_set(part))
            times[f"{cls}/seed{seed}"] = time.perf_counter() - t0
            det.save(out / "models" / cls / f"seed{seed}")
    return times
