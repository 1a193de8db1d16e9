"""``scan2ad train / evaluate / benchmark`` end to end on a tiny dataset: the run folder holds
what DESIGN §3 lists, saved models reproduce the metrics, bad input exits 2 with a message."""

import csv
import json

import pytest

from scan2ad.cli import main
from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

FAST = ["--set", "groups=128", "--set", "group_size=16"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("ds"), SyntheticSpec(
        classes=("ring", "washer"), n_train=3, n_test_normal=3, n_per_defect=2, points=1024,
        defect_depth_mm=1.5))


def test_evaluate_open_set_writes_the_run_folder(tiny, tmp_path):
    out = tmp_path / "run"
    rc = main(["evaluate", str(tiny), "-o", str(out), "-m", "patchcore-fpfh", "--protocol", "open-set",
               "--known", "Bump", "-k", "1", "--seeds", "1-2", "--heatmaps", "1", *FAST])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["schema_version"] == 1 and m["seeds"] == [1, 2] and m["subsets"] == ["overall", "seen", "unseen"]
    assert set(m["per_class"]["unseen"]) == {"ring", "washer"}
    assert m["fps"] > 0 and m["parameters"] > 0 and m["peak_rss_mb"] > 0
    assert 0.0 <= m["mean"]["overall"]["O-AUROC"][0] <= 1.0
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert {r["class"] for r in rows} == {"ring", "washer", "Average"}
    table = (out / "table.md").read_text()
    assert "| **Average** |" in table and "## Unseen" in table and "±" in table
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"roc_object_ring.png", "pr_point_washer.png"} <= plots
    assert any(p.startswith("heatmap_ring") for p in plots)
    assert (out / "models" / "ring" / "seed2" / "model.pt").is_file()
    assert json.loads((out / "config.json").read_text())["settings"]["known"] == ["Bump"]


def test_train_then_evaluate_with_saved_models_gives_the_same_metrics(tiny, tmp_path):
    common = ["-m", "btf-fpfh", "--class", "ring", "--set", "feature_points=512"]
    assert main(["train", str(tiny), "-o", str(tmp_path / "t"), *common]) == 0
    assert main(["evaluate", str(tiny), "-o", str(tmp_path / "a"), "--no-plots", *common]) == 0
    assert main(["evaluate", str(tiny), "-o", str(tmp_path / "b"), "--no-plots", "--models",
                 str(tmp_path / "t"), *common]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["per_seed"] == b["per_seed"]


def test_benchmark_writes_one_table(tiny, tmp_path):
    out = tmp_path / "bench"
    rc = main(["benchmark", str(tiny), "-o", str(out), "--methods", "patchcore-fpfh,btf-fpfh",
               "--class", "ring", "--set", "feature_points=512"])
    assert rc == 0
    text = (out / "benchmark.md").read_text()
    assert "| patchcore-fpfh |" in text and "| btf-fpfh |" in text and "FPS" in text


@pytest.mark.parametrize("args, message", [
    (["evaluate", "NOPE", "-o", "x"], "dataset folder not found"),
    (["evaluate", "{ds}", "-o", "x", "-m", "no-such-method"], "unknown detector"),
    (["evaluate", "{ds}", "-o", "x", "--set", "groups"], "key=value"),
    (["evaluate", "{ds}", "-o", "x", "--set", "nonsense=1"], "unknown key"),
    (["evaluate", "{ds}", "-o", "x", "--protocol", "open-set", "--known", "Crack"], "do not occur"),
    (["evaluate", "{ds}", "-o", "x", "--seeds", "one"], "seeds"),
])
def test_bad_input_exits_2_with_a_message(tiny, tmp_path, capsys, args, message):
    args = [a.replace("{ds}", str(tiny)) for a in args]
    args[args.index("-o") + 1] = str(tmp_path / "x")
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_demo_step_trains_and_evaluates_quickly(tmp_path):
    from scan2ad.demo import DemoContext
    from scan2ad.detectors.demo import run

    ctx = DemoContext(workdir=tmp_path, workers=1, quick=True)
    summary = run(ctx)
    assert "O-AUROC" in summary and "samples/s" in summary
    assert (ctx.artefacts["detector_run"] / "table.md").is_file()
