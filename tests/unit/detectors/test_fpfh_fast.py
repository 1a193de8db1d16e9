"""The multi-scale FPFH of one neighbour search (``fpfh_backend="numpy"``) against Open3D's
``compute_fpfh_feature`` (``"open3d"``): the same numbers at every scale, on scanned-like parts,
on clouds smaller than a scale, with duplicate points and with pairs along a normal; Open3D-AD's
scores unchanged; the backend is a validated setting and part of every feature-cache key."""

from pathlib import Path

import numpy as np
import pytest

from scan2ad.datasets.synthetic import SyntheticSpec, make_sample
from scan2ad.detectors.features import FeatureSettings
from scan2ad.detectors.features.fpfh import fpfh, fpfh_scales, multi_scale_fpfh, open3d_fpfh
from scan2ad.detectors.features.geometry import estimate_normals
from scan2ad.errors import InputError

SCALES = (40, 80, 120)


def _part(kind: str, points: int, seed: int = 0):
    s = make_sample(kind, None, SyntheticSpec(points=points), np.random.default_rng(seed))
    return s.points.astype(np.float64), estimate_normals(s.points, 10).astype(np.float64)


def _assert_equal_to_open3d(p, n, scales=SCALES):
    ours = fpfh_scales(p, n, scales)
    for k, f in zip(scales, ours):
        ref = open3d_fpfh(p, n, k)
        assert f.shape == ref.shape == (len(p), 33)
        # a bin holds multiples of 100 / (k - 1); one flipped pair would differ by ~1
        assert np.abs(f - ref).max() < 1e-9, f"k={k}: max |ours - Open3D| = {np.abs(f - ref).max():.3g}"


@pytest.mark.parametrize("kind", ["ring", "washer"])
def test_every_scale_equals_open3d(kind):
    p, n = _part(kind, 4000)
    _assert_equal_to_open3d(p, n)


def test_scales_larger_than_the_cloud_and_tiny_clouds_equal_open3d():
    p, n = _part("ring", 4096)
    _assert_equal_to_open3d(p[:100], n[:100])        # 80 and 120 exceed nothing; 120 > 100 points
    _assert_equal_to_open3d(p[:30], n[:30])          # every scale takes the whole cloud
    _assert_equal_to_open3d(p[:2], n[:2], (40,))
    assert np.array_equal(fpfh_scales(p[:1], n[:1], SCALES)[0], np.zeros((1, 33)))   # no neighbours


def test_duplicate_points_and_pairs_along_a_normal_equal_open3d():
    """Zero distances (Open3D: a zero pair feature in the SPFH, skipped in the weighted sum) and a
    neighbour straight along the source normal (|v| = 0: the zero feature too)."""
    p, n = _part("ring", 3000)
    p = np.concatenate([p, p[:200]])                 # 200 exact duplicates
    n = np.concatenate([n, n[:200]])
    off = p[500] + 0.05 * n[500]                     # a point straight above 500, same normal
    p, n = np.concatenate([p, off[None]]), np.concatenate([n, n[500:501]])
    _assert_equal_to_open3d(p, n)


def test_chunking_does_not_change_the_result():
    p, n = _part("ring", 3000)
    a = fpfh_scales(p, n, SCALES, chunk=7)
    b = fpfh_scales(p, n, SCALES, chunk=100_000)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_the_public_functions_follow_the_backend():
    p, n = _part("ring", 3000)
    fast, ref = multi_scale_fpfh(p, n, SCALES), multi_scale_fpfh(p, n, SCALES, backend="open3d")
    assert fast.dtype == ref.dtype == np.float32 and fast.shape == (3000, 99)
    assert np.abs(fast - ref).max() < 1e-4
    assert np.abs(fpfh(p, n, 40) - fpfh(p, n, 40, backend="open3d")).max() < 1e-4
    with pytest.raises(InputError, match="backend"):
        fpfh(p, n, 40, backend="cuda")
    with pytest.raises(InputError, match="at least 2"):
        fpfh_scales(p, n, (1,))
    with pytest.raises(InputError, match="same shape"):
        fpfh_scales(p, n[:10], SCALES)


def test_the_backend_is_a_validated_setting_and_part_of_the_cache_key(tmp_path):
    from scan2ad.detectors.features import disk_cache as dc
    from scan2ad.detectors.features import fpfh as fpfh_module
    from scan2ad.detectors.registry import create

    with pytest.raises(InputError, match="fpfh_backend"):
        create("open3d-ad", fpfh_backend="cuda")
    assert FeatureSettings().fpfh_backend == "numpy"
    from scan2ad.detectors.features import extract
    pts = np.random.default_rng(3).normal(size=(400, 3)) * 10
    with dc.disk_cache(tmp_path / "fc") as cache:
        extract("fpfh", pts, FeatureSettings(feature_points=0, groups=32, group_size=8))
        extract("fpfh", pts, FeatureSettings(feature_points=0, groups=32, group_size=8, fpfh_backend="open3d"))
        assert (cache.misses, cache.hits) == (2, 0)
    # the code fingerprint of every key covers this implementation's source
    root = Path(dc.__file__).resolve().parent
    assert Path(fpfh_module.__file__).resolve() in set(root.rglob("*.py"))


def test_open3d_ad_scores_do_not_depend_on_the_backend():
    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.registry import create

    rng = np.random.default_rng(0)
    normal = [make_sample("ring", None, SyntheticSpec(points=3000), rng) for _ in range(2)]
    test = [make_sample("ring", d, SyntheticSpec(points=3000), rng) for d in (None, "Bump", "Dent")]
    train = TrainSet(normal, [], [], "ring")
    scores = {}
    for backend in ("open3d", "numpy"):
        det = create("open3d-ad", groups=256, group_size=16, support_size=200, fpfh_backend=backend,
                     simulated_per_sample=1, seed=1)
        det.fit(train)
        scores[backend] = det.score_batch([s.points for s in test])
    for a, b in zip(scores["open3d"], scores["numpy"]):
        assert abs(a.object - b.object) < 1e-6
        assert np.abs(a.points - b.points).max() < 1e-6
        assert np.array_equal(np.argsort(a.points, kind="stable"), np.argsort(b.points, kind="stable"))


@pytest.mark.slow
def test_every_scale_equals_open3d_at_the_papers_scale():
    """~90K points, the size of an Open-Industry scan (the benchmark's figures are on such clouds)."""
    p, n = _part("washer", 90_000, seed=2)
    _assert_equal_to_open3d(p, n)
