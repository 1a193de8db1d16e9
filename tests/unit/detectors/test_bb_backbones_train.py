"""Backbone pretraining (Point-MAE, Point-BERT), resume, checkpoints, official key layouts, CLI,
shipped weights. Tiny sizes: the whole file runs in well under a minute on 2 cores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scan2ad.detectors.features.backbones import SHIPPED, load_encoder
from scan2ad.detectors.features.backbones import checkpoints as ck
from scan2ad.detectors.features.backbones import pretrain as pt
from scan2ad.detectors.features.backbones.point_bert import (
    PointBERT,
    PointBERTConfig,
    PointBERTEncoder,
)
from scan2ad.detectors.features.backbones.point_mae import PointMAE, PointMAEConfig, PointMAEEncoder
from scan2ad.errors import InputError

MAE = PointMAEConfig(trans_dim=48, depth=2, num_heads=3, encoder_dims=48, num_group=16, group_size=16,
                     decoder_depth=1, decoder_num_heads=3)
BERT = PointBERTConfig(trans_dim=48, depth=2, num_heads=3, encoder_dims=32, num_group=16, group_size=16,
                       num_tokens=32, tokens_dims=16, decoder_dims=32)


@pytest.fixture(scope="module")
def corpus():
    return pt.Corpus("parts:lock_nut", points=256, part_variants=1)


def _falls(losses, n=5):
    return float(np.mean(losses[-n:])) < 0.7 * float(np.mean(losses[:n]))


# --------------------------------------------------------------------------- training
def test_point_mae_loss_falls_and_outputs_load(corpus, tmp_path):
    cfg = pt.PretrainConfig(steps=30, batch=4, points=256, save_every=15, lr=2e-3)
    summary = pt.pretrain_point_mae(corpus, tmp_path, MAE, cfg)
    phase = summary["phases"]["mae"]
    assert phase["final_loss"] < 0.7 * phase["first_loss"]
    for name in ("point_mae.pt", "state_mae.pt", "loss_mae.csv", "loss_mae.png", "pretrain.json"):
        assert (tmp_path / name).is_file(), name
    state = torch.load(tmp_path / "state_mae.pt", weights_only=True)
    assert state["step"] == 30 and len(state["history"]["loss"]) == 30
    weights = torch.load(tmp_path / "point_mae.pt", weights_only=True)
    assert weights["format"] == ck.FORMAT_BACKBONE and weights["part"] == "model"
    enc = load_encoder(str(tmp_path / "point_mae.pt"))
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    # the encoder inside the saved model, and the one in the training state, are the same weights
    enc2 = load_encoder(str(tmp_path / "state_mae.pt"))
    for (k, a), (_, b) in zip(enc.state_dict().items(), enc2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    csv = (tmp_path / "loss_mae.csv").read_text().splitlines()
    assert csv[0] == "step,loss,lr" and len(csv) == 31


def test_resume_continues_exactly(corpus, tmp_path):
    cfg = pt.PretrainConfig(steps=6, batch=2, points=256, save_every=3)

    def run(out, step_fn, resume=False):
        torch.manual_seed(0)
        model = PointMAE(MAE)
        pt.train_phase("mae", model, step_fn, corpus, cfg, cfg.steps, cfg.lr, out, "point-mae", resume)
        return model

    def loss(m, xyz, step):
        return m(xyz).loss, {}

    def crash_after_3(m, xyz, step):
        if step == 4:
            raise KeyboardInterrupt
        return loss(m, xyz, step)

    straight = run(tmp_path / "a", loss)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", crash_after_3)
    assert torch.load(tmp_path / "b" / "state_mae.pt", weights_only=True)["step"] == 3
    with pytest.raises(InputError, match="--resume"):
        run(tmp_path / "b", loss)
    resumed = run(tmp_path / "b", loss, resume=True)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    ha = torch.load(tmp_path / "a" / "state_mae.pt", weights_only=True)["history"]["loss"]
    hb = torch.load(tmp_path / "b" / "state_mae.pt", weights_only=True)["history"]["loss"]
    assert ha == hb


def test_point_bert_dvae_and_mpm_losses_fall(corpus, tmp_path):
    cfg = pt.PretrainConfig(steps=25, dvae_steps=25, batch=4, points=256, save_every=25, lr=2e-3)
    summary = pt.pretrain_point_bert(corpus, tmp_path, BERT, cfg)
    dvae = np.loadtxt(tmp_path / "loss_dvae.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "loss_dvae.csv").read_text().splitlines()[0].split(",")
    recon = dvae[:, header.index("recon")]
    assert _falls(recon), recon
    mpm = np.loadtxt(tmp_path / "loss_mpm.csv", delimiter=",", skiprows=1)[:, 1]
    assert _falls(mpm), mpm
    assert summary["phases"]["mpm"]["steps"] == 25
    enc = load_encoder(str(tmp_path / "point_bert.pt"), kind="point-bert")
    assert isinstance(enc, PointBERTEncoder)
    tok = enc.tokens(torch.rand(1, 300, 3), num_group=20, group_size=16, layers=(0,))
    assert tok.features.shape == (1, 20, 48) and tok.layer_features[0].shape == (1, 20, 48)
    with pytest.raises(InputError, match="point-bert checkpoint"):
        load_encoder(str(tmp_path / "point_bert.pt"), kind="point-mae")


# --------------------------------------------------------------------------- official layouts
def _official_encoder_keys(state: dict, prefix: str) -> dict:
    """Our encoder keys renamed as the official modules name them (Encoder -> ``encoder``,
    TransformerEncoder -> ``blocks.blocks``), under ``prefix``."""
    from scan2ad.detectors.features.backbones.checkpoints import to_official_encoder

    return to_official_encoder({k: v.clone() for k, v in state.items()}, prefix)


def _tokens(enc, xyz):
    with torch.no_grad():
        return enc.tokens(xyz, 16, 16, layers=(1,))


def test_official_point_mae_pretrain_layout(tmp_path):
    torch.manual_seed(1)
    model = PointMAE(MAE).eval()
    sd = _official_encoder_keys(model.encoder.state_dict(), "MAE_encoder.")
    sd["mask_token"] = model.mask_token.detach().clone()
    for k, v in model.state_dict().items():
        if k.startswith("decoder_pos_embed."):
            sd[k] = v.clone()
        elif k.startswith("decoder_blocks."):
            sd["MAE_decoder.blocks." + k[len("decoder_blocks."):]] = v.clone()
        elif k.startswith("decoder_norm."):
            sd["MAE_decoder.norm." + k[len("decoder_norm."):]] = v.clone()
        elif k.startswith("increase_dim."):
            sd["increase_dim.0." + k[len("increase_dim."):]] = v.clone()
    sd = {f"module.{k}": v for k, v in sd.items()}                 # saved from DDP
    path = tmp_path / "pretrain.pth"
    torch.save({"base_model": sd, "epoch": 300}, path)
    enc = load_encoder(str(path), num_heads=3)
    assert enc.cfg.depth == 2 and enc.cfg.trans_dim == 48 and not enc.cfg.cls_token
    xyz = torch.rand(2, 200, 3)
    a, b = _tokens(model.encoder, xyz), _tokens(enc, xyz)
    torch.testing.assert_close(a.features, b.features)
    torch.testing.assert_close(a.layer_features[1], b.layer_features[1])
    # the whole model maps too, key for key
    full = PointMAE(MAE)
    full.load_state_dict(ck.map_official_point_mae(sd), strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(full.state_dict()[k], v), k


def test_official_finetuned_layout_with_cls_token(tmp_path):
    cfg = PointMAEConfig(trans_dim=48, depth=2, num_heads=3, encoder_dims=48, cls_token=True)
    torch.manual_seed(2)
    enc0 = PointMAEEncoder(cfg).eval()
    sd = _official_encoder_keys(enc0.state_dict(), "")
    sd["cls_head_finetune.0.weight"] = torch.zeros(256, 96)       # the classifier is dropped
    torch.save({"base_model": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "ft.pth")
    enc = load_encoder(str(tmp_path / "ft.pth"), num_heads=3)
    assert enc.cfg.cls_token
    xyz = torch.rand(1, 200, 3)
    torch.testing.assert_close(_tokens(enc0, xyz).features, _tokens(enc, xyz).features)


def test_official_point_bert_layout(tmp_path):
    torch.manual_seed(3)
    model = PointBERT(BERT).eval()
    sd = _official_encoder_keys(model.transformer.state_dict(), "transformer_q.")
    sd.update(_official_encoder_keys(model.transformer.state_dict(), "transformer_k."))  # momentum copy
    sd["transformer_q.mask_token"] = model.mask_token.detach().clone()
    sd.update({f"transformer_q.lm_head.{k}": v for k, v in model.lm_head.state_dict().items()})
    sd["transformer_q.cls_head.0.weight"] = torch.zeros(8, 96)
    sd.update({f"dvae.{k}": v.clone() for k, v in model.dvae.state_dict().items()})
    sd["queue"] = torch.zeros(8, 16)
    torch.save({"base_model": sd}, tmp_path / "Point-BERT.pth")
    enc = load_encoder(str(tmp_path / "Point-BERT.pth"), kind="point-bert", num_heads=3)
    assert enc.cfg.encoder_dims == 32 and enc.cfg.trans_dim == 48
    xyz = torch.rand(1, 200, 3)
    torch.testing.assert_close(_tokens(model.transformer, xyz).features, _tokens(enc, xyz).features)
    full = PointBERT(BERT)
    full.load_state_dict(ck.map_official_point_bert(sd), strict=True)
    with pytest.raises(InputError, match="Point-BERT checkpoint"):
        load_encoder(str(tmp_path / "Point-BERT.pth"), kind="point-mae")


def test_official_layout_errors_name_the_file(tmp_path):
    model = PointMAEEncoder(PointMAEConfig(trans_dim=48, depth=2, num_heads=3, encoder_dims=48))
    sd = _official_encoder_keys(model.state_dict(), "MAE_encoder.")
    bad = dict(sd)
    bad["MAE_encoder.pos_embed.2.weight"] = torch.zeros(50, 128)       # wrong width
    torch.save({"base_model": bad}, tmp_path / "shape.pth")
    with pytest.raises(InputError, match=r"shape\.pth.*wrong shapes: pos_embed\.2\.weight \(50, 128\)"):
        load_encoder(str(tmp_path / "shape.pth"), num_heads=3)
    missing = {k: v for k, v in sd.items() if "blocks.blocks.1.attn.qkv" not in k}
    torch.save({"base_model": missing}, tmp_path / "missing.pth")
    with pytest.raises(InputError, match=r"missing keys: blocks\.1\.attn\.qkv\.weight"):
        load_encoder(str(tmp_path / "missing.pth"), num_heads=3)
    torch.save({"base_model": {"foo.weight": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="neither a scan2ad checkpoint"):
        load_encoder(str(tmp_path / "other.pth"))
    with pytest.raises(InputError, match="not found"):
        load_encoder(str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a loadable torch checkpoint"):
        load_encoder(str(tmp_path / "junk.pth"))


# --------------------------------------------------------------------------- CLI and shipped weights
def test_cli_pretrain_end_to_end(tmp_path):
    import trimesh

    from scan2ad.cli import main
    from scan2ad.pointcloud import PointCloud, write_cloud

    data = tmp_path / "shapes"
    data.mkdir()
    trimesh.creation.box((20, 10, 5)).export(data / "box.stl")
    trimesh.creation.icosphere(2, 8.0).export(data / "ball.obj")
    write_cloud(data / "cyl.pcd", PointCloud(np.asarray(trimesh.creation.cylinder(4, 20).sample(2000))))
    out = tmp_path / "run"
    args = ["pretrain", "point-mae", "--data", str(data), "--out", str(out), "--epochs", "3", "--batch", "2",
            "--points", "256", "--set", "save_every=2", "--model", "trans_dim=48", "--model", "depth=1",
            "--model", "num_heads=3", "--model", "encoder_dims=48", "--model", "num_group=16",
            "--model", "group_size=16", "--model", "decoder_depth=1", "--model", "decoder_num_heads=3"]
    assert main(args) == 0
    from scan2ad.io import read_json

    summary = read_json(out / "pretrain.json")
    assert summary["data"]["shapes"] == 3 and summary["phases"]["mae"]["steps"] == 5   # ceil(3 * 3 / 2)
    assert main(args) == 2                            # a run is there: refuses without --resume
    assert main(args + ["--resume"]) == 0             # finished run: resumes at its end
    # resuming with another model configuration is refused
    assert main(args[:-2] + ["--model", "decoder_num_heads=4", "--resume"]) == 2
    assert main(["pretrain", "point-mae", "--data", str(tmp_path / "none"), "--out", str(out)]) == 2


@pytest.mark.parametrize("name, kind, cls, mb", [("point_mae_small", "point-mae", PointMAEEncoder, 25),
                                                  ("point_bert_small", "point-bert", PointBERTEncoder, 10)])
def test_shipped_weights_load_and_give_tokens(name, kind, cls, mb):
    raw = torch.load(SHIPPED[name], weights_only=True)
    assert raw["format"] == ck.FORMAT_BACKBONE and raw["kind"] == kind
    assert SHIPPED[name].stat().st_size <= mb * 2**20
    enc = load_encoder(name, kind=kind)
    assert type(enc) is cls and not enc.training
    xyz = torch.rand(2, 1024, 3) * 2 - 1
    with torch.no_grad():
        tok = enc.tokens(xyz, num_group=64, group_size=32, layers=(1, 3))
    c = enc.cfg.trans_dim
    assert tok.features.shape == (2, 64, c) and tok.centers.shape == (2, 64, 3) and tok.idx.shape == (2, 64, 32)
    assert sorted(tok.layer_features) == [1, 3]
    assert torch.isfinite(tok.features).all() and tok.features.std() > 0.1


def test_corpus_reads_a_dataset_folders_train_clouds(tmp_path):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "ds", SyntheticSpec(classes=("ring",), n_train=3, n_test_normal=1,
                                                                  n_per_defect=1, points=600))
    corpus = pt.Corpus(root, points=256)
    assert corpus.kind == "dataset (open-industry)" and len(corpus.shapes) == 3
    a, b = corpus.batch(2, seed=5, step=7), corpus.batch(2, seed=5, step=7)
    assert a.shape == (2, 256, 3) and np.array_equal(a, b)                       # (seed, step) fixes it
    assert np.abs(np.linalg.norm(a, axis=2).max(axis=1) - 1).max() < 1e-5       # unit sphere
    assert not np.array_equal(a, corpus.batch(2, seed=5, step=8))
