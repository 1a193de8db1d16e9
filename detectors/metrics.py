"""Metrics as the reference 3D-AD benchmarks compute them (DESIGN §6; Open3D-AD §V, Real3D-AD,
Anomaly-ShapeNet evaluation code): thin adapters over scikit-learn.

Per class: O-AUROC and O-AUPR over the class's samples (object scores, label 1 = anomalous
sample); P-AUROC and P-AUPR over all the class's points pooled, after min-max normalising the
pooled point scores of the class. Class means are unweighted; results over seeds are
mean ± std (population std, ``ddof=0``, as ``numpy.std`` gives the papers' ±). A metric that
is undefined (one label only) is NaN and means skip it (``nanmean``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

METRICS = ("O-AUROC", "O-AUPR", "P-AUROC", "P-AUPR")


def _auc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    if labels.min(initial=0) == labels.max(initial=0):
        return math.nan, math.nan
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def min_max(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    return np.zeros_like(s) if hi <= lo else (s - lo) / (hi - lo)


def object_metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, float]:
    au, ap = _auc(np.asarray(labels), np.asarray(scores))
    return {"O-AUROC": au, "O-AUPR": ap}


def point_metrics(labels: Iterable[np.ndarray], scores: Iterable[np.ndarray]) -> dict[str, float]:
    """Pooled over every point of every sample given (one class), scores min-max normalised."""
    y = np.concatenate([np.asarray(v).ravel() for v in labels])
    s = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in scores])
    au, ap = _auc((y > 0).astype(np.int64), min_max(s))
    return {"P-AUROC": au, "P-AUPR": ap}


def class_metrics(sample_labels: Sequence[int], object_scores: Sequence[float],
                  point_labels: Sequence[np.ndarray], point_scores: Sequence[np.ndarray]) -> dict[str, float]:
    """The four metrics of one class from its test samples."""
    return {**object_metrics(sample_labels, object_scores), **point_metrics(point_labels, point_scores)}


def class_mean(per_class: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Unweighted mean over classes of every metric (NaN entries skipped)."""
    out = {}
    for m in METRICS:
        vals = np.array([c[m] for c in per_class.values() if m in c], dtype=np.float64)
        out[m] = float(np.nanmean(vals)) if vals.size and not np.isnan(vals).all() else math.nan
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std over seeds (NaN entries skipped)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std())


def undefined_reason(sample_labels: Sequence[int], point_labels: Sequence[np.ndarray]) -> dict[str, str]:
    """Why each metric of a class is undefined (metric -> reason), from its test labels."""
    n_anom = int(np.sum(np.asarray(sample_labels) > 0))
    n_norm = len(sample_labels) - n_anom
    y = np.concatenate([np.asarray(v).ravel() for v in point_labels]) if len(point_labels) else np.zeros(0)
    p_anom = int(np.sum(y > 0))
    out = {}
    if n_anom == 0 or n_norm == 0:
        why = (f"undefined: the test set has only {'normal' if n_anom == 0 else 'anomalous'} samples "
               f"({n_norm} normal, {n_anom} anomalous); AUROC/AUPR need both")
        out.update({"O-AUROC": why, "O-AUPR": why})
    if p_anom == 0 or p_anom == y.size:
        why = (f"undefined: {'no' if p_anom == 0 else 'every'} test point is labelled anomalous "
               f"({p_anom} of {y.size}); AUROC/AUPR need both labels")
        out.update({"P-AUROC": why, "P-AUPR": why})
    return out


def json_numbers(obj):
    """``obj`` with NaN and infinite floats as None (JSON has no NaN: an undefined metric is null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_numbers(v) for v in obj]
    return obj


def fmt(mean: float | None, std: float | None = None, scale: float = 100.0) -> str:
    """"84.39±0.44" (percent, two decimals) as the papers' tables print; "n/a" when undefined."""
    if mean is None or math.isnan(mean):
        return "n/a"
    if std is None or math.isnan(std):
        std = None
    return f"{mean * scale:.2f}" if std is None else f"{mean * scale:.2f}±{std * scale:.2f}"
