"""IMRNet's Point-MAE-style mask reconstruction network (seed 002, §3.3-3.4).

Patches: G centres by the chosen sampler, S nearest points each, coordinates relative to the
centre. A mini-PointNet embeds each patch; a transformer encoder sees the visible tokens
(40 % masked); a transformer decoder sees visible + mask tokens (plus positional embeddings of
all centres) and a linear head predicts the S points of every masked patch; the loss is the
Chamfer distance (§3.3). The decoder's per-layer features (layers 1-3) feed Dense Feature
Concatenation and Comparison at test time (§3.4).
"""

from __future__ import annotations

import torch
from torch import nn


def chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric L2 Chamfer distance per batch element, (B, N, 3) x (B, M, 3) -> (B,)."""
    d = torch.cdist(a, b) ** 2
    return d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1)


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(3, 64), nn.GELU(), nn.Linear(64, 128))
        self.b = nn.Sequential(nn.Linear(256, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, patches):  # (B, G, S, 3)
        f = self.a(patches)
        g = f.max(dim=2, keepdim=True).values.expand_as(f)
        return self.b(torch.cat([f, g], dim=-1)).max(dim=2).values


class MaskReconstructor(nn.Module):
    def __init__(self, dim: int = 96, depth: int = 3, decoder_depth: int = 3, heads: int = 4, group_size: int = 32):
        super().__init__()
        self.group_size = group_size
        self.embed = PatchEmbed(dim)
        self.pos = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        layer = lambda: nn.TransformerEncoderLayer(dim, heads, 2 * dim, 0.0, batch_first=True, norm_first=True)
        self.encoder = nn.ModuleList(layer() for _ in range(depth))
        self.decoder = nn.ModuleList(layer() for _ in range(decoder_depth))
        self.head = nn.Linear(dim, 3 * group_size)

    def forward(self, patches, centres, mask):
        """Reconstructed patches (B, G, S, 3) and the decoder layer features [(B, G, C)] * depth.

        ``mask`` (B, G) bool: True = masked (its tokens replaced by the mask token)."""
        tok = self.embed(patches)
        pos = self.pos(centres)
        x = torch.where(mask[..., None], self.mask_token.expand_as(tok), tok) + pos
        key_pad = mask  # the encoder attends to visible tokens only
        for blk in self.encoder:
            x = blk(x, src_key_padding_mask=key_pad)
        x = torch.where(mask[..., None], self.mask_token.expand_as(x) + pos, x)
        feats = []
        for blk in self.decoder:
            x = blk(x + pos)
            feats.append(x)
        rec = self.head(x).reshape(*x.shape[:2], self.group_size, 3)
        return rec, feats
