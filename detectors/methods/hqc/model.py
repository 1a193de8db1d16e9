"""The three-way decision of Hierarchical Quality Control (004_be09d63770e75756 §4.4, eq. 11),
pure numpy:

    D_normal = { P_i : rank(s_i) <= bN, s_i = V_P(P_i) }      (passed by the fast model)
    D_test   = V_O({P_i} \\ D_normal)                         (scored by the full model)

``rank`` is the ascending rank of the fast model's object scores over the batch, b = 0.25.

The paper reports AUROC over all samples but does not say what score a passed sample carries.
Here the pass decision is final ("classified as normal"): a passed sample is placed strictly below
everything the full model scored and keeps only the fast model's ordering among the passed.
With f the lowest point score the full model gave in the batch, a passed sample i with fast
object score s_i gets the object score f - (s_max - s_i) - delta (s_max: largest fast score among
the passed, delta a margin) and that same value at every point: the whole part was declared
normal. (Table 4's P-AUROC gains under HQC, e.g. BTF 0.628 -> 0.784, are what declaring the
passed parts uniformly normal produces.)
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


def place_below(fast_object: np.ndarray, floor: float, margin: float) -> np.ndarray:
    """Object scores of the passed samples: below ``floor``, in the order of their fast scores."""
    f = np.asarray(fast_object, dtype=np.float64)
    if f.size == 0:
        return f
    return floor - (f.max() - f) - margin
