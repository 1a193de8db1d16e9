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


@pytest.mark.parametrize("name", ["imrnet", "imrnet-fps", "imrnet-random", "imrnet-voxel"])
def test_imrnet_trains_scores_round_trips_and_beats_chance(name, tmp_path):
    from sklearn.metrics import roc_auc_score

    from scan2ad.detectors.base import Detector, TrainSet
    from scan2ad.detectors.registry import create

    rng = np.random.default_rng(0)
    train = TrainSet([_sample("washer", None, 1500, rng) for _ in range(3)])
    fast = dict(points=1024, groups=32, group_size=32, dim=48, depth=2, steps=60)
    det = create(name, **fast)
    det.fit(train)
    assert np.mean(det.train_losses[-10:]) < np.mean(det.train_losses[:10])   # learning happens
    test = [_sample("washer", d, 1500, rng) for d in ("Bump", "Dent", "Bump", "Dent")]
    scores = [det.score(c.points) for c in test]
    assert all(s.points.shape == (1500,) and np.isfinite(s.points).all() for s in scores)
    auc = roc_auc_score(np.concatenate([c.labels for c in test]), np.concatenate([s.points for s in scores]))
    assert auc > 0.6, f"{name}: point AUROC {auc:.3f}"
    det.save(tmp_path / "run")
    back = Detector.load(tmp_path / "run")
    np.testing.assert_array_equal(back.score(test[0].points).points, scores[0].points)
