"""Structured-light pattern sets: complementary Gray code and N-step phase shift with Gray-code
unwrapping, for any projector resolution.

The seed paper (003, §III-B, Table I) projects patterns from a 1280×720 DLP3010 onto a part on a
turntable seen by two cameras; it does not say which patterns. We use the two standard codes:

``graycode``
    Binary-reflected Gray code of the projector column (and row), most significant bit first,
    every bit projected as the pattern *and its inverse* ("complementary" pairs) so that each bit
    is decided by comparing two captured images rather than against a global threshold (robust
    to albedo, ambient light and global illumination; Xu & Aliaga 2007, Gupta et al. 2011).
    Decoding yields integer projector coordinates.

``phase``
    ``phase_steps`` sinusoidal fringes of period ``phase_period_px`` shifted by 2π/N each
    (N-step phase shift) give the wrapped phase, i.e. the sub-pixel position inside a fringe;
    the fringe order comes from Gray-code bits. The Gray code here has *one bit more* than the
    fringe count needs (the code of ``x // (P/2)``): the "complementary Gray code" unwrapping of
    Zhang et al. (2019) uses both the period order ``k1 = x // P`` and the half-period-shifted
    order ``k2 = (x + P/2) // P`` and picks between them by the wrapped phase, which removes the
    one-pixel jump errors ordinary Gray-code unwrapping makes at fringe edges.

Frame order (what a capture session stores as ``NN.png`` and what :func:`decode.decode_frames`
expects): ``white``, ``black``, then per direction (``columns`` first, then ``rows``) the Gray
bits MSB first each as pattern then inverse, then (``phase`` only) the N phase steps.

Coordinates: projector pixel centres are at integers (DESIGN §2); the column code of projector
pixel ``x`` is ``gray(x)``; the phase fringe is ``0.5 + 0.5·cos(2π·x/P + 2π·k/N)`` for step k.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cached_property

import numpy as np

from scan2ad.errors import InputError

DIRECTIONS = ("columns", "rows")
KINDS = ("graycode", "phase")


@dataclasses.dataclass(frozen=True)
class Frame:
    """One projected frame: what it encodes (for decoding and for file listings)."""

    index: int
    kind: str  # white | black | gray | gray_inverse | phase
    direction: str = ""  # columns | rows ("" for white/black)
    bit: int = -1  # Gray bit position (0 = least significant) for gray frames
    step: int = -1  # phase step for phase frames

    @property
    def label(self) -> str:
        if self.kind in ("white", "black"):
            return self.kind
        if self.kind == "phase":
            return f"{self.direction}_phase{self.step}"
        return f"{self.direction}_{self.kind}_bit{self.bit}"


def gray_encode(x: np.ndarray) -> np.ndarray:
    return x ^ (x >> 1)


def gray_decode(g: np.ndarray) -> np.ndarray:
    """Inverse of :func:`gray_encode` for non-negative integers below 2**32 (prefix XOR)."""
    b = g.copy()
    shift = 1
    while shift < 32:
        b ^= b >> shift
        shift <<= 1
    return b


@dataclasses.dataclass(frozen=True)
class PatternSet:
    """A complete structured-light pattern sequence for a ``width``×``height`` projector.

    ``kind`` is ``graycode`` or ``phase``; ``directions`` a subset of ``("columns", "rows")``;
    ``phase_period_px`` must be an even number ≥ 4 for ``phase`` (a power of two is not needed:
    the fringe order is coded on ``x // (P/2)``).
    """

    width: int
    height: int
    kind: str = "phase"
    directions: tuple[str, ...] = DIRECTIONS
    phase_steps: int = 4
    phase_period_px: int = 16

    def __post_init__(self):
        if self.width < 2 or self.height < 2:
            raise InputError(f"projector resolution {self.width}x{self.height} is too small")
        if self.kind not in KINDS:
            raise InputError(f"pattern kind {self.kind!r} is not one of {KINDS}")
        if not self.directions or any(d not in DIRECTIONS for d in self.directions):
            raise InputError(
                f"pattern directions {self.directions!r} must be a non-empty subset of {DIRECTIONS}"
            )
        if len(set(self.directions)) != len(self.directions):
            raise InputError(f"pattern directions {self.directions!r} repeat")
        object.__setattr__(self, "directions", tuple(d for d in DIRECTIONS if d in self.directions))
        if self.kind == "phase":
            if self.phase_steps < 3:
                raise InputError(f"phase shift needs at least 3 steps, got {self.phase_steps}")
            if self.phase_period_px < 4 or self.phase_period_px % 2:
                raise InputError(
                    f"phase period must be an even number of pixels >= 4, "
                    f"got {self.phase_period_px}"
                )

    @classmethod
    def from_rig(cls, rig) -> PatternSet:
        """The pattern set a rig description names (``[patterns]`` and the projector resolution)."""
        w, h = rig.projector.resolution
        p = rig.patterns
        return cls(
            width=int(w),
            height=int(h),
            kind=p.kind,
            directions=tuple(p.directions),
            phase_steps=p.phase_steps,
            phase_period_px=p.phase_period_px,
        )

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "kind": self.kind,
            "directions": list(self.directions),
            "phase_steps": self.phase_steps,
            "phase_period_px": self.phase_period_px,
            "frames": len(self.frames),
        }

    @classmethod
    def from_dict(cls, d: dict) -> PatternSet:
        try:
            return cls(
                width=int(d["width"]),
                height=int(d["height"]),
                kind=d["kind"],
                directions=tuple(d["directions"]),
                phase_steps=int(d["phase_steps"]),
                phase_period_px=int(d["phase_period_px"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"pattern set description is incomplete or malformed: {exc!r}"
            ) from None

    # ---- code layout -------------------------------------------------------------------------
    def extent(self, direction: str) -> int:
        return self.width if direction == "columns" else self.height

    def code_shift(self) -> int:
        """Gray code carries ``x >> shift``: 0 for pure Gray code, for phase the half period."""
        return 0 if self.kind == "graycode" else self.phase_period_px // 2

    def n_bits(self, direction: str) -> int:
        """Gray bits needed for ``direction``."""
        n = self.extent(direction)
        if self.kind == "phase":
            n = -(-n // (self.phase_period_px // 2))  # number of half periods
        return max(1, math.ceil(math.log2(n)))

    @cached_property
    def frames(self) -> tuple[Frame, ...]:
        out = [Frame(0, "white"), Frame(1, "black")]
        for d in self.directions:
            for bit in range(self.n_bits(d) - 1, -1, -1):
                out.append(Frame(len(out), "gray", d, bit=bit))
                out.append(Frame(len(out), "gray_inverse", d, bit=bit))
            if self.kind == "phase":
                for k in range(self.phase_steps):
                    out.append(Frame(len(out), "phase", d, step=k))
        return tuple(out)

    def __len__(self) -> int:
        return len(self.frames)

    # ---- images ------------------------------------------------------------------------------
    def profile(self, frame: Frame) -> np.ndarray:
        """The 1-D intensity profile (float in [0, 1]) of a frame along its direction."""
        n = self.extent(frame.direction) if frame.direction else self.width
        x = np.arange(n)
        if frame.kind == "white":
            return np.ones(n)
        if frame.kind == "black":
            return np.zeros(n)
        if frame.kind == "phase":
            theta = 2 * np.pi * x / self.phase_period_px + 2 * np.pi * frame.step / self.phase_steps
            return 0.5 + 0.5 * np.cos(theta)
        code = x if self.kind == "graycode" else x // (self.phase_period_px // 2)
        bits = ((gray_encode(code) >> frame.bit) & 1).astype(float)
        return bits if frame.kind == "gray" else 1.0 - bits

    def image(self, frame: Frame | int, dtype=np.uint8) -> np.ndarray:
        """Projector image (``height``×``width``) of one frame; uint8 0..255 or float32 0..1."""
        if isinstance(frame, int):
            frame = self.frames[frame]
        p = self.profile(frame)
        if frame.direction == "rows":
            img = np.broadcast_to(p[:, None], (self.height, self.width))
        else:
            img = np.broadcast_to(p[None, :], (self.height, self.width))
        if np.dtype(dtype) == np.uint8:
            return np.ascontiguousarray(np.rint(img * 255.0).astype(np.uint8))
        return np.ascontiguousarray(img.astype(dtype))

    def images(self, dtype=np.uint8) -> list[np.ndarray]:
        return [self.image(f, dtype) for f in self.frames]
