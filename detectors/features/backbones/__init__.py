"""Point transformer backbones: Point-MAE and Point-BERT encoders, their pretraining, and
checkpoints (scan2ad's own and the official files).

Importing this package loads neither torch nor any weights; the sub-modules do:

* :mod:`.point_mae` - ``PointMAEConfig``, ``PointMAEEncoder`` (``tokens(...)``), ``PointMAE``;
* :mod:`.point_bert` - ``PointBERTConfig``, ``DiscreteVAE`` tokenizer, ``PointBERTEncoder``
  (same ``tokens(...)``), ``PointBERT`` masked point modelling;
* :mod:`.grouping` (FPS + kNN patches in torch), :mod:`.chamfer` (Chamfer-L1/L2);
* :mod:`.pretrain` (training loops, resumable), :mod:`.checkpoints` (formats, official keys).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.errors import InputError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# shipped weights (weights/README.md): Point-MAE (whole pretraining model), Point-BERT (encoder),
# PointNet++ (encoder; GMANet's expert)
SHIPPED = {"point_mae_small": WEIGHTS_DIR / "point_mae_small.pt",
           "point_bert_small": WEIGHTS_DIR / "point_bert_small.pt",
           "pointnet2_small": WEIGHTS_DIR / "pointnet2_small.pt"}   # GMANet's expert


def normalise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(xyz_unit, centre, scale)``: ``points`` (N, 3) centred at their mean and divided by the
    largest distance from it, as the official loaders' ``pc_normalize`` do before the encoder.
    ``xyz_unit * scale + centre`` gives the input back."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(f"normalise: points must be a non-empty (N, 3) array, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError("normalise: points contain NaN or infinite coordinates")
    centre = pts.mean(axis=0)
    scale = float(np.sqrt(((pts - centre) ** 2).sum(axis=1)).max())
    if scale <= 0.0:
        raise InputError(f"normalise: all {len(pts)} points coincide; the cloud has no extent")
    return (pts - centre) / scale, centre, scale


def load_encoder(name_or_path: str = "point_mae_small", kind: str = "point-mae", device: str = "cpu",
                 num_heads: int | None = None):
    """A frozen encoder in eval mode (see :func:`.checkpoints.load_encoder`)."""
    from .checkpoints import load_encoder as _load

    return _load(name_or_path, kind=kind, device=device, num_heads=num_heads)


__all__ = ["SHIPPED", "WEIGHTS_DIR", "load_encoder", "normalise"]
