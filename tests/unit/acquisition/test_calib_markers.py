"""Circular reference markers rendered through the true virtual geometry: sub-pixel detection,
stereo triangulation, distance-invariant matching between turntable views, Kabsch alignment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scan2ad.acquisition.calibration.markers import (
    MarkerConfig,
    detect_markers,
    kabsch_umeyama,
    match_constellations,
    triangulate_markers,
)
from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.calibration.virtual_boards import (
    BoardRenderConfig,
    project,
    render_markers,
)
from scan2ad.acquisition.rig import load_rig

DIAMETER = 3.0


def _Rz(deg: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", deg, degrees=True).as_matrix()
    return T


def _constellation(rng, n=14):
    """Markers on the table and on raised blocks (z up to 20 mm), none overlapping in the images."""
    ang = np.deg2rad(np.arange(n) * 360 / n + rng.uniform(-6, 6, n))
    rad = np.where(np.arange(n) % 2 == 0, 42.0, 27.0) + rng.uniform(-3, 3, n)
    z = np.where(np.arange(n) % 3 == 0, rng.uniform(8, 20, n), 0.0)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang), z], axis=1)


@pytest.fixture(scope="module")
def scene():
    rig = load_rig("virtual")
    rng = np.random.default_rng(11)
    C = _constellation(rng)
    N = np.tile([0.0, 0.0, 1.0], (len(C), 1))
    cfg = BoardRenderConfig.from_rig(rig)
    views = {}
    for angle in (0.0, 40.0):
        Cw = (_Rz(angle)[:3, :3] @ C.T).T
        dets, truth_px = [], []
        for dev in (rig.virtual.cam0, rig.virtual.cam1):
            T_cam_world = np.linalg.inv(dev.T_world_device)
            img = render_markers(dev, (1280, 1024), T_cam_world, Cw, N, DIAMETER, cfg, rng)
            dets.append(detect_markers(img))
            truth_px.append(project(dev, T_cam_world, Cw))
        views[angle] = (Cw, dets, truth_px)
    return rig, views


def test_detected_centres_are_sub_pixel(scene):
    _, views = scene
    for Cw, dets, truth_px in views.values():
        for det, tp in zip(dets, truth_px):
            d = np.linalg.norm(det.centres[:, None] - tp[None], axis=2).min(axis=1)
            assert len(det) >= 12
            assert np.median(d) < 0.08 and np.sort(d)[-2] < 0.2, d


def test_triangulated_markers_match_the_truth(scene):
    rig, views = scene
    cal = true_calibration(rig)
    T_cam0_world = np.linalg.inv(rig.virtual.cam0.T_world_device)
    for Cw, dets, _ in views.values():
        sm = triangulate_markers(cal, dets[0], dets[1])
        assert len(sm.points) >= 11
        Xt = (T_cam0_world[:3, :3] @ Cw.T).T + T_cam0_world[:3, 3]
        err = np.linalg.norm(sm.points[:, None] - Xt[None], axis=2).min(axis=1)
        assert err.max() < 0.03, err
        np.testing.assert_allclose(sm.diameter_mm, DIAMETER, rtol=0.05)
        assert sm.epipolar_px.max() < 0.3


def test_matching_between_table_angles_recovers_the_rotation(scene):
    rig, views = scene
    cal = true_calibration(rig)
    A = triangulate_markers(cal, *views[0.0][1]).points
    B = triangulate_markers(cal, *views[40.0][1]).points
    B = B[np.random.default_rng(0).permutation(len(B))]  # order means nothing
    m = match_constellations(A, B)
    assert m.ok and len(m.pairs) >= 9 and m.rms_mm < 0.03
    T0 = rig.virtual.cam0.T_world_device
    T_true = np.linalg.inv(T0) @ _Rz(40.0) @ T0  # the table's motion, cam0 frame
    rot_err = np.degrees(Rotation.from_matrix(m.T_b_a[:3, :3] @ T_true[:3, :3].T).magnitude())
    assert rot_err < 0.02 and np.linalg.norm(m.T_b_a[:3, 3] - T_true[:3, 3]) < 0.05


def test_constellation_matching_with_outliers_and_partial_overlap():
    rng = np.random.default_rng(5)
    A = rng.uniform(-50, 50, (18, 3))
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([0.3, -1.2, 0.7]).as_matrix()
    T[:3, 3] = [40, -10, 300]
    keep = rng.permutation(18)[:12]  # B sees 12 of A's markers ...
    B = np.vstack(
        [
            (A[keep] @ T[:3, :3].T + T[:3, 3]) + rng.normal(0, 0.02, (12, 3)),
            rng.uniform(-50, 50, (4, 3)) + [40, -10, 300],
        ]
    )  # ... plus 4 markers A lacks
    order = rng.permutation(len(B))
    m = match_constellations(A, B[order], MarkerConfig(match_tol_mm=0.15))
    assert m.ok and len(m.pairs) == 12
    inv = np.argsort(order)
    assert sorted(map(tuple, m.pairs)) == sorted((int(a), int(inv[k])) for k, a in enumerate(keep))
    np.testing.assert_allclose(m.T_b_a[:3, :3], T[:3, :3], atol=1e-3)  # 0.02 mm noise on 100 mm
    np.testing.assert_allclose(m.T_b_a[:3, 3], T[:3, 3], atol=0.03)
    # too few common markers: an explicit failure, not a guess
    assert not match_constellations(A[:3], B).ok


def test_kabsch_umeyama_exact_and_scaled():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(10, 3))
    R = Rotation.from_rotvec([0.1, 0.2, -2.5]).as_matrix()
    B = 1.7 * A @ R.T + [1, 2, 3]
    T, s, rms = kabsch_umeyama(A, B, scale=True)
    assert abs(s - 1.7) < 1e-9 and rms < 1e-9
    np.testing.assert_allclose(T[:3, :3], 1.7 * R, atol=1e-9)
    _, s1, rms1 = kabsch_umeyama(A, A @ R.T)
    assert s1 == 1.0 and rms1 < 1e-9
    with pytest.raises(ValueError):
        kabsch_umeyama(A[:2], B[:2])
