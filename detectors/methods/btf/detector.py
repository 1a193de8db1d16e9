"""BTF detector: per-point Raw (coordinates) or FPFH features and 1-NN distances to the bank of
training features [Horwitz & Hoshen 2023]. Point score = the distance of the point's feature to
its nearest training feature (points between the kept feature points take their nearest kept
point's score); object score = max (BTF's own aggregation). Point scores are smoothed over the nearest
feature points before (BTF blurs its anomaly maps).

Raw coordinates only mean something in a common frame: with ``register`` (default for Raw) every
cloud is first registered to the first training cloud, Reg3D-AD style (:mod:`..registration`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.features import FeatureSettings, extract
from scan2ad.detectors.methods.btf.model import PointFeatureBank
from scan2ad.detectors.registration import Template
from scan2ad.log import progress


@dataclasses.dataclass(frozen=True)
class BTFConfig(FeatureSettings, BaseConfig):
    features: str = doc("per-point feature: raw | fpfh", "fpfh")
    feature_points: int = doc("points kept per cloud (seeded random subset); scores of the others "
                              "come from their nearest kept point", 8192)
    groups: int = doc("0: every kept point is its own feature (BTF is per point)", 0)
    bank_size: int = doc("at most this many training features in the bank (seeded subset; 0 = all)",
                         16384)
    register: bool = doc("register every cloud to the first training cloud first", False)
    smooth_k: int = doc("feature-point scores are averaged over this many nearest feature points "
                        "(the 3D analogue of BTF's Gaussian blur of the anomaly map; 1 = off)", 16, ge=1)


def smooth(centres: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Mean of each score over its ``k`` nearest centres (itself included)."""
    if k <= 1:
        return scores
    from scan2ad.detectors.features.geometry import knn

    _, idx = knn(centres, centres, k)
    return scores[idx].mean(axis=1)


class BTF(Detector):
    Config = BTFConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.model = PointFeatureBank()
        self.template: Template | None = None

    def _features(self, points: np.ndarray):
        pts = self.template.align(points) if self.template is not None else points
        return extract(self.config.features, pts, self.config)

    def fit(self, train: TrainSet) -> None:
        self.template = Template(train.normal[0].points) if self.config.register else None
        feats = [self._features(c.points).features
                 for c in progress(train.normal, desc=f"BTF features {train.cls}")]
        self.model.fit(feats, self.config.bank_size, self.config.seed)

    def score(self, points: np.ndarray) -> Scores:
        pf = self._features(points)
        s = pf.to_points(smooth(pf.centres, self.model.score(pf.features), self.config.smooth_k))
        return Scores(s, self.object_score(s))

    def state_dict(self):
        state = {"bank": self.model.bank}
        if self.template is not None:
            state["template"] = self.template.points
        return state

    def load_state_dict(self, state) -> None:
        self.model = PointFeatureBank(np.asarray(state["bank"]))
        self.template = Template(np.asarray(state["template"])) if "template" in state else None
