"""Module-level unit functions for the executor tests (units must be importable by name)."""

import os
import time
from pathlib import Path


def square(x: int) -> int:
    return x * x


def total(deps: dict) -> int:
    return sum(deps.values())


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"unit {x} is broken on purpose")
    return x


def append_marker(log: str, x: int) -> int:
    """Record every execution so a test can count reruns."""
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    return x + 1


def pid_sleep(x: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def touch(path: str) -> str:
    Path(path).write_text("done")
    return path


def sys_path(x: int) -> list[str]:
    import sys

    return list(sys.path)


def log_order(log: str, cache: str, name: str, deps: dict | None = None) -> str:
    """Record the run order and how many units were already cached when this one started."""
    with open(log, "a") as fh:
        fh.write(f"{name}:{len(list(Path(cache).glob('*.json')))}\n")
    return name
