"""FRICP: regression against the authors' Robust ICP result, variants, acceleration, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from scan2ad.errors import InputError
from scan2ad.pointcloud import read_cloud
from scan2ad.reconstruction.registration.fricp import FricpConfig, _ClosestPoints, fricp
from scan2ad.reconstruction.registration.se3 import se3_exp, se3_log, transform, transform_error


@pytest.fixture(scope="module")
def pair(shared_data):
    d = shared_data / "fricp_pair"
    src, tgt = read_cloud(d / "source.ply").points, read_cloud(d / "target.ply").points
    return src, tgt, np.loadtxt(d / "m3trans.txt")


def test_matches_authors_robust_icp(pair):
    src, tgt, ref = pair
    res = fricp(src, tgt)
    diag = np.linalg.norm(np.vstack([src, tgt]).ptp(axis=0))
    rot, trans = transform_error(res.transformation, ref)
    assert rot < 0.05
    assert trans < 1e-3 * diag
    assert res.extra["anderson_accepted"] > 0  # the acceleration did act


def test_point_to_plane_variant_refines_a_coarse_alignment(pair):
    src, tgt, ref = pair
    init = se3_exp(np.array([0.06, -0.04, 0.05, 0.03, 0.02, -0.02])) @ ref  # ~5 degrees off
    res = fricp(src, tgt, init=init, config=FricpConfig(variant="plane"))
    diag = np.linalg.norm(np.vstack([src, tgt]).ptp(axis=0))
    rot, trans = transform_error(res.transformation, ref)
    assert rot < 0.1 and trans < 2e-3 * diag
    assert res.method == "fricp-plane"


def _wavy_sheet(seed=3):
    rng = np.random.default_rng(seed)
    tgt = rng.uniform(-1, 1, (3000, 3)) * [1, 1, 0.05]
    tgt[:, 2] += 0.3 * np.sin(3 * tgt[:, 0]) * np.cos(2 * tgt[:, 1])
    T = se3_exp(np.array([0.05, -0.08, 0.1, 0.05, -0.03, 0.02]))
    src = transform(np.linalg.inv(T), tgt[:2000])
    src = np.vstack([src, rng.uniform(-1, 1, (600, 3))])  # 23% gross outliers
    return src, tgt, T


def test_robust_to_outliers():
    src, tgt, T = _wavy_sheet()
    res = fricp(src, tgt)
    rot, trans = transform_error(res.transformation, T)
    assert rot < 0.05 and trans < 1e-3


def test_anderson_needs_fewer_iterations_same_answer():
    src, tgt, _ = _wavy_sheet()
    fast = fricp(src, tgt)
    plain = fricp(src, tgt, config=FricpConfig(anderson=False))
    assert fast.iterations < plain.iterations
    rot, trans = transform_error(fast.transformation, plain.transformation)
    assert rot < 0.02 and trans < 1e-3


def test_incremental_closest_points_equal_a_full_search():
    """The cached search returns what a bounded k-d tree query returns, over a motion that goes
    from large steps to tiny ones and a bound that shrinks (as FRICP's nu does)."""
    rng = np.random.default_rng(5)
    tgt = rng.uniform(-1, 1, (2000, 3))
    src = np.vstack(
        [tgt[:800] + rng.normal(scale=0.01, size=(800, 3)), rng.uniform(-2, 2, (200, 3))]
    )
    tree = cKDTree(tgt)
    cached = _ClosestPoints(tree, tgt)
    n_requeried = []
    for k in range(40):
        step = 0.3 * 0.7**k
        T = se3_exp(rng.normal(scale=step, size=6))
        x = transform(T, src)
        bound = 0.5 * 0.9**k
        before = cached.anchor.copy() if cached.anchor is not None else None
        d, idx = cached.query(x, bound)
        d_ref, idx_ref = tree.query(x, distance_upper_bound=bound)
        np.testing.assert_array_equal(np.isfinite(d), np.isfinite(d_ref))
        ok = np.isfinite(d_ref)
        np.testing.assert_allclose(d[ok], d_ref[ok], rtol=1e-12)
        np.testing.assert_array_equal(idx[ok], idx_ref[ok])
        if before is not None:
            n_requeried.append(int((cached.anchor != before).any(axis=1).sum()))
    assert n_requeried[-1] < 0.05 * len(src)  # tiny motions: almost nothing searched again


def test_se3_round_trip():
    rng = np.random.default_rng(0)
    for ang in (1e-9, 0.3, 2.0, np.pi - 1e-4):
        axis = rng.normal(size=3)
        xi = np.r_[axis / np.linalg.norm(axis) * ang, rng.normal(size=3)]
        np.testing.assert_allclose(se3_log(se3_exp(xi)), xi, atol=1e-6)


def test_bad_input():
    with pytest.raises(InputError, match="source"):
        fricp(np.zeros((2, 3)), np.zeros((10, 3)))
    with pytest.raises(InputError, match="variant"):
        fricp(np.random.rand(10, 3), np.random.rand(10, 3), config=FricpConfig(variant="x"))
