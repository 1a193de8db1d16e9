"""PatchCore(PointMAE) and M3DM's point-cloud branch [Wang et al. 2023, "Multimodal Industrial
Anomaly Detection via Hybrid Fusion", §3.2 and §4.1], as Real3D-AD [Liu et al. 2023] runs them
on point clouds without images.

PatchCore(PointMAE): a memory bank of 10,000 of the Point-MAE encoder's final tokens (PatchCore
§3.2's approximate greedy coreset; 10,000 is the bank size of the Real3D-AD benchmark, ``--memory_size
10000`` in its scripts and "the standard memory bank size" of Reg3D-AD and PatchCore in MC4AD's
appendix A.4 (seed 004); a 10 % coreset of ten clouds' 1024 tokens kept one cloud's worth and cost
20 O / 4 P points on the demo's heavy_washer, issue 20); a token's score is the distance to its nearest bank feature,
a point takes its nearest token's score (Real3D-AD ``fill_missing_values`` with k = 1), the
object score is the reweighted maximum (PatchCore eq. 7).

M3DM (3D branch): a 10 % coreset memory bank (M3DM's ``f_coreset = 0.1``) on the concatenated outputs of transformer blocks 3, 7
and 11 (each through the final LayerNorm; 1152 channels for the official 384-wide encoder) of
1024 groups x 128 points, as M3DM's ``PointTransformer`` extracts them; token scores reach the
points by inverse-distance weighting of the 3 nearest tokens (M3DM ``interpolating_points``,
there applied to features before projecting them onto the image grid; with no image grid the
scores are interpolated instead). The object score is the reweighted maximum (M3DM computes
``s`` as PatchCore does, n_reweight = 3). Where the encoder has fewer than 12 blocks, the
blocks at the same relative depths are used (:func:`scaled_block_indices`). The encoder sees every
point of the cloud centred on its mean, in millimetres (Real3D-AD's main_m3dm.py, whose loader only
subtracts the mean; M3DM feeds raw sensor coordinates), not the cloud on its own unit sphere as
PatchCore(PointMAE) here: on the demo (issue 20, seeds 1-3) the unit sphere cost 10.4 O- and 8.6
P-AUROC points, and with the centred input ours is within 1.7 +- 2.7 O of the authors' pipeline.

Both reuse :class:`PatchCore`'s fitting and scoring; only the patch features and the map to
points differ. The encoder is named by a spec string (``point_mae_small``: the shipped weights);
the saved state holds a fingerprint of its weights so a model is never scored with others.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.features import PatchFeatures
from scan2ad.detectors.methods.patchcore.detector import PatchCore, PatchCoreConfig


@dataclasses.dataclass
class InterpolatedPatches(PatchFeatures):
    """Patch features whose scores reach the points through inverse-distance weights."""

    neighbours: np.ndarray | None = None   # (N, k) token indices of every input point
    weights: np.ndarray | None = None      # (N, k) inverse-distance weights, rows sum to 1

    def to_points(self, patch_scores: np.ndarray) -> np.ndarray:
        return (np.asarray(patch_scores, np.float64)[self.neighbours] * self.weights).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class PatchCorePointMAEConfig(PatchCoreConfig):
    features: str = doc("kept for PatchCore's interface; the tokens come from ``encoder``", "pointmae")
    encoder: str = doc("Point-MAE encoder: point_mae_small (shipped), a checkpoint path, "
                       "point-bert:NAME, or random:KEY=VALUE,... (see pointmae_extractor)",
                       "point_mae_small")
    layers: tuple[int, ...] = doc("transformer blocks whose outputs are concatenated "
                                  "(empty: the final normed tokens)", (), ge=0, lt=12)
    interpolation_k: int = doc("tokens interpolated into a point's score (1: nearest token)", 1)
    memory_size: int = doc("memory bank entries, at most all training tokens (Real3D-AD: 10000; "
                           "0: coreset_ratio of them)", 10000, ge=0)


class PatchCorePointMAE(PatchCore):
    """PatchCore on Point-MAE patch tokens (Real3D-AD's "PatchCore PointMAE")."""

    Config = PatchCorePointMAEConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.fingerprint: str | None = None

    def _layers(self) -> tuple[int, ...]:
        return tuple(self.config.layers)

    def _features(self, points):
        from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

        cfg = self.config
        pts = self.template.align(points) if self.template is not None else points
        tok = cloud_tokens(pts, cfg.encoder, cfg.groups, cfg.group_size, cfg.feature_points,
                           self._layers(), cfg.seed)
        idx, w = tok.nearest(pts, max(1, cfg.interpolation_k))
        return InterpolatedPatches(tok.centres, tok.features, idx[:, 0], idx, w)

    def fit(self, train) -> None:
        from scan2ad.detectors.features.pointmae_extractor import encoder_fingerprint

        super().fit(train)
        self.fingerprint = encoder_fingerprint(self.config.encoder)

    def score(self, points: np.ndarray):
        from scan2ad.detectors.features.pointmae_extractor import check_fingerprint

        check_fingerprint(self.config.encoder, self.fingerprint)
        return super().score(points)

    def state_dict(self):
        return {**super().state_dict(), "encoder_fingerprint": self.fingerprint}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.fingerprint = state.get("encoder_fingerprint")


@dataclasses.dataclass(frozen=True)
class M3DMConfig(PatchCorePointMAEConfig):
    feature_points: int = doc("points kept (seeded random subset) before the tokens; 0: every point "
                              "(Real3D-AD's main_m3dm.py)", 0, ge=0)
    frame: Literal["centred", "unit"] = doc(
        "the encoder's input: centred (the cloud minus its mean, millimetres unscaled: Real3D-AD's "
        "main_m3dm.py Dataset3dad norm_pcd; M3DM itself feeds the sensor's raw coordinates) | unit "
        "(each cloud on its own unit sphere)", "centred")
    layers: tuple[int, ...] = doc("blocks whose normed outputs are concatenated (M3DM: 3, 7, 11 "
                                  "of 12; scaled to shallower encoders)", (3, 7, 11), ge=0, lt=12)
    interpolation_k: int = doc("tokens interpolated into a point's score (M3DM: 3)", 3)
    memory_size: int = doc("memory bank entries when > 0; M3DM keeps coreset_ratio (its "
                           "f_coreset = 0.1) of the training tokens", 0, ge=0)


class M3DM(PatchCorePointMAE):
    """M3DM's point-feature memory bank (the 3D branch alone, no RGB and no fusion)."""

    Config = M3DMConfig

    def _layers(self) -> tuple[int, ...]:
        from scan2ad.detectors.features.pointmae_extractor import (
            encoder_depth,
            scaled_block_indices,
        )

        return scaled_block_indices(encoder_depth(self.config.encoder), tuple(self.config.layers))

    def _features(self, points):
        from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

        cfg = self.config
        pts = np.asarray(self.template.align(points) if self.template is not None else points, np.float64)
        frame = (pts.mean(axis=0), 1.0) if cfg.frame == "centred" else None
        tok = cloud_tokens(pts, cfg.encoder, cfg.groups, cfg.group_size, cfg.feature_points,
                           self._layers(), cfg.seed, frame=frame)
        idx, w = tok.nearest(pts, max(1, cfg.interpolation_k))
        return InterpolatedPatches(tok.centres, tok.features, idx[:, 0], idx, w)
