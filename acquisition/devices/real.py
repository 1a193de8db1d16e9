"""Real device backends: GenICam and UVC cameras, a full-screen window projector, and the
dispatch from a rig description's ``backend`` names to them.

- ``genicam`` cameras (industrial GigE/USB3 Vision cameras such as the seed paper's Daheng
  MER-502-79U3M, 003 §III-B) through ``harvesters`` and the vendor's GenTL producer (``.cti``).
  ``harvesters`` is the optional extra ``scan2ad[genicam]``; it is imported only when such a
  camera is opened. Settings: ``cti`` (path to the producer, required), ``serial`` (device
  serial number; default: the first device), ``exposure_us``, ``gain_db``, ``pixel_format``
  (e.g. ``Mono8``), ``trigger`` (``software``: a software trigger per frame, so every frame is
  exposed after the projector settled — default; ``continuous``: free-running, the newest frame
  after ``flush`` discarded ones), ``timeout_s``.
- ``uvc`` cameras through OpenCV ``VideoCapture``. Settings: ``index`` (device number or a
  path/URL), ``exposure`` (driver units; manual exposure is requested when given), ``flush``
  (frames discarded before each grab: UVC drivers queue frames, and a queued frame may have
  been exposed under the previous pattern; default 2).
- ``window`` projector: the projector is an extended display; a borderless full-screen OpenCV
  window placed on it shows the frames. Settings: ``x``, ``y`` (top-left of the projector's
  display in the desktop's coordinates, e.g. ``x = 1920`` for a projector right of a 1920-px
  monitor), ``settle_ms`` (wait after each frame so the DLP shows it before the cameras expose;
  default 150), ``name`` (window title).
- ``serial`` turntable: :mod:`scan2ad.acquisition.devices.serial_turntable`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from scan2ad.acquisition.devices.base import Camera, DeviceError, Projector
from scan2ad.errors import InputError
from scan2ad.log import get_logger

log = get_logger(__name__)


def _check_keys(kind: str, settings: dict, known: frozenset[str]) -> None:
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"unknown {kind} setting(s) {unknown} (known: {sorted(known)})")


def _to_grey(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        import cv2

        if img.shape[2] == 1:
            return img[:, :, 0]
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img


# ------------------------------------------------------------------------------- GenICam
class GenICamCamera(Camera):
    KNOWN = frozenset(
        {"cti", "serial", "exposure_us", "gain_db", "pixel_format", "trigger", "timeout_s", "flush"}
    )

    def __init__(self, name: str, settings: dict):
        _check_keys("genicam camera", settings, self.KNOWN)
        self.name = name
        cti = settings.get("cti")
        if not cti:
            raise InputError(
                f"genicam camera {name!r} needs settings.cti, the vendor's GenTL producer (.cti)"
            )
        if not Path(cti).is_file():
            raise InputError(f"GenTL producer of camera {name!r} not found", cti)
        try:
            from harvesters.core import Harvester
        except ImportError:
            raise InputError(
                "genicam cameras need the optional package harvesters: "
                "pip install 'scan2ad[genicam]'"
            ) from None
        self.trigger = settings.get("trigger", "software")
        if self.trigger not in ("software", "continuous"):
            raise InputError(
                f"camera {name!r}: trigger must be software or continuous, got {self.trigger!r}"
            )
        self.timeout_s = float(settings.get("timeout_s", 5.0))
        self.flush = int(settings.get("flush", 1))
        self._h = Harvester()
        self._ia = None
        try:
            self._h.add_file(str(cti))
            self._h.update()
            if not self._h.device_info_list:
                raise DeviceError(f"camera {name!r}: the GenTL producer {cti} sees no device")
            key = {"serial_number": str(settings["serial"])} if "serial" in settings else 0
            self._ia = self._h.create(key)
            nm = self._ia.remote_device.node_map
            if "pixel_format" in settings:
                nm.PixelFormat.value = settings["pixel_format"]
            if "exposure_us" in settings:
                nm.ExposureTime.value = float(settings["exposure_us"])
            if "gain_db" in settings:
                nm.Gain.value = float(settings["gain_db"])
            if self.trigger == "software":
                nm.TriggerSelector.value = "FrameStart"
                nm.TriggerMode.value = "On"
                nm.TriggerSource.value = "Software"
            else:
                nm.TriggerMode.value = "Off"
            self._ia.start()
        except BaseException:
            self.close()
            raise

    def _fetch(self) -> np.ndarray:
        try:
            with self._ia.fetch(timeout=self.timeout_s) as buffer:
                comp = buffer.payload.components[0]
                return comp.data.reshape(comp.height, comp.width).copy()
        except Exception as exc:  # noqa: BLE001 - harvesters raises its own timeout types per version
            raise DeviceError(
                f"camera {self.name!r}: no frame within {self.timeout_s:g} s ({exc})"
            ) from None

    def grab(self) -> np.ndarray:
        if self.trigger == "software":
            self._ia.remote_device.node_map.TriggerSoftware.execute()
            return self._fetch()
        for _ in range(self.flush):  # frames exposed before the call
            self._fetch()
        return self._fetch()

    def close(self) -> None:
        if self._ia is not None:
            try:
                self._ia.stop()
            finally:
                self._ia.destroy()
                self._ia = None
        if self._h is not None:
            self._h.reset()
            self._h = None


# ------------------------------------------------------------------------------- UVC
class UVCCamera(Camera):
    KNOWN = frozenset({"index", "exposure", "flush", "width", "height"})

    def __init__(self, name: str, settings: dict, resolution: tuple[int, int] | None = None):
        import cv2

        _check_keys("uvc camera", settings, self.KNOWN)
        self.name = name
        self.flush = int(settings.get("flush", 2))
        index = settings.get("index", 0)
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap = None
            raise InputError(f"UVC camera {name!r}: cannot open video device {index!r}")
        w, h = settings.get("width"), settings.get("height")
        if w is None and resolution is not None:
            w, h = resolution
        if w is not None:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(w))
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(h))
        if "exposure" in settings:
            self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2: 1 = manual
            self._cap.set(cv2.CAP_PROP_EXPOSURE, float(settings["exposure"]))

    def grab(self) -> np.ndarray:
        for _ in range(self.flush):
            self._cap.grab()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise DeviceError(f"UVC camera {self.name!r} returned no frame")
        return _to_grey(frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# ------------------------------------------------------------------------------- projector
class WindowProjector(Projector):
    KNOWN = frozenset({"x", "y", "settle_ms", "name"})

    def __init__(self, resolution: tuple[int, int], settings: dict):
        import cv2

        _check_keys("window projector", settings, self.KNOWN)
        self.resolution = (int(resolution[0]), int(resolution[1]))
        self.settle_ms = int(settings.get("settle_ms", 150))
        self.window = str(settings.get("name", "scan2ad projector"))
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            # checked first: OpenCV's GUI backends abort the process without a display
            raise InputError("the window projector needs a display (DISPLAY is not set)")
        try:
            cv2.namedWindow(self.window, cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise InputError(f"cannot open the projector window (no display? {exc})") from None
        cv2.moveWindow(self.window, int(settings.get("x", 0)), int(settings.get("y", 0)))
        cv2.setWindowProperty(self.window, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        self._open = True

    def show(self, image: np.ndarray) -> None:
        import cv2

        w, h = self.resolution
        if image.shape[:2] != (h, w):
            raise InputError(
                f"projector frame is {image.shape[1]}x{image.shape[0]}, the projector is {w}x{h}"
            )
        cv2.imshow(self.window, image)
        t0 = time.perf_counter()
        cv2.waitKey(max(1, self.settle_ms))  # runs the GUI loop: the frame is drawn, then settles
        left = self.settle_ms / 1000.0 - (time.perf_counter() - t0)
        if left > 0:
            time.sleep(left)

    def close(self) -> None:
        if self._open:
            import cv2

            cv2.destroyWindow(self.window)
            cv2.waitKey(1)
            self._open = False


# ------------------------------------------------------------------------------- dispatch
def open_camera(spec) -> Camera:
    if spec.backend == "genicam":
        return GenICamCamera(spec.name, dict(spec.settings))
    if spec.backend == "uvc":
        return UVCCamera(spec.name, dict(spec.settings), tuple(spec.resolution))
    raise InputError(
        f"camera {spec.name!r}: unknown backend {spec.backend!r} (genicam, uvc, virtual)"
    )


def open_projector(spec) -> Projector:
    if spec.backend == "window":
        return WindowProjector(tuple(spec.resolution), dict(spec.settings))
    raise InputError(f"unknown projector backend {spec.backend!r} (window, virtual)")


def open_turntable(spec):
    if spec.backend == "serial":
        from scan2ad.acquisition.devices.serial_turntable import SerialProtocol, SerialTurntable

        return SerialTurntable(SerialProtocol.from_settings(dict(spec.settings)))
    raise InputError(f"unknown turntable backend {spec.backend!r} (serial, virtual)")
