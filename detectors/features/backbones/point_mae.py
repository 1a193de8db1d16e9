"""Point-MAE (Pang et al., "Masked Autoencoders for Point Cloud Self-supervised Learning", ECCV 2022).

* :class:`PointMAEEncoder` - patch grouping (FPS + kNN, §3.1), mini-PointNet embedding and a
  standard transformer encoder with the centres' positional embedding added before every block
  (§3.2); no masking. :meth:`PointMAEEncoder.tokens` is the token API the detectors use (M3DM,
  PatchCore(PointMAE), Reg3D-AD, DevNet/DRA, SCA).
* :class:`PointMAE` - the masked autoencoder for pretraining (§3.2-3.3): random masking of 60 %
  of the patches, the encoder sees only the visible ones, a lightweight decoder receives the
  visible tokens plus a shared learned mask token at every masked centre (positional embedding
  of all centres again before every block), a 1x1 convolution predicts each masked patch's
  ``group_size`` points, and the loss is the Chamfer-L2 distance to the true masked patches.

Choices where the paper is silent follow the official code: FPS starts at point 0, masks are
drawn independently per cloud, masked tokens are appended after the visible ones in the
decoder, and only the last ``M`` (masked) decoder outputs are normed and projected. The
optional ``cls_token`` (``PointMAEConfig.cls_token``) exists so fine-tuned official checkpoints,
whose encoder was trained with a class token in front of the patches, run as they were trained;
the token is used inside the encoder and dropped from the outputs.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from scan2ad.config import doc
from scan2ad.errors import InputError

from .chamfer import chamfer_l2
from .grouping import Groups, group_points
from .layers import MiniPointNet, init_weights, make_blocks, position_mlp


@dataclasses.dataclass(frozen=True)
class PointMAEConfig:
    """Point-MAE architecture; defaults are the paper's pretraining configuration."""

    trans_dim: int = doc("transformer width (channels of every token)", 384)
    depth: int = doc("number of encoder transformer blocks", 12)
    num_heads: int = doc("attention heads of the encoder blocks", 6)
    encoder_dims: int = doc("output channels of the mini-PointNet patch embedding; a Linear maps "
                            "them to trans_dim when they differ (Point-MAE: equal)", 384)
    num_group: int = doc("patches per cloud (FPS centres) in pretraining and by default", 64)
    group_size: int = doc("points per patch (kNN of each centre)", 32)
    mask_ratio: float = doc("fraction of the patches masked in pretraining", 0.6)
    decoder_depth: int = doc("transformer blocks of the pretraining decoder", 4)
    decoder_num_heads: int = doc("attention heads of the decoder blocks", 6)
    drop_path_rate: float = doc("stochastic depth of the last block (linear from 0)", 0.1)
    cls_token: bool = doc("a learned class token in front of the patches (fine-tuned official "
                          "checkpoints have one; pretraining does not)", False)

    def __post_init__(self):
        for name in ("trans_dim", "num_heads", "encoder_dims", "num_group", "group_size",
                     "decoder_num_heads"):
            if getattr(self, name) < 1:
                raise InputError(f"PointMAEConfig.{name} must be positive, got {getattr(self, name)}")
        if self.depth < 0 or self.decoder_depth < 0:
            raise InputError("PointMAEConfig.depth and decoder_depth must be >= 0")
        if self.trans_dim % self.num_heads or self.trans_dim % self.decoder_num_heads:
            raise InputError(f"PointMAEConfig.trans_dim {self.trans_dim} must be divisible by num_heads "
                             f"{self.num_heads} and decoder_num_heads {self.decoder_num_heads}")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise InputError(f"PointMAEConfig.mask_ratio must be in [0, 1), got {self.mask_ratio}")


@dataclasses.dataclass
class Tokens:
    """Patch tokens of a batch of clouds."""

    centers: torch.Tensor                   # (B, G, 3) patch centres, in the input frame
    features: torch.Tensor                  # (B, G, C) final, normed encoder output
    layer_features: dict[int, torch.Tensor]  # {block index: (B, G, C) block output, not normed}
    idx: torch.Tensor                       # (B, G, k) long, input point indices of each patch


class PointMAEEncoder(nn.Module):
    """Grouping + mini-PointNet embedding + transformer encoder, no masking."""

    def __init__(self, cfg: PointMAEConfig | None = None):
        super().__init__()
        cfg = cfg or PointMAEConfig()
        self.cfg = cfg
        self.patch_embed = MiniPointNet(cfg.encoder_dims)
        self.reduce_dim = (nn.Identity() if cfg.encoder_dims == cfg.trans_dim
                           else nn.Linear(cfg.encoder_dims, cfg.trans_dim))
        self.pos_embed = position_mlp(cfg.trans_dim)
        self.blocks = make_blocks(cfg.trans_dim, cfg.depth, cfg.num_heads, cfg.drop_path_rate)
        self.norm = nn.LayerNorm(cfg.trans_dim)
        if cfg.cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.trans_dim))
            self.cls_pos = nn.Parameter(torch.randn(1, 1, cfg.trans_dim) * 0.02)
        init_weights(self)

    def embed(self, neighborhood: torch.Tensor) -> torch.Tensor:
        """(B, G, k, 3) centre-relative patches -> (B, G, trans_dim) input tokens."""
        return self.reduce_dim(self.patch_embed(neighborhood))

    def encode(self, x: torch.Tensor, centers: torch.Tensor, layers: tuple[int, ...] = ()
               ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Transformer over tokens ``x`` (B, G, C) at ``centers`` (B, G, 3): the normed output and
        the raw outputs of the blocks listed in ``layers``."""
        pos = self.pos_embed(centers)
        lead = 0
        if self.cfg.cls_token:
            b = x.shape[0]
            x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
            pos = torch.cat([self.cls_pos.expand(b, -1, -1), pos], dim=1)
            lead = 1
        wanted, out = set(layers), {}
        for i, block in enumerate(self.blocks):
            x = block(x + pos)
            if i in wanted:
                out[i] = x[:, lead:]
        return self.norm(x)[:, lead:], out

    def group(self, xyz: torch.Tensor, num_group: int | None = None, group_size: int | None = None,
              centre_idx: torch.Tensor | None = None, knn_idx: torch.Tensor | None = None) -> Groups:
        return group_points(xyz, int(num_group or self.cfg.num_group), int(group_size or self.cfg.group_size),
                            centre_idx, knn_idx)

    def tokens(self, xyz: torch.Tensor, num_group: int | None = None, group_size: int | None = None,
               layers: tuple[int, ...] = (), centre_idx: torch.Tensor | None = None,
               knn_idx: torch.Tensor | None = None) -> Tokens:
        """Patch tokens of clouds ``xyz`` (B, N, 3), normalised to the unit sphere (:func:`normalise`).

        ``num_group``/``group_size`` override the configuration (the official models allow any
        at inference: M3DM uses 1024 x 128); ``layers`` lists 0-based block indices whose outputs
        are returned in ``Tokens.layer_features`` (M3DM: 3, 7, 11 of 12); ``centre_idx`` and
        ``knn_idx`` give the grouping precomputed (:func:`.grouping.cpu_grouping`).
        """
        bad = [i for i in layers if not 0 <= int(i) < len(self.blocks)]
        if bad:
            raise InputError(f"layers {bad} out of range: the encoder has {len(self.blocks)} blocks (0-based)")
        groups = self.group(xyz, num_group, group_size, centre_idx, knn_idx)
        features, per_layer = self.encode(self.embed(groups.neighborhood), groups.centers,
                                          tuple(int(i) for i in layers))
        return Tokens(groups.centers, features, per_layer, groups.idx)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        return self.tokens(xyz).features


def random_mask(batch: int, groups: int, ratio: float, device=None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, G) bool, exactly ``int(ratio * G)`` True (masked) per row, drawn independently per cloud."""
    n_mask = int(ratio * groups)
    order = torch.rand(batch, groups, generator=generator).argsort(dim=1)
    mask = order < n_mask
    return mask.to(device) if device is not None else mask


@dataclasses.dataclass
class MAEOutput:
    loss: torch.Tensor           # Chamfer-L2 between predicted and true masked patches
    mask: torch.Tensor           # (B, G) bool, True = masked
    predicted: torch.Tensor      # (B, M, k, 3) reconstructed masked patches, absolute coordinates
    target: torch.Tensor         # (B, M, k, 3) true masked patches, absolute coordinates
    centers: torch.Tensor        # (B, G, 3)


class PointMAE(nn.Module):
    """The Point-MAE masked autoencoder (encoder, mask token, decoder, point prediction head)."""

    def __init__(self, cfg: PointMAEConfig | None = None):
        super().__init__()
        cfg = cfg or PointMAEConfig()
        self.cfg = cfg
        self.encoder = PointMAEEncoder(cfg)
        d = cfg.trans_dim
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder_pos_embed = position_mlp(d)
        self.decoder_blocks = make_blocks(d, cfg.decoder_depth, cfg.decoder_num_heads, cfg.drop_path_rate)
        self.decoder_norm = nn.LayerNorm(d)
        self.increase_dim = nn.Conv1d(d, 3 * cfg.group_size, 1)
        # the official decoder uses Xavier-uniform Linear weights
        for m in self.decoder_blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, xyz: torch.Tensor, generator: torch.Generator | None = None) -> MAEOutput:
        cfg = self.cfg
        groups = self.encoder.group(xyz)
        b, g, k, _ = groups.neighborhood.shape
        mask = random_mask(b, g, cfg.mask_ratio, xyz.device, generator)
        if not mask.any():
            raise InputError(f"mask_ratio {cfg.mask_ratio} masks no patch of {g}; raise num_group or mask_ratio")
        tokens = self.encoder.embed(groups.neighborhood)
        d = tokens.shape[-1]
        vis_centers = groups.centers[~mask].reshape(b, -1, 3)
        msk_centers = groups.centers[mask].reshape(b, -1, 3)
        x_vis, _ = self.encoder.encode(tokens[~mask].reshape(b, -1, d), vis_centers)
        m = msk_centers.shape[1]
        x = torch.cat([x_vis, self.mask_token.expand(b, m, -1)], dim=1)
        pos = torch.cat([self.decoder_pos_embed(vis_centers), self.decoder_pos_embed(msk_centers)], dim=1)
        for block in self.decoder_blocks:
            x = block(x + pos)
        x = self.decoder_norm(x[:, -m:])
        pred = self.increase_dim(x.transpose(1, 2)).transpose(1, 2).reshape(b * m, k, 3)
        target = groups.neighborhood[mask].reshape(b * m, k, 3)
        loss = chamfer_l2(pred, target)
        return MAEOutput(loss, mask, pred.reshape(b, m, k, 3) + msk_centers[:, :, None],
                         target.reshape(b, m, k, 3) + msk_centers[:, :, None], groups.centers)
