"""Sparse 3D convolution on voxel sets, in plain torch (CPU or GPU).

MC4AD's CFP-Net is a MinkUNet (Choy et al. 2019) — a U-Net of sparse convolutions. The usual
engines (MinkowskiEngine, spconv, torchsparse) need CUDA builds that do not install here, so this
module implements the three operators the network needs with hashed voxel neighbourhoods and
gather/scatter:

* :class:`SubmanifoldConv3d` — output sites = input sites (odd kernel, "same" padding),
* :class:`SparseConv3d` with stride s = kernel k — downsampling to the coarser voxel set,
* :class:`SparseInverseConv3d` — the transpose, back onto a finer voxel set saved on the way down.

A sparse tensor is ``(coords, feats)``: ``coords`` (N, 4) int64 rows ``(batch, x, y, z)``,
``feats`` (N, C). At active sites each operator equals the dense ``conv3d`` /
``conv_transpose3d`` of the zero-filled grid (``tests/unit/detectors/test_sparse_conv.py``).

Neighbour lookup: coordinates are packed into one int64 key, sorted once per voxel set, and each
kernel offset is a ``searchsorted`` over the shifted keys — O(K·N log N), no Python loop over
points. A voxel set caches its (N, K³) neighbour table per kernel size (the "kernel map" of
MinkowskiEngine), so the several convolutions of a U-Net level look their neighbours up once; a
submanifold convolution is then one gather of (N, K³·C_in) and one matrix product.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import torch
from torch import nn

_BITS = 20  # per spatial axis: coordinates in [-2^19, 2^19)
_OFF = 1 << (_BITS - 1)


def pack_keys(coords: torch.Tensor) -> torch.Tensor:
    """One int64 per (batch, x, y, z) row; order-preserving per axis."""
    c = coords.to(torch.int64)
    return (((c[:, 0] << _BITS) | (c[:, 1] + _OFF)) << (2 * _BITS)) | ((c[:, 2] + _OFF) << _BITS) | (c[:, 3] + _OFF)


@dataclasses.dataclass
class VoxelSet:
    """A set of active voxels with a sorted key index for neighbour queries."""

    coords: torch.Tensor  # (N, 4) int64
    sorted_keys: torch.Tensor
    order: torch.Tensor   # sorted position -> row
    _tables: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, coords: torch.Tensor) -> VoxelSet:
        keys = pack_keys(coords)
        sorted_keys, order = torch.sort(keys)
        return cls(coords, sorted_keys, order)

    def lookup(self, query: torch.Tensor) -> torch.Tensor:
        """Row index of each query coordinate, -1 where the voxel is not active."""
        if self.sorted_keys.numel() == 0:
            return torch.full((query.shape[0],), -1, dtype=torch.int64, device=query.device)
        q = pack_keys(query)
        pos = torch.searchsorted(self.sorted_keys, q).clamp(max=self.sorted_keys.numel() - 1)
        found = self.sorted_keys[pos] == q
        return torch.where(found, self.order[pos], torch.full_like(pos, -1))

    def neighbour_table(self, kernel_size: int) -> torch.Tensor:
        """(N, K³) row of each active neighbour v + o (offsets as :func:`kernel_offsets`,
        centred), -1 where inactive; computed once per voxel set and kernel size."""
        if kernel_size not in self._tables:
            offsets = kernel_offsets(kernel_size, True, self.coords.device)
            q = self.coords[:, None, :].repeat(1, len(offsets), 1)
            q[:, :, 1:] += offsets
            self._tables[kernel_size] = self.lookup(q.reshape(-1, 4)).reshape(len(self.coords), len(offsets))
        return self._tables[kernel_size]


def kernel_offsets(kernel_size: int, centred: bool, device=None) -> torch.Tensor:
    """(K³, 3) offsets in the order of a dense weight's (kd, kh, kw) = (x, y, z) axes."""
    rng = range(-(kernel_size // 2), kernel_size // 2 + 1) if centred else range(kernel_size)
    return torch.tensor(list(itertools.product(rng, rng, rng)), dtype=torch.int64, device=device)


def _init_weight(k3: int, cin: int, cout: int) -> nn.Parameter:
    w = torch.empty(k3, cin, cout)
    bound = 1.0 / math.sqrt(cin * k3)  # PyTorch's default conv initialisation bound
    nn.init.uniform_(w, -bound, bound)
    return nn.Parameter(w)


class SubmanifoldConv3d(nn.Module):
    """out[v] = Σ_o W[o]ᵀ in[v + o] over active neighbours v + o; output sites = input sites."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("submanifold convolution needs an odd kernel size")
        self.kernel_size = kernel_size
        self.weight = _init_weight(kernel_size**3, in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, feats: torch.Tensor, vs: VoxelSet) -> torch.Tensor:
        table = vs.neighbour_table(self.kernel_size)                      # (N, K³), -1 = inactive
        padded = torch.cat([feats, feats.new_zeros(1, feats.shape[1])])   # inactive: the zero row
        # (N, K³·C_in); index_select, whose backward is one index_add, not advanced indexing's
        # sort-based accumulate (3x slower training on the CPU)
        rows = torch.where(table >= 0, table, feats.shape[0]).reshape(-1)
        gathered = padded.index_select(0, rows).reshape(feats.shape[0], -1)
        out = gathered @ self.weight.reshape(-1, self.weight.shape[2])
        return out if self.bias is None else out + self.bias


class SparseConv3d(nn.Module):
    """Strided sparse convolution (kernel = stride = s): coarse site c gathers fine sites s·c + o."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, bias: bool = True):
        super().__init__()
        self.stride = stride
        self.weight = _init_weight(stride**3, in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def coarse_set(self, vs: VoxelSet) -> VoxelSet:
        c = vs.coords.clone()
        c[:, 1:] = torch.div(c[:, 1:], self.stride, rounding_mode="floor")
        return VoxelSet.build(unique_coords(c)[0])

    def forward(self, feats: torch.Tensor, vs: VoxelSet, coarse: VoxelSet | None = None):
        coarse = coarse or self.coarse_set(vs)
        out = feats.new_zeros(coarse.coords.shape[0], self.weight.shape[2])
        for k, off in enumerate(kernel_offsets(self.stride, False, feats.device)):
            q = coarse.coords.clone()
            q[:, 1:] = q[:, 1:] * self.stride + off
            src = vs.lookup(q)
            rows = torch.nonzero(src >= 0, as_tuple=True)[0]
            if rows.numel():
                out.index_add_(0, rows, feats[src[rows]] @ self.weight[k])
        out = out if self.bias is None else out + self.bias
        return out, coarse


class SparseInverseConv3d(nn.Module):
    """Transpose of :class:`SparseConv3d` onto a given finer voxel set (the encoder's)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, bias: bool = True):
        super().__init__()
        self.stride = stride
        self.weight = _init_weight(stride**3, in_channels, out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, feats: torch.Tensor, coarse: VoxelSet, fine: VoxelSet) -> torch.Tensor:
        parent = fine.coords.clone()
        parent[:, 1:] = torch.div(parent[:, 1:], self.stride, rounding_mode="floor")
        src = coarse.lookup(parent)
        local = fine.coords[:, 1:] - parent[:, 1:] * self.stride          # offset inside the parent
        k = (local[:, 0] * self.stride + local[:, 1]) * self.stride + local[:, 2]
        out = feats.new_zeros(fine.coords.shape[0], self.weight.shape[2])
        for j in range(self.stride**3):                     # one matrix product per kernel offset
            rows = torch.nonzero((k == j) & (src >= 0), as_tuple=True)[0]
            if rows.numel():
                out.index_copy_(0, rows, feats[src[rows]] @ self.weight[j])
        return out if self.bias is None else out + self.bias


def voxelize(points: torch.Tensor, voxel_size: float, batch: torch.Tensor | None = None):
    """Quantise points to voxels: (coords (V, 4), point->voxel index (N,)). Points in the same
    voxel share one site; features are averaged there by the caller (``scatter_mean``)."""
    b = torch.zeros(points.shape[0], dtype=torch.int64, device=points.device) if batch is None else batch
    grid = torch.floor(points / voxel_size).to(torch.int64)
    return unique_coords(torch.cat([b[:, None], grid], dim=1))


def unique_coords(coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(coords, dim=0, return_inverse=True)`` through the packed 1-D keys: the
    same sorted rows (the keys keep the (batch, x, y, z) order) at a fraction of the cost —
    ``unique`` over rows was a fifth of a CFP-Net training step."""
    keys, inverse = torch.unique(pack_keys(coords), return_inverse=True)
    first = torch.empty(keys.shape[0], dtype=torch.int64, device=coords.device)
    first.scatter_(0, inverse, torch.arange(coords.shape[0], device=coords.device))
    return coords[first], inverse


def scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = values.new_zeros(size, values.shape[1])
    out.index_add_(0, index, values)
    count = torch.bincount(index, minlength=size).clamp(min=1).to(values.dtype)
    return out / count[:, None]
