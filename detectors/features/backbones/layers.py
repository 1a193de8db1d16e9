"""Building blocks shared by Point-MAE and Point-BERT.

* :class:`MiniPointNet` - the patch embedding of both papers (Point-BERT §3.1, Point-MAE §3.2
  "Embedding"): a shared MLP, max-pool, concatenation of the pooled feature with every point's
  feature, a second shared MLP, max-pool.
* :class:`Block` - a pre-norm ViT block (LayerNorm, multi-head self-attention, LayerNorm, MLP
  with GELU, stochastic depth); attention runs through ``F.scaled_dot_product_attention``.
* :func:`position_mlp` - the positional embedding of the patch centres, Linear(3, 128), GELU,
  Linear(128, dim).

Sub-module names and orders (``first_conv.0/1/3``, ``attn.qkv``, ``mlp.fc1`` ...) are those of the
official implementations, so their checkpoints map onto these modules key for key
(:mod:`.checkpoints`). timm, which they import for ``DropPath``, is not a dependency here:
:class:`DropPath` is its ten-line equivalent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MiniPointNet(nn.Module):
    """Patch embedding: (B, G, k, 3) patch points (centre-relative) -> (B, G, channels)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.first_conv = nn.Sequential(nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
                                        nn.Conv1d(128, 256, 1))
        self.second_conv = nn.Sequential(nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                         nn.Conv1d(512, channels, 1))

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        b, g, k, _ = groups.shape
        x = self.first_conv(groups.reshape(b * g, k, 3).transpose(1, 2))        # (BG, 256, k)
        pooled = x.max(dim=2, keepdim=True).values
        x = self.second_conv(torch.cat([pooled.expand(-1, -1, k), x], dim=1))   # (BG, C, k)
        return x.max(dim=2).values.reshape(b, g, self.channels)


class DropPath(nn.Module):
    """Stochastic depth: drops a sample's residual branch with probability ``p`` in training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)       # scale = head_dim ** -0.5, as the papers
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def make_blocks(dim: int, depth: int, num_heads: int, drop_path_rate: float) -> nn.ModuleList:
    """``depth`` blocks with stochastic depth rising linearly from 0 to ``drop_path_rate``."""
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist() if depth else []
    return nn.ModuleList(Block(dim, num_heads, drop_path=r) for r in rates)


def position_mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))


def init_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) Linear/Conv1d weights, zero biases, unit LayerNorms: the
    initialisation of both official encoders."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
