"""Device interfaces of a structured-light turntable rig, and the rig that drives them.

The seed paper's rig (003, §III-B, Table I) is two global-shutter cameras, a DLP projector and
an automatic turntable on which "the rotation triggers the projection and photographing
processes". :class:`Rig` is that loop, written once against three small interfaces so the same
capture code drives the real devices (``genicam``/``uvc`` cameras, a ``window`` projector, a
``serial`` turntable) or the built-in virtual rig (``virtual``):

- :class:`Camera`: ``grab() -> np.ndarray`` (H×W uint8/uint16, grey) of what it sees *now*;
- :class:`Projector`: ``show(image)`` displays one projector frame (H×W uint8) and returns once
  it is on the surface (settle time included);
- :class:`Turntable`: ``move_to(angle_deg)`` / ``home()``, blocking until the table stands.

All are context managers; ``close()`` releases the hardware and is idempotent.
:func:`open_rig` builds the devices a :class:`~scan2ad.acquisition.rig.RigDescription` names.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np

from scan2ad.errors import InputError, Scan2adError


class DeviceError(Scan2adError):
    """A device failed while capturing (no reply, refused command, lost frame)."""


class Device(abc.ABC):
    def close(self) -> None:
        """Release the device (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Camera(Device):
    name: str

    @abc.abstractmethod
    def grab(self) -> np.ndarray:
        """One grey frame (H×W uint8 or uint16) exposed after the call began."""


class Projector(Device):
    resolution: tuple[int, int]  # width, height

    @abc.abstractmethod
    def show(self, image: np.ndarray) -> None:
        """Display ``image`` (height×width uint8) and wait until it is projected."""


class Turntable(Device):
    @abc.abstractmethod
    def move_to(self, angle_deg: float) -> None:
        """Rotate to ``angle_deg`` (absolute, degrees) and wait until the table stands still."""

    @abc.abstractmethod
    def home(self) -> None:
        """Go to the reference position (angle 0)."""

    @property
    @abc.abstractmethod
    def angle_deg(self) -> float:
        """The current table angle in degrees."""


class Rig(Device):
    """One or two cameras, a projector and a turntable; captures one view of a pattern sequence."""

    def __init__(self, cameras: list[Camera], projector: Projector, turntable: Turntable):
        if len(cameras) not in (1, 2):
            raise InputError(f"a rig has one or two cameras, got {len(cameras)}")
        self.cameras = cameras
        self.projector = projector
        self.turntable = turntable

    def capture_view(
        self,
        angle_deg: float,
        images: list[np.ndarray],
        on_frame: Callable[[int], None] | None = None,
    ) -> dict[str, list[np.ndarray]]:
        """Move the table to ``angle_deg``, then for each projector image show it and grab every
        camera. Returns ``{camera name: [frame per image]}``."""
        self.turntable.move_to(angle_deg)
        out: dict[str, list[np.ndarray]] = {c.name: [] for c in self.cameras}
        for i, img in enumerate(images):
            self.projector.show(img)
            for cam in self.cameras:
                out[cam.name].append(cam.grab())
            if on_frame is not None:
                on_frame(i)
        return out

    def close(self) -> None:
        for dev in (*self.cameras, self.projector, self.turntable):
            dev.close()


def open_rig(rig, part=None, seed: int = 0) -> Rig:
    """Open the devices of ``rig`` (a RigDescription). ``part`` (a trimesh mesh in mm) is what
    a virtual rig scans; real rigs scan whatever stands on the table."""
    backends = {c.backend for c in rig.cameras} | {rig.projector.backend, rig.turntable.backend}
    if "virtual" in backends:
        if backends != {"virtual"}:
            raise InputError(
                f"rig {rig.name!r} mixes virtual and real devices ({sorted(backends)})"
            )
        from scan2ad.acquisition.devices.virtual import VirtualScene

        if part is None:
            raise InputError("the virtual rig needs a part mesh to scan")
        return VirtualScene(rig, part, seed=seed).as_rig()

    from scan2ad.acquisition.devices import real

    cameras = [real.open_camera(spec) for spec in rig.cameras]
    try:
        projector = real.open_projector(rig.projector)
        turntable = real.open_turntable(rig.turntable)
    except BaseException:
        for c in cameras:
            c.close()
        raise
    return Rig(cameras, projector, turntable)
