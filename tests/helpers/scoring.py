"""Score a fitted detector on the test split of an Open-Industry sample list (the slow
beats-chance tests of the trained methods)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class SplitScores:
    labels: list[int]            # object labels (0 normal, 1 anomalous)
    objects: list[float]         # object scores
    point_labels: list[np.ndarray]
    points: list[np.ndarray]     # point scores
    types: list[str]             # defect type per sample ("good" for normal ones)


def score_test_split(det, samples) -> SplitScores:
    from scan2ad.datasets.samples import load_sample

    out = SplitScores([], [], [], [], [])
    for s in samples:
        if s.split != "test":
            continue
        c = load_sample(s)
        sc = det.score(c.points)
        out.labels.append(s.label)
        out.objects.append(sc.object)
        out.point_labels.append(c.labels)
        out.points.append(sc.points)
        out.types.append(s.defect_type)
    return out
