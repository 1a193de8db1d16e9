"""DevNet_pm / DevNet_pb: the DevNet baseline of 000_59f5340ba3ca2db6 (§V-A2, "Baseline
Description") - deviation learning [Pang et al. 2019] with top-k multiple-instance pooling over
the tokens of a frozen Point-MAE ("pm") or Point-BERT ("pb") encoder.

fit: every training cloud gives ``views`` token bags (seeded random subsets of
``feature_points`` points, FPS groups, frozen tokens); a token scorer is trained with the
deviation loss on the bags' top-k MIL scores, normal bags against anomalous ones (the
open-set TrainSet's seen anomalies), half of every batch anomalous as DevNet samples them.
score: the token scores of one bag; a point takes its nearest token's score (nearest-token
interpolation, as the paper's baselines map token scores to points); the object score is the
top-k MIL score the loss trained (``object_from = "mil"``), or an aggregation of the point scores.

Tokens: the normed outputs of Point-MAE's blocks 3/7/11 concatenated (``layers``; scaled to a
shallower encoder's depth), as 000 §V-A2 builds the baselines "following M3DM and Reg3D-AD" and
the authors' dra_drev code does (``fetch_idx = [3, 7, 11]``). Choices where the papers are
silent: the backbone stays frozen and the scorer has one hidden layer (``hidden``) in its place
(issue 20 measured the authors' linear 1x1 conv on the demo: no better anywhere, P-AUROC 2.5 ±
1.1 points lower over seeds 1-3; benchmarks/fidelity.py's docstring); when a training set has
no seen anomaly, Norm-AS simulated anomalies (:mod:`scan2ad.detectors.synthesis.norm_as`) stand
in (``pseudo = "auto"``) so the one-class protocol can run it too; optimiser AdamW, lr 1e-3, cosine schedule, as §V-A3 of
000_59f5340ba3ca2db6 states for its experiments.

:class:`TokenHeadDetector` holds what DevNet and DRA share: token bags, balanced batches, the
training loop and the state.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.methods.devnet.model import DevNetHead, deviation_loss
from scan2ad.errors import InputError
from scan2ad.log import progress

NORMAL, SEEN, PSEUDO = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class TokenHeadConfig(BaseConfig):
    encoder: str = doc("frozen token encoder: point_mae_small, a checkpoint path, point-bert:NAME, "
                       "or random:KEY=VALUE,... (see pointmae_extractor)", "point_mae_small")
    feature_points: int = doc("points kept (seeded random subset) before grouping", 16384)
    groups: int = doc("tokens per cloud (FPS centres)", 1024)
    group_size: int = doc("points per token group", 128)
    views: int = doc("token bags per training cloud (different random subsets)", 4)
    view_fraction: float = doc("share of the kept points in every view but the first", 0.9)
    layers: tuple[int, ...] = doc("encoder blocks whose normed outputs are concatenated into a token, "
                                  "as M3DM's indices of 12 scaled to the encoder's depth (3, 7, 11: "
                                  "M3DM and the authors' dra_drev; empty: the final normed tokens)",
                                  (3, 7, 11), ge=0, lt=12)
    hidden: int = doc("hidden width of the token scorers (0: linear, as the authors' 1x1 conv)", 128)
    topk_rate: float = doc("fraction of tokens averaged into the MIL object score", 0.1)
    margin: float = doc("deviation-loss confidence margin a", 5.0)
    steps: int = doc("optimiser steps", 300)
    batch_size: int = doc("bags per step (half anomalous)", 16)
    lr: float = doc("AdamW learning rate (cosine schedule)", 1e-3)
    weight_decay: float = doc("AdamW weight decay", 1e-4)
    pseudo: str = doc("Norm-AS simulated anomalies: auto (only without seen anomalies) | always | "
                      "never", "auto")
    object_from: str = doc("object score: mil (the trained top-k score) | points (aggregation "
                           "of the point scores)", "mil")


class TokenHeadDetector(Detector):
    """Trainable heads on frozen encoder tokens (DevNet, DRA)."""

    Config: ClassVar[type] = TokenHeadConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        cfg = self.config
        if cfg.pseudo not in ("auto", "always", "never"):
            raise InputError(f"pseudo must be auto, always or never, not {cfg.pseudo!r}")
        if cfg.object_from not in ("mil", "points"):
            raise InputError(f"object_from must be mil or points, not {cfg.object_from!r}")
        self.module: torch.nn.Module | None = None
        self.dim = 0
        self.mean = self.std = None
        self.fingerprint: str | None = None

    # -- what a subclass provides
    @abc.abstractmethod
    def _build(self, dim: int) -> torch.nn.Module:
        """The trainable heads for ``dim``-channel tokens."""

    @abc.abstractmethod
    def _loss(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """The training loss of one batch of bags (keys as :meth:`_prepare` returns them)."""

    @abc.abstractmethod
    def _heads(self, tokens: np.ndarray) -> tuple[np.ndarray, float]:
        """(token scores (G,), object score) of one cloud's tokens."""

    def _prepare(self, bags: dict[str, Any]) -> dict[str, Any]:
        """The stacked training bags as the loss reads them (DRA adds its residuals)."""
        return bags

    # -- tokens
    def _tokens(self, points: np.ndarray, seed: int, fraction: float = 1.0):
        """Tokens of a seeded random subset: ``feature_points`` points (all when 0 or fewer), of
        which a training view keeps ``fraction`` so that views differ even on small clouds."""
        from scan2ad.detectors.features.pointmae_extractor import (
            cloud_tokens,
            encoder_depth,
            scaled_block_indices,
        )

        cfg = self.config
        n = min(cfg.feature_points, len(points)) if cfg.feature_points > 0 else len(points)
        n = max(cfg.groups, round(n * fraction))
        layers = scaled_block_indices(encoder_depth(cfg.encoder), tuple(cfg.layers)) if cfg.layers else ()
        return cloud_tokens(points, cfg.encoder, cfg.groups, cfg.group_size, n, layers, seed)

    def _use_pseudo(self, train: TrainSet) -> bool:
        return self.config.pseudo == "always" or (self.config.pseudo == "auto" and not train.anomalies)

    def _bags(self, train: TrainSet) -> dict[str, Any]:
        """Token bags of every training cloud and view: features (M, G, C), label, source cloud."""
        from scan2ad.detectors.features.geometry import check_points, estimate_normals
        from scan2ad.detectors.synthesis.norm_as import norm_as

        cfg = self.config
        clouds = [(c.points, NORMAL, i) for i, c in enumerate(train.normal)]
        clouds += [(a.points, SEEN, -1) for a in train.anomalies]
        feats, labels, source = [], [], []
        use_pseudo = self._use_pseudo(train)
        for points, label, src in progress(clouds, desc=f"{type(self).__name__} tokens {train.cls}"):
            pts = check_points(points)
            normals = estimate_normals(pts) if (use_pseudo and label == NORMAL) else None
            for v in range(max(1, cfg.views)):
                seed, frac = cfg.seed + 7919 * v, (1.0 if v == 0 else cfg.view_fraction)
                feats.append(self._tokens(pts, seed, frac).features)
                labels.append(label)
                source.append(src)
                if normals is not None:
                    fake = norm_as(pts, np.random.default_rng([cfg.seed, src, v]), normals=normals)
                    feats.append(self._tokens(fake.points, seed, frac).features)
                    labels.append(PSEUDO)
                    source.append(src)
        shapes = {f.shape for f in feats}
        if len(shapes) > 1:
            raise InputError(f"training clouds gave tokens of different shapes {sorted(shapes)}: a cloud "
                             f"has fewer points than groups ({cfg.groups}) or group_size ({cfg.group_size})")
        return {"tokens": np.stack(feats), "label": np.asarray(labels), "source": np.asarray(source)}

    def _standardise(self, tokens: np.ndarray) -> np.ndarray:
        """Tokens in units of the normal training tokens' per-channel spread: a frozen encoder's
        tokens of one part differ by little in absolute terms, and the heads train far faster
        on standardised inputs (the papers fine-tune instead; they are silent on frozen use)."""
        return ((np.asarray(tokens, np.float32) - self.mean) / self.std).astype(np.float32)

    # -- training
    def _batch_indices(self, label: np.ndarray, gen: torch.Generator) -> np.ndarray:
        """Half normal bags, half anomalous bags split evenly between the anomaly kinds present."""
        bs = max(2, self.config.batch_size)
        groups = [np.flatnonzero(label == NORMAL)]
        kinds = [np.flatnonzero(label == k) for k in (SEEN, PSEUDO)]
        kinds = [k for k in kinds if len(k)]
        counts = [bs - bs // 2] + [len(x) for x in np.array_split(np.arange(bs // 2), len(kinds))]
        out = []
        for members, n in zip(groups + kinds, counts):
            pick = torch.randint(len(members), (n,), generator=gen).numpy()
            out.append(members[pick])
        return np.concatenate(out)

    def fit(self, train: TrainSet) -> None:
        from scan2ad.detectors.features.pointmae_extractor import encoder_fingerprint

        cfg = self.config
        bags = self._bags(train)
        if not (bags["label"] != NORMAL).any():
            raise InputError(f"{type(self).__name__} needs anomalous training bags: seen anomalies or "
                             "pseudo = auto/always")
        normal = bags["tokens"][bags["label"] == NORMAL].reshape(-1, bags["tokens"].shape[-1])
        self.mean = normal.mean(axis=0).astype(np.float32)
        self.std = (normal.std(axis=0) + 1e-6).astype(np.float32)
        bags["tokens"] = self._standardise(bags["tokens"])
        bags = self._prepare(bags)
        self.dim = int(bags["tokens"].shape[-1])
        tensors = {k: torch.as_tensor(v) for k, v in bags.items()}
        tensors["tokens"] = tensors["tokens"].float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.module = self._build(self.dim)
            gen = torch.Generator().manual_seed(cfg.seed)
            opt = torch.optim.AdamW(self.module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps))
            self.module.train()
            for _ in progress(range(cfg.steps), desc=f"{type(self).__name__} training {train.cls}"):
                idx = torch.as_tensor(self._batch_indices(bags["label"], gen))
                loss = self._loss({k: v[idx] for k, v in tensors.items()}, gen)
                opt.zero_grad()
                loss.backward()
                # clipped per head: the heads are independent networks on frozen tokens, and one
                # head's large gradient must not shrink the others' steps (DRA clips jointly
                # because its heads share a fine-tuned backbone)
                for head in self.module.children():
                    torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
                opt.step()
                sched.step()
            self.last_loss = float(loss.detach())
        self.module.eval()
        self.fingerprint = encoder_fingerprint(cfg.encoder)

    # -- scoring
    def score(self, points: np.ndarray) -> Scores:
        from scan2ad.detectors.features.pointmae_extractor import check_fingerprint

        if self.module is None:
            raise InputError(f"{type(self).__name__} is not fitted")
        check_fingerprint(self.config.encoder, self.fingerprint)
        tok = self._tokens(points, self.config.seed)
        token_scores, obj = self._heads(self._standardise(tok.features))
        s = tok.to_points(token_scores, points, 1)
        return Scores(s, obj if self.config.object_from == "mil" else self.object_score(s))

    def state_dict(self):
        return {"dim": self.dim, "module": dict(self.module.state_dict()), "mean": self.mean,
                "std": self.std, "encoder_fingerprint": self.fingerprint}

    def load_state_dict(self, state) -> None:
        with torch.random.fork_rng(devices=[]):
            self.dim = int(state["dim"])
            self.module = self._build(self.dim)
        self.module.load_state_dict(state["module"])
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.std = np.asarray(state["std"], dtype=np.float32)
        self.module.eval()
        self.fingerprint = state.get("encoder_fingerprint")


class DevNet(TokenHeadDetector):
    """DevNet on frozen tokens: one token scorer, top-k MIL, deviation loss."""

    def _build(self, dim: int) -> torch.nn.Module:
        return DevNetHead(dim, self.config.hidden, self.config.topk_rate)

    def _loss(self, batch, gen):
        _, obj = self.module(batch["tokens"])
        return deviation_loss(obj, batch["label"] != NORMAL, self.config.margin, generator=gen)

    def _heads(self, tokens: np.ndarray):
        with torch.no_grad():
            tok, obj = self.module(torch.as_tensor(tokens, dtype=torch.float32)[None])
        return tok[0].double().numpy(), float(obj[0])
