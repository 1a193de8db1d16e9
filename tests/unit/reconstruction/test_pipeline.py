"""The reconstruction stage end to end on exact decoded maps of a part on the turntable:
accuracy and coverage against the mesh, registration correcting a wrong turntable angle,
artefacts and reports, a view that does not register, ``scan2ad reconstruct`` bad input, and
(slow) the same bytes from a second run on the same input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner
from helpers.shapes import box_with_post
from scipy.spatial import cKDTree

from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.errors import Scan2adError
from scan2ad.io import read_json
from scan2ad.pointcloud import read_cloud
from scan2ad.reconstruction.cli import reconstruct
from scan2ad.reconstruction.pipeline import ReconstructConfig, reconstruct_views
from scan2ad.reconstruction.registration.multiview import MultiviewConfig, register_views, rot_z
from scan2ad.reconstruction.registration.se3 import transform_error
from scan2ad.reconstruction.synthetic import decoded_maps_from_mesh

ANGLES = [0.0, 72.0, 144.0, 216.0, 288.0]
ANGLE_ERROR = 1.5  # degrees added to view 2's recorded angle


@pytest.fixture(scope="module")
def recon(tmp_path_factory):
    calib = true_calibration(load_rig("virtual"))
    mesh = box_with_post()
    T_0w = np.linalg.inv(calib.T_world_cam0)
    views = []
    for i, a in enumerate(ANGLES):
        maps = decoded_maps_from_mesh(mesh, calib, T_0w @ rot_z(a))
        views.append((f"view_{i:03d}", a + (ANGLE_ERROR if i == 2 else 0.0), maps))
    out = tmp_path_factory.mktemp("recon")
    summary = reconstruct_views(views, calib, out, ReconstructConfig())
    return calib, mesh, out, summary, views


def test_accuracy_and_coverage(recon):
    _, mesh, out, _, _ = recon
    part = read_cloud(out / "part.ply")
    diag = float(np.linalg.norm(mesh.extents))
    d = np.abs(trimesh.proximity.signed_distance(mesh, part.points[::5]))
    assert d.mean() < 5e-4 * diag
    assert np.percentile(d, 95) < 2e-3 * diag
    # coverage of the area the views can see: the part minus its bottom face on the table
    pts, face = trimesh.sample.sample_surface_even(mesh, 6000, seed=0)
    seen = ~((mesh.face_normals[face][:, 2] < -0.9) & (pts[:, 2] < 0.5)) & (pts[:, 2] > 0.6)
    near, _ = cKDTree(part.points).query(pts[seen])
    assert (near < 1.0).mean() >= 0.95
    assert 88_000 <= len(part) <= 90_000


def test_registration_corrects_the_turntable_angle(recon):
    calib, _, out, _, _ = recon
    reg = read_json(out / "registration.json")
    true = [rot_z(-a) @ calib.T_world_cam0 for a in ANGLES]
    for i, name in enumerate(sorted(reg["views"])):
        T = np.array(reg["views"][name]["T_world_view"])
        rot, _ = transform_error(T, true[i])
        c = read_cloud(out / "views" / f"{name}.ply").points.mean(axis=0)  # on the part
        shift = np.linalg.norm((T[:3, :3] - true[i][:3, :3]) @ c + T[:3, 3] - true[i][:3, 3])
        assert rot < 0.1 and shift < 0.05, (name, rot, shift)
    pairs = {(p["source"], p["target"]): p for p in reg["pairs"]}
    assert pairs[("view_001", "view_002")]["correction_deg"] == pytest.approx(ANGLE_ERROR, abs=0.2)
    assert ("view_004", "view_000") in pairs  # loop closure over 360°
    for p in reg["pairs"]:
        assert {"method", "fitness", "inlier_rmse", "iterations", "time_s"} <= set(p)


def test_artefacts_and_reports(recon):
    out = recon[2]
    for name in ("fused", "clean", "part", "mesh"):
        assert (out / f"{name}.ply").is_file() and (out / f"{name}.json").is_file()
    clean = read_json(out / "clean.json")
    assert clean["points_in"] >= clean["points_out"] > 0
    assert clean["passes"][-1]["removed_fraction"] < clean["parameters"]["stop_fraction"]
    view = read_cloud(out / "views" / "view_000.ply")
    assert view.normals is not None and "confidence" in view.extra
    assert (out / "report.png").stat().st_size > 10_000
    mesh_out = trimesh.load(out / "mesh.ply")
    assert len(mesh_out.faces) > 1000
    mrep = read_json(out / "mesh.json")
    assert mrep["n_threads"] == 1 and mrep["scale"] == 1.5


def _without_times(x):
    if isinstance(x, dict):
        return {k: _without_times(v) for k, v in x.items() if k not in ("time_s", "version")}
    if isinstance(x, list):
        return [_without_times(v) for v in x]
    return x


@pytest.mark.slow
def test_same_input_gives_the_same_bytes(recon, tmp_path):
    calib, _, out, _, views = recon
    reconstruct_views(views, calib, tmp_path, ReconstructConfig())
    names = ["fused.ply", "clean.ply", "part.ply", "mesh.ply", "views/view_002.ply"]
    for name in names:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    for name in ("registration.json", "part.json", "mesh.json", "clean.json"):
        a, b = read_json(tmp_path / name), read_json(out / name)
        assert _without_times(a) == _without_times(b), name


def test_a_view_that_does_not_register_is_named(recon):
    calib, _, out, _, _ = recon
    clouds = [read_cloud(out / "views" / f"view_{i:03d}.ply") for i in range(3)]
    # 40 mm off (25 mm left 30% of its points within reach of the box's large faces: fitness 0.301)
    clouds[2].points = clouds[2].points + np.array([40.0, 0.0, 0.0])
    with pytest.raises(Scan2adError, match="view_002"):
        register_views(clouds, ANGLES[:3], calib.T_world_cam0, MultiviewConfig(voxel_mm=1.5))


def test_reconstruct_cli_bad_session(tmp_path):
    res = CliRunner().invoke(reconstruct, [str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "session.json" in str(res.exception) + res.output


def test_normal_motion_ignores_a_spin_about_a_symmetry_axis():
    """Two views of a cylinder (a surface of revolution about z): spinning the source about the
    axis or sliding it along the axis moves nothing across the surface; a tilt or a shift
    across the axis does, by its RMS component along the normals."""
    from scipy.spatial import cKDTree

    from scan2ad.reconstruction.registration.multiview import normal_motion
    from scan2ad.reconstruction.registration.se3 import se3_exp

    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 1.5 * np.pi, 4000)
    pts = np.stack([10 * np.cos(ang), 10 * np.sin(ang), rng.uniform(0, 20, 4000)], 1)
    normals = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], 1)
    tree = cKDTree(pts)

    def motion(xi):
        return normal_motion(pts, tree, normals, np.eye(4), se3_exp(np.array(xi)), 1.0)

    assert motion([0, 0, 0.01, 0, 0, 0.2]) < 2e-3  # 0.57° spin + 0.2 mm slide: ~0.1 mm moves
    assert motion([0, 0, 0, 0.05, 0, 0]) == pytest.approx(0.05 / np.sqrt(2), rel=0.1)
    assert motion([0.002, 0, 0, 0, 0, 0]) > 0.01  # a 0.11° tilt: 0.002 × z, about 0.02 mm


def test_grazing_points_stay_only_where_nothing_better_measures_the_surface():
    from scan2ad.pointcloud import PointCloud
    from scan2ad.reconstruction.pipeline import drop_redundant_grazing

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 10, (500, 3)) * [1, 1, 0]  # a face seen steeply
    b = a[:100] + [0, 0, 0.05]  # the same face seen again at a grazing angle
    c = rng.uniform(0, 10, (200, 3)) * [1, 1, 0] + [20, 0, 0]  # a face seen only grazing
    inc = np.r_[np.full(500, 30.0), np.full(300, 80.0)]
    cloud = PointCloud(np.vstack([a, b, c]), extra={"incidence": inc.astype(np.float32)})
    kept, dropped = drop_redundant_grazing(cloud, 70.0, 0.25)
    assert dropped == 100
    np.testing.assert_array_equal(kept.points, np.vstack([a, c]))
    assert drop_redundant_grazing(cloud, 90.0, 0.25)[1] == 0
