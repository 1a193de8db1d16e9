"""Fixtures of the robustness suite: one tiny synthetic dataset, one built dataset, one
evaluate run and one train run, made once per session through the real CLI
(:func:`cases.make_fixtures`); each case works on private copies of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    import cases

    from scan2ad.cli import main

    return cases.make_fixtures(tmp_path_factory.mktemp("robustness"), main)
