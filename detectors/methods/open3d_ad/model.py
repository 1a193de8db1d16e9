"""Open3D-AD's supports and score (pure numpy/torch), 000_59f5340ba3ca2db6 §IV-D and §IV-E.

Correspondence Distributions Subsampling (eqs. 8-10):
    F~N = S(F_N, N);  F^A = S(F_A, 2N);
    F_cor = { argmin_{g in F^A} ||f - g|| : f in F~N };   F~A = F^A \\ F_cor.
Score (eqs. 11-13): s_N = D(f, g*, F~N), s_A = D(f, h*, F~A), alpha = (1 - gamma s_A) s_N.

The paper is silent on what happens when fewer than 2N anomalous features exist (common: a few
seen anomalies plus one synthetic anomaly per normal sample give tens to hundreds of anomalous
patches). Then all m of them are candidates, and removing F_cor literally could empty the
support, so at most floor(m/2) are removed -- the paper's removal ratio -- taking the candidates
closest to their normal-support query first.
"""

from __future__ import annotations

import numpy as np

from scan2ad.detectors.methods.patchcore.model import (
    bank_neighbours,
    nearest,
    reweighted_distance,
    subsample,
)


def correspondence_subsampling(normal: np.ndarray, anomalous: np.ndarray, n: int, base: str = "approx_greedy",
                               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into ``normal``, into ``anomalous``) of the supports F~N and F~A (eqs. 8-10)."""
    n_idx = subsample(normal, n, base, seed)
    cand = subsample(anomalous, 2 * n, base, seed + 1)
    if len(cand) == 0:
        return n_idx, cand
    d, nn = nearest(normal[n_idx], anomalous[cand])
    # F_cor as a set; each element ranked by its smallest distance to a normal support point
    best = np.full(len(cand), np.inf)
    np.minimum.at(best, nn, d)
    cor = np.flatnonzero(np.isfinite(best))
    cap = len(cand) // 2
    if len(cor) > cap:
        cor = cor[np.argsort(best[cor], kind="stable")[:cap]]
    keep = np.setdiff1d(np.arange(len(cand)), cor)
    return n_idx, cand[keep]


class DualMemoryBank:
    """The two supports, their K-NN tables, and the scoring rule alpha of eq. 12."""

    def __init__(self, normal: np.ndarray, anomalous: np.ndarray | None, k: int = 3, gamma: float = 0.3):
        self.normal = np.asarray(normal, np.float32)
        self.anomalous = None if anomalous is None or len(anomalous) == 0 else np.asarray(anomalous, np.float32)
        self.k, self.gamma = int(k), float(gamma)
        self.normal_nn = bank_neighbours(self.normal, self.k)
        self.anomalous_nn = None if self.anomalous is None else bank_neighbours(self.anomalous, self.k)

    def score(self, features: np.ndarray) -> np.ndarray:
        """alpha(f) for every feature (eq. 12); s_N alone when there is no anomalous support."""
        s_n = reweighted_distance(features, self.normal, self.normal_nn)
        if self.anomalous is None:
            return s_n
        s_a = reweighted_distance(features, self.anomalous, self.anomalous_nn)
        return (1.0 - self.gamma * s_a) * s_n
