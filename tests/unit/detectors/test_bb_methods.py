"""The Point-MAE / Point-BERT token methods (issue 8): PatchCore(PointMAE), M3DM, Reg3D-AD, DevNet
and DRA with either backbone. On a tiny synthetic ring with easy defects (1.5 mm) each trains
and beats chance, a saved model scores exactly as the fitted one, and its checkpoint loads with
``torch.load(weights_only=True)``. The encoder is a small randomly initialised Point-MAE (or
Point-BERT) built from a seeded spec, so the tests do not depend on shipped weights."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import load_sample
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
from scan2ad.detectors.base import Detector, TrainSet
from scan2ad.detectors.registry import REGISTRY, create
from scan2ad.errors import InputError

pytest.importorskip("scan2ad.detectors.features.backbones.point_mae",
                    reason="the Point-MAE backbone (detectors/features/backbones) is not in this tree")

# Small randomly initialised encoders without transformer blocks: a random transformer's tokens
# are dominated by the position embedding of their centre (its weights mix every token), while
# the mini-PointNet patch embedding alone describes local shape, which is what the methods need.
# M3DM, whose point is the blocks' features, uses a two-block encoder (3 mm defects are easy
# enough for it).
TINY_PM = "random:trans_dim=96,depth=0,num_heads=3,encoder_dims=96,seed=0"
TINY_PB = "random:kind=point-bert,trans_dim=96,depth=0,num_heads=3,encoder_dims=96,seed=0"
TINY_DEEP = "random:trans_dim=96,depth=2,num_heads=3,encoder_dims=96,seed=0"

MINE = ["patchcore-pointmae", "m3dm", "reg3d-ad", "devnet-pm", "devnet-pb", "dra-pm", "dra-pb"]
TOKENS = {"feature_points": 4096, "groups": 256, "group_size": 32}
# defects of the tiny ring cover ~2 % of its 256 tokens, so the MIL top-k is 2 % (5 tokens);
# 300 steps at lr 1e-2 stand in for the papers' longer schedules
HEADS = {"views": 2, "steps": 300, "batch_size": 16, "topk_rate": 0.02, "lr": 1e-2}


def small(name: str) -> dict:
    # M3DM runs on the two-block encoder so that its block features (0 and 1 of 2) are used
    enc = TINY_PB if name.endswith("-pb") else TINY_DEEP if name == "m3dm" else TINY_PM
    extra = HEADS if name.startswith(("devnet", "dra")) else {}
    return {"encoder": enc, **TOKENS, **extra}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Easy 3 mm defects. Two seen Bumps (the open-set TrainSet); the test set is the normal samples and the other
    Bumps, so a supervised head is judged on the anomaly type it was shown (the Seen-only
    evaluation of the open-set protocol)."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("bb"), SyntheticSpec(
        classes=("ring",), n_train=4, n_test_normal=6, n_per_defect=4, points=4096, defect_depth_mm=3.0))
    samples = read_open_industry(root)
    bumps = [s for s in samples if s.defect_type == "Bump"]
    seen = bumps[:2]
    test = [s for s in samples if s.defect_type == "good" and s.split == "test"] + bumps[2:]
    train = TrainSet([load_sample(s) for s in samples if s.split == "train"],
                     [load_sample(s) for s in seen], [s.defect_type for s in seen], "ring")
    return train, test, [load_sample(s) for s in test]


def _auroc(test, clouds, scores):
    o = roc_auc_score([s.label for s in test], [x.object for x in scores])
    p = roc_auc_score(np.concatenate([c.labels for c in clouds]), np.concatenate([x.points for x in scores]))
    return o, p


# the Point-BERT variants run the same heads on another encoder: slow, its tokens are checked below
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n.endswith("-pb") else n for n in MINE]


@pytest.mark.parametrize("name", PARAMS)
def test_token_method_beats_chance_and_round_trips(name, tiny, tmp_path):
    train, test, clouds = tiny
    det = create(name, **small(name))
    det.fit(train)
    scores = [det.score(c.points) for c in clouds]
    assert all(s.points.shape == (len(c),) and np.isfinite(s.points).all() for s, c in zip(scores, clouds))
    o, p = _auroc(test, clouds, scores)
    assert o >= 0.7 or p >= 0.75, f"{name}: O-AUROC {o:.3f}, P-AUROC {p:.3f}"
    assert det.parameter_count() > 0
    if name == "m3dm":   # blocks 3/7/11 of 12 become blocks 0 and 1 of 2, normed and concatenated
        assert det._layers() == (0, 1) and det.bank.shape[1] == 2 * 96
    run = det.save(tmp_path / name)
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["encoder_fingerprint"]
    back = Detector.load(run)
    assert back.name == name and type(back) is type(det)
    for c, first in zip(clouds[-2:], scores[-2:]):
        again = back.score(c.points)
        assert np.array_equal(again.points, first.points) and again.object == first.object


def test_pointmae_extractor_serves_plain_patchcore(tiny):
    from scan2ad.detectors.features import extract
    from scan2ad.detectors.features.pointmae_extractor import using_encoder
    from scan2ad.detectors.methods.patchcore.detector import PatchCore

    train, test, clouds = tiny
    with using_encoder(TINY_PM):
        pf = extract("pointmae", clouds[0].points, PatchCore.Config(**TOKENS))
        assert pf.features.shape == (256, 96) and pf.point_to_patch.shape == (len(clouds[0]),)
        # every point belongs to its nearest token centre
        d = np.linalg.norm(clouds[0].points[:, None] - pf.centres[None], axis=2)
        assert np.array_equal(pf.point_to_patch, d.argmin(axis=1))
        det = PatchCore(features="pointmae", **TOKENS)
        det.fit(train)
        o, p = _auroc(test, clouds, [det.score(c.points) for c in clouds])
    assert o >= 0.7 or p >= 0.75, f"PatchCore(features='pointmae'): O {o:.3f}, P {p:.3f}"


def test_feature_cache_keys_the_pointmae_extractor_by_its_encoder(tiny):
    """Inside ``feature_cache`` the same cloud extracted under two encoders gives two results
    (the key holds the encoder's spec and weights fingerprint), and the same one again is reused."""
    from scan2ad.detectors.features import FeatureSettings, extract, feature_cache
    from scan2ad.detectors.features.pointmae_extractor import using_encoder

    pts, s = tiny[2][0].points, FeatureSettings(**TOKENS)
    other = TINY_PM.replace("seed=0", "seed=4")
    with feature_cache():
        with using_encoder(TINY_PM):
            a = extract("pointmae", pts, s)
            assert extract("pointmae", pts, s) is a
        with using_encoder(other):
            b = extract("pointmae", pts, s)
    assert b is not a and not np.allclose(a.features, b.features)


def test_tokens_are_in_the_input_frame_and_groups_hold_their_points(tiny):
    from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

    pts = tiny[2][0].points
    tok = cloud_tokens(pts, TINY_DEEP, 64, 16, feature_points=2048, layers=(0, 1), seed=3)
    assert tok.features.shape == (64, 2 * 96) and tok.members.shape == (64, 16)
    # a group's points lie around its centre, in mm, and are input points
    from scipy.spatial import cKDTree

    assert cKDTree(pts).query(tok.centres)[0].max() < 1e-6
    spread = np.linalg.norm(pts[tok.members] - tok.centres[:, None], axis=2).max()
    assert spread < 0.5 * np.ptp(pts, axis=0).max()
    # inverse-distance weights sum to 1 and reproduce a constant score field
    _, w = tok.nearest(pts, 3)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(tok.to_points(np.full(64, 2.5), pts, 3), 2.5)
    labels = np.zeros(len(pts), np.uint8)
    labels[tok.members[5]] = 1
    assert tok.token_labels(labels, 0.5)[5] == 1


def test_random_encoder_specs_are_reproducible_and_checked():
    from scan2ad.detectors.features import pointmae_extractor as pe

    a = pe.load_token_encoder(TINY_DEEP)
    pe._encoders.pop(TINY_DEEP)
    b = pe.load_token_encoder(TINY_DEEP)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert pe.encoder_fingerprint(TINY_DEEP) != pe.encoder_fingerprint(TINY_DEEP.replace("seed=0", "seed=1"))
    assert pe.encoder_depth(TINY_DEEP) == 2
    with pytest.raises(InputError, match="unknown"):
        pe.load_token_encoder("random:trans_dimm=96")
    with pytest.raises(InputError, match="KEY=VALUE"):
        pe.load_token_encoder("random:depth")
    with pytest.raises(InputError, match="refit"):
        pe.check_fingerprint(TINY_PM, "0" * 16)
    assert pe.scaled_block_indices(12) == (3, 7, 11)
    assert pe.scaled_block_indices(4) == (0, 2, 3)
    assert pe.scaled_block_indices(2) == (0, 1)


def test_deviation_loss_and_topk_mil_by_hand():
    from scan2ad.detectors.methods.devnet.model import deviation_loss, topk_mil

    s = torch.tensor([[0.0, 1.0, 4.0, 2.0, 3.0, 0.5, 0.1, 0.2, 0.3, 9.0, 8.0, 7.0]])
    assert float(topk_mil(s, 0.25)[0]) == pytest.approx((9 + 8 + 7) / 3)
    assert float(topk_mil(s, 0.01)[0]) == pytest.approx(9.0)
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    pred, y = torch.tensor([0.5, 2.0, 7.0]), torch.tensor([0, 1, 1])
    dev = (pred - ref.mean()) / ref.std()
    want = (abs(dev[0]) + (5 - dev[1]) + 0.0) / 3
    assert float(deviation_loss(pred, y, 5.0, generator=gen)) == pytest.approx(float(want), rel=1e-5)


def test_dra_latent_residual_and_targets():
    from scan2ad.detectors.methods.dra.model import DRAHeads, dra_loss, latent_residual

    g = torch.Generator().manual_seed(1)
    ref = torch.randn(10, 4, generator=g)
    # a query made of reference tokens has zero residual; a shifted one its negative shift
    assert torch.allclose(latent_residual(ref[[3, 1, 7]], [ref, ref]), torch.zeros(3, 4))
    far = ref[[2]] + 100.0
    assert torch.allclose(latent_residual(far, [ref]), ref[[int(torch.cdist(far, ref).argmin())]] - far)
    heads = DRAHeads(4, 0, 0.5).eval()
    out = heads(torch.randn(3, 6, 4, generator=g), torch.randn(3, 6, 4, generator=g))
    assert out["normal"].shape == (3,) and out["seen_tokens"].shape == (3, 6)
    total = DRAHeads.anomaly_score(out)
    assert torch.allclose(total, out["seen"] + out["pseudo"] + out["composite"] - out["normal"])
    # a batch of only normal and pseudo bags trains the seen head on normal bags alone
    assert torch.isfinite(dra_loss(out, torch.tensor([0, 2, 2]), 5.0))


def test_open_set_heads_need_anomalies_and_say_so(tiny):
    train, _, _ = tiny
    normal_only = TrainSet(train.normal, cls="ring")
    det = create("devnet-pm", **{**small("devnet-pm"), "pseudo": "never", "steps": 2})
    with pytest.raises(InputError, match="anomalous training bags"):
        det.fit(normal_only)
    with pytest.raises(InputError, match="pseudo must be"):
        create("dra-pm", pseudo="sometimes")
    # without seen anomalies DevNet falls back to Norm-AS simulated ones ("auto")
    det = create("devnet-pm", **{**small("devnet-pm"), "views": 1, "steps": 5})
    det.fit(normal_only)
    assert np.isfinite(det.score(train.normal[0].points).object)


def test_registry_entries_are_all_exercised():
    assert set(MINE) <= set(REGISTRY)
    assert REGISTRY["devnet-pb"].overrides["encoder"].startswith("point-bert")


def test_point_bert_specs_give_point_bert_tokens(tiny):
    from scan2ad.detectors.features.backbones import point_bert
    from scan2ad.detectors.features.pointmae_extractor import cloud_tokens, load_token_encoder

    assert isinstance(load_token_encoder(TINY_PB), point_bert.PointBERTEncoder)
    tok = cloud_tokens(tiny[2][0].points, TINY_PB, 32, 16, feature_points=1024)
    assert tok.features.shape == (32, 96) and np.isfinite(tok.features).all()


def test_reg3d_ad_registration_undoes_a_rigid_motion(tmp_path):
    """Reg3D-AD registers every cloud to its template: a test part turned by 40 degrees and moved
    scores as it does in place (the bracket has no symmetry to confuse the registration)."""
    from scipy.spatial.transform import Rotation

    root = make_synthetic_dataset(tmp_path, SyntheticSpec(classes=("bracket",), n_train=3, n_test_normal=1,
                                                          n_per_defect=1, points=4096, defect_depth_mm=3.0))
    samples = read_open_industry(root)
    train = TrainSet([load_sample(s) for s in samples if s.split == "train"], cls="bracket")
    det = create("reg3d-ad", **small("reg3d-ad"))
    det.fit(train)
    motion = Rotation.from_euler("zx", [40, 10], degrees=True).as_matrix()
    objects = {}
    for s in samples:
        if s.split == "test" and s.defect_type in ("good", "Bump"):
            pts = load_sample(s).points
            here, moved = det.score(pts), det.score(pts @ motion.T + np.array([30.0, -12.0, 5.0]))
            assert np.corrcoef(here.points, moved.points)[0, 1] > 0.99
            assert moved.object == pytest.approx(here.object, rel=0.02)
            objects[s.defect_type] = here.object
    assert objects["Bump"] > objects["good"]


def test_checkpoint_path_encoders_and_changed_weights_are_refused(tiny, tmp_path):
    """An encoder given as a checkpoint path is the file's weights; a saved detector refuses to
    score once the file holds other weights (its fingerprint no longer matches)."""
    from scan2ad.detectors.features import pointmae_extractor as pe
    from scan2ad.detectors.features.backbones.checkpoints import save_backbone

    train, _, clouds = tiny
    path = save_backbone(tmp_path / "enc.pt", pe.load_token_encoder(TINY_PM), "point-mae")
    assert pe.encoder_fingerprint(str(path)) == pe.encoder_fingerprint(TINY_PM)
    det = create("patchcore-pointmae", **{**small("patchcore-pointmae"), "encoder": str(path)})
    det.fit(train)
    first = det.score(clouds[0].points)
    run = det.save(tmp_path / "run")
    save_backbone(path, pe.load_token_encoder(TINY_PM.replace("seed=0", "seed=5")), "point-mae")
    pe._encoders.pop(str(path))
    with pytest.raises(InputError, match="refit"):
        Detector.load(run).score(clouds[0].points)
    save_backbone(path, pe.load_token_encoder(TINY_PM), "point-mae")
    pe._encoders.pop(str(path))
    again = Detector.load(run).score(clouds[0].points)
    assert np.array_equal(again.points, first.points)
