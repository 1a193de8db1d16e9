"""Geometry-only defects for the builder's ``synthetic`` source: the five Open-Industry types.

000 §III names the process-induced defect types convex, concave, scratch, scar and deformation
(``Bump``, ``Dent``, ``Scratch``, ``Scar``, ``Deformation``, DESIGN §4). Until the annotation
stage's Blender carving lands, the builder displaces the sampled surface points analytically:
every defect is a displacement field ``d(p)`` along the surface normal (along the centre's
normal for ``Deformation``, which bends the part rather than marking its surface), and a point is
labelled anomalous where ``|d| > label_threshold_mm`` — the labels are exact by construction.

Profiles (choices where 000 is silent):
- Bump / Dent: raised cosine ``h·½(1+cos(πr/R))`` inside radius R, + or −.
- Scratch: a straight groove of length L along a random tangent, raised-cosine cross-section of
  half-width R, depth tapering to zero over the last quarter at each end.
- Scar: 4–7 overlapping small pits (radius 0.25–0.45 R, depth 0.5–1 h) scattered in radius R —
  irregular, like a tool scar.
- Deformation: a wide, shallow raised cosine (R several mm) applied along one direction.
"""

from __future__ import annotations

import numpy as np

from scan2ad.datasets.spec import DefectRange


def _raised_cosine(dist: np.ndarray, radius: float) -> np.ndarray:
    return np.where(dist < radius, 0.5 * (1 + np.cos(np.pi * np.minimum(dist, radius) / radius)), 0.0)


def apply_defect(points: np.ndarray, normals: np.ndarray, kind: str, rng: np.random.Generator,
                 ranges: DefectRange) -> tuple[np.ndarray, np.ndarray, dict]:
    """Displace ``points``; return (new points, per-point displacement magnitude, defect spec).

    The spec (type, centre, direction, radius, depth, length, profile) is what ``defects.json``
    records (DESIGN §3).
    """
    c = int(rng.integers(len(points)))
    centre, normal = points[c], normals[c] / (np.linalg.norm(normals[c]) + 1e-12)
    radius = float(rng.uniform(*ranges.radius_mm))
    depth = float(rng.uniform(*ranges.depth_mm))
    d = points - centre
    dist = np.linalg.norm(d, axis=1)
    spec = {"type": kind, "centre": centre.round(4).tolist(), "direction": normal.round(6).tolist(),
            "radius_mm": round(radius, 4), "depth_mm": round(depth, 4)}
    along_normal = True
    if kind == "Bump":
        disp = depth * _raised_cosine(dist, radius)
        spec["profile"] = "raised-cosine"
    elif kind == "Dent":
        disp = -depth * _raised_cosine(dist, radius)
        spec["profile"] = "raised-cosine"
    elif kind == "Scratch":
        length = float(rng.uniform(*ranges.length_mm))
        t = np.cross(normal, rng.normal(size=3))
        t /= np.linalg.norm(t) + 1e-12
        along = d @ t
        across = np.linalg.norm(d - np.outer(along, t), axis=1)
        half = length / 2
        taper = np.clip((half - np.abs(along)) / (0.25 * half), 0.0, 1.0)
        disp = -depth * _raised_cosine(across, radius) * taper
        spec.update(profile="groove", length_mm=round(length, 4), tangent=t.round(6).tolist())
    elif kind == "Scar":
        n_pits = int(rng.integers(4, 8))
        disp = np.zeros(len(points))
        pits = []
        for _ in range(n_pits):
            off = rng.normal(size=3)
            off -= (off @ normal) * normal
            off *= rng.uniform(0, radius) / (np.linalg.norm(off) + 1e-12)
            r_p = radius * rng.uniform(0.25, 0.45)
            h_p = depth * rng.uniform(0.5, 1.0)
            disp = np.minimum(disp, -h_p * _raised_cosine(np.linalg.norm(d - off, axis=1), r_p))
            pits.append({"offset": off.round(4).tolist(), "radius_mm": round(r_p, 4),
                         "depth_mm": round(h_p, 4)})
        spec.update(profile="pits", pits=pits)
    elif kind == "Deformation":
        disp = depth * _raised_cosine(dist, radius) * (1 if rng.uniform() < 0.5 else -1)
        along_normal = False
        spec["profile"] = "bend"
    else:
        raise ValueError(f"unknown defect type {kind!r}")
    if along_normal:
        moved = points + disp[:, None] * normals
    else:
        moved = points + disp[:, None] * normal[None, :]
    return moved, np.abs(disp), spec
