"""Memory-bank primitives (pure numpy/torch): coreset subsampling and nearest-neighbour scoring.

PatchCore [Roth et al. 2022] §3.2 (coreset) and §3.3 (scoring, eq. 7); the reweighted distance is
also Open3D-AD's operator D (000_59f5340ba3ca2db6 §IV-E, eq. 11), so Open3D-AD uses these too.

Coreset variants, named as Open3D-AD Table VII names them:
``greedy``         the k-centre greedy of PatchCore eq. 4 in the original feature space, from one
                   seeded starting point (exact; M4);
``approx_greedy``  PatchCore's approximate greedy: a Johnson-Lindenstrauss random projection to
                   ``proj_dim`` dimensions and ``starts`` seeded starting points, minimum distances
                   kept on the fly (O(mN) time, O(N) memory; M5);
``random``         a seeded uniform subset (M3); ``identity`` keeps everything (M2).
"""

from __future__ import annotations

import numpy as np
import torch

SUBSAMPLERS = ("identity", "random", "greedy", "approx_greedy")


PROGRESS_WORK = 2e8  # picks x candidates from which a coreset shows a progress bar (~5 s on one core;
                     # Open3D-AD's supports at 60 references of 90K points take minutes)


def _k_center(x: torch.Tensor, n: int, start: list[int]) -> np.ndarray:
    """Greedy k-centre: repeatedly add the point farthest from the chosen set."""
    from scan2ad.log import progress

    chosen = list(dict.fromkeys(start))
    min_d = torch.cdist(x, x[chosen]).min(dim=1).values
    picks = range(len(chosen), n)
    if len(picks) * len(x) >= PROGRESS_WORK:
        picks = progress(picks, desc=f"coreset {n} of {len(x)}", unit="pick")
    for _ in picks:
        i = int(torch.argmax(min_d))
        chosen.append(i)
        min_d = torch.minimum(min_d, torch.linalg.vector_norm(x - x[i], dim=1))
    return np.asarray(chosen[:n], dtype=np.int64)


def greedy_coreset(features: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of an ``n``-point k-centre greedy coreset (exact distances, one start)."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if n >= len(x):
        return np.arange(len(x))
    start = int(np.random.default_rng(seed).integers(len(x)))
    return _k_center(x, n, [start])


def approximate_greedy_coreset(features: np.ndarray, n: int, seed: int = 0, proj_dim: int = 128,
                               starts: int = 10) -> np.ndarray:
    """Indices of PatchCore's approximate greedy coreset (projected distances, ``starts`` starts)."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if n >= len(x):
        return np.arange(len(x))
    rng = np.random.default_rng(seed)
    if x.shape[1] > proj_dim:
        proj = rng.normal(size=(x.shape[1], proj_dim)).astype(np.float32) / np.sqrt(proj_dim)
        x = x @ torch.from_numpy(proj)
    start = rng.choice(len(x), size=min(starts, n), replace=False).tolist()
    return _k_center(x, n, start)


def random_coreset(features: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if n >= len(features):
        return np.arange(len(features))
    return np.sort(np.random.default_rng(seed).choice(len(features), size=n, replace=False))


def subsample(features: np.ndarray, n: int, how: str, seed: int = 0) -> np.ndarray:
    """Indices of the ``n``-element support chosen by ``how`` (one of :data:`SUBSAMPLERS`)."""
    if how == "identity":
        return np.arange(len(features))
    if how == "random":
        return random_coreset(features, n, seed)
    if how == "greedy":
        return greedy_coreset(features, n, seed)
    if how == "approx_greedy":
        return approximate_greedy_coreset(features, n, seed)
    raise ValueError(f"unknown subsampling {how!r} (known: {', '.join(SUBSAMPLERS)})")


def bank_neighbours(bank: np.ndarray, k: int) -> np.ndarray:
    """(M, k) indices of each bank element's k nearest bank elements, itself first."""
    b = torch.as_tensor(np.asarray(bank, dtype=np.float32))
    k = min(k, len(b))
    out = torch.empty((len(b), k), dtype=torch.int64)
    for s in range(0, len(b), 4096):
        out[s:s + 4096] = torch.cdist(b[s:s + 4096], b).topk(k, largest=False).indices
    return out.numpy()


def nearest(query: np.ndarray, bank: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, the nearest bank element of every query feature (a k-d tree
    for low-dimensional features such as raw coordinates, chunked ``torch.cdist`` otherwise)."""
    if np.shape(bank)[1] <= 8:
        from scipy.spatial import cKDTree

        d, i = cKDTree(np.asarray(bank, np.float64)).query(np.asarray(query, np.float64), k=1, workers=-1)
        return np.asarray(d, np.float64), np.asarray(i, np.int64)
    q = torch.as_tensor(np.asarray(query, dtype=np.float32))
    b = torch.as_tensor(np.asarray(bank, dtype=np.float32))
    d = torch.empty(len(q))
    i = torch.empty(len(q), dtype=torch.int64)
    for s in range(0, len(q), chunk):
        dd, ii = torch.cdist(q[s:s + chunk], b).min(dim=1)
        d[s:s + chunk], i[s:s + chunk] = dd, ii
    return d.double().numpy(), i.numpy()


def reweighted_distance(query: np.ndarray, bank: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Open3D-AD eq. 11 / PatchCore eq. 7 for every query feature f with nearest bank element q:

        D(f, q) = (1 - exp||f - q|| / sum_{m in N_K(q)} exp||f - m||) * ||f - q||

    N_K(q) (``neighbours``, from :func:`bank_neighbours`) includes q itself, so the factor lies in
    [0, 1). The ratio is evaluated as 1 / sum exp(||f - m|| - ||f - q||), which cannot overflow.
    """
    d_q, idx = nearest(query, bank)
    q = torch.as_tensor(np.asarray(query, dtype=np.float32))
    b = torch.as_tensor(np.asarray(bank, dtype=np.float32))
    nb = b[torch.as_tensor(neighbours[idx])]                    # (Q, K, C)
    d_m = torch.linalg.vector_norm(q[:, None, :] - nb, dim=2).double()
    ratio = 1.0 / torch.exp(d_m - torch.as_tensor(d_q)[:, None]).sum(dim=1)
    return ((1.0 - ratio) * torch.as_tensor(d_q)).numpy()
