"""Hierarchical Quality Control as a wrapper around any two registered detectors
(004_be09d63770e75756 §4.4 and App. A.4: the fast stage of a memory-bank method is the same
method with a 1000-entry bank; any registered name works here).

``score_batch`` makes the three-way decision of :mod:`.model` over the batch (the rank is taken
over the samples scored together, as eq. 11 does over the test set). A single ``score`` call has
no batch to rank against and returns the full model's score.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.methods.hqc.model import passed_mask, place_below


@dataclasses.dataclass(frozen=True)
class HQCConfig(BaseConfig):
    fast: str = doc("registry name of the fast screening model V_P", "patchcore-fpfh")
    full: str = doc("registry name of the full model V_O", "open3d-ad")
    fast_overrides: dict[str, Any] = doc(
        "settings of the fast model on top of its registry entry", {})
    full_overrides: dict[str, Any] = doc("settings of the full model on top of its registry entry", {})
    b: float = doc("fraction of each batch passed as normal by the fast model", 0.25)
    margin: float = doc("gap between passed samples and the lowest full-model score", 1e-6)


class HQC(Detector):
    Config = HQCConfig

    def __init__(self, config=None, **overrides):
        from scan2ad.detectors.registry import create

        super().__init__(config, **overrides)
        if not 0.0 <= self.config.b < 1.0:
            from scan2ad.errors import InputError

            raise InputError(f"HQC b must lie in [0, 1), got {self.config.b}")
        self.fast = create(self.config.fast, **self.config.fast_overrides)
        self.full = create(self.config.full, **self.config.full_overrides)
        self.last_passed = np.zeros(0, bool)  # which samples of the last batch the fast model passed

    def fit(self, train: TrainSet) -> None:
        self.fast.fit(train)
        self.full.fit(train)

    def score(self, points: np.ndarray) -> Scores:
        return self.full.score(points)

    def score_batch(self, clouds: list[np.ndarray]) -> list[Scores]:
        fast = self.fast.score_batch(clouds)
        passed = passed_mask(np.array([s.object for s in fast]), self.config.b)
        rest = [c for c, p in zip(clouds, passed) if not p]
        full = self.full.score_batch(rest) if rest else []
        floor = min((float(np.min(s.points)) for s in full), default=0.0)
        placed = iter(place_below(np.array([s.object for s, p in zip(fast, passed) if p]),
                                  floor, self.config.margin))
        full_it = iter(full)
        out = []
        for c, p in zip(clouds, passed):
            if p:
                level = float(next(placed))
                out.append(Scores(np.full(len(c), level), level))
            else:
                out.append(next(full_it))
        self.last_passed = passed
        return out

    def parameter_count(self) -> int:
        return self.fast.parameter_count() + self.full.parameter_count()

    def state_dict(self):
        return {"fast": self.fast.state_dict(), "full": self.full.state_dict()}

    def load_state_dict(self, state) -> None:
        self.fast.load_state_dict(state["fast"])
        self.full.load_state_dict(state["full"])
