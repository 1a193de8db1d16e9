"""CFP-Net, MC4AD's Corrective Force Prediction Network (004_be09d63770e75756.txt §4.2–4.3).

A sparse voxel U-Net (MinkUNet-style, built on :mod:`scan2ad.detectors.features.sparse_conv`)
over the cloud normalised to the unit sphere and voxelised at 0.03 (PO3AD's ``voxel_size``),
voxel features = mean coordinates (PO3AD's ``in_channels = 3``):

* Encoder (Eq. 6): ``encoder_layers`` submanifold 3×3×3 conv blocks → F1 (C channels).
* Bottleneck (Eq. 7): ``depth`` levels, each a stride-2 conv (down-sampling) + a submanifold
  block, all with C channels ("isomorphic spaces with preserved dimensionality").
* Decoder (Eq. 8): per level j, the deeper feature is brought up with an inverse conv
  (Conv_{j,1}), the skip feature projected by a 1×1 conv (Conv_{j,2}); MC-Skip mixes them with
  α_j = sigmoid(Conv_{j,3}(Conv_{j,2}(F_skip))) ∈ (0, 1)^{n_v×1}: ``α·up + (1 − α)·skip``,
  followed by a submanifold block. ``mc_skip=False`` (the w/o-MC-Skip ablation, and PO3AD's
  plain U-Net) adds the two instead.
* Head (Eq. 9): PO3AD's point MLP (C → C → 16 → out) on the voxel feature of each point;
  ``out = 6`` gives F'_E and F'_I (F_C = F'_E + F'_I), ``out = 3`` predicts F_C directly.

Layer counts: the paper's "Layer_8" is the default (depth 4: four levels down, four up);
Layer_6/4/2 are depth 3/2/1. The pruned V_P (Appendix A.5) has one encoder conv, two bottleneck
and two decoder levels. The paper's BatchNorm after every conv is kept (MinkUNet blocks).
"""

from __future__ import annotations

import torch
from torch import nn

from scan2ad.detectors.features.sparse_conv import (
    SparseConv3d,
    SparseInverseConv3d,
    SubmanifoldConv3d,
    VoxelSet,
    scatter_mean,
    voxelize,
)


class _Block(nn.Module):
    """Submanifold conv + BatchNorm + ReLU (a MinkUNet basic layer)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.conv = SubmanifoldConv3d(cin, cout, kernel, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x, vs):
        return self.act(self.bn(self.conv(x, vs)))


class _Down(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = SparseConv3d(c, c, 2, bias=False)
        self.bn = nn.BatchNorm1d(c)
        self.block = _Block(c, c)

    def forward(self, x, vs):
        y, coarse = self.conv(x, vs)
        y = torch.relu(self.bn(y))
        return self.block(y, coarse), coarse


class _Up(nn.Module):
    """Decoder level j: inverse conv up, MC-Skip (or plain) fusion with the skip, conv block."""

    def __init__(self, c: int, mc_skip: bool):
        super().__init__()
        self.mc_skip = mc_skip
        self.up = SparseInverseConv3d(c, c, 2, bias=False)      # Conv_{j,1} (with up-sampling)
        self.bn_up = nn.BatchNorm1d(c)
        self.skip = SubmanifoldConv3d(c, c, 1, bias=False)      # Conv_{j,2}
        self.bn_skip = nn.BatchNorm1d(c)
        self.gate = SubmanifoldConv3d(c, 1, 1, bias=True) if mc_skip else None  # Conv_{j,3}
        self.block = _Block(c, c)                                # Conv_{10-i}

    def forward(self, deep, coarse, skip_feat, fine):
        up = torch.relu(self.bn_up(self.up(deep, coarse, fine)))
        sk = torch.relu(self.bn_skip(self.skip(skip_feat, fine)))
        if self.mc_skip:
            alpha = torch.sigmoid(self.gate(sk, fine))
            fused = alpha * up + (1.0 - alpha) * sk
        else:
            fused = up + sk
        return self.block(fused, fine)


class CFPNet(nn.Module):
    def __init__(self, channels: int = 32, depth: int = 4, encoder_layers: int = 2,
                 out_channels: int = 6, mc_skip: bool = True, in_channels: int = 3):
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.out_channels = out_channels
        enc = [_Block(in_channels, channels)] + [_Block(channels, channels) for _ in range(encoder_layers - 1)]
        self.encoder = nn.ModuleList(enc)
        self.down = nn.ModuleList(_Down(channels) for _ in range(depth))
        self.up = nn.ModuleList(_Up(channels, mc_skip) for _ in range(depth))
        self.head = nn.Sequential(
            nn.Linear(channels, channels, bias=False), nn.BatchNorm1d(channels), nn.PReLU(),
            nn.Linear(channels, 16, bias=False), nn.BatchNorm1d(16), nn.PReLU(),
            nn.Linear(16, out_channels),
        )

    def forward(self, points: torch.Tensor, batch: torch.Tensor, voxel_size: float) -> torch.Tensor:
        """Per-point output (N, out_channels) for normalised points (N, 3) with batch ids (N,)."""
        coords, inverse = voxelize(points, voxel_size, batch)
        feats = scatter_mean(points, inverse, coords.shape[0])
        vs = VoxelSet.build(coords)
        x = feats
        for layer in self.encoder:
            x = layer(x, vs)
        skips = [(x, vs)]
        for down in self.down:
            x, vs = down(x, vs)
            skips.append((x, vs))
        deep, deep_vs = skips.pop()
        for up in self.up:
            skip_feat, fine = skips.pop()
            deep = up(deep, deep_vs, skip_feat, fine)
            deep_vs = fine
        return self.head(deep[inverse])


def resultant_force(out: torch.Tensor) -> torch.Tensor:
    """F_C from the head: F'_E + F'_I for 6 channels, the output itself for 3."""
    return out[:, :3] + out[:, 3:6] if out.shape[1] == 6 else out


def combined_loss(out: torch.Tensor, target: torch.Tensor, use_sym: bool = True,
                  use_dir: bool = True, use_dist: bool = True, eps: float = 1e-8,
                  region_threshold: float = 0.01) -> dict[str, torch.Tensor]:
    """Eq. 10: L_sym + L_dist + L_dir.

    L_sym is implemented as Eq. 10 writes it, ‖F'_I − F'_E‖₁ / (‖F'_I‖ + ‖F'_E‖ + ε) − cos(F'_I, F'_E),
    which pulls the internal and external components to equal magnitude and direction (the text
    speaks of "opposing" forces, but opposing equal forces would cancel to F_C = 0 everywhere;
    the equation is the self-consistent reading). It is averaged over the anomalous region only
    (points with a non-zero target), as §4.3 states the constraint "in anomalous regions": on
    normal points this scale-free term would fight L_dist, which drives F_C to zero there (we
    measured |F_C| ≈ 0.2 on normal points, 6× the anomaly targets, when it was applied
    everywhere). L_dist uses PO3AD's per-point L1 norm, L_dir the negative cosine between F_C
    and the target.
    """
    fc = resultant_force(out)
    terms: dict[str, torch.Tensor] = {}
    if use_dist:
        terms["dist"] = (fc - target).abs().sum(dim=1).mean()
    if use_dir:
        cos = (fc / (fc.norm(dim=1, keepdim=True) + eps) * target / (target.norm(dim=1, keepdim=True) + eps)).sum(1)
        terms["dir"] = -cos.mean()
    if use_sym and out.shape[1] == 6:
        region = target.norm(dim=1) > region_threshold  # "in anomalous regions" (§4.3)
        if region.any():
            fe, fi = out[region, :3], out[region, 3:6]
            ratio = (fi - fe).abs().sum(1) / (fi.norm(dim=1) + fe.norm(dim=1) + eps)
            cos = (fi / (fi.norm(dim=1, keepdim=True) + eps) * fe / (fe.norm(dim=1, keepdim=True) + eps)).sum(1)
            terms["sym"] = (ratio - cos).sum() / out.shape[0]  # Eq. 10's 1/N over all points
    terms["total"] = sum(terms.values())
    return terms
