"""``scan2ad label`` in a real window: a virtual X server (Xvfb) and scripted keys and mouse (xdotool).

Every tool of the key list is driven as a user would (rectangle, free-hand lasso, add/erase, brush by
key and by right-click, brush radius +/-, undo, redo, save), the saved labels are compared with the
same selections replayed on a :class:`LabelEditor` through the window's camera, and a crash (the
process killed with unsaved edits) must lose nothing: the restart restores the autosave. A
screenshot of the window is kept in the test's tmp folder (``labeller.png``). Needs the Debian
packages ``xvfb`` and ``xdotool`` (skips cleanly without them). Marked slow: 16-22 s on 2 busy cores,
most of it the two starts of ``scan2ad label`` and pyvista's import for the reference camera.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")

W, H = 600, 450


@pytest.fixture
def display(tmp_path):
    """A private Xvfb server on a random free display number; yields its DISPLAY string.

    Not ``-displayfd`` (which takes the lowest free number, :0 on a CI box): X clients look for
    the server on an abstract socket first, which another server :0 in the same network
    namespace (another container's) may hold, and the window then goes to the wrong server.
    """
    import random

    log = open(tmp_path / "xvfb.log", "w")  # noqa: SIM115 (closed below)
    proc = None
    for _ in range(10):
        n = random.randint(300, 9000)
        if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                stdout=log, stderr=subprocess.STDOUT)
        env = dict(os.environ, DISPLAY=f":{n}")
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            if subprocess.run(["xdotool", "getdisplaygeometry"], env=env, capture_output=True,
                              check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            proc.kill()
            proc.wait(timeout=10)
            proc = None
            continue
        break
    if proc is None:
        log.close()
        pytest.skip("Xvfb did not start")
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


class Window:
    """A running ``scan2ad label`` and xdotool input into its window."""

    def __init__(self, display: str, args: list[str], cwd: Path, wait: bool = True):
        self.env = dict(os.environ, DISPLAY=display, OMP_NUM_THREADS="1")
        self.log = cwd / f"label_{time.monotonic_ns()}.log"
        self._fh = open(self.log, "w")  # noqa: SIM115 (the process writes to it until close())
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", "scan2ad.cli", "label", *args],
                                     cwd=cwd, env=self.env, stdout=self._fh, stderr=subprocess.STDOUT)
        self.display = display
        if wait:
            self.wait_for_window()

    def wait_for_window(self):
        deadline = time.monotonic() + 60
        self.wid = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            r = self.xdo("search", "--name", "scan2ad label", check=False)
            if r.returncode == 0 and r.stdout.split():
                self.wid = r.stdout.split()[0]
                break
            time.sleep(0.2)
        if self.wid is None:
            raise AssertionError(f"no labeller window; output:\n{self.output()}")
        time.sleep(0.3)  # first render

    def xdo(self, *args, check=True):
        # a busy Xvfb refuses a few percent of connections ("Can't open display"): try again
        for _ in range(10):
            r = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, check=False,
                               timeout=20)
            if "open display" not in r.stderr:
                break
            time.sleep(0.1)
        if check and r.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {r.stderr}")
        return r

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text()

    def key(self, *keys):
        for k in keys:
            self.xdo("key", "--window", self.wid, k)
            time.sleep(0.1)

    def drag(self, pts):
        """Left-button drag through window pixels ``pts`` (x right, y down). VTK asks X for motion
        hints (it reads the pointer when it handles a motion), so each move gets time to be handled
        before the next."""
        x, y = pts[0]
        self.xdo("mousemove", "--window", self.wid, str(x), str(y), "mousedown", "1")
        for x, y in pts[1:]:
            time.sleep(0.12)
            self.xdo("mousemove", "--window", self.wid, str(x), str(y))
        time.sleep(0.05)
        self.xdo("mouseup", "1")
        time.sleep(0.2)

    def move(self, x, y):
        self.xdo("mousemove", "--window", self.wid, str(x), str(y))
        time.sleep(0.1)

    def right_click(self, x, y):
        self.xdo("mousemove", "--window", self.wid, str(x), str(y), "click", "3")
        time.sleep(0.2)

    def screenshot(self, path: Path) -> Path:
        from PIL import ImageGrab

        for attempt in range(10):  # the same refused connections as xdotool's
            try:
                ImageGrab.grab(bbox=(0, 0, W, H), xdisplay=self.display).save(path)
                return path
            except OSError:
                if attempt == 9:
                    raise
                time.sleep(0.1)
        return path

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._fh.close()


def vtk_px(pts):
    """xdotool window pixels -> VTK display coordinates (origin bottom-left)."""
    return [(x, H - 1 - y) for x, y in pts]


def wait_for(path: Path, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            try:
                if check(path):
                    return True
            except (OSError, ValueError, KeyError, EOFError):
                pass
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_every_tool_in_a_real_window_and_crash_recovery(display, tmp_path):
    pytest.importorskip("pyvista")
    from scan2ad.annotation.labeller import LabelEditor, Labeller, autosave_path
    from scan2ad.pointcloud import PointCloud, write_cloud

    # a gently curved 24 x 24 sheet, 1 mm spacing
    x, y = np.meshgrid(np.arange(24.0), np.arange(24.0))
    pts = np.c_[x.ravel(), y.ravel(), 0.02 * (x.ravel() - 12) ** 2]
    write_cloud(tmp_path / "part.ply", PointCloud(pts))
    out = tmp_path / "labels.npy"

    args = ["part.ply", "--out", str(out), "--brush", "1.0", "--window-size", str(W), str(H)]
    win = Window(display, args, tmp_path, wait=False)  # starts while the reference renders
    try:
        # the window's camera, reproduced off screen (same cloud, same window size)
        ref = Labeller(pts, None, off_screen=True, window_size=(W, H))
        try:
            ref.plotter.render()
            vp = ref.view_projection()
        finally:
            ref.close()
        exp = LabelEditor(pts)
        win.wait_for_window()

        def saved_as_expected(stage: str) -> None:
            """'s', then the file must hold the replayed labels (also: every earlier event was handled)."""
            win.key("s")
            ok = wait_for(out, lambda p: np.array_equal(np.load(p), exp.labels) and not autosave_path(out).exists())
            got = np.load(out) if out.is_file() else None
            assert ok, (f"after {stage}: {None if got is None else int((got != exp.labels).sum())} label(s) differ "
                        f"from the replay\n{win.output()}")

        rect = [(180, 140), (330, 260)]
        win.key("r")
        win.drag([rect[0], (250, 200), rect[1]])
        assert exp.lasso(vtk_px([rect[0], (rect[1][0], rect[0][1]), rect[1], (rect[0][0], rect[1][1])]),
                         vp, (W, H)) > 20
        saved_as_expected("the rectangle")

        lasso = [(350, 250), (430, 230), (470, 300), (420, 360), (360, 330)]
        win.key("l")
        win.drag(lasso)
        assert exp.lasso(vtk_px(lasso), vp, (W, H)) > 10
        saved_as_expected("the lasso")

        erase = [(200, 160), (260, 220)]
        win.key("e", "r")
        win.drag(erase)
        assert exp.lasso(vtk_px([erase[0], (erase[1][0], erase[0][1]), erase[1], (erase[0][0], erase[1][1])]),
                         vp, (W, H), value=0) > 3
        saved_as_expected("the erasing rectangle")
        win.key("e")  # back to adding

        # brush: 'plus' 1.0 -> 1.5 mm (a point and its 8 neighbours), 'p' under the mouse
        win.key("plus")
        win.move(280, 330)
        win.key("p")
        i = exp.point_at((280, H - 1 - 330), vp, (W, H), Labeller.PICK_TOLERANCE_PX)
        assert i is not None and exp.brush(pts[i], 1.5) >= 5
        saved_as_expected("the brush")
        # 'minus' back to 1.0 mm, right-click brush elsewhere, then undo, redo, undo it
        win.key("minus")
        win.right_click(200, 300)
        win.key("u", "y", "u")
        saved_as_expected("right-click, undo, redo, undo")  # the right-click brush undone
        saved = exp.labels

        # unsaved work, then a crash: the autosave keeps it
        win.right_click(200, 300)
        j = exp.point_at((200, H - 1 - 300), vp, (W, H), Labeller.PICK_TOLERANCE_PX)
        assert j is not None and exp.brush(pts[j], 1.0) >= 3
        assert wait_for(autosave_path(out), lambda p: True)
        time.sleep(0.3)
        win.proc.send_signal(signal.SIGKILL)
        win.proc.wait(timeout=10)
    finally:
        win.close()
    np.testing.assert_array_equal(np.load(out), saved)  # the file still holds the last save
    assert not np.array_equal(saved, exp.labels)

    win = Window(display, args, tmp_path)
    try:
        assert "restored unsaved labels" in win.output()
        shot = win.screenshot(tmp_path / "labeller.png")
        win.key("s")
        assert wait_for(out, lambda p: np.array_equal(np.load(p), exp.labels)
                        and not autosave_path(out).exists()), win.output()
        win.key("q")
        assert win.proc.wait(timeout=20) == 0
    finally:
        win.close()
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 100  # the labelled points are drawn red
