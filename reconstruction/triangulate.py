"""Stereo back-projection of decoded structured-light maps (seed paper §3.1, "three-dimensional
reconstruction by stereo matching of the phase / code values").

Steps, per view:

1. Smooth each camera's decoded projector column and row (second-order normalised
   convolution over valid pixels, :func:`_smooth_decoded`), rectify both cameras
   (:func:`rectification`, X_cam1 = R X_cam0 + T) and resample the maps into the rectified
   image with ``cv2.remap`` (bilinear: a pixel whose neighbourhood holds an invalid decode
   becomes invalid).
2. Match along rectified epipolar lines (image rows): for each left pixel, the right position
   where the right camera's projector column equals the left's, found with sub-pixel linear
   interpolation inside monotone runs of the right row (a run ends at an invalid pixel or a jump
   larger than ``max_jump`` projector pixels, i.e. a depth edge). Of several candidates the one
   whose projector row agrees best is kept; it must agree within ``max_row_error``.
3. Triangulate with the rectification's ``Q`` (disparity to depth), rotate back to the cam0 frame.
4. Normals from the organised point map (cross product of the neighbours' differences, oriented
   towards the camera) and a per-point confidence: the lower of the two decode confidences times
   a factor falling with the projector-row disagreement.

Before matching, :func:`stereo_correspondence_check` measures whether the decoded maps fit the
calibration at all: cam0 pixels are paired with the cam1 pixels of the same projector code and
the median symmetric epipolar distance of the pairs is compared with ``max_median_epipolar_px``.
A calibration of another rig (or cameras swapped) used to yield a few hundred points out of a
million decoded pixels without a word; it now stops with :class:`CalibrationMismatch`.

Three rays (:func:`_three_ray_depths`, opt-in): when the calibration also has a projector
(``calibration.json`` → ``projector``, ``scan2ad calibrate procam``) and ``use_projector`` is on,
each matched point is solved by weighted least squares over the four independent decoded
measurements of it. Derivation (all in projector pixels, the decoders' common unit):

* unknown: the depth t along the cam0 ray of a pixel (exact: a pixel centre);
* measurements, each with the decoder's noise sigma, independent (two cameras, two pattern
  directions): cam0's decoded column and row at its pixel, ``(c0, r0) = π_p(t) + n0``, and
  cam1's own decoded column and row at the cam1 pixel where the point appears,
  ``v1(π_1(t)) = π_p(t) + n1`` (π_p: projection into the projector; π_1: into cam1);
* residuals ``f0(t) = (c0, r0) − π_p(t)``, ``f1(t) = v1(π_1(t)) − π_p(t)``, linear in t over a
  sub-pixel step: derivatives ``g0 = −k_p`` and ``g1 = k_1 − k_p`` with ``k_p = dπ_p/dt`` and
  ``k_1 = d v1(π_1(t))/dt`` (the slope of cam1's maps along its epipolar line times
  ``dx_1/dt = f B / t²``);
* equal weights (equal noise): ``t = t_s − Σ f·g / Σ |g|²`` (one Gauss–Newton step from the
  stereo depth ``t_s``) with variance ``σ² / Σ |g|²``.

What the third ray can add: stereo matching solves ``v1_col(π_1(t)) = c0``, i.e.
``f1_col − f0_col = 0``, whose sensitivity is ``k_1,col = a + b`` with ``a = k_p,col`` (the
cam0–projector column sensitivity) and ``b = k_1,col − k_p,col`` (cam1–projector), variance
``2σ² / (a + b)²``. The columns in the least squares give ``σ² / (a² + b²)`` — the same when
``a = b``, i.e. a projector midway between the cameras on their baseline, and lower only for an
off-centre projector (``a² + b² > (a + b)² / 2``). The rows add ``|g0_row|² + |g1_row|²``, which
is non-zero only when the projector sits off the cameras' baseline (its row moves with depth).
On ``virtual.toml`` the projector is midway and 5 mm above the cameras (row information ~1% of
the columns'): the third ray changes nothing (0.99-1.01x the stereo error, per view and end to
end). ``virtual_threeray.toml`` raises it 55 mm (58 mm off the baseline in the cam0 frame):
rows ≈ columns in information, so the variance halves and the error should fall to ~0.71x;
measured per view 0.76-0.77x (``benchmarks/procam.py --virtual --rig virtual_threeray``).
:func:`three_ray_gain` predicts that ratio from a calibration alone (virtual 1.000,
virtual_threeray 0.72); with ``projector_auto_ratio`` > 0 the third ray is used where the
prediction is at most that (off by default: the prediction assumes independent decoder noise,
which coarse pixels break, see ``use_projector``).
Points whose cam0 or cam1 residual exceeds ``max_projector_error`` keep the stereo depth.
With ``fill_from_projector`` a cam0 pixel that cam1 does not see (no match: occlusion) is
triangulated from the cam0–projector pair, the better-conditioned pair left, when its decoded
projector position lies within ``max_projector_error`` of the epipolar line.

Where the paper is silent: the projector column is the matching key (it varies across the
epipolar lines in a horizontal-baseline rig), the row only confirms the match.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import InputError, ValidationError
from scan2ad.pointcloud import PointCloud


class CalibrationMismatch(ValidationError):
    """Decoded correspondences disagree with the calibration (exit code 2: fix the input)."""


@dataclasses.dataclass(frozen=True)
class TriangulateConfig:
    max_jump: float = doc(
        "projector-column jump between neighbouring right pixels that ends a run", 2.0
    )
    max_row_error: float = doc("largest projector-row disagreement of a match (projector px)", 1.0)
    min_confidence: float = doc("pixels below this decode confidence are ignored", 0.05)
    max_depth_mm: float = doc("points farther than this from cam0 are dropped", 5000.0)
    max_incidence_deg: float = doc(
        "points seen by either camera at more than this angle from the surface normal are "
        "dropped (grazing measurements are the least accurate: on lock_nut, one view, points "
        "at 70-90° have 2-10x the mean error of those below 60°; 90: keep all); every kept "
        "point records its angle in extra['incidence'], and the stage keeps those above its "
        "grazing_deg (70°) only where no other view measures the surface better. 80 rather "
        "than 85: on square_plug the 80-85° points raised mean / p95 from 0.052% / 0.133% to "
        "0.071% / 0.218% of the diagonal for 1.6 points of threaded_nail's coverage",
        80.0,
    )
    smooth_sigma_px: float = doc(
        "Gaussian applicability (px) of the normalised-convolution smoothing of the decoded "
        "maps over valid pixels (0: off)",
        1.0,
    )
    smooth_order: int = doc(
        "order of the local polynomial of the smoothing: 0 (a weighted mean, biased by the "
        "map's curvature: half its Laplacian × sigma²) or 2 (a quadratic, unbiased on curved "
        "surfaces); on square_plug's threads (two views, exact poses) order 0 gives mean / p95 "
        "0.057% / 0.218% of the diagonal, order 2 0.050% / 0.117%",
        2,
    )
    smooth_max_change: float = doc(
        "a pixel whose smoothed value departs from its own by more than this (projector px) "
        "keeps its own: the window then straddles a depth edge or a crease the polynomial "
        "does not follow (the decoder's noise is ~0.1 px)",
        0.3,
    )
    edge_jump: float = doc(
        "depth-edge filter (0: off, the default): two neighbouring pixels (horizontal or "
        "vertical) of a rectified camera map whose decoded projector columns differ by more "
        "than this (projector px) straddle a depth "
        "discontinuity, and a camera pixel there may mix the codes of both surfaces. 2 (the "
        "matching's max_jump) with radius 2, measured 2026-11-29 (12 views, rig calibration, "
        "benchmarks/reconstruction.py): mean % of the diagonal square_plug 0.0522 -> 0.0502, "
        "split_pin 0.0701 -> 0.0693, internal / external_tooth_lock_washer 0.0552 / 0.0554 -> "
        "0.0533 / 0.0528, heavy_washer 0.0316 -> 0.0273, but threaded_nail's coverage "
        "95.1% -> 91.0% and split_pin's points 85.7K -> 72.1K (coverage 99.8% -> 98.7%): none "
        "of the four reaches 0.05%. Radius 1: square_plug 0.0500, threaded_nail's coverage "
        "93.5%. So it stays off. On one square_plug view most of "
        "the error is at grazing angles (points above 65°, 13%, hold 33% of it), not at "
        "column jumps of the left map (within 2 px of one: 1.5% of the points, 2.4% of the "
        "error)",
        0.0,
    )
    max_median_epipolar_px: float = doc(
        "calibration check: the median symmetric epipolar distance (px, undistorted) of cam0 / "
        "cam1 pixels with the same projector code above this stops triangulation (a calibration "
        "that does not fit the images); the virtual rig with its own calibration gives ~0.1 px; "
        "0: no check",
        3.0,
    )
    use_projector: bool = doc(
        "when the calibration has a projector, triangulate from all three rays (the least "
        "squares of the module docstring). Off by default: it gains only where the projector "
        "sits off the cameras' baseline or off-centre (virtual_threeray, projector 58 mm off "
        "the baseline: 0.76-0.77x the two cameras' error per view, end to end 0.75-0.82x on "
        "all 15 parts at full size (split_pin was 1.44x until the multi-view registration "
        "refused corrections that fit worse than the prior, MultiviewConfig.fit_check: now "
        "0.81x); but through virtual_small_threeray's 400x320 cameras 0.87-1.28x, "
        "below 1 on 10 of 15 parts: coarse pixels average the codes over a footprint that is "
        "not flat, an error shared by the rays, not independent), nothing with the projector "
        "midway on it as on virtual.toml and most two-camera rigs (0.99-1.01x), and there it "
        "still sends FRICP astray on test_pipeline's box_with_post (exact maps, part mean "
        "0.0024 -> 0.0347 mm, views turned by 0.28-0.82°; on virtual_threeray 0.0024 -> "
        "0.0022 mm, no view moved); it also makes every point depend on the projector's "
        "calibration, the least constrained of the three (an inverse camera). Turn it on "
        "(`[triangulate] use_projector = true`) for a rig whose projector is off the baseline, "
        "or let projector_auto_ratio decide from the geometry",
        False,
    )
    projector_auto_ratio: float = doc(
        "with use_projector off: use the third ray anyway when the rig's predicted three-ray "
        "error, as a share of the two cameras' (:func:`three_ray_gain`, from the calibration's "
        "geometry alone), is at most this; 0: never (virtual.toml predicts 1.000, "
        "virtual_threeray.toml 0.72; measured 0.99-1.01 and 0.75-0.78)",
        0.0, ge=0.0, le=1.0,
    )
    fill_from_projector: bool = doc(
        "three rays: cam0 pixels without a cam1 match are triangulated from cam0 and the "
        "projector (the better-conditioned pair left). Off by default: the filled points (2-3% "
        "more, mostly at occlusion edges) are the least accurate; on lock_nut (exact maps, 0.1 "
        "px decoder noise, one view) the mean rose 0.0438 -> 0.0464% of the diagonal",
        False,
    )
    max_projector_error: float = doc(
        "three rays: a point whose decoded projector position lies farther than this (projector "
        "px) from where the solved point projects leaves the projector out (a filled point is "
        "dropped)",
        1.0,
    )
    edge_radius_px: int = doc(
        "depth-edge filter: left pixels within this many rectified pixels (square window) of a "
        "discontinuity of the left map, or matched within it of one of the right map, are "
        "dropped",
        2,
    )


@dataclasses.dataclass
class Rectification:
    R1: np.ndarray
    R2: np.ndarray
    P1: np.ndarray
    P2: np.ndarray
    Q: np.ndarray
    maps0: tuple
    maps1: tuple
    size: tuple[int, int]


def rectification(calib) -> Rectification:
    """Rectification of the calibration's stereo pair (Fusiello, Trucco, Verri 2000).

    Computed here rather than with ``cv2.stereoRectify``: the rig's cameras converge by ~20° on
    the turntable and stereoRectify then returns a mirrored projection (negative focal length)
    with ``alpha=1`` or pushes the views out of frame with ``CALIB_ZERO_DISPARITY``. The new x
    axis is the baseline, the new z the mean optical axis made orthogonal to it; both cameras keep
    cam0's focal length and each gets the principal point that centres its own optical axis, with
    one common row centre so that epipolar lines are image rows. The undistort/rectify maps are
    OpenCV's ``initUndistortRectifyMap``."""
    import cv2

    if calib.stereo is None:
        raise InputError("the calibration has no stereo pair: run `scan2ad calibrate stereo` first")
    c0, c1 = calib.cameras["cam0"], calib.cameras["cam1"]
    size = tuple(int(s) for s in c0.image_size)
    K0, K1 = np.asarray(c0.K, float), np.asarray(c1.K, float)
    d0, d1 = np.asarray(c0.dist, float), np.asarray(c1.dist, float)
    R = np.asarray(calib.stereo.R, float)
    T = np.asarray(calib.stereo.T, float).reshape(3)
    centre1 = -R.T @ T  # cam1 centre in the cam0 frame
    B = float(np.linalg.norm(centre1))
    e1 = centre1 / B
    z = np.array([0.0, 0.0, 1.0]) + R.T @ np.array([0.0, 0.0, 1.0])
    e2 = np.cross(z, e1)
    e2 /= np.linalg.norm(e2)
    e3 = np.cross(e1, e2)
    R1 = np.stack([e1, e2, e3])  # cam0 -> rectified
    R2 = R1 @ R.T  # cam1 -> rectified
    f = float(K0[0, 0])
    w, h = size

    def centre(Rr):
        d = Rr @ np.array([0.0, 0.0, 1.0])
        return w / 2 - f * d[0] / d[2], h / 2 - f * d[1] / d[2]

    (cx0, cy0), (cx1, cy1) = centre(R1), centre(R2)
    cy = (cy0 + cy1) / 2
    P1 = np.array([[f, 0, cx0, 0], [0, f, cy, 0], [0, 0, 1, 0]], float)
    P2 = np.array([[f, 0, cx1, -f * B], [0, f, cy, 0], [0, 0, 1, 0]], float)
    # Q: (x, y, disparity = xL - xR, 1) -> homogeneous rectified-cam0 point
    Q = np.array(
        [[1, 0, 0, -cx0], [0, 1, 0, -cy], [0, 0, 0, f], [0, 0, 1 / B, -(cx0 - cx1) / B]], float
    )
    m0 = cv2.initUndistortRectifyMap(K0, d0, R1, P1[:, :3], size, cv2.CV_32FC1)
    m1 = cv2.initUndistortRectifyMap(K1, d1, R2, P2[:, :3], size, cv2.CV_32FC1)
    return Rectification(R1, R2, P1, P2, Q, m0, m1, size)


def _solve_gram(G: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve a batch of small symmetric positive (semi-)definite systems G x = rhs
    ((N, n, n), (N, n, m)) by a Cholesky factorisation vectorised over the batch, and return
    (x, scale-free determinant det(G) / G[0, 0]^n). Written here because numpy's batched
    ``linalg.solve`` / ``det`` run one LAPACK call per 6×6 system: on the decoded maps of one
    view (~10^6 valid pixels) they took ~4 s, these loops over n take a few tenths. A system
    whose pivot is not positive gets determinant 0 (the caller keeps the pixel's own value)."""
    n = G.shape[1]
    A = np.ascontiguousarray(G.transpose(1, 2, 0))      # batch last: every op on a contiguous row
    b = np.ascontiguousarray(rhs.transpose(1, 2, 0))    # (n, m, N)
    L = np.zeros_like(A)
    logdet = np.zeros(A.shape[2])
    bad = np.zeros(A.shape[2], bool)
    for j in range(n):
        d = A[j, j] - sum(L[j, k] * L[j, k] for k in range(j))
        bad |= ~(d > 0)
        d = np.sqrt(np.where(d > 0, d, 1.0))
        L[j, j] = d
        logdet += 2 * np.log(d)
        for i in range(j + 1, n):
            L[i, j] = (A[i, j] - sum(L[i, k] * L[j, k] for k in range(j))) / d
    y = np.empty_like(b)
    for i in range(n):                                   # L y = rhs
        y[i] = (b[i] - sum(L[i, k] * y[k] for k in range(i))) / L[i, i]
    x = np.empty_like(b)
    for i in reversed(range(n)):                         # L^T x = y
        x[i] = (y[i] - sum(L[k, i] * x[k] for k in range(i + 1, n))) / L[i, i]
    with np.errstate(over="ignore", divide="ignore"):
        det = np.exp(logdet - n * np.log(np.maximum(A[0, 0], 1e-300)))
    det[bad] = 0.0
    return x.transpose(2, 0, 1), det


def _smooth_decoded(
    maps: list[np.ndarray], valid: np.ndarray, sigma: float, order: int, max_change: float,
    fast: bool = True,
) -> list[np.ndarray]:
    """Normalised convolution (Knutsson & Westin 1993) of decoded coordinate maps that share one
    validity mask: at each valid pixel, the weighted least-squares polynomial of ``order`` 0 or
    2 (1, x, y, x², xy, y²) over the valid pixels of a Gaussian window, evaluated at the pixel.
    It averages the decoder's phase noise over neighbouring pixels of the same surface; the
    quadratic leaves no curvature bias (a weighted mean shifts a curved map by half its
    Laplacian × sigma², which on threads is several tenths of a projector pixel). The moment
    images are separable filters (``cv2.sepFilter2D``); the 6×6 systems are solved per valid
    pixel. A pixel whose window is less than half valid or leaves the quadratic undetermined
    (order 2), or whose smoothed value departs from its own by more than
    ``max_change`` (a depth edge or a crease in the window), keeps its own value. ``fast``
    (order 2): pixels whose whole window is valid take the fixed filter of a full window
    instead of their own system (the same value up to float32 rounding of the moments;
    ``benchmarks/scan_speed.py``); False solves every pixel's system (the
    reference)."""
    import cv2

    r = int(np.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    basis = [(0, 0)] if order == 0 else [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    kern = [(g * x**p).astype(np.float32) for p in range(5)]

    def moment(img, p, q):  # sum over the window of w(dx, dy) dx^p dy^q img(x+dx, y+dy)
        return cv2.sepFilter2D(img, cv2.CV_32F, kern[p], kern[q], borderType=cv2.BORDER_CONSTANT)

    idx = np.flatnonzero(valid.ravel())
    masked = [np.where(valid, f, 0.0).astype(np.float32) for f in maps]  # invalid pixels: 0
    value = np.zeros((len(idx), len(maps)))
    fit = np.zeros(len(idx), bool)
    part = np.ones(len(idx), bool)  # pixels whose window is not entirely valid
    if order == 2 and fast:
        # Fast path: where the whole window is valid (and inside the image) the Gram matrix is
        # the window's own, the same at every such pixel, so the fitted value is one fixed linear
        # combination of the data's moment images (a 2-D Savitzky-Golay filter): G's first row
        # of the inverse, which by the window's symmetry weighs only the moments (0,0), (2,0)
        # and (0,2). Only the pixels near an invalid one or the image border need their own
        # 6x6 system: on a view of square_taper_washer 31 % of the valid pixels (speckle).
        full = cv2.erode(valid.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8),
                         borderType=cv2.BORDER_CONSTANT, borderValue=0).ravel()[idx].astype(bool)
        mom = [float(np.sum(g * x**p)) if p % 2 == 0 else 0.0 for p in range(5)]
        G_full = np.array([[mom[pa + pb] * mom[qa + qb] for (pb, qb) in basis]
                           for (pa, qa) in basis])
        w = np.linalg.solve(G_full, np.eye(len(basis))[0])
        terms = [(a, pq) for a, pq in enumerate(basis) if abs(w[a]) > 1e-12 * np.abs(w).max()]
        fidx = idx[full]
        for m, cf in enumerate(masked):
            value[full, m] = sum(w[a] * moment(cf, p, q).ravel()[fidx].astype(np.float64)
                                 for a, (p, q) in terms)
        fit[full] = True
        part = ~full
    pidx = idx[part]
    c = valid.astype(np.float32)
    moments: dict = {}
    G = np.empty((len(pidx), len(basis), len(basis)))
    for a, (pa, qa) in enumerate(basis):
        for b, (pb, qb) in enumerate(basis):
            key = (pa + pb, qa + qb)
            if key not in moments:
                moments[key] = moment(c, *key).ravel()[pidx]
            G[:, a, b] = moments[key]
    rhs = np.empty((len(pidx), len(basis), len(maps)))
    for m, cf in enumerate(masked):
        for a, (p, q) in enumerate(basis):
            rhs[:, a, m] = moment(cf, p, q).ravel()[pidx]
    pfit = G[:, 0, 0] > (0.5 * g.sum() ** 2 if order else 1e-6)
    pvalue = np.zeros((len(pidx), len(maps)))
    if order == 0:
        pvalue[pfit] = rhs[pfit, 0, :] / G[pfit, 0, 0, None]
    elif pfit.any():
        # a window that is half valid can still leave the quadratic undetermined (two valid
        # rows: no y²; hex_head_plug's first view has such strips): the system's determinant,
        # scale-free, is 3.7 on a full window with sigma 1, 0.1-0.14 with three rows or half
        # the columns, 0 with two rows
        sol, det = _solve_gram(G[pfit], rhs[pfit])
        ok = det > 1e-2
        pvalue[np.flatnonzero(pfit)[ok]] = sol[ok, 0, :]
        pfit[pfit] = ok
    value[part] = pvalue
    fit[part] = pfit
    out = []
    for m, f in enumerate(maps):
        own = f.ravel()[idx]
        v = np.where(fit & (np.abs(value[:, m] - own) <= max_change), value[:, m], own)
        res = np.full(f.size, np.nan, np.float32)
        res[idx] = v
        out.append(res.reshape(f.shape))
    return out


def _rectify_map(dm, maps, config: TriangulateConfig | None = None):
    import cv2

    if config is not None and config.smooth_sigma_px > 0:
        valid = dm.valid & np.isfinite(dm.col) & np.isfinite(dm.row)
        col, row = _smooth_decoded(
            [dm.col, dm.row],
            valid,
            config.smooth_sigma_px,
            config.smooth_order,
            config.smooth_max_change,
        )
        dm = type(dm)(col, row, valid, dm.confidence)

    kw = {
        "interpolation": cv2.INTER_LINEAR,
        "borderMode": cv2.BORDER_CONSTANT,
        "borderValue": np.nan,
    }
    col = cv2.remap(np.where(dm.valid, dm.col, np.nan).astype(np.float32), *maps, **kw)
    row = cv2.remap(np.where(dm.valid, dm.row, np.nan).astype(np.float32), *maps, **kw)
    conf = cv2.remap(
        np.nan_to_num(dm.confidence).astype(np.float32), *maps, interpolation=cv2.INTER_LINEAR
    )
    return col, row, conf


def _edge_mask(col: np.ndarray, jump: float, radius: int) -> np.ndarray:
    """Pixels within ``radius`` (square window) of a depth discontinuity of a rectified
    projector-column map: a pair of valid 4-neighbours whose columns differ by more than
    ``jump``. ``cv2.dilate`` grows the marked pairs."""
    import cv2

    edge = np.zeros(col.shape, np.uint8)
    with np.errstate(invalid="ignore"):
        h = np.abs(col[:, 1:] - col[:, :-1]) > jump  # NaN compares False: invalid pairs skipped
        v = np.abs(col[1:] - col[:-1]) > jump
    edge[:, 1:] |= h
    edge[:, :-1] |= h
    edge[1:] |= v
    edge[:-1] |= v
    if radius > 0:
        edge = cv2.dilate(edge, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    return edge.astype(bool)


def _match_row(cl, rl, cr, rr, max_jump, max_row_error):
    """Sub-pixel right x for every left pixel of one rectified row (NaN: no match) and the
    projector-row error of the match. The reference of :func:`_match_rows`, which does every
    row at once and is what ``triangulate_view`` calls."""
    W = len(cl)
    xr = np.full(W, np.nan)
    err = np.full(W, np.inf)
    left_ok = np.isfinite(cl)
    if not left_ok.any():
        return xr, err
    a, b = cr[:-1], cr[1:]
    seg_ok = np.isfinite(a) & np.isfinite(b) & (np.abs(b - a) < max_jump) & (b != a)
    if not seg_ok.any():
        return xr, err
    # monotone runs of valid segments with one sign of slope
    sign = np.sign(b - a)
    brk = ~seg_ok[1:] | ~seg_ok[:-1] | (sign[1:] != sign[:-1])
    starts = np.flatnonzero(seg_ok & np.r_[True, brk])
    ends = np.flatnonzero(seg_ok & np.r_[brk, True])  # last segment of each run, in order
    lx = np.flatnonzero(left_ok)
    lv = cl[lx]
    rr_filled = np.nan_to_num(rr, nan=-1e9)
    cols = np.arange(W)
    for s, e in zip(starts, ends):
        xs = np.arange(s, e + 2, dtype=float)
        vals = cr[s : e + 2]
        if sign[s] < 0:
            xs, vals = xs[::-1], vals[::-1]
        inside = (lv >= vals[0]) & (lv <= vals[-1])
        if not inside.any():
            continue
        x = np.interp(lv[inside], vals, xs)
        rrow = np.interp(x, cols, rr_filled)
        e_row = np.abs(rrow - rl[lx[inside]])
        tgt = lx[inside]
        better = e_row < err[tgt]
        xr[tgt[better]], err[tgt[better]] = x[better], e_row[better]
    bad = err > max_row_error
    xr[bad] = np.nan
    return xr, err


def _match_rows(cl, rl, cr, rr, max_jump, max_row_error):
    """:func:`_match_row` on every row at once ((H, W) maps in, (H, W) ``xr`` and ``err`` out):
    the same results to the bit (the same interpolation formulas as ``np.interp`` and the same
    choice among runs: the least row error, the first run on a tie), without the per-row and
    per-run Python loops (4.8 of a scan's ~34 CPU s; session 18). Runs of every row are
    concatenated, each oriented to increasing values; a left pixel's candidate runs (those whose
    value range holds its value) are found by a search over (row, value) keys, its place within
    a run by a search over (run, value) keys."""
    H, W = cl.shape
    xr = np.full((H, W), np.nan)
    err = np.full((H, W), np.inf)
    cr = cr.astype(np.float64)
    a, b = cr[:, :-1], cr[:, 1:]
    with np.errstate(invalid="ignore"):
        seg_ok = np.isfinite(a) & np.isfinite(b) & (np.abs(b - a) < max_jump) & (b != a)
    sign = np.sign(b - a)
    brk = ~seg_ok[:, 1:] | ~seg_ok[:, :-1] | (sign[:, 1:] != sign[:, :-1])
    ones = np.ones((H, 1), bool)
    ry, rs = np.nonzero(seg_ok & np.hstack([ones, brk]))     # run starts, row-major order
    _, re = np.nonzero(seg_ok & np.hstack([brk, ones]))      # their last segments, same order
    ly, lx = np.nonzero(np.isfinite(cl))
    if len(rs) == 0 or len(lx) == 0:
        return xr, err
    # the runs' samples, concatenated, each in increasing value order
    length = re - rs + 2
    off = np.concatenate([[0], np.cumsum(length)[:-1]])
    run_of = np.repeat(np.arange(len(rs)), length)
    step = np.arange(len(run_of)) - off[run_of]
    dec = sign[ry, rs] < 0
    xs = (np.where(dec[run_of], re[run_of] + 1 - step, rs[run_of] + step)).astype(np.float64)
    vals = cr[ry[run_of], xs.astype(np.intp)]
    lo, hi = vals[off], vals[off + length - 1]
    # candidate (left pixel, run) pairs: lo <= value <= hi in the same row
    lv = cl[ly, lx].astype(np.float64)
    vmin = min(float(lv.min()), float(vals.min()))
    span = max(float(lv.max()), float(vals.max())) - vmin + 1.0
    lkey = ly * span + (lv - vmin)
    order = np.argsort(lkey, kind="stable")
    skey = lkey[order]
    first = np.searchsorted(skey, ry * span + (lo - vmin), "left")
    last = np.searchsorted(skey, ry * span + (hi - vmin), "right")
    count = np.maximum(last - first, 0)
    if count.sum() == 0:
        return xr, err
    pr = np.repeat(np.arange(len(rs)), count)                        # the pair's run
    pl = order[np.repeat(first, count) + np.arange(count.sum())
               - np.repeat(np.cumsum(count) - count, count)]          # the pair's left pixel
    v = lv[pl]
    # place within the run: vals[j] <= v < vals[j + 1] (j = the run's last sample at its top)
    rkey = run_of * span + (vals - vmin)
    j = np.searchsorted(rkey, pr * span + (v - vmin), "right") - 1
    j = np.clip(j, off[pr], off[pr] + length[pr] - 1)
    top = j == off[pr] + length[pr] - 1
    jn = np.where(top, j, j + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (xs[jn] - xs[j]) / (vals[jn] - vals[j])
        x = np.where(top | (v == vals[j]), xs[j], slope * (v - vals[j]) + xs[j])
    # the right camera's row map at x (np.interp over the pixel grid, NaN filled as there)
    rr_f = np.nan_to_num(rr, nan=-1e9).astype(np.float64)
    yy = ly[pl]
    i = np.minimum(np.floor(x).astype(np.intp), W - 1)
    on_grid = (i == W - 1) | (x == i)
    i1 = np.minimum(i + 1, W - 1)
    rrow = np.where(on_grid, rr_f[yy, i], (rr_f[yy, i1] - rr_f[yy, i]) * (x - i) + rr_f[yy, i])
    e_row = np.abs(rrow - rl[yy, lx[pl]])
    e_row = np.where(np.isnan(e_row), np.inf, e_row)
    best = np.lexsort((pr, e_row, pl))
    keep = best[np.r_[True, pl[best][1:] != pl[best][:-1]]]          # first of each left pixel
    keep = keep[np.isfinite(e_row[keep])]
    yk, xk = ly[pl[keep]], lx[pl[keep]]
    xr[yk, xk], err[yk, xk] = x[keep], e_row[keep]
    xr[err > max_row_error] = np.nan
    return xr, err


def stereo_correspondence_check(maps: dict, calib, sample: int = 20000, seed: int = 0) -> dict:
    """Median symmetric epipolar distance of code-matched pixel pairs (see the module
    docstring): ``{"median_px", "p90_px", "pairs", "swapped_median_px"}``, NaN without pairs.
    ``swapped_median_px`` is the same with the two cameras' roles exchanged (small there and
    large here: the cameras are swapped)."""
    from scipy.spatial import cKDTree

    from scan2ad.acquisition.calibration.solve import epipolar_distances

    m0, m1 = maps["cam0"], maps["cam1"]
    nan = {"median_px": float("nan"), "p90_px": float("nan"), "pairs": 0,
           "swapped_median_px": float("nan")}
    ok0 = m0.valid & np.isfinite(m0.col) & np.isfinite(m0.row)
    ok1 = m1.valid & np.isfinite(m1.col) & np.isfinite(m1.row)
    if ok0.sum() < 10 or ok1.sum() < 10:
        return nan
    y1, x1 = np.nonzero(ok1)
    tree = cKDTree(np.stack([m1.col[ok1], m1.row[ok1]], 1), balanced_tree=False)
    y0, x0 = np.nonzero(ok0)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(y0), min(sample, len(y0)), replace=False)
    y0, x0 = y0[pick], x0[pick]
    dist, j = tree.query(np.stack([m0.col[y0, x0], m0.row[y0, x0]], 1), distance_upper_bound=0.75)
    hit = np.isfinite(dist)
    if hit.sum() < 10:
        return nan
    p0 = np.stack([x0[hit], y0[hit]], 1).astype(float)
    p1 = np.stack([x1[j[hit]], y1[j[hit]]], 1).astype(float)
    c0, c1 = calib.cameras["cam0"], calib.cameras["cam1"]
    e = epipolar_distances(calib.stereo, c0, c1, p0, p1).mean(1)
    es = epipolar_distances(calib.stereo, c0, c1, p1, p0).mean(1)
    return {"median_px": float(np.median(e)), "p90_px": float(np.percentile(e, 90)),
            "pairs": int(hit.sum()), "swapped_median_px": float(np.median(es))}


def check_stereo_calibration(maps: dict, calib, max_median_px: float) -> dict:
    """Raise :class:`CalibrationMismatch` when the decoded maps do not fit the calibration."""
    chk = stereo_correspondence_check(maps, calib)
    if max_median_px > 0 and chk["pairs"] and chk["median_px"] > max_median_px:
        hint = (
            " The cameras look swapped (with cam0 and cam1 exchanged the median is "
            f"{chk['swapped_median_px']:.2f} px): check which camera is which."
            if chk["swapped_median_px"] <= max_median_px
            else " Recalibrate (`scan2ad calibrate all`) with this rig as it stands, and check that"
            " the calibration belongs to these cameras (not swapped, not another rig)."
        )
        raise CalibrationMismatch(
            f"the decoded stereo correspondences disagree with the calibration: median epipolar "
            f"distance {chk['median_px']:.2f} px over {chk['pairs']} code-matched pixel pairs "
            f"(limit {max_median_px:g} px).{hint}"
        )
    return chk


def _project_to_projector(X_rect: np.ndarray, R1: np.ndarray, proj) -> np.ndarray:
    """Projector pixels (N, 2, with its distortion) of rectified-cam0 points (N, 3)."""
    import cv2

    T = np.asarray(proj.T_projector_cam0, float) @ np.block(
        [[R1.T, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]
    )
    rvec = cv2.Rodrigues(T[:3, :3])[0]
    uv, _ = cv2.projectPoints(
        np.ascontiguousarray(X_rect, np.float64).reshape(-1, 1, 3), rvec, T[:3, 3],
        np.asarray(proj.K, float), np.asarray(proj.dist, float),
    )
    return uv.reshape(-1, 2)


def three_ray_gain(calib) -> float | None:
    """The depth error of the three-ray least squares as a share of the two cameras', predicted
    from the rig's geometry (None without a stereo pair and a projector). In the rectified cam0
    frame (x: the baseline B to cam1, y: across it) the projector centre sits at (px, py); at a
    working distance Z and a surface facing the cameras each pair's sensitivity, in projector
    pixels per mm of depth, is f_p/Z² times its centres' offset: stereo's column B, cam0–projector
    px (column) and py (row), cam1–projector B − px and py. With equal decoder noise on the four
    codes (module docstring, "Three rays") the ratio of standard deviations is
    ``sqrt((B²/2) / (px² + (B − px)² + 2 py²))``: 1 for a projector midway on the baseline, lower
    the farther it sits off the line or off the middle. The projector's offset along the depth
    and the tilt of the surface are left out (both change the pairs alike to first order)."""
    proj = calib.projector_model()
    if proj is None or calib.stereo is None:
        return None
    R = np.asarray(calib.stereo.R, float)
    T = np.asarray(calib.stereo.T, float).reshape(3)
    centre1 = -R.T @ T
    B = float(np.linalg.norm(centre1))
    e1 = centre1 / B
    e2 = np.cross(np.array([0.0, 0.0, 1.0]) + R.T @ np.array([0.0, 0.0, 1.0]), e1)
    e2 /= np.linalg.norm(e2)
    cp = np.asarray(proj.T_cam0_projector, float)[:3, 3]
    px, py = float(cp @ e1), float(cp @ e2)
    return float(np.sqrt((B * B / 2) / (px * px + (B - px) ** 2 + 2 * py * py)))


def uses_projector(calib, config: TriangulateConfig) -> bool:
    """Whether :func:`triangulate_view` solves from three rays with ``calib``: the calibration
    has a projector and ``use_projector`` is on, or ``projector_auto_ratio`` admits the rig's
    :func:`three_ray_gain`."""
    use = config.use_projector
    if not use and config.projector_auto_ratio > 0:
        gain = three_ray_gain(calib)
        use = gain is not None and gain <= config.projector_auto_ratio
    return bool(use) and calib.projector_model() is not None


def _three_ray_depths(d, t_s, v_1, k_1, c0, r0, rect: Rectification, proj, config: TriangulateConfig):
    """Depth t along the rectified cam0 rays ``d`` (N, 3, z = 1) from all three rays: the
    weighted least-squares solution over the four independent decoded measurements of a point
    (see the module docstring, "Three rays", for the derivation).

    ``t_s``: the stereo depth (NaN: no cam1 match); ``v_1`` (N, 2): cam1's own decoded (column,
    row) at the match (interpolated along the rectified row); ``k_1`` (N, 2): d(cam1's decoded
    column, row at the cam1 pixel of depth t)/dt there; ``c0``, ``r0``: cam0's decoded projector
    coordinates at its pixel. Residuals, in projector pixels (the decoders' common unit, equal
    noise, so equal weights): ``f_0(t) = (c0, r0) − π_p(t)`` and ``f_1(t) = v_1(π_1(t)) − π_p(t)``.
    One Gauss–Newton step from ``t_s`` (the residuals are linear in t over the sub-pixel step).
    Without a match: the cam0–projector pair."""
    eps = 1e-3
    t = np.array(t_s, float)
    has_p = np.isfinite(c0) & np.isfinite(r0)
    m = np.isfinite(t_s) & has_p & np.isfinite(k_1[:, 0]) & np.isfinite(v_1[:, 0])
    if m.any():
        # cam1's row where it is not known (an invalid neighbour, a column-only pattern set)
        # leaves that measurement out
        w1 = np.ones((int(m.sum()), 2))
        w1[:, 1] = np.isfinite(k_1[m, 1]) & np.isfinite(v_1[m, 1])
        X = d[m] * t_s[m, None]
        p0 = _project_to_projector(X, rect.R1, proj)
        p1 = _project_to_projector(X * (1 + eps), rect.R1, proj)
        kp = (p1 - p0) / (eps * t_s[m, None])  # projector px per mm of depth
        f0 = np.stack([c0[m], r0[m]], 1) - p0  # cam0's code against the projector ray
        f1 = np.nan_to_num(v_1[m] - p0) * w1  # cam1's own code at its pixel, the same
        g0, g1 = -kp, np.nan_to_num(k_1[m] - kp) * w1  # their derivatives in t
        num = (f0 * g0).sum(1) + (f1 * g1).sum(1)
        den = (g0 * g0).sum(1) + (g1 * g1).sum(1)
        delta = -num / den
        ok = (np.hypot(*f0.T) <= config.max_projector_error) & (
            np.hypot(*f1.T) <= config.max_projector_error)
        t[np.flatnonzero(m)[ok]] += delta[ok]
    fill = ~np.isfinite(t_s) & has_p
    if config.fill_from_projector and fill.any():
        # the cam0–projector pair: Gauss–Newton on the projector residual from the depth of the
        # ray's closest approach to the projector's column plane, started at the median depth
        t0 = np.full(int(fill.sum()), np.nanmedian(t_s) if np.isfinite(t_s).any() else 300.0)
        obs = np.stack([c0[fill], r0[fill]], 1)
        for _ in range(4):
            X = d[fill] * t0[:, None]
            p0 = _project_to_projector(X, rect.R1, proj)
            p1 = _project_to_projector(X * (1 + eps), rect.R1, proj)
            kp = (p1 - p0) / (eps * t0[:, None])
            with np.errstate(invalid="ignore", divide="ignore"):
                t0 = t0 + ((obs - p0) * kp).sum(1) / (kp * kp).sum(1)
        res = np.hypot(*(obs - _project_to_projector(d[fill] * t0[:, None], rect.R1, proj)).T)
        t[np.flatnonzero(fill)] = np.where(res <= config.max_projector_error, t0, np.nan)
    return t


def triangulate_view(
    maps: dict,
    calib,
    rect: Rectification | None = None,
    config: TriangulateConfig = TriangulateConfig(),
) -> PointCloud:
    """Points (mm, cam0 frame) with normals and ``extra["confidence"]`` from one view's maps."""
    for cam in ("cam0", "cam1"):
        if cam not in maps:
            raise InputError(f"decoded maps lack camera {cam!r}")
    rect = rect or rectification(calib)
    if maps["cam0"].shape != rect.size[::-1] or maps["cam1"].shape != rect.size[::-1]:
        raise InputError(
            f"decoded map shape {maps['cam0'].shape} does not match the calibration's "
            f"image size {rect.size}"
        )
    check_stereo_calibration(maps, calib, config.max_median_epipolar_px)
    c0, r0, f0 = _rectify_map(maps["cam0"], rect.maps0, config)
    c1, r1, f1 = _rectify_map(maps["cam1"], rect.maps1, config)
    c0[f0 < config.min_confidence] = np.nan
    c1[f1 < config.min_confidence] = np.nan
    H, W = c0.shape
    xr, err = _match_rows(c0, r0, c1, r1, config.max_jump, config.max_row_error)
    xs = np.arange(W, dtype=float)[None, :].repeat(H, 0)
    ys = np.arange(H, dtype=float)[:, None].repeat(W, 1)
    if config.edge_jump > 0:
        # depth-edge filter: the left pixel, or either right pixel around its match, lies near
        # a discontinuity of its camera's map
        e1 = _edge_mask(c1, config.edge_jump, config.edge_radius_px)
        near = _edge_mask(c0, config.edge_jump, config.edge_radius_px)
        m = np.isfinite(xr)
        yy = ys[m].astype(int)
        x0 = np.clip(np.floor(xr[m]).astype(int), 0, W - 1)
        near[m] |= e1[yy, x0] | e1[yy, np.minimum(x0 + 1, W - 1)]
        xr[near] = np.nan
        c0 = np.where(near, np.nan, c0)  # and no cam0-projector fill there either
    proj = calib.projector_model() if uses_projector(calib, config) else None
    filled = np.zeros((H, W), bool)
    if proj is not None:
        f, cx0, cy = rect.P1[0, 0], rect.P1[0, 2], rect.P1[1, 2]
        cx1, B = rect.P2[0, 2], -rect.P2[0, 3] / rect.P2[0, 0]
        d = np.stack([(xs - cx0) / f, (ys - cy) / f, np.ones_like(xs)], axis=-1).reshape(-1, 3)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_s = (f * B / (xs - xr - (cx0 - cx1))).ravel()  # depth from the disparity
            # cam1's own (column, row) at the match and their slopes along the rectified row,
            # times dx1/dt = f B / t² (a central difference over 4 pixels: the two-pixel one
            # carries the map's noise into the step; where a neighbour is invalid, the two-pixel
            # one)
            xr0 = np.nan_to_num(xr, nan=0.0)
            i0 = np.clip(np.floor(xr0).astype(int), 1, W - 3)
            frac = np.clip(xr0 - i0, 0.0, 1.0)
            rows_ = np.arange(H)[:, None]
            v_1, k_1 = [], []
            for mp in (c1, r1):
                v_1.append((mp[rows_, i0] * (1 - frac) + mp[rows_, i0 + 1] * frac).ravel())
                wide = (mp[rows_, i0 + 2] - mp[rows_, i0 - 1]) / 3.0
                slope = np.where(np.isfinite(wide), wide, mp[rows_, i0 + 1] - mp[rows_, i0])
                k_1.append(slope.ravel() * f * B / t_s**2)
            v_1, k_1 = np.stack(v_1, 1), np.stack(k_1, 1)
        t_s[~np.isfinite(xr.ravel())] = np.nan
        cand = (np.isfinite(t_s) | np.isfinite(c0.ravel()))
        t = np.full(H * W, np.nan)
        t[cand] = _three_ray_depths(
            d[cand], t_s[cand], v_1[cand], k_1[cand], c0.ravel()[cand], r0.ravel()[cand], rect,
            proj, config,
        )
        P = (d * t[:, None]).reshape(H, W, 3)  # rectified cam0 frame
        # a filled point has no cam1 match: its confidence is cam0's, its row error 0
        filled = ~np.isfinite(xr) & np.isfinite(P).all(-1)
        xr = np.where(filled, xs, xr)
        err = np.where(filled, 0.0, err)
    else:
        disp = xs - xr
        Q = rect.Q
        X = Q[0, 0] * xs + Q[0, 3]
        Y = Q[1, 1] * ys + Q[1, 3]
        Z = np.full_like(xs, Q[2, 3])
        Wh = Q[3, 2] * disp + Q[3, 3]
        with np.errstate(invalid="ignore", divide="ignore"):
            P = np.stack([X / Wh, Y / Wh, Z / Wh], axis=-1)  # rectified cam0 frame
    ok = np.isfinite(P).all(-1) & (P[..., 2] > 0) & (P[..., 2] < config.max_depth_mm)
    P[~ok] = np.nan
    # normals from the organised map: central differences
    dx = np.full_like(P, np.nan)
    dy = np.full_like(P, np.nan)
    dx[:, 1:-1] = P[:, 2:] - P[:, :-2]
    dy[1:-1] = P[2:] - P[:-2]
    n = np.cross(dx, dy)
    nn = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / nn
    flip = np.einsum("hwc,hwc->hw", n, P) > 0
    n[flip] *= -1
    n_ok = np.isfinite(n).all(-1)
    # incidence: the larger angle between the normal and the rays to the two cameras (cam1 sits
    # on the rectified x axis); grazing measurements are the least accurate (lock_nut, one view:
    # points at 70-90° have 2-10x the mean error of those below 60°)
    c1 = np.array([-rect.P2[0, 3] / rect.P2[0, 0], 0.0, 0.0])
    cos_inc = np.ones(P.shape[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        for centre in (np.zeros(3), c1):
            ray = centre - P
            cos = np.abs(np.einsum("hwc,hwc->hw", n, ray)) / np.linalg.norm(ray, axis=-1)
            cos_inc = np.fmin(cos_inc, cos)
    n_ok &= cos_inc >= np.cos(np.radians(config.max_incidence_deg))
    keep = ok & n_ok
    R1T = rect.R1.T  # rectified -> cam0
    pts = P[keep] @ R1T.T
    nrm = n[keep] @ R1T.T
    # right-camera confidence at the matched sub-pixel position (nearest pixel)
    xi = np.clip(np.round(xr[keep]).astype(int), 0, W - 1)
    yi = ys[keep].astype(int)
    conf = np.where(filled[keep], f0[keep], np.minimum(f0[keep], f1[yi, xi])) * np.exp(
        -((err[keep] / max(config.max_row_error, 1e-6)) ** 2)
    )
    return PointCloud(
        pts.astype(np.float64),
        nrm.astype(np.float64),
        extra={
            "confidence": conf.astype(np.float32),
            "incidence": np.degrees(np.arccos(np.clip(cos_inc[keep], 0, 1))).astype(np.float32),
        },
    )
