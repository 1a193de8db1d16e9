"""``scan2ad register``: output JSON, printed figures, bad-file errors."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from scan2ad.io import read_json
from scan2ad.reconstruction.cli import register
from scan2ad.reconstruction.registration.se3 import transform_error


def test_register_demo_pair(shared_data, tmp_path):
    d = shared_data / "fricp_pair"
    out = tmp_path / "T.json"
    res = CliRunner().invoke(
        register,
        [str(d / "source.ply"), str(d / "target.ply"), "--init", "none", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "fitness" in res.output and "T_target_source" in res.output
    T = np.array(read_json(out)["T_target_source"])
    rot, trans = transform_error(T, np.loadtxt(d / "m3trans.txt"))
    assert rot < 0.05 and trans < 2e-3


def test_register_bad_file(tmp_path):
    bad = tmp_path / "bad.ply"
    bad.write_text("not a ply file\n")
    good = tmp_path / "good.xyz"
    np.savetxt(good, np.random.default_rng(0).random((100, 3)))
    out = tmp_path / "T.json"
    res = CliRunner().invoke(register, [str(bad), str(good), "--out", str(out)])
    assert res.exit_code != 0
    assert "bad.ply" in str(res.exception) or "bad.ply" in res.output
    assert not out.exists()
