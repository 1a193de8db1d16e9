"""The pieces of the SCA detector (seed 001_1a0643aab4434808) in plain torch: Sinkhorn
normalisation, the training-free Spatial Context Aggregation, the Feature Adaptor, the Selective
Anomalous Feature Generator and the two discriminators (cross-patch attention; the SimpleNet
per-token MLP of the ablation). The paper's equations are not in the seed text, only their prose;
every choice made where the prose is silent is written down at the function doing it.

Conventions: one cloud's patch tokens ``z`` (n, C), their centres ``c`` (n, 3) in the cloud's
unit-sphere frame (so ``tau`` and ``tau_c`` are in units of the cloud's radius) and geometric
descriptors ``g`` (n, d) (pooled FPFH). Similarities are dot products of L2-normalised vectors
divided by sqrt(dim), as the paper writes them (``(g_j . g_k) / sqrt(d)``); normalising first
keeps FPFH histograms (which sum to 200 per block) and standardised tokens on one scale.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F


# --------------------------------------------------------------------------- Sinkhorn
def sinkhorn(logits: torch.Tensor, t: float = 0.05, iters: int = 20, a: torch.Tensor | None = None,
             b: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Entropic optimal-transport plan of ``exp(logits / t)`` with row marginals ``a`` and column
    marginals ``b`` (uniform when omitted), ``iters`` log-domain Sinkhorn iterations [Peyré &
    Cuturi 2019, §4.2]. ``logits`` (..., R, K); ``mask`` (..., R, K) bool, False entries get no mass.
    The last update matches the rows exactly; the columns converge with the iterations."""
    r, k = logits.shape[-2:]
    log_k = logits / t
    if mask is not None:
        log_k = log_k.masked_fill(~mask, float("-inf"))
    log_a = (torch.full(logits.shape[:-1], -math.log(r), dtype=logits.dtype) if a is None
             else torch.log(a).expand(logits.shape[:-1]))
    log_b = (torch.full(logits.shape[:-2] + (k,), -math.log(k), dtype=logits.dtype) if b is None
             else torch.log(b).expand(logits.shape[:-2] + (k,)))
    u = torch.zeros_like(log_a)
    v = torch.zeros_like(log_b)
    for _ in range(max(1, iters)):
        v = log_b - torch.logsumexp(log_k + u[..., :, None], dim=-2)
        u = log_a - torch.logsumexp(log_k + v[..., None, :], dim=-1)
    return torch.exp(log_k + u[..., :, None] + v[..., None, :])


def row_normalised(plan: torch.Tensor) -> torch.Tensor:
    """A transport plan as averaging weights: every row scaled to sum to 1."""
    return plan / plan.sum(dim=-1, keepdim=True).clamp_min(1e-30)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-12)


def _sim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(x_i . y_j) / sqrt(dim) of the L2-normalised rows."""
    return _unit(x) @ _unit(y).transpose(-1, -2) / math.sqrt(x.shape[-1])


# --------------------------------------------------------------------------- SCA
@dataclasses.dataclass(frozen=True)
class SCASettings:
    """Spatial Context Aggregation switches and hyper-parameters (the paper's defaults)."""

    prototype_ratio: float = 0.1   # n_bar = 0.1 n prototypes, FPS on the patch centres
    neighbours: int = 10           # K patches gathered by each prototype
    t: float = 0.05                # Sinkhorn temperature
    iters: int = 20                # Sinkhorn iterations
    tau: float = 0.5               # mask radius of global inter-prototype propagation
    tau_c: float = 0.1             # coordinate bandwidth of assignment and back-propagation
    assign_rounds: int = 2         # Sinkhorn assignment <-> centroid update alternations
    mix: float = 0.5               # share of the propagated prototype feature in a patch feature
    snap: float = 0.25             # weight of the cosine-nearest prototype in the final snapping
    use_global: bool = True        # global inter-prototype propagation
    use_snap: bool = True          # final prototype snapping
    affinity: str = "both"         # both | geometry (W^g only) | feature (W^z only)


def _fuse(geo: torch.Tensor, feat: torch.Tensor, affinity: str) -> torch.Tensor:
    """Fused weights: the elementwise product of the normalised geometric and feature weights,
    renormalised per row (= a softmax of their summed logarithms); one of them alone in the
    pure-geometry / pure-feature ablations."""
    if affinity == "geometry":
        return row_normalised(geo)
    if affinity == "feature":
        return row_normalised(feat)
    return row_normalised(geo * feat)


def prototype_indices(centres: torch.Tensor, count: int) -> torch.Tensor:
    """Farthest-point sampling of ``count`` patch centres (deterministic, starting at centre 0)."""
    from scan2ad.detectors.features.backbones.grouping import farthest_point_sample

    count = max(1, min(int(count), len(centres)))
    return farthest_point_sample(centres[None].float(), count)[0].long()


def spatial_context_aggregation(z: torch.Tensor, c: torch.Tensor, g: torch.Tensor,
                                s: SCASettings = SCASettings()) -> torch.Tensor:
    """Refined patch tokens (n, C) of one cloud: prototypes by FPS, OT soft assignment, local
    aggregation over K patches per prototype, global propagation among prototypes, back-
    propagation to the patches and optional snapping (seed §"Spatial context aggregation").

    Choices where the paper gives no formula:

    * assignment cost: ``-(S^g + S^z) + ||c_i - p_j||^2 / tau_c`` between patch i and prototype
      j's current centroids (g~_j, z~_j) and its fixed location p_j, so prototypes stay spatial;
      row marginals 1/n, column marginals mu_j = the share of patches whose nearest prototype is
      j (the "initial density"); ``assign_rounds`` alternations of Sinkhorn and the centroid
      update g~_j = sum_i gamma_ij g_i / sum_i gamma_ij (same for z~_j);
    * local aggregation: for prototype j, K x K similarity matrices S^g_j, S^z_j among its K
      nearest patches (by centre distance to p_j), each Sinkhorn-normalised (doubly stochastic),
      fused (:func:`_fuse`); the prototype feature becomes the column-mass-weighted mean of its
      patches' features, mean_a sum_b W_j[a, b] z_b, i.e. each patch counts as much as the
      neighbourhood's patches attend to it;
    * global propagation: inter-prototype S~^g, S~^z, pairs farther than tau masked, each
      Sinkhorn-normalised, fused; z~_j <- sum_k W~_jk z~_k;
    * back-propagation: kernel exp(-||c_i - p_j||^2 / tau_c) * exp(S^z_ij / t) Sinkhorn-normalised
      (rows 1/n, columns mu) and row-normalised into W; z_i <- (1 - mix) z_i + mix sum_j W_ij z~_j;
    * snapping: z_i <- (1 - snap) z_i + snap z~_j*, j* the cosine-nearest prototype (a soft
      re-assignment: a hard one would replace every token by one of n_bar prototypes and erase
      the defects the discriminator has to see).
    """
    n = z.shape[0]
    z, c, g = z.float(), c.float(), g.float()
    m = max(1, round(s.prototype_ratio * n))
    idx = prototype_indices(c, m)
    p = c[idx]
    d2 = torch.cdist(c, p) ** 2                                       # (n, m)
    nearest = d2.argmin(dim=1)
    mu = torch.bincount(nearest, minlength=m).float().clamp_min(0.5)
    mu = mu / mu.sum()
    use_g, use_z = s.affinity in ("both", "geometry"), s.affinity in ("both", "feature")

    # soft assignment of patches to prototypes, alternating with the centroid update
    g_t, z_t = g[idx], z[idx]
    for _ in range(max(1, s.assign_rounds)):
        sim = (_sim(g, g_t) if use_g else 0.0) + (_sim(z, z_t) if use_z else 0.0)
        gamma = sinkhorn(sim - s.t * d2 / s.tau_c, s.t, s.iters, b=mu)
        w = gamma / gamma.sum(dim=0, keepdim=True).clamp_min(1e-30)
        g_t, z_t = w.T @ g, w.T @ z

    # local aggregation over each prototype's K nearest patches
    k = max(1, min(s.neighbours, n))
    nb = torch.cdist(p, c).topk(k, largest=False).indices             # (m, k)
    gn, zn = g[nb], z[nb]                                             # (m, k, d|C)
    wg = sinkhorn(_sim(gn, gn), s.t, s.iters)
    wz = sinkhorn(_sim(zn, zn), s.t, s.iters)
    w_loc = _fuse(wg, wz, s.affinity)                                  # (m, k, k)
    z_t = (w_loc.mean(dim=1)[..., None] * zn).sum(dim=1)
    g_t = (w_loc.mean(dim=1)[..., None] * gn).sum(dim=1)

    # global propagation among prototypes within tau
    if s.use_global and m > 1:
        near = torch.cdist(p, p) <= s.tau
        wg = sinkhorn(_sim(g_t, g_t), s.t, s.iters, mask=near)
        wz = sinkhorn(_sim(z_t, z_t), s.t, s.iters, mask=near)
        z_t = _fuse(wg, wz, s.affinity) @ z_t

    # back-propagation to the patches
    logit_c = -s.t * d2 / s.tau_c                                       # exp(logit / t) = exp(-d2 / tau_c)
    logit_z = _sim(z, z_t)
    logits = (logit_c if s.affinity != "feature" else 0.0) + (logit_z if s.affinity != "geometry" else 0.0)
    w_back = row_normalised(sinkhorn(logits, s.t, s.iters, b=mu))
    out = (1.0 - s.mix) * z + s.mix * (w_back @ z_t)

    if s.use_snap:
        j = (_unit(out) @ _unit(z_t).T).argmax(dim=1)
        out = (1.0 - s.snap) * out + s.snap * z_t[j]
    return out


# --------------------------------------------------------------------------- trained modules
class FeatureAdaptor(nn.Module):
    """G_theta: q = alpha z + (1 - alpha) Norm2(W2 LeakyReLU_0.1(Norm1(W1 z))), hidden C/2, both
    norms LayerNorm (the paper's final runs), fixed residual weight alpha = 0.5."""

    def __init__(self, dim: int, alpha: float = 0.5, slope: float = 0.1):
        super().__init__()
        hidden = max(1, dim // 2)
        self.fc1, self.norm1 = nn.Linear(dim, hidden), nn.LayerNorm(hidden)
        self.fc2, self.norm2 = nn.Linear(hidden, dim), nn.LayerNorm(dim)
        self.alpha, self.slope = float(alpha), float(slope)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(self.fc1(z)), self.slope)
        return self.alpha * z + (1.0 - self.alpha) * self.norm2(self.fc2(h))


class AnomalousFeatureGenerator(nn.Module):
    """Selective AFG: each token corrupted with probability ``p`` (Bernoulli mask m_i) by
    gamma * eps, eps ~ N(0, sigma^2 I), gamma a learnable scalar (initialised to 1). ``p = 1`` is
    the SimpleNet generator of the ablation (every token perturbed)."""

    def __init__(self, p: float = 0.5, sigma: float = 0.1):
        super().__init__()
        self.p, self.sigma = float(p), float(sigma)
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, q: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(corrupted tokens, mask m as float labels), both for ``q`` (B, n, C)."""
        m = (torch.rand(q.shape[:-1], generator=generator, device=q.device) < self.p).float()
        eps = torch.randn(q.shape, generator=generator, device=q.device) * self.sigma
        return q + m[..., None] * self.gamma * eps, m


class AttentionDiscriminator(nn.Module):
    """Cross-patch attention discriminator: q + e_i (learnable, N(0, 0.02^2)), one pre-norm
    multi-head self-attention block (4 heads, residual), then LayerNorm and a token-wise MLP
    (hidden 4C, GELU, dropout 0.1) to one logit per token."""

    def __init__(self, dim: int, tokens: int, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.head = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(4 * dim, 1))

    def forward(self, q: torch.Tensor) -> torch.Tensor:   # (B, n, C) -> (B, n) logits
        x = q + self.pos[: q.shape[1]]
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return self.head(self.norm2(x)).squeeze(-1)


class MLPDiscriminator(nn.Module):
    """SimpleNet's discriminator (ablation): a per-token two-layer MLP, Linear(C, C) ->
    BatchNorm -> LeakyReLU 0.2 -> Linear(C, 1), no attention and no positional embedding."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc1, self.bn = nn.Linear(dim, dim), nn.BatchNorm1d(dim)
        self.fc2 = nn.Linear(dim, 1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        b, n, c = q.shape
        h = F.leaky_relu(self.bn(self.fc1(q.reshape(b * n, c))), 0.2)
        return self.fc2(h).reshape(b, n)


class SCANet(nn.Module):
    """Feature Adaptor (or identity) + generator + discriminator: what training optimises."""

    def __init__(self, dim: int, tokens: int, adaptor: bool, discriminator: str, p: float,
                 sigma: float, heads: int = 4, dropout: float = 0.1, alpha: float = 0.5):
        super().__init__()
        self.adaptor = FeatureAdaptor(dim, alpha) if adaptor else nn.Identity()
        self.generator = AnomalousFeatureGenerator(p, sigma)
        self.discriminator = (AttentionDiscriminator(dim, tokens, heads, dropout)
                              if discriminator == "attention" else MLPDiscriminator(dim))

    def loss(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Patch-wise BCE over the clean tokens (label 0) and their corrupted copies (label m_i)."""
        q = self.adaptor(z)
        q_bad, m = self.generator(q, generator)
        logits = self.discriminator(torch.cat([q, q_bad]))
        labels = torch.cat([torch.zeros_like(m), m])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Per-token anomaly logits (B, n) of clean tokens (the generator is off)."""
        return self.discriminator(self.adaptor(z))
