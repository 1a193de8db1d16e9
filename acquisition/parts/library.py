"""The 15 Open-Industry part categories as parametric solids.

Open-Industry (seed paper 000, §B "Data Description") scans 15 categories of real fasteners and
washers; the paper gives their names and photographs only, no dimensions. Where a name maps to a
standard part the builder follows that standard's nominal size (cited per builder) and draws each
dimension uniformly inside its tolerance band, plus small manufacturing variation (tooth twist,
flatness, leg splay, bend angles); ``make_part(..., variation)`` scales every such draw towards
its band's centre (one production batch instead of the whole band). Where the paper is silent
on which variant is meant (e.g. "Locking Tab Washer"), the docstring says which standard was
chosen.

Every builder takes a ``numpy.random.Generator`` and returns a manifold3d ``Manifold`` in its
design orientation (axis along z, flat side down); ``scan2ad.acquisition.parts.make_part`` then
puts it in its resting pose on the turntable.
"""

from __future__ import annotations

import numpy as np
from manifold3d import CrossSection, Manifold

from .geometry import (
    arc,
    circle,
    cone,
    cylinder,
    extrude,
    helical_thread,
    iso_thread_profile,
    join_paths,
    polygon,
    regular_polygon,
    revolve,
    segments_for,
    sweep,
)


def _tol(rng: np.random.Generator, nominal: float, lower: float, upper: float) -> float:
    """A dimension drawn uniformly in [nominal + lower, nominal + upper] (a tolerance band)."""
    return float(nominal + rng.uniform(lower, upper))


def _hex_chamfered(
    s: float, height: float, z0: float, chamfer_top: bool, chamfer_bottom: bool
) -> Manifold:
    """Hexagon prism across flats ``s`` with the usual 30° chamfer of the corners, the chamfer
    cone starting at the bearing-face diameter d_w ≈ 0.95 s (ISO 4032)."""
    hexa = extrude(regular_polygon(s, 6), height, z0)
    e = s / np.cos(np.pi / 6.0)
    r0, r1 = 0.95 * s / 2.0, e / 2.0 + 1.0
    rise = (r1 - r0) * np.tan(np.deg2rad(30.0))
    seg = segments_for(r1)
    z_top = z0 + height
    lo = (
        [(0.0, z0), (r0, z0), (r1, z0 + rise)]
        if chamfer_bottom
        else [(0.0, z0 - 1.0), (r1, z0 - 1.0)]
    )
    hi = (
        [(r1, z_top - rise), (r0, z_top), (0.0, z_top)]
        if chamfer_top
        else [(r1, z_top + 1.0), (0.0, z_top + 1.0)]
    )
    return hexa ^ revolve(lo + hi, seg)


# --------------------------------------------------------------------------- washers


def square_taper_washer(rng: np.random.Generator) -> Manifold:
    """DIN 434 square taper washer for U-channel flanges, size M12: 26 × 26 mm (js16), hole
    13.5 mm (H14), 8 % slope on the top face, mean thickness 4.9 mm, corners rounded. Flat face
    down."""
    a = _tol(rng, 26.0, -0.3, 0.3)
    b = _tol(rng, 26.0, -0.3, 0.3)
    d = _tol(rng, 13.5, 0.0, 0.43)
    t_mid = _tol(rng, 4.9, -0.25, 0.25)
    slope = _tol(rng, 0.08, -0.004, 0.004)
    corner = _tol(rng, 1.0, -0.3, 0.3)
    # Side profile in (x, z): thickness grows along +x.
    t0, t1 = t_mid - slope * a / 2.0, t_mid + slope * a / 2.0
    side = polygon([(-a / 2.0, 0.0), (a / 2.0, 0.0), (a / 2.0, t1), (-a / 2.0, t0)])
    block = Manifold.extrude(side, b).rotate([90.0, 0.0, 0.0]).translate([0.0, b / 2.0, 0.0])
    square = CrossSection.square([a - 2 * corner, b - 2 * corner], center=True).offset(
        corner, circular_segments=32
    )
    body = block ^ extrude(square, t1 + 1.0, -0.5)
    hole = cylinder(d / 2.0, -1.0, t1 + 1.0)
    # 45° countersink-like edge break of the hole on the sloped face.
    hole = hole + cone(d / 2.0, d / 2.0 + 1.5, t_mid - 0.6, t_mid + 0.9)
    return body - hole


def heavy_washer(rng: np.random.Generator) -> Manifold:
    """DIN 7349 heavy-duty washer, size M10: d1 = 10.5 (H14), d2 = 30 (h14), h = 6 mm (±0.3),
    outer edges broken 0.5–0.8 mm × 45°, hole edge 0.3 mm."""
    d1 = _tol(rng, 10.5, 0.0, 0.43)
    d2 = _tol(rng, 30.0, -0.52, 0.0)
    h = _tol(rng, 6.0, -0.3, 0.3)
    c_out_top, c_out_bot = _tol(rng, 0.65, -0.15, 0.15), _tol(rng, 0.65, -0.15, 0.15)
    c_in = _tol(rng, 0.3, -0.1, 0.1)
    r1, r2 = d1 / 2.0, d2 / 2.0
    prof = [
        (r1 + c_in, 0.0),
        (r2 - c_out_bot, 0.0),
        (r2, c_out_bot),
        (r2, h - c_out_top),
        (r2 - c_out_top, h),
        (r1 + c_in, h),
        (r1, h - c_in),
        (r1, c_in),
    ]
    body = revolve(prof, segments_for(r2, 0.35, hi=256))
    return _dish(body, rng, 0.04)


def _dish(solid: Manifold, rng: np.random.Generator, amplitude: float) -> Manifold:
    """Flatness error of a stamped/ground washer: a random saddle + dish of ≤ ``amplitude`` mm."""
    a, b, c = rng.uniform(-1.0, 1.0, 3) * amplitude
    lo, hi = solid.bounding_box()[:3], solid.bounding_box()[3:]
    rad = max(hi[0] - lo[0], hi[1] - lo[1]) / 2.0

    def warp(p):
        x, y = p[0] / rad, p[1] / rad
        return [p[0], p[1], p[2] + a * (x * x + y * y) + b * (x * x - y * y) + c * x * y]

    return solid.warp(warp)


def _tooth_washer(rng: np.random.Generator, external: bool) -> Manifold:
    """DIN 6797 tooth lock washer, size M10 (d1 = 10.5, d2 = 18, s = 0.9 mm), 9 teeth. Form A has
    the teeth on the outside, form J on the inside.

    The blank is stamped flat (annulus with 9 tapered slots reaching ≈ 45 % into the strip), then
    each tooth is twisted about its radial centre line by 12–18°, all in the same sense, as the
    setting die does; the twist ramps in over the first 0.8 mm of the tooth so the tooth stays one
    piece with the ring. This gives the part its bite and a height of ≈ 1.6 s."""
    d1 = _tol(rng, 10.5, 0.0, 0.36)
    d2 = _tol(rng, 18.0, -0.43, 0.0)
    s = _tol(rng, 0.9, -0.05, 0.05)
    n = 9
    r1, r2 = d1 / 2.0, d2 / 2.0
    span = r2 - r1
    seg = segments_for(r2, 0.2, hi=288)
    blank = circle(r2, segments=seg) - circle(r1, segments=seg)
    if external:
        r_root, r_edge = r1 + 0.45 * span, r2
    else:
        r_root, r_edge = r2 - 0.45 * span, r1
    phase = rng.uniform(0.0, 2.0 * np.pi)
    centres = phase + 2.0 * np.pi * np.arange(n) / n + rng.normal(0.0, 0.004, n)
    slot_root, slot_edge = (
        _tol(rng, 0.6, -0.05, 0.05),
        _tol(rng, 2.2 if external else 1.3, -0.1, 0.1),
    )
    direction = 1.0 if external else -1.0
    slots = CrossSection()
    for c in centres:
        mid = c + np.pi / n  # slots sit between teeth
        radial, tangential = (
            np.array([np.cos(mid), np.sin(mid)]),
            np.array([-np.sin(mid), np.cos(mid)]),
        )
        far = r_edge + direction * 1.0
        pts = [
            r_root * radial - slot_root / 2 * tangential,
            far * radial - (slot_edge / 2 + 0.1) * tangential,
            far * radial + (slot_edge / 2 + 0.1) * tangential,
            r_root * radial + slot_root / 2 * tangential,
        ]
        slots = (
            slots + polygon(pts) + circle(slot_root / 2, centre=tuple(r_root * radial), segments=16)
        )
    body = extrude(blank - slots, s, -s / 2.0).refine_to_length(0.3)
    twist = np.deg2rad(rng.uniform(12.0, 18.0, n))
    ramp = 0.8

    def set_teeth(p: np.ndarray) -> np.ndarray:
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        r = np.hypot(x, y)
        ang = np.arctan2(y, x)
        k = np.round((ang - phase) / (2.0 * np.pi / n)).astype(int) % n
        c = centres[k]
        into_tooth = np.clip((r - r_root) * direction / ramp, 0.0, 1.0)
        alpha = twist[k] * into_tooth * into_tooth * (3.0 - 2.0 * into_tooth)  # smoothstep
        # Radial / tangential coordinates w.r.t. the tooth's centre line, rotated about it.
        rad = x * np.cos(c) + y * np.sin(c)
        tan = -x * np.sin(c) + y * np.cos(c)
        tan2 = tan * np.cos(alpha) - z * np.sin(alpha)
        z2 = tan * np.sin(alpha) + z * np.cos(alpha)
        return np.stack(
            [rad * np.cos(c) - tan2 * np.sin(c), rad * np.sin(c) + tan2 * np.cos(c), z2], axis=1
        )

    return body.warp_batch(set_teeth)


def external_tooth_lock_washer(rng: np.random.Generator) -> Manifold:
    return _tooth_washer(rng, external=True)


def internal_tooth_lock_washer(rng: np.random.Generator) -> Manifold:
    return _tooth_washer(rng, external=False)


def _rounded_tab(width: float, start: float, end: float, corner: float) -> CrossSection:
    """A tab along +x from ``start`` to ``end`` with rounded outer corners."""
    core = CrossSection.square([end - start - 2 * corner, width - 2 * corner]).translate(
        [start + corner, -width / 2 + corner]
    )
    return core.offset(corner, circular_segments=24)


def double_lug_washer(rng: np.random.Generator) -> Manifold:
    """DIN 463 / GB 855 tab washer with two tabs (a long and a short one at 90°), size M10:
    d1 = 10.5, washer Ø 22, s = 1.0 mm, tab width 10, long tab 22 mm and short tab 15.5 mm from the
    centre. Supplied flat; a tab bent up slightly by handling is the manufacturing variation."""
    d1 = _tol(rng, 10.5, 0.0, 0.36)
    dw = _tol(rng, 22.0, -0.3, 0.0)
    s = _tol(rng, 1.0, -0.06, 0.06)
    b = _tol(rng, 10.0, -0.2, 0.0)
    l_long = _tol(rng, 22.0, -0.3, 0.3)
    l_short = _tol(rng, 15.5, -0.3, 0.3)
    outline = circle(dw / 2.0, segments=160)
    outline = (
        outline
        + _rounded_tab(b, 0.0, l_long, 1.0)
        + _rounded_tab(b, 0.0, l_short, 1.0).rotate(90.0)
    )
    outline = outline - circle(d1 / 2.0, segments=128)
    body = extrude(outline, s)
    return _bend_tab(body, rng, along=np.array([1.0, 0.0]), start=dw / 2.0 + 1.0, max_deg=4.0)


def _bend_tab(
    solid: Manifold, rng: np.random.Generator, along: np.ndarray, start: float, max_deg: float
) -> Manifold:
    """Lift everything beyond ``start`` along the 2-D direction ``along`` by a small bend angle."""
    angle = np.deg2rad(rng.uniform(0.0, max_deg))
    ax, ay = along

    def warp(p):
        t = p[0] * ax + p[1] * ay - start
        return [p[0], p[1], p[2] + (np.tan(angle) * t if t > 0 else 0.0)]

    return solid.warp(warp)


def locking_tab_washer(rng: np.random.Generator) -> Manifold:
    """DIN 5406 / GB 858 tab washer for slotted round nuts (type MB), size MB4 (M20): bore
    20.5 mm with one inner tab (width 4.8, reaching to Ø 18.5) that runs in the shaft keyway, ring
    Ø 26, and 11 outer tabs (width 4.8) to Ø 36 that are bent into the nut's slots; s = 1.0 mm.
    The paper does not say which "locking tab washer" it scanned; MB is the common one with tabs."""
    d = _tol(rng, 20.5, 0.0, 0.2)
    d_ring = _tol(rng, 26.0, -0.2, 0.2)
    d_out = _tol(rng, 36.0, -0.4, 0.0)
    s = _tol(rng, 1.0, -0.06, 0.06)
    w = _tol(rng, 4.8, -0.2, 0.0)
    inner_reach = _tol(rng, 18.5, -0.2, 0.2) / 2.0
    n_tabs = 11
    outline = circle(d_ring / 2.0, segments=192)
    phase = rng.uniform(0.0, 360.0 / n_tabs)
    for i in range(n_tabs):
        tab = _rounded_tab(w, d_ring / 2.0 - 1.0, d_out / 2.0, 0.5).rotate(
            phase + i * 360.0 / n_tabs
        )
        outline = outline + tab
    outline = outline - circle(d / 2.0, segments=192)
    # Inner tab at 180°/n from an outer tab (between two slots) as in DIN 5406.
    inner = CrossSection.square([d / 2.0 - inner_reach + 0.5, w]).translate([inner_reach, -w / 2.0])
    outline = outline + inner.rotate(phase + 180.0 / n_tabs)
    body = extrude(outline, s)
    tab_dir = np.deg2rad(phase)
    return _bend_tab(
        body,
        rng,
        along=np.array([np.cos(tab_dir), np.sin(tab_dir)]),
        start=d_ring / 2.0,
        max_deg=3.0,
    )


def circlip(rng: np.random.Generator) -> Manifold:
    """DIN 471 external retaining ring for a Ø 20 shaft: s = 1.2 (h11), free inner Ø d3 = 18.5,
    radial width b ≈ 2.6 at the back tapering towards the ends, lug height a = 4.0 with Ø 2.0
    assembly holes, opening ≈ 3 mm. The eccentric outer contour is the standard's constant-
    pressure shape; a small out-of-plane wind-up is the manufacturing variation."""
    s = _tol(rng, 1.2, -0.06, 0.0)
    d3 = _tol(rng, 18.5, -0.21, 0.21)
    b_back = _tol(rng, 2.6, -0.1, 0.1)
    b_end = _tol(rng, 1.6, -0.1, 0.1)
    a = _tol(rng, 4.0, -0.15, 0.15)
    d5 = _tol(rng, 2.0, 0.0, 0.1)
    gap_deg = _tol(rng, 22.0, -3.0, 3.0)
    ri = d3 / 2.0
    r_out = ri + (b_back + b_end) / 2.0
    ecc = (b_back - b_end) / 2.0
    seg = 192
    ring = circle(r_out, centre=(0.0, -ecc), segments=seg) - circle(ri, segments=seg)
    # The opening is at +y; each end carries a lug with an assembly hole.
    lugs, holes = CrossSection(), CrossSection()
    for sign in (-1.0, 1.0):
        ang = np.deg2rad(90.0 + sign * (gap_deg / 2.0 + 8.0))
        centre = ((ri + a / 2.0) * np.cos(ang), (ri + a / 2.0) * np.sin(ang))
        lug = CrossSection.batch_hull(
            [
                circle(a / 2.0 * 0.95, centre=centre, segments=64),
                circle(
                    b_end / 2.0,
                    centre=(
                        (ri + b_end / 2.0) * np.cos(ang - sign * 0.5),
                        (ri + b_end / 2.0) * np.sin(ang - sign * 0.5),
                    ),
                    segments=48,
                ),
            ]
        )
        lugs = lugs + lug
        holes = holes + circle(d5 / 2.0, centre=centre, segments=48)
    wedge_half = np.deg2rad(gap_deg / 2.0)
    big = 3.0 * (ri + a)
    wedge = polygon(
        [
            (0.0, 0.0),
            (big * np.sin(-wedge_half), big * np.cos(wedge_half)),
            (big * np.sin(wedge_half), big * np.cos(wedge_half)),
        ]
    )
    outline = (ring + lugs) - wedge - holes - circle(ri, segments=seg)
    body = extrude(outline, s)
    lift = rng.uniform(0.0, 0.25)

    def wind_up(p):  # the two ends separate axially a little (helical wind-up)
        theta = np.arctan2(-p[0], -p[1])  # 0 at the back, ±π at the opening
        return [p[0], p[1], p[2] + lift * theta / np.pi]

    return body.warp(wind_up)


# --------------------------------------------------------------------------- threaded parts


def lock_nut(rng: np.random.Generator) -> Manifold:
    """DIN 985 / ISO 10511 prevailing-torque hex nut with non-metallic insert, M10: s = 17
    (16.73–17), height h = 10 (9.64–10), hexagon part m_w ≈ 6.5, domed collar holding the nylon
    ring (bore ≈ minor diameter, unthreaded), ISO M10 × 1.5 internal thread with 120° countersink."""
    s = _tol(rng, 17.0, -0.27, 0.0)
    h = _tol(rng, 10.0, -0.36, 0.0)
    m_hex = _tol(rng, 6.5, -0.2, 0.2)
    pitch = 1.5
    major = 10.0
    collar_r = s * _tol(rng, 0.46, -0.005, 0.005)
    nylon_r = _tol(rng, 4.05, -0.1, 0.05)
    hexa = _hex_chamfered(s, m_hex, 0.0, chamfer_top=False, chamfer_bottom=True)
    seg = segments_for(collar_r, 0.3)
    collar = revolve(
        [
            (0.0, m_hex - 0.1),
            (collar_r, m_hex - 0.1),
            (collar_r, h - 1.6),
            (collar_r - 0.5, h - 0.6),
            (collar_r - 1.4, h),
            (0.0, h),
        ],
        seg,
    )
    body = hexa + collar
    u, r = iso_thread_profile(major, pitch, internal=True)
    tap = helical_thread(u, r, pitch, -1.0, m_hex, angular=96)
    tap = tap + cone(
        major / 2.0 + 0.6, 0.0, -0.01, major / 2.0 + 0.6
    )  # 120° countersink (approx. 90° here)
    bore = cylinder(nylon_r, m_hex - 0.5, h + 1.0, segments=96)
    return body - tap - bore


def _external_thread_rod(
    major: float, pitch: float, z0: float, z1: float, angular: int = 64, radius_scale=None
) -> Manifold:
    u, r = iso_thread_profile(major, pitch)
    return helical_thread(u, r, pitch, z0, z1, angular=angular, radius_scale=radius_scale)


def hex_head_plug(rng: np.random.Generator) -> Manifold:
    """DIN 910 hexagon head screw plug with collar, M16 × 1.5: hexagon s = 21, head height 8 of
    which a Ø 23 × 3 collar, thread length 12 with a 45° lead chamfer and a thread undercut.
    Stands on its head."""
    s = _tol(rng, 21.0, -0.33, 0.0)
    k_hex = _tol(rng, 5.0, -0.15, 0.15)
    collar_d = _tol(rng, 23.0, -0.3, 0.0)
    collar_t = _tol(rng, 3.0, -0.1, 0.1)
    length = _tol(rng, 12.0, -0.2, 0.2)
    major = _tol(rng, 16.0, -0.25, -0.03)
    pitch = 1.5
    hexa = _hex_chamfered(s, k_hex, 0.0, chamfer_top=False, chamfer_bottom=True)
    z_c = k_hex
    seg = segments_for(collar_d / 2.0, 0.3)
    collar = revolve(
        [
            (0.0, z_c - 0.05),
            (collar_d / 2.0 - 0.3, z_c - 0.05),
            (collar_d / 2.0, z_c + 0.25),
            (collar_d / 2.0, z_c + collar_t),
            (0.0, z_c + collar_t),
        ],
        seg,
    )
    z_t = z_c + collar_t
    undercut = 1.6
    neck = cylinder(major / 2.0 - 1.0, z_t - 0.05, z_t + undercut + 0.05, segments=128)
    thread = _external_thread_rod(major, pitch, z_t + undercut, z_t + length, angular=96)
    tip = revolve(
        [
            (0.0, z_t),
            (major / 2.0 + 1.0, z_t),
            (major / 2.0 + 1.0, z_t + length - 1.4),
            (major / 2.0 - 1.4, z_t + length),
            (0.0, z_t + length),
        ],
        128,
    )
    return hexa + collar + neck + (thread ^ tip)


def square_plug(rng: np.random.Generator) -> Manifold:
    """Square head pipe plug, 1/4" NPT (ASME B16.11): 18 TPI (P = 1.411 mm) taper thread 1:16 on
    diameter, Ø ≈ 13.6 mm at the gauge plane, 10 mm thread, square head 9.5 mm across flats and
    7.5 mm high with the corners turned off (chamfer cone). Stands on its head."""
    s = _tol(rng, 9.5, -0.2, 0.1)
    k = _tol(rng, 7.5, -0.3, 0.3)
    length = _tol(rng, 10.0, -0.3, 0.3)
    major = _tol(rng, 13.6, -0.1, 0.1)
    pitch = 25.4 / 18.0
    head = extrude(regular_polygon(s, 4, 45.0), k)
    e = s * np.sqrt(2.0)
    corner_cut = revolve(
        [
            (0.0, -0.1),
            (e / 2.0 - 0.9, -0.1),
            (e / 2.0 + 0.4, 1.2),
            (e / 2.0 + 0.4, k - 1.2),
            (e / 2.0 - 0.9, k + 0.1),
            (0.0, k + 0.1),
        ],
        segments_for(e / 2.0),
    )
    head = head ^ corner_cut
    neck = cylinder(major / 2.0 - 1.2, k - 0.05, k + 0.8, segments=96)
    z0 = k + 0.6

    def taper(z):  # 1:16 on diameter, large end at the head
        return 1.0 - (z - z0) / 32.0 / (major / 2.0)

    thread = _external_thread_rod(major, pitch, z0, z0 + length, angular=96, radius_scale=taper)
    tip = revolve(
        [
            (0.0, z0),
            (major, z0),
            (major, z0 + length - 1.0),
            (major / 2.0 - 1.6, z0 + length),
            (0.0, z0 + length),
        ],
        128,
    )
    return head + neck + (thread ^ tip)


def threaded_nail(rng: np.random.Generator) -> Manifold:
    """Helically threaded (screw-shank) nail 3.4 × 50 mm (EN 14592 style): flat head Ø 8 with a
    conical underside, plain shank, 32 mm of rolled thread (pitch 1.7 mm, 0.3 mm deep, buttress-
    like), and a four-sided diamond point 5 mm long. Lies on its side."""
    d = _tol(rng, 3.4, -0.05, 0.05)
    length = _tol(rng, 50.0, -1.0, 1.0)
    head_d = _tol(rng, 8.0, -0.2, 0.2)
    head_t = _tol(rng, 1.1, -0.1, 0.1)
    thread_len = _tol(rng, 32.0, -1.5, 1.5)
    pitch = _tol(rng, 1.7, -0.05, 0.05)
    depth = _tol(rng, 0.32, -0.03, 0.03)
    point = _tol(rng, 5.0, -0.4, 0.4)
    r = d / 2.0
    # Design frame: point at z = 0, head at z = length.
    zt = length - head_t
    head = revolve(
        [
            (0.0, zt - 1.2),
            (r + 0.3, zt - 1.2),
            (head_d / 2.0, zt - 0.1),
            (head_d / 2.0, zt + head_t - 0.3),
            (head_d / 2.0 - 0.3, zt + head_t),
            (0.0, zt + head_t),
        ],
        segments_for(head_d / 2.0),
    )
    z_thr0, z_thr1 = 0.0, thread_len
    shank = cylinder(r, z_thr1 - 0.2, zt - 1.0, segments=64)
    # Buttress-like profile: the steep flank faces the head (pull-out resistance).
    u = np.array([0.0, 0.30, 0.62, 0.72]) * pitch
    rr = np.array([r, r, r + depth, r + depth])
    thread = helical_thread(u, rr, pitch, z_thr0, z_thr1, angular=48)
    core = cylinder(r - 0.01, z_thr1 - 0.5, z_thr1 + 0.01, segments=64)
    shaft = thread + core + shank
    # Diamond point: four facets (pyramid) intersected with the shank end.
    half = r + depth + 0.2
    pyramid = Manifold.hull_points(
        np.array(
            [
                [0.0, 0.0, -0.01],
                [half, half, point * 1.42],
                [half, -half, point * 1.42],
                [-half, half, point * 1.42],
                [-half, -half, point * 1.42],
                [half, half, length],
                [half, -half, length],
                [-half, half, length],
                [-half, -half, length],
            ]
        )
    )
    pyramid = pyramid.rotate([0.0, 0.0, 45.0 + rng.uniform(-10, 10)])
    return (shaft ^ pyramid) + head


def l_shaped_screw(rng: np.random.Generator) -> Manifold:
    """L-shaped anchor bolt (DIN 529 form C style), M6: Ø 6 rod, 45 mm straight leg with 20 mm of
    M6 × 1 thread and a 45° lead chamfer, bend of inner radius 4 mm, 16 mm short leg with a
    rounded end. The bend angle varies ±2° (bending tolerance). Lies flat."""
    d = _tol(rng, 6.0, -0.15, -0.02)
    r = d / 2.0
    leg = _tol(rng, 45.0, -1.0, 1.0)
    thread_len = _tol(rng, 20.0, -1.0, 1.0)
    short = _tol(rng, 16.0, -0.8, 0.8)
    bend_r = _tol(rng, 4.0, -0.3, 0.3) + r
    bend_deg = 90.0 + rng.uniform(-2.0, 2.0)
    seg = 96
    # Straight leg along +z from z = bend_r (where the bend starts) up to the threaded end.
    plain = cylinder(r, -0.02, leg - thread_len + 0.02, segments=seg)
    thread = _external_thread_rod(d, 1.0, leg - thread_len, leg, angular=72)
    tip = revolve(
        [(0.0, 0.0), (r + 1.0, 0.0), (r + 1.0, leg - 0.8), (r - 0.9, leg), (0.0, leg)], seg
    )
    straight = plain + (thread ^ tip)
    # Bend: a torus segment in the xz plane about the centre (−bend_r, 0, 0).
    bend = Manifold.revolve(circle(r, centre=(bend_r, 0.0), segments=seg), 2 * seg, bend_deg)
    bend = bend.rotate([-90.0, 0.0, 0.0]).translate([-bend_r, 0.0, 0.0])
    # Short leg: starts at the end of the bend, heads along the bent direction.
    ang = np.deg2rad(bend_deg)
    end = np.array([-bend_r + bend_r * np.cos(ang), 0.0, -bend_r * np.sin(ang)])
    direction = np.array([-np.sin(ang), 0.0, -np.cos(ang)])
    short_leg = cylinder(r, -0.02, short, segments=seg) + Manifold.sphere(r, seg).translate(
        [0.0, 0.0, short]
    )
    tilt = np.rad2deg(np.arctan2(direction[0], direction[2]))
    short_leg = short_leg.rotate([0.0, float(tilt), 0.0]).translate(end.tolist())
    return straight + bend + short_leg


def eyelet_self_tapping_screw(rng: np.random.Generator) -> Manifold:
    """Screw eye (DIN 7624 style) 4 × 30: closed eye of wire Ø 4 with inner Ø 10, a short neck
    collar, and a 30 mm shank with a self-tapping (wood) thread: 1.8 mm pitch, 60° sharp-crested
    profile of 0.7 mm depth on a Ø 2.6 core, running on into a gimlet point (core and crest taper
    together over the last 6 mm, the very tip trimmed by a cone)."""
    wire = _tol(rng, 4.0, -0.1, 0.05)
    eye_in = _tol(rng, 10.0, -0.3, 0.3)
    shank_len = _tol(rng, 30.0, -0.8, 0.8)
    major = _tol(rng, 4.0, -0.1, 0.0)
    core_r = _tol(rng, 1.35, -0.05, 0.05)
    pitch = _tol(rng, 1.8, -0.03, 0.03)
    point = _tol(rng, 6.0, -0.5, 0.5)
    rw = wire / 2.0
    r_c = eye_in / 2.0 + rw  # eye centreline radius
    # Eye in the xz plane, centred above the shank (shank along −z from z = 0... built upwards).
    torus = Manifold.revolve(circle(rw, centre=(r_c, 0.0), segments=48), 128)
    torus = torus.rotate([90.0, 0.0, 0.0]).translate([0.0, 0.0, shank_len + r_c])
    neck = revolve(
        [
            (0.0, shank_len - 3.0),
            (rw + 0.6, shank_len - 3.0),
            (rw + 0.6, shank_len - 0.6),
            (rw, shank_len + 1.5),
            (0.0, shank_len + 1.5),
        ],
        96,
    )
    plain_end = shank_len * 0.3
    plain = cylinder(rw * 0.98, shank_len - plain_end, shank_len - 2.9, segments=72)
    u = np.array([0.0, 0.3, 0.65]) * pitch
    rr = np.array([core_r, core_r, major / 2.0])

    def gimlet_taper(z):  # the thread runs on into the point, core and crest shrinking together
        t = np.clip(z / point, 0.0, 1.0)
        return 0.12 + 0.88 * t * (2.0 - t)

    thread = helical_thread(
        u, rr, pitch, 0.0, shank_len - plain_end + 0.3, angular=64, radius_scale=gimlet_taper
    )
    gimlet = revolve(
        [
            (0.0, 0.0),
            (0.15, 0.0),
            (major / 2.0 + 0.4, 0.4 * point),
            (major / 2.0 + 0.4, shank_len),
            (0.0, shank_len),
        ],
        72,
    )
    shank = thread ^ gimlet
    return torus + neck + plain + shank


# --------------------------------------------------------------------------- bent wire


def split_pin(rng: np.random.Generator) -> Manifold:
    """ISO 1234 split pin 3.2 × 25: half-round wire folded back on itself, actual Ø d = 2.7–2.9 mm
    across both legs, eye Ø c = 5.1–5.8 mm, legs 25 mm (long) and ≈ 22 mm (short, b ≈ 6.4 → the
    long leg passes the short one by ≈ 3 mm), ends cut square. The slit between the legs is kept
    at 0.08 mm (a real split pin's slit is visible). Leg splay of up to 0.6° is the variation."""
    d = _tol(rng, 2.8, -0.1, 0.1)
    c = _tol(rng, 5.45, -0.35, 0.35)
    l_long = _tol(rng, 25.0, -1.0, 1.0)
    l_short = l_long - _tol(rng, 3.0, -0.5, 0.5)
    gap = 0.04
    splay = np.deg2rad(rng.uniform(0.0, 0.6))
    # Half-round section in (left normal, binormal): flat face at n = −gap, bulge towards −n.
    phi = np.linspace(0.0, np.pi, 25)
    sec = np.stack(
        [-gap - d / 2.0 * np.sin(phi), d / 2.0 * np.cos(phi)], 1
    )  # closed by the flat face
    r_eye = c / 2.0 - d / 2.0  # centreline (flat face) radius of the eye
    rho = max(r_eye, 0.75 * d)  # neck bend radius: above the half-round's depth to stay embedded
    xc = np.sqrt(r_eye**2 + 2.0 * rho * r_eye)
    ja = np.rad2deg(np.arctan2(rho, xc))  # joint angle seen from the neck-arc centre
    neck_in = arc((0.0, -rho), rho, 90.0, ja)
    jpt = neck_in[-1]
    a0 = np.rad2deg(np.arctan2(jpt[1], jpt[0] - xc))
    eye = arc((xc, 0.0), r_eye, a0, -a0)
    neck_out = arc((0.0, rho), rho, -ja, -90.0)
    n_leg = 60
    x1 = np.linspace(-l_long, 0.0, n_leg)
    leg1 = np.stack([x1, -np.tan(splay) * (-x1) * 0.5, np.zeros_like(x1)], 1)
    x2 = np.linspace(0.0, -l_short, n_leg)
    leg2 = np.stack([x2, np.tan(splay) * (-x2) * 0.5, np.zeros_like(x2)], 1)
    path = join_paths(leg1, neck_in, eye, neck_out, leg2)
    return sweep(path, sec)


def s_hook(rng: np.random.Generator) -> Manifold:
    """S-hook from Ø 4 mm round wire, ≈ 50 mm long: two opposed hooks (inner radii 10 and 8.5 mm)
    each closing over ≈ 250°, ends cut and deburred (rounded). The two hooks are twisted slightly
    out of plane (≤ 0.4 mm), as hand-bent hooks are."""
    d = _tol(rng, 4.0, -0.1, 0.05)
    rw = d / 2.0
    r1 = _tol(rng, 10.0, -0.3, 0.3) + rw
    r2 = _tol(rng, 8.5, -0.3, 0.3) + rw
    span1 = _tol(rng, 250.0, -8.0, 8.0)
    span2 = _tol(rng, 250.0, -8.0, 8.0)
    # Upper hook centred at (0, r1) passing through the origin heading +x; lower at (0, −r2).
    lower = arc((0.0, -r2), r2, 90.0 + span2, 90.0, step_mm=0.3)
    upper = arc((0.0, r1), r1, -90.0, -90.0 + span1, step_mm=0.3)
    path = join_paths(lower, upper)
    wobble = rng.uniform(-0.4, 0.4, 2)
    y = path[:, 1]
    path[:, 2] = np.where(y > 0, wobble[0] * (y / (2 * r1)) ** 2, wobble[1] * (y / (2 * r2)) ** 2)
    phi = np.linspace(0.0, 2.0 * np.pi, 40, endpoint=False)
    sec = np.stack([rw * np.cos(phi), rw * np.sin(phi)], 1)
    hook = sweep(path, sec)
    ends = Manifold.sphere(rw, 40).translate(path[0].tolist()) + Manifold.sphere(rw, 40).translate(
        path[-1].tolist()
    )
    return hook + ends


#: Rotation (degrees about x, y, z) from the design frame to the orientation the part is put on
#: the table in before it settles; long parts are laid on their side.
LAY_DOWN: dict[str, tuple[float, float, float]] = {
    "threaded_nail": (0.0, 90.0, 0.0),
    "l_shaped_screw": (90.0, 0.0, 0.0),
    "eyelet_self_tapping_screw": (90.0, 0.0, 0.0),
}

BUILDERS = {
    "square_taper_washer": square_taper_washer,
    "split_pin": split_pin,
    "lock_nut": lock_nut,
    "threaded_nail": threaded_nail,
    "l_shaped_screw": l_shaped_screw,
    "circlip": circlip,
    "internal_tooth_lock_washer": internal_tooth_lock_washer,
    "double_lug_washer": double_lug_washer,
    "square_plug": square_plug,
    "s_hook": s_hook,
    "external_tooth_lock_washer": external_tooth_lock_washer,
    "hex_head_plug": hex_head_plug,
    "eyelet_self_tapping_screw": eyelet_self_tapping_screw,
    "heavy_washer": heavy_washer,
    "locking_tab_washer": locking_tab_washer,
}
