"""Patch features for the memory-bank detectors, and the small table of extractors by name.

An extractor turns one cloud into :class:`PatchFeatures`: G centres, one feature per centre and,
for every input point, the centre it belongs to (its nearest), so patch scores become point
scores in the input order. Methods pick an extractor by name (``PatchCore(features="fpfh")``);
another backbone registers itself with :func:`register_extractor` (e.g. ``"pointmae"``).

    feats = extract("multi_fpfh", points, FeatureSettings(groups=1024))
    point_scores = feats.to_points(patch_scores)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import InputError


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    feature_points: int = doc("points kept (seeded random subset) before computing descriptors; "
                              "0 keeps all", 16384, ge=0)
    groups: int = doc("G, the number of FPS centres (patches); 0 makes every kept point a centre", 1024, ge=0)
    group_size: int = doc("points pooled around each centre (Simple3D's 128 aggregation points)", 128, ge=1)
    normal_k: int = doc("neighbours of the PCA normal estimate", 30, ge=3)
    fpfh_k: int = doc("neighbours of single-scale FPFH", 40, ge=3)
    scales: tuple[int, ...] = doc("neighbourhood sizes of multi-scale FPFH", (40, 80, 120), ge=3)
    fpfh_backend: Literal["numpy", "open3d"] = doc(
        "FPFH implementation: numpy (every scale from one neighbour search, the same numbers as "
        "Open3D's to 1e-12, ~2x faster) | open3d (compute_fpfh_feature once per scale)", "numpy")
    raw_weight: float = doc("mm -> feature units for raw coordinates in fpfh+raw "
                            "(FPFH enters as histogram fractions, each sub-histogram sums to 1)", 0.1, ge=0)
    seed: int = doc("seed of the random subset", 0, ge=0)


@dataclasses.dataclass
class PatchFeatures:
    centres: np.ndarray         # (G, 3) mm
    features: np.ndarray        # (G, C) float32
    point_to_patch: np.ndarray  # (N,) int, nearest centre of every input point

    def to_points(self, patch_scores: np.ndarray) -> np.ndarray:
        """Point scores (N,) in the input order: every point takes its centre's score."""
        return np.asarray(patch_scores, dtype=np.float64)[self.point_to_patch]


Extractor = Callable[[np.ndarray, FeatureSettings], PatchFeatures]


def _layout(points: np.ndarray, s: FeatureSettings):
    """Kept subset, its normals, the centres among it and the point -> centre map."""
    from scipy.spatial import cKDTree

    from scan2ad.detectors.features.geometry import check_points, estimate_normals, random_subsample
    from scan2ad.detectors.features.multi_fpfh import fps_centres

    pts = check_points(points)
    keep = random_subsample(len(pts), s.feature_points if s.feature_points > 0 else len(pts), s.seed)
    sub = pts[keep]
    nrm = estimate_normals(sub, s.normal_k)
    centres = sub[fps_centres(sub, s.groups)]
    _, owner = cKDTree(centres).query(pts, k=1, workers=-1)
    return sub, nrm, centres, np.asarray(owner, dtype=np.int64), cKDTree(sub)


def _pooled(sub, feats, centres, s, tree):
    from scan2ad.detectors.features.multi_fpfh import pool_at_centres

    size = s.group_size if s.groups > 0 else 1
    return pool_at_centres(sub, feats, centres, size, tree=tree)


def raw_features(points: np.ndarray, s: FeatureSettings) -> PatchFeatures:
    """Coordinates (mm) as features, pooled over each centre's neighbourhood (BTF "Raw")."""
    sub, _, centres, owner, tree = _layout(points, s)
    return PatchFeatures(centres, _pooled(sub, sub.astype(np.float32), centres, s, tree), owner)


def fpfh_features(points: np.ndarray, s: FeatureSettings) -> PatchFeatures:
    """Single-scale FPFH (33 bins, ``fpfh_k`` neighbours), pooled at the centres."""
    from scan2ad.detectors.features.fpfh import fpfh

    sub, nrm, centres, owner, tree = _layout(points, s)
    return PatchFeatures(centres, _pooled(sub, fpfh(sub, nrm, s.fpfh_k, s.fpfh_backend), centres, s, tree),
                         owner)


def fpfh_raw_features(points: np.ndarray, s: FeatureSettings) -> PatchFeatures:
    """FPFH (as fractions) concatenated with raw coordinates scaled by ``raw_weight``."""
    from scan2ad.detectors.features.fpfh import fpfh

    sub, nrm, centres, owner, tree = _layout(points, s)
    f = np.concatenate([fpfh(sub, nrm, s.fpfh_k, s.fpfh_backend) / 200.0, sub.astype(np.float32) * s.raw_weight], axis=1)
    return PatchFeatures(centres, _pooled(sub, f.astype(np.float32), centres, s, tree), owner)


def multi_fpfh_features(points: np.ndarray, s: FeatureSettings) -> PatchFeatures:
    """Simple3D multi-scale FPFH pooled at FPS centres (see :mod:`.multi_fpfh`)."""
    from scan2ad.detectors.features.fpfh import multi_scale_fpfh

    sub, nrm, centres, owner, tree = _layout(points, s)
    return PatchFeatures(centres, _pooled(sub, multi_scale_fpfh(sub, nrm, s.scales, s.fpfh_backend), centres, s, tree),
                         owner)


EXTRACTORS: dict[str, Extractor] = {
    "raw": raw_features,
    "fpfh": fpfh_features,
    "fpfh+raw": fpfh_raw_features,
    "multi_fpfh": multi_fpfh_features,
}


def register_extractor(name: str, fn: Extractor) -> None:
    """Make ``fn`` selectable by ``name`` (a backbone module calls this when imported)."""
    EXTRACTORS[name] = fn


_cache: OrderedDict | None = None


@contextlib.contextmanager
def feature_cache(size: int = 512):
    """Within the block, identical extractions (same extractor, settings and point bytes; for an
    extractor with a ``cache_identity()`` attribute, the same identity, e.g. the weights of the
    ``"pointmae"`` extractor's encoder) are computed once. For ablation sweeps and tests that
    fit several variants on the same clouds; never active while speed is measured (``evaluate``
    does not use it)."""
    global _cache
    previous, _cache = _cache, OrderedDict()
    try:
        yield
    finally:
        _cache = previous


# extractors whose module registers them on import (a torch backbone is not imported before use)
LAZY_EXTRACTORS = {"pointmae": "scan2ad.detectors.features.pointmae_extractor"}


def extract(name: str, points: np.ndarray, settings: FeatureSettings) -> PatchFeatures:
    if name not in EXTRACTORS and name in LAZY_EXTRACTORS:
        import importlib

        importlib.import_module(LAZY_EXTRACTORS[name])
    if name not in EXTRACTORS:
        raise InputError(f"unknown feature extractor {name!r}; known: {', '.join(EXTRACTORS)}")
    if _cache is None:
        return _extract_disk(name, points, settings)
    pts = np.ascontiguousarray(points)
    identity = getattr(EXTRACTORS[name], "cache_identity", None)   # e.g. the encoder of "pointmae"
    key = (name, identity() if identity else None, pts.shape, hashlib.sha1(pts.tobytes()).hexdigest(),
           tuple(getattr(settings, f.name) for f in dataclasses.fields(FeatureSettings)))
    if key not in _cache:
        _cache[key] = _extract_disk(name, points, settings)
        while len(_cache) > 512:
            _cache.popitem(last=False)
    return _cache[key]


def _extract_disk(name: str, points: np.ndarray, settings: FeatureSettings) -> PatchFeatures:
    """``EXTRACTORS[name]`` through the on-disk cache of :mod:`.disk_cache` when one is active.
    An extractor that caches inside (``"pointmae"``: its tokens) is called as it is."""
    from scan2ad.detectors.features.disk_cache import active, subset_seed

    fn = EXTRACTORS[name]
    cache = active()
    if cache is None or getattr(fn, "caches_inside", False):
        return fn(points, settings)
    pts = np.asarray(points)
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(FeatureSettings)}
    fields["seed"] = subset_seed(settings.seed, settings.feature_points, len(pts))
    identity = getattr(fn, "cache_identity", None)
    ident = {"extractor": name, "settings": fields, "identity": identity() if identity else None}

    def compute():
        f = fn(points, settings)
        return {"centres": f.centres, "features": f.features, "point_to_patch": f.point_to_patch}

    def fits(a):
        return (set(a) == {"centres", "features", "point_to_patch"} and a["point_to_patch"].shape == (len(pts),)
                and len(a["centres"]) == len(a["features"]) and a["point_to_patch"].dtype.kind in "iu"
                and (len(pts) == 0 or int(a["point_to_patch"].max()) < len(a["centres"])))

    a = cache.get("patch_features", ident, pts, compute, fits)
    return PatchFeatures(a["centres"], a["features"], a["point_to_patch"])
