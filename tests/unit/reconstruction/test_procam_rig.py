"""Rigs of either shape: a one-camera virtual rig (camera + calibrated projector) captures and
reconstructs through ``scan2ad capture`` / ``scan2ad reconstruct``; a two-camera calibration with
a projector triangulates from three rays."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from helpers.shapes import box_with_post

from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.reconstruction.synthetic import decoded_maps_from_mesh
from scan2ad.reconstruction.triangulate import TriangulateConfig, three_ray_gain, triangulate_view


@pytest.mark.parametrize("rig", ["virtual", "virtual_small"])
def test_virtual_procam_rig_is_the_virtual_rig_less_cam1(rig):
    one, two = load_rig(f"{rig}_procam"), load_rig(rig)
    assert one.one_camera and not two.one_camera
    assert one.virtual.cam0 == two.virtual.cam0 and one.virtual.projector == two.virtual.projector
    cal = true_calibration(one)
    assert cal.stereo is None and set(cal.cameras) == {"cam0"}
    np.testing.assert_allclose(
        cal.projector_model().T_projector_cam0, true_calibration(two).projector_model().T_projector_cam0
    )


def test_one_camera_rig_captures_and_reconstructs(tmp_path):
    from scan2ad.cli import main
    from scan2ad.io import read_json
    from scan2ad.pointcloud import read_cloud

    rig = "virtual_small_procam"
    session, recon = tmp_path / "session", tmp_path / "recon"
    assert main(["capture", "--rig", str(rig), "--part", "heavy_washer", "--views", "3",
                 "--out", str(session), "--no-decode"]) == 0
    assert (session / "view_000" / "cam0").is_dir() and not (session / "view_000" / "cam1").exists()
    assert read_json(session / "session.json", supported=None)["cameras"] == ["cam0"]
    # (the dark table measures with 0.2 mm of depth noise through 400x320 pixels and a 55 mm
    # baseline: the crop margin follows that noise, ReconstructConfig.table_noise_factor)
    assert main(["reconstruct", str(session), "--out", str(recon), "--no-mesh",
                 "--target-points", "5000"]) == 0
    part = read_cloud(recon / "part.ply")
    truth = trimesh.load(session / "truth" / "part_world.ply")
    d = np.abs(trimesh.proximity.signed_distance(truth, part.points[::5]))
    diag = float(np.linalg.norm(truth.extents))
    assert len(part) > 1000
    assert d.mean() < 2e-3 * diag, d.mean() / diag  # 400x320 cameras: ~0.5 mm pixels


def test_virtual_threeray_rig_is_the_virtual_rig_with_the_projector_raised():
    three, two = load_rig("virtual_threeray"), load_rig("virtual")
    assert three.virtual.cam0 == two.virtual.cam0 and three.virtual.cam1 == two.virtual.cam1
    cal = true_calibration(three)
    # the projector in the cam0 frame: between the cameras, well off their baseline (cam0 y up)
    c_p = cal.projector_model().T_cam0_projector[:3, 3]
    c_1 = -cal.stereo.R.T @ np.asarray(cal.stereo.T).ravel()
    off = np.linalg.norm(np.cross(c_p, c_1)) / np.linalg.norm(c_1)
    assert off > 50.0, off
    off_two = np.linalg.norm(np.cross(true_calibration(two).projector_model().T_cam0_projector[:3, 3], c_1))
    assert off_two / np.linalg.norm(c_1) < 10.0


def _three_vs_two(rig: str) -> dict:
    calib = true_calibration(load_rig(rig))
    mesh = box_with_post()
    T = np.eye(4)
    T[:3, :3] = trimesh.transformations.euler_matrix(0.6, 0.3, 0.2)[:3, :3]
    T[:3, 3] = [0, 10, 300]
    maps = decoded_maps_from_mesh(mesh, calib, T)
    rng = np.random.default_rng(0)
    for m in maps.values():  # the decoder's noise, ~0.1 projector px, independent per map
        m.col[:] += rng.normal(0, 0.1, m.col.shape).astype(np.float32)
        m.row[:] += rng.normal(0, 0.1, m.row.shape).astype(np.float32)
    moved = mesh.copy()
    moved.apply_transform(T)
    err = {}
    for name, cfg in (("two", TriangulateConfig(use_projector=False)),
                      ("three", TriangulateConfig(use_projector=True)),
                      ("filled", TriangulateConfig(use_projector=True, fill_from_projector=True)),
                      ("auto", TriangulateConfig(projector_auto_ratio=0.85))):
        cloud = triangulate_view(maps, calib, config=cfg)
        err[name] = (len(cloud), float(np.abs(trimesh.proximity.signed_distance(moved, cloud.points[::20])).mean()))
    return err


def test_three_rays_beat_two_where_the_projector_adds_information():
    # the projector 58 mm off the camera baseline: its rows carry as much depth information as
    # the columns, the variance halves (error ~0.71x; triangulate's module docstring)
    err = _three_vs_two("virtual_threeray")
    assert err["three"][1] < 0.85 * err["two"][1], err
    assert err["filled"][0] > err["three"][0], err  # the pair fills what cam1 does not see
    assert err["auto"] == err["three"], err  # predicted 0.72 <= 0.85: the third ray is used


def test_three_ray_gain_is_predicted_from_the_rig_geometry():
    # the projector midway on the baseline adds nothing; 58 mm off it, rows ~ columns (0.71x
    # in theory); a one-camera rig has no stereo to compare with
    assert three_ray_gain(true_calibration(load_rig("virtual"))) > 0.99
    assert 0.68 < three_ray_gain(true_calibration(load_rig("virtual_threeray"))) < 0.76
    assert three_ray_gain(true_calibration(load_rig("virtual_procam"))) is None


@pytest.mark.slow
def test_three_rays_equal_two_with_the_projector_midway_on_the_baseline():
    # virtual.toml: the least squares over the columns is the stereo depth (a = b), the rows
    # carry ~1% of the information
    err = _three_vs_two("virtual")
    assert 0.97 < err["three"][1] / err["two"][1] < 1.03, err
    assert err["auto"] == err["two"], err  # predicted 1.000 > 0.85: stereo alone
