"""Memory-bank sizes of the PatchCore family (issue 20): PatchCore(PointMAE) and Reg3D-AD keep
Real3D-AD's absolute bank (``--memory_size 10000``: at most 10,000 entries, every one when there
are fewer), M3DM keeps its 10 % coreset (``f_coreset = 0.1``), the FPFH PatchCores keep
``coreset_ratio`` unless ``memory_size`` is set."""

import numpy as np
import pytest

from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import load_sample
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors.base import TrainSet
from scan2ad.detectors.registry import create

TINY_PM = "random:trans_dim=96,depth=0,num_heads=3,encoder_dims=96,seed=0"
TOKENS = {"encoder": TINY_PM, "feature_points": 1024, "groups": 64, "group_size": 32}


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("bank"), SyntheticSpec(
        classes=("ring",), n_train=3, n_test_normal=1, n_per_defect=1, points=1024))
    samples = read_open_industry(root)
    return TrainSet([load_sample(s) for s in samples if s.split == "train"], [], [], "ring")


def test_defaults_follow_the_official_banks():
    assert create("patchcore-pointmae").config.memory_size == 10000
    assert create("reg3d-ad").config.memory_size == 10000
    assert create("m3dm").config.memory_size == 0 and create("m3dm").config.coreset_ratio == 0.1
    assert create("patchcore-fpfh").config.memory_size == 0


def test_patchcore_pointmae_bank_is_memory_size_entries_or_all(train):
    all_tokens = 3 * 64
    det = create("patchcore-pointmae", **TOKENS)          # 10,000 > 192 tokens: every token kept
    det.fit(train)
    assert len(det.bank) == all_tokens
    assert len(np.unique(det.bank, axis=0)) == all_tokens
    det = create("patchcore-pointmae", **TOKENS, memory_size=50)
    det.fit(train)
    assert len(det.bank) == 50
    det = create("patchcore-pointmae", **TOKENS, memory_size=0)   # the former 10 % coreset
    det.fit(train)
    assert len(det.bank) == round(0.1 * all_tokens)


def test_m3dm_keeps_its_ten_percent_coreset(train):
    det = create("m3dm", **{**TOKENS, "encoder": "random:trans_dim=96,depth=2,num_heads=3,encoder_dims=96,seed=0"})
    det.fit(train)
    assert len(det.bank) == round(0.1 * 3 * 64)


def test_reg3d_ad_caps_both_banks_at_memory_size(train):
    det = create("reg3d-ad", **TOKENS, memory_size=100)
    det.fit(train)
    assert len(det.feature_bank) == 100 and len(det.xyz_bank) == 100
    det = create("reg3d-ad", **TOKENS, memory_size=0)
    det.fit(train)
    assert len(det.feature_bank) == round(0.1 * 3 * 64) and len(det.xyz_bank) == 3 * 1024


def test_reg3d_ad_feeds_the_encoder_millimetres(train):
    """Issue 20 session 11: the registered cloud reaches the encoder centred on the template, unscaled
    (the authors' input); frame="unit" keeps the template's unit sphere."""
    det = create("reg3d-ad", **TOKENS, memory_size=50)
    det.fit(train)
    assert det.config.frame == "centred" and det.frame[1] == 1.0
    assert np.allclose(det.frame[0], det.template.points.mean(axis=0))
    unit = create("reg3d-ad", **TOKENS, memory_size=50, frame="unit")
    unit.fit(train)
    radius = np.linalg.norm(unit.template.points - unit.frame[0], axis=1).max()
    assert unit.frame[1] == pytest.approx(radius) and radius > 2.0
    assert not np.allclose(np.sort(det.feature_bank, axis=None), np.sort(unit.feature_bank, axis=None))
