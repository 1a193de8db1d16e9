"""DevNet / DRA token settings decided by issue 20 (benchmarks/fidelity.py's docstring): the
``layers`` option concatenates the normed outputs of M3DM's blocks 3/7/11 (scaled to the encoder's
depth) as the authors' dra_drev does, and the heads train and score on the wider tokens."""

import numpy as np
import pytest

from scan2ad.detectors.base import TrainSet
from scan2ad.detectors.registry import create
from scan2ad.errors import InputError
from scan2ad.pointcloud import PointCloud

pytest.importorskip("scan2ad.detectors.features.backbones.point_mae",
                    reason="the Point-MAE backbone (detectors/features/backbones) is not in this tree")

DEEP = "random:trans_dim=48,depth=2,num_heads=3,encoder_dims=48,seed=0"
SMALL = {"encoder": DEEP, "feature_points": 1024, "groups": 64, "group_size": 16, "views": 1,
         "steps": 3, "batch_size": 4}


def _ring(rng, n=1024, bump=False):
    t = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(-3, 3, n)
    r = 20 + (2.0 * np.exp(-((t - 1.0) ** 2 + z ** 2) / 0.2) if bump else 0.0)
    return np.c_[r * np.cos(t), r * np.sin(t), z]


@pytest.mark.parametrize("method", ["devnet-pm", "dra-pm"])
def test_layers_concatenate_the_scaled_blocks(method):
    rng = np.random.default_rng(0)
    pts = _ring(rng)
    # the decided defaults: M3DM's blocks (as the authors' code) and the hidden-layer scorer
    assert create(method).config.layers == (3, 7, 11) and create(method).config.hidden == 128
    final = create(method, **SMALL, layers=())
    blocks = create(method, **SMALL)
    # blocks 3/7/11 of 12 at the depths of a 2-block encoder are blocks 0 and 1: two 48-wide parts
    assert final._tokens(pts, 0).features.shape == (64, 48)
    tok = blocks._tokens(pts, 0).features
    assert tok.shape == (64, 96)
    # the last block's part is the final normed token the default uses
    np.testing.assert_allclose(tok[:, 48:], final._tokens(pts, 0).features, atol=1e-5)
    clouds = [PointCloud(_ring(rng), labels=np.zeros(1024, np.uint8)) for _ in range(3)]
    seen = PointCloud(_ring(rng, bump=True), labels=np.zeros(1024, np.uint8))
    blocks.fit(TrainSet(clouds, [seen], ["Bump"], "ring"))
    assert blocks.dim == 96
    s = blocks.score(pts)
    assert s.points.shape == (1024,) and np.isfinite(s.object)
    with pytest.raises(InputError, match="layers"):
        create(method, layers=(-1,))


def test_block_indices_outside_the_reference_are_refused():
    """``layers`` count in Point-MAE's 12 blocks; 12 or 99 named no block and used to be clamped
    silently to the encoder's last one (a devnet-pm fit with layers=[99] trained)."""
    from scan2ad.detectors.features.pointmae_extractor import scaled_block_indices

    assert scaled_block_indices(6, (3, 7, 11)) == (1, 3, 5)
    for bad in ((12,), (3, 99), (-1,)):
        with pytest.raises(InputError, match="layers"):
            scaled_block_indices(6, bad)
    for method in ("devnet-pm", "dra-pb", "m3dm", "reg3d-ad"):
        with pytest.raises(InputError, match="layers"):
            create(method, layers=[12])
        assert create(method, layers=[0, 11]).config.layers == (0, 11)
