"""The on-disk feature cache (issue 21): the same scores with and without it, features computed
once across method variants, k and seeds, corrupt entries recomputed by name, the size bound."""

import json

import numpy as np
import pytest

from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors.evaluate import EvalSettings, evaluate
from scan2ad.detectors.features import FeatureSettings, extract
from scan2ad.detectors.features.disk_cache import DiskFeatureCache, disk_cache
from scan2ad.errors import InputError

FAST = {"groups": 128, "group_size": 16}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("ds"), SyntheticSpec(
        classes=("ring",), n_train=3, n_test_normal=2, n_per_defect=3, points=1024, defect_depth_mm=1.5))


def _run(tiny, out, method, cache="", protocol="open-set", seeds=(1,), k=1):
    s = EvalSettings(method=method, protocol=protocol, known=("Bump",) if protocol == "open-set" else (), k=k,
                     seeds=seeds, overrides=FAST, plots=False, save_models=False, feature_cache=str(cache))
    return evaluate(tiny, out, s)


@pytest.mark.parametrize("method,protocol", [("open3d-ad", "open-set"), ("patchcore-fpfh", "one-class")])
def test_scores_are_identical_with_and_without_the_cache_and_a_rerun_only_hits(tiny, tmp_path, method, protocol):
    fc = tmp_path / "fc"
    plain = _run(tiny, tmp_path / "plain", method, protocol=protocol)
    assert "feature_cache" not in plain
    cold = _run(tiny, tmp_path / "cold", method, fc, protocol=protocol)
    warm = _run(tiny, tmp_path / "warm", method, fc, protocol=protocol)
    assert cold["per_seed"] == plain["per_seed"] == warm["per_seed"]   # float-exact
    c, w = cold["feature_cache"], warm["feature_cache"]
    assert c["score_misses"] > 0 and c["entries"] > 0 and c["bytes"] > 0
    assert w["fit_misses"] == 0 and w["score_misses"] == 0
    assert w["score_hits"] == c["score_hits"] + c["score_misses"]
    assert "not the method's own" in (tmp_path / "warm" / "table.md").read_text()
    if method == "open3d-ad":
        # M6 (normal support only) scores the same test clouds after fitting on the same normal
        # clouds: nothing to compute; another k and seed change the split, not a cloud's features
        m6 = _run(tiny, tmp_path / "m6", "open3d-ad-m6", fc)
        assert m6["feature_cache"]["score_misses"] == 0 and m6["feature_cache"]["fit_misses"] == 0
        k2 = _run(tiny, tmp_path / "k2", "open3d-ad", fc, seeds=(2,), k=2)
        assert k2["feature_cache"]["score_misses"] == 0 and k2["feature_cache"]["score_hits"] > 0


def test_a_corrupt_entry_is_named_and_recomputed(tiny, tmp_path, caplog):
    pts = np.random.default_rng(0).normal(size=(600, 3)) * 10
    s = FeatureSettings(feature_points=0, groups=64, group_size=16)
    want = extract("fpfh", pts, s)
    with disk_cache(tmp_path / "fc") as cache:
        extract("fpfh", pts, s)
        (entry,) = list((tmp_path / "fc").glob("*/*.npz"))
        entry.write_bytes(entry.read_bytes()[:100])          # truncated
        got = extract("fpfh", pts, s)
        assert cache.corrupt == 1 and cache.misses == 2 and cache.hits == 0
        assert str(entry) in caplog.text
        again = extract("fpfh", pts, s)                      # rewritten whole
        assert cache.hits == 1
    for f in (got, again):
        assert np.array_equal(f.features, want.features) and np.array_equal(f.point_to_patch, want.point_to_patch)
        assert f.point_to_patch.dtype == want.point_to_patch.dtype == np.int64   # stored as int32, read back
    assert not list((tmp_path / "fc").glob("*/.*"))          # no temporary file left behind


def test_seed_of_a_subset_that_keeps_every_point_does_not_split_the_cache(tmp_path):
    pts = np.random.default_rng(1).normal(size=(500, 3)) * 10
    with disk_cache(tmp_path / "fc") as cache:
        for seed in (1, 2, 3):
            extract("fpfh", pts, FeatureSettings(feature_points=0, groups=32, group_size=8, seed=seed))
        assert (cache.misses, cache.hits) == (1, 2)
        for seed in (1, 2):  # a real subset: one entry per seed
            extract("fpfh", pts, FeatureSettings(feature_points=300, groups=32, group_size=8, seed=seed))
        assert cache.misses == 3


def test_entries_of_other_feature_code_are_not_read_back(tmp_path, monkeypatch):
    from scan2ad.detectors.features import disk_cache as dc

    real = dc.code_fingerprint()
    assert len(real) == 16 and real == dc.code_fingerprint()
    pts = np.random.default_rng(3).normal(size=(400, 3)) * 10
    fs = FeatureSettings(feature_points=0, groups=32, group_size=8)
    with disk_cache(tmp_path / "fc") as cache:
        extract("fpfh", pts, fs)
        extract("fpfh", pts, fs)
        assert (cache.misses, cache.hits) == (1, 1)
        monkeypatch.setattr(dc, "code_fingerprint", lambda: "another-version")   # the code was changed
        extract("fpfh", pts, fs)
        assert (cache.misses, cache.hits) == (2, 1)


def test_the_size_bound_evicts_the_least_recently_used(tmp_path):
    rng = np.random.default_rng(2)
    with disk_cache(tmp_path / "fc", max_gb=1.5e-4) as cache:   # 150 kB: ~3 entries of ~50 kB
        for _ in range(8):
            extract("raw", rng.normal(size=(6000, 3)), FeatureSettings(feature_points=0, groups=64, group_size=8))
        n, size = cache.usage()
        assert cache.evicted > 0 and size <= 1.5e5 and 0 < n < 8
        assert "evicted" in cache.summary()
    with pytest.raises(InputError, match="GB"):
        DiskFeatureCache(tmp_path / "x", max_gb=float("nan"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="folder"):
        DiskFeatureCache(tmp_path / "file")


def test_tokens_are_cached_by_encoder_weights_and_settings(tmp_path):
    from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

    enc = "random:trans_dim=32,depth=2,num_heads=2,decoder_num_heads=2,encoder_dims=32,seed=3"
    pts = np.random.default_rng(3).normal(size=(700, 3)) * 10
    want = cloud_tokens(pts, enc, 32, 16, 500, (), 5)
    with disk_cache(tmp_path / "fc") as cache:
        a = cloud_tokens(pts, enc, 32, 16, 500, (), 5)
        b = cloud_tokens(pts, enc, 32, 16, 500, (), 5)
        cloud_tokens(pts, "random:trans_dim=32,depth=2,num_heads=2,decoder_num_heads=2,encoder_dims=32,seed=4", 32, 16, 500, (), 5)
        assert (cache.hits, cache.misses) == (1, 2)   # other weights: another entry
    for t in (a, b):
        assert np.array_equal(t.features, want.features) and np.array_equal(t.members, want.members)
        assert np.array_equal(t.centres, want.centres)


def test_cli_takes_the_cache_folder(tiny, tmp_path):
    from scan2ad.cli import main

    out, fc = tmp_path / "run", tmp_path / "fc"
    assert main(["evaluate", str(tiny), "-o", str(out), "-m", "btf-raw", "--no-plots", "--feature-cache", str(fc),
                 "--set", "feature_points=256"]) == 0
    assert json.loads((out / "metrics.json").read_text())["feature_cache"]["entries"] > 0
