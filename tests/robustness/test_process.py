"""Processes clean up: ``kill -9`` of ``scan2ad build --workers 2`` takes its pool workers with
it (``scan2ad.executors._exit_with_parent``) instead of leaving them blocked forever."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SPEC = """name = "slow"
classes = ["ring", "washer"]
n_train = 40
n_test_normal = 2
n_per_defect = 2
defects = ["Bump"]
points = 40000
split_ks = [1]
split_seeds = [1]
gallery = false
"""


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill_9_of_a_build_takes_its_workers_with_it(tmp_path):
    spec = tmp_path / "slow.toml"
    spec.write_text(SPEC)
    env = dict(os.environ, OMP_NUM_THREADS="1", SCAN2AD_NO_PROGRESS="1")
    p = subprocess.Popen([sys.executable, "-P", "-m", "scan2ad.cli", "build", str(spec), "--out",
                          str(tmp_path / "ds"), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        workers: list[int] = []
        while time.monotonic() < deadline and p.poll() is None:
            workers = [k for k in _children(p.pid)
                       if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, "the build never started its two workers"
        kids = _children(p.pid)
        time.sleep(1.0)  # the workers are running units (or importing) now
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)], "pool processes outlived their killed parent"
    finally:  # whatever survived (the test failing) goes: the group is this test's alone
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
