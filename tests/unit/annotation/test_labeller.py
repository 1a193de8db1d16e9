"""The labeller's editing logic without a window, and an off-screen render of the window."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.annotation.labeller import LabelEditor
from scan2ad.errors import InputError


@pytest.fixture
def grid():
    x, y = np.meshgrid(np.arange(10.0), np.arange(10.0))
    return np.c_[x.ravel(), y.ravel(), np.zeros(100)]


def ortho(x0, x1, y0, y1):
    """An orthographic view-projection looking down -z, mapping [x0,x1]x[y0,y1] to clip [-1,1]."""
    M = np.eye(4)
    M[0, 0], M[0, 3] = 2 / (x1 - x0), -(x1 + x0) / (x1 - x0)
    M[1, 1], M[1, 3] = 2 / (y1 - y0), -(y1 + y0) / (y1 - y0)
    return M


def test_pick_brush_undo_redo(grid):
    ed = LabelEditor(grid)
    assert ed.pick([3.1, 4.2, 0.3]) == 1 and ed.labels[4 * 10 + 3] == 1
    assert ed.pick([3.1, 4.2, 0.3]) == 0  # already anomalous: no edit recorded
    assert ed.brush([5, 5, 0], 1.0) == 5  # centre and its 4 neighbours
    assert ed.n_anomalous == 6
    assert ed.brush([5, 5, 0], 1.0, value=0) == 5
    assert ed.n_anomalous == 1
    assert ed.undo() and ed.n_anomalous == 6
    assert ed.undo() and ed.n_anomalous == 1
    assert ed.redo() and ed.n_anomalous == 6
    assert ed.undo() and ed.undo() and not ed.undo()
    assert ed.n_anomalous == 0 and not ed.can_undo


def test_lasso_selects_inside_polygon(grid):
    ed = LabelEditor(grid)
    M = ortho(-0.5, 9.5, -0.5, 9.5)  # 10x10 points on a 100x100 viewport: point i at pixel 10i+5
    tri = [(0, 0), (101, 0), (0, 101)]  # lower-left triangle x + y < 101 px (no point on its edge)
    n = ed.lasso(tri, M, (100, 100))
    px = 10 * grid[:, :2] + 5
    expected = px.sum(1) < 101
    assert n == expected.sum() == 55
    np.testing.assert_array_equal(ed.labels, expected.astype(np.uint8))
    # perspective: points behind the camera (w <= 0) are never selected, even when they project inside
    P = np.eye(4)
    P[3] = [0, 0, -1, 0]  # camera at the origin looking down -z
    ed2 = LabelEditor(np.array([[0.0, 0.0, -2.0], [0.0, 0.0, 2.0]]))
    assert ed2.lasso([(0, 0), (100, 0), (100, 100), (0, 100)], P, (100, 100)) == 1
    assert ed2.labels.tolist() == [1, 0]
    with pytest.raises(InputError, match="at least 3"):
        ed.lasso([(0, 0), (1, 1)], M, (100, 100))


def test_save_and_bad_input(grid, tmp_path):
    ed = LabelEditor(grid, labels=np.r_[np.ones(10), np.zeros(90)])
    path = ed.save(tmp_path / "labels.npy")
    np.testing.assert_array_equal(np.load(path), ed.labels)
    assert np.load(path).dtype == np.uint8
    with pytest.raises(InputError, match="5 labels for 100 points"):
        LabelEditor(grid, labels=np.zeros(5))
    with pytest.raises(InputError, match="out of range"):
        LabelEditor(grid).apply([100], 1)


def test_window_renders_off_screen_and_lasso_uses_the_camera(grid, tmp_path):
    pytest.importorskip("pyvista")
    from PIL import Image

    from scan2ad.annotation.labeller import Labeller

    labels = np.zeros(100, np.uint8)
    labels[:30] = 1
    lab = Labeller(grid, labels, save_path=tmp_path / "labels.npy", off_screen=True, window_size=(400, 300))
    try:
        png = lab.screenshot(tmp_path / "shot.png")
        img = np.asarray(Image.open(png).convert("RGB")).astype(int)
        red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
        grey = (np.abs(img[..., 0] - 184) < 30) & (np.abs(img[..., 2] - 198) < 30) & (img[..., 1] > 150)
        assert red.sum() > 50 and grey.sum() > 50
        # a lasso over the whole window takes every point in view, through the real camera matrix
        lab.value = 1
        assert lab.lasso([(0, 0), (400, 0), (400, 300), (0, 300)]) == 70
        lab.value = 0
        assert lab.lasso([(0, 0), (200, 0), (200, 300), (0, 300)]) > 20  # left half erased
        assert lab.save() == tmp_path / "labels.npy"
        np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), lab.editor.labels)
    finally:
        lab.close()


def test_freehand_lasso_from_mouse_events_and_pick(grid):
    pytest.importorskip("pyvista")
    from scan2ad.annotation.labeller import Labeller

    lab = Labeller(grid, None, off_screen=True, window_size=(400, 300), brush_radius=1.0)
    try:
        lab.plotter.render()  # the first render places the camera (show() does this in the window)
        lab.on_pick(np.array([5.0, 5.0, 0.0]))  # brush of 1 mm: a point and its 4 neighbours
        assert lab.editor.n_anomalous == 5
        style_before = lab.plotter.iren.interactor.GetInteractorStyle()
        lab.start_freehand_lasso()
        iren = lab.plotter.iren.interactor
        # a drag around the left half of the window (the grid fills the view)
        drag = [(0, 0), (190, 0), (190, 300), (0, 300)]  # the grid diagonal projects to x = 200
        for i, (x, y) in enumerate(drag):
            iren.SetEventInformation(x, y)
            iren.InvokeEvent("LeftButtonPressEvent" if i == 0 else "MouseMoveEvent")
        iren.InvokeEvent("LeftButtonReleaseEvent")
        assert iren.GetInteractorStyle() is style_before  # camera control is back
        px, front = lab.editor.project(lab.view_projection(), (400, 300))
        expected = (px[:, 0] < 190) & (px[:, 1] > 0) & (px[:, 1] < 300) & front
        assert 30 < expected.sum() < 70
        brushed = np.linalg.norm(grid - [5, 5, 0], axis=1) <= 1
        np.testing.assert_array_equal(lab.editor.labels > 0, expected | brushed)
        assert lab.editor.undo() and lab.editor.n_anomalous == 5
    finally:
        lab.close()


def test_point_at_takes_the_frontmost_point_under_the_cursor():
    # two points on the same line of sight (camera looking down -z): the nearer one (z = 1) wins
    pts = np.array([[5.0, 5.0, -1.0], [5.0, 5.0, 1.0], [9.0, 9.0, 0.0]])
    M = ortho(-0.5, 9.5, -0.5, 9.5)
    M[2, 2] = -0.1  # depth grows away from the camera (down -z), as OpenGL's
    ed = LabelEditor(pts)
    assert ed.point_at((55, 55), M, (100, 100), tol_px=3) == 1
    assert ed.point_at((30, 80), M, (100, 100), tol_px=3) is None


def test_autosave_restores_unsaved_work_and_save_clears_it(grid, tmp_path):
    pytest.importorskip("pyvista")
    from scan2ad.annotation.labeller import Labeller, autosave_path

    out = tmp_path / "labels.npy"
    auto = autosave_path(out)
    assert auto == tmp_path / "labels.autosave.npz"
    lab = Labeller(grid, None, save_path=out, off_screen=True, window_size=(200, 150), brush_radius=1.0)
    try:
        lab.on_pick([5.0, 5.0, 0.0])
        assert auto.is_file() and lab.unsaved and not out.exists()
        lab.editor.undo()
        lab.refresh()
        assert not auto.exists()  # undone back to the saved state: nothing to keep
        lab.editor.redo()
        lab.refresh()
        assert auto.is_file()
    finally:
        lab.close()  # as if the window died here: labels.npy was never written
    again = Labeller(grid, None, save_path=out, off_screen=True, window_size=(200, 150))
    try:
        assert again.message.startswith("restored unsaved labels") and again.unsaved
        assert again.editor.n_anomalous == 5
        again.save()
        assert not auto.exists() and np.load(out).sum() == 5 and not again.unsaved
    finally:
        again.close()
    # an autosave of another cloud is ignored, by name
    lab = Labeller(grid, None, save_path=out, off_screen=True, window_size=(200, 150))
    lab.on_pick([1.0, 1.0, 0.0])
    lab.close()
    other = Labeller(grid + 1.0, None, save_path=out, off_screen=True, window_size=(200, 150))
    try:
        assert "belongs to another cloud" in other.message and other.editor.n_anomalous == 0
    finally:
        other.close()
    fresh = Labeller(grid, None, save_path=out, off_screen=True, window_size=(200, 150), restore=False)
    try:
        assert "ignored the autosave" in fresh.message and fresh.editor.n_anomalous == 0
    finally:
        fresh.close()
