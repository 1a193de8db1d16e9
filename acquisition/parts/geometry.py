"""Solid-modelling primitives for the part library: revolved profiles, extruded outlines,
helical threads, tube sweeps, and the resting pose on the turntable.

Booleans and revolve/extrude come from manifold3d (exact, always-manifold output). What it
lacks is written here, with the reason:

* ``helical_thread`` — a threaded rod as a real helicoid. manifold3d's twisted extrusion can
  make a thread, but it samples the thread profile with the same vertices that make the rod
  round, so a smooth M3 thread costs ~10× the triangles of a helix-aligned grid.
* ``sweep`` — a tube of any cross-section along a 3-D path (split pin, S-hook); manifold3d has
  no sweep.
* ``rest_pose`` — the stable resting pose on a plane; trimesh's ``compute_stable_poses`` is
  randomised (sampled), and parts must be deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import trimesh
from manifold3d import CrossSection, Manifold, Mesh

from scan2ad.errors import Scan2adError


def segments_for(radius: float, chord: float = 0.3, lo: int = 48, hi: int = 192) -> int:
    """Circular segment count keeping chords ≈ ``chord`` mm (a 0.3 mm chord on r = 5 mm deviates
    2 µm from the circle, far below any scanner's noise)."""
    return int(np.clip(np.ceil(2.0 * np.pi * radius / chord), lo, hi)) // 4 * 4


def manifold_from_arrays(vertices: np.ndarray, faces: np.ndarray) -> Manifold:
    """A Manifold from an indexed triangle mesh, flipping the winding when the signed volume is
    negative (builders here produce consistent but not necessarily outward winding)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() < 0.0:
        f = f[:, ::-1]
    solid = Manifold(
        Mesh(
            vert_properties=np.ascontiguousarray(v, dtype=np.float32),
            tri_verts=np.ascontiguousarray(f, dtype=np.uint32),
        )
    )
    if solid.is_empty():
        raise Scan2adError(
            f"mesh with {len(v)} vertices is not a closed manifold ({solid.status()})"
        )
    return solid


def to_trimesh(solid: Manifold) -> trimesh.Trimesh:
    """The Manifold as a trimesh with manifold3d's own vertex indexing. ``process=False`` on
    purpose: booleans leave distinct vertices closer than trimesh's merge tolerance, and merging
    them would break the (correct) topology."""
    mesh = solid.to_mesh()
    vertices = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
    return trimesh.Trimesh(
        vertices=vertices, faces=np.asarray(mesh.tri_verts, dtype=np.int64), process=False
    )


def refine_to_count(solid: Manifold, min_triangles: int) -> Manifold:
    """Split long edges until the solid has at least ``min_triangles`` triangles, so flat parts
    carry enough vertices for defect carving and per-point labels (the shape does not change:
    manifold3d's ``refine_to_length`` only subdivides)."""
    if solid.num_tri() >= min_triangles:
        return solid
    lo, hi = np.asarray(solid.bounding_box()[:3]), np.asarray(solid.bounding_box()[3:])
    length = float(np.max(hi - lo)) / 20.0
    out = solid
    for _ in range(12):
        out = solid.refine_to_length(length)
        if out.num_tri() >= min_triangles:
            break
        length /= 1.4
    return out


def revolve(profile: list[tuple[float, float]] | np.ndarray, segments: int) -> Manifold:
    """Revolve a closed (r, z) outline about the z axis."""
    return Manifold.revolve(CrossSection([np.asarray(profile, dtype=np.float64)]), segments)


def extrude(outline: CrossSection | np.ndarray, height: float, z0: float = 0.0) -> Manifold:
    """Extrude a planar outline (CrossSection or one CCW polygon) from z0 to z0 + height."""
    section = (
        outline if isinstance(outline, CrossSection) else CrossSection([np.asarray(outline, float)])
    )
    return Manifold.extrude(section, height).translate([0.0, 0.0, z0])


def circle(radius: float, centre=(0.0, 0.0), segments: int | None = None) -> CrossSection:
    return CrossSection.circle(radius, segments or segments_for(radius)).translate(list(centre))


def polygon(points) -> CrossSection:
    """A CrossSection from one polygon (either orientation)."""
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:
        pts = pts[::-1]
    return CrossSection([pts])


def regular_polygon(across_flats: float, sides: int, phase_deg: float = 0.0) -> np.ndarray:
    """Vertices of a regular polygon with the given width across flats (hexagon: spanner size s)."""
    r = across_flats / 2.0 / np.cos(np.pi / sides)
    angles = np.deg2rad(phase_deg) + 2.0 * np.pi * np.arange(sides) / sides
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


def cylinder(radius: float, z0: float, z1: float, segments: int | None = None) -> Manifold:
    return Manifold.cylinder(z1 - z0, radius, radius, segments or segments_for(radius)).translate(
        [0, 0, z0]
    )


def cone(r0: float, r1: float, z0: float, z1: float, segments: int | None = None) -> Manifold:
    return Manifold.cylinder(z1 - z0, r0, r1, segments or segments_for(max(r0, r1))).translate(
        [0, 0, z0]
    )


def iso_thread_profile(
    major: float, pitch: float, internal: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """ISO 68-1 basic profile, one pitch: (u, r) corners with u ∈ [0, P), root flat first.

    External threads: flank depth 5/8·H (H = 0.866 P) with a P/8 crest flat and P/4 root flat.
    Internal (the tap subtracted from a nut) swaps the flats and adds 0.05 P clearance so the
    nut's crest sits at the minor diameter D1 = D − 1.0825 P.
    """
    h = 0.866025 * pitch
    if internal:
        r_root, r_crest = major / 2.0 + 0.05 * pitch, major / 2.0 - 5.0 / 8.0 * h
        root, crest = pitch / 8.0, pitch / 4.0
        u = np.array(
            [0.0, crest, crest + (pitch - root - crest) / 2.0, pitch - (pitch - root - crest) / 2.0]
        )
        r = np.array([r_crest, r_crest, r_root, r_root])
        return u, r
    r_crest, r_root = major / 2.0, major / 2.0 - 5.0 / 8.0 * h * 1.1
    root, crest = pitch / 4.0, pitch / 8.0
    flank = (pitch - root - crest) / 2.0
    return np.array([0.0, root, root + flank, root + flank + crest]), np.array(
        [r_root, r_root, r_crest, r_crest]
    )


def helical_thread(
    profile_u: np.ndarray,
    profile_r: np.ndarray,
    pitch: float,
    z0: float,
    z1: float,
    angular: int = 64,
    right_hand: bool = True,
    radius_scale=None,
) -> Manifold:
    """A threaded rod from z0 to z1: the surface r = f((z − z0 − θP/2π) mod P) where f is the
    periodic piecewise-linear axial profile through (profile_u, profile_r).

    The vertex grid follows the helix (every vertex row is one helix at one profile point), so a
    trapezoidal thread needs only its 4 corners per pitch and ``angular`` vertices per turn. The
    helicoid strip is made over extra turns, its two ragged ends closed by fans to the axis (each
    fan is a ramp inside the core, so the shell stays embedded), then trimmed flat to [z0, z1] by
    a boolean. ``radius_scale(z) -> factor`` tapers the rod (pipe threads).
    """
    u = np.asarray(profile_u, dtype=np.float64)
    r = np.asarray(profile_r, dtype=np.float64)
    n_u = len(u)
    if n_u < 2 or np.any(np.diff(u) <= 0) or u[0] < 0 or u[-1] >= pitch:
        raise Scan2adError("thread profile u must increase within [0, pitch)")
    turns = int(np.ceil((z1 - z0) / pitch)) + 3
    k_max = turns * angular
    zs = z0 - 2.0 * pitch  # a whole number of pitches: u = 0 at θ = 0, z = z0
    k = np.arange(k_max + 1)
    theta = 2.0 * np.pi * k / angular
    z = zs + u[None, :] + pitch * k[:, None] / angular  # (K+1, n_u)
    rad = np.broadcast_to(r[None, :], z.shape).copy()
    if radius_scale is not None:
        rad = rad * radius_scale(z)
    xs = rad * np.cos(theta)[:, None]
    ys = rad * np.sin(theta)[:, None]
    verts = np.stack([xs, ys, z], axis=-1).reshape(-1, 3)

    def vid(kk, mm):
        kk = np.asarray(kk) + (np.asarray(mm) // n_u) * angular
        return kk * n_u + np.asarray(mm) % n_u

    kk, mm = np.meshgrid(np.arange(k_max), np.arange(n_u), indexing="ij")
    keep = ~((mm == n_u - 1) & (kk + 1 + angular > k_max))
    kk, mm = kk[keep], mm[keep]
    a, b, c, d = vid(kk, mm), vid(kk + 1, mm), vid(kk + 1, mm + 1), vid(kk, mm + 1)
    faces = [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]

    # Bottom loop: the first turn's lower edge, then down the θ = 0 profile.
    bottom = [vid(i, 0) for i in range(angular + 1)] + [vid(0, m) for m in range(n_u - 1, 0, -1)]
    top_start = k_max - angular
    top = [vid(i, n_u - 1) for i in range(top_start, k_max + 1)] + [
        vid(k_max, m) for m in range(n_u - 2, -1, -1)
    ]
    apex_lo, apex_hi = len(verts), len(verts) + 1
    verts = np.vstack([verts, [0.0, 0.0, z[0, 0]], [0.0, 0.0, z[-1, -1]]])
    for loop, apex, flip in ((bottom, apex_lo, True), (top, apex_hi, False)):
        loop = np.asarray(loop)
        nxt = np.roll(loop, -1)
        fan = (
            np.stack([np.full_like(loop, apex), nxt, loop], 1)
            if flip
            else np.stack([np.full_like(loop, apex), loop, nxt], 1)
        )
        faces.append(fan)
    faces = np.vstack(faces)
    rod = manifold_from_arrays(verts, faces)
    if not right_hand:
        rod = rod.mirror([1.0, 0.0, 0.0])
    extent = float(np.max(rad)) * 2.0 + 2.0
    return rod ^ Manifold.cube([extent, extent, z1 - z0], center=True).translate(
        [0, 0, (z0 + z1) / 2.0]
    )


def path_frames(path: np.ndarray, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangent, normal, binormal along a polyline; the binormal stays close to ``up`` (for the
    nearly planar wire parts this keeps a half-round section's flat face in the path plane)."""
    t = np.gradient(path, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n = np.cross(np.asarray(up, float), t)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    b = np.cross(t, n)
    return t, n, b


def sweep(path: np.ndarray, section: np.ndarray, up=(0.0, 0.0, 1.0)) -> Manifold:
    """A tube: the closed 2-D ``section`` (coordinates along the left normal and the binormal)
    carried along ``path`` and capped at both ends. The caller keeps the bend radius larger than
    the section's extent towards the bend centre (otherwise the tube would self-intersect)."""
    path = np.asarray(path, dtype=np.float64)
    sec = np.asarray(section, dtype=np.float64)
    _, n, b = path_frames(path, up)
    rings = path[:, None, :] + sec[None, :, 0:1] * n[:, None, :] + sec[None, :, 1:2] * b[:, None, :]
    n_path, n_sec = rings.shape[:2]
    verts = rings.reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n_path - 1), np.arange(n_sec), indexing="ij")
    jn = (j + 1) % n_sec
    a, bb, c, d = i * n_sec + j, (i + 1) * n_sec + j, (i + 1) * n_sec + jn, i * n_sec + jn
    faces = [np.stack([a, bb, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    centre = sec.mean(axis=0)
    caps = []
    # Caps run each end ring against the direction the tube's quads run it (consistent winding).
    for end, ring_start, flip in ((0, 0, False), (n_path - 1, (n_path - 1) * n_sec, True)):
        cpt = path[end] + centre[0] * n[end] + centre[1] * b[end]
        caps.append(cpt)
        idx = len(verts) + len(caps) - 1
        ring = ring_start + np.arange(n_sec)
        nxt = ring_start + (np.arange(n_sec) + 1) % n_sec
        tri = (
            np.stack([np.full(n_sec, idx), nxt, ring], 1)
            if flip
            else np.stack([np.full(n_sec, idx), ring, nxt], 1)
        )
        faces.append(tri)
    verts = np.vstack([verts, np.asarray(caps)])
    return manifold_from_arrays(verts, np.vstack(faces))


def arc(centre, radius: float, a0_deg: float, a1_deg: float, step_mm: float = 0.25) -> np.ndarray:
    """Points of a planar circular arc (z = 0) from angle a0 to a1 (degrees, either direction)."""
    span = np.deg2rad(a1_deg - a0_deg)
    n = max(int(np.ceil(abs(span) * radius / step_mm)), 4)
    ang = np.deg2rad(a0_deg) + np.linspace(0.0, span, n + 1)
    return np.stack(
        [centre[0] + radius * np.cos(ang), centre[1] + radius * np.sin(ang), np.zeros_like(ang)], 1
    )


def join_paths(*pieces: np.ndarray) -> np.ndarray:
    """Concatenate path pieces, dropping the duplicated joint points."""
    out = [pieces[0]]
    for p in pieces[1:]:
        out.append(p[1:] if np.linalg.norm(p[0] - out[-1][-1]) < 1e-9 else p)
    return np.vstack(out)


def rest_pose(mesh: trimesh.Trimesh, max_steps: int = 5000) -> trimesh.Trimesh:
    """Put the part in the pose it settles in when set down gently in its current orientation.

    Quasi-static tipping on the convex hull: start on the hull triangle whose outward normal is
    closest to −z; while the centre of mass does not project inside the support triangle, tip
    over the edge the projection lies farthest beyond, onto the triangle across that edge (between
    coplanar triangles this is a walk across one flat face). A convex polyhedron always has a
    stable face, so the walk ends. Exact triangles rather than trimesh's tolerance-merged facets:
    a slightly warped washer then rests on its three real contact points. Deterministic, unlike
    sampled stable-pose search. Finally the lowest point goes to z = 0 and the xy centre of the
    bounding box onto the rotation axis."""
    hull = mesh.convex_hull
    com = mesh.center_mass
    normals = hull.face_normals
    tri = hull.vertices[hull.faces]  # (F, 3, 3)
    neighbours = -np.ones((len(hull.faces), 3), dtype=np.int64)  # across edge (i, i+1)
    edge_slot = {}
    for f, face in enumerate(hull.faces):
        for i in range(3):
            edge_slot[(int(face[i]), int(face[(i + 1) % 3]))] = (f, i)
    for (a, b), (f, i) in edge_slot.items():
        other = edge_slot.get((b, a))
        if other is not None:
            neighbours[f, i] = other[0]
    current = int(np.argmin(normals[:, 2]))
    for _ in range(max_steps):
        n = normals[current]
        p = tri[current]
        q = com - ((com - p[0]) @ n) * n  # projection onto the face plane
        worst, worst_excess = -1, 1e-9
        for i in range(3):
            a, b = p[i], p[(i + 1) % 3]
            out = np.cross(b - a, n)  # points away from the triangle for outward-wound faces
            out /= np.linalg.norm(out)
            if (p[(i + 2) % 3] - a) @ out > 0:
                out = -out
            excess = float((q - a) @ out)
            if excess > worst_excess:
                worst, worst_excess = i, excess
        if worst < 0 or neighbours[current, worst] < 0:
            break
        current = int(neighbours[current, worst])
    out = mesh.copy()
    out.apply_transform(_rotation_between(normals[current], np.array([0.0, 0.0, -1.0])))
    lo, hi = out.bounds
    out.apply_translation([-(lo[0] + hi[0]) / 2.0, -(lo[1] + hi[1]) / 2.0, -lo[2]])
    return out


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        if float(a @ b) > 0.0:
            return np.eye(4)
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return trimesh.transformations.rotation_matrix(np.pi, axis / np.linalg.norm(axis))
    return trimesh.transformations.rotation_matrix(np.arctan2(s, float(a @ b)), axis / s)
