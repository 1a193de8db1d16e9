"""Output folders: who made them, one writer at a time, and no lost result on failure.

Every command that writes a folder claims it with :func:`claim_output`::

    with claim_output(out, "evaluate", job={"method": m, "protocol": p, ...},
                      overwrite=overwrite, staging="always") as o:
        write_everything_into(o.work)      # o.work is where to write
    # on a clean exit the result is in `out`; on an exception `out` is as it was

The rules it enforces (issue 22):

* **Provenance.** A claimed folder holds a marker file ``.scan2ad-output.json`` (schema 1):
  the command, the *job* (the settings that decide the result: spec hash, method, protocol,
  class, ...), its hash, and ``state`` (``running`` while written, ``complete`` at the end).
* **Refusal.** An existing folder is refused, with a message naming what made it and what
  differs, when it is not empty and has no marker (scan2ad did not make it), or when its
  marker names another command or another job, unless ``overwrite=True`` (``--overwrite``).
  ``accept`` lists other commands whose folders of the *same* job this one may write into
  (``evaluate --models RUN -o RUN`` completes a ``train`` run). A path that is a file, or that
  cannot be created or written, is an :class:`InputError` naming it.
* **Resume.** A rerun of the same command and job writes into the same folder (``state ==
  "resume"``): resumable commands (``build``) pick up where they stopped.
* **No lost output.** With ``staging="always"`` (commands that rewrite the whole folder:
  train, evaluate, benchmark) or ``staging="overwrite"`` (resumable commands replacing another
  job's folder), the command writes into a sibling ``.<name>.staging`` folder; only when it
  finishes is the old folder renamed to ``.<name>.old``, the staging folder renamed into place
  and the old one removed. A failure or a kill leaves the previous folder untouched (a kill
  between the two renames is repaired by the next claim, which renames ``.<name>.old`` back).
  With ``keep_staging=True`` (resumable commands) a failed staging folder is kept and the next
  claim of the same job continues in it; otherwise it is removed.
  ``staging="never"`` writes in place (a new folder, or a resumed job whose files are each
  written atomically); with ``overwrite`` it empties the folder first (for commands whose
  output is too large to hold twice: the previous result is then gone once the claim starts).
* **One writer.** A lock file ``.<name>.lock`` beside the folder is held with ``fcntl.flock``
  for the whole claim; a second process claiming the same folder stops at once with an
  :class:`InputError` naming the holder's pid and command. The kernel drops the lock when its
  holder dies (even by ``kill -9``), so a stale lock file of a dead process is simply taken over.

* **Inputs stay apart.** ``inputs`` names what the command reads (``{"the dataset": root}``):
  an output folder that is one of them, or holds one, is refused with or without
  ``--overwrite`` (a staged result renamed into place, or an emptied folder, would take the
  input with it), and so is an output folder inside an input folder unless ``inside_ok``
  (it would add files to a dataset or a session that its readers then meet):
  :func:`check_apart`.

Folders written before markers existed are foreign to this module: ``--overwrite`` replaces
them (safely, via staging when the command asks for it), unless the command passes ``adopt``, a
function that recognises its own older output of the same job (``build`` compares the spec in
``manifest.json``): such a folder is resumed as if it had the marker.

Fault injection for tests: :func:`scan2ad.io.atomic_path` honours ``SCAN2AD_FAULT`` (see
:mod:`scan2ad.io`), so a disk-full during any atomic write can be simulated without a tmpfs.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from scan2ad.errors import InputError, Scan2adError
from scan2ad.io import stable_hash, write_json

MARKER = ".scan2ad-output.json"
MARKER_SCHEMA = 1
_SKIP = {MARKER}  # entries an "empty" folder may hold


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def staging_path(path: Path) -> Path:
    return path.parent / f".{path.name}.staging"


def old_path(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def check_apart(out: str | Path, inputs: dict[str, str | Path | None] | None, *, inside_ok: bool = False,
                option: str = "the output folder") -> None:
    """Refuse an output folder ``out`` that is one of ``inputs`` ({what: path}; None values are
    skipped), holds one, or (unless ``inside_ok``) lies inside an input folder, with an
    :class:`InputError` naming both. Paths are compared resolved (symbolic links and ``..``
    followed), so another spelling of the same folder is caught."""
    if not inputs:
        return
    out_r = Path(os.path.realpath(Path(out).expanduser()))
    for what, given in inputs.items():
        if given is None or str(given) == "":
            continue
        src = Path(os.path.realpath(Path(given).expanduser()))
        if out_r == src:
            raise InputError(f"{option} is {what} ({given}): writing it would replace what this command "
                             f"reads; choose another folder", out)
        if out_r in src.parents:
            raise InputError(f"{option} holds {what} ({given}): writing it would remove what this "
                             f"command reads; choose a folder outside it", out)
        if not inside_ok and src in out_r.parents and src.is_dir():
            raise InputError(f"{option} is inside {what} ({given}): it would add files to it; choose a "
                             f"folder outside it", out)


def read_marker(folder: str | Path) -> dict | None:
    """The marker of ``folder`` (None when absent or unreadable: such a folder is foreign)."""
    f = Path(folder) / MARKER
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema_version") == MARKER_SCHEMA else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SHOWN_KEYS = 6     # settings named in a refusal before "... (N more)" (differing ones: twice that)
_SHOWN_CHARS = 80   # one value's repr shortened beyond this


def _short(value) -> str:
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    close = text[-1] if text[-1] in ")]}'\"" else ""  # keep the closing bracket or quote
    return text[:_SHOWN_CHARS - 4 - len(close)] + " ..." + close


def _listed(parts: list[str], n: int = _SHOWN_KEYS) -> str:
    return ", ".join(parts[:n]) + (f", ... ({len(parts) - n} more)" if len(parts) > n else "")


def _show(job: dict) -> str:
    """A job's settings for a refusal: the first few, each value shortened (a build's spec has
    ~30 settings and nested defect tables; the message names the folder, not the whole spec)."""
    return _listed([f"{k}={_short(v)}" for k, v in job.items()]) or "no settings"


def _diff(old: dict, new: dict) -> str:
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    return _listed([f"{k}: {_short(old.get(k))} there, {_short(new.get(k))} now" for k in keys], 2 * _SHOWN_KEYS)


def _oserror(exc: OSError, path: Path, what: str) -> InputError:
    reason = exc.strerror or str(exc)
    return InputError(f"cannot {what}: {reason}", exc.filename or path)


class _Lock:
    """An exclusive ``flock`` on ``.<name>.lock`` beside the folder (released when the process
    dies, so no stale lock survives its holder)."""

    def __init__(self, path: Path, command: str):
        import fcntl

        self.file = lock_path(path)
        while True:
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _oserror(exc, self.file, f"create the lock file beside {path}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = self._holder(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                    raise InputError(
                        f"another scan2ad process is writing this folder ({holder}); wait for it "
                        f"to finish or stop it (its lock: {self.file})", path) from None
                raise _oserror(exc, self.file, "lock") from None
            # the file may have been removed by the previous holder between open and flock:
            # then this lock guards nothing, start again on the file now at that path
            try:
                same = os.stat(self.file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": _now()}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return f"pid {info['pid']} on {info['host']}, scan2ad {info['command']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        import fcntl

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.file)  # before unlocking: a waiter re-checks the inode (see above)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class OutputFolder:
    """A claimed output folder. Write into :attr:`work`; :attr:`path` is where the result lands.

    ``state``: ``"new"`` (nothing there), ``"resume"`` (same command and job: carry on),
    ``"overwrite"`` (another job's or a foreign folder, replaced because ``overwrite=True``).
    ``previous`` is the marker found at ``path`` (None for new or foreign folders).
    """

    def __init__(self, path: Path, work: Path, command: str, job: dict, state: str,
                 previous: dict | None):
        self.path, self.work, self.command, self.job = path, work, command, job
        self.state, self.previous = state, previous
        self.job_hash = stable_hash(job)

    @property
    def staged(self) -> bool:
        return self.work != self.path

    def write_marker(self, state: str) -> None:
        # no time or pid: a rebuilt folder must be byte-identical to an uninterrupted build
        write_json(self.work / MARKER, {"command": self.command, "job": self.job,
                                        "job_hash": self.job_hash, "state": state},
                   schema_version=MARKER_SCHEMA)

    def _commit(self) -> None:
        self.write_marker("complete")
        if not self.staged:
            return
        old = old_path(self.path)
        if old.exists():
            shutil.rmtree(old)
        if self.path.exists():
            os.rename(self.path, old)
        os.rename(self.work, self.path)
        shutil.rmtree(old, ignore_errors=True)


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in _SKIP)


def _holds_no_file(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but its marker and empty folders."""
    for p in folder.rglob("*"):
        if (p.is_file() or p.is_symlink()) and p != folder / MARKER:
            return False
    return True


def _unclaim(path: Path, existed: bool) -> None:
    """Undo a claim that produced nothing: remove what it made (the folder itself if it was new)."""
    with contextlib.suppress(OSError):
        if existed:
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            shutil.rmtree(path)


def _repair(path: Path) -> None:
    """A kill between the two renames of a commit: the previous folder is at ``.<name>.old``."""
    old = old_path(path)
    if old.is_dir():
        if path.exists():
            shutil.rmtree(old)
        else:
            os.rename(old, path)


def _check(path: Path, command: str, job: dict, job_hash: str, accept: tuple[str, ...],
           overwrite: bool, adopt=None) -> tuple[str, dict | None]:
    """``(state, previous marker)`` for claiming ``path``, or an InputError refusing it."""
    if not path.exists():
        return "new", None
    if not path.is_dir():
        raise InputError("output exists and is not a folder (give a folder path)", path)
    try:
        entries = _entries(path)
    except OSError as exc:
        raise _oserror(exc, path, "read the output folder") from None
    marker = read_marker(path)
    if marker is None:
        if not entries:
            return "new", None
        if adopt is not None and adopt(path):
            return "resume", None
        if overwrite:
            return "overwrite", None
        shown = ", ".join(entries[:5]) + (f", ... ({len(entries)} entries)" if len(entries) > 5 else "")
        raise InputError(
            f"the output folder is not empty and was not written by scan2ad {command} "
            f"(it holds {shown}); pass --overwrite to replace it, or choose another folder", path)
    same_job = marker.get("job_hash") == job_hash
    if same_job and (marker.get("command") == command or marker.get("command") in accept):
        return "resume", marker
    if overwrite:
        return "overwrite", marker
    there = marker.get("job") if isinstance(marker.get("job"), dict) else {}
    if marker.get("command") != command and marker.get("command") not in accept:
        what = (f"the output folder was written by scan2ad {marker.get('command')} ({_show(there)}); "
                f"this is scan2ad {command} ({_show(job)})")
    else:  # the same command: the settings that differ say it all
        what = f"the output folder was written for another job ({_diff(there, job)})"
    raise InputError(f"{what}. Pass --overwrite to replace it, or choose another folder", path)


@contextlib.contextmanager
def claim_output(path: str | Path, command: str, job: dict[str, Any], *, overwrite: bool = False,
                 staging: Literal["never", "overwrite", "always"] = "overwrite",
                 keep_staging: bool = False, accept: tuple[str, ...] = (),
                 adopt: Callable[[Path], bool] | None = None,
                 carry: str | None = None, inputs: dict[str, str | Path | None] | None = None,
                 inside_ok: bool = False) -> Iterator[OutputFolder]:
    """Claim ``path`` for ``command`` running ``job`` (a JSON-able dict); see the module doc.

    ``carry`` (with ``keep_staging``): a subfolder of a kept staging folder that survives when
    that folder was staged for *another* job of the same command (the rest is removed as
    usual): the build's unit cache, whose entries are keyed by their units' arguments, so a
    rebuild of changed settings still finds the units those settings do not touch.

    ``inputs`` / ``inside_ok``: what the command reads, kept apart from ``path``
    (:func:`check_apart`, before anything is created).

    Yields an :class:`OutputFolder`; write into its ``work`` folder. On a clean exit the marker
    is set ``complete`` and a staged result replaces ``path``; on an exception ``path`` keeps
    what it had (an in-place resumed job keeps its finished, atomically written files).
    """
    path = Path(path)
    check_apart(path, inputs, inside_ok=inside_ok)
    job = json.loads(json.dumps(job, default=str))  # what the marker will hold, compared alike
    job_hash = stable_hash(job)
    parent = path.parent
    if path.exists() and not path.is_dir():
        raise InputError("output exists and is not a folder (give a folder path)", path)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _oserror(exc, parent, "create the output's parent folder") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in {parent} (permission denied): choose another output folder",
                         path)
    lock = _Lock(path, command)
    existed = path.exists()
    try:
        _repair(path)
        state, previous = _check(path, command, job, job_hash, accept, overwrite, adopt)
        stage = staging_path(path)
        use_staging = staging == "always" or (staging == "overwrite" and state == "overwrite")
        if stage.exists():
            smark = read_marker(stage)
            if not (use_staging and keep_staging and smark is not None
                    and smark.get("job_hash") == job_hash and smark.get("command") == command):
                kept = None
                if (carry and use_staging and keep_staging and smark is not None
                        and smark.get("command") == command and (stage / carry).is_dir()):
                    kept = parent / f".{path.name}.carry"
                    if kept.exists():
                        shutil.rmtree(kept)
                    (stage / carry).rename(kept)
                shutil.rmtree(stage) if stage.is_dir() else stage.unlink()
                if kept is not None:
                    (stage / carry).parent.mkdir(parents=True, exist_ok=True)
                    kept.rename(stage / carry)
        work = stage if use_staging else path
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _oserror(exc, work, "create the output folder") from None
        if not use_staging and state == "overwrite":
            for child in path.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        out = OutputFolder(path, work, command, job, state, previous)
        try:
            out.write_marker("running")
            yield out
        except BaseException as exc:
            if out.staged and not keep_staging:
                shutil.rmtree(out.work, ignore_errors=True)
            if state == "new" and not out.staged and _holds_no_file(path):
                _unclaim(path, existed)  # failed before writing anything: leave no claimed folder
            if out.staged and isinstance(exc, (OSError, Scan2adError)):
                kept = "its unfinished work is kept for a rerun" if keep_staging else "nothing of this run was kept"
                exc.add_note(f"{path} is unchanged ({kept})" if path.exists() else f"{path} was not created")
            raise
        out._commit()
    finally:
        lock.release()
