"""Killing ``scan2ad build`` at random moments and rerunning it gives the bytes of an
uninterrupted build (issue 6). The build runs as a subprocess killed with SIGKILL (no cleanup
handlers run), several times at random delays, then once to completion."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPEC = """
name = "resume"
classes = ["ring", "washer"]
n_train = 3
n_test_normal = 2
n_per_defect = 2
defects = ["Bump", "Scratch", "Deformation"]
points = 20000
split_ks = [1]
split_seeds = [1, 2]
gallery = true
"""


def _build(spec: Path, out: Path, workers: int = 1) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", SCAN2AD_NO_PROGRESS="1")
    cmd = [sys.executable, "-P", "-m", "scan2ad.cli", "build", str(spec), "--out", str(out),
           "--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".build" not in p.relative_to(root).parts}


def _kill_and_resume(spec: Path, tmp_path: Path, kills_wanted: int = 4, timeout: int = 300):
    """Build once uninterrupted, then kill a second build ``kills_wanted`` times at random
    moments (1 or 2 workers) and finish it; return both folders' dataset files."""
    ref = tmp_path / "ref"
    t0 = time.perf_counter()
    p = _build(spec, ref)
    out, _ = p.communicate(timeout=timeout)
    t_full = time.perf_counter() - t0  # start-up included
    assert p.returncode == 0, out.decode()

    rng = random.Random(6)
    resumed = tmp_path / "resumed"
    kills = 0
    for _ in range(kills_wanted):
        p = _build(spec, resumed, workers=rng.choice([1, 2]))
        # anywhere from start-up (imports) to the packaging at the end
        time.sleep(rng.uniform(0.2, 0.95) * t_full)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.communicate(timeout=60)
    p = _build(spec, resumed)
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out.decode()
    assert kills >= 1, "no run was interrupted: the test proved nothing"
    a, b = _files(ref), _files(resumed)
    assert sorted(a) == sorted(b)
    differing = [k for k in a if a[k] != b[k]]
    assert not differing, differing
    # hidden files are temp files, except the output marker (scan2ad.outputs)
    assert not [k for k in b if "/." in "/" + k and k != ".scan2ad-output.json"], "temp files left behind"
    return a, b


def test_killed_builds_resume_to_identical_bytes(tmp_path):
    spec = tmp_path / "resume.toml"
    spec.write_text(SPEC)
    a, _ = _kill_and_resume(spec, tmp_path)
    assert {"manifest.json", "stats.csv", "README.md", "gallery/ring.png", "gallery/washer.png",
            "splits/ring/known-Bump_k1_seed2.json"} <= set(a)


@pytest.mark.slow
def test_killed_pipeline_builds_resume_to_identical_bytes(tmp_path):
    """The same with the pipeline source (capture view, reconstruct scan and sample units):
    kills land inside captures, reconstructions (after their decoded maps were pruned or
    before) and carves."""
    pytest.importorskip("bpy")
    from scan2ad.datasets.spec import SPECS_DIR

    a, _ = _kill_and_resume(SPECS_DIR / "tiny-pipeline.toml", tmp_path, kills_wanted=3,
                            timeout=600)
    assert {"manifest.json", "heavy_washer/gt/heavy_washer_Dent_002.txt",
            "splits/heavy_washer/known-Bump_k1_seed2.json"} <= set(a)


def test_failed_unit_is_named_and_others_go_on(tmp_path, monkeypatch):
    from scan2ad.datasets import builder
    from scan2ad.datasets.spec import load_spec
    from scan2ad.errors import UnitFailedError

    spec = load_spec("tiny")
    out = tmp_path / "t"
    # an unknown part in one class makes its sample units fail; the other class completes
    real = builder._mesh

    def broken(cls, part_source, rng):
        if cls == "washer":
            raise ValueError("boom: no such mesh")
        return real(cls, part_source, rng)

    monkeypatch.setattr(builder, "_mesh", broken)
    with pytest.raises(UnitFailedError) as e:
        builder.build(spec, out, workers=1)
    msg = str(e.value)
    assert "sample washer/train/washer_001.pcd" in msg and "boom" in msg and "seed" in msg
    assert (out / "ring/test/ring_Bump_001.pcd").is_file()
    assert not (out / "washer/train/washer_001.pcd").exists()


@pytest.mark.slow
def test_ray_executor_builds_the_same_bytes(tmp_path):
    pytest.importorskip("ray")
    from scan2ad.datasets.builder import build
    from scan2ad.datasets.spec import load_spec

    spec = load_spec("tiny")
    build(spec, tmp_path / "local", workers=1)
    build(spec, tmp_path / "ray", executor="ray", workers=2)
    a, b = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert a == b
