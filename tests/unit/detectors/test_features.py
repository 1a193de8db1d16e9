"""Geometry features, memory-bank primitives, Norm-AS and registration, each against a direct
computation or a known answer."""

import numpy as np
import pytest

from scan2ad.datasets.synthetic import SyntheticSpec, make_sample
from scan2ad.detectors.features import EXTRACTORS, FeatureSettings, extract, register_extractor
from scan2ad.detectors.features.fpfh import fpfh, multi_scale_fpfh
from scan2ad.detectors.features.geometry import estimate_normals, farthest_point_sampling, knn
from scan2ad.detectors.features.multi_fpfh import pool_at_centres
from scan2ad.detectors.methods.open3d_ad.model import DualMemoryBank, correspondence_subsampling
from scan2ad.detectors.methods.patchcore import model as mb
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def ring():
    return make_sample("ring", None, SyntheticSpec(points=2048), np.random.default_rng(0))


def test_fps_indices_are_distinct_and_spread(ring):
    idx = farthest_point_sampling(ring.points, 64)
    assert len(set(idx.tolist())) == 64
    rnd = np.random.default_rng(0).choice(len(ring.points), 64, replace=False)
    cover = lambda sel: knn(ring.points, ring.points[sel], 1)[0].max()
    assert cover(idx) < cover(rnd)   # FPS covers the part better than a random subset


def test_knn_matches_brute_force(ring):
    q = ring.points[:50]
    d, i = knn(q, ring.points, 5)
    brute = np.linalg.norm(q[:, None] - ring.points[None], axis=2)
    assert np.allclose(d, np.sort(brute, axis=1)[:, :5])
    assert (i[:, 0] == np.arange(50)).all()


def test_normals_are_unit_and_point_outward(ring):
    n = estimate_normals(ring.points, 20)
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0)
    agree = np.abs(np.einsum("ij,ij->i", n, ring.normals))
    assert np.median(agree) > 0.95
    assert (np.einsum("ij,ij->i", n, ring.points - ring.points.mean(0)) >= 0).all()


def test_fpfh_shapes_and_normalisation(ring):
    n = estimate_normals(ring.points, 20)
    f = fpfh(ring.points, n, 40)
    assert f.shape == (2048, 33)
    assert np.allclose(f.reshape(-1, 3, 11).sum(axis=2), 200.0, atol=1e-2)  # three histograms, SPFH + neighbours
    m = multi_scale_fpfh(ring.points, n, (40, 80, 120))
    assert m.shape == (2048, 99) and np.allclose(m[:, :33], f)


def test_pooling_is_the_neighbourhood_mean(ring):
    feats = np.random.default_rng(1).normal(size=(2048, 4)).astype(np.float32)
    centres = ring.points[[3, 500]]
    pooled = pool_at_centres(ring.points, feats, centres, 16)
    _, idx = knn(centres, ring.points, 16)
    assert np.allclose(pooled, feats[idx].mean(axis=1), atol=1e-6)


def test_extractors_map_patches_back_to_every_point(ring):
    s = FeatureSettings(groups=128, group_size=16)
    for name, dim in (("raw", 3), ("fpfh", 33), ("fpfh+raw", 36), ("multi_fpfh", 99)):
        pf = extract(name, ring.points, s)
        assert pf.features.shape == (128, dim) and pf.point_to_patch.shape == (2048,)
        assert np.allclose(pf.to_points(np.arange(128.0))[:5], pf.point_to_patch[:5])
    with pytest.raises(InputError, match="unknown feature extractor"):
        extract("nope", ring.points, s)
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        extract("raw", ring.points[:, :2], s)


def test_register_extractor_makes_a_name_selectable(ring):
    register_extractor("test-centroid", lambda p, s: EXTRACTORS["raw"](p - p.mean(0), s))
    try:
        assert extract("test-centroid", ring.points, FeatureSettings(groups=8)).features.shape == (8, 3)
    finally:
        EXTRACTORS.pop("test-centroid")


def test_coresets_cover_better_than_random():
    x = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
    radius = lambda sel: mb.nearest(x, x[sel])[0].max()
    g = mb.greedy_coreset(x, 40, seed=0)
    a = mb.approximate_greedy_coreset(x, 40, seed=0, proj_dim=4)
    r = mb.random_coreset(x, 40, seed=0)
    assert len(set(g)) == len(set(a)) == len(set(r)) == 40
    assert radius(g) < radius(r) and radius(a) < radius(r)
    assert (mb.subsample(x, 40, "identity") == np.arange(600)).all()


def test_reweighted_distance_is_equation_11():
    rng = np.random.default_rng(2)
    bank, f = rng.normal(size=(30, 5)).astype(np.float32), rng.normal(size=(4, 5)).astype(np.float32)
    nn = mb.bank_neighbours(bank, 3)
    got = mb.reweighted_distance(f, bank, nn)
    for j in range(4):
        d = np.linalg.norm(bank - f[j], axis=1)
        q = int(np.argmin(d))
        nk = np.argsort(np.linalg.norm(bank - bank[q], axis=1))[:3]
        want = (1 - np.exp(d[q]) / np.exp(d[nk]).sum()) * d[q]
        assert got[j] == pytest.approx(want, rel=1e-4)


def test_correspondence_subsampling_removes_the_confounded_candidates():
    rng = np.random.default_rng(3)
    normal = rng.normal(size=(400, 6)).astype(np.float32)
    far = rng.normal(loc=6.0, size=(60, 6)).astype(np.float32)       # clearly anomalous
    near = normal[:40] + 0.01                                         # confounded with normal
    anomalous = np.concatenate([far, near])
    ni, ai = correspondence_subsampling(normal, anomalous, n=50, base="approx_greedy", seed=0)
    assert len(ni) == 50
    # 2N = 100 candidates = all 100 rows; every confounded row near a normal support point goes
    kept_near = [i for i in ai if i >= 60]
    assert len(kept_near) < 40 and len(ai) >= 50
    assert set(range(60)) <= set(ai.tolist())   # no clearly anomalous candidate is removed


def test_dual_memory_bank_lowers_scores_near_the_anomalous_support():
    rng = np.random.default_rng(4)
    normal = rng.normal(size=(100, 4)).astype(np.float32) * 0.1
    anomalous = rng.normal(size=(50, 4)).astype(np.float32) * 0.1 + 1.0
    both = DualMemoryBank(normal, anomalous, k=3, gamma=0.3)
    only = DualMemoryBank(normal, None, k=3, gamma=0.3)
    f = np.array([[0.0, 0, 0, 0], [1.0, 1, 1, 1]], np.float32)
    assert both.score(f)[1] == pytest.approx(only.score(f)[1], rel=0.05)  # at the anomalies: ~s_N
    assert both.score(f)[0] < only.score(f)[0] + 1e-12                    # away from them: reduced


def test_norm_as_moves_and_labels_a_patch(ring):
    from scan2ad.detectors.synthesis.norm_as import norm_as

    sim = norm_as(ring.points, np.random.default_rng(5))
    shift = np.linalg.norm(sim.points - ring.points, axis=1)
    assert sim.labels.sum() > 0 and (shift[sim.labels > 0] > 0).all()
    assert shift[sim.labels == 0].max() <= 0.05 * shift.max() + 1e-12  # unlabelled: barely moved
    assert 0.002 < sim.labels.mean() < 0.05


def test_registration_recovers_a_known_pose():
    from scipy.spatial.transform import Rotation

    from scan2ad.detectors.registration import Template

    bracket = make_sample("bracket", None, SyntheticSpec(points=2048), np.random.default_rng(0)).points
    R = Rotation.from_euler("xyz", [4, -3, 8], degrees=True).as_matrix()
    moved = bracket @ R.T + np.array([1.5, -2.0, 0.5])
    back = Template(bracket).align(moved)
    assert np.median(np.linalg.norm(moved - bracket, axis=1)) > 1.0
    assert np.median(np.linalg.norm(back - bracket, axis=1)) < 0.05


def test_registration_falls_back_to_principal_axes_for_large_rotations():
    from scipy.spatial.transform import Rotation

    from scan2ad.detectors.registration import Template

    bracket = make_sample("bracket", None, SyntheticSpec(points=2048), np.random.default_rng(0)).points
    R = Rotation.from_euler("z", 150, degrees=True).as_matrix()
    res = Template(bracket).register(bracket @ R.T)
    assert res.used_global and res.fitness > 0.95
    assert np.allclose(res.transform[:3, :3], R.T, atol=0.02)
