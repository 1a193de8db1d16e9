"""Open3D-AD (000_59f5340ba3ca2db6 §IV): open-set supervised 3D anomaly detection with dual
memory banks.

fit: Norm-AS makes one simulated anomaly per normal training cloud (eq. 1-2); multi-FPFH patch
features (eq. 3-5) of the normal clouds form F_N, the anomalous patches of the seen and the
simulated anomalies form F_A; the supports come from Correspondence Distributions Subsampling
(eqs. 8-10). score: alpha = (1 - gamma s_A) s_N per patch with the reweighted distance of eq. 11,
point score = its patch's alpha, object score = max (eq. 13).

Defaults are §V-A's: N = 1000, K = 3, gamma = 0.3, scales 40/80/120, 128 aggregation points.
Choices where the paper is silent: a patch of an anomalous cloud belongs to F_A when at least
half of its points are labelled anomalous (the rest of that cloud is normal surface; mixed
rim patches would blur the anomalous support into the normal one);
patch features are L2-normalised, so that distances are O(1) and 1 - gamma s_A stays positive
(gamma = 0.3 is a fixed constant, which only makes sense on a fixed feature scale).

Variants (Table VII / VIII), selected by settings and registered by name:
M1 = M9 = this; M2-M5 swap the subsampling (identity, random, greedy, approx_greedy) for both
supports without the correspondence removal; M6 normal support only; M7 adds the anomalous
support from seen anomalies with an expanded (2N) normal support; M8 adds the simulated ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.features import FeatureSettings, extract
from scan2ad.detectors.methods.open3d_ad.model import DualMemoryBank, correspondence_subsampling
from scan2ad.detectors.methods.patchcore.model import subsample
from scan2ad.detectors.synthesis.norm_as import NormASSettings, norm_as
from scan2ad.errors import InputError
from scan2ad.log import progress


@dataclasses.dataclass(frozen=True)
class Open3DADConfig(FeatureSettings, BaseConfig):
    features: str = doc("patch feature extractor (the paper's multi-FPFH)", "multi_fpfh")
    feature_points: int = doc("points kept (seeded random subset) before the multi-scale FPFH; 0 "
                              "keeps every point, as the authors' code does. The scales are "
                              "neighbour counts, so a subset makes every neighbourhood coarser: "
                              "8192 of the demo's ~19K points cost 5.6 O-AUROC on heavy_washer "
                              "against the authors' code (benchmarks/fidelity.py); every point "
                              "costs 2.4x the feature CPU time (with fpfh_backend open3d: 2.6 s for 19K "
                              "points; the default numpy backend is 2.1-2.4x faster, "
                              "benchmarks/fpfh_speed.py)", 0)
    groups: int = doc("G, the FPS centres (patches) per cloud: 4096 as the authors' run.sh "
                      "(Open3DAD/run.sh --num_group 4096)", 4096)
    normal_k: int = doc("neighbours of the PCA normal estimate: 10 as the authors' code "
                        "(FPFH.py estimate_normals max_nn=10)", 10)
    support_size: int = doc("N, the target cardinality of each support", 1000, ge=1)
    knn: int = doc("K of the reweighting neighbourhood N_K(q), eq. 11", 3, ge=1)
    gamma: float = doc("gamma of eq. 12, the weight of the anomalous support", 0.3)
    subsampling: str = doc("cds (M1) | identity (M2) | random (M3) | greedy (M4) | "
                           "approx_greedy (M5)", "cds")
    cds_base: str = doc("the greedy operator S inside CDS", "approx_greedy")
    anomalous_support: bool = doc("use the anomalous support at all (False: M6)", True)
    seen_anomalies: bool = doc("put the seen (labelled) anomalies into F_A", True)
    simulated_anomalies: bool = doc("put Norm-AS anomalies into F_A", True)
    normal_support_factor: float = doc("normal support size = factor x N (M7/M8 expand it to 2N)", 1.0, gt=0)
    anomalous_patch_fraction: float = doc("a patch of an anomalous cloud joins F_A when at least this "
                                          "fraction of its points is labelled anomalous", 0.5, ge=0, le=1)
    simulated_per_sample: int = doc("Norm-AS anomalies made from each normal training cloud", 1)
    norm_as: NormASSettings = doc("Norm-AS settings", default_factory=NormASSettings)


class Open3DAD(Detector):
    Config = Open3DADConfig

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.bank: DualMemoryBank | None = None

    def _features(self, points: np.ndarray) -> np.ndarray:
        f = extract(self.config.features, points, self.config)
        feats = f.features / np.maximum(np.linalg.norm(f.features, axis=1, keepdims=True), 1e-12)
        return f, feats.astype(np.float32)

    def _anomalous_patches(self, points, labels) -> np.ndarray:
        """Features of the patches that are mostly anomalous: at least ``anomalous_patch_fraction``
        of the points within the patch's extent (its ``group_size`` kept points, i.e. that many
        times the subsampling ratio of input points) are labelled anomalous."""
        from scipy.spatial import cKDTree

        f, feats = self._features(points)
        kept = min(len(points), self.config.feature_points or len(points))
        k = max(1, round(max(1, self.config.group_size) * len(points) / kept))
        _, idx = cKDTree(points).query(f.centres, k=min(k, len(points)))
        frac = (np.asarray(labels)[idx.reshape(len(f.centres), -1)] > 0).mean(axis=1)
        return feats[frac >= self.config.anomalous_patch_fraction]

    def fit(self, train: TrainSet) -> None:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        f_n = np.concatenate([self._features(c.points)[1]
                              for c in progress(train.normal, desc=f"Open3D-AD normal {train.cls}")])
        f_a: list[np.ndarray] = []
        if cfg.anomalous_support and cfg.seen_anomalies:
            f_a += [self._anomalous_patches(a.points, a.labels)
                    for a in progress(train.anomalies, desc=f"Open3D-AD seen {train.cls}")]
        if cfg.anomalous_support and cfg.simulated_anomalies:
            for c in progress(train.normal, desc=f"Open3D-AD Norm-AS {train.cls}"):
                for _ in range(cfg.simulated_per_sample):
                    sim = norm_as(c.points, rng, cfg.norm_as)
                    f_a.append(self._anomalous_patches(sim.points, sim.labels))
        f_a_all = np.concatenate(f_a) if f_a else np.zeros((0, f_n.shape[1]), np.float32)
        n = cfg.support_size
        n_norm = max(1, round(cfg.normal_support_factor * n))
        if cfg.subsampling == "cds":
            ni, ai = correspondence_subsampling(f_n[:], f_a_all, n, cfg.cds_base, cfg.seed) \
                if len(f_a_all) else (subsample(f_n, n, cfg.cds_base, cfg.seed), np.zeros(0, int))
            if n_norm != n:
                ni = subsample(f_n, n_norm, cfg.cds_base, cfg.seed)
        else:
            ni = subsample(f_n, n_norm, cfg.subsampling, cfg.seed)
            ai = subsample(f_a_all, n, cfg.subsampling, cfg.seed + 1) if len(f_a_all) else np.zeros(0, int)
        if cfg.anomalous_support and len(ai) == 0:
            raise InputError("Open3D-AD found no anomalous patches for its anomalous support "
                             "(no seen anomalies and simulated_anomalies is off?)")
        self.bank = DualMemoryBank(f_n[ni], f_a_all[ai] if cfg.anomalous_support else None,
                                   cfg.knn, cfg.gamma)

    def score(self, points: np.ndarray) -> Scores:
        f, feats = self._features(points)
        s = f.to_points(self.bank.score(feats))
        return Scores(s, self.object_score(s))

    def state_dict(self):
        state = {"normal": self.bank.normal, "k": self.bank.k, "gamma": self.bank.gamma}
        if self.bank.anomalous is not None:
            state["anomalous"] = self.bank.anomalous
        return state

    def load_state_dict(self, state) -> None:
        anom = np.asarray(state["anomalous"]) if "anomalous" in state else None
        self.bank = DualMemoryBank(np.asarray(state["normal"]), anom, int(state["k"]), float(state["gamma"]))
