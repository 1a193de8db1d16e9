"""Executors: run a graph of idempotent units on a local process pool or a Ray cluster.

A :class:`Unit` is a module-level function plus JSON-able keyword arguments, a description for
reports and the keys of the units it depends on. Its key is a content hash of the function's
qualified name, its arguments and an optional ``salt`` (e.g. the hash of an input file), so an
identical unit is recognised across runs. When a ``cache_dir`` is given, a finished unit writes
``<cache_dir>/<key>.json`` holding its (JSON-able) result and is skipped on rerun: killing a run
and starting it again redoes only the unfinished units (DESIGN §7).

One interface, two backends: ``run_units(units, executor="local" | "ray", ...)``. A failing unit
is reported with its description and arguments; units that do not depend on it go on; at the end
:class:`UnitFailedError` lists every failure (the CLI turns it into exit code 1).
"""

from __future__ import annotations

import dataclasses
import importlib
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scan2ad.errors import InputError, UnitFailedError
from scan2ad.io import read_json, stable_hash, write_json
from scan2ad.log import get_logger, progress

log = get_logger(__name__)

EXECUTORS = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One idempotent piece of work. ``fn`` must be importable by name (no lambdas/closures)."""

    fn: Callable[..., Any]
    kwargs: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    deps: tuple[str, ...] = ()
    salt: str = ""

    @property
    def fn_name(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    @property
    def key(self) -> str:
        return stable_hash({"fn": self.fn_name, "kwargs": self.kwargs, "salt": self.salt})

    def describe(self) -> str:
        return self.description or f"{self.fn_name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


@dataclasses.dataclass
class RunReport:
    results: dict[str, Any]            # key -> result of every finished unit (cached ones too)
    ran: list[str]                     # keys executed in this run
    cached: list[str]                  # keys skipped because their cache entry existed
    failures: list[tuple[str, str, str]]  # (key, description, error text)
    seconds: float

    def raise_for_failures(self) -> None:
        if self.failures:
            raise UnitFailedError(self.failures)


def _resolve(fn_name: str) -> Callable:
    module, _, qual = fn_name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def execute_unit(fn_name: str, kwargs: dict, dep_results: dict) -> Any:
    """Run one unit in whichever process the backend chose. Dependencies' results arrive as
    ``deps`` when the function accepts such a keyword."""
    fn = _resolve(fn_name)
    import inspect

    params = inspect.signature(fn).parameters
    if "deps" in params:
        return fn(**kwargs, deps=dep_results)
    return fn(**kwargs)


def _error_text(exc: BaseException) -> str:
    tb = traceback.format_exception_only(type(exc), exc)
    return "".join(tb).strip()


def _blender_roots() -> tuple[str, ...]:
    """The folders Blender put on this process's ``sys.path`` (none when bpy is not imported).

    Importing ``bpy`` inserts ``<bpy>/<version>/scripts/modules`` (and friends) at the front of
    ``sys.path``. Spawned workers inherit the parent's ``sys.path``, so their own ``import bpy``
    would find the stub package in ``scripts/modules`` (which needs Blender's built-in ``_bpy``)
    and every Blender unit would fail; this happens when an earlier step of the same process
    (``scan2ad demo``) imported bpy. After Blender starts, ``sys.modules["bpy"]`` is that
    ``scripts/modules/bpy`` package: everything under its ``<version>`` folder is Blender's."""
    import sys

    bpy = sys.modules.get("bpy")
    if bpy is None or getattr(bpy, "__file__", None) is None:
        return ()
    here = Path(bpy.__file__).parent
    while here.name != "scripts" and here != here.parent:
        here = here.parent
    version_dir = here.parent if here.name == "scripts" else Path(bpy.__file__).parent
    return tuple({str(version_dir), str(version_dir.resolve())})


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this pool worker die with the process that started it, even when that one is
    killed with SIGKILL (no cleanup runs there, and a worker waiting for work would otherwise
    block forever holding its memory): on Linux the kernel sends SIGKILL on the parent's death
    (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread checks the parent pid every
    ``poll_s`` seconds and exits when the worker has been re-parented."""
    import os
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        import time

        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="scan2ad-parent-watch", daemon=True).start()


def _worker_init(roots: tuple[str, ...], parent_pid: int) -> None:
    """Pool initializer: exit with the parent (:func:`_exit_with_parent`), and forget the
    parent's Blender folders (:func:`_forget_paths`)."""
    _exit_with_parent(parent_pid)
    _forget_paths(roots)


def _forget_paths(roots: tuple[str, ...]) -> None:
    """Drop the parent's Blender folders from a fresh worker's ``sys.path`` (see
    :func:`_blender_roots`); the worker's own ``import bpy`` then starts Blender properly."""
    import sys

    if roots:
        sys.path[:] = [p for p in sys.path
                       if not (p.startswith(roots) or str(Path(p).resolve()).startswith(roots))]


class _LocalBackend:
    """A process pool; ``workers=1`` runs units inline in this process (debuggable, no pickling)."""

    def __init__(self, workers: int | None):
        import os

        self.workers = workers or max(1, (os.cpu_count() or 1))
        # one unit per worker in flight: a finished unit is recorded (cached) before the next
        # starts, and the next is chosen with every result so far (inline: one at a time)
        self.capacity = self.workers
        self.pool = None
        if self.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn: torch/open3d/bpy are not fork-safe once their thread pools have started
            self.pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                            initializer=_worker_init,
                                            initargs=(_blender_roots(), os.getpid()))

    def submit(self, unit: Unit, dep_results: dict):
        from concurrent.futures import Future

        if self.pool is None:
            fut: Future = Future()
            try:
                fut.set_result(execute_unit(unit.fn_name, unit.kwargs, dep_results))
            except Exception as exc:  # noqa: BLE001 - reported per unit, the run goes on
                fut.set_exception(exc)
            return fut
        return self.pool.submit(execute_unit, unit.fn_name, unit.kwargs, dep_results)

    def wait_any(self, futures: list):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return list(done)

    @staticmethod
    def outcome(fut) -> tuple[bool, Any]:
        exc = fut.exception()
        return (False, _error_text(exc)) if exc is not None else (True, fut.result())

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class _RayBackend:
    """Ray tasks. ``address=None`` starts a local Ray instance (used by the tests)."""

    def __init__(self, workers: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'scan2ad[ray]'") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif workers:
                kwargs["num_cpus"] = workers
            # the package must be importable in the workers: it is installed (editable) in the
            # same environment on a local cluster; a remote cluster needs scan2ad installed too
            ray.init(**kwargs)
            self.started = True
        self.remote = ray.remote(execute_unit)
        self.capacity = None  # the cluster schedules: every ready unit is submitted

    def submit(self, unit: Unit, dep_results: dict):
        return self.remote.remote(unit.fn_name, unit.kwargs, dep_results)

    def wait_any(self, futures: list):
        done, _ = self.ray.wait(futures, num_returns=1)
        return done

    def outcome(self, ref) -> tuple[bool, Any]:
        try:
            return True, self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - RayTaskError wraps the unit's exception
            cause = getattr(exc, "cause", None) or exc
            return False, _error_text(cause)

    def close(self):
        if self.started:
            self.ray.shutdown()


def _short(kwargs: dict, limit: int = 300) -> str:
    text = repr(kwargs)
    return text if len(text) <= limit else text[:limit] + "...}"


def _fatal_os_error(fut) -> OSError | None:
    """The unit's OSError when it means no later unit can write either (disk full, quota,
    read-only file system): the run stops at once and the CLI names the file."""
    import errno

    get = getattr(fut, "exception", None)
    exc = get() if callable(get) else None
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return exc
    return None


def _depths(by_key: dict[str, Unit]) -> dict[str, int]:
    """Each unit's depth in the graph: 0 without dependencies, else 1 + its deepest dependency's
    (a unit on a cycle counts as 0; run_units reports the cycle).

    Ready units run deepest first, so a build finishes what it started (a scan's
    reconstruction and its samples, then the class's package) before it starts the next
    root unit: finished samples appear from the first minutes, the decoded maps of only a few
    scans wait on disk at any time, and a killed run loses at most the units in flight.
    Submitting every ready unit in plan order instead ran all of a build's captures first
    (open-industry-full: 2400 views, ~2.3 CPU h and ~23 GB of decoded maps before the first
    reconstruction)."""
    depth: dict[str, int] = {}
    for start in by_key:
        stack = [start]
        on_stack = set()
        while stack:
            key = stack[-1]
            if key in depth:
                stack.pop()
                continue
            todo = [d for d in by_key[key].deps if d not in depth and d not in on_stack]
            if todo and key not in on_stack:
                on_stack.add(key)
                stack.extend(todo)
                continue
            stack.pop()
            on_stack.discard(key)
            depth[key] = 1 + max((depth.get(d, -1) for d in by_key[key].deps), default=-1)
    return depth


OVERSUBSCRIBE = 4   # local worker processes per core beyond which --workers is refused


def check_workers(workers, executor: str = "local") -> int | None:
    """``workers`` checked where it enters: None (every core) or an integer >= 1; on the local
    executor at most :data:`OVERSUBSCRIBE` processes per core (each spawned worker imports numpy,
    Open3D and, for carving, Blender: a few hundred MB before it does anything, so
    ``--workers 100000`` would start processes until memory runs out). A Ray cluster may have
    more cores than this machine, so there only the type and sign are checked."""
    import os

    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise InputError(f"--workers must be a whole number of processes, got {workers!r}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    cores = os.cpu_count() or 1
    if executor == "local" and workers > OVERSUBSCRIBE * cores:
        raise InputError(f"--workers {workers}: this machine has {cores} core(s); more than "
                         f"{OVERSUBSCRIBE * cores} worker processes ({OVERSUBSCRIBE} per core) only add memory "
                         f"(each loads numpy, Open3D and Blender): leave --workers out to use every core")
    return workers


def run_units(
    units: Iterable[Unit],
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cache_dir: str | Path | None = None,
    desc: str = "units",
    raise_on_failure: bool = True,
) -> RunReport:
    """Run ``units`` respecting ``deps``; return a :class:`RunReport`.

    With ``raise_on_failure`` (default) a run with failures raises :class:`UnitFailedError`
    after every independent unit has finished.
    """
    check_workers(workers, executor)
    units = list(units)
    by_key: dict[str, Unit] = {}
    for u in units:
        by_key.setdefault(u.key, u)  # identical units run once
    for u in by_key.values():
        for d in u.deps:
            if d not in by_key:
                raise InputError(f"unit {u.describe()!r} depends on unknown unit {d[:12]}")
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")

    t0 = time.perf_counter()
    cache = Path(cache_dir) if cache_dir is not None else None
    results: dict[str, Any] = {}
    cached: list[str] = []
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for key in by_key:
            entry = cache / f"{key}.json"
            if entry.exists():
                results[key] = read_json(entry)["result"]
                cached.append(key)

    pending = {k: u for k, u in by_key.items() if k not in results}
    failures: list[tuple[str, str, str]] = []
    failed: set[str] = set()
    ran: list[str] = []
    backend = _LocalBackend(workers) if executor == "local" else _RayBackend(workers, address)
    depth = _depths(by_key)
    in_flight: dict[Any, str] = {}
    bar = progress(range(len(pending)), desc=desc, total=len(pending), unit="unit")
    try:
        while pending or in_flight:
            # fail units whose dependencies failed; submit those whose dependencies finished,
            # deepest first (see _depths), at most backend.capacity at a time
            for key, u in list(pending.items()):
                bad = [d for d in u.deps if d in failed]
                if bad:
                    failures.append((key, u.describe(), f"not run: dependency {bad[0][:12]} failed"))
                    failed.add(key)
                    del pending[key]
                    next(bar, None)
            ready = sorted((k for k, u in pending.items() if all(d in results for d in u.deps)),
                           key=lambda k: -depth[k])  # stable: plan order within a depth
            for key in ready:
                if backend.capacity is not None and len(in_flight) >= backend.capacity:
                    break
                u = pending.pop(key)
                in_flight[backend.submit(u, {d: results[d] for d in u.deps})] = key
            if not in_flight:
                if pending:  # a cycle: nothing runnable and nothing running
                    raise InputError(f"dependency cycle among {len(pending)} unit(s)")
                break
            for fut in backend.wait_any(list(in_flight)):
                key = in_flight.pop(fut)
                ok, value = backend.outcome(fut)
                u = by_key[key]
                if ok:
                    results[key] = value
                    ran.append(key)
                    if cache is not None:
                        write_json(cache / f"{key}.json",
                                   {"unit": u.describe(), "fn": u.fn_name, "result": value})
                else:
                    fatal = _fatal_os_error(fut)
                    if fatal is not None:  # a full or read-only disk fails every unit after it
                        raise fatal
                    inputs = _short(u.kwargs)
                    log.error("unit failed: %s (inputs %s): %s", u.describe(), inputs, value)
                    failures.append((key, f"{u.describe()} inputs={inputs}", value))
                    failed.add(key)
                next(bar, None)
    finally:
        backend.close()
    report = RunReport(results, ran, cached, failures, time.perf_counter() - t0)
    if raise_on_failure:
        report.raise_for_failures()
    return report
