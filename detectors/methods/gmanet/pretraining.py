"""Self-supervised pretraining of GMANet's expert PointNet++: regression of multi-scale local
shape descriptors (``scan2ad pretrain pointnet2``).

GMANet's expert is "the backbone of PointNet++ ... θ_e remains frozen" (003_15f016e519109ec7.txt
§IV-C): a *pretrained* network whose per-point features describe the geometry around each point,
which the apprentice learns to reproduce on normal parts only. No pretrained PointNet++ can be
downloaded here, and a randomly initialised expert left GMANet at chance (see the detector's
docstring), so scan2ad pretrains one on its procedural part library, as it does Point-MAE and
Point-BERT (:mod:`scan2ad.detectors.features.backbones.pretrain`).

The pretext task, chosen so that the features must describe *local* geometry (the paper is
silent; Bergmann & Sattlegger's 3D student-teacher pretrains its teacher on local patches for the
same reason): from each point's features a small head (linear-ReLU-linear, ``head_dim``) regresses
hand-computed descriptors of its ``k``-nearest-neighbour patch at three scales (``descriptor_k``,
16/32/64 of 1024 points: about 0.15-0.4 of the unit sphere on the library's parts), up to five
per scale, all invariant to rotation:

* surface variation 3·λ₀ / (λ₀ + λ₁ + λ₂) (curvature; eigenvalues of the patch covariance,
  ascending), planarity (λ₁ − λ₀) / λ₂ and linearity (λ₂ − λ₁) / λ₂ (edges, thin parts);
* the point's offset from its patch centroid along the input normal, divided by the patch's RMS
  radius √(λ₀ + λ₁ + λ₂) (positive on a local peak, negative in a pit: bumps and dents);
* 1 − |n_k · n| between the patch's normal and the input normal (how fast the normal turns;
  left out at k = 16, where the two are the same estimate).

Each descriptor is then averaged over the point's ``smooth`` nearest neighbours (8): PointNet++'s
per-point output is an interpolation of its 512 first-level centres' features plus the point's
own normal, so point-to-point jitter of a descriptor (which point of a random sample happens to
sit where) cannot be predicted; measured on 150 steps without it, the finest scale's offsets
kept R² ≈ 0.02 and the loss stayed at 0.78 of the targets' variance.

Targets are standardised per channel with the mean and standard deviation over a fixed
calibration batch (stored with the model as buffers); the loss is their mean squared error. The
input normals are those GMANet computes (:func:`scan2ad.detectors.features.geometry.estimate_normals`,
16 neighbours, oriented away from the centroid), so the expert sees at pretraining what it sees
in GMANet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from scan2ad.config import doc
from scan2ad.errors import InputError

from .model import PointNet2Encoder

NORMAL_K = 16   # neighbours of GMANet's input normals (detector._inputs)


@dataclasses.dataclass(frozen=True)
class PointNet2Config:
    """Architecture of GMANet's PointNet++ and of its pretraining head."""

    feat_dim: int = doc("per-point feature channels (GMANet's feat_dim)", 64)
    width: int = doc("channel multiplier of PointNet++", 1)
    normals: bool = doc("normals as input features (GMANet's default)", True)
    descriptor_k: tuple[int, ...] = doc("neighbourhood sizes of the regressed descriptors", (16, 32, 64))
    smooth: int = doc("descriptors averaged over this many nearest neighbours (1 = none)", 8)
    head_dim: int = doc("hidden width of the regression head", 64)

    def __post_init__(self):
        object.__setattr__(self, "descriptor_k", tuple(int(k) for k in self.descriptor_k))  # JSON gives lists
        if self.feat_dim < 1 or self.width < 1 or self.head_dim < 1:
            raise InputError("PointNet2Config: feat_dim, width and head_dim must be positive")
        if not self.descriptor_k or min(self.descriptor_k) < 4 or self.smooth < 1:
            raise InputError(f"PointNet2Config: descriptor_k needs sizes >= 4 (got {self.descriptor_k}), "
                             f"smooth >= 1 (got {self.smooth})")


class PointNet2Backbone(PointNet2Encoder):
    """:class:`PointNet2Encoder` built from a :class:`PointNet2Config` (the backbone checkpoints'
    convention: ``cls(cfg)``, ``.cfg``); same weights, same keys."""

    def __init__(self, cfg: PointNet2Config | None = None):
        cfg = cfg or PointNet2Config()
        super().__init__(cfg.feat_dim, cfg.width, cfg.normals)
        self.cfg = cfg


def descriptor_count(ks) -> int:
    """Channels :func:`local_descriptors` returns for the scales ``ks``."""
    return 5 * len(ks) - sum(k == NORMAL_K for k in ks)


def local_descriptors(points: np.ndarray, normals: np.ndarray, ks=(16, 32, 64), smooth: int = 8) -> np.ndarray:
    """(N, :func:`descriptor_count`) descriptors of every point's k-NN patches, each averaged over
    the point's ``smooth`` nearest neighbours (module docstring), float32."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    kmax = min(max(max(ks), smooth), len(pts))
    _, idx = cKDTree(pts).query(pts, kmax)
    out = []
    for k in ks:
        nb = pts[idx[:, :min(k, kmax)]]
        centre = nb.mean(axis=1)
        dev = nb - centre[:, None]
        w, v = np.linalg.eigh(np.einsum("nki,nkj->nij", dev, dev) / nb.shape[1])
        w = np.clip(w, 0.0, None)
        total = w.sum(axis=1) + 1e-12
        top = w[:, 2] + 1e-12
        patch_normal = v[:, :, 0]
        out += [3.0 * w[:, 0] / total, (w[:, 1] - w[:, 0]) / top, (w[:, 2] - w[:, 1]) / top,
                np.einsum("ni,ni->n", pts - centre, nrm) / np.sqrt(total)]
        if k != NORMAL_K:
            out.append(1.0 - np.abs(np.einsum("ni,ni->n", patch_normal, nrm)))
    desc = np.stack(out, axis=1)
    if smooth > 1:
        desc = desc[idx[:, :min(smooth, kmax)]].mean(axis=1)
    return desc.astype(np.float32)


def encoder_inputs(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points, normals) as GMANet feeds its encoders (normals of ``NORMAL_K`` neighbours)."""
    from scan2ad.detectors.features.geometry import estimate_normals

    pts = np.asarray(points, dtype=np.float64)
    return pts, estimate_normals(pts, NORMAL_K)


class PointNet2Pretrainer(nn.Module):
    """The encoder plus the descriptor-regression head; ``forward(xyz (B, N, 3))`` is the loss."""

    def __init__(self, cfg: PointNet2Config | None = None):
        super().__init__()
        self.cfg = cfg = cfg or PointNet2Config()
        self.encoder = PointNet2Backbone(cfg)
        n_out = descriptor_count(cfg.descriptor_k)
        self.head = nn.Sequential(nn.Linear(cfg.feat_dim, cfg.head_dim), nn.ReLU(inplace=True),
                                  nn.Linear(cfg.head_dim, n_out))
        self.register_buffer("target_mean", torch.zeros(n_out))
        self.register_buffer("target_std", torch.ones(n_out))

    def targets(self, cloud: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(xyz, normals, raw descriptors) tensors of one (N, 3) cloud."""
        pts, nrm = encoder_inputs(cloud)
        t = local_descriptors(pts, nrm, self.cfg.descriptor_k, self.cfg.smooth)
        return (torch.as_tensor(pts, dtype=torch.float32), torch.as_tensor(nrm, dtype=torch.float32),
                torch.as_tensor(t))

    @torch.no_grad()
    def calibrate(self, clouds: np.ndarray) -> None:
        """Set the target standardisation from a batch of (B, N, 3) clouds."""
        t = torch.cat([self.targets(c)[2] for c in np.asarray(clouds)])
        self.target_mean.copy_(t.mean(0))
        self.target_std.copy_(t.std(0).clamp(min=1e-6))

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        losses = []
        for cloud in xyz.detach().cpu().numpy():
            x, n, t = self.targets(cloud)
            x, n, t = x.to(xyz.device), n.to(xyz.device), t.to(xyz.device)
            pred = self.head(self.encoder(x, n if self.cfg.normals else None))
            losses.append(nn.functional.mse_loss(pred, (t - self.target_mean) / self.target_std))
        return torch.stack(losses).mean()
