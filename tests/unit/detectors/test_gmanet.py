"""GMANet: SPCG synthesis, the SDO loss, PointNet++ encoders, the detector's train/score/save."""

import numpy as np
import pytest
import torch

from scan2ad.detectors.methods.gmanet.model import PointNet2Encoder, point_discrepancy, sdo_loss
from scan2ad.detectors.synthesis import spcg


def _cloud(n=2048, seed=0):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_sample

    c = make_sample("bracket", None, SyntheticSpec(points=n), np.random.default_rng(seed))
    p = c.points - c.points.mean(0)
    return p / np.linalg.norm(p, axis=1).max(), c.normals


def test_spcg_region_and_add_remove():
    p, n = _cloud()
    region = spcg.analyse(p, n)
    assert len(region.indices) == int(len(p) * 0.015)           # M = int(0.015 N)
    assert region.score >= region.curvature                      # centre distance + curvature
    rng = np.random.default_rng(0)
    added, mask = spcg.generate(p, region, True, 0.8, rng)
    k = round(0.8 * len(region.indices) / 2)                     # ε·M/2 points added
    assert len(added) == len(p) + k and mask[len(p):].all()
    outside = np.setdiff1d(np.arange(len(p)), region.indices)
    np.testing.assert_array_equal(added[outside], p[outside])    # only the region moves
    lift = (added[region.indices] - p[region.indices]) @ region.normal
    assert lift.max() == pytest.approx(0.8 * 0.2 * region.radius)  # peak ε·h·r at the centre
    assert lift.min() >= 0 and mask[region.indices[0]]           # a protrusion, labelled
    removed, sunk = spcg.generate(p, region, False, 0.8, rng)
    assert len(removed) == len(p) - k                             # ε·M/2 points removed
    assert 0 < sunk.sum() <= len(region.indices) - k


def test_spcg_prefers_curved_clusters():
    # a flat plate with one sharp ridge: the ridge region must win
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, size=(4000, 2))
    z = np.where(np.abs(xy[:, 0] - 0.6) < 0.1, 0.15 - 1.5 * np.abs(xy[:, 0] - 0.6), 0.0)
    p = np.c_[xy, z]
    from scan2ad.detectors.features.geometry import estimate_normals

    region = spcg.analyse(p, estimate_normals(p, 20))
    assert abs(p[region.indices, 0].mean() - 0.6) < 0.25


def test_sdo_loss_weights_and_ablation():
    d = torch.tensor([0.1, 0.3, 0.8, 1.2])
    anomalous = torch.tensor([False, False, True, True])
    # by hand: ω_n = (d_n / mean d_n)^2 = (0.5, 1.5)^2, ω_s = (d_s / mean d_s)^-2 = (0.8, 1.2)^-2
    wn, ws = np.array([0.25, 2.25]), np.array([0.8, 1.2]) ** -2.0
    expect = ((wn * [0.1, 0.3]).sum() - (ws * [0.8, 1.2]).sum()) / (wn.sum() + ws.sum())
    assert float(sdo_loss(d, anomalous, alpha=2.0, balance=False)) == pytest.approx(expect, rel=1e-5)
    only_normal = float(sdo_loss(d, anomalous, alpha=2.0, use_sdo=False))
    assert only_normal == pytest.approx((wn * [0.1, 0.3]).sum() / wn.sum(), rel=1e-5)
    # balanced: each group's weights divided by its count (3 normal points, 1 synthetic)
    d3 = torch.tensor([0.1, 0.3, 0.2, 0.8])
    a3 = torch.tensor([False, False, False, True])
    wn3 = (np.array([0.1, 0.3, 0.2]) / 0.2) ** 2 / 3
    expect3 = ((wn3 * [0.1, 0.3, 0.2]).sum() - 0.8) / (wn3.sum() + 1.0)
    assert float(sdo_loss(d3, a3, alpha=2.0, balance=True)) == pytest.approx(expect3, rel=1e-5)


def test_pointnet2_per_point_features_and_discrepancy_bounds():
    p, nrm = _cloud(1500)
    enc_a, enc_b = PointNet2Encoder(32), PointNet2Encoder(32)
    x, n = torch.tensor(p, dtype=torch.float32), torch.tensor(nrm, dtype=torch.float32)
    with torch.no_grad():
        fa, fb = enc_a(x, n), enc_b(x, n)
    assert (fa < 0).any()                       # a linear last layer: no all-zero ReLU features
    with pytest.raises(ValueError, match="normals"):
        enc_a(x)
    assert fa.shape == (1500, 32)
    d = point_discrepancy(fa, fb)
    assert (d >= 0).all() and (d <= 2 + 1e-6).all()
    assert float(point_discrepancy(fa, fa).max()) < 1e-6


@pytest.mark.parametrize("name", ["gmanet", "gmanet-no-spcg", "gmanet-no-sdo"])
def test_gmanet_trains_scores_and_round_trips(name, tmp_path):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_sample
    from scan2ad.detectors.base import Detector, TrainSet
    from scan2ad.detectors.registry import create

    rng = np.random.default_rng(0)
    spec = SyntheticSpec(points=1024)
    train = TrainSet([make_sample("washer", None, spec, rng) for _ in range(2)])
    det = create(name, steps=30, feat_dim=32)
    det.fit(train)
    assert np.mean(det.train_losses[-10:]) < np.mean(det.train_losses[:10])
    test = make_sample("washer", "Dent", spec, rng)
    s1 = det.score(test.points)
    assert s1.points.shape == (len(test),)
    det.save(tmp_path / "m")
    s2 = Detector.load(tmp_path / "m").score(test.points)
    np.testing.assert_array_equal(s1.points, s2.points)
