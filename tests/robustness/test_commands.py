"""Every case of the hostile-input table (``cases.py``) through ``scan2ad.cli.main``: the exit
code, the message, and that protected output is byte-identical afterwards. ``survey.py`` runs
the same table in subprocesses and counts the outcomes."""

from __future__ import annotations

import cases as C
import pytest


@pytest.mark.parametrize("case", C.CASES, ids=[c.name for c in C.CASES])
def test_case(case, fixtures, tmp_path, capsys, monkeypatch):
    from scan2ad import io as sio
    from scan2ad.cli import main

    paths = C.copy_fixtures(fixtures, tmp_path)
    if case.setup:
        case.setup(paths)
    before = {C.fill([k], paths)[0]: None for k in case.protect}
    before = {k: C.snapshot(k) for k in before}
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sio, "_FAULT_COUNT", {})
    capsys.readouterr()
    rc = main(C.fill(case.argv, paths))
    cap = capsys.readouterr()
    err = cap.err + cap.out
    outcome, detail = C.classify(case, rc, err, paths, before)
    assert outcome == "clear error", f"{outcome}: {detail}\n{err[-2000:]}"
