"""The explicit registry: detector name -> (class, default config overrides).

Classes are named by import path and imported on first use, so listing the registry imports
no torch. Variants of a method (ablations, subsampling strategies) are entries of their own
with the overrides that define them. Every entry is exercised by a test.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from scan2ad.errors import InputError


@dataclasses.dataclass(frozen=True)
class Entry:
    target: str                     # "module:Class"
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: str = ""


REGISTRY: dict[str, Entry] = {
}


def names() -> list[str]:
    return list(REGISTRY)


def detector_class(name: str):
    if name not in REGISTRY:
        raise InputError(f"unknown detector {name!r}; known: {', '.join(REGISTRY) or '(none)'}")
    module, _, attr = REGISTRY[name].target.partition(":")
    return getattr(importlib.import_module(module), attr)


def create(name: str, **overrides):
    """A detector with the registry's defaults for ``name`` and ``overrides`` on top."""
    entry = REGISTRY.get(name)
    klass = detector_class(name)
    cfg = {**entry.overrides, **{k: v for k, v in overrides.items() if v is not None}}
    det = klass(cfg)
    det.name = name
    return det
