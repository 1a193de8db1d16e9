"""Patch grouping for the point transformers: farthest point sampling of centres, then the k
nearest points of each centre (Point-MAE §3.1 "Point Patches Generation", Point-BERT §3.1).

The official code calls CUDA extensions (``pointnet2_ops.furthest_point_sample`` and
``knn_cuda.KNN``); these are written in plain torch so they run on any device and in CI, which
is why they are here at all. FPS starts from index 0 of each cloud, as ``pointnet2_ops`` does,
so the grouping of a given cloud is deterministic.

On the CPU, one cloud at a time (the detectors' inference), :func:`cpu_grouping` computes the
same grouping with Open3D's ``farthest_point_down_sample`` (also greedy from point 0) and a SciPy
k-d tree (neighbours nearest first, as ``topk(sorted=True)``): the Python loop over the FPS picks
costs 0.13 s per 8192-point cloud at M3DM's 1024 x 128 in torch, ~5x what Open3D + SciPy take
(``benchmarks/pretrain.py``). Its indices go to :func:`group_points` as ``centre_idx`` and
``knn_idx``. The centres are the same set (up to exact ties, float32 in torch and float64 in
Open3D) but in input order, not pick order, as Open3D returns them; the tokens are a set (the
transformer is permutation-equivariant and embeds each token's position from its centre), so
an encoder gives the same features, permuted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
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


def cpu_grouping(points: np.ndarray, num_group: int, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(centre_idx (G,), knn_idx (G, k))`` of one (N, 3) cloud by Open3D FPS from point 0 and
    SciPy kNN (nearest first): the grouping of :func:`group_points`, faster on the CPU."""
    from scan2ad.detectors.features.geometry import farthest_point_sampling, knn

    pts = np.asarray(points, dtype=np.float64)
    if not (1 <= num_group <= len(pts) and 1 <= group_size <= len(pts)):
        raise InputError(f"{len(pts)} points cannot make {num_group} groups of {group_size} points")
    centre_idx = farthest_point_sampling(pts, num_group, 0)
    _, idx = knn(pts[centre_idx], pts, group_size)
    return centre_idx.astype(np.int64), idx.reshape(num_group, group_size)


def group_points(xyz: torch.Tensor, num_group: int, group_size: int, centre_idx: torch.Tensor | None = None,
                 knn_idx: torch.Tensor | None = None) -> Groups:
    """FPS centres and kNN patches of (B, N, 3) clouds; the patch points are relative to their
    centre, as both official ``Group`` modules return them. ``centre_idx`` (B, G) and
    ``knn_idx`` (B, G, k), e.g. from :func:`cpu_grouping`, replace the torch FPS and kNN."""
    xyz = check_xyz(xyz)
    b, npts, _ = xyz.shape
    if num_group < 1 or group_size < 1:
        raise InputError(f"num_group ({num_group}) and group_size ({group_size}) must be positive")
    if num_group > npts or group_size > npts:
        raise InputError(f"{npts} points cannot make {num_group} groups of {group_size} points; "
                         "lower num_group/group_size or give more points")
    if centre_idx is None:
        with torch.no_grad():
            centre_idx = farthest_point_sample(xyz, num_group)
    elif tuple(centre_idx.shape) != (b, num_group):
        raise InputError(f"centre_idx must have shape {(b, num_group)}, got {tuple(centre_idx.shape)}")
    rows = torch.arange(b, device=xyz.device)[:, None]
    centers = xyz[rows, centre_idx]                              # (B, G, 3)
    if knn_idx is None:
        with torch.no_grad():
            idx = knn_indices(centers, xyz, group_size)          # (B, G, k)
    elif tuple(knn_idx.shape) != (b, num_group, group_size):
        raise InputError(f"knn_idx must have shape {(b, num_group, group_size)}, got {tuple(knn_idx.shape)}")
    else:
        idx = knn_idx
    neighborhood = xyz[rows[:, :, None], idx] - centers[:, :, None, :]
    return Groups(neighborhood, centers, idx)
