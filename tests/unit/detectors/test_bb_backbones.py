"""Point-MAE encoder, grouping and Chamfer distances (tiny sizes, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scan2ad.detectors.features.backbones import normalise
from scan2ad.detectors.features.backbones.chamfer import chamfer_l1, chamfer_l2
from scan2ad.detectors.features.backbones.grouping import farthest_point_sample, group_points
from scan2ad.detectors.features.backbones.point_mae import PointMAE, PointMAEConfig, PointMAEEncoder
from scan2ad.errors import InputError

SMALL = {"trans_dim": 96, "depth": 2, "num_heads": 3, "encoder_dims": 96}


def test_fps_matches_open3d_from_the_same_start():
    from scan2ad.detectors.features.geometry import farthest_point_sampling

    pts = np.random.default_rng(0).random((500, 3))
    ours = farthest_point_sample(torch.as_tensor(pts)[None], 40)[0].numpy()
    assert ours[0] == 0
    # Open3D returns its picks in index order; the sets must agree
    np.testing.assert_array_equal(np.sort(ours), np.sort(farthest_point_sampling(pts, 40, start=0)))


def test_cpu_grouping_gives_the_torch_groups_and_the_same_tokens():
    """Open3D + SciPy grouping (the detectors' inference path): the torch FPS centres (in input
    order) with the same kNN groups, so an encoder gives the same tokens, permuted."""
    from scan2ad.detectors.features.backbones.grouping import cpu_grouping
    from scan2ad.detectors.features.pointmae_extractor import cloud_tokens

    pts = np.random.default_rng(1).random((1500, 3)) * 40.0
    unit = normalise(pts)[0]
    ref = group_points(torch.as_tensor(unit, dtype=torch.float32)[None], 48, 16)
    centre_idx, knn_idx = cpu_grouping(unit, 48, 16)
    order = ref.idx[0, :, 0].numpy().argsort()            # the torch groups in input order
    np.testing.assert_array_equal(centre_idx, ref.idx[0, order, 0].numpy())
    np.testing.assert_array_equal(knn_idx, ref.idx[0, order].numpy())
    given = group_points(torch.as_tensor(unit, dtype=torch.float32)[None], 48, 16,
                         torch.from_numpy(centre_idx)[None], torch.from_numpy(knn_idx)[None])
    torch.testing.assert_close(given.neighborhood[0], ref.neighborhood[0, order])
    spec = "random:trans_dim=48,depth=1,num_heads=3,encoder_dims=48,seed=0"
    fast, slow = (cloud_tokens(pts, spec, 48, 16, torch_grouping=t) for t in (False, True))
    o = slow.members[:, 0].argsort()
    np.testing.assert_allclose(fast.centres, slow.centres[o], atol=1e-9)
    np.testing.assert_allclose(fast.features, slow.features[o], atol=1e-4)
    with pytest.raises(InputError, match="knn_idx must have shape"):
        group_points(torch.rand(1, 100, 3), 10, 8, torch.arange(10)[None], torch.zeros(1, 10, 4, dtype=torch.long))


def test_groups_are_the_nearest_points_of_each_centre():
    xyz = torch.rand(2, 300, 3)
    g = group_points(xyz, 16, 8)
    assert g.neighborhood.shape == (2, 16, 8, 3) and g.centers.shape == (2, 16, 3)
    for b in range(2):
        d = torch.cdist(g.centers[b], xyz[b])
        want = d.topk(8, largest=False).indices
        assert torch.equal(g.idx[b].sort(-1).values, want.sort(-1).values)
        np.testing.assert_allclose(g.neighborhood[b] + g.centers[b][:, None], xyz[b][g.idx[b]], atol=1e-6)
    # each centre is its own nearest point
    assert (g.neighborhood[:, :, 0].abs().amax() == 0)


def test_grouping_rejects_impossible_sizes():
    with pytest.raises(InputError, match="100 points cannot make 200 groups"):
        group_points(torch.rand(1, 100, 3), 200, 8)
    with pytest.raises(InputError, match=r"shape \(B, N, 3\)"):
        group_points(torch.rand(100, 3), 10, 8)


def test_chamfer_by_hand():
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0], [0, 2, 0], [1, 0, 0]]])
    # a -> b: 0, 0 ; b -> a: 0, min(4, 5) = 4, 0
    assert chamfer_l2(a, b).item() == pytest.approx(0 + 4 / 3)
    assert chamfer_l1(a, b).item() == pytest.approx((0 + 2 / 3) / 2, abs=1e-5)
    assert chamfer_l2(a, a).item() == 0.0


def test_tokens_shapes_layers_and_group_override():
    enc = PointMAEEncoder(PointMAEConfig(**SMALL)).eval()
    xyz = torch.rand(2, 512, 3)
    with torch.no_grad():
        tok = enc.tokens(xyz, num_group=40, group_size=16, layers=(0, 1))
    assert tok.centers.shape == (2, 40, 3) and tok.features.shape == (2, 40, 96)
    assert tok.idx.shape == (2, 40, 16) and tok.idx.dtype == torch.long
    assert set(tok.layer_features) == {0, 1}
    # the last block's output, normed, is the final feature
    torch.testing.assert_close(enc.norm(tok.layer_features[1]), tok.features)
    with pytest.raises(InputError, match="out of range"):
        enc.tokens(xyz, layers=(5,))


def test_tokens_are_permutation_invariant_within_patches():
    torch.manual_seed(0)
    enc = PointMAEEncoder(PointMAEConfig(**SMALL)).eval()
    xyz = torch.rand(1, 400, 3)
    perm = torch.randperm(400)
    perm = torch.cat([torch.tensor([0]), perm[perm != 0]])   # FPS starts at point 0
    with torch.no_grad():
        a = enc.tokens(xyz, 20, 16).features
        b = enc.tokens(xyz[:, perm], 20, 16).features
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_cls_token_config_runs_and_drops_the_token():
    enc = PointMAEEncoder(PointMAEConfig(**SMALL, cls_token=True)).eval()
    with torch.no_grad():
        tok = enc.tokens(torch.rand(1, 256, 3), 16, 16, layers=(1,))
    assert tok.features.shape == (1, 16, 96) and tok.layer_features[1].shape == (1, 16, 96)


def test_mae_masks_sixty_percent_and_backpropagates():
    cfg = PointMAEConfig(**SMALL, num_group=20, group_size=16, decoder_depth=1, decoder_num_heads=3)
    model = PointMAE(cfg)
    out = model(torch.rand(3, 400, 3))
    assert out.mask.sum(1).tolist() == [12, 12, 12]
    assert out.predicted.shape == out.target.shape == (3, 12, 16, 3)
    out.loss.backward()
    assert model.encoder.patch_embed.first_conv[0].weight.grad.abs().sum() > 0
    assert model.mask_token.grad.abs().sum() > 0


def test_normalise_to_unit_sphere_and_back():
    pts = np.random.default_rng(1).normal(size=(100, 3)) * 40 + 7
    unit, centre, scale = normalise(pts)
    assert np.linalg.norm(unit, axis=1).max() == pytest.approx(1.0)
    np.testing.assert_allclose(unit.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(unit * scale + centre, pts)
    with pytest.raises(InputError, match="coincide"):
        normalise(np.ones((5, 3)))


def test_config_rejects_bad_heads():
    with pytest.raises(InputError, match="divisible"):
        PointMAEConfig(trans_dim=100, num_heads=3)
