"""MC4AD / PO3AD: DA-Gen, the combined loss, CFP-Net, and the detectors end to end."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from scan2ad.detectors.methods.mc4ad.model import CFPNet, combined_loss, resultant_force
from scan2ad.detectors.synthesis.da_gen import DAGenConfig, da_gen


def _sphere(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p, p.copy()  # unit sphere: normals = points


def test_da_gen_moves_one_patch_within_eq5_bounds():
    p, n = _sphere()
    cfg = DAGenConfig()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        moved, disp = da_gen(p, n, rng, cfg, cKDTree(p))
        mag = np.linalg.norm(disp, axis=1)
        touched = mag > 0
        assert 0 < touched.sum() <= len(p) // cfg.patches + 1          # one patch of K = N/G
        assert mag.max() <= cfg.gamma[1] + 1e-9                          # γ bounds the centre
        assert mag.max() >= 0.5 * cfg.gamma[0]
        np.testing.assert_allclose(moved - p, disp)
        # λ ≥ 0.95: the displacement stays within ~18° of the normal (β = ±1)
        cos = np.abs((disp[touched] / mag[touched, None] * n[touched]).sum(1))
        assert cos.min() > np.cos(np.deg2rad(20))


def test_combined_loss_terms():
    target = torch.zeros(4, 3)
    target[0] = torch.tensor([0.1, 0.0, 0.0])
    half = torch.tensor([0.05, 0.0, 0.0])
    out = torch.zeros(4, 6)
    out[0, :3], out[0, 3:] = half, half                     # F'_E = F'_I = F_D / 2: ideal
    t = combined_loss(out, target)
    assert abs(float(t["dist"])) < 1e-7
    assert float(t["dir"]) == pytest.approx(-1 / 4)         # cos 1 on the one anomalous point, / N
    assert float(t["sym"]) == pytest.approx(-1 / 4)         # ratio 0 − cos 1, / N
    out[0, 3:] = -half                                      # opposing components cancel: F_C = 0
    t2 = combined_loss(out, target)
    assert float(t2["dist"]) == pytest.approx(0.1 / 4) and float(t2["sym"]) > 0
    assert "sym" not in combined_loss(out[:, :3], target)   # Out = 3 has no components
    torch.testing.assert_close(resultant_force(out), out[:, :3] + out[:, 3:])


def test_cfpnet_shapes_and_pruned_size():
    p, _ = _sphere(2000)
    x = torch.tensor(p, dtype=torch.float32)
    b = torch.zeros(len(p), dtype=torch.int64)
    full = CFPNet(depth=4, encoder_layers=2, out_channels=6)
    pruned = CFPNet(depth=2, encoder_layers=1, out_channels=6)
    assert full(x, b, 0.03).shape == (2000, 6)
    assert pruned(x, b, 0.03).shape == (2000, 6)
    n_full = sum(q.numel() for q in full.parameters())
    n_pruned = sum(q.numel() for q in pruned.parameters())
    assert n_pruned < 0.6 * n_full  # A.5: the pruned V_P drops over 40 % of the weights


def test_training_rotation_axes():
    from scan2ad.detectors.features.geometry import random_rotation as _rotation
    from scan2ad.detectors.registry import create
    from scan2ad.errors import InputError

    rng = np.random.default_rng(0)
    about_z = _rotation(180.0, rng, "z")
    np.testing.assert_allclose(about_z[2], [0, 0, 1], atol=1e-12)       # z is kept
    assert abs(about_z[0, 1]) > 1e-3                                      # x, y turn
    full = _rotation(180.0, rng, "zyx")
    assert abs(full[2, 2]) < 1 - 1e-6
    np.testing.assert_array_equal(_rotation(0.0, rng, "zyx"), np.eye(3))
    with pytest.raises(InputError, match="rotation_axes"):
        create("mc4ad", rotation_axes="zw")


@pytest.mark.parametrize("name", ["mc4ad", "po3ad"])
def test_training_reduces_loss_and_save_load_reproduces_scores(name, tmp_path):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_sample
    from scan2ad.detectors.base import Detector, TrainSet
    from scan2ad.detectors.registry import create

    rng = np.random.default_rng(0)
    spec = SyntheticSpec(points=1024)
    train = TrainSet([make_sample("ring", None, spec, rng) for _ in range(3)])
    det = create(name, steps=40, batch_size=2, depth=2, voxel_size=0.08, rotation_deg=0.0)
    det.fit(train)
    first, last = np.mean(det.train_losses[:8]), np.mean(det.train_losses[-8:])
    assert last < first
    test = make_sample("ring", "Bump", spec, rng)
    s1 = det.score(test.points)
    assert s1.points.shape == (len(test),) and np.isfinite(s1.points).all()
    det.save(tmp_path / "run")
    back = Detector.load(tmp_path / "run")
    s2 = back.score(test.points)
    np.testing.assert_array_equal(s1.points, s2.points)
    assert s1.object == s2.object


# dense clouds (16,384 points: every surface voxel at 0.06 averages several points, so a voxel's
# mean coordinate is the surface and not one random sample of it), 2000 steps of 4 clouds,
# rotations about the ring's axis, six displaced patches per training cloud
DENSE = {"steps": 2000, "batch_size": 4, "depth": 3, "voxel_size": 0.06, "max_points": 16384,
         "rotation_deg": 180.0, "rotation_axes": "z", "shifted_patches": 6, "lr": 0.003}


@pytest.mark.slow
@pytest.mark.parametrize("name, o_min, p_min", [("mc4ad", 0.75, 0.85), ("po3ad", 0.62, 0.8)])
def test_offset_methods_beat_chance_on_unseen_synthetic_defects(name, o_min, p_min, tmp_path):
    """Trained on normal rings only, scored on held-out rings with Bump/Dent/Scratch defects
    (0.9 mm deep, 2.5 mm radius: ~0.07 x 0.19 of the unit sphere, DA-Gen's γ range).

    What made the offset methods learn on the CPU (2026-11-29, session 5, OMP_NUM_THREADS=1,
    load 2-3, same data and seeds; ``/tmp``-script runs of this body):

    ====================================================  =======  =======  =======
    configuration                                         O-AUROC  P-AUROC  fit s
    ====================================================  =======  =======  =======
    MC4AD, 2048 points, no rotation, 1500 steps (before)    0.81     0.66     326
    MC4AD, 16,384 points, no rotation, 400 steps            0.56     0.70     145
    MC4AD, 16,384 points, no rotation, 1000 steps           0.57     0.86     451
    MC4AD, 16,384 points, about z, 1000 steps               0.63     0.91     341
    MC4AD, 16,384 points, about z, 2000 steps (this test)   0.85     0.95     555
    PO3AD, 16,384 points, no rotation, 1000 steps           0.63     0.70     783
    PO3AD, 16,384 points, about z, 2000 steps (this test)   0.72     0.89     632
    ====================================================  =======  =======  =======

    At 2048 points a 0.06 voxel holds about one point, so the voxel features are random samples
    of the surface and the network cannot tell a 0.07-deep bump from sampling; at 16,384 every
    surface voxel averages ~8 points (the voxel count, hence the cost of the U-Net, hardly
    changes). Without rotations the network keeps a spot of high |F_C| on every ring's outer
    equator (0.05-0.12 on normal training and test rings alike, above the true defects'
    0.02-0.06), which decides the max; with rotations about the axis and 2000 steps it falls to
    ~0.05 on normal rings while Bumps and Dents reach 0.06-0.11.
    Per type (MC4AD, this test's configuration): Bump P 0.81 / O 1.00, Dent P 0.99 / O 1.00,
    Scratch P 0.98 / O 0.56 (the scratches' maxima stay under the normal rings'); PO3AD (mean
    aggregation, its ``eval_fn``; the max would give O 0.56) Bump P 0.75 / O 0.94, Dent P 0.95 /
    O 0.67, Scratch P 0.92 / O 0.56. Bounds: the measured figures less ~0.1 / 0.05.
    """
    from helpers.scoring import score_test_split
    from sklearn.metrics import roc_auc_score

    from scan2ad.datasets.formats.open_industry import read_open_industry
    from scan2ad.datasets.samples import load_sample
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.registry import create

    root = make_synthetic_dataset(tmp_path / "d", SyntheticSpec(classes=("ring",), n_train=8, n_test_normal=6,
                                                                n_per_defect=3, points=16384))
    samples = read_open_industry(root)
    train = TrainSet([load_sample(s) for s in samples if s.split == "train"])
    det = create(name, **DENSE)
    det.fit(train)
    r = score_test_split(det, samples)
    o = roc_auc_score(r.labels, r.objects)
    p = roc_auc_score(np.concatenate(r.point_labels), np.concatenate(r.points))
    assert o >= o_min and p >= p_min, f"{name}: O-AUROC {o:.3f}, P-AUROC {p:.3f}"


# -- the `tiny` dataset (datasets/specs/tiny.toml): trained on its normal clouds, scored on its
# held-out test clouds (normal and Bump/Dent/Scar)

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from scan2ad.datasets.builder import build
    from scan2ad.datasets.formats.open_industry import read_open_industry
    from scan2ad.datasets.spec import load_spec

    out = tmp_path_factory.mktemp("tiny") / "tiny"
    build(load_spec("tiny"), out, workers=1)
    return read_open_industry(out)


# small CPU configs: two down/up levels at voxel 0.06, 1024 points per training cloud, six
# displaced patches per cloud, a few steps: the default run checks that every variant trains and
# scores; whether the methods learn is the slow test above (dense clouds, 2000 steps: ~5-9 min
# each). Measured 2026-11-29 (session 4) at default-run budgets (600 steps of 2 rings of 2000
# points, seeds 0/1/2): MC4AD O 0.83/0.63/0.40, P 0.65/0.57/0.60; PO3AD O 0.69/0.33/0.48,
# P 0.48/0.53/0.56 — sparse clouds and short schedules are not enough (see the slow test's table).
SMALL = {"depth": 2, "voxel_size": 0.06, "rotation_deg": 0.0, "max_points": 1024, "batch_size": 2,
         "shifted_patches": 6, "lr": 0.003}


@pytest.mark.parametrize("name", ["mc4ad-v1", "mc4ad-v2", "mc4ad-v3", "mc4ad-v4", "mc4ad-vp", "mc4ad-out3",
                                  "mc4ad-no-mcskip", "mc4ad-layer2", "mc4ad-layer4", "mc4ad-layer6"])
def test_mc4ad_ablations_train_and_score(name, tiny):
    """Each ablation entry trains a few steps and scores a held-out cloud (its own depth/loss/
    synthesis kept: only the schedule is shortened)."""
    from scan2ad.datasets.samples import load_sample
    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.registry import REGISTRY, create

    small = {k: v for k, v in SMALL.items() if k not in REGISTRY[name].overrides}
    det = create(name, **small, steps=3)
    det.fit(TrainSet([load_sample(s) for s in tiny if s.cls == "ring" and s.split == "train"]))
    cloud = load_sample(next(s for s in tiny if s.cls == "ring" and s.defect_type == "Bump"))
    sc = det.score(cloud.points)
    assert sc.points.shape == (len(cloud),) and np.isfinite(sc.points).all() and sc.object == sc.points.max()
    assert len(det.train_losses) == 3 and det.parameter_count() > 0


def test_mc4ad_hqc_passes_a_quarter_with_vp_and_scores_the_rest_with_vo(tiny):
    from scan2ad.datasets.samples import load_sample
    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.registry import create

    fast = {k: v for k, v in SMALL.items() if k != "depth"}
    det = create("mc4ad-hqc", fast_overrides={**fast, "steps": 3}, full_overrides={**SMALL, "steps": 3})
    det.fit(TrainSet([load_sample(s) for s in tiny if s.cls == "ring" and s.split == "train"]))
    assert det.fast.config.depth == 2 and det.fast.config.encoder_layers == 1    # V_P (A.5)
    assert det.full.config.encoder_layers == 2
    clouds = [load_sample(s).points for s in tiny if s.cls == "ring" and s.split == "test"]
    out = det.score_batch(clouds)
    passed = det.last_passed
    assert passed.sum() == int(0.25 * len(clouds))
    fast_obj = np.array([s.object for s in det.fast.score_batch(clouds)])
    assert fast_obj[passed].max() <= fast_obj[~passed].min()
    for c, s, p in zip(clouds, out, passed):
        if not p:
            np.testing.assert_array_equal(s.points, det.full.score(c).points)
    floor = min(float(s.points.min()) for s, p in zip(out, passed) if not p)
    assert all(s.object < floor and np.all(s.points == s.object) for s, p in zip(out, passed) if p)
    assert det.parameter_count() == det.fast.parameter_count() + det.full.parameter_count()
