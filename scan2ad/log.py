"""Logging set-up and progress bars shared by every stage."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

LOGGER_NAME = "scan2ad"


def get_logger(name: str | None = None) -> logging.Logger:
    """The project logger or a child of it (``get_logger(__name__)`` in a stage module)."""
    if name is None or name == LOGGER_NAME:
        return logging.getLogger(LOGGER_NAME)
    return logging.getLogger(name if name.startswith(LOGGER_NAME + ".") else f"{LOGGER_NAME}.{name}")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (it is swapped by test runners)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(verbosity: int = 0) -> None:
    """0: warnings and the CLI's own messages; 1 (-v): info; 2 (-vv): debug."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = get_logger()
    logger.setLevel(level)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.propagate = False


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             leave: bool = False) -> Iterator[T]:
    """tqdm on stderr; silent when SCAN2AD_NO_PROGRESS=1 (set by the tests) or stderr is no TTY
    and CI is set."""
    from tqdm.auto import tqdm

    disable = os.environ.get("SCAN2AD_NO_PROGRESS") == "1" or (
        os.environ.get("CI") and not sys.stderr.isatty()
    )
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=bool(disable)))
