"""Procedural part library: the 15 Open-Industry categories as watertight parametric meshes.

``make_part(name, seed)`` returns a ``trimesh.Trimesh`` in millimetres in the pose the part takes
on the turntable (lowest point at z = 0, bounding-box centre on the z axis = rotation axis).
A seed draws each dimension inside the cited standard's tolerance band plus small manufacturing
variation, so two seeds of a category differ the way two parts made to the standard may;
``variation`` < 1 narrows that spread to parts of one production batch (:class:`ScaledDraws`).

>>> from scan2ad.acquisition.parts import PART_NAMES, PART_INFO, make_part
>>> mesh = make_part("lock_nut", seed=3)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import trimesh

from scan2ad.errors import InputError, Scan2adError


@dataclass(frozen=True)
class PartInfo:
    """What a category is: the paper's display name, the standard followed and nominal size."""

    name: str
    display_name: str
    standard: str
    nominal_size: str
    nominal_extent_mm: float  # largest bounding-box side of the nominal part (mm)
    has_thread: bool
    has_teeth: bool


# name, display name (as in the paper), standard followed, nominal size, extent (mm), thread, teeth
# fmt: off
_TABLE = (
    ("square_taper_washer", "Square Taper Washer", "DIN 434", "M12", 26.0, False, False),
    ("split_pin", "Split Pin", "ISO 1234", "3.2 x 25", 30.0, False, False),
    ("lock_nut", "Lock Nut", "DIN 985 / ISO 10511", "M10", 19.6, True, False),
    ("threaded_nail", "Threaded Nail", "screw-shank nail", "3.4 x 50", 50.0, True, False),
    ("l_shaped_screw", "L-shaped Screw", "DIN 529 form C style", "M6 x 45", 55.5, True, False),
    ("circlip", "Circlip", "DIN 471", "20", 24.5, False, False),
    ("internal_tooth_lock_washer", "Internal Tooth Lock Washer", "DIN 6797 J", "M10", 18.0, False, True),
    ("double_lug_washer", "Double Lug Washer", "DIN 463 / GB 855", "M10", 33.0, False, False),
    ("square_plug", "Square Plug", "ASME B16.11", "1/4 NPT", 18.0, True, False),
    ("s_hook", "S-hook", "bent wire", "4 x 50", 49.0, False, False),
    ("external_tooth_lock_washer", "External Tooth Lock Washer", "DIN 6797 A", "M10", 18.0, False, True),
    ("hex_head_plug", "Hex Head Plug", "DIN 910", "M16 x 1.5", 24.0, True, False),
    ("eyelet_self_tapping_screw", "Eyelet Self-tapping Screw", "DIN 7624 style", "4 x 30", 46.0, True, False),
    ("heavy_washer", "Heavy Washer", "DIN 7349", "M10", 30.0, False, False),
    ("locking_tab_washer", "Locking Tab Washer", "DIN 5406 / GB 858", "MB4 (M20)", 36.0, False, True),
)
# fmt: on

PART_INFO: dict[str, PartInfo] = {row[0]: PartInfo(*row) for row in _TABLE}

#: The 15 categories in the order of the Open-Industry paper's tables.
PART_NAMES: tuple[str, ...] = tuple(PART_INFO)


#: Flat parts are subdivided up to this many triangles (shape unchanged) so that carving and
#: per-vertex labels have enough vertices everywhere.
MIN_TRIANGLES = 20_000


def part_rng(name: str, seed: int) -> np.random.Generator:
    """The generator for one (category, seed): independent streams per category, stable across
    runs and platforms (crc32 of the name, not Python's salted ``hash``)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


class ScaledDraws:
    """A generator whose draws lie ``variation`` times as far from their band's centre: a
    ``uniform(low, high)`` draw ``u`` becomes ``c + variation * (u - c)`` with ``c`` the band's
    centre, a ``normal(loc, scale)`` draw ``loc + variation * (x - loc)``. The underlying
    generator's stream is consumed exactly as without scaling, so instance ``seed`` at a smaller
    variation is the same instance drawn closer to the nominal part (0: the nominal part)."""

    def __init__(self, rng: np.random.Generator, variation: float):
        self._rng, self.variation = rng, float(variation)

    def uniform(self, low=0.0, high=1.0, size=None):
        u = self._rng.uniform(low, high, size)
        c = (np.asarray(low, np.float64) + np.asarray(high, np.float64)) / 2.0
        out = c + self.variation * (u - c)
        return float(out) if np.ndim(out) == 0 and size is None else out

    def normal(self, loc=0.0, scale=1.0, size=None):
        x = self._rng.normal(loc, scale, size)
        out = loc + self.variation * (x - np.asarray(loc, np.float64))
        return float(out) if np.ndim(out) == 0 and size is None else out

    def __getattr__(self, name):  # a draw the builders do not use yet must not pass unscaled
        raise AttributeError(f"ScaledDraws does not scale {name!r}; add it before a builder uses it")


def check_variation(variation: object, where: str = "part variation") -> float:
    """``variation`` as a float in [0, 1]; a clear error otherwise."""
    try:
        v = float(variation)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{where} must be a number in [0, 1], got {variation!r}") from None
    if isinstance(variation, bool) or not np.isfinite(v) or not 0.0 <= v <= 1.0:
        raise InputError(f"{where} must be a number in [0, 1], got {variation!r}")
    return v


def make_part(name: str, seed: int = 0, variation: float = 1.0) -> trimesh.Trimesh:
    """A watertight mesh (mm) of category ``name`` for ``seed``, resting on the turntable.

    ``variation`` scales every random draw of the instance towards its band's centre
    (:class:`ScaledDraws`): 1 (default) draws each dimension uniformly over the cited standard's
    tolerance band and the manufacturing variation over its full range, as two parts from
    different boxes or batches differ; smaller values model parts of one production batch, whose
    spread is a fraction of the band: a dimension's sigma is 0.29 x variation x the band's width
    (process capability Cp = 0.58 / variation: 0.43 gives Cp 1.33, 0.1 gives 5.8, the spread of
    one batch that open-industry-full scans); 0 gives every seed the same part at the bands'
    centres."""
    from .geometry import refine_to_count, rest_pose, to_trimesh
    from .library import BUILDERS, LAY_DOWN

    if name not in BUILDERS:
        raise InputError(f"unknown part {name!r}; known parts: {', '.join(PART_NAMES)}")
    if int(seed) < 0:
        raise InputError(f"part seed must be non-negative, got {seed}")
    variation = check_variation(variation)
    rng = part_rng(name, int(seed))
    solid = BUILDERS[name](rng if variation == 1.0 else ScaledDraws(rng, variation))
    if name in LAY_DOWN:
        solid = solid.rotate(list(LAY_DOWN[name]))
    solid = refine_to_count(solid, MIN_TRIANGLES)
    mesh = to_trimesh(solid)
    if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0):
        raise Scan2adError(
            f"part {name!r} seed {seed}: generated mesh is not a closed positive-volume solid"
        )
    mesh = rest_pose(mesh)
    mesh.metadata.update({"part": name, "seed": int(seed), "units": "mm"})
    if variation != 1.0:
        mesh.metadata["variation"] = variation
    return mesh


__all__ = ["PART_INFO", "PART_NAMES", "PartInfo", "ScaledDraws", "check_variation", "make_part", "part_rng"]
