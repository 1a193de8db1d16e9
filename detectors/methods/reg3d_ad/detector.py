"""Reg3D-AD, the registration-based baseline of Real3D-AD [Liu et al. 2023, §4.2].

fit: the first training cloud is the template; every cloud is registered to it
(:class:`scan2ad.detectors.registration.Template`: coarse principal-axes restarts, then
point-to-plane ICP - the authors use FPFH + RANSAC then ICP). Two memory banks are filled from
the registered normal clouds, each reduced by PatchCore's approximate greedy coreset to at most
``memory_size`` entries (the authors pass one ``--memory_size 10000`` to both fits):

* the feature bank: Point-MAE tokens of the registered cloud (the authors' ``_embed_pointmae``:
  1152-channel M3DM-style block features of FPS groups of 128 points; their script asks for
  16384 groups, which on a CPU costs minutes per cloud - the default here is M3DM's 1024 and
  ``groups`` sets it);
* the coordinate bank: the registered coordinates themselves (``_embed_xyz``), capped at
  ``memory_size`` entries (the authors' ``--memory_size 10000``).

score: the cloud is registered to the template; a point's feature score is its nearest token's
distance to the feature bank (``fill_missing_values`` with k = 1) and its coordinate score is
its distance to the coordinate bank; the two are put on one scale and averaged, and the object
score is the maximum of the point scores (the authors take ``max`` of each branch's patch
scores).

Choice where the per-cloud API differs from the authors' script: Real3D-AD min-max normalises
each branch over the whole test set before averaging, which a detector scoring one cloud at a
time cannot do. Each branch is instead divided by a scale fixed at fit time: the mean distance
between a bank entry and its nearest other entry (the bank's own spacing), so both branches
count "bank spacings away from anything normal". All clouds reach the encoder in the template's
frame: centred on the template's centre, in millimetres (``frame = "centred"``, the authors' unscaled
registered cloud; the template's unit sphere, ``frame = "unit"``, cost 4.1 O- and 5.2 P-AUROC points
on the demo, issue 20 session 11; a per-cloud unit sphere would undo part of the registration).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.methods.patchcore import model as mb
from scan2ad.detectors.registration import Template
from scan2ad.log import progress


@dataclasses.dataclass(frozen=True)
class Reg3DADConfig(BaseConfig):
    encoder: str = doc("Point-MAE encoder spec (see pointmae_extractor)", "point_mae_small")
    feature_points: int = doc("points kept (seeded random subset) before tokens and coordinates", 16384)
    groups: int = doc("token groups (FPS centres)", 1024)
    group_size: int = doc("points per token group", 128)
    layers: tuple[int, ...] = doc("blocks whose normed outputs form the token feature (scaled to "
                                  "shallower encoders)", (3, 7, 11), ge=0, lt=12)
    coreset: str = doc("identity | random | greedy | approx_greedy", "approx_greedy")
    coreset_ratio: float = doc("feature bank size as a fraction of all training tokens, when "
                               "memory_size is 0", 0.1, gt=0, le=1)
    memory_size: int = doc("most entries of each bank (authors: --memory_size 10000 for both); 0: "
                           "the feature bank keeps coreset_ratio, the coordinate bank every point", 10000, ge=0)
    feature_weight: float = doc("weight of the feature branch in the average (coordinates: "
                                "1 - this)", 0.5)
    frame: Literal["centred", "unit"] = doc(
        "the encoder's input: centred (registered cloud minus the template's centre, millimetres "
        "unscaled, as Real3D-AD's _embed_pointmae feeds the registered cloud) | unit (the template's "
        "centre and max radius)", "centred")


def _spacing(bank: np.ndarray) -> float:
    """Mean distance from each bank entry to its nearest other entry (> 0)."""
    if len(bank) < 2:
        return 1.0
    nb = mb.bank_neighbours(bank, 2)[:, 1]
    d = np.linalg.norm(np.asarray(bank, np.float64) - np.asarray(bank, np.float64)[nb], axis=1)
    return float(d.mean()) or 1.0


class Reg3DAD(Detector):
    Config = Reg3DADConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.template: Template | None = None
        self.frame: tuple[np.ndarray, float] | None = None
        self.feature_bank = self.xyz_bank = None
        self.feature_scale = self.xyz_scale = 1.0
        self.fingerprint: str | None = None

    def _layers(self):
        from scan2ad.detectors.features.pointmae_extractor import (
            encoder_depth,
            scaled_block_indices,
        )

        return scaled_block_indices(encoder_depth(self.config.encoder), tuple(self.config.layers))

    def _embed(self, points: np.ndarray):
        """Registered subset, its tokens, and each input point's nearest token."""
        from scan2ad.detectors.features.geometry import check_points, random_subsample
        from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

        cfg = self.config
        pts = self.template.align(check_points(points))
        tok = cloud_tokens(pts, cfg.encoder, cfg.groups, cfg.group_size, cfg.feature_points,
                           self._layers(), cfg.seed, frame=self.frame)
        sub = pts[random_subsample(len(pts), cfg.feature_points or len(pts), cfg.seed)]
        return pts, sub, tok

    def fit(self, train: TrainSet) -> None:
        from scan2ad.detectors.features.pointmae_extractor import encoder_fingerprint

        cfg = self.config
        self.template = Template(train.normal[0].points)
        tp = self.template.points
        centre = tp.mean(axis=0)
        scale = 1.0 if cfg.frame == "centred" else float(np.linalg.norm(tp - centre, axis=1).max()) or 1.0
        self.frame = (centre, scale)
        feats, coords = [], []
        for cloud in progress(train.normal, desc=f"Reg3D-AD banks {train.cls}"):
            _, sub, tok = self._embed(cloud.points)
            feats.append(tok.features)
            coords.append(sub.astype(np.float32))
        feats, coords = np.concatenate(feats), np.concatenate(coords)
        n = min(cfg.memory_size, len(feats)) if cfg.memory_size > 0 else max(1, round(cfg.coreset_ratio * len(feats)))
        self.feature_bank = feats[mb.subsample(feats, n, cfg.coreset, cfg.seed)]
        m = min(cfg.memory_size, len(coords)) if cfg.memory_size > 0 else len(coords)
        self.xyz_bank = coords[mb.subsample(coords, m, cfg.coreset, cfg.seed)]
        self.feature_scale = _spacing(self.feature_bank)
        self.xyz_scale = _spacing(self.xyz_bank)
        self.fingerprint = encoder_fingerprint(cfg.encoder)

    def branch_scores(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(feature, coordinate) point scores, each in bank spacings."""
        from scan2ad.detectors.features.pointmae_extractor import check_fingerprint

        check_fingerprint(self.config.encoder, self.fingerprint)
        pts, _, tok = self._embed(points)
        d_tok, _ = mb.nearest(tok.features, self.feature_bank)
        s_feat = tok.to_points(d_tok, pts, 1) / self.feature_scale
        d_xyz, _ = mb.nearest(pts.astype(np.float32), self.xyz_bank)
        return s_feat, d_xyz / self.xyz_scale

    def score(self, points: np.ndarray) -> Scores:
        s_feat, s_xyz = self.branch_scores(points)
        w = self.config.feature_weight
        s = w * s_feat + (1.0 - w) * s_xyz
        return Scores(s, self.object_score(s))

    def state_dict(self):
        return {"template": self.template.points, "frame_centre": self.frame[0],
                "frame_scale": self.frame[1], "feature_bank": self.feature_bank,
                "xyz_bank": self.xyz_bank, "feature_scale": self.feature_scale,
                "xyz_scale": self.xyz_scale, "encoder_fingerprint": self.fingerprint}

    def load_state_dict(self, state) -> None:
        def arr(x):
            return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

        self.template = Template(arr(state["template"]))
        self.frame = (arr(state["frame_centre"]), float(state["frame_scale"]))
        self.feature_bank = arr(state["feature_bank"])
        self.xyz_bank = arr(state["xyz_bank"])
        self.feature_scale = float(state["feature_scale"])
        self.xyz_scale = float(state["xyz_scale"])
        self.fingerprint = state.get("encoder_fingerprint")
