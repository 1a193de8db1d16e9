"""Circular markers in the multi-view stage: a wrong turntable angle that FRICP alone may not
correct (beyond its tolerance) is fixed by least squares on the matched marker centres, which
registration.json records; markers that do not match leave the prior in charge; the white
frames of a saved view are read, detected and triangulated."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import trimesh
from helpers.shapes import box_with_post

from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.pointcloud import PointCloud
from scan2ad.reconstruction.registration.markers import (
    MarkerUseConfig,
    marker_transform,
    session_view_markers,
)
from scan2ad.reconstruction.registration.multiview import MultiviewConfig, register_views, rot_z
from scan2ad.reconstruction.registration.se3 import transform, transform_error

ANGLES = [0.0, 120.0, 240.0]
ANGLE_ERROR = 4.0  # degrees added to view 1's recorded angle: beyond FRICP's 3° tolerance


def _constellation(n=12, seed=3):
    """Markers on the table around the part (world frame, angle 0)."""
    rng = np.random.default_rng(seed)
    ang = np.radians(np.arange(n) * 360 / n + rng.uniform(-8, 8, n))
    rad = np.where(np.arange(n) % 2 == 0, 45.0, 36.0) + rng.uniform(-3, 3, n)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang), np.zeros(n)], axis=1)


@pytest.fixture(scope="module")
def scene():
    calib = true_calibration(load_rig("virtual"))
    T_0w = np.linalg.inv(calib.T_world_cam0)
    cam = calib.T_world_cam0[:3, 3]
    mesh = box_with_post()
    pts, face = trimesh.sample.sample_surface_even(mesh, 20000, seed=0)
    nrm = mesh.face_normals[face]
    C = _constellation()
    rng = np.random.default_rng(0)
    clouds, markers = [], []
    for a in ANGLES:
        R = rot_z(a)
        pw, nw = transform(R, pts), nrm @ R[:3, :3].T
        seen = np.einsum("ij,ij->i", cam - pw, nw) > 0  # faces the camera
        clouds.append(PointCloud(transform(T_0w, pw[seen]), nw[seen] @ T_0w[:3, :3].T))
        mk = transform(T_0w @ R, C) + rng.normal(0, 0.01, C.shape)  # triangulation noise
        markers.append(mk[rng.permutation(len(mk))][2:])  # order means nothing; 2 unseen
    recorded = [a + (ANGLE_ERROR if i == 1 else 0.0) for i, a in enumerate(ANGLES)]
    true = [rot_z(-a) @ calib.T_world_cam0 for a in ANGLES]
    return calib, clouds, markers, recorded, true


def _pose_errors(reg, true):
    return [transform_error(T, t)[0] for T, t in zip(reg["T_world_view"], true)]


def test_markers_fix_a_wrong_turntable_angle(scene):
    calib, clouds, markers, recorded, true = scene
    cfg = MultiviewConfig(voxel_mm=1.0)
    with_markers = register_views(clouds, recorded, calib.T_world_cam0, cfg, markers=markers)
    errs = _pose_errors(with_markers, true)
    assert max(errs) < 0.1, errs
    pairs = {(p["source"], p["target"]): p for p in with_markers["pairs"]}
    p01 = pairs[("view_000", "view_001")]
    assert "markers" in p01["method"] and p01["markers"]["matched"] >= 8
    assert p01["markers"]["rms_mm"] < 0.05
    assert p01["markers"]["deviation_from_prior_deg"] == pytest.approx(ANGLE_ERROR, abs=0.1)
    assert "markers" in with_markers["method"]
    again = register_views(clouds, recorded, calib.T_world_cam0, cfg, markers=markers)
    for a, b in zip(again["T_world_view"], with_markers["T_world_view"]):
        assert np.array_equal(a, b)  # the same poses, bit for bit, on a second run
    # the same views without markers: the correction is beyond FRICP's tolerance, the wrong
    # prior stays, and view 1 is off by the angle error
    without = register_views(clouds, recorded, calib.T_world_cam0, cfg)
    assert max(_pose_errors(without, true)) > 1.0
    assert not any("markers" in p["method"] for p in without["pairs"])


def test_markers_that_do_not_match_leave_the_prior(scene):
    calib, _, markers, recorded, _ = scene
    prior = np.linalg.inv(rot_z(-recorded[1]) @ calib.T_world_cam0) @ (
        rot_z(-recorded[0]) @ calib.T_world_cam0
    )
    ok = marker_transform(markers[0], markers[1], prior)
    assert ok is not None and ok["matched"] >= 8
    rng = np.random.default_rng(1)
    assert marker_transform(markers[0], rng.uniform(-50, 50, (10, 3)), prior) is None
    assert marker_transform(markers[0], markers[1][:3], prior) is None  # too few
    assert marker_transform(markers[0], None, prior) is None
    # a match far from the prior (a mirrored constellation, say) is not trusted
    tight = MarkerUseConfig(max_deviation_deg=1.0)
    assert marker_transform(markers[0], markers[1], prior, tight) is None


def test_session_view_markers_reads_the_white_frames(tmp_path):
    from scan2ad.acquisition.calibration.virtual_boards import BoardRenderConfig, render_markers

    rig = load_rig("virtual")
    calib = true_calibration(rig)
    C = _constellation(10)
    N = np.tile([0.0, 0.0, 1.0], (len(C), 1))
    cfg = BoardRenderConfig.from_rig(rig)
    rng = np.random.default_rng(0)
    view = tmp_path / "view_000"
    for cam, dev in (("cam0", rig.virtual.cam0), ("cam1", rig.virtual.cam1)):
        img = render_markers(
            dev, (1280, 1024), np.linalg.inv(dev.T_world_device), C, N, 3.0, cfg, rng
        )
        (view / cam).mkdir(parents=True)
        cv2.imwrite(str(view / cam / "00.png"), img)
    session = SimpleNamespace(
        patterns=SimpleNamespace(frames=[SimpleNamespace(kind="white")]),
        view_dir=lambda i: tmp_path / f"view_{i:03d}",
    )
    found = session_view_markers(session, 0, calib)
    truth = transform(np.linalg.inv(calib.T_world_cam0), C)
    d = np.linalg.norm(found[:, None] - truth[None], axis=2).min(axis=1)
    assert len(found) >= 8 and d.max() < 0.05, d
    no_white = SimpleNamespace(patterns=SimpleNamespace(frames=[SimpleNamespace(kind="gray")]))
    assert session_view_markers(no_white, 0, calib) is None
