"""MC4AD and PO3AD as scan2ad detectors (004_be09d63770e75756.txt; PO3AD, Ye et al. CVPR 2025).

Both learn, from normal clouds only, to predict per-point offsets that undo synthetic
anomalies; at test time the predicted offset's norm is the point score.

* **MC4AD**: DA-Gen anomalies (:mod:`scan2ad.detectors.synthesis.da_gen`), CFP-Net with MC-Skip
  and a 6-channel head (F'_E, F'_I), the combined loss (symmetry + distance + direction),
  point score ‖F_C‖, object score = max (§4.2). Ablations V1–V4, Out = 3, w/o MC-Skip,
  Layer_2/4/6 and the pruned V_P are registry entries.
* **PO3AD**: Norm-AS anomalies (PO3AD's own generator, which MC4AD and Open3D-AD call Norm-AS),
  the same sparse U-Net with plain skips and a 3-channel offset head, L1 + direction loss, point
  score = L1 norm of the offset and object score = their mean (PO3AD's ``eval_fn``).

Training follows PO3AD's loader: each step draws training clouds, rotates them at random about
z, y and x (PO3AD: angles in [−π, π]), centres them and scales them into the unit sphere, shifts one
of 64 patches, and regresses the applied displacement. Adam, lr 0.001 with cosine annealing
(MC4AD A.1; 0.0015 for the pruned model, A.5), weight decay 1e-4 (PO3AD). The papers train
1000 epochs × 100 repeats on GPUs; here ``steps`` sets the budget (default 1500 steps of 8
clouds: ~10 min on 2 CPU cores for 10K-point clouds), a choice written down because the papers'
schedule is out of reach on a CPU.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from scan2ad.config import doc
from scan2ad.detectors.base import BaseConfig, Detector, Scores, TrainSet
from scan2ad.detectors.features.geometry import check_rotation_axes, random_rotation
from scan2ad.errors import InputError
from scan2ad.log import get_logger, progress

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class OffsetConfig(BaseConfig):
    aggregation: str = doc("object score: MC4AD max, PO3AD mean", "max")
    voxel_size: float = doc("voxel size in unit-sphere coordinates (PO3AD 0.03)", 0.03)
    channels: int = doc("feature channels C of the U-Net (PO3AD out_channels 32)", 32)
    depth: int = doc("down/up levels: 4 = the paper's Layer_8; 3, 2, 1 = Layer_6/4/2", 4)
    encoder_layers: int = doc("submanifold convs of the encoder (Eq. 6: two; pruned: one)", 2)
    out_channels: int = doc("6: internal + external corrective forces; 3: offsets directly", 6)
    mc_skip: bool = doc("MC-Skip gated skip connections (False: plain additive skips)", True)
    synthesis: str = doc("pseudo-anomaly generator: da-gen | norm-as", "da-gen")
    patches: int = doc("G: patches per cloud (DA-Gen / PO3AD's mask_num)", 64)
    shifted_patches: int = doc("patches displaced per training cloud (PO3AD: 1)", 1)
    use_sym: bool = doc("symmetry loss L_sym", True)
    use_dir: bool = doc("direction loss L_dir", True)
    use_dist: bool = doc("distance loss L_dist", True)
    score_norm: str = doc("point score: l2 (MC4AD ‖F_C‖) or l1 (PO3AD)", "l2")
    steps: int = doc("training iterations", 1500)
    batch_size: int = doc("clouds per iteration (paper: 32 on 4 GPUs)", 8)
    lr: float = doc("initial learning rate, cosine-annealed to 0", 1e-3)
    weight_decay: float = doc("Adam weight decay (PO3AD)", 1e-4)
    rotation_deg: float = doc("random rotation range about z, y, x in training (PO3AD: 180)", 180.0)
    rotation_axes: str = doc("axes of the training rotation, of 'zyx' (PO3AD: all three; 'z' for parts "
                             "scanned upright on a turntable)", "zyx")
    max_points: int = doc("points per training cloud per step (random subset; 0 = all)", 16384)
    device: str = doc("cpu | cuda | auto", "auto")


def normalise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """PO3AD's CenterShift + NormalizeCoord: centroid at 0, farthest point at radius 1."""
    centre = points.mean(axis=0)
    p = points - centre
    scale = float(np.linalg.norm(p, axis=1).max()) or 1.0
    return p / scale, centre, scale


def _norm_as(points, normals, rng, patches: int, shifted: int, tree=None):
    """Norm-AS (PO3AD's generator, :mod:`scan2ad.detectors.synthesis.norm_as`), ``shifted`` times."""
    from scan2ad.detectors.synthesis.norm_as import norm_as

    out = np.asarray(points, dtype=np.float64)
    for _ in range(shifted):
        out = norm_as(out, rng, normals=normals).points
    return out, out - points


def _da_gen(points, normals, rng, patches: int, shifted: int, tree=None):
    from scan2ad.detectors.synthesis.da_gen import DAGenConfig, da_gen

    return da_gen(points, normals, rng, DAGenConfig(patches=patches, shifted_patches=shifted), tree=tree)


SYNTHESIS = {"da-gen": _da_gen, "norm-as": _norm_as}


class OffsetDetector(Detector):
    """Shared training/scoring of the offset-prediction family (MC4AD, PO3AD)."""

    Config = OffsetConfig

    def __init__(self, config: Any = None, **overrides):
        super().__init__(config, **overrides)
        c = self.config
        if c.synthesis not in SYNTHESIS:
            raise InputError(f"unknown synthesis {c.synthesis!r} (choose {', '.join(SYNTHESIS)})")
        if c.out_channels not in (3, 6):
            raise InputError("out_channels must be 3 or 6")
        check_rotation_axes(c.rotation_axes)
        self.net = None

    # -- torch helpers
    def _device(self):
        import torch

        if self.config.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.config.device)

    def _build(self):
        from scan2ad.detectors.methods.mc4ad.model import CFPNet

        c = self.config
        return CFPNet(c.channels, c.depth, c.encoder_layers, c.out_channels, c.mc_skip)

    def fit(self, train: TrainSet) -> None:
        import torch
        from scipy.spatial import cKDTree

        from scan2ad.detectors.methods.mc4ad.model import combined_loss

        c = self.config
        rng = np.random.default_rng(c.seed)
        torch.manual_seed(c.seed)
        from scan2ad.detectors.features.geometry import estimate_normals

        clouds = []
        for cloud in train.normal:
            normals = cloud.normals if cloud.normals is not None else estimate_normals(cloud.points)
            clouds.append((cloud.points.astype(np.float64), normals.astype(np.float64)))
        device = self._device()
        self.net = self._build().to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, c.steps) / max(1, c.steps))))
        synth = SYNTHESIS[c.synthesis]
        self.net.train()
        losses = []
        for step in progress(range(c.steps), desc=f"{self.name or 'offset'} training", total=c.steps):
            pts_b, tgt_b, bid_b = [], [], []
            for b in range(c.batch_size):
                pts, nrm = clouds[int(rng.integers(len(clouds)))]
                if c.max_points and len(pts) > c.max_points:
                    pick = rng.choice(len(pts), c.max_points, replace=False)
                    pts, nrm = pts[pick], nrm[pick]
                R = random_rotation(c.rotation_deg, rng, c.rotation_axes)
                p, _, _ = normalise(pts @ R.T)
                n = nrm @ R.T
                shifted, disp = synth(p, n, rng, c.patches, c.shifted_patches, cKDTree(p))
                pts_b.append(shifted)
                tgt_b.append(disp)
                bid_b.append(np.full(len(p), b))
            x = torch.as_tensor(np.concatenate(pts_b), dtype=torch.float32, device=device)
            t = torch.as_tensor(np.concatenate(tgt_b), dtype=torch.float32, device=device)
            bid = torch.as_tensor(np.concatenate(bid_b), dtype=torch.int64, device=device)
            out = self.net(x, bid, c.voxel_size)
            terms = combined_loss(out, t, c.use_sym, c.use_dir, c.use_dist)
            opt.zero_grad()
            terms["total"].backward()
            opt.step()
            sched.step()
            losses.append(terms["total"].item())
        self.train_losses = losses
        self.net.eval()

    def point_forces(self, points: np.ndarray) -> np.ndarray:
        """F_C per point, in unit-sphere units of the normalised cloud."""
        import torch

        from scan2ad.detectors.methods.mc4ad.model import resultant_force

        if self.net is None:
            raise InputError(f"{self.name or type(self).__name__} is not trained: call fit() first")
        p, _, _ = normalise(np.asarray(points, dtype=np.float64))
        device = next(self.net.parameters()).device
        with torch.no_grad():
            x = torch.as_tensor(p, dtype=torch.float32, device=device)
            out = self.net(x, torch.zeros(len(p), dtype=torch.int64, device=device), self.config.voxel_size)
            return resultant_force(out).cpu().numpy().astype(np.float64)

    def score(self, points: np.ndarray) -> Scores:
        f = self.point_forces(points)
        s = np.abs(f).sum(1) if self.config.score_norm == "l1" else np.linalg.norm(f, axis=1)
        return Scores(s, self.object_score(s))

    def parameter_count(self) -> int:
        """CFP-Net's learned weights (the state dict also holds BatchNorm's running statistics)."""
        if self.net is None:
            raise InputError("the detector is not trained: no parameters yet")
        return sum(p.numel() for p in self.net.parameters())

    def state_dict(self) -> dict[str, Any]:
        if self.net is None:
            raise InputError("nothing to save: the detector is not trained")
        return {"net": self.net.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net = self._build().to(self._device())
        self.net.load_state_dict(state["net"])
        self.net.eval()


class MC4AD(OffsetDetector):
    name = "mc4ad"


@dataclasses.dataclass(frozen=True)
class PO3ADConfig(OffsetConfig):
    aggregation: str = doc("object score: the mean of point scores (PO3AD eval_fn)", "mean")
    out_channels: int = doc("3: offsets", 3)
    mc_skip: bool = doc("PO3AD's U-Net has plain skips", False)
    synthesis: str = doc("Norm-AS, PO3AD's generator", "norm-as")
    use_sym: bool = doc("no symmetry loss in PO3AD", False)
    score_norm: str = doc("L1 norm of the offset", "l1")


class PO3AD(OffsetDetector):
    name = "po3ad"
    Config = PO3ADConfig
