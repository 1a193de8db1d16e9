"""Frozen-dataclass configs loaded from TOML with unknown keys rejected.

A stage's settings are a ``@dataclass(frozen=True)`` whose fields carry their documentation in
``field(metadata={"doc": ...})``. :func:`load_config` builds one from a TOML file or a dict,
recursing into nested dataclasses, converting lists to tuples where the field says tuple, and
raising :class:`InputError` naming the file and the key for anything unknown or mistyped.
:func:`config_to_dict` gives the plain dict saved beside every output.

Ranges are declared where the field is: ``k: int = doc("neighbours", 30, ge=3)`` (``ge``,
``gt``, ``le``, ``lt``; for a tuple field they hold for every element). :func:`check_ranges`
enforces them, and two rules for every number field without a declaration: a float must be
finite (NaN never; infinity only where the field's default is infinite or ``finite=False``), an
int must be >= 0 (a field that takes negative values declares its own ``ge``). ``load_config``
checks every config it builds; a dataclass built directly calls ``check_ranges(self)`` in its
``__post_init__``. The message names the key, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from scan2ad.errors import InputError

T = TypeVar("T")


_BOUNDS = ("ge", "gt", "le", "lt")


def doc(text: str, default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
        le: float | None = None, lt: float | None = None, finite: bool = True, **kwargs) -> Any:
    """A dataclass field with documentation and its allowed range:
    ``x: float = doc("what x means", 1.0, gt=0)`` (see the module docstring)."""
    meta = {"doc": text, "finite": finite}
    meta.update({k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None})
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta, **kwargs)
    return dataclasses.field(default=default, metadata=meta, **kwargs)


def allowed_range(f: dataclasses.Field) -> str:
    """The declared range of a field as text (``>= 1``, ``> 0 and <= 1``), or ``""``."""
    sym = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " and ".join(f"{sym[b]} {f.metadata[b]:g}" for b in _BOUNDS if b in f.metadata)


def _numbers(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _range_problem(f: dataclasses.Field, value: Any) -> str | None:
    """Why ``value`` is outside field ``f``'s allowed range (None when inside)."""
    import math

    meta = f.metadata
    default = f.default if f.default is not dataclasses.MISSING else None
    inf_ok = not meta.get("finite", True) or any(isinstance(d, float) and math.isinf(d)
                                                 for d in _numbers(default))
    declared = any(b in meta for b in _BOUNDS)
    name = f.name if not isinstance(value, (list, tuple)) else f"{f.name} = {list(value)!r}: element"
    for x in _numbers(value):
        if isinstance(x, float) and (math.isnan(x) or (math.isinf(x) and not inf_ok)):
            rng = allowed_range(f)
            return f"{name} = {x!r} is not a finite number" + (f" (allowed: {rng})" if rng else "")
        if declared:
            ok = all([meta.get("ge") is None or x >= meta["ge"], meta.get("gt") is None or x > meta["gt"],
                      meta.get("le") is None or x <= meta["le"], meta.get("lt") is None or x < meta["lt"]])
            if not ok:
                return f"{name} = {x!r} is out of range (allowed: {allowed_range(f)})"
        elif isinstance(x, int) and x < 0:
            return f"{name} = {x!r} is negative (allowed: >= 0)"
    return None


def check_ranges(obj: Any, where: str = "", source: str | Path | None = None) -> Any:
    """Check every field of the dataclass ``obj`` (and of nested ones) against its declared
    range and the finite / non-negative rules; raise :class:`InputError` naming the key."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_ranges(value, key, source)
            continue
        problem = _range_problem(f, value)
        if problem:
            raise InputError(problem.replace(f.name, key, 1), source)
    return obj


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path) from None


def _coerce(value: Any, tp: Any, where: str, source: Path | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, source)
            except InputError as exc:
                errors.append(exc.problem)
        raise InputError(f"{where}: {value!r} fits none of {tp} ({'; '.join(errors)})", source)
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"{where}: {value!r} is not one of {list(args)}", source)
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a table, got {type(value).__name__}", source)
        return _build(tp, value, where, source)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}", source)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0], f"{where}[{i}]", source) for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise InputError(f"{where}: expected {len(args)} values, got {len(value)}", source)
            items = [_coerce(v, a, f"{where}[{i}]", source) for i, (v, a) in enumerate(zip(value, args))]
        else:
            sub = args[0] if args else Any
            items = [_coerce(v, sub, f"{where}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a table, got {value!r}", source)
        vt = args[1] if args else Any
        return {k: _coerce(v, vt, f"{where}.{k}", source) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected a number, got {value!r}", source)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {value!r}", source)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true/false, got {value!r}", source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}", source)
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise InputError(f"{where}: expected a path string, got {value!r}", source)
        return Path(value)
    return value


def _build(cls: type[T], data: dict, where: str, source: Path | None) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise InputError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)} "
            f"(known: {', '.join(sorted(fields))})",
            source,
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"missing required key {key!r}", source)
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where or cls.__name__}: {exc}", source) from None
    return check_ranges(obj, where, source)


def load_config(cls: type[T], source: str | Path | dict | None = None, **overrides) -> T:
    """Build ``cls`` from a TOML path or dict (``None``: defaults), then apply ``overrides``."""
    path = None
    if source is None:
        data: dict = {}
    elif isinstance(source, dict):
        data = dict(source)
    else:
        path = Path(source)
        data = read_toml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(cls, data, "", path)


def config_to_dict(cfg: Any) -> dict:
    """A JSON/TOML-friendly dict of a config dataclass (tuples as lists, paths as strings)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return conv(cfg)


def describe(cls: type) -> str:
    """One line per field: name, type, default and the documentation (for ``--help`` texts)."""
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")
        rng = allowed_range(f)
        lines.append(f"{f.name} = {default!r}: {f.metadata.get('doc', '')}" + (f" (allowed: {rng})" if rng else ""))
    return "\n".join(lines)
