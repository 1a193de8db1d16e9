"""``scan2ad carve / review / label`` through the real entry point, and the demo step."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from scan2ad.cli import main

pytest.importorskip("bpy")


@pytest.fixture(scope="module")
def box_file(tmp_path_factory, box_part):
    path = tmp_path_factory.mktemp("parts") / "box.ply"
    box_part.export(path)
    return path


def red_fraction(png: Path) -> float:
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return float(((img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)).mean())


def test_carve_review_label(box_file, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["carve", str(box_file), "--defect", "Dent", "--seed", "3", "--out", str(out),
                 "--points", "8000"]) == 0
    text = capsys.readouterr().out
    assert "Dent: centre" in text and "points anomalous" in text
    for name in ("cloud.ply", "labels.npy", "mesh.ply", "defects.json", "review.png"):
        assert (out / name).is_file(), name
    assert 0 < red_fraction(out / "review.png") < 0.05
    (out / "review.png").unlink()
    assert main(["review", str(tmp_path)]) == 0  # finds the sample folder below
    assert (out / "review.png").is_file()
    assert main(["label", str(out), "--screenshot", str(tmp_path / "label.png")]) == 0
    assert red_fraction(tmp_path / "label.png") > 0
    # the same spec file carves the same sample again
    again = tmp_path / "again"
    assert main(["carve", str(box_file), "--spec", str(out / "defects.json"), "--out", str(again),
                 "--points", "8000", "--no-review"]) == 0
    np.testing.assert_array_equal(np.load(again / "labels.npy"), np.load(out / "labels.npy"))


def test_carve_bad_input_exit_codes(box_file, tmp_path, capsys):
    assert main(["carve", str(tmp_path / "missing.ply"), "--defect", "Dent", "--out", str(tmp_path / "x")]) == 2
    assert "mesh file not found" in capsys.readouterr().err
    assert main(["carve", str(box_file), "--defect", "Smudge", "--out", str(tmp_path / "x")]) == 2
    assert "unknown defect type 'Smudge'" in capsys.readouterr().err
    assert main(["carve", str(box_file), "--out", str(tmp_path / "x")]) == 2
    assert main(["carve", str(box_file), "--defect", "Bump", "--radius", "9", "--out", str(tmp_path / "x"),
                 "--points", "4000"]) == 1
    assert "outside the accepted" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["review", str(tmp_path)]) == 2
    assert "no labelled sample" in capsys.readouterr().err


def test_demo_step_quick(tmp_path):
    from scan2ad.annotation.demo import run
    from scan2ad.demo import DemoContext

    t0 = time.perf_counter()
    summary = run(DemoContext(workdir=tmp_path, workers=1, quick=True))
    assert time.perf_counter() - t0 < 20
    assert "Dent" in summary and "% anomalous points" in summary
    assert (tmp_path / "annotation" / "sample_Dent" / "review.png").is_file()


def test_label_without_a_display_says_so(tmp_path, monkeypatch, capsys):
    from scan2ad.pointcloud import PointCloud, write_cloud

    write_cloud(tmp_path / "c.ply", PointCloud(np.random.default_rng(0).normal(size=(50, 3))))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["label", str(tmp_path / "c.ply")]) == 2
    assert "no display for the labeller window" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "c.ply"), "--screenshot", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").is_file()
