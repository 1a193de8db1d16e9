"""Per-point ground truth for carved parts, and writing a labelled sample folder.

Anomaly-ShapeNet (002_28a1af360a0c09b5.txt §3, "Anomaly data synthesis") samples the carved mesh
and marks the points of the edited region (with CloudCompare, by hand); Open-Industry
(000_59f5340ba3ca2db6.txt) reports 0.5–2.6 % anomalous points (mean 1.2 %). A point is anomalous
here when either

* it lies off the ORIGINAL (uncarved) surface by more than ``k_sigma`` times the scanner's noise
  (what a scan of the part could reveal at all), measured with Open3D's ``RaycastingScene``
  distance queries, within the zone a defect can have changed (so the noise of scanned points
  far from any defect — 0.27 % of them beyond 3 sigma — is not labelled), or
* it lies in the analytic carved region of a defect (:func:`specs.analytic_region`) — this also
  catches points that slid along the surface (twists/bends) and the rims of cuts.

The ratio of anomalous points must fall in the accepted range of the defects' vocabulary (DESIGN
§4): Open-Industry's 0.5–2.6 % for its five types, Anomaly-ShapeNet's "between 1% and 10% of the
entire point cloud" (002_28a1af360a0c09b5.txt §1) when any defect is one of its types (hole,
break, bending, crack, bulge, ...); otherwise the carve is rejected with a :class:`LabelRatioError`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.config import doc
from scan2ad.errors import Scan2adError
from scan2ad.log import get_logger

from .specs import OPEN_INDUSTRY_TYPES, DefectSpec, analytic_region, within_influence

log = get_logger(__name__)


class LabelRatioError(Scan2adError):
    """The carve labels a fraction of points outside the accepted range."""

    def __init__(self, message: str, *, what: str = "carve", ratio: float = float("nan"),
                 lo: float = float("nan"), hi: float = float("nan")):
        super().__init__(message)
        self.what, self.ratio, self.lo, self.hi = what, ratio, lo, hi

    @property
    def measured_percent(self) -> float:
        return 100 * self.ratio

    @property
    def range_text(self) -> str:
        return f"{100 * self.lo:.2f}–{100 * self.hi:.2f}%"


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """How the carved part is sampled and labelled."""

    n_points: int = doc("points sampled (area-uniform) on the carved surface", 30000)
    noise_sigma_mm: float = doc("scanner noise (1 sigma, mm) the threshold is tied to", 0.05)
    k_sigma: float = doc("anomalous when off the original surface by more than k_sigma * noise_sigma_mm", 3.0)
    add_noise: bool = doc("add Gaussian noise of noise_sigma_mm along the normal to the output cloud "
                          "(labels are computed on the clean samples)", False)
    ratio_min: float = doc("reject Open-Industry-type carves labelling fewer than this fraction", 0.005)
    ratio_max: float = doc("reject Open-Industry-type carves labelling more than this fraction", 0.026)
    shapenet_ratio_min: float = doc("the same, when a defect is of an Anomaly-ShapeNet type", 0.01)
    shapenet_ratio_max: float = doc("the same, when a defect is of an Anomaly-ShapeNet type", 0.10)
    check_ratio: bool = doc("apply the ratio range check", True)

    def ratio_range(self, types) -> tuple[float, float]:
        """The accepted anomaly point ratio for a carve with these defect types."""
        if any(t not in OPEN_INDUSTRY_TYPES for t in types):
            return self.shapenet_ratio_min, self.shapenet_ratio_max
        return self.ratio_min, self.ratio_max

    @property
    def threshold(self) -> float:
        return self.k_sigma * self.noise_sigma_mm


@dataclasses.dataclass
class LabelledCloud:
    points: np.ndarray  # (n,3) mm
    normals: np.ndarray  # (n,3)
    labels: np.ndarray  # (n,) uint8
    distance: np.ndarray  # (n,) distance to the original surface, mm
    region: np.ndarray  # (n,) bool, in some defect's analytic region

    @property
    def ratio(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else 0.0


def distance_to_surface(mesh, points: np.ndarray) -> np.ndarray:
    """Unsigned distance (mm) from each point to the triangle surface of ``mesh`` (Open3D BVH)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    tm = o3d.t.geometry.TriangleMesh()
    tm.vertex.positions = o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32))
    tm.triangle.indices = o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.int32))
    scene.add_triangles(tm)
    q = o3d.core.Tensor(np.asarray(points, dtype=np.float32))
    return scene.compute_distance(q).numpy().astype(np.float64)


def sample_carved(result, n: int, seed: int):
    """Area-uniform samples on the carved mesh: (points, normals, reference points, reference normals).

    When the carve kept the topology, each sample's barycentric coordinates on its carved face give
    its position and (interpolated vertex) normal on the clean mesh; after boolean cuts the carved
    positions stand in for both.
    """
    import trimesh

    carved = result.carved
    pts, fid = trimesh.sample.sample_surface(carved, n, seed=seed)
    normals = np.asarray(carved.face_normals)[fid]
    if not result.same_topology:
        return pts, normals, pts, normals
    tri = carved.faces[fid]
    bary = trimesh.triangles.points_to_barycentric(carved.triangles[fid], pts)
    ref = result.reference
    p_ref = np.einsum("ij,ijk->ik", bary, ref.vertices[tri])
    vn = np.asarray(ref.vertex_normals)
    n_ref = np.einsum("ij,ijk->ik", bary, vn[tri])
    n_ref /= np.maximum(np.linalg.norm(n_ref, axis=1, keepdims=True), 1e-12)
    return pts, normals, p_ref, n_ref


def label_points(original, specs: list[DefectSpec], points, normals, p_ref=None, n_ref=None,
                 cfg: LabelConfig = LabelConfig()) -> LabelledCloud:
    """Label given points (samples of a carve, or the scanned points of a carved part)."""
    points = np.asarray(points, dtype=float)
    p_ref = points if p_ref is None else p_ref
    n_ref = normals if n_ref is None else n_ref
    dist = distance_to_surface(original, points)
    region = np.zeros(len(points), dtype=bool)
    zone = np.zeros(len(points), dtype=bool)
    for spec in specs:
        region |= analytic_region(spec, p_ref, n_ref, points, cfg.threshold)
        zone |= within_influence(spec, points, margin=cfg.threshold)
    labels = (((dist > cfg.threshold) & zone) | region).astype(np.uint8)
    return LabelledCloud(points=points, normals=np.asarray(normals, dtype=float), labels=labels,
                         distance=dist, region=region)


def check_ratio(cloud: LabelledCloud, cfg: LabelConfig, types, what: str = "carve") -> None:
    lo, hi = cfg.ratio_range(types)
    if cfg.check_ratio and not (lo <= cloud.ratio <= hi):
        raise LabelRatioError(
            f"{what} labels {100 * cloud.ratio:.2f}% of points anomalous, outside the accepted "
            f"{100 * lo:.2f}–{100 * hi:.2f}% (Open-Industry 0.5–2.6%, Anomaly-ShapeNet 1–10%); change the "
            "defect's radius/depth or the ratio range", what=what, ratio=cloud.ratio, lo=lo, hi=hi)


def label_carve(original, result, specs: list[DefectSpec], cfg: LabelConfig = LabelConfig(),
                seed: int = 0) -> LabelledCloud:
    """Sample the carved mesh and label every sample (see the module docstring)."""
    pts, normals, p_ref, n_ref = sample_carved(result, cfg.n_points, seed)
    cloud = label_points(original, specs, pts, normals, p_ref, n_ref, cfg)
    if cfg.add_noise:
        rng = np.random.default_rng(seed + 1)
        cloud.points = cloud.points + normals * rng.normal(0.0, cfg.noise_sigma_mm, (len(pts), 1))
    return cloud


def write_sample(out: str | Path, cloud: LabelledCloud, specs: list[DefectSpec], carved_mesh=None,
                 **report) -> Path:
    """``<out>/cloud.ply`` + ``labels.npy`` (+ ``mesh.ply``), then ``defects.json`` last.

    Each file is written atomically and ``defects.json`` (the sample's completion marker) only after
    the others, so a crash never leaves a sample that looks complete.
    """
    from scan2ad.io import atomic_path
    from scan2ad.pointcloud import PointCloud, write_cloud

    from .specs import write_defects

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_cloud(out / "cloud.ply", PointCloud(cloud.points, normals=cloud.normals, labels=cloud.labels))
    with atomic_path(out / "labels.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, cloud.labels.astype(np.uint8))
    if carved_mesh is not None:
        with atomic_path(out / "mesh.ply") as tmp:
            carved_mesh.export(tmp, file_type="ply")
    write_defects(out / "defects.json", specs, anomaly_ratio=cloud.ratio, n_points=len(cloud.labels),
                  anomalous_points=int(cloud.labels.sum()), **report)
    return out
