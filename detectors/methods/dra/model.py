"""DRA's four heads [Ding, Pang & Shen 2022, "Catching Both Gray and Black Swans: Open-set
Supervised Anomaly Detection", §3] on point-cloud tokens, in torch.

* normality (holistic) head: mean-pooled tokens -> MLP (256 hidden) -> |score|, trained to be
  HIGH for normal samples (target = label == normal), so it enters the final score negatively;
* seen-abnormality head: token scorer + top-k MIL, trained on normal and seen anomalies;
* pseudo-abnormality head: token scorer + top-k MIL, trained on normal and simulated anomalies;
* composite (latent residual) head: the residual between the reference normal samples' tokens
  and the query's (``ref - x``), through a feature transform (DRA: 3x3 conv + BN + ReLU; here a
  per-token linear + BN + ReLU, tokens having no grid) then token scorer + top-k MIL, trained on
  all samples with every anomaly (seen or pseudo) as anomalous.

Each head is trained with the deviation loss; the anomaly score is
``seen + pseudo + composite - normality`` (DRA's evaluation sums the heads with the normality
head negated).
"""

from __future__ import annotations

import torch
from torch import nn

from scan2ad.detectors.methods.devnet.model import TokenScorer, deviation_loss, topk_mil

NORMAL, SEEN, PSEUDO = 0, 1, 2


def latent_residual(tokens: torch.Tensor, refs: list[torch.Tensor]) -> torch.Tensor:
    """(G, C) residuals ``ref(x) - x``: for every query token, the most similar token (nearest in
    feature space) among all the reference clouds' tokens, minus the token.

    DRA subtracts the mean reference feature map at the same pixel. Point-cloud tokens share no
    grid, so the reference of a token is its nearest reference token; it is taken over the pooled
    reference tokens rather than averaged per reference cloud, so that a training bag (whose own
    cloud is left out of the references) and a test cloud see references of the same kind (the
    choice where DRA is silent for unordered tokens)."""
    pool = torch.cat(list(refs), dim=0)
    return pool[torch.cdist(tokens, pool).argmin(dim=1)] - tokens


class DRAHeads(nn.Module):
    def __init__(self, dim: int, hidden: int, topk_rate: float):
        super().__init__()
        self.topk_rate = topk_rate
        self.holistic = nn.Sequential(nn.Linear(dim, 256), nn.ReLU(), nn.Linear(256, 1))
        self.seen = TokenScorer(dim, hidden)
        self.pseudo = TokenScorer(dim, hidden)
        self.composite_transform = nn.Sequential(nn.Linear(dim, dim), nn.BatchNorm1d(dim), nn.ReLU())
        self.composite = TokenScorer(dim, hidden)

    def forward(self, tokens: torch.Tensor, residual: torch.Tensor) -> dict[str, torch.Tensor]:
        """Token scores (B, G) of the three abnormality heads and object scores (B,) of all four."""
        b, g, c = tokens.shape
        out = {"normal": self.holistic(tokens.mean(dim=1)).squeeze(-1).abs()}
        out["seen_tokens"] = self.seen(tokens)
        out["pseudo_tokens"] = self.pseudo(tokens)
        r = self.composite_transform(residual.reshape(b * g, c)).reshape(b, g, c)
        out["composite_tokens"] = self.composite(r)
        for head in ("seen", "pseudo", "composite"):
            out[head] = topk_mil(out[f"{head}_tokens"], self.topk_rate)
        return out

    @staticmethod
    def anomaly_score(out: dict[str, torch.Tensor]) -> torch.Tensor:
        return out["seen"] + out["pseudo"] + out["composite"] - out["normal"]

    @staticmethod
    def token_scores(out: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, G): the three abnormality heads' token scores summed. The normality head scores
        the whole sample and says nothing about where; subtracting it would shift every point of
        a cloud alike and, pooled over clouds, rank points by their cloud instead of their place
        (DRA gives no pixel maps; the point maps of the seed paper's baselines are token scores)."""
        return out["seen_tokens"] + out["pseudo_tokens"] + out["composite_tokens"]


def dra_loss(out: dict[str, torch.Tensor], label: torch.Tensor, margin: float,
             gen: torch.Generator | None = None) -> torch.Tensor:
    """Sum of the four heads' deviation losses with DRA's targets (``generate_target``)."""
    loss = deviation_loss(out["normal"], label == NORMAL, margin, generator=gen)
    for head, keep in (("seen", label != PSEUDO), ("pseudo", label != SEEN), ("composite", None)):
        pred, y = out[head], label != NORMAL
        if keep is not None:
            pred, y = pred[keep], y[keep]
        if len(pred):
            loss = loss + deviation_loss(pred, y, margin, generator=gen)
    return loss
