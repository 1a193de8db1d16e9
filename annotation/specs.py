"""Defect specs (``defects.json``) and the analytic fields that carve them.

A defect is data (DESIGN §3): type, centre, direction, tangent, radius, length, depth, profile and
seed. Everything random about a defect (the wiggle of a scratch path, the outline and roughness of
a scar) is drawn from ``numpy.random.default_rng(seed)`` inside the field functions here, so a
spec and its seed reproduce a carve bit for bit.

Types (DESIGN §4). Open-Industry's five real types (000_59f5340ba3ca2db6.txt: "Bump (convex)",
"Dent (concave)", "Scratch", "Scar", "Deformation") and Anomaly-ShapeNet's seven
(002_28a1af360a0c09b5.txt §3: bulge, concavity, hole, break, bending, crack, scratch) share one
engine: ``bulge``/``concavity``/``scratch`` are the same fields as ``Bump``/``Dent``/``Scratch``
under the other vocabulary's name.

Two families:

* displacement defects move vertices of the (locally subdivided) mesh by a smooth analytic field
  ``D(p, n)`` evaluated on the ORIGINAL positions ``p`` and normals ``n``: Bump, Dent, Scratch,
  crack, Scar, Deformation, bending. Their analytic carved region is ``|D| > threshold``.
* boolean defects subtract a cutter solid: hole (cylinder), break (box chipping a piece off).
  Their analytic carved region is the surface within ``threshold`` of the cutter.

Per-type meaning of the fields (mm):

=============  ==========================================================================
Bump/Dent      ``direction`` outward normal at ``centre``; ``radius`` of the footprint;
               ``depth`` height (Bump) or depth (Dent) at the centre; ``profile`` falloff
               (cosine | gaussian | spherical).
Scratch/crack  groove along a surface path through ``centre`` along ``tangent`` of
               ``length``; ``radius`` is the half width; ``depth`` the groove depth;
               profile ``u`` (rounded) or ``v`` (sharp). Scratch paths wiggle smoothly,
               crack paths are jagged polylines.
Scar           irregular shallow rough patch of mean ``radius``; ``depth`` mean depth.
Deformation    local bend (``profile`` ``bend``; ``cosine`` in older specs means the same) of
               the neighbourhood (ball of ``radius``) about the hinge axis through
               ``centre`` along ``direction x tangent``, or local twist (``profile``
               ``twist``) of that ball about the axis through ``centre`` along
               ``tangent``, the twist angle growing linearly along the axis (a feature
               wrung like a cloth); ``depth`` is the peak displacement of either.
bending        bend of everything beyond the plane through ``centre`` with normal
               ``tangent`` about the hinge axis ``direction x tangent``; the bend angle
               ramps up over ``radius`` to ``depth / length`` (``depth`` is then the
               displacement at ``length`` from the hinge).
hole           blind hole of ``radius`` and ``depth`` drilled along ``-direction``.
break          chips off the material within ``radius`` (laterally) of ``centre`` above
               the plane ``depth`` below the surface with normal ``direction``.
=============  ==========================================================================
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from scan2ad.errors import FormatError, InputError
from scan2ad.io import read_json, write_json

OPEN_INDUSTRY_TYPES = ("Bump", "Dent", "Scratch", "Scar", "Deformation")
ANOMALY_SHAPENET_TYPES = ("bulge", "concavity", "hole", "break", "bending", "crack", "scratch")
DEFECT_TYPES = OPEN_INDUSTRY_TYPES + tuple(t for t in ANOMALY_SHAPENET_TYPES if t != "scratch")
ALL_TYPE_NAMES = OPEN_INDUSTRY_TYPES + ANOMALY_SHAPENET_TYPES
# other vocabulary's name -> the field that carves it
ENGINE = {"bulge": "Bump", "concavity": "Dent", "scratch": "Scratch"}
BOOLEAN_TYPES = ("hole", "break")
PROFILES = ("cosine", "gaussian", "spherical", "u", "v", "bend", "twist")


def engine_type(name: str) -> str:
    """The field that carves a defect type of either vocabulary."""
    return ENGINE.get(name, name)


def canonical_type(name: str) -> str:
    """Accept any capitalisation of a §4 name and return it as spelled in DESIGN §4."""
    for t in ALL_TYPE_NAMES:
        if t.lower() == str(name).lower():
            # "scratch" and "Scratch" differ only in case: keep the spelling asked for if exact
            return name if name in ALL_TYPE_NAMES else t
    raise InputError(f"unknown defect type {name!r}; known: {', '.join(ALL_TYPE_NAMES)}")


@dataclasses.dataclass(frozen=True)
class DefectSpec:
    """One defect, as stored in ``defects.json`` (all lengths mm, vectors unit length)."""

    type: str
    centre: tuple[float, float, float]
    direction: tuple[float, float, float]
    tangent: tuple[float, float, float]
    radius: float
    depth: float
    length: float = 0.0
    profile: str = "cosine"
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "type", canonical_type(self.type))
        for name in ("centre", "direction", "tangent"):
            v = np.asarray(getattr(self, name), dtype=float).reshape(-1)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise InputError(f"defect {self.type}: {name} must be 3 finite numbers, got {v.tolist()}")
            object.__setattr__(self, name, tuple(float(x) for x in v))
        # normalise only what is not already unit/perpendicular, so a spec read back from
        # defects.json keeps every bit (renormalising a unit vector can change the last bit)
        d = np.asarray(self.direction)
        if abs(float(np.linalg.norm(d)) - 1.0) > 1e-12:
            d = _unit(d, f"defect {self.type}: direction")
        t = np.asarray(self.tangent)
        if abs(float(t @ d)) > 1e-12:
            t = t - d * float(t @ d)  # make tangent ⟂ direction
        if abs(float(np.linalg.norm(t)) - 1.0) > 1e-12:
            t = _unit(t, f"defect {self.type}: tangent")
        object.__setattr__(self, "direction", tuple(float(x) for x in d))
        object.__setattr__(self, "tangent", tuple(float(x) for x in t))
        if not (self.radius > 0 and self.depth > 0 and self.length >= 0):
            raise InputError(f"defect {self.type}: radius and depth must be > 0 and length >= 0 "
                             f"(got radius={self.radius}, depth={self.depth}, length={self.length})")
        if self.profile not in PROFILES:
            raise InputError(f"defect {self.type}: unknown profile {self.profile!r}; known: {', '.join(PROFILES)}")

    @property
    def is_boolean(self) -> bool:
        return engine_type(self.type) in BOOLEAN_TYPES

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(centre c, tangent u, binormal v = n x u, normal n) as float arrays."""
        n = np.asarray(self.direction)
        u = np.asarray(self.tangent)
        return np.asarray(self.centre), u, np.cross(n, u), n

    def influence_radius(self) -> float:
        """Distance from ``centre`` beyond which the defect changes nothing (bending: unbounded)."""
        t = engine_type(self.type)
        if t in ("Scratch", "crack"):
            return 0.5 * self.length + 2.0 * self.radius
        if t == "Scar":
            return 1.6 * self.radius
        if t == "bending":
            return math.inf
        if t == "hole":
            return self.radius + self.depth
        if t == "break":
            return math.sqrt(2.0) * self.radius + self.depth
        return self.radius

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str | Path | None = None) -> DefectSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.name not in d)
        if unknown or missing:
            raise FormatError(f"defect spec: unknown keys {unknown}, missing keys {missing}", where)
        try:
            return cls(**d)
        except InputError as exc:
            raise FormatError(str(exc), where) from None
        except (TypeError, ValueError) as exc:
            raise FormatError(f"defect spec: {exc}", where) from None


def _unit(v, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        raise InputError(f"{what} must not be the zero vector")
    return v / n


def write_defects(path: str | Path, specs: list[DefectSpec], **extra) -> Path:
    """``defects.json``: ``{"defects": [spec, ...], **extra}`` (atomic, versioned)."""
    return write_json(path, {"defects": [s.to_dict() for s in specs], **extra})


def read_defects(path: str | Path) -> list[DefectSpec]:
    doc = read_json(path)
    if not isinstance(doc.get("defects"), list):
        raise FormatError("defects.json needs a list under 'defects'", path)
    return [DefectSpec.from_dict(d, path) for d in doc["defects"]]


# ----------------------------------------------------------------------------- profiles
def falloff(t: np.ndarray, profile: str) -> np.ndarray:
    """Radial falloff f(t), f(0)=1, f(t>=1)=0, smooth at t=1 except ``spherical``/``v``.

    Anomaly-ShapeNet sculpts with Blender's brushes (smooth falloff); the paper does not give the
    curve, so we offer the usual sculpt curves: cosine (= Blender 'smooth'), a truncated gaussian,
    a spherical cap, and for grooves a rounded ``u`` and a sharp ``v`` cross-section.
    """
    t = np.clip(np.abs(t), 0.0, 1.0)
    if profile in ("cosine", "u"):
        f = 0.5 * (1.0 + np.cos(np.pi * t))
    elif profile == "gaussian":
        g = np.exp(-4.5 * t**2)
        f = (g - math.exp(-4.5)) / (1.0 - math.exp(-4.5))
    elif profile == "spherical":
        f = np.sqrt(1.0 - t**2)
    elif profile == "v":
        f = 1.0 - t
    else:
        raise InputError(f"unknown profile {profile!r}")
    return np.where(t >= 1.0, 0.0, f)


def _local(spec: DefectSpec, p: np.ndarray):
    c, u, v, n = spec.frame()
    q = p - c
    return q @ u, q @ v, q @ n


def _facing(spec: DefectSpec, normals: np.ndarray) -> np.ndarray:
    """Surface-attached defects act on the side facing ``direction`` (not through thin walls)."""
    return (normals @ np.asarray(spec.direction)) > math.cos(math.radians(75.0))


def _path_offset(spec: DefectSpec, s: np.ndarray) -> np.ndarray:
    """Lateral offset of a scratch/crack path at arclength ``s`` (seeded)."""
    rng = np.random.default_rng(spec.seed)
    L = max(spec.length, 1e-9)
    if engine_type(spec.type) == "crack":
        k = 9
        knots = np.linspace(-L / 2, L / 2, k)
        off = rng.normal(0.0, 0.06 * L, k)
        off -= np.linspace(off[0], off[-1], k) * 0.5  # keep the ends near the axis
        return np.interp(s, knots, off)
    amp = rng.uniform(0.03, 0.10) * L
    phase = rng.uniform(0.0, 2 * np.pi)
    waves = rng.uniform(0.5, 1.2)
    return amp * np.sin(2 * np.pi * waves * s / L + phase)


def _groove_weight(spec: DefectSpec, p: np.ndarray) -> np.ndarray:
    s, t, _ = _local(spec, p)
    w = spec.radius
    across = np.abs(t - _path_offset(spec, s)) / w
    half = 0.5 * spec.length
    taper = falloff(np.clip((np.abs(s) - (half - 2 * w)) / (2 * w), 0.0, 1.0), "cosine")
    taper[np.abs(s) > half] = 0.0
    return falloff(across, spec.profile) * taper


def _scar_fields(spec: DefectSpec, p: np.ndarray):
    rng = np.random.default_rng(spec.seed)
    s, t, _ = _local(spec, p)
    theta = np.arctan2(t, s)
    rho = np.hypot(s, t)
    ks = np.arange(2, 6)
    amps = rng.uniform(0.05, 0.12, ks.size)
    phases = rng.uniform(0, 2 * np.pi, ks.size)
    outline = spec.radius * (1.0 + (amps[:, None] * np.cos(ks[:, None] * theta[None] + phases[:, None])).sum(0))
    window = falloff(np.clip((rho / outline - 0.7) / 0.3, 0.0, 1.0), "cosine")
    m = 12
    freqs = rng.uniform(2.5, 6.0, m) / spec.radius
    angs = rng.uniform(0, 2 * np.pi, m)
    ph = rng.uniform(0, 2 * np.pi, m)
    rough = np.sin(freqs[:, None] * (np.cos(angs)[:, None] * s + np.sin(angs)[:, None] * t) + ph[:, None]).sum(0)
    rough /= math.sqrt(m / 2.0) * 2.0  # ~unit std/2
    rough = np.clip(rough, -1.0, 1.0)
    return window, rough


def _rotate_about(q: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation of rows of q about a unit axis by per-row angles."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return q * c + np.cross(axis, q) * s + axis * (q @ axis)[:, None] * (1 - c)


_DEFORM_PEAK = max(t * falloff(np.array([t]), "cosine")[0] for t in np.linspace(0, 1, 2001))


def _twist_peak() -> float:
    """max |s|·|t|·f(√(s²+t²)) over the unit disc: the displacement per unit twist angle and
    radius at the point a twist moves most (s along the twist axis, t across it)."""
    g = np.linspace(0, 1, 801)
    s, t = np.meshgrid(g, g)
    return float((s * t * falloff(np.hypot(s, t).ravel(), "cosine").reshape(s.shape)).max())


_TWIST_PEAK = _twist_peak()


def displacement(spec: DefectSpec, p: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """The displacement field of a displacement defect at original positions ``p`` (n,3)."""
    t = engine_type(spec.type)
    c, u, v, n = spec.frame()
    p = np.asarray(p, dtype=float)
    out = np.zeros_like(p)
    if t in ("Bump", "Dent"):
        s, w_, h = _local(spec, p)
        rho = np.hypot(s, w_)
        mask = _facing(spec, normals) & (np.abs(h) <= spec.radius)
        f = np.where(mask, falloff(rho / spec.radius, spec.profile), 0.0)
        return np.outer(f * (spec.depth if t == "Bump" else -spec.depth), n)
    if t in ("Scratch", "crack"):
        _, _, h = _local(spec, p)
        mask = _facing(spec, normals) & (np.abs(h) <= 0.5 * spec.length)
        return np.outer(np.where(mask, _groove_weight(spec, p), 0.0) * -spec.depth, n)
    if t == "Scar":
        _, _, h = _local(spec, p)
        window, rough = _scar_fields(spec, p)
        mask = _facing(spec, normals) & (np.abs(h) <= spec.radius)
        return np.outer(np.where(mask, window * (0.65 + 0.35 * rough), 0.0) * -spec.depth, n)
    if t == "Deformation":
        q = p - c
        r = np.linalg.norm(q, axis=1)
        w = falloff(r / spec.radius, "cosine")
        if spec.profile == "twist":
            # angle ∝ position along the axis, so the two ends of the ball turn opposite ways and
            # a point at distance ρ from the axis moves ≈ ρ·θ; peak displacement = depth
            theta = spec.depth / (spec.radius * _TWIST_PEAK) * w * (q @ u) / spec.radius
            return _rotate_about(q, u, theta) - q
        theta = spec.depth / (spec.radius * _DEFORM_PEAK) * w
        return _rotate_about(q, v, theta) - q
    if t == "bending":
        q = p - c
        s = q @ u
        L = spec.length if spec.length > 0 else spec.radius
        ramp = np.clip(s / spec.radius, 0.0, 1.0)
        theta = (spec.depth / L) * ramp * ramp * (3 - 2 * ramp)
        moved = s > 0
        out[moved] = _rotate_about(q[moved], v, theta[moved]) - q[moved]
        return out
    if t in BOOLEAN_TYPES:
        return out
    raise InputError(f"no displacement field for {spec.type}")


def cutter_signed_distance(spec: DefectSpec, p: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) to the cutter solid of a hole or break."""
    s, t, h = _local(spec, np.asarray(p, dtype=float))
    if engine_type(spec.type) == "hole":
        top = spec.radius + 1.0
        d_r = np.hypot(s, t) - spec.radius
        d_h = np.maximum(-spec.depth - h, h - top)
        return _box_sd(np.stack([d_r, d_h], 1))
    top = spec.radius * 3.0
    d = np.stack([np.abs(s) - spec.radius, np.abs(t) - spec.radius,
                  np.maximum(-spec.depth - h, h - top)], 1)
    return _box_sd(d)


def _box_sd(d: np.ndarray) -> np.ndarray:
    outside = np.linalg.norm(np.maximum(d, 0.0), axis=1)
    inside = np.minimum(d.max(1), 0.0)
    return outside + inside


def within_influence(spec: DefectSpec, p: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Points where the defect can have changed the surface at all (plus ``margin``)."""
    c, u, _, _ = spec.frame()
    p = np.asarray(p, dtype=float)
    if engine_type(spec.type) == "bending":
        return (p - c) @ u > -spec.radius - margin
    return np.linalg.norm(p - c, axis=1) <= spec.influence_radius() + margin


def analytic_region(spec: DefectSpec, p_ref: np.ndarray, n_ref: np.ndarray, p_carved: np.ndarray,
                    threshold: float) -> np.ndarray:
    """Points the defect carved: displacement over ``threshold``, or on/in the cutter."""
    if spec.is_boolean:
        return cutter_signed_distance(spec, p_carved) <= threshold
    return np.linalg.norm(displacement(spec, p_ref, n_ref), axis=1) > threshold


# ----------------------------------------------------------------------------- choosing defects
def default_size(type_: str, target_area: float, threshold: float) -> dict:
    """Radius/length/depth so the carved area is about ``target_area`` (mm²).

    The papers give the anomaly point ratio (Open-Industry 0.5–2.6 %, mean 1.2 %), not sizes;
    we size each type so its expected footprint is that fraction of the part's area, with depths
    several scanner-noise thresholds deep so the defect is measurable.
    """
    t = engine_type(type_)
    a = max(target_area, 1e-6)
    if t in ("Bump", "Dent"):
        r = math.sqrt(a / math.pi) * 1.15
        return {"radius": r, "depth": max(0.25 * r, 4 * threshold), "length": 0.0, "profile": "cosine"}
    if t == "Scratch":
        w = math.sqrt(a / 12.0)
        return {"radius": w, "length": 8 * w, "depth": max(0.6 * w, 3 * threshold), "profile": "u"}
    if t == "crack":
        w = math.sqrt(a / 24.0)
        return {"radius": w, "length": 12 * w, "depth": max(1.5 * w, 4 * threshold), "profile": "v"}
    if t == "Scar":
        r = math.sqrt(a / math.pi)
        return {"radius": r, "depth": max(0.08 * r, 3 * threshold), "length": 0.0, "profile": "cosine"}
    if t == "Deformation":
        r = math.sqrt(a / math.pi) * 1.4
        return {"radius": r, "depth": max(0.2 * r, 4 * threshold), "length": 0.0, "profile": "bend"}
    if t == "hole":
        r = math.sqrt(a / (3 * math.pi))
        return {"radius": r, "depth": r, "length": 0.0, "profile": "cosine"}
    if t == "break":
        r = 0.45 * math.sqrt(a)
        return {"radius": r, "depth": 0.6 * r, "length": 0.0, "profile": "cosine"}
    if t == "bending":
        r = 2.0 * math.sqrt(a)
        return {"radius": r, "depth": max(0.1 * r, 6 * threshold), "length": r, "profile": "cosine"}
    raise InputError(f"unknown defect type {type_!r}")


def surface_location(mesh, mode: str, rng: np.random.Generator, centre=None) -> tuple[np.ndarray, np.ndarray]:
    """A point on the surface and its outward normal: ``random`` (area-uniform), ``curvature``
    (among the 10 % of vertices with the largest angle defect, i.e. discrete Gaussian curvature,
    smoothed over the 1-ring — edges, corners, thread crests) or ``given`` (nearest surface point
    to ``centre``)."""
    import trimesh

    if mode == "given":
        if centre is None:
            raise InputError("location 'given' needs a centre")
        pts, _, fid = trimesh.proximity.closest_point(mesh, np.asarray(centre, dtype=float)[None])
        return pts[0], mesh.face_normals[fid[0]]
    if mode == "random":
        pts, fid = trimesh.sample.sample_surface(mesh, 1, seed=int(rng.integers(2**31)))
        return pts[0], mesh.face_normals[fid[0]]
    if mode == "curvature":
        k = np.abs(mesh.vertex_defects)
        adj = mesh.vertex_adjacency_graph
        import networkx as nx  # trimesh dependency

        A = nx.to_scipy_sparse_array(adj, nodelist=range(len(mesh.vertices)), format="csr")
        deg = np.maximum(np.asarray(A.sum(1)).ravel(), 1)
        ks = (k + A @ k / deg) / 2
        cand = np.flatnonzero(ks >= np.quantile(ks, 0.9))
        i = int(cand[rng.integers(cand.size)])
        return mesh.vertices[i].copy(), mesh.vertex_normals[i].copy()
    raise InputError(f"unknown location mode {mode!r}; use random, curvature or given")


def make_spec(mesh, type_: str, seed: int, *, location: str = "random", centre=None,
              target_ratio: float = 0.012, threshold: float = 0.15, **sizes) -> DefectSpec:
    """A complete, seeded spec for ``type_`` on ``mesh``: location, frame and default sizes
    (``sizes`` overrides radius/depth/length/profile)."""
    type_ = canonical_type(type_)
    rng = np.random.default_rng(seed)
    p, n = surface_location(mesh, location, rng, centre)
    a = rng.normal(size=3)
    tangent = a - n * float(a @ n)
    if engine_type(type_) == "bending":
        # Bending moves a whole end of the part: the hinge plane is normal to the part's longest
        # principal axis, placed (unless given) where about 2x the target area lies beyond it,
        # and the moved side is that end.
        axis = _unit(mesh.principal_inertia_vectors[int(np.argmin(mesh.principal_inertia_components))], "axis")
        if rng.random() < 0.5:
            axis = -axis
        if location != "given":
            # place the hinge plane by the area of the faces running along the axis (a flat end
            # face alone never bends), on the part's axis line
            along = np.abs(mesh.face_normals @ axis) < 0.9
            proj = (mesh.triangles_center - mesh.center_mass) @ axis
            order = np.argsort(-np.where(along, proj, -np.inf))
            order = order[along[order]]
            cum = np.cumsum(mesh.area_faces[order]) / mesh.area
            k = int(order[min(np.searchsorted(cum, min(3.0 * target_ratio, 0.5)), len(order) - 1)])
            p = mesh.center_mass + axis * proj[k]
            beyond = float(proj.max() - proj[k])
            if beyond > 0:
                sizes = {"length": beyond, "radius": 0.5 * beyond,
                         "depth": max(0.12 * beyond, 3 * threshold), **{k_: v for k_, v in sizes.items() if v is not None}}
        tangent = axis
        n = n - axis * float(n @ axis)  # hinge normal ⟂ axis
        if np.linalg.norm(n) < 1e-6:
            n = np.cross(axis, rng.normal(size=3))
        n = _unit(n, "bending direction")
    base = default_size(type_, target_ratio * float(mesh.area), threshold)
    base.update({k: v for k, v in sizes.items() if v is not None})
    if engine_type(type_) == "break":
        n = _unit(n + 0.35 * rng.normal(size=3), "break direction")  # tilted cut facet
    if type_ == "Deformation" and sizes.get("profile") is None:
        # Open-Industry's deformations are bent or twisted features: half of each (drawn last,
        # so the draws above, and hence every other field, do not depend on it)
        base["profile"] = "twist" if rng.random() < 0.5 else "bend"
    return DefectSpec(type=type_, centre=tuple(p), direction=tuple(n), tangent=tuple(tangent),
                      seed=int(seed), **base)
