"""Evaluate a detector on a dataset folder under the one-class or the open-set protocol.

For every seed and class: partition (:mod:`.data`), fit (or load a trained model), score the test
samples once they are loaded, compute the metrics of every subset (:mod:`.metrics`). The run
folder gets (DESIGN §3):

    config.json      the settings, dataset, software version
    models/<class>/seed<s>/{config.json, model.pt}
    metrics.json     per seed / subset / class, per class mean ± std, class means ± std, speed,
                     the versions of the key libraries (:func:`scan2ad.versions.library_versions`)
    per_class.csv    subset, class, metric, mean, std
    table.md         the papers' table: per class rows, mean ± std over seeds, Average row
    plots/           ROC and PR curves per class, point-score heat maps

FPS is test samples per second of ``score_batch`` after the data is loaded (Open3D-AD §V-E), with
the process CPU seconds per sample beside it (wall-clock FPS depends on what else the machine
runs; CPU time much less);
peak memory is the peak resident set size of the process during this run (Linux: the kernel's
high-water mark ``VmHWM`` is reset when the run starts, so benchmark rows of several methods in
one process are each their own; elsewhere the process's lifetime peak); parameters are the
numbers the model stores (weights and memory banks).

``feature_cache`` (``--feature-cache DIR``) makes every feature extraction of the run go through
the on-disk cache of :mod:`scan2ad.detectors.features.disk_cache`, shared by every run that
names the same folder (Open3D-AD's M1-M9 at every k and seed compute each cloud's multi-FPFH
once). The scores do not change; metrics.json's ``feature_cache`` counts the hits and misses of
fitting and of scoring, and a run whose scoring hit the cache says in table.md that its FPS is
not the method's own.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from scan2ad.config import check_ranges, config_to_dict, doc
from scan2ad.datasets.samples import load_sample
from scan2ad.detectors import data as D
from scan2ad.detectors.base import TrainSet
from scan2ad.detectors.metrics import METRICS, class_mean, class_metrics, fmt, mean_std
from scan2ad.errors import InputError
from scan2ad.io import atomic_open, read_json, write_json
from scan2ad.log import get_logger, progress
from scan2ad.versions import library_versions

log = get_logger(__name__)
PROTOCOLS = ("one-class", "open-set")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    method: str = doc("registry name of the detector", "patchcore-fpfh")
    protocol: str = doc("one-class | open-set", "one-class")
    known: tuple[str, ...] = doc("open-set: known (seen) defect types; empty = first half of each "
                                 "class's sorted types", ())
    k: int = doc("open-set: seen anomalies per known type in training (5 or 10 in the paper)", 5, ge=1)
    seeds: tuple[int, ...] = doc("seeds; results are mean ± std over them (paper: 1-5)", (1,), ge=0)
    classes: tuple[str, ...] = doc("classes to run (empty = all)", ())
    overrides: dict[str, Any] = doc("detector settings on top of the registry entry", {})
    heatmaps: int = doc("point-score heat maps per class (first seed; most anomalous samples + "
                        "the most normal-looking normal sample)", 2, ge=0)
    plots: bool = doc("write ROC / PR curves and heat maps", True)
    save_models: bool = doc("save every fitted model under models/", True)
    feature_cache: str = doc("folder of the on-disk feature cache shared by runs "
                             "(:mod:`scan2ad.detectors.features.disk_cache`; '' = none). Scores are "
                             "the same with or without it; scoring speed is then the cache's, "
                             "which metrics.json's feature_cache counts say", "")
    feature_cache_gb: float = doc("bound on the feature cache's size in GB (least recently used "
                                  "entries go first; 0 = unbounded)", 0.0, ge=0)

    def __post_init__(self):
        check_ranges(self)
        if not self.seeds:
            raise InputError("no seeds given (e.g. --seeds 1 or --seeds 1-5)")
        if self.protocol not in PROTOCOLS:
            raise InputError(f"unknown protocol {self.protocol!r} ({', '.join(PROTOCOLS)})")
        if self.known and self.protocol != "open-set":
            raise InputError(f"--known {','.join(self.known)} applies to --protocol open-set only "
                             f"(this run is {self.protocol})")
        if "seed" in self.overrides:  # it would be replaced by each of --seeds without a word
            raise InputError("the detector's seed is set by --seeds (e.g. --seeds 3 or 1-5), not --set seed")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size in MB since the last :func:`reset_peak_rss` (or process start)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def partition(samples, cls: str, s: EvalSettings, seed: int, root: Path) -> D.Partition:
    if s.protocol == "one-class":
        return D.one_class_partition(samples, cls)
    if s.protocol == "open-set":
        return D.open_set_partition(samples, cls, s.known or None, s.k, seed, root)
    raise InputError(f"unknown protocol {s.protocol!r} (one-class, open-set)")


def _train_set(part: D.Partition):
    normal = [load_sample(x) for x in part.train_normal]
    anomalies = [load_sample(x) for x in part.train_anomalies]
    return TrainSet(normal, anomalies, [x.defect_type for x in part.train_anomalies], part.cls)


def run_job(settings: EvalSettings, root: Path) -> dict:
    """What decides a run folder's result (its :mod:`scan2ad.outputs` job): a run folder holds
    one method's results on one dataset under one protocol, seeds, classes and settings."""
    return {"method": settings.method, "protocol": settings.protocol, "known": list(settings.known),
            "k": settings.k if settings.protocol == "open-set" else None, "seeds": list(settings.seeds),
            "classes": list(settings.classes), "overrides": settings.overrides,
            "dataset": str(root.resolve())}


def check_models(models_from: Path, method: str, classes: list[str], seeds: tuple[int, ...]) -> None:
    """Refuse ``--models`` of another method, class or seed before anything runs."""
    if not models_from.is_dir():
        raise InputError("--models: no such train run folder", models_from)
    for cls in classes:
        for seed in seeds:
            mdir = models_from / "models" / cls / f"seed{seed}"
            if not (mdir / "config.json").is_file():
                have = sorted(p.name for p in (models_from / "models").glob("*")) if (models_from / "models").is_dir() else []
                raise InputError(f"--models has no model for class {cls!r} seed {seed} (expected {mdir}; "
                                 f"it has classes {have or 'none'}): train it with the same --class and --seeds",
                                 models_from)
            meta = read_json(mdir / "config.json")
            if meta.get("detector") != method:
                raise InputError(f"--models holds {meta.get('detector')!r} models, this evaluation is of "
                                 f"{method!r}: give -m {meta.get('detector')} or the models of a {method} run",
                                 mdir)
            if meta.get("class") not in (None, cls):
                raise InputError(f"--models: the model in {mdir.name} of class folder {cls!r} was trained on "
                                 f"class {meta['class']!r}, not {cls!r}", mdir)


def evaluate(dataset: str | Path, out: str | Path, settings: EvalSettings,
             models_from: str | Path | None = None, overwrite: bool = False) -> dict:
    """Run the evaluation and write the run folder; returns the metrics.json payload.

    The run folder is claimed (:mod:`scan2ad.outputs`): another job's or a foreign folder is
    refused unless ``overwrite``; everything is written into a staging folder that replaces
    ``out`` only when complete, so a failure leaves the previous run as it was."""
    from scan2ad.detectors.registry import REGISTRY, create
    from scan2ad.outputs import claim_output

    if settings.method not in REGISTRY:
        raise InputError(f"unknown detector {settings.method!r}; known: {', '.join(REGISTRY)}")
    root, out = Path(dataset), Path(out)
    samples = D.load_dataset(root, list(settings.classes) or None)
    classes = D.class_names(samples)
    # every partition up front, so a bad request fails before anything is written
    parts = {(seed, cls): partition(samples, cls, settings, seed, root)
             for seed in settings.seeds for cls in classes}
    create(settings.method, **{**settings.overrides, "seed": settings.seeds[0]})  # settings valid?
    if models_from is not None:
        models_from = Path(models_from)
        check_models(models_from, settings.method, classes, settings.seeds)
    from scan2ad.detectors.features.disk_cache import DiskFeatureCache, disk_cache

    cache = DiskFeatureCache(settings.feature_cache, settings.feature_cache_gb) if settings.feature_cache else None
    with claim_output(out, "evaluate", run_job(settings, root), overwrite=overwrite, staging="always",
                      accept=("train",), inputs={"the dataset": root}) as claim, disk_cache(cache):
        return _evaluate_into(claim.work, root, settings, classes, parts, models_from)


def evaluate_many(jobs: list[tuple[str | Path, str | Path, EvalSettings]], overwrite: bool = False) -> list[dict]:
    """:func:`evaluate` of every (dataset, out, settings) in turn: one worker's share of a
    parallel protocol run (``benchmarks/paper_tables.py --workers``), kept in one process so that
    runs reading the same clouds follow each other and share the feature cache."""
    return [evaluate(dataset, out, settings, overwrite=overwrite) for dataset, out, settings in jobs]


def _evaluate_into(out: Path, root: Path, settings: EvalSettings, classes: list[str], parts: dict,
                   models_from: Path | None) -> dict:
    from scan2ad.detectors.base import Detector
    from scan2ad.detectors.features.disk_cache import active
    from scan2ad.detectors.metrics import json_numbers, undefined_reason
    from scan2ad.detectors.registry import create

    reset_peak_rss()
    write_json(out / "config.json", {"settings": config_to_dict(settings), "dataset": str(root.resolve()),
                                     "classes": classes, "models_from": str(models_from or "")})
    per_seed: dict[int, dict[str, dict[str, dict[str, float]]]] = {}
    speed = {"fps": [], "cpu_s": [], "fit_s": [], "parameters": 0, "points_per_sample": []}
    keep: dict[str, dict] = {}     # first seed's scores per class, for the plots
    undefined: list[dict] = []
    cache = active()
    cached = {"fit_hits": 0, "fit_misses": 0, "score_hits": 0, "score_misses": 0}
    for seed in settings.seeds:
        per_seed[seed] = {}
        for cls in progress(classes, desc=f"{settings.method} seed {seed}"):
            part = parts[(seed, cls)]
            mdir = out / "models" / cls / f"seed{seed}"
            t0 = time.perf_counter()
            h0, m0 = (cache.hits, cache.misses) if cache else (0, 0)
            if models_from is not None:
                det = Detector.load(models_from / "models" / cls / f"seed{seed}")
            else:
                det = create(settings.method, **{**settings.overrides, "seed": seed})
                det.fit(_train_set(part))
            fit_s = time.perf_counter() - t0
            if cache:
                cached["fit_hits"] += cache.hits - h0
                cached["fit_misses"] += cache.misses - m0
            if settings.save_models:
                det.save(mdir, meta={"class": cls, "seed": seed})
            test = [load_sample(x) for x in part.test]
            h0, m0 = (cache.hits, cache.misses) if cache else (0, 0)
            t0, c0 = time.perf_counter(), time.process_time()
            scores = det.score_batch([c.points for c in test])
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if cache:
                cached["score_hits"] += cache.hits - h0
                cached["score_misses"] += cache.misses - m0
            speed["fps"].append(len(test) / max(dt, 1e-9))
            speed["cpu_s"].append(dc / len(test))
            speed["fit_s"].append(fit_s)
            speed["parameters"] = max(speed["parameters"], det.parameter_count())
            speed["points_per_sample"].append(float(np.mean([len(c) for c in test])))
            for subset, members in part.subsets().items():
                idx = [i for i, x in enumerate(part.test) if x in members]
                labels, point_labels = [part.test[i].label for i in idx], [test[i].labels for i in idx]
                per_seed[seed].setdefault(subset, {})[cls] = class_metrics(
                    labels, [scores[i].object for i in idx], point_labels, [scores[i].points for i in idx])
                for metric, why in undefined_reason(labels, point_labels).items():
                    undefined.append({"seed": seed, "subset": subset, "class": cls, "metric": metric,
                                      "reason": why})
            if cls not in keep:
                keep[cls] = {"part": part, "test": test, "scores": scores}
            log.info("%s %s seed %d: %s", settings.method, cls, seed, per_seed[seed]["overall"][cls])
    for u in undefined:
        log.warning("%s of %s (%s, seed %d) is %s", u["metric"], u["class"], u["subset"], u["seed"], u["reason"])
    payload = summarise(settings, per_seed, speed, classes)
    payload["known_per_class"] = {cls: list(parts[(settings.seeds[0], cls)].known) for cls in classes}
    payload["undefined"] = undefined
    if cache:
        n, size = cache.usage()
        payload["feature_cache"] = {"folder": str(cache.folder), **cached, "entries": n, "bytes": size}
        log.info("%s: %s", settings.method, cache.summary())
    payload = json_numbers(payload)
    write_json(out / "metrics.json", payload)
    _write_csv(out / "per_class.csv", payload)
    with atomic_open(out / "table.md") as fh:
        fh.write(table_markdown(payload))
    if settings.plots:
        _plots(out / "plots", settings, keep)
    return payload


def summarise(settings: EvalSettings, per_seed, speed, classes) -> dict:
    subsets = list(next(iter(per_seed.values())).keys())
    per_class: dict[str, dict[str, dict[str, list[float]]]] = {}
    mean: dict[str, dict[str, list[float]]] = {}
    for sub in subsets:
        per_class[sub] = {c: {m: list(mean_std([per_seed[s][sub][c][m] for s in per_seed]))
                              for m in METRICS} for c in classes}
        means = [class_mean(per_seed[s][sub]) for s in per_seed]
        mean[sub] = {m: list(mean_std([x[m] for x in means])) for m in METRICS}
    return {
        "method": settings.method, "protocol": settings.protocol, "seeds": list(settings.seeds),
        "known": list(settings.known), "k": settings.k if settings.protocol == "open-set" else None,
        "classes": classes, "subsets": subsets,
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "per_class": per_class, "mean": mean,
        "fps": float(np.mean(speed["fps"])), "cpu_seconds_per_sample": float(np.mean(speed["cpu_s"])),
        "fit_seconds": float(np.mean(speed["fit_s"])),
        "points_per_sample": float(np.mean(speed["points_per_sample"])),
        "peak_rss_mb": peak_rss_mb(), "parameters": int(speed["parameters"]),
        "libraries": library_versions(),
    }


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def _write_csv(path: Path, payload: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["subset", "class", "metric", "mean", "std"])
    for sub, rows in payload["per_class"].items():
        for cls, ms in rows.items():
            for m, (mu, sd) in ms.items():
                w.writerow([sub, cls, m, _num(mu), _num(sd)])
        for m, (mu, sd) in payload["mean"][sub].items():
            w.writerow([sub, "Average", m, _num(mu), _num(sd)])
    with atomic_open(path) as fh:
        fh.write(buf.getvalue())


def table_markdown(payload: dict) -> str:
    """Per subset, one row per class and an Average row, mean ± std in percent."""
    lines = [f"# {payload['method']} — {payload['protocol']}"
             + (f", k = {payload['k']}" if payload.get("k") else "")
             + f", seeds {', '.join(map(str, payload['seeds']))}", ""]
    for sub in payload["subsets"]:
        lines += [f"## {sub.capitalize()}", "", "| class | " + " | ".join(METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for cls, ms in payload["per_class"][sub].items():
            lines.append(f"| {cls} | " + " | ".join(fmt(*ms[m]) for m in METRICS) + " |")
        lines.append("| **Average** | " + " | ".join(fmt(*payload["mean"][sub][m]) for m in METRICS) + " |")
        lines.append("")
    lines.append(f"FPS (after loading, ~{payload['points_per_sample']:.0f} points/sample): "
                 f"{payload['fps']:.2f} ({payload['cpu_seconds_per_sample']:.2f} CPU s/sample) · "
                 f"fit {payload['fit_seconds']:.1f} s/class · "
                 f"peak RSS {payload['peak_rss_mb']:.0f} MB · parameters {payload['parameters']:,}")
    fc = payload.get("feature_cache")
    if fc and fc.get("score_hits"):
        lines.append(f"\nScoring read {fc['score_hits']} of {fc['score_hits'] + fc['score_misses']} feature "
                     f"sets from the feature cache ({fc['folder']}): the FPS is not the method's own.")
    return "\n".join(lines) + "\n"


def _plots(folder: Path, settings: EvalSettings, keep: dict) -> None:
    from scan2ad.detectors.plots import curves_png, heatmap_png

    for cls, k in keep.items():
        part, test, scores = k["part"], k["test"], k["scores"]
        curves_o, curves_p = {}, {}
        for sub, members in part.subsets().items():
            idx = [i for i, x in enumerate(part.test) if x in members]
            curves_o[sub] = (np.array([part.test[i].label for i in idx]), np.array([scores[i].object for i in idx]))
        curves_p["points"] = (np.concatenate([c.labels for c in test]).astype(int),
                              np.concatenate([s.points for s in scores]))
        for kind in ("roc", "pr"):
            curves_png(folder / f"{kind}_object_{cls}.png", f"{settings.method} {cls}: object", curves_o, kind)
            curves_png(folder / f"{kind}_point_{cls}.png", f"{settings.method} {cls}: point", curves_p, kind)
        if settings.heatmaps <= 0:
            continue
        order = np.argsort([-s.object for s in scores])
        anomalous = [i for i in order if part.test[i].label == 1][:max(1, settings.heatmaps - 1)]
        normal = [i for i in order[::-1] if part.test[i].label == 0][:1]
        for i in (anomalous + normal)[:settings.heatmaps]:
            name = part.test[i].name
            heatmap_png(folder / f"heatmap_{name}.png", test[i].points, scores[i].points, test[i].labels,
                        f"{settings.method}: {name} (object {scores[i].object:.3g})")
