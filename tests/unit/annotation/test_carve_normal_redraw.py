"""``scan2ad carve --normal`` (a defect-free sample of a mesh) and carve's redraw of a defect whose
anomaly ratio misses the accepted range (as the dataset builder redraws)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scan2ad.cli import main

pytest.importorskip("bpy")


@pytest.fixture(scope="module")
def box_file(tmp_path_factory, box_part):
    path = tmp_path_factory.mktemp("parts") / "box.ply"
    box_part.export(path)
    return path


def test_normal_sample(box_file, tmp_path, capsys):
    from scan2ad.annotation.review import load_labelled

    out = tmp_path / "good"
    assert main(["carve", str(box_file), "--normal", "--seed", "2", "--points", "3000", "--out", str(out),
                 "--no-review"]) == 0
    assert "normal sample: 3000 points, none anomalous" in capsys.readouterr().out
    pts, labels, _ = load_labelled(out)
    assert len(pts) == 3000 and not labels.any()
    # on the part's surface (the box's faces), spread over all of it
    assert np.allclose(np.abs(pts).max(0), [15, 10, 4], atol=1e-6)
    doc = json.loads((out / "defects.json").read_text())
    assert doc["defects"] == [] and doc["normal"] is True and doc["seed"] == 2
    assert (out / "mesh.ply").is_file()
    # the same seed gives the same points (a carve of the same seed samples alike)
    assert main(["carve", str(box_file), "--normal", "--seed", "2", "--points", "3000", "--out",
                 str(tmp_path / "again"), "--no-review"]) == 0
    np.testing.assert_array_equal(load_labelled(tmp_path / "again")[0], pts)
    assert main(["carve", str(box_file), "--normal", "--defect", "Dent", "--out", str(tmp_path / "x")]) == 2
    assert "--normal writes a sample without defects: drop --defect" in capsys.readouterr().err


def test_carve_redraws_a_ratio_outside_the_range(box_file, tmp_path, capsys):
    # with this range the seeds 0..2 label 0.73%, 0.57%, 0.33% (below 0.75%), seed 3 0.80%
    out = tmp_path / "s"
    args = ["carve", str(box_file), "--defect", "Dent", "--seed", "0", "--points", "4000", "--no-review"]
    assert main(args + ["--ratio-range", "0.0075", "0.012", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "redrawn, kept seed 3" in text
    doc = json.loads((out / "defects.json").read_text())
    assert doc["seed"] == 3 and 0.0075 <= doc["anomaly_ratio"] <= 0.012
    # the recorded defects.json reproduces the kept draw
    assert main(["carve", str(box_file), "--spec", str(out / "defects.json"), "--points", "4000",
                 "--ratio-range", "0.0075", "0.012", "--no-review", "--out", str(tmp_path / "re")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "re" / "labels.npy"), np.load(out / "labels.npy"))
    # no draw in range: one clear error naming the range and every measured ratio
    assert main(args + ["--ratio-range", "0.0095", "0.012", "--draws", "3", "--out", str(tmp_path / "no")]) != 0
    err = capsys.readouterr().err
    assert "each of 3 draw(s) labels an anomaly ratio outside the accepted 0.95–1.20%" in err
    assert "seed 0: 0.73%; seed 1: 0.57%; seed 2: 0.33%" in err
    assert not (tmp_path / "no" / "defects.json").exists()
