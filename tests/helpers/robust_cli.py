"""Run the real ``scan2ad`` CLI the way a careless user does and record what came out.

:func:`run_cli` calls :func:`scan2ad.cli.main` in-process (the exit-code mapping and messages
of the installed entry point, without a Python start per case) and returns the exit code and
everything printed; :func:`snapshot` is a folder's (or file's) bytes, to assert that a refused
or failed command left prior output byte-identical.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np


def run_cli(argv: list) -> tuple[int, str]:
    """(exit code, stdout + stderr + log lines) of ``scan2ad <argv>``."""
    from scan2ad.cli import main

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = main([str(a) for a in argv])
    finally:
        root.removeHandler(handler)
    return rc, buf.getvalue()


def snapshot(path: Path) -> dict[str, bytes] | bytes | None:
    """The bytes of a file, or of every file under a folder (by relative path); None if absent."""
    path = Path(path)
    if path.is_file():
        return path.read_bytes()
    if not path.exists():
        return None
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def sphere(n: int = 600, radius: float = 20.0, seed: int = 0) -> np.ndarray:
    """``n`` points on a sphere (mm): a well-conditioned cloud for registration cases."""
    u = np.random.default_rng(seed).normal(size=(n, 3))
    return radius * u / np.linalg.norm(u, axis=1, keepdims=True)


def write_xyz(path: Path, points, labels=None) -> Path:
    """An ASCII x y z [label] file, written plainly (the cases need files scan2ad would refuse
    to write itself: labels 2, coordinates beyond float32)."""
    pts = np.asarray(points, float)
    rows = [" ".join(repr(float(v)) for v in p) + ("" if labels is None else f" {labels[i]}")
            for i, p in enumerate(pts)]
    Path(path).write_text("\n".join(rows) + "\n")
    return Path(path)
