"""Self-supervised pretraining of the backbones on meshes and clouds, resumable.

Data (:class:`Corpus`), any of

* ``parts`` or ``parts:NAME,NAME`` - the procedural part library
  (:mod:`scan2ad.acquisition.parts`), ``part_variants`` seeds per part; every draw samples
  ``points`` points uniformly on a mesh's surface;
* a dataset folder any :func:`scan2ad.datasets.readers.read_dataset` reader knows - its
  ``train`` clouds (all normal); every draw takes a random subset of ``points`` points;
* a folder of meshes (``.obj .stl .off .glb``, ``.ply`` with faces) and/or clouds (``.pcd
  .xyz .txt .npz``, ``.ply`` without faces), searched recursively.

Each draw gets a uniformly random rotation when ``rotate`` is on (the parts rest in arbitrary
poses on a turntable; the paper's ShapeNet models are aligned, ours are not) and is normalised
to the unit sphere like the official loaders (:func:`scan2ad.detectors.features.backbones.normalise`).

Training follows Point-MAE §4.1: AdamW (lr 1e-3, weight decay 0.05), linear warm-up then cosine
decay, per step. The run is deterministic and resumable: the batch and every torch random draw
(masks, stochastic depth, Gumbel noise) of step ``s`` come from generators seeded by
``(seed, s)``, so a run resumed from a checkpoint at step ``s`` continues exactly as the
uninterrupted run would, given the saved model and optimizer state. Checkpoints
(``state_<phase>.pt``, :mod:`.checkpoints` ``scan2ad-pretrain`` format) are written atomically
every ``save_every`` steps and at the end.

Point-BERT trains in two phases (§3.2 then §3.3): ``dvae`` (the tokenizer) then ``mpm``
(masked point modelling with the frozen tokenizer's token ids as targets).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scan2ad.config import config_to_dict, doc
from scan2ad.errors import InputError
from scan2ad.log import get_logger, progress
from scan2ad.render import save_figure

log = get_logger(__name__)

MESH_EXTS = (".obj", ".stl", ".off", ".glb", ".gltf")
CLOUD_EXTS = (".pcd", ".xyz", ".txt", ".npz")


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Training settings (the model's architecture is its own config)."""

    steps: int = doc("optimisation steps (per phase for Point-BERT)", 1000)
    batch: int = doc("clouds per step", 16)
    points: int = doc("points per cloud", 1024)
    lr: float = doc("peak learning rate (AdamW; Point-MAE 1e-3, Point-BERT dVAE 5e-4)", 1e-3)
    weight_decay: float = doc("AdamW weight decay (Point-MAE 0.05)", 0.05)
    warmup: float = doc("fraction of the steps of linear warm-up before the cosine decay", 0.05)
    min_lr: float = doc("learning rate at the end of the cosine decay", 1e-6)
    grad_clip: float = doc("gradient-norm clipping (Point-MAE 10); 0 disables", 10.0)
    seed: int = doc("seed of the data draws and of every torch random draw", 0)
    save_every: int = doc("steps between checkpoints", 100)
    rotate: bool = doc("random rotation of every draw (augmentation)", True)
    part_variants: int = doc("seeds per part of the procedural library (data 'parts')", 2)
    dvae_steps: int = doc("Point-BERT: steps of the dVAE tokenizer phase; 0 = steps", 0)
    tau_start: float = doc("Point-BERT dVAE: Gumbel-softmax temperature at the start", 1.0)
    tau_end: float = doc("Point-BERT dVAE: temperature at the end (paper 0.0625)", 0.0625)
    kl_weight: float = doc("Point-BERT dVAE: final weight of the KL term (paper 0.1), cosine from 0", 0.1)

    def __post_init__(self):
        for name in ("steps", "batch", "points", "save_every"):
            if getattr(self, name) < 1:
                raise InputError(f"PretrainConfig.{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.warmup < 1:
            raise InputError("PretrainConfig: lr must be > 0 and warmup in [0, 1)")


# --------------------------------------------------------------------------- data
@dataclasses.dataclass
class _Shape:
    name: str
    mesh: Any = None          # trimesh.Trimesh, sampled on the surface
    points: np.ndarray | None = None


class Corpus:
    """Shapes to draw training clouds from (see the module docstring for ``source``)."""

    def __init__(self, source: str | Path, points: int = 1024, rotate: bool = True, part_variants: int = 2):
        self.source, self.points, self.rotate = str(source), int(points), bool(rotate)
        self.shapes: list[_Shape] = []
        src = str(source)
        if src == "parts" or src.startswith("parts:"):
            self._load_parts(src, part_variants)
        else:
            path = Path(src)
            if not path.exists():
                raise InputError("pretraining data not found (expected a folder or 'parts[:NAME,...]')", path)
            if not path.is_dir():
                raise InputError("pretraining data must be a folder or 'parts[:NAME,...]'", path)
            if not self._load_dataset(path):
                self._load_folder(path)
        if not self.shapes:
            raise InputError("no meshes or clouds found for pretraining", Path(src))

    def _load_parts(self, src: str, variants: int) -> None:
        from scan2ad.acquisition.parts import PART_NAMES, make_part

        names = [n for n in src.partition(":")[2].split(",") if n] or list(PART_NAMES)
        unknown = [n for n in names if n not in PART_NAMES]
        if unknown:
            raise InputError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PART_NAMES)}")
        todo = [(n, s) for n in names for s in range(max(1, int(variants)))]
        for name, seed in progress(todo, desc="parts", unit="mesh"):
            self.shapes.append(_Shape(f"{name}#{seed}", mesh=make_part(name, seed)))
        self.kind = "parts"

    def _load_dataset(self, root: Path) -> bool:
        from scan2ad.datasets.readers import detect_format, read_dataset
        from scan2ad.datasets.samples import load_sample
        from scan2ad.errors import FormatError

        try:
            fmt = detect_format(root)
        except FormatError:
            return False
        samples = [s for s in read_dataset(root, fmt) if s.split == "train"]
        for s in progress(samples, desc="train clouds", unit="cloud"):
            self.shapes.append(_Shape(s.relpath or s.path.name, points=self._cap(load_sample(s).points)))
        self.kind = f"dataset ({fmt})"
        return True

    def _load_folder(self, root: Path) -> None:
        import trimesh

        from scan2ad.pointcloud import read_cloud

        files = sorted(f for f in root.rglob("*") if f.is_file()
                       and f.suffix.lower() in MESH_EXTS + CLOUD_EXTS + (".ply",))
        for f in progress(files, desc="shapes", unit="file"):
            rel = str(f.relative_to(root))
            if f.suffix.lower() in CLOUD_EXTS:
                self.shapes.append(_Shape(rel, points=self._cap(read_cloud(f).points)))
                continue
            try:
                obj = trimesh.load(f, force="mesh" if f.suffix.lower() != ".ply" else None, process=False)
            except Exception as exc:  # noqa: BLE001 - trimesh raises many types for bad files
                raise InputError(f"cannot read as a mesh ({type(exc).__name__}: {exc})", f) from None
            if isinstance(obj, trimesh.Trimesh) and len(obj.faces):
                self.shapes.append(_Shape(rel, mesh=obj))
            elif hasattr(obj, "vertices") and len(obj.vertices):
                self.shapes.append(_Shape(rel, points=self._cap(np.asarray(obj.vertices))))
            else:
                raise InputError("neither a mesh with faces nor a point cloud", f)
        self.kind = "folder"

    @staticmethod
    def _cap(points: np.ndarray, cap: int = 50_000) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) > cap:   # memory bound; draws take ~1k points anyway
            pts = pts[np.random.default_rng(0).choice(len(pts), cap, replace=False)]
        return pts

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One (points, 3) float32 cloud: a random shape, sampled, rotated, unit-sphere normalised."""
        from scipy.spatial.transform import Rotation

        from . import normalise

        shape = self.shapes[int(rng.integers(len(self.shapes)))]
        if shape.mesh is not None:
            import trimesh

            pts, _ = trimesh.sample.sample_surface(shape.mesh, self.points, seed=rng)
        else:
            replace = len(shape.points) < self.points
            pts = shape.points[rng.choice(len(shape.points), self.points, replace=replace)]
        pts = np.asarray(pts, dtype=np.float64)
        if self.rotate:
            pts = pts @ Rotation.random(random_state=rng).as_matrix().T
        return normalise(pts)[0].astype(np.float32)

    def batch(self, size: int, seed: int, step: int) -> np.ndarray:
        """The (size, points, 3) batch of ``step``; the same for the same (seed, step)."""
        rng = np.random.default_rng([int(seed), int(step)])
        return np.stack([self.draw(rng) for _ in range(size)])

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "shapes": len(self.shapes),
                "points": self.points, "rotate": self.rotate}


# --------------------------------------------------------------------------- schedule and loop
def learning_rate(step: int, total: int, peak: float, warmup: float, floor: float) -> float:
    """Linear warm-up over ``warmup * total`` steps, then cosine decay from ``peak`` to ``floor``."""
    n_warm = round(warmup * total)
    if step < n_warm:
        return peak * (step + 1) / n_warm
    t = (step - n_warm) / max(1, total - n_warm)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, t)))


def cosine_ramp(step: int, total: int, start: float, end: float) -> float:
    """``start`` -> ``end`` along half a cosine over ``total`` steps (Point-BERT's schedules)."""
    t = min(1.0, step / max(1, total - 1))
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * t))


@dataclasses.dataclass
class PhaseResult:
    name: str
    steps: int
    history: dict[str, list[float]]
    seconds: float
    resumed_from: int


StepFn = Callable[[Any, Any, int], tuple[Any, dict[str, float]]]


def _same_settings(saved: dict, now: dict) -> list[str]:
    return sorted(k for k in set(saved) | set(now) if k != "save_every" and saved.get(k) != now.get(k))


def train_phase(name: str, model, step_fn: StepFn, corpus: Corpus, cfg: PretrainConfig, steps: int,
                lr: float, out: Path, kind: str, resume: bool, device: str = "cpu",
                extra: dict | None = None) -> PhaseResult:
    """Run (or resume) one training phase; writes ``out/state_<name>.pt`` checkpoints.

    ``step_fn(model, xyz, step) -> (loss, metrics)`` computes the loss of one batch.
    """
    import torch

    from scan2ad.io import atomic_path

    from .checkpoints import FORMAT_PRETRAIN, FORMAT_VERSION

    state_path = out / f"state_{name}.pt"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    settings = {**config_to_dict(cfg), "phase_steps": steps, "phase_lr": lr}
    history: dict[str, list[float]] = {"step": [], "loss": [], "lr": []}
    start = 0
    if state_path.exists():
        if not resume:
            raise InputError("the output folder already holds a run; pass --resume to continue it "
                             "or choose another --out", state_path)
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state.get("format") != FORMAT_PRETRAIN or state.get("phase") != name:
            raise InputError(f"not a {name!r} pretraining state", state_path)
        if state["config"] != config_to_dict(model.cfg):
            raise InputError("--resume with another model configuration than the saved run", state_path)
        differ = _same_settings(state["train_config"], settings)
        if differ:
            raise InputError(f"--resume with other training settings ({', '.join(differ)}) than the saved run",
                             state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = {k: list(v) for k, v in state["history"].items()}
        start = int(state["step"])
        log.info("resuming %s at step %d of %d", name, start, steps)

    def save(step: int) -> None:
        payload = {"format": FORMAT_PRETRAIN, "format_version": FORMAT_VERSION, "kind": kind, "phase": name,
                   "config": config_to_dict(model.cfg), "train_config": settings, "step": step,
                   "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                   "optimizer": opt.state_dict(), "history": history, "extra": dict(extra or {})}
        with atomic_path(state_path) as tmp:
            torch.save(payload, tmp)

    t0 = time.perf_counter()
    model.to(device).train()
    for state_value in opt.state.values():      # resumed optimizer moments follow the model
        for k, v in state_value.items():
            if torch.is_tensor(v) and k != "step":
                state_value[k] = v.to(device)
    bar = progress(range(start, steps), desc=f"pretrain {kind} {name}", total=steps - start, unit="step")
    for step in bar:
        torch.manual_seed(int(cfg.seed) * 1_000_003 + step)
        xyz = torch.from_numpy(corpus.batch(cfg.batch, cfg.seed, step)).to(device)
        rate = learning_rate(step, steps, lr, cfg.warmup, cfg.min_lr)
        for group in opt.param_groups:
            group["lr"] = rate
        loss, metrics = step_fn(model, xyz, step)
        if not torch.isfinite(loss):
            raise InputError(f"{name}: loss became {loss.item()} at step {step}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        history["step"].append(step)
        history["loss"].append(float(loss.item()))
        history["lr"].append(rate)
        for k, v in metrics.items():
            history.setdefault(k, []).append(float(v))
        if (step + 1) % cfg.save_every == 0 or step + 1 == steps:
            save(step + 1)
    model.eval()
    return PhaseResult(name, steps, history, time.perf_counter() - t0, start)


# --------------------------------------------------------------------------- outputs
def write_history(out: Path, result: PhaseResult) -> tuple[Path, Path]:
    """``loss_<phase>.csv`` and ``loss_<phase>.png`` (raw loss and a 5 %-window running mean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scan2ad.io import atomic_open

    h = result.history
    keys = [k for k in h if k != "step"]
    csv = out / f"loss_{result.name}.csv"
    with atomic_open(csv) as fh:
        fh.write(",".join(["step"] + keys) + "\n")
        for i, s in enumerate(h["step"]):
            fh.write(",".join([str(int(s))] + [f"{h[k][i]:.6g}" for k in keys]) + "\n")
    png = out / f"loss_{result.name}.png"
    loss = np.asarray(h["loss"], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.plot(h["step"], loss, lw=0.6, alpha=0.45, label="loss")
    w = max(1, len(loss) // 20)
    if len(loss) >= w > 1:
        ax.plot(h["step"][w - 1:], np.convolve(loss, np.ones(w) / w, mode="valid"), lw=1.6,
                label=f"running mean ({w} steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if loss.size and loss.min() > 0:
        ax.set_yscale("log")
    ax.set_title(f"{result.name} pretraining loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return csv, save_figure(fig, png)


def final_loss(history: dict[str, list[float]], window: int = 20) -> float:
    """Mean loss over the last ``window`` steps (single steps are noisy)."""
    tail = history["loss"][-window:]
    return float(np.mean(tail)) if tail else float("nan")


# --------------------------------------------------------------------------- the two models
def pretrain_point_mae(data: str | Path | Corpus, out: str | Path, model_cfg=None, cfg: PretrainConfig | None = None,
                       resume: bool = False, device: str = "cpu") -> dict:
    """Point-MAE masked-autoencoder pretraining; writes ``point_mae.pt`` (the whole model in the
    ``scan2ad-backbone`` format, which :func:`load_encoder` reads), ``state_mae.pt``, loss CSV/PNG
    and ``pretrain.json``. Returns the summary written to ``pretrain.json``."""
    from .point_mae import PointMAE, PointMAEConfig

    cfg = cfg or PretrainConfig()
    model_cfg = model_cfg or PointMAEConfig()
    out = _prepare(out, device)
    corpus = data if isinstance(data, Corpus) else Corpus(data, cfg.points, cfg.rotate, cfg.part_variants)
    _check_sizes(model_cfg, cfg)
    import torch

    torch.manual_seed(cfg.seed)
    model = PointMAE(model_cfg)

    def step_fn(m, xyz, step):
        return m(xyz).loss, {}

    result = train_phase("mae", model, step_fn, corpus, cfg, cfg.steps, cfg.lr, out, "point-mae", resume, device)
    return _finish(out, "point-mae", model.cpu(), [result], corpus, cfg, "point_mae.pt")


def pretrain_point_bert(data: str | Path | Corpus, out: str | Path, model_cfg=None, cfg: PretrainConfig | None = None,
                        resume: bool = False, device: str = "cpu") -> dict:
    """Point-BERT pretraining: the dVAE tokenizer (phase ``dvae``), then masked point modelling
    (phase ``mpm``) on its frozen token ids; writes ``point_bert.pt`` (transformer + dVAE),
    states, loss CSV/PNG per phase and ``pretrain.json``."""
    import torch

    from .point_bert import PointBERT, PointBERTConfig

    cfg = cfg or PretrainConfig()
    model_cfg = model_cfg or PointBERTConfig()
    out = _prepare(out, device)
    corpus = data if isinstance(data, Corpus) else Corpus(data, cfg.points, cfg.rotate, cfg.part_variants)
    _check_sizes(model_cfg, cfg)
    torch.manual_seed(cfg.seed)
    model = PointBERT(model_cfg)
    dvae_steps = cfg.dvae_steps or cfg.steps

    def dvae_step(m, xyz, step):
        tau = cosine_ramp(step, dvae_steps, cfg.tau_start, cfg.tau_end)
        kl_w = cosine_ramp(step, dvae_steps, 0.0, cfg.kl_weight)
        out_ = m(xyz, temperature=tau)
        return out_.recon + kl_w * out_.kl, {"recon": out_.recon.item(), "kl": out_.kl.item(), "tau": tau}

    def mpm_step(m, xyz, step):
        r = m(xyz)
        return r.loss, {"accuracy": r.accuracy}

    r1 = train_phase("dvae", model.dvae, dvae_step, corpus, cfg, dvae_steps, cfg.lr, out, "point-bert",
                     resume, device)
    model.dvae.requires_grad_(False)
    r2 = train_phase("mpm", model, mpm_step, corpus, cfg, cfg.steps, cfg.lr, out, "point-bert",
                     resume, device)
    return _finish(out, "point-bert", model.cpu(), [r1, r2], corpus, cfg, "point_bert.pt")


def pretrain_pointnet2(data: str | Path | Corpus, out: str | Path, model_cfg=None,
                       cfg: PretrainConfig | None = None, resume: bool = False, device: str = "cpu") -> dict:
    """GMANet's expert PointNet++ regressing multi-scale local descriptors
    (:mod:`scan2ad.detectors.methods.gmanet.pretraining`); writes ``pointnet2.pt`` (encoder, head
    and target standardisation, ``scan2ad-backbone`` format, kind ``pointnet2``, which
    :func:`load_encoder` reads), ``state_descriptors.pt``, loss CSV/PNG and ``pretrain.json``. The target standardisation comes from a fixed calibration batch
    (seed ``seed + 1_000_000``, 4 x ``batch`` clouds), so the run stays deterministic."""
    import torch

    from scan2ad.detectors.methods.gmanet.pretraining import PointNet2Config, PointNet2Pretrainer

    cfg = cfg or PretrainConfig()
    model_cfg = model_cfg or PointNet2Config()
    out = _prepare(out, device)
    corpus = data if isinstance(data, Corpus) else Corpus(data, cfg.points, cfg.rotate, cfg.part_variants)
    if max(model_cfg.descriptor_k) > cfg.points:
        raise InputError(f"{cfg.points} points per cloud cannot make {max(model_cfg.descriptor_k)}-point "
                         "neighbourhoods; raise --points")
    torch.manual_seed(cfg.seed)
    model = PointNet2Pretrainer(model_cfg)
    model.calibrate(corpus.batch(4 * cfg.batch, cfg.seed + 1_000_000, 0))

    def step_fn(m, xyz, step):
        return m(xyz), {}

    result = train_phase("descriptors", model, step_fn, corpus, cfg, cfg.steps, cfg.lr, out, "pointnet2",
                         resume, device)
    return _finish(out, "pointnet2", model.cpu(), [result], corpus, cfg, "pointnet2.pt")


def _prepare(out: str | Path, device: str) -> Path:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA device")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("--out must be a folder", out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _check_sizes(model_cfg, cfg: PretrainConfig) -> None:
    if model_cfg.num_group > cfg.points or model_cfg.group_size > cfg.points:
        raise InputError(f"{cfg.points} points per cloud cannot make {model_cfg.num_group} groups of "
                         f"{model_cfg.group_size}; raise --points")


def _finish(out: Path, kind: str, model, results: list[PhaseResult], corpus: Corpus, cfg: PretrainConfig,
            filename: str) -> dict:
    from scan2ad.io import write_json

    from .checkpoints import save_backbone

    phases = {}
    for r in results:
        csv, png = write_history(out, r)
        phases[r.name] = {"steps": r.steps, "resumed_from": r.resumed_from, "seconds": round(r.seconds, 2),
                          "first_loss": r.history["loss"][0] if r.history["loss"] else None,
                          "final_loss": final_loss(r.history), "csv": csv.name, "png": png.name}
    summary = {"kind": kind, "model": config_to_dict(model.cfg), "train": config_to_dict(cfg),
               "data": corpus.describe(), "phases": phases,
               "parameters": int(sum(p.numel() for p in model.parameters())), "weights": filename}
    save_backbone(out / filename, model, kind, part="model", meta={"data": corpus.describe(), "phases": phases})
    write_json(out / "pretrain.json", summary)
    return summary
