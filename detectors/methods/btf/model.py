"""BTF's scoring model (pure numpy/torch): a bank of every training point's feature and the
distance of a test point's feature to its nearest bank feature [Horwitz & Hoshen 2023, §3].

BTF keeps all training features; on ~90K-point clouds that is millions of rows, so the bank is a
seeded uniform subset of at most ``bank_size`` rows (the paper is silent; a uniform subset keeps
BTF's density-free nearest-neighbour rule unbiased).
"""

from __future__ import annotations

import numpy as np

from scan2ad.detectors.methods.patchcore.model import nearest, random_coreset


class PointFeatureBank:
    def __init__(self, bank: np.ndarray | None = None):
        self.bank = bank

    def fit(self, features: list[np.ndarray], bank_size: int, seed: int) -> None:
        allf = np.concatenate(features, axis=0).astype(np.float32)
        self.bank = allf[random_coreset(allf, bank_size, seed)] if bank_size > 0 else allf

    def score(self, features: np.ndarray) -> np.ndarray:
        return nearest(features, self.bank)[0]
