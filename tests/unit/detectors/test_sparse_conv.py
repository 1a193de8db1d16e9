"""The sparse operators equal dense convolutions of the zero-filled grid at active sites."""

import pytest
import torch
import torch.nn.functional as F

from scan2ad.detectors.features.sparse_conv import (
    SparseConv3d,
    SparseInverseConv3d,
    SubmanifoldConv3d,
    VoxelSet,
    kernel_offsets,
    scatter_mean,
    unique_coords,
    voxelize,
)

G = 8  # grid side


def _random_sparse(cin, density=0.25, seed=0, batches=2):
    g = torch.Generator().manual_seed(seed)
    occ = torch.rand(batches, G, G, G, generator=g) < density
    coords = torch.nonzero(occ)  # (N, 4): b, x, y, z
    feats = torch.randn(coords.shape[0], cin, generator=g, dtype=torch.float64)
    dense = torch.zeros(batches, cin, G, G, G, dtype=torch.float64)
    dense[coords[:, 0], :, coords[:, 1], coords[:, 2], coords[:, 3]] = feats
    return coords, feats, dense


def test_submanifold_equals_dense_conv3d():
    coords, feats, dense = _random_sparse(3)
    conv = SubmanifoldConv3d(3, 5).double()
    wd = torch.zeros(5, 3, 3, 3, 3, dtype=torch.float64)
    for k, (ox, oy, oz) in enumerate(kernel_offsets(3, True).tolist()):
        wd[:, :, ox + 1, oy + 1, oz + 1] = conv.weight[k].T
    ref = F.conv3d(dense, wd, conv.bias, padding=1)
    out = conv(feats, VoxelSet.build(coords))
    expect = ref[coords[:, 0], :, coords[:, 1], coords[:, 2], coords[:, 3]]
    torch.testing.assert_close(out, expect)


def test_strided_and_inverse_equal_dense():
    coords, feats, dense = _random_sparse(4, seed=1)
    down = SparseConv3d(4, 6).double()
    wd = torch.zeros(6, 4, 2, 2, 2, dtype=torch.float64)
    for k, (ox, oy, oz) in enumerate(kernel_offsets(2, False).tolist()):
        wd[:, :, ox, oy, oz] = down.weight[k].T
    fine = VoxelSet.build(coords)
    out, coarse = down(feats, fine)
    ref = F.conv3d(dense, wd, down.bias, stride=2)
    c = coarse.coords
    torch.testing.assert_close(out, ref[c[:, 0], :, c[:, 1], c[:, 2], c[:, 3]])
    # every coarse site has at least one fine child, and only those exist
    assert c.shape[0] == torch.unique(torch.cat([coords[:, :1], coords[:, 1:] // 2], 1), dim=0).shape[0]

    up = SparseInverseConv3d(6, 3).double()
    wt = torch.zeros(6, 3, 2, 2, 2, dtype=torch.float64)
    for k, (ox, oy, oz) in enumerate(kernel_offsets(2, False).tolist()):
        wt[:, :, ox, oy, oz] = up.weight[k]
    dense_coarse = torch.zeros(2, 6, G // 2, G // 2, G // 2, dtype=torch.float64)
    dense_coarse[c[:, 0], :, c[:, 1], c[:, 2], c[:, 3]] = out
    ref_up = F.conv_transpose3d(dense_coarse, wt, up.bias, stride=2)
    got = up(out, coarse, fine)
    torch.testing.assert_close(got, ref_up[coords[:, 0], :, coords[:, 1], coords[:, 2], coords[:, 3]])


def test_gradients_flow_and_negative_coordinates():
    pts = torch.randn(500, 3) * 3.0  # negative coordinates too
    coords, inv = voxelize(pts, 0.5)
    feats = scatter_mean(pts, inv, coords.shape[0]).requires_grad_(True)
    conv = SubmanifoldConv3d(3, 4)
    loss = conv(feats, VoxelSet.build(coords)).pow(2).sum()
    loss.backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all() and conv.weight.grad.abs().sum() > 0
    # each point's voxel contains it
    lo = coords[inv, 1:].float() * 0.5
    assert ((pts >= lo - 1e-6) & (pts < lo + 0.5 + 1e-6)).all()


def test_unique_coords_equals_torch_unique_over_rows():
    g = torch.Generator().manual_seed(3)
    coords = torch.cat([torch.randint(0, 3, (4000, 1), generator=g),
                        torch.randint(-40, 40, (4000, 3), generator=g)], 1)
    ref, ref_inv = torch.unique(coords, dim=0, return_inverse=True)
    got, inv = unique_coords(coords)
    assert torch.equal(got, ref) and torch.equal(inv, ref_inv)


def test_even_kernel_rejected():
    with pytest.raises(ValueError):
        SubmanifoldConv3d(1, 1, kernel_size=2)
