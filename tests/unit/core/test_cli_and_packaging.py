import json
import subprocess
import sys
import time

from scan2ad.cli import COMMANDS, main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-P", "-m", "scan2ad.cli", *args], capture_output=True, check=False,
                          text=True, cwd=cwd)


def test_help_is_fast_and_imports_nothing_heavy(tmp_path):
    code = ("import sys, json, contextlib, io; from scan2ad.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): rc = main(['--help'])\n"
            "print(json.dumps([rc, [m for m in ('torch', 'open3d', 'bpy', 'cv2', 'pyvista', "
            "'numpy', 'ray', 'scipy') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    rc, heavy = json.loads(out.stdout)
    assert rc == 0 and heavy == [], f"--help imported {heavy}"
    t0 = time.perf_counter()
    assert run_cli("--help", cwd=tmp_path).returncode == 0
    assert time.perf_counter() - t0 < 3.0  # generous for a loaded CI box; typical ~0.3 s


def test_version_and_exit_codes(tmp_path):
    r = run_cli("--version")
    assert r.returncode == 0 and "scan2ad" in r.stdout
    assert run_cli("no-such-command").returncode == 2
    bad = tmp_path / "bad.ply"
    bad.write_text("not a ply")
    r = run_cli("pointcloud", "validate", str(bad))
    assert r.returncode == 2 and "bad.ply" in r.stdout + r.stderr


def test_every_listed_command_module_has_its_attribute():
    import importlib
    import importlib.util

    for name, (target, _) in COMMANDS.items():
        module, _, attr = target.partition(":")
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            assert hasattr(importlib.import_module(module), attr), f"{name}: {target}"


def test_datasets_is_ours_and_no_bare_top_level_package(tmp_path):
    code = ("import importlib.util, json, scan2ad.datasets, scan2ad.detectors;"
            "print(json.dumps({'ours': scan2ad.datasets.__file__, "
            "'bare': [m for m in ('datasets', 'detectors', 'acquisition', 'reconstruction', "
            "'annotation') if importlib.util.find_spec(m) is not None]}))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["ours"].replace("\\", "/").endswith("datasets/__init__.py")
    assert info["bare"] == []


def test_pointcloud_convert_and_info(tmp_path, capsys):
    import numpy as np

    from scan2ad.pointcloud import PointCloud, write_cloud

    src = write_cloud(tmp_path / "a.pcd", PointCloud(np.random.default_rng(0).random((50, 3)),
                                                     labels=np.r_[np.ones(5), np.zeros(45)]))
    assert main(["pointcloud", "convert", str(src), str(tmp_path / "b.ply")]) == 0
    assert main(["pointcloud", "info", str(tmp_path / "b.ply")]) == 0
    assert "5 anomalous" in capsys.readouterr().out


def test_demo_runs_and_says_what_it_did(tmp_path):
    r = run_cli("demo", "--out", str(tmp_path / "d"), "--quick", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "round-tripped" in r.stdout and "demo finished" in r.stdout
