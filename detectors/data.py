"""What a detector run trains and tests on, per class, under the two protocols.

One-class: train on the class's normal references, test on all of its test samples.

Open-set (Open3D-AD §III-C, DESIGN §5): some defect types are *known*; k labelled samples of each
known type (chosen with the seed) join the training set as seen anomalies; the remaining samples
of the known types are the *seen* test anomalies and every other type is *unseen*. Results are
reported Overall (every test sample), Seen (normal + seen types) and Unseen (normal + unseen).

When the dataset ships the authors' split file ``splits/<class>/known-<types>_k<k>_seed<s>.json``
({seed, k, known_defects, selected_relpaths}) for the known types asked for (none asked for: the
default, the first half of the class's sorted types) it is used verbatim; otherwise the
partition is derived here the same way (never another known set's file: a dataset with
single-type split files and no ``--known`` gets the first half of its types, as the help says): for each known type in sorted order, ``k`` of its test samples in name
order are drawn without replacement by ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.errors import InputError
from scan2ad.io import read_json


@dataclasses.dataclass
class Partition:
    cls: str
    train_normal: list[Sample]
    train_anomalies: list[Sample]
    test: list[Sample]
    known: tuple[str, ...] = ()
    unseen: tuple[str, ...] = ()
    source: str = "one-class"

    def subsets(self) -> dict[str, list[Sample]]:
        """Overall / Seen / Unseen test samples (only Overall in the one-class protocol)."""
        out = {"overall": self.test}
        if self.known:
            out["seen"] = [s for s in self.test if s.defect_type in (NORMAL, *self.known)]
            out["unseen"] = [s for s in self.test if s.defect_type == NORMAL or s.defect_type in self.unseen]
        return out


def load_dataset(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    """The sample table of an Open-Industry-layout dataset folder."""
    from scan2ad.datasets.formats.open_industry import read_open_industry

    return read_open_industry(root, classes)


def class_names(samples: list[Sample]) -> list[str]:
    return sorted({s.cls for s in samples})


def defect_types(samples: list[Sample], cls: str) -> list[str]:
    return sorted({s.defect_type for s in samples if s.cls == cls and s.defect_type != NORMAL})


def default_known(types: list[str]) -> tuple[str, ...]:
    """The first half (at least one) of the sorted types when no known types are given."""
    types = sorted(types)
    return tuple(types[:max(1, len(types) // 2)])


def one_class_partition(samples: list[Sample], cls: str) -> Partition:
    train = [s for s in samples if s.cls == cls and s.split == "train"]
    test = [s for s in samples if s.cls == cls and s.split == "test"]
    if not train or not test:
        raise InputError(f"class {cls!r} needs train and test samples (has {len(train)} and {len(test)})")
    return Partition(cls, train, [], test)


def _split_file(root: Path | None, cls: str, known: tuple[str, ...] | None, k: int, seed: int,
                types: list[str]):
    """The dataset's split file for (known, k, seed); no known types asked for means
    :func:`default_known`. None when the dataset has no file for exactly those types."""
    if root is None or not (root / "splits" / cls).is_dir():
        return None
    found = []
    for f in sorted((root / "splits" / cls).glob(f"known-*_k{k}_seed{seed}.json")):
        meta = read_json(f)
        for key in ("known_defects", "selected_relpaths"):
            if key not in meta:
                raise InputError(f"split file has no {key!r}", f)
        found.append((f, meta))
    want = sorted(known) if known is not None else list(default_known(types))
    for f, meta in found:
        if sorted(meta["known_defects"]) == want:
            return f, meta
    return None


def open_set_partition(samples: list[Sample], cls: str, known: tuple[str, ...] | None, k: int,
                       seed: int, root: str | Path | None = None) -> Partition:
    """The open-set partition of ``cls`` (the split file when there is one, else derived)."""
    base = one_class_partition(samples, cls)
    types = defect_types(samples, cls)
    found = _split_file(Path(root) if root is not None else None, cls, known, k, seed, types)
    if found is not None:
        path, meta = found
        known_t = tuple(sorted(meta["known_defects"]))
        chosen = set(meta["selected_relpaths"])
        by_rel = {s.relpath: s for s in base.test}
        missing = sorted(chosen - set(by_rel))
        if missing:
            raise InputError(f"split file names samples that are not in the dataset: {missing[:3]}", path)
        picked = [by_rel[r] for r in sorted(chosen)]
        source = f"split file {path.name}"
    else:
        known_t = tuple(sorted(known)) if known else default_known(types)
        bad = sorted(set(known_t) - set(types))
        if bad:
            raise InputError(f"known defect type(s) {bad} do not occur in class {cls!r} (types: {types})")
        rng = np.random.default_rng(seed)
        picked = []
        for t in known_t:
            pool = sorted((s for s in base.test if s.defect_type == t), key=lambda s: s.relpath)
            if len(pool) <= k:
                raise InputError(f"class {cls!r}: type {t} has {len(pool)} test samples; k = {k} seen "
                                 f"samples would leave none to test on")
            picked += [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]
        source = f"derived (seed {seed})"
    chosen_paths = {s.path for s in picked}
    test = [s for s in base.test if s.path not in chosen_paths]
    unseen = tuple(t for t in types if t not in known_t)
    return Partition(cls, base.train_normal, picked, test, known_t, unseen, source)
