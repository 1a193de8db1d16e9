"""Chamfer distances between point sets, in plain torch (no CUDA extension).

Definitions as the official ``extensions/chamfer_dist`` of Point-BERT / Point-MAE compute them,
where ``d1[i] = min_j |a_i - b_j|^2`` and ``d2[j] = min_i |a_i - b_j|^2``:

* ``chamfer_l2 = mean(d1) + mean(d2)`` (Point-MAE's pretraining loss, ``cdl2``);
* ``chamfer_l1 = (mean(sqrt d1) + mean(sqrt d2)) / 2`` (Point-BERT's dVAE loss, ``cdl1``).

Means run over every point of every set in the batch. The pairwise distance matrix is built in
full (B, N, M): patches hold tens of points, so this is small; large clouds should be chunked
by the caller.
"""

from __future__ import annotations

import torch


def nearest_sq_distances(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distance of each point of ``a`` (B, N, 3) to ``b`` (B, M, 3) and back: (B, N), (B, M)."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"chamfer: point sets must be (B, N, D) and (B, M, D), got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    # |a|^2 + |b|^2 - 2ab is fast but loses precision near zero; the difference form is exact
    # and cheap at patch sizes.
    d = ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)
    return d.min(dim=2).values, d.min(dim=1).values


def chamfer_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric squared Chamfer distance ``mean(d1) + mean(d2)`` (a scalar)."""
    d1, d2 = nearest_sq_distances(a, b)
    return d1.mean() + d2.mean()


def chamfer_l1(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Symmetric Chamfer distance ``(mean(sqrt d1) + mean(sqrt d2)) / 2`` (a scalar); ``eps``
    keeps the gradient of sqrt finite at coincident points."""
    d1, d2 = nearest_sq_distances(a, b)
    return (torch.sqrt(d1 + eps).mean() + torch.sqrt(d2 + eps).mean()) / 2
