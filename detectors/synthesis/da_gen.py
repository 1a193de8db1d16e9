"""DA-Gen, MC4AD's Diverse Anomaly-Generation (004_be09d63770e75756.txt §4.1, Eq. 5).

A normal cloud (normalised to the unit sphere) is split into G = 64 patches by the paper's
"hybrid strategy combining random selection and K-nearest neighbours": G random centres, each
patch its K = N / G nearest points. One patch (as PO3AD, whose loader MC4AD extends, shifts one
of its 64 parts per sample) receives the defective force

    F_D = [β·λ·ν + (1 − λ)·η] · γ · (π / max π) · (1 − σ·|π|)                     (Eq. 5)

with β ∈ {−1, 1} (outward / inward), λ ∈ [0.95, 1] (weight of the normal ν over a random unit
direction η), γ ∈ [0.06, 0.12] (displacement at the centre, normalised units), σ ∈ [0, 0.08]
(stretching). Choices where the paper is silent, written down:

* π, "the normalised projected distance", is the proximity 1 − d / max d of each patch point to
  the patch centre, d measured after projecting onto the centre's tangent plane and stretching
  the in-plane coordinates along a random tangent direction by 1 / (1 − 4σ) — so a larger σ gives
  a narrower, longer anomaly, as the paper describes — then min–max normalised (as PO3AD does).
* η is one random unit vector per patch (a per-point η would add noise, not a direction).
* The target the network learns is the displacement that was applied (PO3AD's ``gt_offset =
  new − old``); the corrective force is its negative and the anomaly score is its norm, so the
  sign convention does not change any score.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree


@dataclasses.dataclass(frozen=True)
class DAGenConfig:
    patches: int = 64                      # G
    shifted_patches: int = 1               # patches displaced per sample (PO3AD: 1)
    gamma: tuple[float, float] = (0.06, 0.12)
    lam: tuple[float, float] = (0.95, 1.0)
    sigma: tuple[float, float] = (0.0, 0.08)


def _tangent_basis(n: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.normal(size=3)
    t = a - (a @ n) * n
    t /= np.linalg.norm(t) + 1e-12
    return t, np.cross(n, t)


def da_gen(points: np.ndarray, normals: np.ndarray, rng: np.random.Generator,
           cfg: DAGenConfig = DAGenConfig(), tree: cKDTree | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Return (displaced points, displacement F_D per point); untouched points get 0."""
    n = len(points)
    k = max(8, n // cfg.patches)
    tree = tree or cKDTree(points)
    disp = np.zeros_like(points)
    for _ in range(cfg.shifted_patches):
        c = int(rng.integers(n))
        _, idx = tree.query(points[c], k=min(k, n))
        nu_c = normals[c] / (np.linalg.norm(normals[c]) + 1e-12)
        t, b = _tangent_basis(nu_c, rng)
        sigma = rng.uniform(*cfg.sigma)
        rel = points[idx] - points[c]
        u, v = rel @ t, rel @ b
        d = np.sqrt((u / max(1e-3, 1.0 - 4.0 * sigma)) ** 2 + v**2)   # projected, stretched
        prox = 1.0 - d / (d.max() + 1e-12)
        prox = (prox - prox.min()) / (prox.max() - prox.min() + 1e-12)
        beta = rng.choice([-1.0, 1.0])
        lam = rng.uniform(*cfg.lam)
        gamma = rng.uniform(*cfg.gamma)
        eta = rng.normal(size=3)
        eta /= np.linalg.norm(eta)
        nu = normals[idx] / (np.linalg.norm(normals[idx], axis=1, keepdims=True) + 1e-12)
        direction = beta * lam * nu + (1.0 - lam) * eta
        mag = gamma * (prox / (prox.max() + 1e-12)) * (1.0 - sigma * np.abs(prox))
        disp[idx] += direction * mag[:, None]
    return points + disp, disp
