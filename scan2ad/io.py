"""Atomic writes, versioned JSON and hashing: every file scan2ad writes goes through here.

A write lands at ``<dir>/.<name>.<random>.tmp`` first and is renamed over the target only when
complete, so a crash or a kill never leaves a half-written output (``os.replace`` is atomic on
POSIX within one filesystem).

Fault injection (tests only): when the environment variable ``SCAN2AD_FAULT`` is
``enospc:<pattern>[:<n>]``, the ``n``-th (default first) and every later atomic write in this
process whose target file name matches the shell pattern fails with ``OSError(ENOSPC)`` just
before its rename, as a full disk would; ``eacces:`` and ``eio:`` give those errors instead.
``tests/robustness`` uses it to check that a failed write leaves prior output intact.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scan2ad import __version__
from scan2ad.errors import FormatError, SchemaVersionError

PathLike = str | os.PathLike


def _umask() -> int:
    """The process umask (read by setting it and putting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FAULT_COUNT: dict[str, int] = {}
_FAULT_ERRNO = {"enospc": errno.ENOSPC, "eacces": errno.EACCES, "eio": errno.EIO}


def _inject_fault(path: Path) -> None:
    """The ``SCAN2AD_FAULT`` hook (module docstring); does nothing when the variable is unset."""
    spec = os.environ.get("SCAN2AD_FAULT")
    if not spec:
        return
    kind, _, rest = spec.partition(":")
    pattern, _, nth = rest.partition(":")
    if kind not in _FAULT_ERRNO or not fnmatch.fnmatch(path.name, pattern or "*"):
        return
    _FAULT_COUNT[spec] = _FAULT_COUNT.get(spec, 0) + 1
    if _FAULT_COUNT[spec] >= int(nth or 1):
        code = _FAULT_ERRNO[kind]
        raise OSError(code, os.strerror(code), str(path))


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Use for writers that want a filename (cv2.imwrite, open3d, torch.save). ``suffix`` keeps the
    extension such libraries look at (default: the target's own suffix). On an exception the
    temporary file is removed and the target is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would have
        os.chmod(tmp_path, 0o666 & ~_umask())
        _inject_fault(path)
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if exc.filename is None and exc.errno is not None:  # a failed write names no file: name it
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Open a temporary file beside ``path`` for writing; rename onto ``path`` when closed cleanly."""
    if not any(m in mode for m in "wax"):
        raise ValueError(f"atomic_open is for writing, got mode {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("a", "w").replace("x", "w"), **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(path: PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths appear in every report; convert them without importing numpy
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: PathLike, payload: dict, schema_version: int = 1) -> Path:
    """Write ``payload`` as JSON with ``schema_version`` and ``scan2ad_version`` keys, atomically."""
    doc = {"schema_version": schema_version, "scan2ad_version": __version__}
    doc.update({k: v for k, v in payload.items() if k not in doc})
    text = json.dumps(doc, indent=2, default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def read_json(path: PathLike, supported: tuple[int, ...] | None = (1,)) -> dict:
    """Read a scan2ad JSON file, rejecting unknown ``schema_version`` values with a clear message.

    ``supported=None`` reads any JSON object (for files not written by scan2ad).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError("file not found", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"not valid JSON ({exc})", path) from None
    if not isinstance(doc, dict):
        raise FormatError("expected a JSON object at the top level", path)
    if supported is not None:
        version = doc.get("schema_version")
        if version not in supported:
            raise SchemaVersionError(
                f"schema_version {version!r} is not one this scan2ad {__version__} reads "
                f"(supported: {', '.join(map(str, supported))})",
                path,
            )
    return doc


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any) -> str:
    """sha256 of a canonical JSON encoding: the content key of executor units and caches."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
