"""Open-set splits as the Open-Industry authors encode them (000, §III and §V-A).

A split file ``splits/<class>/known-<types>_k<k>_seed<s>.json`` holds ``{seed, k, known_defects,
selected_relpaths}``: for every known defect type, ``k`` anomalous test samples are drawn (seeded)
and moved to training; the remaining samples of the known types are the "seen" test anomalies,
every other type is "unseen". Results are mean ± std over seeds 1–5 and k ∈ {5, 10} (000 Tables
II–III, "five/ten samples per class").

Where the paper is silent: which types are known. By default every single defect type is in turn
the known one (the "general setting" of DRA, whose protocol 000 adopts for DevNet/DRA baselines);
a spec may list other combinations. Types in a file name are joined with ``+`` in sorted order.
The draw is ``numpy.random.default_rng([seed, crc32(class), crc32(type)])`` over the type's
samples sorted by relpath, so it depends on nothing but the seed, the class and the type.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.errors import InputError
from scan2ad.io import read_json, write_json

SPLIT_KS = (5, 10)
SPLIT_SEEDS = (1, 2, 3, 4, 5)
_NAME = re.compile(r"^known-(?P<types>.+)_k(?P<k>\d+)_seed(?P<seed>\d+)$")


def split_name(known: tuple[str, ...] | list[str] | str, k: int, seed: int) -> str:
    """``known-<types>_k<k>_seed<s>.json`` (types sorted, joined with ``+``)."""
    known = (known,) if isinstance(known, str) else tuple(known)
    return f"known-{'+'.join(sorted(known))}_k{k}_seed{seed}.json"


def parse_split_name(name: str) -> tuple[tuple[str, ...], int, int] | None:
    """(known types, k, seed) of a split file name, or None when it is not one."""
    m = _NAME.match(Path(name).stem)
    if m is None:
        return None
    return tuple(m.group("types").split("+")), int(m.group("k")), int(m.group("seed"))


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def select_known(samples: list[Sample], cls: str, known: tuple[str, ...], k: int,
                 seed: int) -> list[str]:
    """The relpaths of the ``k`` training anomalies per known type (sorted by type, then draw)."""
    chosen: list[str] = []
    for dtype in sorted(known):
        pool = sorted(s.relpath for s in samples
                      if s.cls == cls and s.split == "test" and s.defect_type == dtype)
        if len(pool) <= k:
            raise InputError(f"class {cls}: {len(pool)} sample(s) of type {dtype}, a k={k} split "
                             "needs more than k (the rest are the seen test anomalies)")
        rng = np.random.default_rng([seed, _crc(cls), _crc(dtype)])
        pick = sorted(rng.choice(len(pool), size=k, replace=False).tolist())
        chosen += [pool[i] for i in pick]
    return chosen


def default_known_sets(types: list[str]) -> list[tuple[str, ...]]:
    """Every single type in turn (DRA's general setting)."""
    return [(t,) for t in sorted(types)]


def write_class_splits(root: str | Path, samples: list[Sample], cls: str,
                       ks: tuple[int, ...] = SPLIT_KS, seeds: tuple[int, ...] = SPLIT_SEEDS,
                       known_sets: list[tuple[str, ...]] | None = None) -> list[Path]:
    """Write every split file of ``cls``; return their paths (sorted)."""
    root = Path(root)
    types = sorted({s.defect_type for s in samples if s.cls == cls and s.defect_type != NORMAL})
    sets = default_known_sets(types) if known_sets is None else [tuple(sorted(ks_)) for ks_ in known_sets]
    unknown = sorted({t for ks_ in sets for t in ks_} - set(types))
    if unknown:
        raise InputError(f"class {cls}: known defect type(s) {unknown} not in the class ({types})")
    written = []
    for known in sets:
        for k in ks:
            for seed in seeds:
                rel = select_known(samples, cls, known, k, seed)
                path = root / "splits" / cls / split_name(known, k, seed)
                write_json(path, {"seed": seed, "k": k, "known_defects": list(known),
                                  "selected_relpaths": rel})
                written.append(path)
    return sorted(written)


@dataclasses.dataclass(frozen=True)
class OpenSetSplit:
    """One open-set split of one class, as the detectors consume it."""

    cls: str
    known: tuple[str, ...]
    k: int
    seed: int
    train_normal: list[Sample]      # the normal references (train/)
    train_anomalies: list[Sample]   # k per known type, with labels
    test_normal: list[Sample]
    test_seen: list[Sample]         # the known types' remaining anomalies
    test_unseen: list[Sample]       # every other type

    @property
    def test(self) -> list[Sample]:
        return self.test_normal + self.test_seen + self.test_unseen


def list_splits(root: str | Path, cls: str) -> list[tuple[tuple[str, ...], int, int]]:
    """(known, k, seed) of every split file of ``cls``."""
    d = Path(root) / "splits" / cls
    found = [parse_split_name(p.name) for p in sorted(d.glob("*.json"))] if d.is_dir() else []
    return [f for f in found if f is not None]


def load_split(root: str | Path, cls: str, known: str | tuple[str, ...] | list[str], k: int,
               seed: int, samples: list[Sample] | None = None) -> OpenSetSplit:
    """Read ``splits/<cls>/known-<types>_k<k>_seed<s>.json`` and partition the class's samples."""
    from scan2ad.datasets.formats.open_industry import read_open_industry

    root = Path(root)
    known_t = (known,) if isinstance(known, str) else tuple(sorted(known))
    path = root / "splits" / cls / split_name(known_t, k, seed)
    if not path.is_file():
        have = list_splits(root, cls)
        raise InputError(f"no split file {path.name} for class {cls} (the dataset has "
                         f"{len(have)} split file(s) for it)", path)
    doc = read_json(path)
    for key in ("seed", "k", "known_defects", "selected_relpaths"):
        if key not in doc:
            raise InputError(f"split file has no {key!r}", path)
    if (doc["seed"], doc["k"], tuple(sorted(doc["known_defects"]))) != (seed, k, known_t):
        raise InputError(f"split file content (seed {doc['seed']}, k {doc['k']}, known "
                         f"{doc['known_defects']}) disagrees with its name", path)
    if samples is None:
        samples = read_open_industry(root, classes=[cls])
    mine = [s for s in samples if s.cls == cls]
    by_rel = {s.relpath: s for s in mine}
    missing = [r for r in doc["selected_relpaths"] if r not in by_rel]
    if missing:
        raise InputError(f"split names {len(missing)} sample(s) not in the dataset: {missing[:5]}", path)
    selected = set(doc["selected_relpaths"])
    train_anom = [by_rel[r] for r in doc["selected_relpaths"]]
    test = [s for s in mine if s.split == "test" and s.relpath not in selected]
    return OpenSetSplit(
        cls=cls, known=known_t, k=k, seed=seed,
        train_normal=[s for s in mine if s.split == "train"],
        train_anomalies=train_anom,
        test_normal=[s for s in test if s.defect_type == NORMAL],
        test_seen=[s for s in test if s.defect_type in known_t],
        test_unseen=[s for s in test if s.defect_type != NORMAL and s.defect_type not in known_t],
    )
