"""Settings checked where they enter: click parameter types with ranges, output files, big jobs.

Every numeric option of a stage command names its allowed range in ``--help`` and in the
error, and rejects NaN and infinities (``click.FloatRange`` lets NaN through: every comparison
with NaN is false)::

    @click.option("--noise-sigma", type=Float(min=0.0), ...)
    @click.option("--points", type=Int(min=100, max=10_000_000), ...)

:func:`check_output_file` is the single-file counterpart of :mod:`scan2ad.outputs` (which claims
output *folders*): a file output may not be a folder, must be creatable, and an existing file is
replaced only with ``--overwrite``. :func:`check_large_request` stops a request whose disk or time
need is far beyond an ordinary run unless the user confirms it with a flag.

Kept free of heavy imports (click only): command modules import it at the top.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import click

from scan2ad.errors import InputError

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and cv2 take 32-bit seeds


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"{'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_fmt(hi)}"
    return "any finite number"


class Float(click.ParamType):
    """A finite float in an optional range; the message names the range."""

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None,
                 min_open: bool = False, max_open: bool = False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    @property
    def range(self) -> str:
        return _range_text(self.min, self.max, self.min_open, self.max_open)

    def get_metavar(self, param, *args, **kwargs) -> str:  # shown in --help (click 8.1 and 8.2 signatures)
        return f"FLOAT {self.range}" if (self.min, self.max) != (None, None) else "FLOAT"

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number (allowed: {self.range})", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number (allowed: {self.range})", param, ctx)
        low = self.min is not None and (v <= self.min if self.min_open else v < self.min)
        high = self.max is not None and (v >= self.max if self.max_open else v > self.max)
        if low or high:
            self.fail(f"{_fmt(v)} is out of range (allowed: {self.range})", param, ctx)
        return v


class Int(click.ParamType):
    """An integer in an optional range; the message names the range."""

    name = "integer"

    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max

    @property
    def range(self) -> str:
        return _range_text(self.min, self.max)

    def get_metavar(self, param, *args, **kwargs) -> str:
        return f"INTEGER {self.range}" if (self.min, self.max) != (None, None) else "INTEGER"

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            self.fail(f"{value!r} is not an integer (allowed: {self.range})", param, ctx)
        if isinstance(value, int):
            v = value
        else:
            try:
                v = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"{value!r} is not an integer (allowed: {self.range})", param, ctx)
        if (self.min is not None and v < self.min) or (self.max is not None and v > self.max):
            self.fail(f"{v} is out of range (allowed: {self.range})", param, ctx)
        return v


SEED = Int(0, SEED_MAX)


def decoding_options(command):
    """The structured-light decoder's two thresholds as options (``--min-contrast``,
    ``--min-bit-margin``; the defaults of ``acquisition.decode.DecodeConfig``), shared by every
    command that decodes captures."""
    command = click.option(
        "--min-bit-margin", type=Float(min=0.0, max=65535.0), default=2.0, show_default=True,
        help="Decoding: |pattern - inverse| below this leaves a bit undecided (OpenCV's white "
        "threshold: 5).")(command)
    return click.option(
        "--min-contrast", type=Float(min=0.0, max=65535.0), default=8.0, show_default=True,
        help="Decoding: white - black below this (8-bit levels) is shadow (OpenCV's black "
        "threshold: 40).")(command)


def check_range(name: str, value: float, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False, path=None) -> float:
    """The same check for a value that does not come through click (a config field, a pair)."""
    v = float(value)
    rng = _range_text(lo, hi, lo_open, hi_open)
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r} (allowed: {rng})", path)
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (
            hi is not None and (v >= hi if hi_open else v > hi)):
        raise InputError(f"{name} = {_fmt(v)} is out of range (allowed: {rng})", path)
    return v


def check_output_file(path: str | os.PathLike, overwrite: bool = False, *,
                      option: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse a file output that cannot be written, or that exists, before any work is done.

    A folder in the way, a parent that is a file or cannot be created or written, a suffix
    outside ``suffixes``: :class:`InputError` naming the path. An existing file is replaced only
    when ``overwrite`` (the ``--overwrite`` flag): scan2ad cannot tell a file it wrote for this
    job from another one, so it asks.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} names a folder; give a file path", path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{option} must end in {' or '.join(suffixes)} (got {path.suffix or 'no suffix'!r})",
                         path)
    if path.exists() and not overwrite:
        raise InputError(f"{option} exists; pass --overwrite to replace it, or choose another file", path)
    parent = path.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"cannot create {parent}: {probe} is a file", path)
    why = _unwritable(probe)
    if why:
        raise InputError(f"cannot write in {probe} ({why}); choose another {option}", path)
    return path


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (None when they can). Tried for real: root
    passes ``os.access`` everywhere, and pseudo file systems (/proc) claim to be writable."""
    import tempfile

    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    try:
        fd, name = tempfile.mkstemp(prefix=".scan2ad-probe.", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def check_large_request(what: str, out: str | os.PathLike, disk_bytes: float, seconds: float, *,
                        allowed: bool, flag: str = "--large",
                        disk_limit: float = 20e9, time_limit: float = 4 * 3600) -> None:
    """Refuse a request needing more than ``disk_limit`` bytes or ``time_limit`` seconds unless
    ``allowed`` (the user passed ``flag``); refuse always when the disk it writes to cannot hold
    it. The message states both needs, so the user decides knowing them."""
    probe = Path(out).resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = float(shutil.disk_usage(probe).free)
    except OSError:
        free = math.inf
    need = f"{what} needs about {_size(disk_bytes)} of disk and {_duration(seconds)}"
    if disk_bytes > free:
        raise InputError(f"{need}, but {probe} has {_size(free)} free", out)
    if not allowed and (disk_bytes > disk_limit or seconds > time_limit):
        raise InputError(f"{need} ({_size(free)} free); pass {flag} to go ahead", out)


def config_numbers(obj, where: str = "", skip: tuple[str, ...] = ()):
    """(dotted name, value) of every number in a config (nested dataclasses, tuples, lists)."""
    import dataclasses

    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name not in skip:
                yield from config_numbers(getattr(obj, f.name), f"{where}.{f.name}".lstrip("."), skip)
    elif isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            yield from config_numbers(v, f"{where}[{i}]", skip)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield where, obj


def check_config(cfg, ranges: dict[str, tuple], default: tuple = (None, None, False), *,
                 path=None, skip: tuple[str, ...] = ()):
    """Every number of the config dataclass ``cfg`` finite and in its range: ``ranges`` maps a
    dotted field name, or a bare field name, to ``(low, high, low_open)``; other fields get
    ``default``. The error names the field, the value and the allowed range (and the file)."""
    for name, value in config_numbers(cfg, skip=skip):
        bare = name.rsplit(".", 1)[-1].split("[", 1)[0]
        lo, hi, lo_open = ranges.get(name.split("[", 1)[0], ranges.get(bare, default))
        check_range(name, value, lo, hi, lo_open=lo_open, path=path)
    return cfg
