"""Interactive point labeller for real defective parts (``scan2ad label CLOUD``).

The editing logic is :class:`LabelEditor` — no window, unit-tested: pick one point, brush (all
points within a radius of a picked surface point), lasso (all points whose screen projection falls
in a polygon, given the view's 4x4 view-projection matrix and the viewport size), undo/redo, save.
:class:`Labeller` wires it to a pyvista window: ``p``/right-click picks under the mouse (brush of
the current radius, 0 = the single nearest point), ``l`` then a left-button drag draws a free-hand
lasso, ``r`` a rectangle lasso, ``e`` toggles add/erase, ``+``/``-`` change the brush radius,
``u`` undo, ``y`` redo, ``s`` save.

pyvista's own picking gives points and rectangles but no free-hand lasso, and VTK's
``vtkInteractorStyleDrawPolygon`` draws one but does not hand its points to Python; so the
free-hand lasso uses that style for the drawing (and to keep the camera still) and records the
mouse positions itself from interactor events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scan2ad.errors import InputError


class LabelEditor:
    """Per-point 0/1 labels with undoable edits."""

    def __init__(self, points: np.ndarray, labels: np.ndarray | None = None):
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
            raise InputError(f"labeller needs (N,3) points, got shape {points.shape}")
        self.points = points
        if labels is None:
            labels = np.zeros(len(points), np.uint8)
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != len(points):
            raise InputError(f"{labels.shape[0]} labels for {len(points)} points")
        self._labels = (labels > 0).astype(np.uint8)
        self._undo: list[tuple[np.ndarray, np.ndarray]] = []
        self._redo: list[tuple[np.ndarray, np.ndarray]] = []
        self._tree = None

    @property
    def labels(self) -> np.ndarray:
        return self._labels.copy()

    @property
    def n_anomalous(self) -> int:
        return int(self._labels.sum())

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def _kdtree(self):
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.points)
        return self._tree

    def apply(self, indices, value: int) -> int:
        """Set ``labels[indices] = value`` as one undoable edit; returns how many changed."""
        idx = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.points)):
            raise InputError(f"point index out of range 0..{len(self.points) - 1}")
        value = np.uint8(1 if value else 0)
        idx = idx[self._labels[idx] != value]
        if idx.size == 0:
            return 0
        self._undo.append((idx, self._labels[idx].copy()))
        self._redo.clear()
        self._labels[idx] = value
        return int(idx.size)

    def nearest(self, point) -> int:
        return int(self._kdtree().query(np.asarray(point, dtype=float))[1])

    def pick(self, point, value: int = 1) -> int:
        """Label the point nearest to ``point``."""
        return self.apply([self.nearest(point)], value)

    def brush(self, centre, radius: float, value: int = 1) -> int:
        """Label every point within ``radius`` (mm) of ``centre``."""
        if radius <= 0:
            return self.pick(centre, value)
        idx = self._kdtree().query_ball_point(np.asarray(centre, dtype=float), r=float(radius))
        return self.apply(idx, value)

    def project(self, view_proj: np.ndarray, viewport: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixel coordinates (origin bottom-left, as VTK) of all points, and which are in front."""
        M = np.asarray(view_proj, dtype=float).reshape(4, 4)
        h = np.c_[self.points, np.ones(len(self.points))] @ M.T
        w = h[:, 3]
        front = w > 1e-12
        ndc = h[:, :2] / np.where(front, w, 1.0)[:, None]
        px = (ndc + 1.0) * 0.5 * np.asarray(viewport, dtype=float)
        return px, front

    def lasso(self, polygon_px, view_proj: np.ndarray, viewport: tuple[int, int], value: int = 1) -> int:
        """Label the points whose projection falls inside ``polygon_px`` ((k,2) pixels, k >= 3)."""
        from matplotlib.path import Path as MplPath

        poly = np.asarray(polygon_px, dtype=float)
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
            raise InputError("lasso polygon needs at least 3 (x, y) vertices")
        px, front = self.project(view_proj, viewport)
        inside = MplPath(poly).contains_points(px) & front
        return self.apply(np.flatnonzero(inside), value)

    def undo(self) -> bool:
        if not self._undo:
            return False
        idx, old = self._undo.pop()
        self._redo.append((idx, self._labels[idx].copy()))
        self._labels[idx] = old
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        idx, new = self._redo.pop()
        self._undo.append((idx, self._labels[idx].copy()))
        self._labels[idx] = new
        return True

    def save(self, path: str | Path) -> Path:
        """Write the labels as ``labels.npy`` (uint8, same order as the points), atomically."""
        from scan2ad.io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, self._labels)
        return path


class Labeller:
    """The pyvista window around a :class:`LabelEditor` (``off_screen=True`` for screenshots/tests)."""

    HELP = ("p/right-click: brush   l: lasso (drag)   r: rectangle   e: add/erase   "
            "+/-: brush radius   u: undo   y: redo   s: save")

    def __init__(self, points, labels=None, save_path: str | Path | None = None, brush_radius: float = 0.0,
                 off_screen: bool = False, window_size=(1200, 900), point_size: float = 5.0):
        if off_screen:  # screenshots/tests: no display, keep VTK's X-server warnings quiet
            from scan2ad.render import offscreen_pyvista

            pv = offscreen_pyvista()
        else:
            import pyvista as pv

        self.editor = LabelEditor(points, labels)
        self.save_path = Path(save_path) if save_path is not None else None
        self.brush_radius = float(brush_radius)
        self.value = 1
        self.mesh = pv.PolyData(self.editor.points)
        self.mesh["label"] = self.editor.labels
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
        self.plotter.set_background("white")
        self.plotter.add_points(self.mesh, scalars="label", cmap=["#b8bcc6", "#dc1414"], clim=[0, 1],
                                point_size=point_size, render_points_as_spheres=True, show_scalar_bar=False,
                                pickable=True)
        self._status = self.plotter.add_text(self._status_text(), font_size=9, color="black")
        self.plotter.add_text(self.HELP, position="lower_left", font_size=8, color="black")
        self.plotter.reset_camera()
        if not off_screen:
            self._bind()

    # -- window wiring
    def _bind(self) -> None:
        pl = self.plotter
        pl.add_key_event("u", lambda: self._after(self.editor.undo()))
        pl.add_key_event("y", lambda: self._after(self.editor.redo()))
        pl.add_key_event("e", self._toggle_mode)
        pl.add_key_event("plus", lambda: self._radius(1.5))
        pl.add_key_event("minus", lambda: self._radius(1 / 1.5))
        pl.add_key_event("s", self.save)
        pl.add_key_event("r", self._start_lasso)
        pl.add_key_event("l", self.start_freehand_lasso)
        self._start_brush()

    def _start_brush(self) -> None:
        self.plotter.disable_picking()
        self.plotter.enable_point_picking(callback=self.on_pick, show_message=False, show_point=False,
                                          left_clicking=False, use_picker=True)

    def _start_lasso(self) -> None:
        self.plotter.disable_picking()
        self.plotter.enable_rectangle_picking(callback=self.on_rectangle, show_message=False)

    def start_freehand_lasso(self) -> None:
        """Next left-button drag draws a free-hand lasso (camera held still meanwhile)."""
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleDrawPolygon

        self.plotter.disable_picking()
        iren = self.plotter.iren.interactor
        self._saved_style = iren.GetInteractorStyle()
        iren.SetInteractorStyle(vtkInteractorStyleDrawPolygon())
        self._lasso_px: list[tuple[int, int]] = []
        self._observers = [iren.AddObserver("LeftButtonPressEvent", self._lasso_press),
                           iren.AddObserver("MouseMoveEvent", self._lasso_move),
                           iren.AddObserver("LeftButtonReleaseEvent", self._lasso_release)]

    def _lasso_press(self, iren, _event) -> None:
        self._lasso_px = [tuple(iren.GetEventPosition())]

    def _lasso_move(self, iren, _event) -> None:
        if self._lasso_px:
            self._lasso_px.append(tuple(iren.GetEventPosition()))

    def _lasso_release(self, iren, _event) -> None:
        polygon, self._lasso_px = self._lasso_px, []
        for tag in self._observers:
            iren.RemoveObserver(tag)
        iren.SetInteractorStyle(self._saved_style)
        if len(polygon) >= 3:
            self.lasso(polygon)
        if not self.plotter.off_screen:
            self._start_brush()

    def _toggle_mode(self) -> None:
        self.value = 0 if self.value else 1
        self.refresh()

    def _radius(self, factor: float) -> None:
        self.brush_radius = self.brush_radius * factor if self.brush_radius > 0 else 0.5
        self.refresh()

    def _after(self, _changed) -> None:
        self.refresh()

    # -- callbacks (also called by tests)
    def on_pick(self, point, *_args) -> None:
        if point is not None:
            self.editor.brush(point, self.brush_radius, self.value)
            self.refresh()

    def view_projection(self) -> np.ndarray:
        """The active camera's 4x4 world -> clip matrix for the current window aspect."""
        w, h = self.plotter.window_size
        m = self.plotter.camera.GetCompositeProjectionTransformMatrix(w / h, -1, 1)
        return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])

    def on_rectangle(self, selection) -> None:
        x0, y0, x1, y1 = selection.viewport
        self.lasso([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        if not self.plotter.off_screen:
            self._start_brush()

    def lasso(self, polygon_px) -> int:
        n = self.editor.lasso(polygon_px, self.view_projection(), tuple(self.plotter.window_size), self.value)
        self.refresh()
        return n

    def _status_text(self) -> str:
        e = self.editor
        mode = "add" if self.value else "erase"
        return (f"{e.n_anomalous}/{len(e.points)} anomalous ({100 * e.n_anomalous / len(e.points):.2f}%)   "
                f"mode: {mode}   brush: {self.brush_radius:.2f} mm")

    def refresh(self) -> None:
        self.mesh["label"] = self.editor.labels
        self._status.SetText(2, self._status_text())
        self.plotter.render()

    def save(self) -> Path | None:
        if self.save_path is None:
            return None
        path = self.editor.save(self.save_path)
        self._status.SetText(2, self._status_text() + f"   saved {path.name}")
        self.plotter.render()
        return path

    def screenshot(self, path: str | Path) -> Path:
        from scan2ad.io import atomic_path

        path = Path(path)
        with atomic_path(path, suffix=".png") as tmp:
            self.plotter.screenshot(str(tmp))
        return path

    def show(self) -> None:
        self.plotter.show(title="scan2ad label")

    def close(self) -> None:
        self.plotter.close()
