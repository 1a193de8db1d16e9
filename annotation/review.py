"""Review renders of labelled samples: the points from several viewpoints, anomalous points red.

pyvista renders off screen (no display needed); one PNG per sample with a 2x3 grid of views
(two opposite isometric views, top, bottom, front, side) so a defect on any side of the part is
visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.errors import InputError

NORMAL_RGB = (0.72, 0.74, 0.78)
ANOMALY_RGB = (0.86, 0.08, 0.08)
VIEWS = (("iso", (1, 1, 0.8)), ("iso back", (-1, -1, 0.8)), ("top", (0, 0, 1)),
         ("bottom", (0, 0, -1)), ("front", (0, -1, 0.05)), ("side", (1, 0, 0.05)))


def read_labels(path: str | Path) -> np.ndarray:
    """A ``labels.npy``: a numeric array of 0 (normal) / 1 (anomalous), else an InputError naming
    the file (a pickle, a truncated file, labels 2 or -1)."""
    from scan2ad.pointcloud import check_labels

    try:
        labels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a labels array: {exc}", path) from None
    if not isinstance(labels, np.ndarray):
        raise InputError("not a labels array (an .npz archive?)", path)
    return check_labels(labels, path)


def load_labelled(sample: str | Path) -> tuple[np.ndarray, np.ndarray, Path]:
    """Points and labels of a sample folder (``cloud.ply`` + ``labels.npy``) or a labelled cloud file."""
    from scan2ad.pointcloud import read_cloud

    sample = Path(sample)
    if sample.is_dir():
        cloud_path = sample / "cloud.ply"
        if not cloud_path.is_file():
            raise InputError("no cloud.ply in sample folder", sample)
        cloud = read_cloud(cloud_path)
        lab_path = sample / "labels.npy"
        if lab_path.is_file():
            labels = read_labels(lab_path)
        elif cloud.labels is not None:
            labels = cloud.labels
        else:
            raise InputError("no labels.npy and no labels in cloud.ply", sample)
    else:
        cloud = read_cloud(sample)
        lab_path = sample.with_name(sample.stem + ".labels.npy")
        labels = read_labels(lab_path) if lab_path.is_file() else (
            cloud.labels if cloud.labels is not None else np.zeros(len(cloud), np.uint8))
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != len(cloud.points):
        raise InputError(f"{labels.shape[0]} labels for {len(cloud.points)} points", sample)
    return cloud.points, (labels > 0).astype(np.uint8), sample


def render_review(points: np.ndarray, labels: np.ndarray, out_png: str | Path, title: str = "",
                  window_size: tuple[int, int] = (1500, 1000), point_size: float = 4.0) -> Path:
    """Write a 2x3 multi-view PNG of the points, anomalous ones red; returns the path."""
    from scan2ad.render import offscreen_pyvista

    pv = offscreen_pyvista()

    from scan2ad.io import atomic_path

    points = np.asarray(points, dtype=float)
    labels = np.asarray(labels).reshape(-1) > 0
    colors = np.where(labels[:, None], ANOMALY_RGB, NORMAL_RGB)
    cloud = pv.PolyData(points)
    cloud["rgb"] = (colors * 255).astype(np.uint8)
    centre = points.mean(0)
    extent = float(np.ptp(points, axis=0).max()) or 1.0
    pl = pv.Plotter(off_screen=True, shape=(2, 3), window_size=list(window_size), border=False)
    for i, (name, d) in enumerate(VIEWS):
        pl.subplot(i // 3, i % 3)
        pl.set_background("white")
        pl.add_points(cloud, scalars="rgb", rgb=True, point_size=point_size,
                      render_points_as_spheres=True)
        if labels.any():  # anomalous points on top so they are not hidden by the grey ones
            pl.add_points(points[labels], color=ANOMALY_RGB, point_size=point_size * 1.6,
                          render_points_as_spheres=True)
        d = np.asarray(d, dtype=float) / np.linalg.norm(d)
        up = (0, 1, 0) if abs(d[2]) > 0.9 else (0, 0, 1)
        pl.camera_position = [tuple(centre + 2.6 * extent * d), tuple(centre), up]
        pl.reset_camera()  # keep the direction, fit the whole part in the panel
        label = f"{name}" + (f" — {title}" if title and i == 0 else "")
        pl.add_text(label, font_size=10, color="black")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_png, suffix=".png") as tmp:
        pl.screenshot(str(tmp))
    pl.close()
    return out_png


def review_sample(sample: str | Path, out_png: str | Path | None = None) -> tuple[Path, float]:
    """Render ``<sample>/review.png`` (or ``out_png``); returns the path and the anomaly ratio."""
    points, labels, sample = load_labelled(sample)
    ratio = float(labels.mean()) if len(labels) else 0.0
    if out_png is None:
        out_png = (sample if sample.is_dir() else sample.parent) / "review.png"
    title = f"{sample.name}: {int(labels.sum())}/{len(labels)} anomalous ({100 * ratio:.2f}%)"
    return render_review(points, labels, out_png, title=title), ratio
