"""benchmarks/detector_speed.py's method specs (NAME:key=value) and benchmarks/fpfh_speed.py's
table on a small cloud (equal features: no row differs)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.scripts import load_benchmark

from scan2ad.errors import InputError

REPO = Path(__file__).resolve().parents[3]


def _load(name):
    return load_benchmark(name)


def test_method_specs_carry_settings_over_the_training_overrides(monkeypatch):
    for var in ("OMP_NUM_THREADS", "SCAN2AD_NO_PROGRESS"):   # the script sets defaults on import
        monkeypatch.setenv(var, os.environ.get(var, "1" if var == "SCAN2AD_NO_PROGRESS" else "2"))
    ds = _load("detector_speed")
    assert ds.parse_method("dra-pb") == ("dra-pb", {"steps": 10})
    assert ds.parse_method('open3d-ad:fpfh_backend="open3d";groups=512') == (
        "open3d-ad", {"fpfh_backend": "open3d", "groups": 512})
    assert ds.parse_method("po3ad:steps=3")[1] == {"steps": 3, "batch_size": 2}
    with pytest.raises(InputError, match="key=value"):
        ds.parse_method("open3d-ad:groups")
    with pytest.raises(InputError, match="TOML"):
        ds.parse_method("open3d-ad:fpfh_backend=open3d")      # a bare word is not a TOML string
    with pytest.raises(InputError, match="unknown method"):
        ds.main([str(REPO), "--methods", "patchcore-fpfh,nope"])
    with pytest.raises(InputError, match="key=value"):
        ds.parse_method("open3d-ad:=3")
    # settings are checked against the detector's config before any cloud loads
    for bad, why in (("open3d-ad:groups=-1", "groups"), ("open3d-ad:nosuchkey=1", "nosuchkey"),
                     ("open3d-ad:fpfh_backend='x'", "fpfh_backend")):
        with pytest.raises(InputError, match=why):
            ds.main([str(REPO / "no-such-class"), "--methods", bad])
    with pytest.raises(InputError, match="not a folder"):
        ds.main([str(REPO / "no-such-class"), "--methods", "open3d-ad"])
    with pytest.raises(InputError, match="n-test"):
        ds.main([str(REPO), "--methods", "open3d-ad", "--n-test", "0"])


@pytest.mark.slow
def test_fpfh_speed_prints_equal_features_and_a_ratio(tmp_path):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_sample
    from scan2ad.pointcloud import PointCloud, write_cloud

    s = make_sample("washer", None, SyntheticSpec(points=1500), np.random.default_rng(0))
    cloud = write_cloud(tmp_path / "c.pcd", PointCloud(s.points.astype(np.float32)))
    out = subprocess.run([sys.executable, "-P", str(REPO / "benchmarks" / "fpfh_speed.py"), str(cloud),
                          "--sizes", "500,0", "--repeats", "1"], check=False, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith(("| 500 |", "| 1500 |"))]
    assert len(rows) == 2 and all(r.rstrip().endswith("| 0/0/0 |") for r in rows)
