"""A feature cache on disk, shared by every run that reads the same clouds (issue 21).

Per-cloud features that do not depend on training (Open3D-AD's and M1-M9's multi-FPFH patches,
PatchCore's and BTF's FPFH / raw patches, frozen Point-MAE / Point-BERT tokens) are computed
once per cloud and settings and reused by every (method variant, k, seed) that asks again:

    with disk_cache("RUNDIR/feature-cache", max_gb=20) as cache:
        evaluate(...)                 # extract() and cloud_tokens() look here first
    print(cache.summary())

An entry is keyed by a SHA-256 of the cloud's bytes (dtype, shape, values), the producer's
name and every setting that decides its output (a setting that cannot change the result, such
as the seed of a random subset that keeps every point, is left out so that the entry is shared),
plus a fingerprint of the network weights for the token encoders, plus a fingerprint of the
feature code itself (every ``.py`` of :mod:`scan2ad.detectors.features`) and of the versions of
the libraries that compute the features (numpy, scipy, open3d, torch): a cache kept in a
benchmark's RUNDIR across sessions must not serve features that a later fix of that code, or
another Open3D, would compute differently. Entries are ``.npz`` files of
plain arrays (read with ``allow_pickle=False``) under ``<dir>/<2 hex>/<key>.npz``.

* Writes are atomic (a private temporary file renamed onto the entry), so two workers sharing
  the folder never read half an entry; if both compute the same entry, the later rename wins
  and both are the same bytes.
* A corrupt or truncated entry (or one whose arrays do not fit the cloud) is reported by name
  in a warning and recomputed over.
* The size is visible (:meth:`DiskFeatureCache.usage`, :meth:`summary`) and bounded when
  ``max_gb`` > 0: past the bound the least recently used entries (by modification time, which a
  hit refreshes) are removed down to 90 % of it.
* The features are bit-for-bit those computed without the cache: an entry stores the arrays
  as they were returned, in their dtypes, except that an int64 index array whose values fit
  is stored as int32 and read back as int64 (the same values; half the bytes of the
  point -> patch maps and token groups).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from scan2ad.errors import InputError
from scan2ad.log import get_logger

log = get_logger(__name__)
FORMAT = 1   # part of every key: a change of the stored layout makes new entries


@functools.lru_cache(maxsize=1)
def code_fingerprint(root: Path | None = None) -> str:
    """16 hex digits of a SHA-256 over the code under ``root`` (every ``.py``, by relative path;
    default: this feature package) and the installed versions of numpy, scipy, open3d and torch:
    part of every key, so entries written by other code are never read back (they age out under
    the bound). ``benchmarks/fidelity.py`` keys its runs of ours on the whole detectors package."""
    root = Path(__file__).resolve().parent if root is None else Path(root)
    h = hashlib.sha256()
    for src in sorted(root.rglob("*.py")):
        h.update(src.relative_to(root).as_posix().encode())
        h.update(src.read_bytes())
    for dist in ("numpy", "scipy", "open3d", "torch"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{dist}={version};".encode())
    return h.hexdigest()[:16]


class DiskFeatureCache:
    """Feature arrays on disk, keyed by cloud bytes + settings (see the module docstring)."""

    def __init__(self, folder: str | Path, max_gb: float = 0.0):
        if not np.isfinite(max_gb) or max_gb < 0:
            raise InputError(f"feature cache size bound must be a finite number of GB >= 0, got {max_gb}")
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError("the feature cache must be a folder", self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the feature cache folder ({exc.strerror})", self.folder) from None
        self.max_bytes = int(max_gb * 1e9)
        self.hits = self.misses = self.corrupt = self.evicted = 0
        self.written_bytes = 0
        self._size: int | None = None   # bytes on disk, counted when the bound first needs it

    # -- keys and paths
    @staticmethod
    def key(kind: str, identity: dict, points: np.ndarray) -> str:
        pts = np.ascontiguousarray(points)
        h = hashlib.sha256()
        h.update(json.dumps({"format": FORMAT, "code": code_fingerprint(), "kind": kind, **identity},
                            sort_keys=True, default=str).encode())
        h.update(f"{pts.dtype.str}{pts.shape}".encode())
        h.update(memoryview(pts).cast("B"))
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    # -- the one call producers make
    def get(self, kind: str, identity: dict, points: np.ndarray,
            compute: Callable[[], dict[str, np.ndarray]],
            check: Callable[[dict[str, np.ndarray]], bool] | None = None) -> dict[str, np.ndarray]:
        """The arrays of this (kind, identity, cloud): from disk, or ``compute()`` and stored.
        ``check`` says whether arrays read back fit the cloud (e.g. one owner per point)."""
        key = self.key(kind, identity, points)
        got = self._read(key, check)
        if got is not None:
            self.hits += 1
            return got
        self.misses += 1
        arrays = {k: np.asarray(v) for k, v in compute().items()}
        self._write(key, dict(_narrow(k, v) for k, v in arrays.items()))
        return arrays

    def _read(self, key: str, check) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = dict(_widen(name, z[name]) for name in z.files)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            self.corrupt += 1
            log.warning("feature cache entry %s is unreadable (%s: %s); recomputing it", p,
                        type(exc).__name__, str(exc)[:120])
            return None
        if not arrays or (check is not None and not check(arrays)):
            self.corrupt += 1
            log.warning("feature cache entry %s does not fit its cloud (arrays %s); recomputing it", p,
                        {k: v.shape for k, v in arrays.items()})
            return None
        with contextlib.suppress(OSError):
            os.utime(p)   # recently used: evicted last
        return arrays

    def _write(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        from scan2ad.io import atomic_path

        p = self.path(key)
        try:
            with atomic_path(p) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError as exc:   # a full disk must not stop the run: the features are in hand
            log.warning("feature cache: could not write %s (%s); continuing without storing it", p, exc)
            return
        n = p.stat().st_size
        self.written_bytes += n
        if self.max_bytes:
            if self._size is None:
                self._size = self.usage()[1]
            else:
                self._size += n
            if self._size > self.max_bytes:
                self._evict()

    # -- size
    def _entries(self) -> Iterator[os.DirEntry]:
        for sub in os.scandir(self.folder):
            if sub.is_dir() and len(sub.name) == 2:
                for e in os.scandir(sub.path):
                    if e.name.endswith(".npz") and not e.name.startswith("."):
                        yield e

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) on disk now (every worker's)."""
        n = size = 0
        for e in self._entries():
            with contextlib.suppress(FileNotFoundError):
                size += e.stat().st_size
                n += 1
        return n, size

    def _evict(self) -> None:
        stats = []
        for e in self._entries():
            with contextlib.suppress(FileNotFoundError):
                st = e.stat()
                stats.append((st.st_mtime, st.st_size, e.path))
        stats.sort()
        total, target = sum(s for _, s, _ in stats), int(0.9 * self.max_bytes)
        for _, size, path in stats:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                self.evicted += 1
            total -= size
        self._size = total
        log.info("feature cache %s: evicted down to %.2f GB (bound %.2f GB)", self.folder, total / 1e9,
                 self.max_bytes / 1e9)

    def counters(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "corrupt": self.corrupt, "evicted": self.evicted,
                "written_bytes": self.written_bytes}

    def summary(self) -> str:
        n, size = self.usage()
        bound = f" of {self.max_bytes / 1e9:.1f} GB" if self.max_bytes else ""
        return (f"feature cache {self.folder}: {self.hits} hits, {self.misses} misses"
                + (f", {self.corrupt} unreadable recomputed" if self.corrupt else "")
                + (f", {self.evicted} evicted" if self.evicted else "")
                + f"; {n} entries, {size / 1e9:.2f} GB{bound} on disk")


_NARROWED = "__int32__"   # suffix of an int64 array stored as int32


def _narrow(name: str, a: np.ndarray) -> tuple[str, np.ndarray]:
    """An int64 array whose values fit int32 is stored as int32 under ``name + _NARROWED``."""
    if a.dtype == np.int64 and (a.size == 0 or (a.min() >= np.iinfo(np.int32).min
                                                and a.max() <= np.iinfo(np.int32).max)):
        return name + _NARROWED, a.astype(np.int32)
    return name, a


def _widen(name: str, a: np.ndarray) -> tuple[str, np.ndarray]:
    if name.endswith(_NARROWED):
        return name.removesuffix(_NARROWED), a.astype(np.int64)
    return name, a


_active: DiskFeatureCache | None = None


def active() -> DiskFeatureCache | None:
    """The cache of the innermost :func:`disk_cache` block, or None."""
    return _active


@contextlib.contextmanager
def disk_cache(folder: str | Path | DiskFeatureCache | None, max_gb: float = 0.0) -> Iterator[DiskFeatureCache | None]:
    """Within the block, :func:`scan2ad.detectors.features.extract` and
    :func:`~scan2ad.detectors.features.pointmae_extractor.cloud_tokens` read and write ``folder``
    (None: no cache; the block then changes nothing)."""
    global _active
    cache = folder if isinstance(folder, DiskFeatureCache) or folder is None else DiskFeatureCache(folder, max_gb)
    previous, _active = _active, cache
    try:
        yield cache
    finally:
        _active = previous


def subset_seed(seed: int, feature_points: int, n_points: int) -> int | None:
    """The seed of a random subset as it matters: None when the subset keeps every point (then
    :func:`~scan2ad.detectors.features.geometry.random_subsample` draws nothing), so runs of
    different seeds share the entry."""
    return int(seed) if 0 < feature_points < n_points else None
