"""Pictures of a detector run: ROC and PR curves (matplotlib) and point-score heat maps
(PyVista, off-screen). Written atomically under ``<run>/plots/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.io import atomic_path
from scan2ad.render import save_figure


def curves_png(path: Path, title: str, curves: dict[str, tuple[np.ndarray, np.ndarray]], kind: str) -> Path:
    """ROC (``kind="roc"``) or PR (``"pr"``) curves; ``curves`` maps a label to (labels, scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=110)
    for name, (y, s) in curves.items():
        y = np.asarray(y).astype(int)
        if y.min() == y.max():
            continue
        if kind == "roc":
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        else:
            p, r, _ = precision_recall_curve(y, s)
            ax.step(r, p, where="post", label=f"{name} (AP {average_precision_score(y, s):.3f})")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def heatmap_png(path: Path, points: np.ndarray, scores: np.ndarray, labels: np.ndarray | None,
                title: str, window: tuple[int, int] = (900, 450)) -> Path:
    """Two views side by side: the point scores (left) and the ground-truth labels (right)."""
    from scan2ad.render import offscreen_pyvista

    pv = offscreen_pyvista()
    pl = pv.Plotter(off_screen=True, shape=(1, 2), window_size=window, border=False)
    cloud = pv.PolyData(np.asarray(points, dtype=np.float32))
    cloud["score"] = np.asarray(scores, dtype=np.float32)
    pl.subplot(0, 0)
    pl.add_text(title, font_size=8)
    pl.add_mesh(cloud.copy(), scalars="score", cmap="jet", point_size=3.0,
                render_points_as_spheres=True, scalar_bar_args={"title": "score", "n_labels": 3, "fmt": "%.3g"})
    pl.subplot(0, 1)
    gt = cloud.copy()
    gt["label"] = (np.zeros(len(points)) if labels is None else np.asarray(labels)).astype(np.float32)
    pl.add_text("ground truth", font_size=8)
    pl.add_mesh(gt, scalars="label", cmap=["lightgrey", "red"], clim=(0, 1), point_size=3.0,
                render_points_as_spheres=True, show_scalar_bar=False)
    pl.link_views()
    pl.view_isometric()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pl.screenshot(str(tmp))
    pl.close()
    return path
