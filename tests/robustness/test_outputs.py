"""The shared output-folder guard (:mod:`scan2ad.outputs`): provenance, refusal, resume,
staging (no lost output on failure), the lock, and the disk-full fault hook of
:mod:`scan2ad.io`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scan2ad.errors import InputError
from scan2ad.io import write_text
from scan2ad.outputs import MARKER, claim_output, lock_path, old_path, read_marker, staging_path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _good_run(out: Path, job: dict, staging="always") -> dict[str, bytes]:
    with claim_output(out, "evaluate", job, staging=staging) as o:
        write_text(o.work / "metrics.json", f"{job}\n")
        write_text(o.work / "models" / "a.txt", "model\n")
    return _snapshot(out)


def test_new_folder_gets_a_complete_marker(tmp_path):
    out = tmp_path / "run"
    _good_run(out, {"method": "m1"})
    m = read_marker(out)
    assert m["command"] == "evaluate" and m["job"] == {"method": "m1"} and m["state"] == "complete"
    assert not staging_path(out).exists() and not lock_path(out).exists()


def test_foreign_folder_is_refused_and_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(InputError, match=r"not written by scan2ad evaluate.*precious.txt.*--overwrite"), claim_output(out, "evaluate", {"method": "m"}):
        pytest.fail("claimed a foreign folder")
    assert _snapshot(out) == {"precious.txt": b"mine"}


def test_other_job_or_command_refused_with_what_differs(tmp_path):
    out = tmp_path / "run"
    before = _good_run(out, {"method": "m1", "protocol": "one-class"})
    with pytest.raises(InputError, match=r"another job \(method: 'm1' there, 'm2' now\)"), claim_output(out, "evaluate", {"method": "m2", "protocol": "one-class"}):
        pass
    with pytest.raises(InputError, match=r"written by scan2ad evaluate .*this is scan2ad train"), claim_output(out, "train", {"method": "m1", "protocol": "one-class"}):
        pass
    assert _snapshot(out) == before


def test_same_job_resumes_and_accept_lets_a_sibling_command_in(tmp_path):
    out = tmp_path / "run"
    _good_run(out, {"method": "m1"}, staging="never")
    with claim_output(out, "evaluate", {"method": "m1"}, staging="never") as o:
        assert o.state == "resume" and o.work == out and (out / "metrics.json").is_file()
    with claim_output(out, "train", {"method": "m1"}, accept=("evaluate",), staging="never") as o:
        assert o.state == "resume"


def test_failure_under_staging_leaves_previous_result_byte_identical(tmp_path):
    out = tmp_path / "run"
    before = _good_run(out, {"method": "m1"})
    with pytest.raises(RuntimeError), claim_output(out, "evaluate", {"method": "m1"}, staging="always") as o:
        write_text(o.work / "metrics.json", "half\n")
        write_text(o.work / "config.json", "new\n")
        raise RuntimeError("boom")
    assert _snapshot(out) == before and not staging_path(out).exists()
    with pytest.raises(RuntimeError), claim_output(out, "evaluate", {"method": "m2"}, overwrite=True) as o:
        assert o.state == "overwrite" and o.staged
        raise RuntimeError("boom")
    assert _snapshot(out) == before


def test_overwrite_replaces_and_keep_staging_resumes(tmp_path):
    out = tmp_path / "ds"
    _good_run(out, {"spec": "a"}, staging="never")
    with pytest.raises(RuntimeError), claim_output(out, "evaluate", {"spec": "b"}, overwrite=True, keep_staging=True) as o:
        write_text(o.work / "unit1", "done\n")
        raise RuntimeError("killed half way")
    assert (staging_path(out) / "unit1").is_file() and read_marker(out)["job"] == {"spec": "a"}
    with claim_output(out, "evaluate", {"spec": "b"}, overwrite=True, keep_staging=True) as o:
        assert (o.work / "unit1").read_text() == "done\n"  # carried on where it stopped
    assert read_marker(out)["job"] == {"spec": "b"} and (out / "unit1").is_file()
    assert not (out / "metrics.json").exists()  # the old job's files went with the old folder


def test_kill_between_commit_renames_is_repaired(tmp_path):
    out = tmp_path / "run"
    before = _good_run(out, {"method": "m1"})
    os.rename(out, old_path(out))  # as if killed after the first rename
    with pytest.raises(InputError), claim_output(out, "evaluate", {"method": "other"}):
        pass
    assert _snapshot(out) == before


def test_path_that_is_a_file_or_unwritable(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"), claim_output(f, "evaluate", {}):
        pass
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot write in"), claim_output(ro / "run", "evaluate", {}):
            pass
    finally:
        ro.chmod(0o755)


_HOLDER = """
import sys, time
from scan2ad.outputs import claim_output
with claim_output(sys.argv[1], "build", {"spec": "x"}, staging="never"):
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_second_writer_stops_and_dead_holder_is_taken_over(tmp_path):
    out = tmp_path / "ds"
    p = subprocess.Popen([sys.executable, "-P", "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "claimed"
        with pytest.raises(InputError, match=rf"another scan2ad process .*pid {p.pid}.*scan2ad build"), claim_output(out, "build", {"spec": "x"}, staging="never"):
            pass
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert lock_path(out).exists()  # the dead holder's lock file is still there ...
    t0 = time.perf_counter()
    with claim_output(out, "build", {"spec": "x"}, staging="never") as o:  # ... and taken over
        assert o.state == "resume"
    assert time.perf_counter() - t0 < 5


def test_disk_full_hook_fails_the_write_and_keeps_prior_output(tmp_path, monkeypatch):
    out = tmp_path / "run"
    before = _good_run(out, {"method": "m1"})
    monkeypatch.setenv("SCAN2AD_FAULT", "enospc:metrics.json")
    with pytest.raises(OSError) as err:
        _good_run(out, {"method": "m1"})
    assert err.value.errno == 28 and err.value.filename.endswith("metrics.json")
    assert _snapshot(out) == before
    assert not any(p.name.endswith(".tmp") or ".tmp." in p.name for p in tmp_path.rglob("*"))
    assert MARKER in before


@pytest.mark.parametrize("existed", [False, True])
def test_a_claim_that_fails_before_writing_anything_leaves_no_claim(tmp_path, existed):
    """A job refused at its start (a bad spec found while planning) leaves the folder as it was,
    so the corrected job is not refused as 'another job'; one that wrote a file keeps it."""
    out = tmp_path / "run"
    if existed:
        out.mkdir()
    with pytest.raises(InputError), claim_output(out, "build", {"spec": "bad"}, staging="never") as o:
        (o.work / ".build" / "units").mkdir(parents=True)
        raise InputError("bad spec")
    assert out.is_dir() == existed and (not existed or list(out.iterdir()) == [])
    with claim_output(out, "build", {"spec": "good"}, staging="never") as o:
        assert o.state == "new"
    with pytest.raises(InputError), claim_output(tmp_path / "kept", "build", {"spec": "x"}, staging="never") as o:
        write_text(o.work / ".build" / "units" / "u1.json", "{}\n")
        raise InputError("a unit failed")
    assert read_marker(tmp_path / "kept")["state"] == "running"  # resumable: same job resumes


def test_carry_keeps_a_subfolder_of_another_jobs_staging(tmp_path):
    out = tmp_path / "ds"
    _good_run(out, {"spec": "a"}, staging="never")
    with pytest.raises(RuntimeError), claim_output(out, "build", {"spec": "b"}, overwrite=True,
                                                   keep_staging=True, carry=".build") as o:
        write_text(o.work / ".build" / "units" / "u1.json", "{}\n")
        write_text(o.work / "cls" / "s1.pcd", "x\n")
        raise RuntimeError("killed half way")
    # another job of the same command: the staging folder goes, its .build stays
    with claim_output(out, "build", {"spec": "c"}, overwrite=True, keep_staging=True, carry=".build") as o:
        assert (o.work / ".build" / "units" / "u1.json").is_file()
        assert not (o.work / "cls").exists()
    assert read_marker(out)["job"] == {"spec": "c"} and not (tmp_path / ".ds.carry").exists()
    # without carry (or for another command) nothing of it is kept
    with pytest.raises(RuntimeError), claim_output(out, "build", {"spec": "d"}, overwrite=True,
                                                   keep_staging=True) as o:
        write_text(o.work / ".build" / "u2", "x\n")
        raise RuntimeError("killed")
    with claim_output(out, "evaluate", {"spec": "e"}, overwrite=True, keep_staging=True, carry=".build") as o:
        assert not (o.work / ".build").exists()


def test_refusal_names_a_long_job_briefly(tmp_path):
    """A build's spec has ~30 settings and nested tables: the refusal lists a few, shortened."""
    out = tmp_path / "out"
    big = {f"setting_{i}": i for i in range(20)} | {"table": {f"k{i}": list(range(30)) for i in range(9)}}
    with claim_output(out, "build", big) as claim:
        assert claim.work.is_dir()
    with pytest.raises(InputError) as err, claim_output(out, "evaluate", {"method": "m"}):
        pytest.fail("another job's folder was claimed")
    text = str(err.value)
    assert "written by scan2ad build (setting_0=0, " in text and "... (15 more)" in text, text
    assert "this is scan2ad evaluate (method='m')" in text and len(text) < 600, text
    changed = {f"setting_{i}": -i for i in range(20)} | {"table": {"other": "x" * 200}}
    with pytest.raises(InputError) as err, claim_output(out, "build", changed):
        pytest.fail("another job's folder was claimed")
    text = str(err.value)
    assert "setting_1: 1 there, -1 now" in text and "(8 more)" in text and len(text) < 1200, text
    long_value = big | {"table": {"k": "y" * 500}}
    with pytest.raises(InputError) as err, claim_output(out, "build", long_value):
        pytest.fail("another job's folder was claimed")
    assert " ...}" in str(err.value) and "y" * 100 not in str(err.value), str(err.value)
