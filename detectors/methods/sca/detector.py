"""SCA: the single-pass discriminator of seed 001_1a0643aab4434808 ("Efficient industrial point
cloud anomaly detection via spatial context aggregation and selective anomalous feature
generation", Hoang et al., Sci. Rep. 2026) as a scan2ad detector, with its ablations.

Pipeline (§Method, §Implementation details): frozen Point-MAE tokens of n = 1024 FPS patches of
k = 32 points (``cloud_tokens``); training-free Spatial Context Aggregation (pooled FPFH
descriptors, 0.1 n prototypes by FPS, Sinkhorn t = 0.05 x 20 iterations, K = 10, tau = 0.5,
tau_c = 0.1, global propagation, back-propagation, optional snapping; :mod:`.model`); Feature
Adaptor (2-layer MLP, hidden C/2, LeakyReLU 0.1, LayerNorm, residual alpha = 0.5); Selective
Anomalous Feature Generator (p = 0.5, sigma = 0.1, learnable gamma); cross-patch attention
discriminator (4 heads, MLP hidden 4C, dropout 0.1, learnable positional embedding); patch-wise
BCE; AdamW (lr 1e-4, weight decay 1e-4, betas 0.9/0.999), cosine schedule over 100 epochs, batch
8, gradient clipping at norm 1. Inference: one pass without the generator; each point takes the
maximum logit of the patches containing it, then a 3D median filter of radius 3 voxels; the
object score is the maximum point score (the paper's cloud score).

Choices where the paper is silent or does not fit a CPU (all config values):

* the paper's voxel-grid downsampling is replaced by ``feature_points`` (16384) seeded random
  points, as the other Point-MAE token methods here do; centres, tau and tau_c live in the
  cloud's unit-sphere frame (the paper centres and scales every cloud to unit radius);
* augmentations (random yaw, Gaussian jitter 0.005, scaling +-5 %, all in the unit frame) are
  drawn once per training view: ``views`` token sets per training cloud (view 0 unaugmented)
  are extracted and aggregated once, and the epochs iterate over them, because running the
  frozen encoder on every step is what makes training slow on CPU;
* tokens are standardised per channel by the normal training tokens before SCA, so sigma = 0.1
  means a tenth of a channel's spread on every part;
* FPFH (33 bins, Open3D, ``fpfh_k`` neighbours, normals from 30 neighbours) is computed on the
  sampled points and averaged over each patch's members to give the patch descriptor g_i;
* points not in any patch (outside the random subset or not grouped) take the score of their
  nearest scored point; the median filter's voxel is the median nearest-neighbour spacing of
  the scored points, and it takes the median over at most 32 neighbours within 3 voxels;
* SCA formulas (cost, fusion, mixing and the soft snapping) are documented in
  :func:`.model.spatial_context_aggregation`; the seeded torch generator draws the generator's
  masks and noise so a fit is reproducible.

Measured (2026-11-29, tiny encoder, 3 mm ring of test_sca.py): the discriminator barely leaves
the label prior (BCE 0.615 -> 0.56) in 40-100 steps at sigma = 0.1 on standardised tokens, yet
O/P-AUROC reach 0.93/0.74; sigma = 0.3 trains (BCE -> 0.15) and gave P-AUROC 0.85.

Why SCA is near chance on the demo dataset (diagnosis of issue 9, 2026-11-29 session 4). Data:
demo heavy_washer (``/tmp/s4_demo``, what ``make demo`` builds), open-set k = 1, seed 1: 10
normal training clouds x 2 views (view 0 plain), 25 test clouds; this class's shipped
point_mae_small tokens, 1024 x 32 of 16384 points; O/P-AUROC in %, point scores by the max over
containing patches + the 3D median filter, object score = max (as ``score``). The networks were
trained on the cached tokens for 500 steps of batch 8 (the paper's lr 1e-4 and cosine schedule
unless named), on a GPU for speed (same code, ``SCANet`` of :mod:`.model`).

(a) the score path is sound, the signal is in the tokens: the distance of each test token to its
nearest training token, through the same point mapping, gives P 78.4 on raw tokens, 79.1 on
standardised ones and 77.1 on the SCA-aggregated ones (patchcore-pointmae: 78.4), but object
AUROC 27-40 (max) — normal clouds hold rare-but-normal 32-point patches farther from the training
tokens than the small defects' patches are (top-1 % mean instead of max: the same). With
128-point patches the same distance gives O 68.4 / P 85.6 (raw) and 68.4 / 79.5 (aggregated).

(b) the discriminator is what fails: with the paper's settings it reaches P 56.0 / 54.8 / 53.6
(seeds 0/1/2; O 68.4 / 68.4 / 63.2); it learns to separate "noise vs no noise" perfectly (BCE
0.6 -> 0.02 at sigma 0.3, -> 0.001 at sigma >= 1) while P stays at 57-62 for sigma 0.3, 1, 3,
lr 1e-3 or 2000 steps. The scale of sigma is not the cause: sigma 0.1 / 0.01 on the raw
(unstandardised, per-channel std 0.026) tokens gives P 56.7 / 44.5; PCA whitening (16-63
components) 53.8-57.4. Nor are the attention discriminator's details: a positional embedding
from the patch centres (MLP, as Point-MAE's) instead of one per token index 52.1-59.1, no
positional embedding 55.7, without either LayerNorm / with BatchNorm 52.0-64.8. Without SCA
60.6, without the Feature Adaptor 46.4. The per-token MLP discriminator of the SimpleNet
ablation does transfer part of the signal: P 67.7 / 64.9 (seeds 0/1), 69.6 at 2000 steps,
73.2 without SCA at 2000 steps; on 128-point patches 79.5 / 79.5, 82.8 at 2000 steps and 88.8
without SCA. So the cause is the paper's cross-patch attention discriminator trained on
isotropic feature noise: it becomes a detector of that noise which does not respond to the
demo parts' real defect tokens (on-manifold tokens of another shape, not noisy ones); no
setting within the paper's description fixed it, so the defaults stay the paper's.

(c) train/test mismatch is not it: training on the plain views only (statistics from them too)
gives P 58.0 (all views: 56.0). (d) the median filter changes P by <= 0.3; the object score is
the max (the paper's s_cloud formula is missing from the seed text).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.errors import InputError
from scan2ad.log import progress

AFFINITIES = ("both", "geometry", "feature")
DISCRIMINATORS = ("attention", "mlp")


@dataclasses.dataclass(frozen=True)
class SCAConfig(BaseConfig):
    encoder: str = doc("frozen token encoder: point_mae_small, a checkpoint path, or random:KEY=VALUE,... "
                       "(see pointmae_extractor)", "point_mae_small")
    feature_points: int = doc("points kept (seeded random subset) before grouping", 16384)
    groups: int = doc("patches n per cloud (FPS centres; paper 1024)", 1024)
    group_size: int = doc("points k per patch (paper 32)", 32)
    views: int = doc("token sets per training cloud (view 0 plain, the others augmented)", 4)
    yaw_deg: float = doc("random yaw augmentation range +- degrees (180 = any yaw)", 180.0)
    jitter: float = doc("Gaussian jitter std in the unit-sphere frame (paper 0.005)", 0.005)
    scale_range: float = doc("uniform scaling +- this fraction (paper 0.05)", 0.05)
    fpfh_k: int = doc("neighbours of the FPFH descriptors of SCA", 32)
    use_sca: bool = doc("Spatial Context Aggregation (False: the no-SCA ablation)", True)
    prototype_ratio: float = doc("prototypes n_bar / n, by FPS on the patch centres (paper 0.1)", 0.1)
    neighbours: int = doc("K patches gathered by each prototype (paper 10)", 10)
    sinkhorn_t: float = doc("Sinkhorn temperature t (paper 0.05)", 0.05)
    sinkhorn_iters: int = doc("Sinkhorn iterations (paper 20)", 20)
    tau: float = doc("mask radius of global propagation, unit-sphere frame (paper 0.5)", 0.5)
    tau_c: float = doc("coordinate bandwidth of assignment and back-propagation (paper 0.1)", 0.1)
    assign_rounds: int = doc("Sinkhorn assignment / centroid update alternations", 2)
    mix: float = doc("share of the propagated prototype feature in each patch feature", 0.5)
    snap: float = doc("weight of the cosine-nearest prototype in the final snapping", 0.25)
    use_global: bool = doc("global inter-prototype propagation", True)
    use_snap: bool = doc("final prototype snapping", True)
    affinity: str = doc("SCA affinities: both | geometry (W^g only) | feature (W^z only)", "both")
    adaptor: bool = doc("Feature Adaptor (False: the no-FA ablation)", True)
    alpha: float = doc("Feature Adaptor residual weight (paper 0.5)", 0.5)
    corrupt_p: float = doc("share of tokens the generator corrupts (paper 0.5; 1 = SimpleNet's)", 0.5)
    sigma: float = doc("generator noise std (paper 0.1)", 0.1)
    discriminator: str = doc("attention (the paper's) | mlp (SimpleNet's per-token MLP)", "attention")
    heads: int = doc("attention heads of the discriminator (paper 4)", 4)
    dropout: float = doc("discriminator dropout (paper 0.1)", 0.1)
    epochs: int = doc("training epochs over the token sets (paper 100)", 100)
    batch_size: int = doc("token sets per step (paper 8)", 8)
    lr: float = doc("AdamW learning rate, cosine-annealed (paper 1e-4)", 1e-4)
    weight_decay: float = doc("AdamW weight decay (paper 1e-4)", 1e-4)
    clip: float = doc("gradient norm clipping (paper 1)", 1.0)
    median_voxels: float = doc("3D median filter radius in voxels (paper 3; 0 = off)", 3.0)


class SCA(Detector):
    name = "sca"
    Config: ClassVar[type] = SCAConfig

    def __init__(self, config: Any = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.affinity not in AFFINITIES:
            raise InputError(f"affinity must be one of {', '.join(AFFINITIES)}, not {c.affinity!r}")
        if c.discriminator not in DISCRIMINATORS:
            raise InputError(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, not {c.discriminator!r}")
        if not 0.0 < c.corrupt_p <= 1.0:
            raise InputError(f"corrupt_p must be in (0, 1], got {c.corrupt_p}")
        self.net = None
        self.dim = 0
        self.mean = self.std = None
        self.fingerprint: str | None = None
        self.train_losses: list[float] = []

    # -- settings
    def _sca_settings(self):
        from scan2ad.detectors.methods.sca.model import SCASettings

        c = self.config
        return SCASettings(prototype_ratio=c.prototype_ratio, neighbours=c.neighbours, t=c.sinkhorn_t,
                           iters=c.sinkhorn_iters, tau=c.tau, tau_c=c.tau_c, assign_rounds=c.assign_rounds,
                           mix=c.mix, snap=c.snap, use_global=c.use_global, use_snap=c.use_snap,
                           affinity=c.affinity)

    # -- tokens and descriptors of one cloud
    def _view(self, points: np.ndarray, rng: np.random.Generator | None):
        """(tokens, centres in the unit frame, pooled FPFH, members) of one cloud, augmented
        when ``rng`` is given."""
        from scan2ad.detectors.features.backbones import normalise
        from scan2ad.detectors.features.fpfh import fpfh
        from scan2ad.detectors.features.geometry import (
            check_points,
            estimate_normals,
            random_subsample,
        )
        from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

        c = self.config
        unit = normalise(check_points(points))[0]
        if rng is not None:
            a = math.radians(float(rng.uniform(-c.yaw_deg, c.yaw_deg)))
            rot = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
            unit = unit @ rot.T * float(rng.uniform(1 - c.scale_range, 1 + c.scale_range))
            unit = unit + rng.normal(0.0, c.jitter, unit.shape)
        n_keep = c.feature_points if c.feature_points > 0 else len(unit)
        tok = cloud_tokens(unit, c.encoder, c.groups, c.group_size, n_keep, (), c.seed,
                           frame=(np.zeros(3), 1.0))
        keep = random_subsample(len(unit), n_keep, c.seed)
        row = np.full(len(unit), -1, np.int64)
        row[keep] = np.arange(len(keep))
        sub = unit[keep]
        desc = fpfh(sub, estimate_normals(sub), c.fpfh_k)
        g = desc[row[tok.members]].mean(axis=1)
        return tok.features, tok.centres, g, tok.members

    def _aggregate(self, z: np.ndarray, centres: np.ndarray, g: np.ndarray):
        """Standardised tokens, refined by SCA unless ablated: a float32 torch tensor (n, C)."""
        import torch

        from scan2ad.detectors.methods.sca.model import spatial_context_aggregation

        zt = torch.as_tensor((np.asarray(z, np.float32) - self.mean) / self.std)
        if not self.config.use_sca:
            return zt
        # one thread: SCA's matrices are small (n x n_bar, K x K), and OpenMP's fork/join on them
        # cost ~100x the work on a loaded 2-core machine (measured 7 s vs 0.5 s per cloud)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                return spatial_context_aggregation(zt, torch.as_tensor(centres, dtype=torch.float32),
                                                   torch.as_tensor(g, dtype=torch.float32), self._sca_settings())
        finally:
            torch.set_num_threads(threads)

    def _build(self, dim: int, tokens: int):
        from scan2ad.detectors.methods.sca.model import SCANet

        c = self.config
        return SCANet(dim, tokens, c.adaptor, c.discriminator, c.corrupt_p, c.sigma, c.heads, c.dropout, c.alpha)

    # -- training
    def fit(self, train: TrainSet) -> None:
        import torch

        from scan2ad.detectors.features.pointmae_extractor import encoder_fingerprint

        c = self.config
        rng = np.random.default_rng(c.seed)
        views = []
        for cloud in progress(train.normal, desc=f"sca tokens {train.cls}"):
            for v in range(max(1, c.views)):
                views.append(self._view(cloud.points, rng if v else None))
        shapes = {v[0].shape for v in views}
        if len(shapes) > 1:
            raise InputError(f"training clouds gave tokens of different shapes {sorted(shapes)}: a cloud has "
                             f"fewer points than groups ({c.groups}) or group_size ({c.group_size})")
        raw = np.concatenate([v[0] for v in views]).astype(np.float32)
        self.mean = raw.mean(axis=0)
        self.std = raw.std(axis=0) + 1e-6
        bags = torch.stack([self._aggregate(*v[:3]) for v in progress(views, desc="sca aggregation")])
        m, _, self.dim = bags.shape
        per_epoch = math.ceil(m / max(1, c.batch_size))
        steps = max(1, c.epochs * per_epoch)
        self.train_losses = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.net = self._build(self.dim, c.groups)
            gen = torch.Generator().manual_seed(c.seed)
            opt = torch.optim.AdamW(self.net.parameters(), lr=c.lr, betas=(0.9, 0.999), eps=1e-8,
                                    weight_decay=c.weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
            self.net.train()
            for _ in progress(range(c.epochs), desc=f"sca training {train.cls}"):
                order = torch.randperm(m, generator=gen)
                for b in range(per_epoch):
                    idx = order[b * c.batch_size:(b + 1) * c.batch_size]
                    loss = self.net.loss(bags[idx], gen)
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.clip)
                    opt.step()
                    sched.step()
                    self.train_losses.append(float(loss.detach()))
        self.net.eval()
        self.fingerprint = encoder_fingerprint(c.encoder)

    # -- scoring
    def patch_scores(self, points: np.ndarray):
        """(per-patch logits (n,), members (n, k)) of one cloud."""
        import torch

        from scan2ad.detectors.features.pointmae_extractor import check_fingerprint

        if self.net is None:
            raise InputError("sca is not fitted: call fit() first")
        check_fingerprint(self.config.encoder, self.fingerprint)
        z, centres, g, members = self._view(points, None)
        with torch.no_grad():
            logits = self.net(self._aggregate(z, centres, g)[None])[0]
        return logits.double().numpy(), members

    def score(self, points: np.ndarray) -> Scores:
        pts = np.asarray(points, dtype=np.float64)
        logits, members = self.patch_scores(pts)
        s = patch_max_to_points(pts, logits, members)
        if self.config.median_voxels > 0:
            s = median_filter(pts, s, self.config.median_voxels)
        return Scores(s, self.object_score(s))

    # -- persistence
    def state_dict(self) -> dict[str, Any]:
        if self.net is None:
            raise InputError("sca is not fitted: nothing to save")
        return {"dim": self.dim, "net": dict(self.net.state_dict()), "mean": self.mean, "std": self.std,
                "encoder_fingerprint": self.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        with torch.random.fork_rng(devices=[]):
            self.dim = int(state["dim"])
            self.net = self._build(self.dim, self.config.groups)
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.std = np.asarray(state["std"], dtype=np.float32)
        self.fingerprint = state.get("encoder_fingerprint")


def patch_max_to_points(points: np.ndarray, patch_scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each point's maximum score over the patches containing it; points in no patch take their
    nearest covered point's score."""
    from scan2ad.detectors.features.geometry import knn

    s = np.full(len(points), -np.inf)
    np.maximum.at(s, np.asarray(members).ravel(), np.repeat(np.asarray(patch_scores, np.float64), members.shape[1]))
    covered = np.isfinite(s)
    if not covered.all():
        cov = np.flatnonzero(covered)
        s[~covered] = s[cov[knn(points[~covered], points[cov], 1)[1][:, 0]]]
    return s


def median_filter(points: np.ndarray, scores: np.ndarray, radius_voxels: float = 3.0,
                  max_neighbours: int = 32) -> np.ndarray:
    """3D median filter: the median score of each point's neighbours (itself included) within
    ``radius_voxels`` voxels, the voxel being the median nearest-neighbour spacing of the cloud;
    at most ``max_neighbours`` nearest are used."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    tree = cKDTree(pts)
    spacing = float(np.median(tree.query(pts, k=2, workers=-1)[0][:, 1]))
    k = int(min(max_neighbours, len(pts)))
    d, i = tree.query(pts, k=k, distance_upper_bound=radius_voxels * max(spacing, 1e-12), workers=-1)
    d, i = d.reshape(len(pts), k), i.reshape(len(pts), k)
    vals = np.asarray(scores, np.float64)[np.minimum(i, len(pts) - 1)]
    vals[~np.isfinite(d)] = np.nan
    return np.nanmedian(vals, axis=1)
