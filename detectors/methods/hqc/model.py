"""The three-way decision of Hierarchical Quality Control (004_be09d63770e75756 §4.4, eq. 11),
pure numpy:

    D_normal = { P_i : rank(s_i) <= bN, s_i = V_P(P_i) }      (passed by the fast model)
    D_test   = V_O({P_i} \\ D_normal)                         (scored by the full model)

``rank`` is the ascending rank of the fast model's object scores over the batch, b = 0.25.

The paper reports AUROC over all samples but does not say what score a passed sample carries.
Here a passed sample keeps its fast-model ordering and is placed strictly below every sample the
full model scored: its object score becomes t - (f_max - f_i) - delta (t the lowest full-model
object score, f_i its fast score, f_max the largest fast score among the passed, delta a
margin), and its point scores are shifted by the same amount, so the pass decision is final
("classified as normal") and nothing else changes.
"""

from __future__ import annotations

import numpy as np


def passed_mask(fast_object_scores: np.ndarray, b: float) -> np.ndarray:
    """True for the floor(b N) samples with the lowest fast scores (ties: earlier sample first)."""
    s = np.asarray(fast_object_scores, dtype=np.float64)
    n_pass = int(np.floor(b * len(s)))
    mask = np.zeros(len(s), bool)
    mask[np.argsort(s, kind="stable")[:n_pass]] = True
    return mask


def place_below(fast_object: np.ndarray, full_min: float, margin: float) -> np.ndarray:
    """Shift (one per passed sample) that puts the passed samples' scores below ``full_min``."""
    f = np.asarray(fast_object, dtype=np.float64)
    if f.size == 0:
        return f
    target = full_min - (f.max() - f) - margin
    return target - f
