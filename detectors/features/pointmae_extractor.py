"""Point-MAE / Point-BERT tokens of a cloud, for the memory-bank and open-set detectors.

One function, :func:`cloud_tokens`, turns a cloud (mm) into the transformer's patch tokens the
way the 3D anomaly-detection baselines feed their backbone: a seeded random subset of points,
centred at its mean and scaled to the unit sphere (``backbones.normalise``, as the official
Point-MAE loaders do), FPS centres and kNN groups (M3DM: 1024 groups of 128 points), then the
encoder's tokens - either the final normed output or, as M3DM's 3D branch does
(``PointTransformer`` with ``fetch_idx = [3, 7, 11]``), the outputs of several blocks, each put
through the encoder's final LayerNorm and concatenated (3 x 384 = 1152 channels). Centres come
back in the input frame (mm) so token scores can be carried to the input points: nearest token
(Real3D-AD's ``fill_missing_values`` with k = 1) or inverse-distance weighting of the 3 nearest
tokens (M3DM's ``interpolating_points``).

Encoders are named by a spec string so a saved detector can rebuild the one it was fitted with:

``point_mae_small`` or a path      ``backbones.load_encoder(spec, kind="point-mae")``
``point-bert:NAME_OR_PATH``        ``backbones.load_encoder(NAME_OR_PATH, kind="point-bert")``
``random:KEY=VALUE,...``           a randomly initialised Point-MAE encoder (``kind=point-bert``
                                   for Point-BERT), built from ``seed`` (default 0) under a
                                   private torch RNG: the same spec always gives the same weights.
                                   Random transformer features are still informative for patch
                                   memory banks; tests use small ones.

The module also registers the ``"pointmae"`` patch extractor of :mod:`scan2ad.detectors.features`
(``PatchCore(features="pointmae")``), which uses the encoder of :func:`default_encoder_spec`
(``point_mae_small`` unless changed with :func:`using_encoder`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from typing import Any

import numpy as np

from scan2ad.detectors.features import FeatureSettings, PatchFeatures, register_extractor
from scan2ad.errors import InputError

DEFAULT_ENCODER = "point_mae_small"
_default_spec = DEFAULT_ENCODER
_encoders: dict[str, Any] = {}


# --------------------------------------------------------------------------- encoders
def _parse_random(spec: str) -> tuple[str, int, dict[str, Any]]:
    body = spec.partition(":")[2]
    kind, seed, fields = "point-mae", 0, {}
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"encoder spec {spec!r}: {item!r} is not KEY=VALUE")
        if key == "kind":
            kind = value
        elif key == "seed":
            seed = int(value)
        else:
            try:
                fields[key] = int(value)
            except ValueError:
                try:
                    fields[key] = float(value)
                except ValueError:
                    fields[key] = value
    if kind not in ("point-mae", "point-bert"):
        raise InputError(f"encoder spec {spec!r}: kind must be point-mae or point-bert")
    return kind, seed, fields


def _random_encoder(spec: str):
    import torch

    from scan2ad.detectors.features.backbones import point_bert, point_mae

    kind, seed, fields = _parse_random(spec)
    module, cfg_name, enc_name = ((point_mae, "PointMAEConfig", "PointMAEEncoder") if kind == "point-mae"
                                  else (point_bert, "PointBERTConfig", "PointBERTEncoder"))
    cfg_cls = getattr(module, cfg_name)
    known = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InputError(f"encoder spec {spec!r}: unknown {cfg_name} field(s) {', '.join(unknown)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = getattr(module, enc_name)(cfg_cls(**fields))
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def load_token_encoder(spec: str):
    """The encoder named by ``spec`` (see the module docstring), loaded once per process."""
    if spec not in _encoders:
        if spec.startswith("random:") or spec == "random":
            enc = _random_encoder(spec)
        else:
            from scan2ad.detectors.features.backbones import load_encoder

            kind, name = ("point-bert", spec.partition(":")[2]) if spec.startswith("point-bert:") \
                else ("point-mae", spec.removeprefix("point-mae:"))
            enc = load_encoder(name, kind=kind)
        _encoders[spec] = enc
    return _encoders[spec]


def encoder_fingerprint(spec: str) -> str:
    """A hash of the encoder's weights: a saved detector refuses to score with other weights."""
    enc = load_token_encoder(spec)
    if not hasattr(enc, "_scan2ad_fingerprint"):
        h = hashlib.sha256()
        for name, t in sorted(enc.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        enc._scan2ad_fingerprint = h.hexdigest()[:16]
    return enc._scan2ad_fingerprint


def check_fingerprint(spec: str, saved: str | None) -> None:
    if saved is not None and saved != encoder_fingerprint(spec):
        raise InputError(f"the encoder {spec!r} now has other weights than the detector was fitted "
                         f"with (fingerprint {encoder_fingerprint(spec)} != {saved}); refit it")


def default_encoder_spec() -> str:
    return _default_spec


@contextlib.contextmanager
def using_encoder(spec: str):
    """Within the block, the ``"pointmae"`` extractor uses the encoder named by ``spec``."""
    global _default_spec
    previous, _default_spec = _default_spec, spec
    try:
        yield
    finally:
        _default_spec = previous


def encoder_depth(spec: str) -> int:
    """Number of transformer blocks of the encoder named by ``spec``."""
    enc = load_token_encoder(spec)
    cfg = getattr(enc, "cfg", None) or getattr(enc, "config", None)
    if cfg is not None and hasattr(cfg, "depth"):
        return int(cfg.depth)
    return len(enc.blocks)


def scaled_block_indices(depth: int, blocks: tuple[int, ...] = (3, 7, 11), of: int = 12) -> tuple[int, ...]:
    """M3DM's blocks 3/7/11 of 12 at the same relative depths of a ``depth``-block encoder.
    ``blocks`` count in the ``of``-block reference (Point-MAE's 12), whatever the encoder's depth,
    so an index outside 0..of-1 names no block and is refused (it was clamped to the last one)."""
    bad = [b for b in blocks if not 0 <= int(b) < of]
    if bad:
        raise InputError(f"layers {list(blocks)}: block indices count in the {of}-block Point-MAE "
                         f"reference and must be in 0..{of - 1}; {bad} is not")
    if depth <= 0:
        return ()   # no blocks: the final (embedding) tokens
    if depth == of:
        return tuple(blocks)
    return tuple(sorted({min(depth - 1, max(0, round((b + 1) * depth / of) - 1)) for b in blocks}))


# --------------------------------------------------------------------------- tokens
@dataclasses.dataclass
class CloudTokens:
    centres: np.ndarray       # (G, 3) token centres in the input frame (mm)
    features: np.ndarray      # (G, C) float32
    members: np.ndarray       # (G, k) indices into the input points of each token's group

    def nearest(self, points: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(N, k) indices of each point's k nearest tokens and (N, k) inverse-distance weights."""
        from scipy.spatial import cKDTree

        k = int(min(k, len(self.centres)))
        d, i = cKDTree(self.centres).query(np.asarray(points, np.float64), k=k, workers=-1)
        d, i = np.asarray(d).reshape(len(points), k), np.asarray(i).reshape(len(points), k)
        w = 1.0 / (d + 1e-8)
        return i.astype(np.int64), w / w.sum(axis=1, keepdims=True)

    def to_points(self, token_scores: np.ndarray, points: np.ndarray, k: int = 1) -> np.ndarray:
        """Token scores carried to ``points``: nearest token (k = 1) or inverse-distance weights."""
        i, w = self.nearest(points, k)
        return (np.asarray(token_scores, np.float64)[i] * w).sum(axis=1)

    def token_labels(self, labels: np.ndarray, min_fraction: float) -> np.ndarray:
        """1 for a token whose group has at least ``min_fraction`` anomalous points."""
        frac = np.asarray(labels, np.float64)[self.members].mean(axis=1)
        return (frac >= min_fraction).astype(np.int64) * (frac > 0)


def cloud_tokens(points: np.ndarray, encoder: str, groups: int, group_size: int,
                 feature_points: int = 0, layers: tuple[int, ...] = (), seed: int = 0,
                 frame: tuple[np.ndarray, float] | None = None, torch_grouping: bool = False) -> CloudTokens:
    """Patch tokens of ``points`` (N, 3 mm) from the encoder named ``encoder``.

    ``feature_points`` > 0 keeps a seeded random subset first (the encoder's FPS and kNN are
    quadratic in memory); ``layers`` non-empty returns those blocks' outputs, each normed by the
    encoder's final LayerNorm and concatenated (M3DM); ``frame`` = (centre, scale) replaces the
    cloud's own unit-sphere normalisation (Reg3D-AD: every registered cloud in the template's).
    The FPS + kNN grouping is Open3D + SciPy's (:func:`.backbones.grouping.cpu_grouping`, the
    same centres and groups, ~5x faster than the torch loop); ``torch_grouping`` uses the
    encoder's own (for comparison, and on a GPU).

    Inside a :func:`~scan2ad.detectors.features.disk_cache.disk_cache` block the tokens come from
    (and go to) the on-disk cache, keyed by the cloud's bytes, every argument that decides them
    and the encoder's weights fingerprint.
    """
    from scan2ad.detectors.features.disk_cache import active, subset_seed

    cache = active()
    args = (points, encoder, groups, group_size, feature_points, layers, seed, frame, torch_grouping)
    if cache is None:
        return _cloud_tokens(*args)
    pts = np.asarray(points)
    ident = {"encoder": encoder, "weights": encoder_fingerprint(encoder), "groups": int(groups),
             "group_size": int(group_size), "feature_points": int(feature_points),
             "layers": [int(i) for i in layers], "seed": subset_seed(seed, feature_points, len(pts)),
             "frame": None if frame is None else [np.asarray(frame[0], np.float64).tolist(), float(frame[1])],
             "torch_grouping": bool(torch_grouping)}

    def compute():
        t = _cloud_tokens(*args)
        return {"centres": t.centres, "features": t.features, "members": t.members}

    def fits(a):
        return (set(a) == {"centres", "features", "members"} and len(a["centres"]) == len(a["features"])
                == len(a["members"]) and a["members"].dtype.kind in "iu"
                and (a["members"].size == 0 or int(a["members"].max()) < len(pts)))

    a = cache.get("cloud_tokens", ident, pts, compute, fits)
    return CloudTokens(a["centres"], a["features"], a["members"])


def _cloud_tokens(points, encoder, groups, group_size, feature_points, layers, seed, frame,
                  torch_grouping) -> CloudTokens:
    import torch

    from scan2ad.detectors.features.backbones import normalise
    from scan2ad.detectors.features.geometry import check_points, random_subsample

    pts = check_points(points)
    keep = random_subsample(len(pts), feature_points if feature_points > 0 else len(pts), seed)
    sub = pts[keep]
    if frame is None:
        unit, centre, scale = normalise(sub)
    else:
        centre, scale = np.asarray(frame[0], np.float64), float(frame[1])
        unit = (sub - centre) / scale
    enc = load_token_encoder(encoder)
    g, k = int(min(groups, len(sub))), int(min(group_size, len(sub)))
    if g < 1 or k < 1:
        raise InputError(f"groups ({groups}) and group_size ({group_size}) must be positive")
    xyz = torch.as_tensor(np.asarray(unit), dtype=torch.float32)[None]
    centre_idx = knn_idx = None
    if not torch_grouping:
        from scan2ad.detectors.features.backbones.grouping import cpu_grouping

        c, i = cpu_grouping(unit, g, k)
        centre_idx, knn_idx = torch.from_numpy(c)[None], torch.from_numpy(i)[None]
    with torch.no_grad():
        tok = enc.tokens(xyz, num_group=g, group_size=k, layers=tuple(layers), centre_idx=centre_idx,
                         knn_idx=knn_idx)
        if layers:
            norm = getattr(enc, "norm", None)
            parts = [tok.layer_features[i] for i in layers]
            feats = torch.cat([norm(p) if norm is not None else p for p in parts], dim=-1)
        else:
            feats = tok.features
    centres = tok.centers[0].double().numpy() * scale + centre
    members = keep[tok.idx[0].numpy()]
    return CloudTokens(centres, feats[0].float().numpy(), members)


# --------------------------------------------------------------------------- the "pointmae" extractor
def pointmae_features(points: np.ndarray, s: FeatureSettings) -> PatchFeatures:
    """PatchCore(PointMAE) patches: final Point-MAE tokens of ``s.groups`` x ``s.group_size``
    groups of ``s.feature_points`` points; every point belongs to its nearest token (Real3D-AD's
    PatchCore + PointMAE fills point scores from the nearest centre)."""
    tok = cloud_tokens(points, _default_spec, s.groups, s.group_size, s.feature_points, (), s.seed)
    owner, _ = tok.nearest(points, 1)
    return PatchFeatures(tok.centres, tok.features, owner[:, 0])


def _current_encoder_identity() -> str:
    """The ``"pointmae"`` extractor's encoder (spec and weights fingerprint), part of the
    :func:`~scan2ad.detectors.features.feature_cache` key: :func:`using_encoder` changes it."""
    return f"{_default_spec}#{encoder_fingerprint(_default_spec)}"


pointmae_features.cache_identity = _current_encoder_identity
pointmae_features.caches_inside = True   # its cloud_tokens use the disk cache themselves
register_extractor("pointmae", pointmae_features)
