"""A turntable driven over a serial line with a configurable text protocol (pyserial).

The seed paper's rig (003, §III-B, Table I) uses a custom 360° automatic turntable; such stages
are driven by a microcontroller speaking a line protocol. Nothing about the protocol is fixed
here — the rig TOML's ``[turntable.settings]`` gives it:

=================  ==========================================  =========================
key                meaning                                     default
=================  ==========================================  =========================
port               device (``/dev/ttyUSB0``, ``COM3``) or a     (required)
                   pyserial URL (``socket://host:port``)
baudrate           line speed                                  115200
move_cmd           command template; ``{angle}`` degrees,      ``"MOVE {angle:.3f}"``
                   ``{steps}`` motor steps
home_cmd           command that returns to angle 0             ``"HOME"``
steps_per_degree   for ``{steps}`` in ``move_cmd``             1.0
ok_reply           the line that ends a successful command     ``"OK"``
error_prefix       a line starting with it is a device error   ``"ERR"``
eol                line terminator sent and expected           ``"\\n"``
timeout_s          longest wait for the reply to a command     30.0
settle_s           extra wait after OK (vibration damping)     0.0
=================  ==========================================  =========================

Any other line the device sends while a command runs (progress, status chatter) is logged
and skipped. A command that gets neither OK nor an error within ``timeout_s`` raises
:class:`TurntableTimeout`; an error line raises :class:`TurntableError` with the device's text.
"""

from __future__ import annotations

import dataclasses
import time

from scan2ad.acquisition.devices.base import DeviceError, Turntable
from scan2ad.errors import InputError
from scan2ad.log import get_logger

log = get_logger(__name__)


class TurntableError(DeviceError):
    """The turntable answered a command with an error line."""


class TurntableTimeout(DeviceError):
    """The turntable did not answer a command in time."""


@dataclasses.dataclass(frozen=True)
class SerialProtocol:
    port: str
    baudrate: int = 115200
    move_cmd: str = "MOVE {angle:.3f}"
    home_cmd: str = "HOME"
    steps_per_degree: float = 1.0
    ok_reply: str = "OK"
    error_prefix: str = "ERR"
    eol: str = "\n"
    timeout_s: float = 30.0
    settle_s: float = 0.0

    @classmethod
    def from_settings(cls, settings: dict) -> SerialProtocol:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise InputError(
                f"unknown serial turntable setting(s) {unknown} (known: {sorted(known)})"
            )
        if "port" not in settings:
            raise InputError("the serial turntable needs settings.port (e.g. /dev/ttyUSB0)")
        try:
            proto = cls(**settings)
            proto.move_cmd.format(angle=0.0, steps=0)
        except (TypeError, KeyError, ValueError, IndexError) as exc:
            raise InputError(f"bad serial turntable settings: {exc!r}") from None
        if proto.timeout_s <= 0:
            raise InputError(f"turntable timeout_s must be positive, got {proto.timeout_s}")
        return proto


class SerialTurntable(Turntable):
    def __init__(self, protocol: SerialProtocol, connection=None):
        """Open the port (or use an already open pyserial ``connection``)."""
        self.protocol = protocol
        if connection is None:
            import serial

            try:
                connection = serial.serial_for_url(
                    protocol.port, baudrate=protocol.baudrate, timeout=0.05
                )
            except (serial.SerialException, ValueError) as exc:
                raise InputError(
                    f"cannot open the turntable's serial port: {exc}", protocol.port
                ) from None
        self.conn = connection
        self._angle = 0.0
        self._buffer = b""

    def _send(self, command: str) -> list[str]:
        """Send one command line; return the chatter lines seen before the OK line."""
        p = self.protocol
        self.conn.reset_input_buffer()
        self._buffer = b""
        self.conn.write((command + p.eol).encode("ascii"))
        self.conn.flush()
        deadline = time.monotonic() + p.timeout_s
        eol = p.eol.encode("ascii")
        chatter = []
        while True:
            while eol in self._buffer:
                raw, self._buffer = self._buffer.split(eol, 1)
                line = raw.decode("ascii", errors="replace").strip()
                if not line:
                    continue
                if line == p.ok_reply:
                    if p.settle_s > 0:
                        time.sleep(p.settle_s)
                    return chatter
                if line.startswith(p.error_prefix):
                    raise TurntableError(f"turntable on {p.port} refused {command!r}: {line}")
                log.debug("turntable: %s", line)
                chatter.append(line)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TurntableTimeout(
                    f"turntable on {p.port} did not answer {command!r} within {p.timeout_s:g} s"
                )
            self.conn.timeout = min(0.05, left)
            self._buffer += self.conn.read(max(1, self.conn.in_waiting or 1))

    def move_to(self, angle_deg: float) -> None:
        angle = float(angle_deg) % 360.0
        cmd = self.protocol.move_cmd.format(
            angle=angle, steps=round(angle * self.protocol.steps_per_degree)
        )
        self._send(cmd)
        self._angle = angle

    def home(self) -> None:
        self._send(self.protocol.home_cmd)
        self._angle = 0.0

    @property
    def angle_deg(self) -> float:
        return self._angle

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
