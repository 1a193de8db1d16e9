"""Bad calibration input: a clear error naming the images, exit code 2, and no calibration.json."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from scan2ad.cli import main


@pytest.fixture()
def pairs(shared_data, tmp_path):
    src = shared_data / "opencv_stereo"
    d = tmp_path / "imgs"
    for cam, side in (("cam0", "left"), ("cam1", "right")):
        (d / cam).mkdir(parents=True)
        for p in sorted(src.glob(f"{side}*.jpg")):
            shutil.copy(p, d / cam / p.name.replace(side, ""))
    return d


def _calibrate(images, out, board="opencv_sample_9x6.toml", what="stereo"):
    return main(["calibrate", what, "--images", str(images), "--board", board, "--out", str(out)])


def test_too_few_detections(pairs, tmp_path, capsys):
    for p in sorted((pairs / "cam1").iterdir())[3:]:
        img = cv2.imread(str(p))
        cv2.imwrite(str(p), np.full_like(img, 128))  # the board is gone from these frames
    out = tmp_path / "calibration.json"
    assert _calibrate(pairs, out) == 2
    err = capsys.readouterr().err
    assert "cam1" in err and "found in 3 of 13 images (need 4)" in err and "05.jpg" in err
    assert not out.exists() and not list(tmp_path.glob("*.json*"))


def test_inconsistent_image_sizes(pairs, tmp_path, capsys):
    p = pairs / "cam0" / "07.jpg"
    cv2.imwrite(str(p), cv2.resize(cv2.imread(str(p)), (800, 600)))
    out = tmp_path / "calibration.json"
    assert _calibrate(pairs, out, what="cameras") == 2
    err = capsys.readouterr().err
    assert "differ in size" in err and "07.jpg 800x600" in err and "640x480" in err
    assert not out.exists()


def test_board_file_that_does_not_match_the_images(pairs, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    assert _calibrate(pairs, out, board="chessboard_11x8_6mm.toml") == 2
    err = capsys.readouterr().err
    assert (
        "found in 0 of 13 images" in err and "does the board file match" in err and "01.jpg" in err
    )
    assert not out.exists()


def test_missing_or_broken_inputs(pairs, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    assert _calibrate(tmp_path / "nowhere", out) == 2
    assert "image folder not found" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('type = "chessboard"\ncols = 9\nrows = 6\nsquare_mm = 1.0\nsquares = 3\n')
    assert _calibrate(pairs, out, board=str(bad)) == 2
    assert "squares" in capsys.readouterr().err
    (pairs / "cam0" / "03.jpg").write_bytes(b"not a jpeg")
    assert _calibrate(pairs, out) == 2
    assert "03.jpg: not an image" in capsys.readouterr().err
    assert not out.exists()


def test_turntable_inputs(pairs, tmp_path, capsys):
    import json

    cams = tmp_path / "cams.json"
    assert _calibrate(pairs, cams, what="cameras") == 0
    out = tmp_path / "calibration.json"
    args = [
        "calibrate",
        "turntable",
        "--images",
        str(pairs),
        "--board",
        "opencv_sample_9x6.toml",
        "--turntable",
        "cam0/*",
        "--out",
        str(out),
    ]
    assert main(args) == 2  # no --calibration
    assert main([*args, "--calibration", str(cams)]) == 2
    assert "need angles.json" in capsys.readouterr().err
    (pairs / "angles.json").write_text(json.dumps({"angles_deg": {"01": 0.0, "02": 3.0}}))
    assert main([*args, "--calibration", str(cams)]) == 2
    assert "gives no angle for 03.jpg" in capsys.readouterr().err
    names = sorted(p.stem for p in (pairs / "cam0").iterdir())
    (pairs / "angles.json").write_text(
        json.dumps({"angles_deg": {n: 0.5 * i for i, n in enumerate(names)}})
    )
    assert main([*args, "--calibration", str(cams)]) == 2  # 6° of table motion: no axis
    assert "span less than 10" in capsys.readouterr().err
    assert not out.exists()
