"""Rig descriptions: ``calibration_data/rigs/<rig>.toml`` loaded into frozen dataclasses.

A rig names its devices (two cameras, or one camera and a calibrated projector; a projector;
a turntable), the backend that drives each
(``virtual`` for the built-in virtual rig, ``genicam`` / ``uvc`` cameras, ``window`` projector,
``serial`` turntable) with the backend's settings, the pattern set, the turntable steps and
the calibration board. A virtual rig also carries its true geometry in ``[virtual]`` (ground
truth: the intrinsics, distortion and poses the renderer uses), which calibration must recover.

Frames (DESIGN §2): OpenCV camera frames; the world frame is the turntable frame, origin on the
rotation axis at the table surface, +z up along the axis. Poses are given as a position and a
look-at point in world millimetres (what a person measures on a bracket) and converted here to
``T_world_<device>`` 4×4 matrices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scan2ad.config import doc, load_config
from scan2ad.errors import InputError

RIGS_DIR = Path(__file__).resolve().parent.parent / "calibration_data" / "rigs"
BOARDS_DIR = RIGS_DIR.parent / "boards"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CameraSpec:
    name: str = doc("device name, also the folder name in a capture view (cam0, cam1)")
    backend: str = doc("virtual | genicam | uvc", "virtual")
    resolution: tuple[int, int] = doc("image width, height in pixels", (1280, 1024))
    pixel_size_um: float = doc("sensor pixel pitch in micrometres", 3.45)
    focal_length_mm: float = doc("nominal lens focal length in mm", 16.0)
    bit_depth: int = doc("8 or 16: PNG depth of the saved frames", 8)
    settings: dict[str, Any] = doc(
        "backend settings: genicam {cti, serial, exposure_us, gain_db, pixel_format, trigger, "
        "timeout_s}; uvc {index, exposure, flush} (see devices/real.py)", {})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectorSpec:
    backend: str = doc("virtual | window", "virtual")
    resolution: tuple[int, int] = doc("projector width, height in pixels", (1280, 720))
    settings: dict[str, Any] = doc(
        "backend settings: window {x, y, settle_ms, name} (see devices/real.py)", {})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TurntableSpec:
    backend: str = doc("virtual | serial", "virtual")
    steps: int = doc("views per revolution (equal angles) when angles_deg is empty", 12)
    angles_deg: tuple[float, ...] = doc("explicit table angles of the views, degrees", ())
    settings: dict[str, Any] = doc(
        "serial: {port, baudrate, timeout_s, move_cmd, home_cmd, ok_reply, error_prefix, eol, "
        "steps_per_degree, settle_s} (see devices/serial_turntable.py)", {})

    def view_angles_deg(self, views: int | None = None) -> list[float]:
        if self.angles_deg and views is None:
            return list(self.angles_deg)
        n = views or self.steps
        return [360.0 * i / n for i in range(n)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PatternSpec:
    kind: str = doc("graycode | phase (phase shift with Gray-code unwrapping)", "phase")
    phase_steps: int = doc("phase-shift steps per direction", 4)
    phase_period_px: int = doc("fringe period in projector pixels (a power of two)", 16)
    directions: tuple[str, ...] = doc("columns, rows or both", ("columns", "rows"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualDevice:
    """True geometry of a virtual camera or projector (ground truth for calibration tests)."""

    fx: float = doc("focal length in pixels, x")
    fy: float = doc("focal length in pixels, y")
    cx: float = doc("principal point x, pixels (pixel centres at integers)")
    cy: float = doc("principal point y, pixels")
    position_mm: tuple[float, float, float] = doc("optical centre in world (turntable) mm")
    look_at_mm: tuple[float, float, float] = doc("world point on the optical axis", (0.0, 0.0, 10.0))
    up: tuple[float, float, float] = doc("world direction that appears up in the image", (0.0, 0.0, 1.0))
    dist: tuple[float, ...] = doc("OpenCV distortion k1 k2 p1 p2 k3", (0.0, 0.0, 0.0, 0.0, 0.0))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def T_world_device(self) -> np.ndarray:
        """Pose of the device frame (OpenCV: x right, y down, z forward) in the world frame."""
        return look_at(self.position_mm, self.look_at_mm, self.up)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualRender:
    """Image-formation settings of the virtual rig."""

    noise_sigma: float = doc("camera read noise, in 8-bit grey levels", 1.5)
    ambient: float = doc("ambient light as a fraction of full projector white", 0.05)
    projector_defocus_px: float = doc("Gaussian blur of the projected pattern, projector pixels", 0.6)
    camera_defocus_px: float = doc("Gaussian blur in the camera image, pixels", 0.5)
    exposure: float = doc("grey level of a white, perpendicular, albedo-1 surface", 220.0)
    supersample: int = doc("rays per pixel side (anti-aliasing)", 1)
    projector_black: float = doc("projector black as a fraction of its white (DLP leakage)", 0.01)
    shot_noise_gain: float = doc("photon noise: variance added per grey level of signal", 0.04)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualMaterial:
    """Reflectance of a virtual surface: Lambertian albedo plus a Blinn-Phong specular lobe.

    Dark dropout follows from a low albedo (pattern contrast under the decoder's threshold),
    glossy dropout from a specular lobe that saturates the sensor (pattern and inverse both 255).
    """

    albedo: float = doc("diffuse reflectance, 0..1", 0.6)
    specular: float = doc("peak specular reflectance relative to a white diffuser", 0.6)
    shininess: float = doc("Blinn-Phong exponent: larger is a tighter, glossier highlight", 60.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualRig:
    cam0: VirtualDevice = doc("true geometry of cam0")
    cam1: VirtualDevice | None = doc(
        "true geometry of cam1 (absent on a one-camera rig)", None)
    projector: VirtualDevice = doc("true geometry of the projector")
    render: VirtualRender = doc("image formation", VirtualRender())
    table_radius_mm: float = doc("radius of the turntable disc", 60.0)
    part_material: VirtualMaterial = doc(
        "material of the scanned part (machined steel-like)", VirtualMaterial())
    table_material: VirtualMaterial = doc(
        "material of the turntable disc (dark matte)",
        VirtualMaterial(albedo=0.12, specular=0.02, shininess=10.0))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RigDescription:
    name: str = doc("rig name")
    description: str = doc("free text", "")
    cameras: tuple[CameraSpec, ...] = doc(
        "the cameras, cam0 first (the reference frame): two (stereo, the projector only codes "
        "the surface, or is calibrated too for three-ray triangulation), or one (the projector "
        "is then the second view and must be calibrated: scan2ad calibrate procam)")
    projector: ProjectorSpec = doc("the projector", ProjectorSpec())
    turntable: TurntableSpec = doc("the turntable", TurntableSpec())
    patterns: PatternSpec = doc("structured-light pattern set", PatternSpec())
    board: str = doc("board definition, relative to calibration_data/boards/ or absolute", "")
    calibration: str = doc("default calibration.json (relative to the repository's calibration_data/)", "")
    virtual: VirtualRig | None = doc("true geometry of a virtual rig; absent on a real rig", None)

    def __post_init__(self):
        if len(self.cameras) not in (1, 2):
            raise ValueError(
                f"a rig has one camera (with a calibrated projector) or two, this one lists "
                f"{len(self.cameras)}")
        names = [c.name for c in self.cameras]
        if names != ["cam0", "cam1"][: len(names)]:
            raise ValueError(f"cameras must be named cam0 (and cam1), in that order, got {names}")
        if self.virtual is not None and len(names) == 2 and self.virtual.cam1 is None:
            raise ValueError("a virtual rig with two cameras needs [virtual.cam1]")

    @property
    def one_camera(self) -> bool:
        """One camera and a projector (triangulated against the projector's calibration)."""
        return len(self.cameras) == 1

    @property
    def is_virtual(self) -> bool:
        return self.virtual is not None

    def board_path(self) -> Path | None:
        if not self.board:
            return None
        p = Path(self.board)
        return p if p.is_absolute() else BOARDS_DIR / p

    def calibration_path(self) -> Path | None:
        if not self.calibration:
            return None
        p = Path(self.calibration)
        return p if p.is_absolute() else RIGS_DIR.parent / p


def look_at(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``T_world_cam`` for an OpenCV camera at ``position`` looking at ``target``."""
    position = np.asarray(position, float)
    z = np.asarray(target, float) - position
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))  # right = forward × up; then y = z × x points down
    if np.linalg.norm(x) < 1e-9:
        raise InputError(f"look-at direction {z} is parallel to up {up}")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, position
    return T


def load_rig(path_or_name: str | Path) -> RigDescription:
    """Load a rig TOML by path, or by name from ``calibration_data/rigs/``."""
    p = Path(path_or_name)
    if not p.suffix and not p.exists():
        p = RIGS_DIR / f"{p}.toml"
    if not p.is_file():
        raise InputError(f"rig description not found (known rigs: "
                         f"{', '.join(sorted(x.stem for x in RIGS_DIR.glob('*.toml')))})", p)
    rig = load_config(RigDescription, p)
    check_rig(rig, p)
    return rig


CAMERA_BACKENDS = ("virtual", "genicam", "uvc")
PROJECTOR_BACKENDS = ("virtual", "window")
TURNTABLE_BACKENDS = ("virtual", "serial")

# ranges of the rig fields that have one: (low, high, low open); other numbers: any finite value
_RIG_RANGES = {
    "resolution": (1, 100_000, False),
    "pixel_size_um": (0.0, 1000.0, True),
    "focal_length_mm": (0.0, 10_000.0, True),
    "steps": (1, 100_000, False),
    "phase_steps": (3, 64, False),
    "phase_period_px": (2, 4096, False),
    "fx": (0.0, None, True),
    "fy": (0.0, None, True),
    "noise_sigma": (0.0, 255.0, False),
    "ambient": (0.0, 10.0, False),
    "projector_defocus_px": (0.0, 100.0, False),
    "camera_defocus_px": (0.0, 100.0, False),
    "exposure": (0.0, 1e6, True),
    "supersample": (1, 8, False),
    "projector_black": (0.0, 1.0, False),
    "shot_noise_gain": (0.0, 100.0, False),
    "albedo": (0.0, 1.0, False),
    "specular": (0.0, 100.0, False),
    "shininess": (0.0, 1e4, False),
    "table_radius_mm": (0.0, 1e5, True),
}


def check_rig(rig: RigDescription, path: str | Path | None = None) -> RigDescription:
    """Every number of the description finite and in its range, named with the allowed range
    (a negative resolution reached OpenCV's undistortion as an assertion; zero steps made an
    empty session)."""
    from scan2ad.params import check_config

    check_config(rig, _RIG_RANGES, path=path, skip=("settings",))  # settings: their backend's
    backends = [(f"cameras.{c.name}.backend", c.backend, CAMERA_BACKENDS) for c in rig.cameras]
    backends += [("projector.backend", rig.projector.backend, PROJECTOR_BACKENDS),
                 ("turntable.backend", rig.turntable.backend, TURNTABLE_BACKENDS)]
    for name, value, known in backends:
        if value not in known:
            raise InputError(f"{name} = {value!r} is not a known backend (known: {', '.join(known)})", path)
    for cam in rig.cameras:
        if cam.bit_depth not in (8, 16):
            raise InputError(f"cameras.{cam.name}.bit_depth must be 8 or 16, got {cam.bit_depth}", path)
    bad = [d for d in rig.patterns.directions if d not in ("columns", "rows")]
    if bad or not rig.patterns.directions:
        raise InputError(f"patterns.directions must list 'columns' and/or 'rows', got "
                         f"{list(rig.patterns.directions)}", path)
    return rig
