"""Carving defects into a part mesh with Blender (bpy, headless).

Anomaly-ShapeNet (002_28a1af360a0c09b5.txt §3, "Anomaly data synthesis" and Fig. 2) builds its
anomalies in Blender: the clean mesh is subdivided so that local edits have enough vertices, the
defect is sculpted or cut, and the ground truth follows from which surface moved. We do the same,
with the edits written as analytic fields (:mod:`scan2ad.annotation.specs`) instead of hand brush
strokes so that every carve is reproducible from its ``defects.json``.

Blender operations used, and why:

* ``bmesh.ops.subdivide_edges`` (1 cut, repeated) on the edges within a defect's influence that
  are longer than the target edge length, then ``bmesh.ops.triangulate``: the paper subdivides
  before sculpting; we subdivide only where the defect acts (the rest of the part keeps its
  resolution, so a 0.1 mm crack does not turn a 20 000-face part into millions of faces).
  Splitting edges without smoothing leaves the surface exactly where it was; ``use_single_edge``
  matters: without it triangles with one split edge are left as n-gons whose triangulation makes
  degenerate and non-manifold faces.
* vertex coordinates written with ``Mesh.vertices.foreach_set`` from the displacement fields
  (Bump, Dent, Scratch, crack, Scar, Deformation, bending): the equivalent of a sculpt stroke
  with a known falloff, applied in one vectorised pass.
* a ``BOOLEAN`` modifier (DIFFERENCE, EXACT solver) with a cutter object, evaluated through the
  depsgraph, for the defects that remove material (hole: cylinder, break: box). The EXACT solver
  keeps a closed manifold closed, which the labels and later meshing rely on.

Every carve starts from an emptied Blender session (all objects and meshes removed), so results do
not depend on what was carved before in the same process.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import Scan2adError
from scan2ad.log import get_logger

from .specs import DefectSpec, displacement, engine_type

log = get_logger(__name__)


class CarveError(Scan2adError):
    """Carving failed (e.g. a boolean that did not leave a closed mesh)."""


@dataclasses.dataclass(frozen=True)
class CarveConfig:
    """How finely to subdivide and how to cut."""

    edges_per_radius: float = doc("target edge length = defect radius / this (Bump, Dent, Scar, Deformation); "
                                  "scratches and cracks use half-width / (this/4), bending radius / (this/2)", 8.0)
    min_edge_mm: float = doc("never subdivide below this edge length (mm)", 0.02)
    max_passes: int = doc("at most this many halving passes of subdivision", 8)
    max_vertices: int = doc("refuse to subdivide beyond this many vertices", 1_500_000)
    cutter_segments: int = doc("segments around the hole cutter cylinder", 64)
    boolean_solver: str = doc("Blender boolean solver (EXACT keeps manifolds closed)", "EXACT")


@dataclasses.dataclass
class CarveResult:
    """The carved mesh and the (locally subdivided) clean mesh it was carved from.

    ``reference`` has the same vertex order and faces as ``carved`` when ``same_topology`` (no
    boolean defect), so a point on ``carved`` maps back to its original position by barycentric
    coordinates.
    """

    carved: object  # trimesh.Trimesh
    reference: object  # trimesh.Trimesh (subdivided original)
    same_topology: bool
    subdivided_vertices: int


def _bpy():
    """Import bpy lazily and empty the session (objects, meshes) for a fresh carve."""
    import bpy

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for me in list(bpy.data.meshes):
        bpy.data.meshes.remove(me)
    return bpy


def _mesh_from_arrays(bpy, name: str, vertices: np.ndarray, faces: np.ndarray):
    me = bpy.data.meshes.new(name)
    nv, nf = len(vertices), len(faces)
    me.vertices.add(nv)
    me.vertices.foreach_set("co", np.ascontiguousarray(vertices, dtype=np.float32).ravel())
    me.loops.add(3 * nf)
    me.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, dtype=np.int32).ravel())
    me.polygons.add(nf)
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * nf, 3, dtype=np.int32))
    me.update(calc_edges=True)
    me.validate(verbose=False)
    return me


def _object(bpy, name: str, vertices, faces):
    obj = bpy.data.objects.new(name, _mesh_from_arrays(bpy, name, vertices, faces))
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _arrays_from_bmesh(bm) -> tuple[np.ndarray, np.ndarray]:
    import bmesh

    bmesh.ops.triangulate(bm, faces=[f for f in bm.faces if len(f.verts) > 3])
    bm.verts.index_update()
    v = np.array([vv.co[:] for vv in bm.verts], dtype=np.float64)
    f = np.array([[vv.index for vv in face.verts] for face in bm.faces], dtype=np.int64).reshape(-1, 3)
    return v, f


def _target_edge(spec: DefectSpec, cfg: CarveConfig) -> float | None:
    t = engine_type(spec.type)
    if spec.is_boolean:
        return None
    if t in ("Scratch", "crack"):
        e = spec.radius / (cfg.edges_per_radius / 4.0)
    elif t == "bending":  # a smooth rotation: coarse edges follow it
        e = spec.radius / (cfg.edges_per_radius / 2.0)
    else:
        e = spec.radius / cfg.edges_per_radius
    return max(e, cfg.min_edge_mm)


def _subdivide_near(bm, spec: DefectSpec, target: float, cfg: CarveConfig) -> None:
    """Halve the edges longer than ``target`` of every face that comes within the defect's
    influence zone (point-triangle distance, so a defect in the middle of one large face is found
    too), until none is left."""
    import bmesh
    import trimesh

    c, u, _, _ = spec.frame()
    reach = spec.influence_radius() + 2.0 * target
    for _ in range(cfg.max_passes):
        bm.verts.index_update()
        bm.edges.index_update()
        co = np.array([v.co[:] for v in bm.verts])
        faces = list(bm.faces)
        fv = np.array([[v.index for v in f.verts] for f in faces])
        if math.isinf(reach):  # bending: everything from a little before the hinge plane on
            near_face = ((co[fv] - c) @ u > -spec.radius).any(1)
        else:
            tri = co[fv]
            closest = trimesh.triangles.closest_point(tri, np.broadcast_to(c, (len(fv), 3)))
            near_face = np.linalg.norm(closest - c, axis=1) <= reach
        edges = list(bm.edges)
        cand = {e.index for i in np.flatnonzero(near_face) for e in faces[i].edges}
        cand = np.fromiter(cand, dtype=np.int64, count=len(cand))
        if cand.size == 0:
            return
        ev = np.array([(edges[i].verts[0].index, edges[i].verts[1].index) for i in cand])
        length = np.linalg.norm(co[ev[:, 0]] - co[ev[:, 1]], axis=1)
        pick = np.sort(cand[length > target])
        if pick.size == 0:
            return
        if len(bm.verts) + pick.size > cfg.max_vertices:
            raise CarveError(f"subdividing for {spec.type} (edge {target:.3g} mm) would exceed "
                             f"{cfg.max_vertices} vertices; use a larger defect or coarser edges")
        bmesh.ops.subdivide_edges(bm, edges=[edges[i] for i in pick], cuts=1, use_grid_fill=True,
                                  use_single_edge=True)
        bmesh.ops.triangulate(bm, faces=[f for f in bm.faces if len(f.verts) > 3])


def _cutter(spec: DefectSpec, cfg: CarveConfig):
    """The solid a boolean defect subtracts, as a trimesh (hole: cylinder, break: box)."""
    import trimesh

    c, u, v, n = spec.frame()
    R = np.eye(4)
    R[:3, 0], R[:3, 1], R[:3, 2] = u, v, n
    if engine_type(spec.type) == "hole":
        top = spec.radius + 1.0
        height = spec.depth + top
        R[:3, 3] = c + n * (top - height / 2.0)
        return trimesh.creation.cylinder(radius=spec.radius, height=height, sections=cfg.cutter_segments,
                                         transform=R)
    top = 3.0 * spec.radius
    R[:3, 3] = c + n * ((top - spec.depth) / 2.0)
    return trimesh.creation.box(extents=(2 * spec.radius, 2 * spec.radius, top + spec.depth), transform=R)


def _boolean_difference(bpy, part_obj, spec: DefectSpec, cfg: CarveConfig) -> tuple[np.ndarray, np.ndarray]:
    import bmesh

    cutter = _cutter(spec, cfg)
    cut_obj = _object(bpy, f"cutter_{spec.type}", cutter.vertices, cutter.faces)
    mod = part_obj.modifiers.new(name="carve", type="BOOLEAN")
    mod.operation = "DIFFERENCE"
    mod.object = cut_obj
    mod.solver = cfg.boolean_solver
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = part_obj.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    bm = bmesh.new()
    bm.from_mesh(me)
    evaluated.to_mesh_clear()
    v, f = _arrays_from_bmesh(bm)
    bm.free()
    part_obj.modifiers.remove(mod)
    bpy.data.objects.remove(cut_obj, do_unlink=True)
    return v, f


def carve(mesh, specs: list[DefectSpec], cfg: CarveConfig = CarveConfig()) -> CarveResult:
    """Carve ``specs`` into a watertight ``mesh`` (trimesh, mm) in a fresh Blender session.

    Order: subdivide around every displacement defect, then apply all displacement fields summed
    (each evaluated on the original positions and normals, so their order does not matter), then
    the boolean cuts in spec order.
    """
    import trimesh

    bpy = _bpy()
    import bmesh  # importable only once bpy is

    bm = bmesh.new()
    me0 = _mesh_from_arrays(bpy, "part_in", mesh.vertices, mesh.faces)
    bm.from_mesh(me0)
    for spec in specs:
        target = _target_edge(spec, cfg)
        if target is not None:
            _subdivide_near(bm, spec, target, cfg)
    v0, f = _arrays_from_bmesh(bm)
    bm.free()
    reference = trimesh.Trimesh(v0, f, process=False)
    if mesh.is_watertight and not reference.is_watertight:
        raise CarveError("subdivision broke the mesh's closedness (bmesh subdivide_edges); "
                         "try a different edges_per_radius")
    normals = np.asarray(reference.vertex_normals)
    v = v0.copy()
    for spec in specs:
        if not spec.is_boolean:
            v += displacement(spec, v0, normals)
    booleans = [s for s in specs if s.is_boolean]
    if booleans:
        obj = _object(bpy, "part", v, f)
        for spec in booleans:
            v, f = _boolean_difference(bpy, obj, spec, cfg)
            obj.data = _mesh_from_arrays(bpy, "part", v, f)
    carved = trimesh.Trimesh(v, f, process=False)
    if booleans:
        carved.merge_vertices()
        if not carved.is_watertight:
            raise CarveError(f"the boolean cut ({', '.join(s.type for s in booleans)}) did not leave a closed "
                             "mesh; try another location or size")
    log.debug("carved %s: %d -> %d vertices", [s.type for s in specs], len(mesh.vertices), len(carved.vertices))
    return CarveResult(carved=carved, reference=reference, same_topology=not booleans,
                       subdivided_vertices=len(v0))
