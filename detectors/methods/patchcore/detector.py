"""PatchCore detector on point-cloud patches [Roth et al. 2022], as the 3D benchmarks run it
(M3DM / Real3D-AD baselines): patch features from a named extractor (``fpfh``, ``fpfh+raw``, or
any extractor registered later, e.g. ``pointmae``), a coreset memory bank (greedy or
approximate greedy, §3.2), patch score = distance to the nearest bank feature, object score =
the reweighted maximum patch score (eq. 7). Point scores are the patch scores of each point's
nearest centre.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.features import FeatureSettings, extract
from scan2ad.detectors.methods.patchcore import model as mb
from scan2ad.detectors.registration import Template
from scan2ad.log import progress


@dataclasses.dataclass(frozen=True)
class PatchCoreConfig(FeatureSettings, BaseConfig):
    features: str = doc("patch feature extractor by name (fpfh, fpfh+raw, multi_fpfh, ...)", "fpfh")
    coreset: str = doc("identity | random | greedy | approx_greedy", "approx_greedy")
    coreset_ratio: float = doc("memory bank size as a fraction of all training patches (when "
                               "memory_size is 0)", 0.1, gt=0, le=1)
    memory_size: int = doc("memory bank entries: > 0 keeps min(memory_size, all training patches) "
                           "(Real3D-AD's --memory_size 10000, the PatchCore setting of its benchmark); "
                           "0 keeps coreset_ratio of them", 0, ge=0)
    reweight_k: int = doc("b of PatchCore eq. 7: neighbours of the reweighting", 3, ge=1)
    register: bool = doc("register every cloud to the first training cloud first (for raw "
                         "coordinates)", False)


def bank_size(cfg, n_features: int) -> int:
    """Entries a memory bank keeps of ``n_features``: ``memory_size`` of them (at most all) when it
    is > 0, else the ``coreset_ratio`` fraction (at least one)."""
    if cfg.memory_size > 0:
        return min(cfg.memory_size, n_features)
    return max(1, round(cfg.coreset_ratio * n_features))


class PatchCore(Detector):
    Config = PatchCoreConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.bank: np.ndarray | None = None
        self.neighbours: np.ndarray | None = None
        self.template: Template | None = None

    def _features(self, points):
        pts = self.template.align(points) if self.template is not None else points
        return extract(self.config.features, pts, self.config)

    def fit(self, train: TrainSet) -> None:
        cfg = self.config
        self.template = Template(train.normal[0].points) if cfg.register else None
        feats = np.concatenate([self._features(c.points).features
                                for c in progress(train.normal, desc=f"PatchCore features {train.cls}")])
        self.bank = feats[mb.subsample(feats, bank_size(cfg, len(feats)), cfg.coreset, cfg.seed)]
        self.neighbours = mb.bank_neighbours(self.bank, cfg.reweight_k)

    def score(self, points: np.ndarray) -> Scores:
        pf = self._features(points)
        d, _ = mb.nearest(pf.features, self.bank)
        s = pf.to_points(d)
        if self.config.aggregation == "max":
            # eq. 7: the most anomalous patch, reweighted by how isolated its nearest bank entry is
            worst = int(np.argmax(d))
            obj = float(mb.reweighted_distance(pf.features[worst:worst + 1], self.bank,
                                               self.neighbours)[0])
        else:
            obj = self.object_score(s)
        return Scores(s, obj)

    def state_dict(self):
        state = {"bank": self.bank, "neighbours": self.neighbours}
        if self.template is not None:
            state["template"] = self.template.points
        return state

    def load_state_dict(self, state) -> None:
        self.bank = np.asarray(state["bank"])
        self.neighbours = np.asarray(state["neighbours"])
        self.template = Template(np.asarray(state["template"])) if "template" in state else None
