"""Procedural part library: the 15 Open-Industry categories as watertight parametric meshes.

``make_part(name, seed)`` returns a ``trimesh.Trimesh`` in millimetres in the pose the part takes
on the turntable (lowest point at z = 0, bounding-box centre on the z axis = rotation axis).
A seed draws each dimension inside the cited standard's tolerance band plus small manufacturing
variation, so two seeds of a category differ the way two real parts from one box do.

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


PART_INFO: dict[str, PartInfo] = {
    p.name: p
    for p in (
        PartInfo(
            "square_taper_washer", "Square Taper Washer", "DIN 434", "M12", 26.0, False, False
        ),
        PartInfo("split_pin", "Split Pin", "ISO 1234", "3.2 x 25", 31.0, False, False),
        PartInfo("lock_nut", "Lock Nut", "DIN 985 / ISO 10511", "M10", 19.6, True, False),
        PartInfo(
            "threaded_nail",
            "Threaded Nail",
            "EN 14592 (screw-shank nail)",
            "3.4 x 50",
            50.0,
            True,
            False,
        ),
        PartInfo(
            "l_shaped_screw",
            "L-shaped Screw",
            "DIN 529 form C (L anchor bolt)",
            "M6 x 45",
            49.0,
            True,
            False,
        ),
        PartInfo("circlip", "Circlip", "DIN 471", "20", 26.3, False, False),
        PartInfo(
            "internal_tooth_lock_washer",
            "Internal Tooth Lock Washer",
            "DIN 6797 J",
            "M10",
            18.0,
            False,
            True,
        ),
        PartInfo(
            "double_lug_washer", "Double Lug Washer", "DIN 463 / GB 855", "M10", 33.0, False, False
        ),
        PartInfo(
            "square_plug",
            "Square Plug",
            "ASME B16.11 square head plug",
            "1/4 NPT",
            18.0,
            True,
            False,
        ),
        PartInfo("s_hook", "S-hook", "bent wire S-hook", "4 x 50", 48.0, False, False),
        PartInfo(
            "external_tooth_lock_washer",
            "External Tooth Lock Washer",
            "DIN 6797 A",
            "M10",
            18.0,
            False,
            True,
        ),
        PartInfo("hex_head_plug", "Hex Head Plug", "DIN 910", "M16 x 1.5", 23.0, True, False),
        PartInfo(
            "eyelet_self_tapping_screw",
            "Eyelet Self-tapping Screw",
            "DIN 7624 style screw eye",
            "4 x 30",
            50.0,
            True,
            False,
        ),
        PartInfo("heavy_washer", "Heavy Washer", "DIN 7349", "M10", 30.0, False, False),
        PartInfo(
            "locking_tab_washer",
            "Locking Tab Washer",
            "DIN 5406 / GB 858 (MB)",
            "MB4 (M20)",
            36.0,
            False,
            True,
        ),
    )
}

#: The 15 categories in the order of the Open-Industry paper's tables.
PART_NAMES: tuple[str, ...] = tuple(PART_INFO)


#: Flat parts are subdivided up to this many triangles (shape unchanged) so that carving and
#: per-vertex labels have enough vertices everywhere.
MIN_TRIANGLES = 20_000


def part_rng(name: str, seed: int) -> np.random.Generator:
    """The generator for one (category, seed): independent streams per category, stable across
    runs and platforms (crc32 of the name, not Python's salted ``hash``)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def make_part(name: str, seed: int = 0) -> trimesh.Trimesh:
    """A watertight mesh (mm) of category ``name`` for ``seed``, resting on the turntable."""
    from .geometry import refine_to_count, rest_pose, to_trimesh
    from .library import BUILDERS, LAY_DOWN

    if name not in BUILDERS:
        raise InputError(f"unknown part {name!r}; known parts: {', '.join(PART_NAMES)}")
    if int(seed) < 0:
        raise InputError(f"part seed must be non-negative, got {seed}")
    solid = BUILDERS[name](part_rng(name, int(seed)))
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
    return mesh


__all__ = ["PART_INFO", "PART_NAMES", "PartInfo", "make_part", "part_rng"]
