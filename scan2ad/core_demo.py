"""Demo step for the core: write a cloud in every format, read it back, run units in a pool."""

from __future__ import annotations

import numpy as np

from scan2ad.executors import Unit, run_units
from scan2ad.pointcloud import PointCloud, read_cloud, write_cloud


def sphere_point_count(radius: float, spacing: float) -> int:
    """Points of a sphere sampled at ``spacing`` (a unit of work for the executor check)."""
    return round(4 * np.pi * radius**2 / spacing**2)


def run(ctx) -> str:
    out = ctx.workdir / "core"
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2000, 3))
    normals = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    cloud = PointCloud(normals * 10.0, normals, labels=(pts[:, 2] > 1.5).astype(np.uint8))
    formats = ["ply", "pcd", "txt", "npz"]
    for fmt in formats:
        path = write_cloud(out / f"sphere.{fmt}", cloud)
        back = read_cloud(path)
        assert len(back) == len(cloud) and np.array_equal(back.labels, cloud.labels)
    units = [Unit(sphere_point_count, {"radius": r, "spacing": 0.5}, f"sphere r={r}") for r in (5, 10, 20)]
    report = run_units(units, workers=min(ctx.workers, 2), cache_dir=out / "cache", desc="core units")
    return (f"round-tripped a {len(cloud)}-point labelled cloud through {', '.join(formats)}; "
            f"ran {len(report.ran)} unit(s), {len(report.cached)} cached")
