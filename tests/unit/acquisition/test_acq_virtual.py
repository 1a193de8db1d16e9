"""The virtual rig: decoding its images recovers the true projector coordinates; turntable,
shadows, occlusion and material dropout behave as on a real scanner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh

from scan2ad.acquisition.decode import decode_frames
from scan2ad.acquisition.devices.virtual import VirtualScene, distort_project, rest_on_table
from scan2ad.acquisition.patterns import PatternSet
from scan2ad.acquisition.rig import load_rig
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def rig():
    return load_rig("virtual_small")


@pytest.fixture(scope="module")
def part():
    # a stepped block: vertical faces, a top face and a step that casts a projector shadow
    a = trimesh.creation.box((30, 22, 10))
    b = trimesh.creation.box((14, 22, 12))
    b.apply_translation((8, 0, 11))
    return trimesh.util.concatenate([a, b])


@pytest.fixture(scope="module")
def view(rig, part):
    scene = VirtualScene(rig, part, seed=3)
    ps = PatternSet.from_rig(rig)
    frames = scene.render_view(40.0, ps.images())
    return scene, ps, frames


def test_decoding_virtual_images_recovers_true_projector_coordinates(view):
    scene, ps, frames = view
    for cam in ("cam0", "cam1"):
        d = decode_frames(frames[cam], ps)
        col, row = scene.true_projector_coords(cam)
        _, surface = scene.true_depth(cam)
        on_part = d.valid & np.isfinite(col) & (surface == 0)
        assert on_part.sum() > 5000
        err = np.hypot(d.col[on_part] - col[on_part], d.row[on_part] - row[on_part])
        assert np.median(err) < 0.25, np.median(err)
        assert np.percentile(err, 99) < 1.5
        # nothing decodes where the projector does not reach (beyond blur at shadow edges)
        dark = ~np.isfinite(col)
        assert (d.valid & dark).sum() < 0.01 * d.valid.sum()


def test_turntable_rotation_and_projection_agree_with_ground_truth(view, rig):
    """Points sampled on the true world mesh, projected through the true cameras, land on part
    pixels at the true depth (the turntable convention and the lens model agree)."""
    scene, _, _ = view
    mesh = scene.mesh_world(scene.angle_deg)
    pts, _ = trimesh.sample.sample_surface(mesh, 4000, seed=1)
    dev = rig.virtual.cam0
    T_cam_world = np.linalg.inv(dev.T_world_device)
    pc = pts @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    uv = distort_project(pc.astype(np.float32), dev.K, dev.dist)
    depth, surface = scene.true_depth("cam0")
    h, w = depth.shape
    ij = np.rint(uv).astype(int)
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
    ij, z = ij[inside], pc[inside, 2]
    d = depth[ij[:, 1], ij[:, 0]]
    visible = np.abs(d - z) < 1.0  # the rest is occluded by the part itself
    assert visible.mean() > 0.3
    assert (surface[ij[visible, 1], ij[visible, 0]] == 0).mean() > 0.95
    # and the occluded samples really lie behind a nearer surface (but for silhouette edges,
    # where the rounded pixel centre misses the part)
    hidden = ~visible & np.isfinite(d)
    assert np.mean(d[hidden] < z[hidden]) > 0.95
    # the part turns about world +z: its centroid's height is the same at every angle
    assert np.isclose(scene.mesh_world(0).centroid[2], scene.mesh_world(90).centroid[2])
    T = scene.T_world_part(90.0) @ np.linalg.inv(scene.T_world_part(0.0))
    assert np.allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_shadows_table_and_occlusion_are_rendered(view):
    scene, _, frames = view
    _, surface = scene.true_depth("cam0")
    col, _ = scene.true_projector_coords("cam0")
    table = surface == 1
    assert table.mean() > 0.2 and (surface == 0).mean() > 0.03  # the disc is seen under the part
    shadow = table & ~np.isfinite(col)
    assert shadow.sum() > 100  # the part casts a projector shadow on the table
    white, black = frames["cam0"][0].astype(int), frames["cam0"][1].astype(int)
    lit_table = table & np.isfinite(col)
    assert np.median((white - black)[shadow]) < 3 < np.median((white - black)[lit_table])


def _decoded_share(rig, part, material, seed=0):
    v = dataclasses.replace(rig.virtual, part_material=material)
    r = dataclasses.replace(rig, virtual=v)
    scene = VirtualScene(r, part, seed=seed)
    ps = PatternSet.from_rig(r)
    frames = scene.render_view(0.0, ps.images())
    d = decode_frames(frames["cam0"], ps)
    col, _ = scene.true_projector_coords("cam0")
    _, surface = scene.true_depth("cam0")
    lit_part = (surface == 0) & np.isfinite(col)
    return d.valid[lit_part].mean(), frames


def test_material_dropout(rig):
    from scan2ad.acquisition.rig import VirtualMaterial

    part = trimesh.creation.icosphere(subdivisions=4, radius=14.0)  # curved: it has a highlight
    matte, _ = _decoded_share(rig, part, VirtualMaterial(albedo=0.6, specular=0.0))
    dark, _ = _decoded_share(rig, part, VirtualMaterial(albedo=0.02, specular=0.0))
    glossy, frames = _decoded_share(
        rig, part, VirtualMaterial(albedo=0.6, specular=8.0, shininess=20.0)
    )
    assert matte > 0.9
    assert dark < 0.5 * matte  # dark dropout
    assert glossy < matte and (frames["cam0"][0] == 255).sum() > 50  # saturated highlights drop out


def test_rest_on_table_and_bad_inputs(rig):
    T = rest_on_table(np.array([[1.0, 2, 3], [5, 6, 9]]))
    assert np.allclose(T[:3, 3], [-3, -4, -3])
    with pytest.raises(InputError, match="triangle mesh"):
        VirtualScene(rig, trimesh.Trimesh())
    real = dataclasses.replace(rig, virtual=None)
    with pytest.raises(InputError, match="no \\[virtual\\]"):
        VirtualScene(real, trimesh.creation.box((1, 1, 1)))
    scene = VirtualScene(rig, trimesh.creation.box((5, 5, 5)))
    with pytest.raises(InputError, match="projector frame"):
        scene.project(np.zeros((10, 10), np.uint8))


def test_supersampling_averages_sub_pixel_rays(rig, part):
    """supersample = 2 casts 4 rays per pixel and area-averages them: the same image as the
    1-ray render away from edges, intermediate values at the part's silhouette."""
    r = dataclasses.replace(
        rig,
        virtual=dataclasses.replace(
            rig.virtual,
            render=dataclasses.replace(
                rig.virtual.render, supersample=2, noise_sigma=0.0, shot_noise_gain=0.0
            ),
        ),
    )
    one = dataclasses.replace(
        r,
        virtual=dataclasses.replace(
            r.virtual, render=dataclasses.replace(r.virtual.render, supersample=1)
        ),
    )
    white = np.full((720, 1280), 255, np.uint8)
    s2, s1 = VirtualScene(r, part), VirtualScene(one, part)
    s2.project(white)
    s1.project(white)
    a, b = s2.render("cam0").astype(int), s1.render("cam0").astype(int)
    assert a.shape == b.shape == (320, 400)
    assert np.median(np.abs(a - b)) <= 1
    assert 0 < np.mean(np.abs(a - b) > 10) < 0.05  # differences only at edges
    with pytest.raises(InputError, match="supersample"):
        s2.true_depth("cam0")


def test_distort_project_matches_opencv():
    import cv2

    rng = np.random.default_rng(0)
    pts = rng.uniform([-40, -30, 200], [40, 30, 400], size=(500, 3))
    K = np.array([[1900.0, 0, 639.5], [0, 1890.0, 359.5], [0, 0, 1]])
    dist = (-0.08, 0.12, 0.0005, -0.0003, 0.01)
    ours = distort_project(pts.astype(np.float32), K, dist)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, np.array(dist))
    assert np.abs(ours - ref.reshape(-1, 2)).max() < 1e-3
