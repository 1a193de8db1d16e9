"""Circular reference markers in the multi-view stage (seed paper §III-B, "Fine Registration":
after the coarse alignment the views are stitched "by using the position of the circular
reference points", with a least-squares transform of the corresponding marker centres, before
FRICP refines on all points).

Detection, stereo triangulation, constellation matching and the least-squares fit are the
calibration stage's (``scan2ad.acquisition.calibration.markers``); this module applies them to
a view of a capture session and turns a matched pair of views into the initial transform of a
registration pair:

* :func:`view_markers` - marker centres of one view (mm, cam0 frame) from its white-lit frame of
  each camera (frame ``white`` of the pattern set: the markers are bright discs in dark rings).
* :func:`marker_transform` - ``T_j_i`` of two views from their marker centres (distance-invariant
  matching, then Kabsch least squares on the matched centres), or ``None`` when fewer than
  ``min_matches`` markers agree or the result disagrees with the turntable prior by more than
  ``max_deviation_deg`` / ``max_deviation_mm`` (a wrong constellation match; the prior is then
  used, as when no markers are present).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import InputError
from scan2ad.reconstruction.registration.se3 import rotation_angle_deg


@dataclasses.dataclass(frozen=True)
class MarkerUseConfig:
    enabled: bool = doc("use circular markers when a view shows them", True)
    min_matches: int = doc("fewest markers matched between two views to use them", 4)
    match_tol_mm: float = doc("matched marker distances agree within this (mm)", 0.3)
    max_deviation_deg: float = doc(
        "a marker transform further than this from the turntable prior is ignored (degrees)", 5.0
    )
    max_deviation_mm: float = doc(
        "... or moving the markers' centroid by more than this (mm)", 10.0
    )


def _marker_config(config: MarkerUseConfig):
    from scan2ad.acquisition.calibration.markers import MarkerConfig

    return MarkerConfig(min_matches=config.min_matches, match_tol_mm=config.match_tol_mm)


def view_markers(images: dict, calib, config: MarkerUseConfig = MarkerUseConfig()) -> np.ndarray:
    """Marker centres (M, 3) in the cam0 frame (mm) seen by both cameras in ``images``
    (``{"cam0": white frame, "cam1": white frame}``)."""
    from scan2ad.acquisition.calibration.markers import detect_markers, triangulate_markers

    cfg = _marker_config(config)
    det0 = detect_markers(images["cam0"], cfg)
    det1 = detect_markers(images["cam1"], cfg)
    return triangulate_markers(calib, det0, det1, cfg).points


def session_view_markers(session, i: int, calib, config: MarkerUseConfig = MarkerUseConfig()):
    """Marker centres of view ``i`` of a saved session, from its white frames; ``None`` when the
    pattern set has no white frame."""
    import cv2

    kinds = [f.kind for f in session.patterns.frames]
    if "white" not in kinds:
        return None
    k = kinds.index("white")
    images = {}
    for cam in ("cam0", "cam1"):
        p = Path(session.view_dir(i)) / cam / f"{k:02d}.png"
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise InputError(f"white frame {p.name} of {cam} is missing or unreadable", p)
        if img.dtype != np.uint8:  # 16-bit frames: markers are found on 8-bit grey
            img = (img / max(float(img.max()), 1.0) * 255).astype(np.uint8)
        images[cam] = img
    return view_markers(images, calib, config)


def marker_transform(
    A: np.ndarray | None,
    B: np.ndarray | None,
    prior: np.ndarray,
    config: MarkerUseConfig = MarkerUseConfig(),
) -> dict | None:
    """Least-squares ``T_b_a`` from marker centres ``A`` (view i) and ``B`` (view j), both in
    their own cam0 frames, checked against the prior ``T_j_i``; a record or ``None``."""
    from scan2ad.acquisition.calibration.markers import match_constellations

    if A is None or B is None or min(len(A), len(B)) < config.min_matches:
        return None
    m = match_constellations(A, B, _marker_config(config))
    if not m.ok:
        return None
    dev = np.linalg.inv(prior) @ m.T_b_a
    c = A[m.pairs[:, 0]].mean(axis=0)
    shift = float(np.linalg.norm(dev[:3, :3] @ c + dev[:3, 3] - c))
    dev_deg = rotation_angle_deg(dev)
    if dev_deg > config.max_deviation_deg or shift > config.max_deviation_mm:
        return None
    return {
        "T": m.T_b_a,
        "matched": len(m.pairs),
        "rms_mm": float(m.rms_mm),
        "deviation_from_prior_deg": dev_deg,
        "deviation_from_prior_mm": shift,
    }
