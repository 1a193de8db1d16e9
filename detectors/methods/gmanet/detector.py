"""GMANet as a scan2ad detector (003_15f016e519109ec7.txt §IV).

Training (normal clouds only): each step takes a training cloud, makes a synthetic anomaly with
SPCG (add or remove points at the region its geometric analysis chose, random mode, strength
ε_p ∈ [``strength_min``, 1]), runs the frozen expert and the trainable apprentice PointNet++
on it, and minimises the SDO loss (Eq. 4) between their per-point features, using SPCG's mask
to split normal and synthetic-anomalous points. Score (Eq. 5): the per-point distance between
expert and apprentice features; object score = max (the paper gives only point scores).

Choices where the paper is silent, written down: the expert is a seeded, randomly initialised
and frozen PointNet++ unless ``expert_weights`` names a state dict (no ShapeNet-pretrained
PointNet++ can be downloaded here; a frozen random teacher still gives features the apprentice
can only copy where it was trained to); the apprentice starts from its own random initialisation (at the
expert's weights every d is 0, where the norm has no gradient); α = 2
(focal loss's default γ); Adam, lr 1e-3, ``steps`` iterations of one cloud each.
Ablations: ``synthesis="norm-as"`` (w/o SPCG: the paper swaps in other generators) and
``use_sdo=False`` (w/o SDO: only d_n is minimised).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.errors import InputError
from scan2ad.log import progress


@dataclasses.dataclass(frozen=True)
class GMANetConfig(BaseConfig):
    feat_dim: int = doc("per-point feature channels of the encoders", 64)
    width: int = doc("channel multiplier of PointNet++", 1)
    alpha: float = doc("α of the focal-style SDO weights (Eq. 3)", 2.0)
    use_sdo: bool = doc("spatial discrepancy optimisation (False: minimise d_n only)", True)
    synthesis: str = doc("spcg | norm-as (the w/o-SPCG ablation)", "spcg")
    strength_min: float = doc("lower bound of the perturbation strength ε_p", 0.3)
    steps: int = doc("training iterations (one synthetic cloud each)", 600)
    lr: float = doc("Adam learning rate", 1e-3)
    max_points: int = doc("points per cloud fed to the encoders (random subset; 0 = all)", 4096)
    expert_weights: str = doc("optional state dict for the frozen expert", "")


def _normalise(points: np.ndarray) -> np.ndarray:
    c = points.mean(0)
    s = float(np.linalg.norm(points - c, axis=1).max()) or 1.0
    return (points - c) / s


class GMANet(Detector):
    name = "gmanet"
    Config = GMANetConfig

    def __init__(self, config: Any = None, **overrides):
        super().__init__(config, **overrides)
        if self.config.synthesis not in ("spcg", "norm-as"):
            raise InputError(f"unknown synthesis {self.config.synthesis!r} (spcg | norm-as)")
        self.expert = self.apprentice = None

    def _encoders(self):
        import torch

        from scan2ad.detectors.methods.gmanet.model import PointNet2Encoder

        torch.manual_seed(self.config.seed)
        expert = PointNet2Encoder(self.config.feat_dim, self.config.width)
        if self.config.expert_weights:
            expert.load_state_dict(torch.load(self.config.expert_weights, weights_only=True))
        torch.manual_seed(self.config.seed + 1)  # its own initialisation: d = 0 has no gradient
        apprentice = PointNet2Encoder(self.config.feat_dim, self.config.width)
        expert.eval()
        for p in expert.parameters():
            p.requires_grad_(False)
        return expert, apprentice

    def _synthetic(self, pts, nrm, region, rng):
        from scan2ad.detectors.synthesis import spcg

        if self.config.synthesis == "spcg":
            return spcg.generate(pts, region, bool(rng.random() < 0.5),
                                 float(rng.uniform(self.config.strength_min, 1.0)), rng)
        from scan2ad.detectors.synthesis.norm_as import norm_as

        cloud = norm_as(pts, rng, normals=nrm)
        return cloud.points, cloud.labels.astype(bool)

    def fit(self, train: TrainSet) -> None:
        import torch

        from scan2ad.detectors.features.geometry import estimate_normals
        from scan2ad.detectors.methods.gmanet.model import point_discrepancy, sdo_loss
        from scan2ad.detectors.synthesis import spcg

        c = self.config
        rng = np.random.default_rng(c.seed)
        prepared = []
        for cloud in progress(train.normal, desc="gmanet: SPCG analysis", total=len(train.normal)):
            pts = cloud.points
            if c.max_points and len(pts) > c.max_points:
                pts = pts[rng.choice(len(pts), c.max_points, replace=False)]
            pts = _normalise(pts)
            nrm = estimate_normals(pts, 30)
            region = spcg.analyse(pts, nrm) if c.synthesis == "spcg" else None
            prepared.append((pts, nrm, region))
        self.expert, self.apprentice = self._encoders()
        opt = torch.optim.Adam(self.apprentice.parameters(), lr=c.lr)
        self.apprentice.train()
        losses = []
        for _ in progress(range(c.steps), desc="gmanet training", total=c.steps):
            pts, nrm, region = prepared[int(rng.integers(len(prepared)))]
            syn, mask = self._synthetic(pts, nrm, region, rng)
            x = torch.as_tensor(syn, dtype=torch.float32)
            with torch.no_grad():
                fe = self.expert(x)
            d = point_discrepancy(self.apprentice(x), fe)
            loss = sdo_loss(d, torch.as_tensor(mask), c.alpha, c.use_sdo)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.train_losses = losses
        self.apprentice.eval()

    def score(self, points: np.ndarray) -> Scores:
        import torch

        from scan2ad.detectors.methods.gmanet.model import point_discrepancy

        if self.apprentice is None:
            raise InputError("gmanet is not trained: call fit() first")
        x = torch.as_tensor(_normalise(np.asarray(points, np.float64)), dtype=torch.float32)
        with torch.no_grad():
            s = point_discrepancy(self.apprentice(x), self.expert(x)).numpy().astype(np.float64)
        return Scores(s, self.object_score(s))

    def state_dict(self) -> dict[str, Any]:
        if self.apprentice is None:
            raise InputError("nothing to save: gmanet is not trained")
        return {"expert": self.expert.state_dict(), "apprentice": self.apprentice.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.expert, self.apprentice = self._encoders()
        self.expert.load_state_dict(state["expert"])
        self.apprentice.load_state_dict(state["apprentice"])
        self.apprentice.eval()
