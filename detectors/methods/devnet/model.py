"""DevNet's pieces in torch: a token scorer, top-k multiple-instance pooling and the deviation loss.

Deviation loss [Pang et al. 2019, "Deep Anomaly Detection with Deviation Networks", §3.3, eq. 3-5]:
reference scores r_1..r_l ~ N(0, 1) (l = 5000) give dev(x) = (phi(x) - mean(r)) / std(r);
L = (1 - y) |dev(x)| + y max(0, a - dev(x)) with margin a = 5: normal scores are pulled to
the prior mean, anomalous ones at least a standard deviations above it.

Top-k MIL (the image DevNet of Pang et al. 2021 and DRA's ``PlainHead``): every token gets a
score, the object score is the mean of the largest ``ceil(rate * G)`` token scores in absolute
value (rate = 0.1), so an object is anomalous when a few of its patches are.
"""

from __future__ import annotations

import torch
from torch import nn


class TokenScorer(nn.Module):
    """Per-token anomaly score |f(x)|: linear (``hidden`` = 0, the authors' 1x1 conv) or one
    hidden ReLU layer (a small adapter in place of fine-tuning the frozen backbone)."""

    def __init__(self, dim: int, hidden: int = 0):
        super().__init__()
        self.net = (nn.Linear(dim, 1) if hidden <= 0
                    else nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:   # (B, G, C) -> (B, G)
        return self.net(tokens).squeeze(-1).abs()


def topk_mil(token_scores: torch.Tensor, rate: float) -> torch.Tensor:
    """(B, G) -> (B,): mean of the top ``max(1, int(rate * G))`` token scores (DRA ``PlainHead``)."""
    k = max(1, int(token_scores.shape[1] * rate))
    return token_scores.topk(k, dim=1).values.mean(dim=1)


def deviation_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 5.0,
                   ref_samples: int = 5000, generator: torch.Generator | None = None) -> torch.Tensor:
    """DevNet eq. 5 with a Gaussian prior reference (``ref_samples`` draws of N(0, 1))."""
    ref = torch.randn(ref_samples, generator=generator)
    dev = (pred - ref.mean()) / ref.std()
    y = target.float()
    return ((1.0 - y) * dev.abs() + y * (margin - dev).clamp(min=0.0)).mean()


class DevNetHead(nn.Module):
    """Token scorer + top-k MIL: ``forward`` gives (token scores (B, G), object scores (B,))."""

    def __init__(self, dim: int, hidden: int, topk_rate: float):
        super().__init__()
        self.scorer = TokenScorer(dim, hidden)
        self.topk_rate = topk_rate

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.scorer(tokens)
        return s, topk_mil(s, self.topk_rate)
