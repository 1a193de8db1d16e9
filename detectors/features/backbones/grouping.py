"""Patch grouping for the point transformers: farthest point sampling of centres, then the k
nearest points of each centre (Point-MAE §3.1 "Point Patches Generation", Point-BERT §3.1).

The official code calls CUDA extensions (``pointnet2_ops.furthest_point_sample`` and
``knn_cuda.KNN``); these are written in plain torch so they run on any device and in CI, which
is why they are here at all. FPS starts from index 0 of each cloud, as ``pointnet2_ops`` does,
so the grouping of a given cloud is deterministic. For numpy arrays use
:func:`scan2ad.detectors.features.geometry.farthest_point_sampling` (Open3D).
"""

from __future__ import annotations

import dataclasses

import torch

from scan2ad.errors import InputError


@dataclasses.dataclass
class Groups:
    """Point patches of a batch of clouds."""

    neighborhood: torch.Tensor  # (B, G, k, 3) patch points relative to their centre
    centers: torch.Tensor       # (B, G, 3)
    idx: torch.Tensor           # (B, G, k) long, indices into the input points


def check_xyz(xyz: torch.Tensor) -> torch.Tensor:
    """``xyz`` as a (B, N, 3) float tensor, or an :class:`InputError` naming the problem."""
    if not isinstance(xyz, torch.Tensor):
        raise InputError(f"points must be a torch.Tensor (B, N, 3), got {type(xyz).__name__}")
    if xyz.ndim != 3 or xyz.shape[-1] != 3:
        raise InputError(f"points must have shape (B, N, 3), got {tuple(xyz.shape)}")
    if xyz.shape[1] == 0:
        raise InputError("points: the clouds are empty")
    if not torch.isfinite(xyz).all():
        raise InputError("points contain NaN or infinite coordinates")
    return xyz if xyz.is_floating_point() else xyz.float()


def farthest_point_sample(xyz: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) long indices of ``n`` farthest-point-sampled points of each (B, N, 3) cloud.

    Iterative FPS (PointNet++ §3.2): O(n N) per cloud, vectorised over the batch.
    """
    b, npts, _ = xyz.shape
    if n > npts:
        raise InputError(f"cannot sample {n} centres from {npts} points")
    out = torch.zeros(b, n, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, npts), float("inf"), dtype=xyz.dtype, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    last = torch.zeros(b, dtype=torch.long, device=xyz.device)
    for i in range(n):
        out[:, i] = last
        d = ((xyz - xyz[rows, last][:, None, :]) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        last = dist.argmax(dim=1)
    return out


def knn_indices(query: torch.Tensor, reference: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """(B, M, k) long indices of the ``k`` nearest ``reference`` points (B, N, 3) of each
    ``query`` point (B, M, 3), nearest first. Queries go in chunks so memory stays O(chunk N)."""
    if k > reference.shape[1]:
        raise InputError(f"cannot take {k} neighbours from {reference.shape[1]} points")
    parts = []
    for s in range(0, query.shape[1], chunk):
        d = torch.cdist(query[:, s:s + chunk], reference)
        parts.append(d.topk(k, dim=-1, largest=False, sorted=True).indices)
    return torch.cat(parts, dim=1)


def group_points(xyz: torch.Tensor, num_group: int, group_size: int) -> Groups:
    """FPS centres and kNN patches of (B, N, 3) clouds; the patch points are relative to their
    centre, as both official ``Group`` modules return them."""
    xyz = check_xyz(xyz)
    b, npts, _ = xyz.shape
    if num_group < 1 or group_size < 1:
        raise InputError(f"num_group ({num_group}) and group_size ({group_size}) must be positive")
    if num_group > npts or group_size > npts:
        raise InputError(f"{npts} points cannot make {num_group} groups of {group_size} points; "
                         "lower num_group/group_size or give more points")
    with torch.no_grad():
        centre_idx = farthest_point_sample(xyz, num_group)
    rows = torch.arange(b, device=xyz.device)[:, None]
    centers = xyz[rows, centre_idx]                              # (B, G, 3)
    with torch.no_grad():
        idx = knn_indices(centers, xyz, group_size)              # (B, G, k)
    neighborhood = xyz[rows[:, :, None], idx] - centers[:, :, None, :]
    return Groups(neighborhood, centers, idx)
