"""The Detector API every method implements (DESIGN §6), kept deliberately small.

    det = create("open3d-ad")            # from the registry, with the paper's defaults
    det.fit(TrainSet(normal=[...], anomalies=[...], anomaly_types=[...]))
    s = det.score(points)                # Scores(points=(N,), object=float)
    det.save(run_dir); det2 = Detector.load(run_dir)

A method subclasses :class:`Detector`, declares its settings as a frozen dataclass ``Config``
(documented fields, defaults = the paper's), and implements ``fit``, ``score``,
``state_dict`` and ``load_state_dict``. ``save`` writes ``config.json`` and ``model.pt``
(``torch.save`` of the state dict: tensors, numbers, strings, lists, dicts only) so that
``torch.load(weights_only=True)`` reads it back.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from scan2ad.config import check_ranges, config_to_dict, doc, load_config
from scan2ad.errors import FormatError, InputError
from scan2ad.io import atomic_path, read_json, write_json
from scan2ad.pointcloud import PointCloud

Aggregation = Literal["max", "mean", "topk_mean"]


@dataclasses.dataclass
class TrainSet:
    """What a detector trains on: normal clouds, and optionally labelled seen anomalies."""

    normal: list[PointCloud]
    anomalies: list[PointCloud] = dataclasses.field(default_factory=list)  # per-point labels set
    anomaly_types: list[str] = dataclasses.field(default_factory=list)
    cls: str = ""

    def __post_init__(self):
        if not self.normal:
            raise InputError("a training set needs at least one normal sample")
        if len(self.anomaly_types) not in (0, len(self.anomalies)):
            raise InputError("anomaly_types must name the type of every seen anomaly")
        for i, a in enumerate(self.anomalies):
            if a.labels is None:
                raise InputError(f"seen anomaly {i} has no per-point labels")


@dataclasses.dataclass
class Scores:
    points: np.ndarray  # (N,) float, higher = more anomalous, same order as the input points
    object: float


def aggregate(point_scores: np.ndarray, how: Aggregation = "max", topk: int = 10) -> float:
    """Object score from point scores: ``max``, ``mean`` or the mean of the ``topk`` largest."""
    s = np.asarray(point_scores, dtype=np.float64)
    if how == "max":
        return float(s.max())
    if how == "mean":
        return float(s.mean())
    if how == "topk_mean":
        k = max(1, min(topk, s.size))
        return float(np.partition(s, s.size - k)[s.size - k:].mean())
    raise InputError(f"unknown aggregation {how!r} (max, mean, topk_mean)")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    aggregation: Aggregation = doc("object score from point scores: max | mean | topk_mean", "max")
    topk: int = doc("k of topk_mean", 10, ge=1)
    seed: int = doc("random seed of everything the method samples", 0, ge=0)


class Detector(abc.ABC):
    name: ClassVar[str] = ""
    Config: ClassVar[type] = BaseConfig

    def __init__(self, config: Any = None, **overrides):
        if config is None or isinstance(config, dict):
            config = load_config(self.Config, config or {}, **overrides)
        elif overrides:
            config = check_ranges(dataclasses.replace(config, **overrides))
        self.config = config

    # -- what a method implements
    @abc.abstractmethod
    def fit(self, train: TrainSet) -> None: ...

    @abc.abstractmethod
    def score(self, points: np.ndarray) -> Scores: ...

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    # -- shared
    def score_batch(self, clouds: list[np.ndarray]) -> list[Scores]:
        """Scores of several clouds; a method whose decision depends on the batch (HQC) overrides it."""
        return [self.score(c) for c in clouds]

    def object_score(self, point_scores: np.ndarray) -> float:
        return aggregate(point_scores, self.config.aggregation, self.config.topk)

    def parameter_count(self) -> int:
        """Learned/stored numbers (network weights and memory banks)."""
        total = 0
        for v in _flatten(self.state_dict()):
            if hasattr(v, "numel"):
                total += int(v.numel())
            elif isinstance(v, np.ndarray):
                total += int(v.size)
        return total

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """``config.json`` (the detector, its config and ``meta``: e.g. the class and seed it was
        trained on, checked by ``evaluate --models``) and ``model.pt``."""
        import torch

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "config.json", {"detector": self.name, "config": config_to_dict(self.config),
                                          **(meta or {})})
        state = _to_torch(self.state_dict())
        with atomic_path(path / "model.pt") as tmp:
            torch.save(state, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        """Load any saved detector (``Detector.load``) or a specific class's."""
        import torch

        from scan2ad.detectors.registry import detector_class

        path = Path(path)
        meta = read_json(path / "config.json")
        if "detector" not in meta or "config" not in meta:
            raise InputError("not a saved detector's config.json (needs 'detector' and 'config')",
                             path / "config.json")
        klass = detector_class(meta["detector"]) if cls is Detector else cls
        det = klass(meta["config"])
        det.name = meta["detector"]
        model = path / "model.pt"
        try:
            state = torch.load(model, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError("no model.pt in the run folder", path) from None
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
            # torch's own text suggests weights_only=False, which would run code from the
            # file: never pass that on; say what is wrong with the file instead
            raise FormatError(f"not a readable model file: truncated or corrupt ({type(exc).__name__}); "
                              f"retrain it or restore it", model) from None
        try:
            det.load_state_dict(_from_torch(state))
        except (KeyError, IndexError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
            raise FormatError(f"does not hold the state of a {meta['detector']} model "
                              f"({type(exc).__name__}: {str(exc)[:120]})", model) from None
        return det


def _flatten(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _flatten(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _flatten(v)
    else:
        yield obj


def _to_torch(obj):
    """numpy arrays become tensors so ``weights_only=True`` can read the file."""
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_torch(v) for v in obj]
    return obj


def _from_torch(obj):
    return obj  # methods convert what they need (tensor.numpy()) in load_state_dict
