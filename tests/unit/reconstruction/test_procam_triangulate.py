"""Camera–projector triangulation and the calibration checks, on exact decoded maps of known
meshes (virtual rig truth): one camera + projector, and the stereo path's mismatch check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh

from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.errors import InputError
from scan2ad.reconstruction.procam import (
    CalibrationMismatch,
    ProcamTriangulateConfig,
    intersect_rays,
    triangulate_procam,
)
from scan2ad.reconstruction.synthetic import decoded_maps_from_mesh
from scan2ad.reconstruction.triangulate import stereo_correspondence_check, triangulate_view


@pytest.fixture(scope="module")
def scene():
    calib = true_calibration(load_rig("virtual"))
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=25.0)
    T = np.eye(4)
    T[:3, 3] = [0, 10, 300]
    maps = decoded_maps_from_mesh(mesh, calib, T)
    moved = mesh.copy()
    moved.apply_transform(T)
    return calib, maps, moved


def test_intersect_rays_recovers_points(scene):
    calib, _, _ = scene
    import cv2

    proj = calib.projector_model()
    rng = np.random.default_rng(0)
    X = rng.uniform([-30, -30, 270], [30, 30, 330], (200, 3))
    cam = calib.cameras["cam0"]
    uc, _ = cv2.projectPoints(X, np.zeros(3), np.zeros(3), cam.K, cam.dist)
    Xp = X @ proj.T_projector_cam0[:3, :3].T + proj.T_projector_cam0[:3, 3]
    up, _ = cv2.projectPoints(Xp, np.zeros(3), np.zeros(3), proj.K, proj.dist)
    P, err = intersect_rays(uc.reshape(-1, 2), up.reshape(-1, 2), cam, proj)
    np.testing.assert_allclose(P, X, atol=1e-4)
    assert err.max() < 1e-4
    # a column-only code cuts the ray with the column's plane: still exact
    only_col = up.reshape(-1, 2).copy()
    only_col[:, 1] = np.nan
    P1, err1 = intersect_rays(uc.reshape(-1, 2), only_col, cam, proj)
    np.testing.assert_allclose(P1, X, atol=1e-3)
    assert np.isnan(err1).all()


def test_procam_cloud_lies_on_the_mesh(scene):
    calib, maps, moved = scene
    cloud, check = triangulate_procam(maps["cam0"], calib, "phase", ProcamTriangulateConfig())
    assert len(cloud) > 0.9 * maps["cam0"].valid.sum()
    d = np.abs(trimesh.proximity.signed_distance(moved, cloud.points[::25]))
    assert d.mean() < 0.01 and np.percentile(d, 95) < 0.03
    assert check.median_error_px < 0.05 and check.kept_fraction > 0.99
    assert (np.einsum("ij,ij->i", cloud.normals, cloud.points) < 0).mean() > 0.99
    assert set(cloud.extra) >= {"confidence", "epipolar_px"}
    # from cam1 too: the points come back in the cam0 frame
    cloud1, _ = triangulate_procam(maps["cam1"], calib, "phase", camera="cam1")
    d1 = np.abs(trimesh.proximity.signed_distance(moved, cloud1.points[::25]))
    assert d1.mean() < 0.01


def test_a_wrong_projector_calibration_stops_with_the_measured_error(scene):
    calib, maps, _ = scene
    proj = calib.projector_model()
    R = trimesh.transformations.rotation_matrix(np.radians(3.0), [1, 0, 0])
    moved = dataclasses.replace(proj, T_projector_cam0=R @ proj.T_projector_cam0)
    bad = dataclasses.replace(calib, projector=moved.to_dict())
    with pytest.raises(CalibrationMismatch, match=r"median epipolar error \d+\.\d+ px.*[Rr]ecalibrate"):
        triangulate_procam(maps["cam0"], bad, "phase")


def test_stereo_check_catches_a_wrong_calibration(scene):
    calib, maps, _ = scene
    good = stereo_correspondence_check(maps, calib)
    assert good["pairs"] > 1000 and good["median_px"] < 0.5
    swapped = {"cam0": maps["cam1"], "cam1": maps["cam0"]}
    with pytest.raises(CalibrationMismatch, match="swapped"):
        triangulate_view(swapped, calib)
    # another rig's calibration (cam1 moved up by 4 mm): rows no longer correspond
    st = calib.stereo
    T = st.T + st.R @ np.array([0.0, 4.0, 0.0])
    tx = np.array([[0, -T[2], T[1]], [T[2], 0, -T[0]], [-T[1], T[0], 0]])
    K0, K1 = calib.cameras["cam0"].K, calib.cameras["cam1"].K
    F = np.linalg.inv(K1).T @ tx @ st.R @ np.linalg.inv(K0)
    other = dataclasses.replace(calib, stereo=dataclasses.replace(st, T=T, E=tx @ st.R, F=F / F[2, 2]))
    with pytest.raises(CalibrationMismatch, match=r"median epipolar distance \d+\.\d+ px"):
        triangulate_view(maps, other)


def test_scale_selection_keeps_the_coarse_window_on_smooth_maps_and_the_fine_one_on_creases():
    """A decoded column map: a gentle quadratic with 0.05 px of noise, and a band of sharp
    triangular ridges (threads seen at an angle: not quadratic over the coarse window). The
    selection keeps the coarse smoothing on the quadratic (less noise) and the fine one on the
    ridges (less bias), so its error is below both single scales' on both halves."""
    from types import SimpleNamespace

    from scan2ad.reconstruction.procam import select_scale, subpixel_maps
    from scan2ad.reconstruction.triangulate import _smooth_decoded

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:160, 0:160].astype(np.float64)
    truth = 200 + 0.4 * x + 0.001 * (x - 80) ** 2 + 0.0005 * (y - 80) ** 2
    ridge = y >= 100
    truth[ridge] += 1.5 * np.abs(((x[ridge] / 6.0) % 1.0) - 0.5)
    col = (truth + rng.normal(0, 0.05, truth.shape)).astype(np.float32)
    valid = np.ones(col.shape, bool)
    coarse, fine = (_smooth_decoded([col], valid, s, 2, 0.3)[0] for s in (1.5, 1.0))
    picked = select_scale(coarse, fine, 2.0)
    inner = np.zeros_like(valid)
    inner[5:-5, 5:-5] = True
    smooth, creased = inner & (y < 95), inner & (y >= 105)
    assert (picked[smooth] == coarse[smooth]).mean() > 0.85
    assert (picked[creased] == fine[creased]).mean() > 0.3

    def err(m, where):
        return float(np.abs(m[where] - truth[where]).mean())

    assert err(picked, smooth) < err(fine, smooth)
    assert err(picked, creased) < err(coarse, creased)
    # through subpixel_maps: phase shift selects, Gray code (integer codes) keeps one scale
    dm = SimpleNamespace(col=col, row=np.full(col.shape, np.nan, np.float32), valid=valid)
    c, r = subpixel_maps(dm, "phase", ProcamTriangulateConfig())
    np.testing.assert_array_equal(c, picked)
    assert np.isnan(r).all()
    c_off, _ = subpixel_maps(dm, "phase", ProcamTriangulateConfig(smooth_fine_sigma_px=0))
    np.testing.assert_array_equal(c_off, coarse)
    with pytest.raises(InputError, match="smooth_fine_sigma_px"):
        ProcamTriangulateConfig(smooth_fine_sigma_px=float("nan"))
