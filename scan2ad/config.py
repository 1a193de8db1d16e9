"""Frozen-dataclass configs loaded from TOML with unknown keys rejected.

A stage's settings are a ``@dataclass(frozen=True)`` whose fields carry their documentation in
``field(metadata={"doc": ...})``. :func:`load_config` builds one from a TOML file or a dict,
recursing into nested dataclasses, converting lists to tuples where the field says tuple, and
raising :class:`InputError` naming the file and the key for anything unknown or mistyped.
:func:`config_to_dict` gives the plain dict saved beside every output.
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


def doc(text: str, default: Any = dataclasses.MISSING, **kwargs) -> Any:
    """A dataclass field with documentation: ``x: float = doc("what x means", 1.0)``."""
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata={"doc": text}, **kwargs)
    return dataclasses.field(default=default, metadata={"doc": text}, **kwargs)


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
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where or cls.__name__}: {exc}", source) from None


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
        lines.append(f"{f.name} = {default!r}: {f.metadata.get('doc', '')}")
    return "\n".join(lines)
