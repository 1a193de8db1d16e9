"""DRA_pm / DRA_pb: the DRA baseline of 000_59f5340ba3ca2db6 (§V-A2) - disentangled
representations of seen, pseudo and composite abnormality and of normality [Ding et al. 2022]
on the tokens of a frozen Point-MAE ("pm") or Point-BERT ("pb") encoder.

fit: token bags of the normal clouds, the seen anomalies and Norm-AS simulated anomalies (one
per normal cloud and view; DRA makes its pseudo anomalies with CutMix on images - Norm-AS is
the point-cloud counterpart the seed paper uses for Open3D-AD); ``n_ref`` normal clouds are the
fixed reference set of the composite head (DRA draws nRef = 5 reference images). A bag's latent
residual never uses its own source cloud as a reference, and every bag (test clouds too) is
compared with the same number of reference clouds (:meth:`DRA._references`). The four heads train jointly with the
deviation loss (:func:`.model.dra_loss`), batches half normal, half anomalous.
score: the heads on one bag; object score = seen + pseudo + composite - normality; a point takes
its nearest token's summed abnormality (seen + pseudo + composite) token score.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from scan2ad.config import doc
from scan2ad.detectors.methods.devnet.detector import NORMAL, TokenHeadConfig, TokenHeadDetector
from scan2ad.detectors.methods.dra.model import DRAHeads, dra_loss, latent_residual


@dataclasses.dataclass(frozen=True)
class DRAConfig(TokenHeadConfig):
    pseudo: str = doc("Norm-AS simulated anomalies for the pseudo head: always (DRA) | auto | never",
                      "always")
    n_ref: int = doc("normal training clouds in the composite head's reference set (DRA: 5)", 5)


class DRA(TokenHeadDetector):
    Config = DRAConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.refs: np.ndarray | None = None   # (R, G, C) reference tokens
        self.ref_source: np.ndarray | None = None

    def _build(self, dim: int) -> torch.nn.Module:
        return DRAHeads(dim, self.config.hidden, self.config.topk_rate)

    def _prepare(self, bags):
        label, source, tokens = bags["label"], bags["source"], bags["tokens"]
        first = [int(np.flatnonzero((label == NORMAL) & (source == i))[0])
                 for i in sorted(set(source[label == NORMAL].tolist()))[:max(1, self.config.n_ref)]]
        self.refs = tokens[first].astype(np.float32)
        self.ref_source = source[first]
        residual = np.empty_like(tokens, dtype=np.float32)
        for m in range(len(tokens)):
            use = self._references(int(source[m]))
            residual[m] = latent_residual(torch.as_tensor(tokens[m], dtype=torch.float32), use).numpy()
        return {**bags, "residual": residual}

    def _references(self, source: int = -1) -> list[torch.Tensor]:
        """The reference clouds' tokens for a bag from normal cloud ``source`` (-1: any other
        cloud): all references but one - the bag's own cloud, or else the last reference - so
        that every bag, in training and at test, is compared with the same number of clouds
        (with one cloud more for the seen anomalies than for the normal bags, a head learns
        "closer to the references = anomalous" from the count alone)."""
        refs = list(torch.as_tensor(self.refs))
        if len(refs) < 2:
            return refs
        own = [i for i, s in enumerate(self.ref_source.tolist()) if s == source]
        drop = own[0] if own else len(refs) - 1
        return [r for i, r in enumerate(refs) if i != drop]

    def _loss(self, batch, gen):
        out = self.module(batch["tokens"], batch["residual"].float())
        return dra_loss(out, batch["label"], self.config.margin, gen)

    def _heads(self, tokens: np.ndarray):
        x = torch.as_tensor(tokens, dtype=torch.float32)
        with torch.no_grad():
            res = latent_residual(x, self._references())
            out = self.module(x[None], res[None])
        return DRAHeads.token_scores(out)[0].double().numpy(), float(DRAHeads.anomaly_score(out)[0])

    def state_dict(self):
        return {**super().state_dict(), "refs": self.refs, "ref_source": self.ref_source}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.refs = np.asarray(state["refs"], dtype=np.float32)
        self.ref_source = np.asarray(state["ref_source"])
