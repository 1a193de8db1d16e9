"""Procedural stand-ins for the 15 Open-Industry part categories (geometry-only build path).

The Open-Industry benchmark (000, §III-B) scans 15 categories of real industrial components.
Until the acquisition stage's part library (``scan2ad.acquisition.parts.make_part``) lands, the
builder's ``synthetic`` source needs one watertight mesh per category with intra-class variation;
these are built from trimesh primitives joined with manifold3d booleans. Dimensions (mm) are
plausible catalogue sizes (DIN washers, split pins, hex plugs); every instance is scaled by a
per-sample factor (±4 %) and some features (tooth count, lug angle, hook gap) vary a little, as
parts from one production line do. The three shapes of :mod:`scan2ad.datasets.synthetic`
(``ring``, ``washer``, ``bracket``) are accepted as well.
"""

from __future__ import annotations

import numpy as np

OPEN_INDUSTRY_CLASSES = (
    "square_taper_washer", "split_pin", "lock_nut", "threaded_nail", "l_shaped_screw", "circlip",
    "internal_tooth_lock_washer", "double_lug_washer", "square_plug", "s_hook",
    "external_tooth_lock_washer", "hex_head_plug", "eyelet_self_tapping_screw", "heavy_washer",
    "locking_tab_washer",
)


def _union(meshes):
    import trimesh

    return trimesh.boolean.union(meshes, engine="manifold")


def _diff(a, b):
    import trimesh

    return trimesh.boolean.difference([a, b], engine="manifold")


def _cyl(r, h, z0=0.0, sections=64):
    import trimesh

    m = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    m.apply_translation((0, 0, z0 + h / 2))
    return m


def _box(ex, ey, ez, x=0.0, y=0.0, z=0.0):
    import trimesh

    m = trimesh.creation.box((ex, ey, ez))
    m.apply_translation((x, y, z))
    return m


def _ring(r_in, r_out, h, sections=96):
    import trimesh

    return trimesh.creation.annulus(r_min=r_in, r_max=r_out, height=h, sections=sections)


def _hex_prism(across_flats, h, z0=0.0):
    import trimesh

    m = trimesh.creation.cylinder(radius=across_flats / np.sqrt(3.0), height=h, sections=6)
    m.apply_translation((0, 0, z0 + h / 2))
    return m


def _threaded_shaft(r, length, pitch, z0=0.0):
    """A shaft with thread crests as stacked tori (a helix is not needed at scan resolution)."""
    import trimesh

    core = _cyl(r * 0.85, length, z0)
    crests = []
    for z in np.arange(z0 + pitch, z0 + length - pitch / 2, pitch):
        t = trimesh.creation.torus(major_radius=r * 0.85, minor_radius=r * 0.15,
                                   major_sections=48, minor_sections=10)
        t.apply_translation((0, 0, z))
        crests.append(t)
    return _union([core] + crests)


def _teeth_ring(r_in, r_out, h, n, inner: bool, rng):
    """A lock washer: an annulus with ``n`` slots cut from the inner or outer edge."""
    base = _ring(r_in, r_out, h)
    width = 2 * np.pi * (r_in if inner else r_out) / (2 * n)
    slots = []
    depth = 0.35 * (r_out - r_in)
    r_slot = r_in + depth / 2 - 0.01 if inner else r_out - depth / 2 + 0.01
    phase = rng.uniform(0, 2 * np.pi / n)
    for i in range(n):
        a = phase + 2 * np.pi * i / n
        s = _box(depth + 0.02, width, h * 3)
        s.apply_transform(_rot_z(a))
        s.apply_translation((r_slot * np.cos(a), r_slot * np.sin(a), 0))
        slots.append(s)
    return _diff(base, _union(slots))


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def part_mesh(name: str, rng: np.random.Generator):
    """A watertight trimesh of category ``name`` (mm) with intra-class variation drawn from ``rng``."""
    import trimesh
    from scan2ad.datasets import synthetic

    if name in synthetic.SHAPES:
        return synthetic._part_mesh(name, rng)
    s = 1.0 + rng.uniform(-0.04, 0.04)
    if name == "square_taper_washer":
        m = _box(22 * s, 22 * s, 5 * s)
        wedge = _box(40, 40, 10)
        wedge.apply_transform(_rot_x(np.deg2rad(8)))
        wedge.apply_translation((0, 0, 2.5 * s + 5 - 1.2))
        return _diff(_diff(m, wedge), _cyl(6.5 * s, 20, -10))
    if name == "split_pin":
        legs = [_cyl(1.2 * s, 28 * s, 0, 24), _cyl(1.2 * s, 24 * s, 0, 24)]
        legs[0].apply_translation((-1.2 * s, 0, 0))
        legs[1].apply_translation((1.2 * s, 0, 0))
        eye = trimesh.creation.torus(major_radius=3.0 * s, minor_radius=1.2 * s,
                                     major_sections=48, minor_sections=16)
        eye.apply_transform(_rot_x(np.pi / 2))
        eye.apply_translation((0, 0, 28 * s + 2.0 * s))
        return _union(legs + [eye])
    if name == "lock_nut":
        body = _hex_prism(17 * s, 8 * s)
        collar = _cyl(7.6 * s, 4 * s, 8 * s)
        return _diff(_union([body, collar]), _cyl(5.0 * s, 30, -5))
    if name == "threaded_nail":
        head = _cyl(6 * s, 1.5 * s)
        shaft = _threaded_shaft(2.0 * s, 30 * s, 1.6 * s, 1.5 * s)
        tip = trimesh.creation.cone(radius=1.7 * s, height=4 * s, sections=32)
        tip.apply_transform(_rot_x(np.pi))
        tip.apply_translation((0, 0, 1.5 * s + 30 * s - 0.1 + 4 * s))
        tip.apply_translation((0, 0, -4 * s))
        return _union([head, shaft, tip])
    if name == "l_shaped_screw":
        shaft = _threaded_shaft(3.0 * s, 30 * s, 1.25 * s)
        arm = _cyl(3.0 * s, 18 * s * rng.uniform(0.95, 1.05), 0, 48)
        arm.apply_transform(np.array([[0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1.0]]))
        arm.apply_translation((0, 0, 30 * s))
        elbow = trimesh.creation.icosphere(subdivisions=3, radius=3.0 * s)
        elbow.apply_translation((0, 0, 30 * s))
        return _union([shaft, arm, elbow])
    if name == "circlip":
        gap = np.deg2rad(rng.uniform(35, 45))
        ring = _ring(10 * s, 12.5 * s, 1.2 * s)
        cut = _box(8 * s, 2 * 12.5 * s * np.sin(gap / 2), 5, 11 * s, 0, 0)
        lugs, holes = [], []
        for sign in (1, -1):
            a = sign * (gap / 2 + 0.25)
            at = (11.2 * s * np.cos(a), 11.2 * s * np.sin(a), 0)
            lug = _cyl(1.8 * s, 1.2 * s, -0.6 * s, 32)
            lug.apply_translation(at)
            hole = _cyl(0.7 * s, 5, -2.5, 16)
            hole.apply_translation(at)
            lugs.append(lug)
            holes.append(hole)
        return _diff(_union([_diff(ring, cut)] + lugs), _union(holes))
    if name == "internal_tooth_lock_washer":
        return _teeth_ring(6.4 * s, 11 * s, 0.8 * s, int(rng.integers(9, 11)), True, rng)
    if name == "external_tooth_lock_washer":
        return _teeth_ring(6.4 * s, 11 * s, 0.8 * s, int(rng.integers(11, 13)), False, rng)
    if name == "double_lug_washer":
        ring = _ring(5.3 * s, 10 * s, 1.0 * s)
        lugs = []
        for a in (0.0, np.pi + rng.uniform(-0.1, 0.1)):
            lug = _box(12 * s, 6 * s, 1.0 * s, 13 * s, 0, 0)
            lug.apply_transform(_rot_z(a))
            lugs.append(lug)
        return _diff(_union([ring] + lugs), _cyl(5.3 * s, 10, -5))
    if name == "square_plug":
        head = _box(14 * s, 14 * s, 8 * s, 0, 0, 4 * s)
        flange = _cyl(11 * s, 2 * s, 8 * s)
        thread = _threaded_shaft(8 * s, 12 * s, 1.5 * s, 10 * s)
        return _union([head, flange, thread])
    if name == "s_hook":
        parts = []
        for sign in (1, -1):
            t = trimesh.creation.torus(major_radius=8 * s, minor_radius=1.6 * s,
                                       major_sections=64, minor_sections=16)
            t.apply_transform(_rot_x(np.pi / 2))
            t.apply_translation((0, 0, sign * 8 * s))
            half = _box(20 * s, 10, 20 * s, sign * 10 * s * rng.uniform(0.95, 1.0), 0, sign * 8 * s)
            parts.append(_diff(t, half))
        return _union(parts)
    if name == "hex_head_plug":
        head = _hex_prism(19 * s, 7 * s)
        flange = _cyl(11.5 * s, 1.5 * s, 7 * s)
        thread = _threaded_shaft(8 * s, 11 * s, 1.5 * s, 8.5 * s)
        return _union([head, flange, thread])
    if name == "eyelet_self_tapping_screw":
        eye = trimesh.creation.torus(major_radius=5 * s, minor_radius=1.5 * s,
                                     major_sections=64, minor_sections=16)
        eye.apply_transform(_rot_x(np.pi / 2))
        eye.apply_translation((0, 0, 28 * s + 5 * s))
        shaft = _threaded_shaft(2.5 * s, 28 * s, 1.4 * s, 0.0)
        tip = trimesh.creation.cone(radius=2.1 * s, height=4 * s, sections=32)
        tip.apply_transform(_rot_x(np.pi))
        tip.apply_translation((0, 0, 0.1))
        neck = _cyl(1.6 * s, 2 * s, 27 * s)
        return _union([eye, shaft, tip, neck])
    if name == "heavy_washer":
        return _ring(8.4 * s, 20 * s, 4 * s)
    if name == "locking_tab_washer":
        ring = _ring(8.5 * s, 14 * s, 0.8 * s)
        tab = _box(5 * s, 4 * s, 0.8 * s, 0, -8.0 * s, 0)
        ear = _box(6 * s, 8 * s, 0.8 * s, 16 * s, 0, 0)
        bent = _box(6 * s, 0.8 * s, 6 * s, 16 * s, 4 * s, 3 * s)
        return _union([ring, tab, ear, bent])
    raise ValueError(f"unknown part category {name!r} "
                     f"(known: {', '.join(OPEN_INDUSTRY_CLASSES + synthetic.SHAPES)})")


KNOWN_PARTS = OPEN_INDUSTRY_CLASSES
