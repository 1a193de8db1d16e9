"""IMRNet: GPS and the sampler ablation, the mask reconstructor, train/score/save, learning."""

import numpy as np
import pytest
import torch


def _sample(shape, defect, n, rng):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_sample

    return make_sample(shape, defect, SyntheticSpec(points=n), rng)


def test_gps_salient_points_sampled_twice_as_densely():
    from scan2ad.detectors.features import gps

    # a flat plate with one sharp ridge: ridge points are salient and over-represented
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, size=(6000, 2))
    z = np.where(np.abs(xy[:, 0] - 0.5) < 0.1, 0.15 - 1.5 * np.abs(xy[:, 0] - 0.5), 0.0)
    p = np.c_[xy, z]
    sal = gps.salience(p) > 0.3
    assert 0.02 < sal.mean() < 0.4
    assert abs(p[sal, 0].mean() - 0.5) < 0.2
    idx = gps.gps_sample(p, 1000)
    assert len(np.unique(idx)) == 1000
    ratio = sal[idx].mean() / sal.mean()
    assert 1.4 < ratio < 2.2          # density 2 (share renormalised so the total stays n)
    for how in ("fps", "random", "voxel"):
        assert len(np.unique(gps.sample(p, 1000, how))) == 1000
    from scan2ad.errors import InputError

    with pytest.raises(InputError):
        gps.sample(p, 10, "nope")


def test_reconstructor_shapes_and_chamfer():
    from scan2ad.detectors.methods.imrnet.model import MaskReconstructor, chamfer

    net = MaskReconstructor(dim=32, depth=1, decoder_depth=3, group_size=16)
    p, c = torch.randn(2, 8, 16, 3), torch.randn(2, 8, 3)
    m = torch.zeros(2, 8, dtype=torch.bool)
    m[:, :3] = True
    rec, feats = net(p, c, m)
    assert rec.shape == p.shape and len(feats) == 3 and feats[0].shape == (2, 8, 32)
    assert float(chamfer(p[0], p[0]).max()) == 0.0
    assert float(chamfer(p[0], p[0] + 0.1).min()) > 0


def _trained(name, steps, points=1500, dim=48):
    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.registry import create

    rng = np.random.default_rng(0)
    train = TrainSet([_sample("bracket", None, 1500, rng) for _ in range(3)])
    det = create(name, points=points, groups=64, group_size=32, dim=dim, depth=2, steps=steps)
    det.fit(train)
    return det, rng


def test_imrnet_beats_chance_on_tiny_defects():
    """IMRNet on bracket Bump/Dent defects, every point kept (the sampler is then the identity), at
    the default width 96: point AUROC 0.704 measured (detector seeds 1/2: 0.675/0.678; chance 0.5;
    at width 48 0.674/0.631/0.624, too close to a bound); 0.63 required."""
    from sklearn.metrics import roc_auc_score

    det, rng = _trained("imrnet", 300, dim=96)
    assert np.mean(det.train_losses[-20:]) < 0.5 * np.mean(det.train_losses[:20])   # learning happens
    test = [_sample("bracket", d, 1500, rng) for d in ("Bump", "Dent", "Bump", "Dent")]
    scores = [det.score(c.points).points for c in test]
    auc = roc_auc_score(np.concatenate([c.labels for c in test]), np.concatenate(scores))
    assert auc > 0.63, f"point AUROC {auc:.3f}"


@pytest.mark.parametrize("name", ["imrnet", "imrnet-fps", "imrnet-random", "imrnet-voxel"])
def test_imrnet_trains_scores_and_round_trips(name, tmp_path):
    from scan2ad.detectors.base import Detector

    det, rng = _trained(name, 30, points=1024)   # 1024 of 1500: the sampler really picks
    assert det.config.sampler == (name.split("-")[1] if "-" in name else "gps")
    cloud = _sample("bracket", "Bump", 1500, rng)
    s = det.score(cloud.points)
    assert s.points.shape == (1500,) and np.isfinite(s.points).all() and s.object == s.points.max()
    det.save(tmp_path / "run")
    back = Detector.load(tmp_path / "run")
    np.testing.assert_array_equal(back.score(cloud.points).points, s.points)
