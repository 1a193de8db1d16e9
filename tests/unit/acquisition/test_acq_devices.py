"""Device backends: the serial turntable against a fake device on a pseudo-terminal (real
pyserial I/O), backend dispatch and the errors a user sees when a device is missing."""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np
import pytest

from scan2ad.acquisition.devices.base import Rig, open_rig
from scan2ad.acquisition.devices.serial_turntable import (
    SerialProtocol,
    SerialTurntable,
    TurntableError,
    TurntableTimeout,
)
from scan2ad.acquisition.rig import CameraSpec, ProjectorSpec, TurntableSpec, load_rig
from scan2ad.errors import InputError


class FakeTurntable(threading.Thread):
    """A microcontroller on the master side of a pty: ``MOVE <deg>`` (0..360) answers some
    progress chatter then ``OK`` after a short move; ``MOVE`` beyond 360 answers
    ``ERR out of range``; ``HOME`` answers ``OK``; ``STALL`` never answers."""

    def __init__(self, master_fd: int):
        super().__init__(daemon=True)
        self.fd = master_fd
        self.received: list[str] = []
        self.stop = threading.Event()

    def reply(self, text: str) -> None:
        os.write(self.fd, (text + "\n").encode())

    def run(self):
        buf = b""
        while not self.stop.is_set():
            try:
                chunk = os.read(self.fd, 256)
            except OSError:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = line.decode().strip()
                self.received.append(cmd)
                if cmd.startswith("MOVE"):
                    angle = float(cmd.split()[1])
                    if not 0 <= angle < 360:
                        self.reply("ERR out of range")
                        continue
                    self.reply("moving")
                    time.sleep(0.05)
                    self.reply(f"at {angle:.1f}")
                    self.reply("OK")
                elif cmd == "HOME":
                    self.reply("OK")
                elif cmd == "STALL":
                    pass
                else:
                    self.reply("ERR unknown command")


@pytest.fixture
def pty_device():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    dev = FakeTurntable(master)
    dev.start()
    yield name, dev
    dev.stop.set()
    os.close(slave)
    os.close(master)


def test_serial_turntable_moves_homes_and_skips_chatter(pty_device):
    port, dev = pty_device
    proto = SerialProtocol.from_settings({"port": port, "baudrate": 9600, "timeout_s": 2.0})
    with SerialTurntable(proto) as table:
        table.move_to(30.0)
        assert table.angle_deg == 30.0
        table.move_to(390.0)  # wraps to 30
        table.home()
        assert table.angle_deg == 0.0
    assert dev.received == ["MOVE 30.000", "MOVE 30.000", "HOME"]


def test_serial_turntable_error_reply_and_timeout(pty_device):
    port, dev = pty_device
    proto = SerialProtocol.from_settings(
        {"port": port, "timeout_s": 0.3, "move_cmd": "MOVE {steps}", "steps_per_degree": 100.0}
    )
    table = SerialTurntable(proto)
    with pytest.raises(TurntableError, match="out of range"):
        table.move_to(12.5)  # 1250 steps: the fake device takes the number as degrees, > 360
    assert table.angle_deg == 0.0  # a refused move does not change the known angle
    stall = dataclasses.replace(proto, home_cmd="STALL")
    table.protocol = stall
    t0 = time.monotonic()
    with pytest.raises(TurntableTimeout, match="within 0.3 s"):
        table.home()
    assert 0.25 < time.monotonic() - t0 < 2.0
    table.close()
    table.close()  # idempotent
    assert dev.received == ["MOVE 1250", "STALL"]


def test_serial_settings_are_checked():
    with pytest.raises(InputError, match="port"):
        SerialProtocol.from_settings({})
    with pytest.raises(InputError, match="unknown serial turntable setting"):
        SerialProtocol.from_settings({"port": "/dev/null", "speed": 3})
    with pytest.raises(InputError, match="bad serial turntable settings"):
        SerialProtocol.from_settings({"port": "/dev/null", "move_cmd": "MOVE {angel}"})
    with pytest.raises(InputError, match="/dev/does-not-exist"):
        SerialTurntable(SerialProtocol(port="/dev/does-not-exist"))


def test_real_backends_report_missing_hardware_clearly(tmp_path):
    from scan2ad.acquisition.devices import real

    with pytest.raises(InputError, match="settings.cti"):
        real.open_camera(CameraSpec(name="cam0", backend="genicam"))
    with pytest.raises(InputError, match="not found"):
        real.open_camera(
            CameraSpec(name="cam0", backend="genicam", settings={"cti": str(tmp_path / "x.cti")})
        )
    cti = tmp_path / "vendor.cti"
    cti.write_bytes(b"\0")
    try:
        import harvesters  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="pip install 'scan2ad\\[genicam\\]'"):
            real.open_camera(CameraSpec(name="cam0", backend="genicam", settings={"cti": str(cti)}))
    with pytest.raises(InputError, match="cannot open video device"):
        real.open_camera(
            CameraSpec(name="cam0", backend="uvc", settings={"index": str(tmp_path / "nocam")})
        )
    with pytest.raises(InputError, match="unknown uvc camera setting"):
        real.open_camera(CameraSpec(name="cam0", backend="uvc", settings={"idx": 0}))
    with pytest.raises(InputError, match="unknown backend"):
        real.open_camera(CameraSpec(name="cam0", backend="gige"))
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        with pytest.raises(InputError, match="needs a display"):
            real.open_projector(ProjectorSpec(backend="window"))
    with pytest.raises(InputError, match="unknown window projector setting"):
        real.open_projector(ProjectorSpec(backend="window", settings={"screen": 2}))
    with pytest.raises(InputError, match="projector backend"):
        real.open_projector(ProjectorSpec(backend="hdmi"))
    with pytest.raises(InputError, match="turntable backend"):
        real.open_turntable(TurntableSpec(backend="usb"))


def test_open_rig_refuses_mixed_backends_and_drives_the_virtual_rig():
    import trimesh

    rig = load_rig("virtual_small")
    mixed = dataclasses.replace(rig, turntable=TurntableSpec(backend="serial"))
    with pytest.raises(InputError, match="mixes virtual and real"):
        open_rig(mixed, trimesh.creation.box((5, 5, 5)))
    with pytest.raises(InputError, match="needs a part"):
        open_rig(rig)
    with open_rig(rig, trimesh.creation.box((20, 20, 20))) as dev:
        assert isinstance(dev, Rig)
        frames = dev.capture_view(
            90.0, [np.full((720, 1280), 255, np.uint8), np.zeros((720, 1280), np.uint8)]
        )
        assert dev.turntable.angle_deg == 90.0
        assert frames["cam0"][0].shape == (320, 400)
        assert frames["cam0"][0].mean() > frames["cam0"][1].mean() + 5


def test_real_rig_session_end_to_end_with_fake_camera_and_pty_turntable(
    pty_device, tmp_path, monkeypatch
):
    """The real-rig path of ``capture_session``: the example rig description, the serial
    turntable over pyserial to the pty device, and in place of the GenICam cameras and the
    projector window a camera that sees the projector image at half resolution. Decoding the
    written session recovers each camera pixel's projector column and row."""
    import cv2

    from scan2ad.acquisition.devices import base, real
    from scan2ad.acquisition.session import capture_session

    port, dev = pty_device

    class MirrorProjector(base.Projector):
        def __init__(self, spec):
            self.resolution = tuple(spec.resolution)
            self.image = None

        def show(self, image):
            self.image = image

    projector = None

    def open_projector(spec):
        nonlocal projector
        projector = MirrorProjector(spec)
        return projector

    class HalfCamera(base.Camera):
        def __init__(self, spec):
            self.name = spec.name
            self.size = tuple(spec.resolution)

        def grab(self):
            img = cv2.resize(projector.image, self.size, interpolation=cv2.INTER_AREA)
            return (20 + img.astype(np.float32) * 0.8).astype(np.uint8)

    monkeypatch.setattr(real, "open_projector", open_projector)
    monkeypatch.setattr(real, "open_camera", HalfCamera)
    rig = load_rig("iec3d_real")
    cams = tuple(dataclasses.replace(c, resolution=(640, 360)) for c in rig.cameras)
    settings = dict(rig.turntable.settings, port=port, timeout_s=2.0, settle_s=0.0)
    rig = dataclasses.replace(
        rig, cameras=cams, turntable=dataclasses.replace(rig.turntable, settings=settings)
    )
    session = capture_session(tmp_path / "real", rig, "bracket-17", views=2)
    assert session.meta["part"] == {
        "id": "bracket-17",
        "source": "label",
        "seed": 0,
        "path": "",
        "sha256": "",
    }
    assert session.meta["rig"]["virtual"] is False and "truth" not in session.meta
    assert dev.received == ["MOVE 0.000", "MOVE 180.000"]
    assert "T_world_part" not in session.view(1)
    d = session.decode(1)["cam0"]
    yy, xx = np.mgrid[0:360, 0:640]
    inner = (slice(2, -2), slice(2, -2))
    assert d.valid[inner].all()
    assert np.max(np.abs(d.col[inner] - (2 * xx[inner] + 0.5))) < 0.15
    assert np.max(np.abs(d.row[inner] - (2 * yy[inner] + 0.5))) < 0.15
