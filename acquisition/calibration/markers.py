"""Circular reference markers: detection, stereo triangulation, constellation matching, alignment.

Seed paper 003 (§III-B, "Fine Registration"): after coarse registration the views are stitched
"by using the position of the circular reference points", and a least-squares transform of the
corresponding marker positions refines the alignment. The paper does not say how the markers are
found or matched; the choices here:

- **Detection** (:func:`detect_markers`): bright discs (retro-reflective dots, optionally in a
  dark ring) are found as connected components of an Otsu threshold, kept when their contour is
  an ellipse (area ratio and size limits); each centre is then refined to sub-pixel precision by
  casting rays from the rough centre, locating where the intensity crosses the half level between
  the disc and its surround on each ray (linear interpolation of bilinear samples), and fitting an
  ellipse to those edge points (``cv2.fitEllipseDirect``). The ellipse centre is not exactly the
  projected disc centre under perspective; for markers of a few millimetres at 300 mm the
  difference is below 0.1 px and is not corrected.
- **Stereo triangulation** (:func:`triangulate_markers`): candidate pairs within
  ``epipolar_tol_px`` of each other's epipolar line, an optimal one-to-one assignment
  (``scipy.optimize.linear_sum_assignment``) on the epipolar distance, then triangulation in the
  cam0 frame; pairs whose two ellipse sizes imply different physical diameters are dropped.
- **Matching between views** (:func:`match_constellations`): rigid motions preserve distances,
  so correspondences are found from the marker-to-marker distance tables alone: candidate pairs
  whose sorted distance lists share many values, then triples of candidates whose three mutual
  distances agree, each giving a Kabsch fit scored by how many markers it brings within
  ``match_tol_mm``; the best one is refined on all its inliers.
- **Alignment** (:func:`kabsch_umeyama`): least-squares rotation (``scipy`` ``align_vectors``, the
  Kabsch solution) and, optionally, Umeyama's scale.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc


@dataclasses.dataclass(frozen=True, kw_only=True)
class MarkerConfig:
    """Marker detection and matching settings."""

    min_area_px: float = doc("smallest marker blob area, px²", 20.0)
    max_area_px: float = doc("largest marker blob area, px²", 40000.0)
    min_fill: float = doc("blob area / area of its fitted ellipse (1 for a clean ellipse)", 0.85)
    max_aspect: float = doc("largest major/minor axis ratio (a marker seen at up to ~75°)", 4.0)
    rays: int = doc("rays cast from the rough centre to find sub-pixel edge points", 72)
    epipolar_tol_px: float = doc(
        "stereo: largest distance to the epipolar line of a matched pair", 2.0
    )
    size_tol: float = doc(
        "stereo: largest relative difference of the diameters implied by the two views", 0.25
    )
    match_tol_mm: float = doc("constellations: distances agree / inliers lie within this, mm", 0.3)
    min_matches: int = doc("constellations: fewest matched markers for an alignment", 4)


@dataclasses.dataclass
class MarkerDetections:
    centres: np.ndarray  # (N, 2) px, sub-pixel ellipse centres
    axes: np.ndarray  # (N, 2) px, full major and minor axis lengths
    angles: np.ndarray  # (N,) degrees, ellipse orientation (OpenCV)

    def __len__(self) -> int:
        return len(self.centres)


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.remap(
        img,
        x.astype(np.float32),
        y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _refine(img: np.ndarray, cx: float, cy: float, radius: float, rays: int):
    """Sub-pixel edge points along rays from (cx, cy) and the ellipse fitted to them."""
    import cv2

    ang = np.linspace(0, 2 * np.pi, rays, endpoint=False)
    steps = np.arange(0.0, 2.2 * radius + 3, 0.25)
    xs = cx + np.cos(ang)[:, None] * steps[None, :]
    ys = cy + np.sin(ang)[:, None] * steps[None, :]
    prof = _bilinear(img, xs, ys)  # (rays, steps)
    inner = np.median(prof[:, : max(2, int(0.3 * radius / 0.25))])
    outer = np.median(prof[:, -max(2, int(0.5 * radius / 0.25)) :])
    if inner - outer < 10:
        return None
    level = 0.5 * (inner + outer)
    below = prof < level
    first = np.argmax(below, axis=1)
    ok = below.any(axis=1) & (first > 0)
    if ok.sum() < 8:
        return None
    i = first[ok]
    r = np.arange(rays)[ok]
    p0, p1 = prof[r, i - 1], prof[r, i]
    frac = (p0 - level) / np.maximum(p0 - p1, 1e-9)
    dist = steps[i - 1] + frac * (steps[i] - steps[i - 1])
    pts = np.stack([cx + np.cos(ang[ok]) * dist, cy + np.sin(ang[ok]) * dist], axis=1)
    # drop edge points far from the median radius (a neighbouring blob, a highlight)
    med = np.median(dist)
    pts = pts[np.abs(dist - med) < 0.5 * med + 1.5]
    if len(pts) < 8:
        return None
    (ex, ey), (a, b), theta = cv2.fitEllipseDirect(pts.astype(np.float32).reshape(-1, 1, 2))
    return float(ex), float(ey), float(a), float(b), float(theta)


def detect_markers(image: np.ndarray, cfg: MarkerConfig = MarkerConfig()) -> MarkerDetections:
    """Bright circular markers in a grey (or BGR) image, centres to sub-pixel precision."""
    import cv2

    img = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    img = img.astype(np.float32)
    smooth = cv2.GaussianBlur(img, (0, 0), 1.0)
    _, binary = cv2.threshold(
        np.clip(smooth, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
    )
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = []
    for c in contours:
        area = cv2.contourArea(c)
        if not cfg.min_area_px <= area <= cfg.max_area_px or len(c) < 6:
            continue
        (ex, ey), (a, b), _ = cv2.fitEllipse(c)
        if min(a, b) <= 0 or max(a, b) / min(a, b) > cfg.max_aspect:
            continue
        if area / (np.pi * a * b / 4) < cfg.min_fill:
            continue
        res = _refine(img, ex, ey, max(a, b) / 2, cfg.rays)
        if res is None:
            continue
        # a second pass from the refined centre (rays then cross the edge more perpendicularly)
        res = _refine(img, res[0], res[1], max(res[2], res[3]) / 2, cfg.rays) or res
        out.append(res)
    if not out:
        return MarkerDetections(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
    arr = np.array(out)
    axes = np.sort(arr[:, 2:4], axis=1)[:, ::-1]
    return MarkerDetections(arr[:, :2], axes, arr[:, 4])


@dataclasses.dataclass
class StereoMarkers:
    points: np.ndarray  # (M, 3) mm, cam0 frame
    index0: np.ndarray  # (M,) index into the cam0 detections
    index1: np.ndarray  # (M,) index into the cam1 detections
    epipolar_px: np.ndarray  # (M,) mean distance to the epipolar lines
    diameter_mm: np.ndarray  # (M,) diameter implied by the major axes (mean of the two views)


def triangulate_markers(
    calib, det0: MarkerDetections, det1: MarkerDetections, cfg: MarkerConfig = MarkerConfig()
) -> StereoMarkers:
    """Pair cam0 and cam1 markers along epipolar lines and triangulate them (cam0 frame, mm)."""
    from scipy.optimize import linear_sum_assignment

    from scan2ad.acquisition.calibration.solve import triangulate, undistort_pixels

    empty = StereoMarkers(
        np.zeros((0, 3)), np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0)
    )
    if len(det0) == 0 or len(det1) == 0:
        return empty
    c0, c1, st = calib.cameras["cam0"], calib.cameras["cam1"], calib.stereo
    u0, u1 = undistort_pixels(c0, det0.centres), undistort_pixels(c1, det1.centres)
    h0, h1 = np.c_[u0, np.ones(len(u0))], np.c_[u1, np.ones(len(u1))]
    l1 = h0 @ st.F.T  # epipolar lines in cam1 of the cam0 points, (N0, 3)
    l0 = h1 @ st.F  # lines in cam0 of the cam1 points, (N1, 3)
    d1 = np.abs(l1 @ h1.T) / np.linalg.norm(l1[:, :2], axis=1, keepdims=True)
    d0 = np.abs(h0 @ l0.T) / np.linalg.norm(l0[:, :2], axis=1)[None, :]
    cost = 0.5 * (d0 + d1)
    big = 1e6
    gated = np.where(cost < cfg.epipolar_tol_px, cost, big)
    i0, i1 = linear_sum_assignment(gated)
    keep = gated[i0, i1] < big
    i0, i1 = i0[keep], i1[keep]
    if len(i0) == 0:
        return empty
    X = triangulate(st, c0, c1, det0.centres[i0], det1.centres[i1])
    cam1_pts = X @ st.R.T + st.T
    dia0 = det0.axes[i0, 0] * X[:, 2] / c0.K[0, 0]
    dia1 = det1.axes[i1, 0] * cam1_pts[:, 2] / c1.K[0, 0]
    ok = (
        (X[:, 2] > 0)
        & (cam1_pts[:, 2] > 0)
        & (np.abs(dia0 - dia1) <= cfg.size_tol * np.maximum(dia0, dia1))
    )
    return StereoMarkers(X[ok], i0[ok], i1[ok], cost[i0, i1][ok], 0.5 * (dia0 + dia1)[ok])


def kabsch_umeyama(
    A: np.ndarray, B: np.ndarray, scale: bool = False, weights: np.ndarray | None = None
):
    """Least-squares ``B ≈ s·R·A + t`` for (N, 3) corresponding points; returns (4×4 T, s, RMS).

    The rotation is Kabsch's (``scipy.spatial.transform.Rotation.align_vectors``); with ``scale``
    the factor is Umeyama's ``s = Σ wᵢ bᵢ·(R aᵢ) / Σ wᵢ |aᵢ|²`` on centred points. ``T`` includes ``s``.
    """
    from scipy.spatial.transform import Rotation

    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    if len(A) != len(B) or len(A) < 3:
        raise ValueError(f"need ≥ 3 corresponding points, got {len(A)} and {len(B)}")
    w = np.ones(len(A)) if weights is None else np.asarray(weights, np.float64)
    ca, cb = np.average(A, axis=0, weights=w), np.average(B, axis=0, weights=w)
    Ac, Bc = A - ca, B - cb
    rot, _ = Rotation.align_vectors(Bc, Ac, weights=w)
    R = rot.as_matrix()
    s = float((w * (Bc * (Ac @ R.T)).sum(1)).sum() / (w * (Ac**2).sum(1)).sum()) if scale else 1.0
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = cb - s * R @ ca
    res = B - (A @ T[:3, :3].T + T[:3, 3])
    return T, s, float(np.sqrt((res**2).sum(1).mean()))


@dataclasses.dataclass
class ConstellationMatch:
    pairs: np.ndarray  # (K, 2) indices (into A, into B)
    T_b_a: np.ndarray  # 4x4: B ≈ T_b_a · A
    rms_mm: float

    @property
    def ok(self) -> bool:
        return len(self.pairs) > 0


def match_constellations(
    A: np.ndarray, B: np.ndarray, cfg: MarkerConfig = MarkerConfig()
) -> ConstellationMatch:
    """Correspondences between two marker sets related by an unknown rigid motion, and the motion.

    Only distances are used (they survive any rotation and translation), so the sets may be in
    different frames, partly overlapping, and listed in any order. Returns an empty match (``ok``
    false) when fewer than ``cfg.min_matches`` markers agree.
    """
    from scipy.spatial import cKDTree

    A, B = np.asarray(A, np.float64).reshape(-1, 3), np.asarray(B, np.float64).reshape(-1, 3)
    fail = ConstellationMatch(np.zeros((0, 2), int), np.eye(4), float("nan"))
    if min(len(A), len(B)) < max(3, cfg.min_matches):
        return fail
    tol = cfg.match_tol_mm
    DA = np.linalg.norm(A[:, None] - A[None], axis=2)
    DB = np.linalg.norm(B[:, None] - B[None], axis=2)
    # descriptor score: how many of i's distances appear among j's distances
    sA = [np.sort(r[r > 0]) for r in DA]
    sB = [np.sort(r[r > 0]) for r in DB]
    score = np.zeros((len(A), len(B)), int)
    for i, da in enumerate(sA):
        for j, db in enumerate(sB):
            k = np.searchsorted(db, da)
            lo, hi = np.clip(k - 1, 0, len(db) - 1), np.clip(k, 0, len(db) - 1)
            score[i, j] = int((np.minimum(np.abs(db[lo] - da), np.abs(db[hi] - da)) < tol).sum())
    cands = [
        (score[i, j], i, j)
        for i in range(len(A))
        for j in np.argsort(-score[i])[:3]
        if score[i, j] >= 2
    ]
    cands.sort(reverse=True)
    cands = cands[:60]
    treeB = cKDTree(B)
    best = (0, np.inf, None)
    for a_idx, (_, i1, j1) in enumerate(cands):
        for b_idx in range(a_idx + 1, len(cands)):
            _, i2, j2 = cands[b_idx]
            if i2 == i1 or j2 == j1 or abs(DA[i1, i2] - DB[j1, j2]) > tol:
                continue
            for c_idx in range(b_idx + 1, len(cands)):
                _, i3, j3 = cands[c_idx]
                if (
                    i3 in (i1, i2)
                    or j3 in (j1, j2)
                    or abs(DA[i1, i3] - DB[j1, j3]) > tol
                    or abs(DA[i2, i3] - DB[j2, j3]) > tol
                ):
                    continue
                try:
                    T, _, _ = kabsch_umeyama(A[[i1, i2, i3]], B[[j1, j2, j3]])
                except ValueError:
                    continue
                d, nn = treeB.query(A @ T[:3, :3].T + T[:3, 3])
                inl = d < tol
                n, err = int(inl.sum()), float(d[inl].mean()) if inl.any() else np.inf
                if n > best[0] or (n == best[0] and err < best[1]):
                    best = (n, err, T)
            if best[0] >= min(len(A), len(B)):
                break
        if best[0] >= min(len(A), len(B)):
            break
    if best[2] is None or best[0] < cfg.min_matches:
        return fail
    T = best[2]
    for _ in range(3):  # refine on mutual nearest neighbours
        d, nn = treeB.query(A @ T[:3, :3].T + T[:3, 3])
        ia = np.flatnonzero(d < tol)
        ia = np.array([i for i in ia if list(nn[ia]).count(nn[i]) == 1], int)
        if len(ia) < max(3, cfg.min_matches):
            return fail
        T, _, rms = kabsch_umeyama(A[ia], B[nn[ia]])
    return ConstellationMatch(np.stack([ia, nn[ia]], axis=1), T, rms)
