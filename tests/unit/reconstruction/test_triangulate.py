"""Stereo back-projection on exact decoded maps of known meshes (virtual rig calibration)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from scan2ad.acquisition.calibration.model import true_calibration
from scan2ad.acquisition.rig import load_rig
from scan2ad.errors import InputError
from scan2ad.reconstruction.synthetic import decoded_maps_from_mesh
from scan2ad.reconstruction.triangulate import TriangulateConfig, rectification, triangulate_view


@pytest.fixture(scope="module")
def calib():
    return true_calibration(load_rig("virtual"))


def _visible_truth(maps, calib, mesh, T):
    """cam0 pixels whose surface point is lit and also seen by cam1 (same point), as 3D points."""
    import open3d as o3d

    from scan2ad.reconstruction.synthetic import _pixel_rays

    c0 = calib.cameras["cam0"]
    verts = np.asarray(mesh.vertices) @ T[:3, :3].T + T[:3, 3]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(verts.astype(np.float32)),
        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)),
    )
    dirs = _pixel_rays(c0.K, c0.dist, c0.image_size)[maps["cam0"].valid.ravel()]
    t = scene.cast_rays(o3d.core.Tensor(np.hstack([np.zeros_like(dirs), dirs]).astype(np.float32)))[
        "t_hit"
    ].numpy()
    X = dirs * t[:, None]
    centre1 = -calib.stereo.R.T @ calib.stereo.T
    v = X - centre1
    L = np.linalg.norm(v, axis=1)
    t1 = scene.cast_rays(
        o3d.core.Tensor(
            np.hstack([np.broadcast_to(centre1, v.shape), v / L[:, None]]).astype(np.float32)
        )
    )["t_hit"].numpy()
    seen1 = np.abs(t1 - L) < 0.01
    # and inside cam1's image
    import cv2

    X1 = X @ calib.stereo.R.T + calib.stereo.T
    uv, _ = cv2.projectPoints(
        X1, np.zeros(3), np.zeros(3), calib.cameras["cam1"].K, calib.cameras["cam1"].dist
    )
    uv = uv.reshape(-1, 2)
    w, h = calib.cameras["cam1"].image_size
    inside = (uv[:, 0] > 1) & (uv[:, 0] < w - 2) & (uv[:, 1] > 1) & (uv[:, 1] < h - 2)
    return X[seen1 & inside]


@pytest.mark.parametrize("shape", ["sphere", "bracket"])
def test_accuracy_and_coverage(calib, shape):
    if shape == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=5, radius=25.0)
    else:
        box = trimesh.creation.box((50, 30, 12))
        post = trimesh.creation.cylinder(radius=8, height=20, sections=64)
        post.apply_translation((10, 0, 14))
        mesh = trimesh.util.concatenate([box, post])
    T = np.eye(4)
    T[:3, :3] = trimesh.transformations.euler_matrix(0.6, 0.3, 0.2)[:3, :3]
    T[:3, 3] = [0, 10, 300]
    maps = decoded_maps_from_mesh(mesh, calib, T)
    cloud = triangulate_view(maps, calib, config=TriangulateConfig(max_incidence_deg=90))
    moved = mesh.copy()
    moved.apply_transform(T)
    diag = float(np.linalg.norm(mesh.extents))
    d = np.abs(trimesh.proximity.signed_distance(moved, cloud.points[::20]))
    assert d.mean() < 5e-4 * diag
    assert np.percentile(d, 95) < 2e-3 * diag
    # the limit drops what either camera sees at a grazing angle (here > 70°)
    steep = triangulate_view(maps, calib, config=TriangulateConfig(max_incidence_deg=70))
    assert 0.5 * len(cloud) < len(steep) < len(cloud)
    # (on exact maps grazing points are as accurate as the rest, ~1 µm: their larger error
    # on a rendered capture comes from the decoder's noise, see max_incidence_deg)
    assert steep.extra["incidence"].max() <= 70.0 < cloud.extra["incidence"].max()
    truth = _visible_truth(maps, calib, mesh, T)[::10]
    near, _ = cKDTree(cloud.points).query(truth)
    assert (near < 0.3).mean() >= 0.95  # 0.3 mm: about 3 pixel footprints at 300 mm
    # normals face the camera and agree with the mesh
    _, _, tri = trimesh.proximity.closest_point(moved, cloud.points[::50])
    agree = np.abs(np.einsum("ij,ij->i", moved.face_normals[tri], cloud.normals[::50]))
    assert np.median(agree) > 0.98
    assert (np.einsum("ij,ij->i", cloud.normals, cloud.points) < 0).mean() > 0.99
    assert cloud.extra["confidence"].shape == (len(cloud.points),)


def test_rectification_rows_are_epipolar(calib):
    rect = rectification(calib)
    X = np.array([[5.0, -8.0, 290.0], [-20.0, 15.0, 320.0]])
    p0 = (rect.P1[:, :3] @ (rect.R1 @ X.T)).T
    centre1 = -calib.stereo.R.T @ calib.stereo.T
    p1 = (rect.P2[:, :3] @ (rect.R1 @ (X - centre1).T)).T
    np.testing.assert_allclose(p0[:, 1] / p0[:, 2], p1[:, 1] / p1[:, 2], atol=1e-6)


def test_bad_maps(calib):
    with pytest.raises(InputError, match="cam1"):
        triangulate_view({"cam0": None}, calib)


def test_quadratic_smoothing_has_no_curvature_bias():
    """A curved decoded map (a paraboloid, like the projector column over a thread) with decoder
    noise: the order-2 normalised convolution removes most of the noise without the weighted
    mean's bias of sigma² × Laplacian / 2; a pixel next to a jump keeps its own value."""
    from scan2ad.reconstruction.triangulate import _smooth_decoded

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:160].astype(np.float64)
    truth = 0.02 * (x - 80) ** 2 + 0.03 * (y - 60) ** 2 + 0.5 * x  # Laplacian 0.1 px / px²
    truth[:, 100:] += 40.0  # a depth edge: a code jump
    valid = np.ones(truth.shape, bool)
    valid[50:60, 20:40] = False  # a hole (shadow)
    noisy = (truth + rng.normal(0.0, 0.1, truth.shape)).astype(np.float32)
    sigma = 2.0
    inner = valid.copy()
    inner[:8], inner[-8:], inner[:, :8], inner[:, -8:] = False, False, False, False
    inner[:, 92:108] = False  # away from the jump
    (q,) = _smooth_decoded([noisy], valid, sigma, 2, max_change=0.5)
    (m,) = _smooth_decoded([noisy], valid, sigma, 0, max_change=10.0)
    err_q, err_raw = (np.abs(a - truth)[inner] for a in (q, noisy))
    assert abs(float(np.mean((q - truth)[inner]))) < 0.01  # unbiased
    assert float(np.mean((m - truth)[inner])) > 0.15  # sigma² × 0.1 / 2 = 0.2 px of bias
    assert err_q.mean() < 0.5 * err_raw.mean()
    assert np.isnan(q[~valid]).all()
    # next to the jump the window mixes both sides: the pixel keeps its own value
    np.testing.assert_array_equal(q[30:90, 99:101], noisy[30:90, 99:101])
    # a valid strip two pixels tall fills more than half of a sigma-1 window but leaves y²
    # undetermined: its pixels keep their own values (no singular system)
    strip = np.zeros_like(valid)
    strip[60:62] = True
    (s2,) = _smooth_decoded([noisy], strip, 1.0, 2, max_change=0.5)
    np.testing.assert_array_equal(s2[strip], noisy[strip])


def test_full_window_fast_path_equals_the_per_pixel_solve():
    """The order-2 smoothing's fast path (one fixed filter where the whole window is valid)
    gives each pixel the value of its own least-squares system: maps with a hole, isolated
    invalid pixels (decoder speckle), a jump and the image border, two maps at once, sigma 1 and
    1.5. Values agree to float32 rounding; the choice "smoothed or own" (max_change) may differ
    only where the smoothed value sits at the threshold."""
    from scan2ad.reconstruction.triangulate import _smooth_decoded

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:90, 0:130].astype(np.float64)
    col = 300 + 0.01 * (x - 60) ** 2 + 0.8 * x
    col[:, 70:] += 25.0
    row = 200 + 0.02 * (y - 40) ** 2 + 0.6 * y
    valid = rng.random(col.shape) > 0.02       # speckle
    valid[30:45, 10:30] = False                # a shadow
    maps = [(m + rng.normal(0, 0.1, m.shape)).astype(np.float32) for m in (col, row)]
    for sigma in (1.0, 1.5):
        fast = _smooth_decoded(maps, valid, sigma, 2, max_change=0.5)
        ref = _smooth_decoded(maps, valid, sigma, 2, max_change=0.5, fast=False)
        for f, r, own in zip(fast, ref, maps):
            np.testing.assert_array_equal(np.isnan(f), ~valid)
            same = np.abs(f - r) <= 1e-3
            flips = valid & ~same
            assert flips.sum() <= 2
            assert (np.abs(np.abs(r[flips] - own[flips]) - 0.5) < 1e-3).all()
            assert (f[valid & same] != own[valid & same]).mean() > 0.5  # it did smooth


def test_all_rows_matching_equals_the_per_row_reference():
    """``_match_rows`` (every row at once) returns the per-row ``_match_row``'s xr and err to
    the bit on adversarial rows: rising and falling runs, flats (b == a), jumps over max_jump,
    NaN holes, overlapping runs (a left value found in several: least row error, first run on a
    tie), left values exactly on a run's samples and ends, NaN row maps, empty rows."""
    from scan2ad.reconstruction.triangulate import _match_row, _match_rows

    rng = np.random.default_rng(11)
    H, W = 40, 90
    cr = np.empty((H, W))
    for y in range(H):
        x, v = 0, rng.uniform(0, 50)
        while x < W:
            n = int(rng.integers(2, 25))
            slope = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 3.0)
            seg = v + slope * np.arange(n)
            seg[rng.random(n) < 0.05] = seg[0]          # flats and back-steps
            cr[y, x:x + n] = seg[: W - x]
            x += n
            v = rng.uniform(0, 50) if rng.random() < 0.5 else seg[-1] + rng.uniform(-1, 1)
    cr[rng.random(cr.shape) < 0.05] = np.nan
    cr = np.round(cr, 1).astype(np.float32)             # repeated values: ties
    rr = (rng.uniform(0, 5, (H, W)) + np.arange(H)[:, None]).astype(np.float32)
    rr[rng.random(rr.shape) < 0.05] = np.nan
    rr[::2] = np.arange(0, H, 2)[:, None]             # flat row maps: equal errors in every run
    cl = np.where(rng.random((H, W)) < 0.5, np.round(rng.uniform(-5, 60, (H, W)), 1),
                  cr[:, rng.permutation(W)]).astype(np.float32)  # many exactly on samples
    cl[rng.random(cl.shape) < 0.1] = np.nan
    rl = (np.round(rr, 0) + rng.choice([0.0, 0.5], (H, W))).astype(np.float32)
    rl[rng.random(rl.shape) < 0.03] = np.nan
    cl[5], cr[6] = np.nan, np.nan                      # a row without left / right codes
    for max_jump, max_err in ((4.0, 2.0), (1.0, 0.3), (100.0, np.inf)):
        xr, err = _match_rows(cl, rl, cr, rr, max_jump, max_err)
        for y in range(H):
            xy, ey = _match_row(cl[y], rl[y], cr[y], rr[y], max_jump, max_err)
            np.testing.assert_array_equal(xr[y], xy)
            np.testing.assert_array_equal(err[y], ey)
        assert np.isfinite(err).sum() > 0.2 * np.isfinite(cl).sum() and np.isfinite(xr).any()


def test_edge_mask_marks_the_step_only():
    """A projector-column ramp (0.5 px per pixel, a surface) with a 30 px code jump (a depth
    edge) at column 80 and a shadow hole: the pixels within the radius of the jump are marked,
    the ramp and the hole's rim are not."""
    from scan2ad.reconstruction.triangulate import _edge_mask

    y, x = np.mgrid[0:60, 0:160].astype(np.float32)
    col = 0.5 * x + 0.1 * y
    col[:, 80:] += 30.0
    col[20:30, 20:40] = np.nan
    edge = _edge_mask(col, 2.0, 2)
    assert edge[:, 77:83].all()  # pair (79, 80) grown by 2 px
    assert not edge[:, :77].any() and not edge[:, 83:].any()
    col[40:, :80] -= 10.0  # a horizontal edge too
    edge = _edge_mask(col, 2.0, 1)
    assert edge[38:42, :77].all() and not edge[:37, :77].any() and not edge[43:, :77].any()


def test_edge_filter_drops_the_step_and_keeps_the_flats(calib):
    """Two blocks of different heights side by side (a 6 mm step, exact maps) seen from above:
    the high block hides the low top next to the step from one camera, whose map jumps there.
    With the depth-edge filter the low top loses a strip along the occlusion and the points
    off both tops (between the surfaces, up to 0.09 mm here) go, while the flats 2 mm or more
    from the step keep their points."""
    low = trimesh.creation.box((30, 40, 10))
    low.apply_translation((-15, 0, 5))
    high = trimesh.creation.box((30, 40, 16))
    high.apply_translation((15, 0, 8))
    mesh = trimesh.util.concatenate([low, high])
    T = np.eye(4)
    T[:3, :3] = trimesh.transformations.euler_matrix(np.pi, 0.0, 0.3)[:3, :3]
    T[:3, 3] = [0, 0, 300]
    maps = decoded_maps_from_mesh(mesh, calib, T)
    rect = rectification(calib)
    # the two cameras alone: the projector would fill the strip cam1 does not see
    off = triangulate_view(maps, calib, rect, TriangulateConfig(use_projector=False))
    on = triangulate_view(
        maps, calib, rect, TriangulateConfig(edge_jump=2.0, edge_radius_px=2, use_projector=False)
    )
    inv = np.linalg.inv(T)
    p_off, p_on = (c.points @ inv[:3, :3].T + inv[:3, 3] for c in (off, on))

    def low_top_edge(p):  # the low top's point nearest the step (x = 0)
        return p[np.abs(p[:, 2] - 10) < 0.05, 0].max()

    assert low_top_edge(p_on) < low_top_edge(p_off) - 0.5
    assert p_on[:, 2].min() > 10 - 0.03 and p_on[:, 2].max() < 16 + 0.03
    assert p_off[:, 2].min() < 10 - 0.05 or p_off[:, 2].max() > 16 + 0.05
    far_off = (np.abs(p_off[:, 0]) > 2).sum()
    far_on = (np.abs(p_on[:, 0]) > 2).sum()
    assert far_on > 0.97 * far_off
    assert len(on) < len(off)


def test_batched_cholesky_solve_equals_numpy_and_flags_singular_systems():
    from scan2ad.reconstruction.triangulate import _solve_gram

    rng = np.random.default_rng(3)
    A = rng.normal(size=(500, 6, 6))
    G = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(6)
    rhs = rng.normal(size=(500, 6, 2))
    G[:3] = np.diag([1.0, 1, 1, 1, 1, 0])            # singular: no y² information
    x, det = _solve_gram(G, rhs)
    np.testing.assert_allclose(x[3:], np.linalg.solve(G[3:], rhs[3:]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(det[3:], np.linalg.det(G[3:] / G[3:, :1, :1]), rtol=1e-9)
    assert (det[:3] == 0).all()
