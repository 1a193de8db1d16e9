"""Interactive point labeller for real defective parts (``scan2ad label CLOUD``).

The editing logic is :class:`LabelEditor` — no window, unit-tested: pick one point, brush (all
points within a radius of a picked surface point), lasso (all points whose screen projection falls
in a polygon, given the view's 4x4 view-projection matrix and the viewport size), undo/redo, save.
:class:`Labeller` wires it to a pyvista window: ``p``/right-click picks under the mouse (brush of
the current radius, 0 = the single nearest point), ``l`` then a left-button drag draws a free-hand
lasso, ``r`` then a drag a rectangle, ``e`` toggles add/erase, ``+``/``-`` change the brush
radius, ``u`` undo, ``y`` redo, ``s`` save, ``Esc`` cancels a selection, ``q`` quits. Unsaved work
is autosaved after every change beside the output (:class:`Autosave`) and restored on restart.

VTK's ``vtkInteractorStyleDrawPolygon`` draws a lasso and ``vtkInteractorStyleRubberBand2D`` a
rectangle (both keep the camera still) but neither hands its outline to Python; so the labeller
records the mouse positions itself from interactor events and selects through the camera matrix.
The lasso and rectangle select every point projecting inside, hidden ones included (as
CloudCompare's segmentation tool does); the brush starts at the frontmost point under the cursor.
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
        self.version = 0  # bumped by every change (edits, undo, redo): what autosave watches

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
        self.version += 1
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

    def depth_order(self, view_proj: np.ndarray) -> np.ndarray:
        """Normalised device depth of every point (smaller = nearer the camera)."""
        M = np.asarray(view_proj, dtype=float).reshape(4, 4)
        h = np.c_[self.points, np.ones(len(self.points))] @ M.T
        return h[:, 2] / np.where(np.abs(h[:, 3]) > 1e-12, h[:, 3], 1e-12)

    def point_at(self, pixel, view_proj: np.ndarray, viewport: tuple[int, int], tol_px: float = 6.0) -> int | None:
        """Index of the point under ``pixel`` (VTK display coordinates): of the points projecting
        within ``tol_px`` of it, the one nearest the camera (a surface point, not one seen through
        the part); None when no point is that close."""
        px, front = self.project(view_proj, viewport)
        d2 = ((px - np.asarray(pixel, dtype=float)) ** 2).sum(1)
        near = np.flatnonzero(front & (d2 <= float(tol_px) ** 2))
        if near.size == 0:
            return None
        return int(near[np.argmin(self.depth_order(view_proj)[near])])

    def undo(self) -> bool:
        if not self._undo:
            return False
        idx, old = self._undo.pop()
        self._redo.append((idx, self._labels[idx].copy()))
        self._labels[idx] = old
        self.version += 1
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        idx, new = self._redo.pop()
        self._undo.append((idx, self._labels[idx].copy()))
        self._labels[idx] = new
        self.version += 1
        return True

    def save(self, path: str | Path) -> Path:
        """Write the labels as ``labels.npy`` (uint8, same order as the points), atomically."""
        from scan2ad.io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, self._labels)
        return path



def autosave_path(out: str | Path) -> Path:
    """Where the labeller keeps unsaved work: beside the output, ``<stem>.autosave.npz``."""
    out = Path(out)
    return out.with_name(out.stem + ".autosave.npz")


def points_fingerprint(points: np.ndarray) -> str:
    """sha256 of the points (float64, C order): ties an autosave to the cloud it labels."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(points, dtype=np.float64).tobytes()).hexdigest()


class Autosave:
    """Unsaved labels, rewritten (atomically) after every change and removed by an explicit save,
    so a crash or a killed window loses nothing: the next ``scan2ad label`` of the same cloud and
    output restores them (:meth:`restore`)."""

    def __init__(self, path: str | Path, points: np.ndarray):
        self.path = Path(path)
        self.n_points = len(points)
        self.fingerprint = points_fingerprint(points)

    def write(self, labels: np.ndarray) -> None:
        from scan2ad.io import atomic_path

        with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, labels=np.asarray(labels, np.uint8), fingerprint=np.array(self.fingerprint))

    def restore(self) -> tuple[np.ndarray | None, str]:
        """(labels, message): the autosaved labels when the file is there and belongs to this cloud,
        else None and why (an empty message when there is no autosave)."""
        if not self.path.is_file():
            return None, ""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                labels, fp = z["labels"], str(z["fingerprint"])
        except (OSError, ValueError, KeyError) as exc:
            return None, f"ignored the unreadable autosave {self.path} ({exc})"
        if fp != self.fingerprint or labels.shape != (self.n_points,):
            return None, (f"ignored the autosave {self.path}: it belongs to another cloud "
                          f"({labels.shape[0] if labels.ndim else 0} labels, {self.n_points} points here); "
                          "the next edit replaces it")
        n = int((labels > 0).sum())
        return (labels > 0).astype(np.uint8), (
            f"restored unsaved labels from {self.path} ({n} anomalous point(s)); press s to save them")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class Labeller:
    """The pyvista window around a :class:`LabelEditor` (``off_screen=True`` for screenshots/tests).

    Every tool is handled here rather than by pyvista's picking helpers or VTK's default key
    bindings: pyvista's rectangle picking replaces the interactor style from inside the style's
    own button-release handler (the old ``r`` segfault), and VTK's default ``OnChar`` quits the
    window on ``e`` (our add/erase key), picks on ``p`` and resets the camera on ``r``. So the
    styles' ``CharEvent`` is swallowed (``q`` still closes), points are picked by projecting the
    cloud through the camera (the nearest point within a few pixels of the cursor, frontmost
    first), and a lasso/rectangle swaps in a drawing style that is kept alive (never freed
    mid-event) and swapped back after the release has been handled.
    """

    HELP = ("p/right-click: brush   l: lasso (drag)   r: rectangle (drag)   e: add/erase   "
            "+/-: brush radius   u: undo   y: redo   s: save   Esc: cancel   q: quit")
    PICK_TOLERANCE_PX = 8.0

    def __init__(self, points, labels=None, save_path: str | Path | None = None, brush_radius: float = 0.0,
                 off_screen: bool = False, window_size=(1200, 900), point_size: float = 5.0,
                 autosave: bool | str | Path = True, restore: bool = True):
        if off_screen:  # screenshots/tests: no display, keep VTK's X-server warnings quiet
            from scan2ad.render import offscreen_pyvista

            pv = offscreen_pyvista()
        else:
            import pyvista as pv

        self.editor = LabelEditor(points, labels)
        self.save_path = Path(save_path) if save_path is not None else None
        self.brush_radius = float(brush_radius)
        if not (np.isfinite(self.brush_radius) and self.brush_radius >= 0):
            raise InputError(f"brush radius must be a finite number >= 0 mm, got {brush_radius}")
        self.value = 1
        self.mode = "brush"
        self.message = ""
        self.autosave = None
        restored = None
        if autosave and self.save_path is not None:
            path = autosave_path(self.save_path) if autosave is True else Path(autosave)
            self.autosave = Autosave(path, self.editor.points)
            if restore:
                restored, self.message = self.autosave.restore()
            elif self.autosave.path.is_file():
                self.message = f"ignored the autosave {self.autosave.path}; the next edit replaces it"
            if restored is not None:
                self.editor = LabelEditor(self.editor.points, restored)
        # what the output file holds (None: not known to match, e.g. restored labels, unsaved until 's')
        self._saved_labels = None if restored is not None else self.editor.labels
        self._autosaved_version = self.editor.version

        self.mesh = pv.PolyData(self.editor.points)
        self.mesh["label"] = self.editor.labels
        self.plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size), title="scan2ad label")
        self.plotter.set_background("white")
        self.plotter.add_points(self.mesh, scalars="label", cmap=["#b8bcc6", "#dc1414"], clim=[0, 1],
                                point_size=point_size, render_points_as_spheres=True, show_scalar_bar=False,
                                pickable=False)
        self._status = self.plotter.add_text(self._status_text(), font_size=9, color="black")
        self.plotter.add_text(self.HELP, position="lower_left", font_size=8, color="black")
        self.plotter.reset_camera()
        if not off_screen:
            self._open_display()
        self._polygon: list[tuple[int, int]] = []
        self._mouse: tuple[int, int] | None = None
        self._bind()

    def _open_display(self, tries: int = 30, wait_s: float = 0.2) -> None:
        """Connect the window to the X server, retrying: a busy X server (Xvfb on a loaded machine)
        refuses a few percent of connections, and VTK would then run no window at all and return
        at once (every edit lost); raise InputError naming $DISPLAY when it never connects."""
        import os
        import time

        import vtk

        rw = self.plotter.render_window
        if not hasattr(rw, "GetGenericDisplayId"):
            return  # not an X11 window (Windows, macOS)
        level = vtk.vtkLogger.GetCurrentVerbosityCutoff()  # stderr is the only sink here
        vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)  # the retries' warnings
        try:
            for _ in range(tries):
                rw.Initialize()
                if rw.GetGenericDisplayId():
                    return
                time.sleep(wait_s)
        finally:
            vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.ConvertToVerbosity(level))
        raise InputError(f"cannot connect to the X display {os.environ.get('DISPLAY', '(unset)')!r} "
                         f"({tries} tries): is the X server running and reachable?")

    # -- window wiring
    def _bind(self) -> None:
        from vtkmodules.vtkInteractionStyle import (
            vtkInteractorStyleDrawPolygon,
            vtkInteractorStyleRubberBand2D,
        )

        pl = self.plotter
        for key in ("plus", "minus", "r", "e", "p", "s", "u", "y", "l"):  # pyvista's own bindings of these
            pl.clear_events_for_key(key)
        keys = {"u": self.undo, "y": self.redo, "e": self.toggle_mode, "plus": lambda: self.scale_radius(1.5),
                "minus": lambda: self.scale_radius(1 / 1.5), "s": self.save, "r": self.start_rectangle,
                "l": self.start_freehand_lasso, "p": self.pick_under_mouse, "Escape": self.cancel_selection}
        for key, fn in keys.items():
            pl.add_key_event(key, fn)
        iren = pl.iren.interactor
        # Kept as attributes: a style is never freed while VTK may still be inside one of its handlers.
        self._camera_style = iren.GetInteractorStyle()
        self._lasso_style = vtkInteractorStyleDrawPolygon()
        self._rect_style = vtkInteractorStyleRubberBand2D()
        for style in (self._camera_style, self._lasso_style, self._rect_style):
            style.AddObserver("CharEvent", self._on_char)  # an observer replaces VTK's default OnChar
        # priority -1: after the active style has handled the event
        self._observers = [iren.AddObserver("LeftButtonPressEvent", self._on_press, -1.0),
                           iren.AddObserver("MouseMoveEvent", self._on_move, -1.0),
                           iren.AddObserver("LeftButtonReleaseEvent", self._on_release, -1.0),
                           iren.AddObserver("RightButtonPressEvent", self._on_right_click, -1.0)]

    def _on_char(self, style, _event) -> None:
        if self.plotter.iren.interactor.GetKeySym() in ("q", "Q"):
            style.OnChar()  # VTK's quit

    def _set_style(self, style) -> None:
        iren = self.plotter.iren.interactor
        if iren.GetInteractorStyle() is not style:
            iren.SetInteractorStyle(style)

    def start_rectangle(self) -> None:
        """Next left-button drag selects a rectangle (camera held still meanwhile)."""
        self._start_selection("rectangle", self._rect_style)

    def start_freehand_lasso(self) -> None:
        """Next left-button drag draws a free-hand lasso (camera held still meanwhile)."""
        self._start_selection("lasso", self._lasso_style)

    def _start_selection(self, mode: str, style) -> None:
        self.mode = mode
        self._polygon = []
        self._set_style(style)
        self.message = f"{mode}: drag with the left button (Esc cancels)"
        self.refresh()

    def cancel_selection(self) -> None:
        self._polygon = []
        if self.mode != "brush":
            self.mode = "brush"
            self._set_style(self._camera_style)
            self.message = "selection cancelled"
            self.refresh()

    def _on_press(self, iren, _event) -> None:
        if self.mode in ("lasso", "rectangle"):
            self._polygon = [tuple(iren.GetEventPosition())]

    def _on_move(self, iren, _event) -> None:
        self._mouse = tuple(iren.GetEventPosition())
        if self.mode in ("lasso", "rectangle") and self._polygon:
            pos = tuple(iren.GetEventPosition())
            if pos != self._polygon[-1]:
                self._polygon.append(pos)

    def _on_release(self, iren, _event) -> None:
        if self.mode not in ("lasso", "rectangle") or not self._polygon:
            return
        mode, drag = self.mode, self._polygon + [tuple(iren.GetEventPosition())]
        self._polygon = []
        self.mode = "brush"
        self._set_style(self._camera_style)
        if mode == "rectangle":
            (x0, y0), (x1, y1) = drag[0], drag[-1]
            polygon = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            ok = x0 != x1 and y0 != y1
        else:
            polygon = list(dict.fromkeys(drag))
            ok = len(polygon) >= 3
        if not ok:
            self.message = f"{mode}: the drag enclosed no area, nothing selected"
            self.refresh()
            return
        n = self.lasso(polygon)
        self.message = f"{mode}: {'+' if self.value else '-'}{n} point(s)"
        self.refresh()

    def _on_right_click(self, iren, _event) -> None:
        if self.mode == "brush":
            self.pick_at(iren.GetEventPosition())

    def pick_under_mouse(self) -> None:
        # the pointer position of the last mouse move: a key event sent to the window (xdotool,
        # remote desktops) need not carry one
        self.pick_at(self._mouse if self._mouse is not None else self.plotter.iren.interactor.GetEventPosition())

    def pick_at(self, pixel) -> int:
        """Brush (current radius, 0 = one point) at the surface point under ``pixel`` (VTK display
        coordinates, origin bottom-left)."""
        idx = self.editor.point_at(pixel, self.view_projection(), tuple(self.plotter.window_size),
                                   self.PICK_TOLERANCE_PX)
        if idx is None:
            self.message = "no point under the mouse"
            self.refresh()
            return 0
        n = self.editor.brush(self.editor.points[idx], self.brush_radius, self.value)
        self.message = f"brush: {'+' if self.value else '-'}{n} point(s)"
        self.refresh()
        return n

    def toggle_mode(self) -> None:
        self.value = 0 if self.value else 1
        self.message = ""
        self.refresh()

    def scale_radius(self, factor: float) -> None:
        self.brush_radius = self.brush_radius * factor if self.brush_radius > 0 else 0.5
        self.message = ""
        self.refresh()

    def undo(self) -> None:
        self.message = "undone" if self.editor.undo() else "nothing to undo"
        self.refresh()

    def redo(self) -> None:
        self.message = "redone" if self.editor.redo() else "nothing to redo"
        self.refresh()

    # -- callbacks (also called by tests)
    def on_pick(self, point, *_args) -> None:
        """Brush at a 3-D point (mm)."""
        if point is not None:
            self.editor.brush(point, self.brush_radius, self.value)
            self.refresh()

    def view_projection(self) -> np.ndarray:
        """The active camera's 4x4 world -> clip matrix for the current window aspect."""
        w, h = self.plotter.window_size
        m = self.plotter.camera.GetCompositeProjectionTransformMatrix(w / h, -1, 1)
        return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])

    def lasso(self, polygon_px) -> int:
        n = self.editor.lasso(polygon_px, self.view_projection(), tuple(self.plotter.window_size), self.value)
        self.refresh()
        return n

    def _status_text(self) -> str:
        e = self.editor
        mode = "add" if self.value else "erase"
        unsaved = "   (unsaved)" if self.unsaved else ""
        text = (f"{e.n_anomalous}/{len(e.points)} anomalous ({100 * e.n_anomalous / len(e.points):.2f}%)   "
                f"mode: {mode}   brush: {self.brush_radius:.2f} mm{unsaved}")
        return text + (f"\n{self.message}" if self.message else "")

    def _autosave_now(self) -> None:
        if self.autosave is None or self.editor.version == self._autosaved_version:
            return
        if not self.unsaved:
            self.autosave.remove()  # back at the saved state (e.g. undone): nothing unsaved
        else:
            self.autosave.write(self.editor.labels)
        self._autosaved_version = self.editor.version

    def refresh(self) -> None:
        self._autosave_now()
        self.mesh["label"] = self.editor.labels
        self._status.SetText(2, self._status_text())
        self.plotter.render()

    def save(self) -> Path | None:
        if self.save_path is None:
            self.message = "no output path: nothing saved"
            self.refresh()
            return None
        path = self.editor.save(self.save_path)
        self._saved_labels = self.editor.labels
        self._autosaved_version = self.editor.version
        if self.autosave is not None:
            self.autosave.remove()
        self.message = f"saved {path}"
        self.refresh()
        return path

    @property
    def unsaved(self) -> bool:
        return self._saved_labels is None or not np.array_equal(self._saved_labels, self.editor._labels)

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
