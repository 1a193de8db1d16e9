"""Point-BERT (Yu et al., "Point-BERT: Pre-training 3D Point Cloud Transformers with Masked Point
Modeling", CVPR 2022).

* :class:`DiscreteVAE` - the point tokenizer (§3.2): patches (FPS + kNN) embedded by the
  mini-PointNet, a DGCNN over the patch centres gives each patch logits over ``num_tokens``
  codebook entries, Gumbel-softmax relaxation picks (softly) a codebook vector, a second DGCNN
  mixes them, and a FoldingNet-style decoder rebuilds each patch (coarse points, then a 2 x 2
  folding to ``group_size`` fine points). Loss: Chamfer-L1 of the coarse and of the fine patch
  plus a KL term pulling the token distribution towards uniform.
* :class:`PointBERTEncoder` - the transformer (§3.3): mini-PointNet embedding, a linear
  ``reduce_dim`` to the transformer width, a class token, positional embedding of the centres
  added before every block. It exposes the same ``tokens(...)`` API as
  :class:`.point_mae.PointMAEEncoder` (the class token is dropped from the outputs).
* :class:`PointBERT` - masked point modelling: block-wise masking of 25-45 % of the patches
  (the nearest patches of a random centre), masked embeddings replaced by a learned mask token,
  and a linear head predicting the frozen tokenizer's token id of every masked patch
  (cross-entropy).

Left out, as they are not needed for a backbone pretrained at small scale: the MoCo contrastive
term and the Point Patch Mixing augmentation of §3.3, and the random replacement of some masked
tokens. Where the paper is silent the official code is followed (k = 4 centre neighbours in the
DGCNN, GroupNorm with 4 groups, folding grid in [-0.05, 0.05]); one deliberate difference: the
KL term is averaged per patch (the official code sums it over a cloud's patches), so its weight
does not depend on the number of patches.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from scan2ad.config import doc
from scan2ad.errors import InputError

from .chamfer import chamfer_l1
from .grouping import knn_indices
from .layers import MiniPointNet, init_weights
from .point_mae import PointMAEEncoder


@dataclasses.dataclass(frozen=True)
class PointBERTConfig:
    """Point-BERT architecture; defaults are the paper's pretraining configuration."""

    trans_dim: int = doc("transformer width", 384)
    depth: int = doc("transformer blocks", 12)
    num_heads: int = doc("attention heads", 6)
    encoder_dims: int = doc("mini-PointNet output channels (tokenizer and transformer)", 256)
    num_group: int = doc("patches per cloud", 64)
    group_size: int = doc("points per patch (a multiple of 4: the decoder folds 2 x 2)", 32)
    num_tokens: int = doc("codebook size of the dVAE tokenizer", 8192)
    tokens_dims: int = doc("channels of a codebook vector", 256)
    decoder_dims: int = doc("channels of the dVAE decoder input", 256)
    dgcnn_k: int = doc("neighbouring patch centres of the DGCNN layers", 4)
    mask_ratio_min: float = doc("smallest fraction of patches masked in masked point modelling", 0.25)
    mask_ratio_max: float = doc("largest fraction of patches masked", 0.45)
    drop_path_rate: float = doc("stochastic depth of the last block (linear from 0)", 0.1)
    cls_token: bool = doc("the class token in front of the patches (always on in Point-BERT)", True)

    def __post_init__(self):
        for name in ("trans_dim", "num_heads", "encoder_dims", "num_group", "group_size", "num_tokens",
                     "tokens_dims", "decoder_dims", "dgcnn_k"):
            if getattr(self, name) < 1:
                raise InputError(f"PointBERTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.trans_dim % self.num_heads:
            raise InputError(f"PointBERTConfig.trans_dim {self.trans_dim} must be divisible by num_heads "
                             f"{self.num_heads}")
        if self.group_size % 4:
            raise InputError(f"PointBERTConfig.group_size must be a multiple of 4, got {self.group_size}")
        for name in ("num_tokens", "decoder_dims"):
            if getattr(self, name) % 4:
                raise InputError(f"PointBERTConfig.{name} must be a multiple of 4 (GroupNorm groups)")
        if not 0 < self.mask_ratio_min <= self.mask_ratio_max < 1:
            raise InputError("PointBERTConfig: need 0 < mask_ratio_min <= mask_ratio_max < 1")
        if not self.cls_token:
            raise InputError("PointBERTConfig.cls_token: Point-BERT's transformer always has a class token")


# --------------------------------------------------------------------------- tokenizer
def _edge_layer(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.GroupNorm(4, c_out), nn.LeakyReLU(0.2))


class DGCNN(nn.Module):
    """EdgeConv layers over the patch centres: (B, G, C_in) features at (B, G, 3) -> (B, G, C_out)."""

    def __init__(self, c_in: int, c_out: int, k: int = 4):
        super().__init__()
        self.k = k
        self.input_trans = nn.Conv1d(c_in, 128, 1)
        self.layer1 = _edge_layer(256, 256)
        self.layer2 = _edge_layer(512, 512)
        self.layer3 = _edge_layer(1024, 512)
        self.layer4 = _edge_layer(1024, 1024)
        self.layer5 = nn.Sequential(nn.Conv1d(2304, c_out, 1, bias=False), nn.GroupNorm(4, c_out),
                                    nn.LeakyReLU(0.2))

    @staticmethod
    def edge_features(f: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(B, C, G) features -> (B, 2C, G, k): neighbour minus centre, and centre."""
        b = f.shape[0]
        k = idx.shape[-1]
        ft = f.transpose(1, 2)                                          # (B, G, C)
        rows = torch.arange(b, device=f.device)[:, None, None]
        nb = ft[rows, idx]                                              # (B, G, k, C)
        centre = ft[:, :, None, :].expand(-1, -1, k, -1)
        return torch.cat([nb - centre, centre], dim=-1).permute(0, 3, 1, 2)

    def forward(self, f: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            idx = knn_indices(centers, centers, min(self.k, centers.shape[1]))
        f = self.input_trans(f.transpose(1, 2))
        feats = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            f = layer(self.edge_features(f, idx)).max(dim=-1).values
            feats.append(f)
        return self.layer5(torch.cat(feats, dim=1)).transpose(1, 2)


class FoldingDecoder(nn.Module):
    """Patch decoder: an MLP gives ``group_size / 4`` coarse points, a 2 x 2 folding grid and a
    point-wise MLP refine each into 4 fine points (offsets from their coarse point)."""

    def __init__(self, c_in: int, num_fine: int):
        super().__init__()
        self.num_fine, self.num_coarse = num_fine, num_fine // 4
        self.mlp = nn.Sequential(nn.Linear(c_in, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 1024),
                                 nn.ReLU(inplace=True), nn.Linear(1024, 3 * self.num_coarse))
        self.final_conv = nn.Sequential(nn.Conv1d(c_in + 5, 512, 1), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                        nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                        nn.Conv1d(512, 3, 1))
        a = torch.linspace(-0.05, 0.05, 2)
        grid = torch.stack([a.view(1, 2).expand(2, 2).reshape(-1), a.view(2, 1).expand(2, 2).reshape(-1)])
        self.register_buffer("folding_seed", grid.view(1, 2, 4), persistent=False)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, g, c = feature.shape
        feature = feature.reshape(b * g, c)
        coarse = self.mlp(feature).reshape(b * g, self.num_coarse, 3)
        centre = coarse[:, :, None, :].expand(-1, -1, 4, -1).reshape(b * g, self.num_fine, 3).transpose(1, 2)
        seed = self.folding_seed[:, :, None, :].expand(b * g, -1, self.num_coarse, -1).reshape(b * g, 2, -1)
        feat = torch.cat([feature[:, :, None].expand(-1, -1, self.num_fine), seed, centre], dim=1)
        fine = self.final_conv(feat) + centre
        return coarse.reshape(b, g, self.num_coarse, 3), fine.transpose(1, 2).reshape(b, g, self.num_fine, 3)


@dataclasses.dataclass
class DVAEOutput:
    recon: torch.Tensor       # Chamfer-L1(coarse) + Chamfer-L1(fine)
    kl: torch.Tensor          # KL(q || uniform), mean per patch
    coarse: torch.Tensor      # (B, G, k/4, 3) centre-relative
    fine: torch.Tensor        # (B, G, k, 3) centre-relative
    neighborhood: torch.Tensor
    logits: torch.Tensor      # (B, G, num_tokens)


class DiscreteVAE(nn.Module):
    """The Point-BERT tokenizer (sub-module names as the official ``DiscreteVAE``)."""

    def __init__(self, cfg: PointBERTConfig | None = None):
        super().__init__()
        cfg = cfg or PointBERTConfig()
        self.cfg = cfg
        self.encoder = MiniPointNet(cfg.encoder_dims)
        self.dgcnn_1 = DGCNN(cfg.encoder_dims, cfg.num_tokens, cfg.dgcnn_k)
        self.codebook = nn.Parameter(torch.randn(cfg.num_tokens, cfg.tokens_dims))
        self.dgcnn_2 = DGCNN(cfg.tokens_dims, cfg.decoder_dims, cfg.dgcnn_k)
        self.decoder = FoldingDecoder(cfg.decoder_dims, cfg.group_size)

    def logits(self, neighborhood: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return self.dgcnn_1(self.encoder(neighborhood), centers)

    def token_ids(self, neighborhood: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        """(B, G) long: the most likely codebook entry of every patch."""
        return self.logits(neighborhood, centers).argmax(dim=-1)

    def forward(self, xyz: torch.Tensor, temperature: float = 1.0, hard: bool = False) -> DVAEOutput:
        from .grouping import group_points

        groups = group_points(xyz, self.cfg.num_group, self.cfg.group_size)
        logits = self.logits(groups.neighborhood, groups.centers)
        soft = F.gumbel_softmax(logits, tau=temperature, dim=-1, hard=hard)
        feature = self.dgcnn_2(soft @ self.codebook, groups.centers)
        coarse, fine = self.decoder(feature)
        b, g, k, _ = groups.neighborhood.shape
        gt = groups.neighborhood.reshape(b * g, k, 3)
        recon = chamfer_l1(coarse.reshape(b * g, -1, 3), gt) + chamfer_l1(fine.reshape(b * g, k, 3), gt)
        log_q = F.log_softmax(logits, dim=-1)
        kl = (log_q.exp() * (log_q + math.log(self.cfg.num_tokens))).sum(-1).mean()
        return DVAEOutput(recon, kl, coarse, fine, groups.neighborhood, logits)


# --------------------------------------------------------------------------- transformer
class PointBERTEncoder(PointMAEEncoder):
    """Point-BERT's transformer with :meth:`tokens` as in Point-MAE (a Linear ``reduce_dim`` maps
    the mini-PointNet's ``encoder_dims`` to ``trans_dim``, even when they are equal; the class
    token is used and dropped)."""

    def __init__(self, cfg: PointBERTConfig | None = None):
        cfg = cfg or PointBERTConfig()
        super().__init__(cfg)
        self.reduce_dim = nn.Linear(cfg.encoder_dims, cfg.trans_dim)   # always a Linear in Point-BERT
        init_weights(self.reduce_dim)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.cls_pos, std=0.02)


def block_mask(centers: torch.Tensor, ratio_min: float, ratio_max: float) -> torch.Tensor:
    """(B, G) bool: per cloud, the ``round(r G)`` patches nearest a random patch centre, r uniform
    in [ratio_min, ratio_max] (Point-BERT's block-wise masking)."""
    b, g, _ = centers.shape
    out = torch.zeros(b, g, dtype=torch.bool, device=centers.device)
    for i in range(b):
        r = ratio_min + (ratio_max - ratio_min) * torch.rand(()).item()
        n = max(1, round(r * g))
        seed = int(torch.randint(g, ()).item())
        order = (centers[i] - centers[i, seed]).norm(dim=-1).argsort()
        out[i, order[:n]] = True
    return out


@dataclasses.dataclass
class MPMOutput:
    loss: torch.Tensor       # cross-entropy of the masked patches' token ids
    accuracy: float          # fraction of masked patches whose id is predicted exactly
    mask: torch.Tensor       # (B, G) bool


class PointBERT(nn.Module):
    """Masked point modelling over the frozen :class:`DiscreteVAE`'s token ids."""

    def __init__(self, cfg: PointBERTConfig | None = None):
        super().__init__()
        cfg = cfg or PointBERTConfig()
        self.cfg = cfg
        self.dvae = DiscreteVAE(cfg)
        self.transformer = PointBERTEncoder(cfg)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.trans_dim))
        self.lm_head = nn.Linear(cfg.trans_dim, cfg.num_tokens)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        init_weights(self.lm_head)

    def forward(self, xyz: torch.Tensor) -> MPMOutput:
        groups = self.transformer.group(xyz)
        self.dvae.eval()                  # the tokenizer is frozen: no BatchNorm statistics updates
        with torch.no_grad():
            ids = self.dvae.token_ids(groups.neighborhood, groups.centers)
        mask = block_mask(groups.centers, self.cfg.mask_ratio_min, self.cfg.mask_ratio_max)
        x = self.transformer.embed(groups.neighborhood)
        x = torch.where(mask[..., None], self.mask_token.to(x.dtype).expand_as(x), x)
        feats, _ = self.transformer.encode(x, groups.centers)
        logits = self.lm_head(feats[mask])
        target = ids[mask]
        loss = F.cross_entropy(logits, target)
        accuracy = float((logits.argmax(-1) == target).float().mean().item())
        return MPMOutput(loss, accuracy, mask)
