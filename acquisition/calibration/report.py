"""The calibration report picture: per-view errors, image coverage, epipolar errors, turntable fit.

A person judging a calibration wants to see, not read: which views were bad (and were they
rejected), whether the detected corners covered the whole image (distortion is only known
where corners were), how far corresponding points lie from their epipolar lines, and how well
the turntable views agree with a single rotation axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.render import save_figure


def coverage_fraction(points: np.ndarray, image_size: tuple[int, int], cells: int = 16) -> float:
    """Fraction of a ``cells`` × ``cells`` grid over the image that holds at least one detected point."""
    W, H = image_size
    if len(points) == 0:
        return 0.0
    gx = np.clip((points[:, 0] / W * cells).astype(int), 0, cells - 1)
    gy = np.clip((points[:, 1] / H * cells).astype(int), 0, cells - 1)
    return len(set(zip(gx.tolist(), gy.tolist()))) / cells**2


def write_report(run, path: str | Path) -> Path:
    """Draw :class:`pipeline.CalibrationRun` ``run`` into a PNG at ``path`` (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calib = run.calibration
    cams = [c for c in ("cam0", "cam1") if c in run.views]
    bars = [(c, calib.cameras[c].per_view_rms_px, calib.cameras[c].rejected_views) for c in cams]
    if calib.stereo is not None and calib.stereo.per_view_rms_px:
        bars.append(("stereo", calib.stereo.per_view_rms_px, calib.stereo.rejected_views))
    if calib.turntable is not None and calib.turntable.per_view_rms_px:
        bars.append(("turntable", calib.turntable.per_view_rms_px, {}))
    ncols = max(len(bars), len(cams) + 1, 2)
    fig, axes = plt.subplots(2, ncols, figsize=(4.6 * ncols, 8.2), squeeze=False)
    for ax, (title, errors, rejected) in zip(axes[0], bars):
        names = sorted(set(errors) | set(rejected))
        vals = [errors.get(n, np.nan) for n in names]
        colours = ["tab:red" if n in rejected else "tab:blue" for n in names]
        ax.bar(range(len(names)), vals, color=colours)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_ylabel("view RMS reprojection error, px")
        rms = {
            "stereo": calib.stereo.rms_px if calib.stereo else np.nan,
            "turntable": calib.turntable.reprojection_rms_px if calib.turntable else np.nan,
        }.get(title, calib.cameras[title].rms_px if title in calib.cameras else np.nan)
        ax.set_title(f"{title}: RMS {rms:.3f} px, {len(rejected)} rejected (red)", fontsize=9)
    for ax in axes[0][len(bars) :]:
        ax.axis("off")
    for ax, cam in zip(axes[1], cams):
        W, H = run.views[cam].image_size
        kept = [n for n in run.views[cam].detections if n not in calib.cameras[cam].rejected_views]
        pts = (
            np.vstack([run.views[cam].detections[n].image_points for n in kept])
            if kept
            else np.zeros((0, 2))
        )
        ax.scatter(pts[:, 0], pts[:, 1], s=1, c="tab:blue")
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_aspect("equal")
        ax.set_title(
            f"{cam}: corners of {len(kept)} views cover {coverage_fraction(pts, (W, H)):.0%} of the image",
            fontsize=9,
        )
    ax = axes[1][len(cams)]
    if run.epipolar_px is not None and len(run.epipolar_px):
        e = run.epipolar_px.ravel()
        ax.hist(e, bins=50, color="tab:green")
        ax.set_xlabel("distance to the epipolar line, px (undistorted)")
        ax.set_title(
            f"epipolar error: mean {e.mean():.3f}, 95% {np.percentile(e, 95):.3f} px", fontsize=9
        )
    else:
        ax.axis("off")
    for ax in axes[1][len(cams) + 1 :]:
        ax.axis("off")
    fig.suptitle(f"calibration from images — board {calib.board.get('name', '')}", fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
