"""benchmarks/paper_tables.py: the paper's numbers against the seed text, the table arithmetic on
hand-made numbers, settings refused where they enter, and an end-to-end run on a tiny dataset
(cheap rows, k = 1, two seeds) that resumes only what is missing."""

import json
import math
import re
import shutil

import numpy as np
import pytest
from helpers.scripts import load_benchmark

from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

SMALL = ["--set", "groups=512", "--set", "group_size=32", "--set", "support_size=300"]


@pytest.fixture(scope="module")
def pt():
    return load_benchmark("paper_tables")


@pytest.fixture(scope="module")
def seed_text(pt):
    if not pt.SEED_PATH.is_file():
        pytest.skip(f"{pt.SEED_PATH} is absent")
    return pt.SEED_PATH.read_text(encoding="utf-8")


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def test_tables_ii_and_iii_match_the_seed_cell_by_cell(pt, seed_text):
    tables = pt.paper_tables()
    for name, start, end in (("II", "TABLE II:", "TABLE III:"), ("III", "TABLE III:", "TABLE IV:")):
        lines = [ln for ln in _section(seed_text, start, end).splitlines() if "±" in ln]
        assert len(lines) == 16  # 15 classes + Average
        t = tables[name]
        for ln in lines:
            label = ln[:re.search(r"\d+\.\d+±", ln).start()].strip()
            cls = "Average" if label == "Average" else pt.class_key(label)
            cells = [(float(a), float(b)) for a, b in re.findall(r"(\d+\.\d+)±(\d+\.\d+)", ln)]
            ours = [t.paper[(row, k, t.metrics[0])][cls] for k in (5, 10) for row in pt.II_III_ROWS]
            assert ours == cells, f"Table {name}, {label}"
    assert tables["II"].paper[("Ours", 5, "O-AUROC")]["Average"] == (84.39, 0.44)
    assert tables["III"].paper[("DRA_pm", 10, "P-AUROC")]["s_hook"] == (59.02, 2.94)


def test_tables_vi_vii_viii_match_the_seed(pt, seed_text):
    vi = _section(seed_text, "TABLE VI:", "C. Subsampling")
    # two blocks of five columns each: O-AUROC, P-AUROC, O-AUPRC, P-AUPRC lines
    blocks = {m: [] for m in ("O-AUROC", "P-AUROC", "O-AUPRC", "P-AUPRC")}
    for ln in vi.splitlines():
        head = ln.split(" ")[0]
        if head in blocks:
            blocks[head] += [float(x) for x in ln.split()[1:]]
    for i, m in enumerate(blocks):
        assert [v[i] for v in pt.TABLE_VI.values()] == blocks[m], m
    vii = _section(seed_text, "TABLE VII:", "D. Ablation")
    for label, (o, p, fps) in pt.TABLE_VII.items():
        ln = next(x for x in vii.splitlines() if x.startswith(label + " "))
        assert f"{o[0]:.2f}±{o[1]:.2f} {p[0]:.2f}±{p[1]:.2f} {fps}" in ln, label
    viii = _section(seed_text, "TABLE VIII:", "space during training")
    for label, (o, p) in pt.TABLE_VIII.items():
        assert f"{label} {o[0]:.2f}±{o[1]:.2f} {p[0]:.2f}±{p[1]:.2f}" in viii, label


def test_seed_aggregation_rank_correlation_and_difference_by_hand(pt):
    per_class, avg = pt.summarise_seeds({1: {"a": 80.0, "b": 60.0}, 2: {"a": 90.0, "b": 70.0}})
    assert per_class == {"a": (85.0, 5.0), "b": (65.0, 5.0)}
    assert avg == (75.0, 5.0)  # class means 70 and 80, then mean ± population std over seeds
    _, avg = pt.summarise_seeds({1: {"a": 80.0, "b": None}, 2: {"a": 90.0, "b": 60.0}})
    assert avg == (77.5, 2.5)  # an undefined metric is skipped: seed 1's mean is 80, seed 2's 75
    # ranks (1,2,3) vs (2,3,1): 1 - 6 * (1 + 1 + 4) / (3 * 8) = -0.5
    assert pt.spearman([(1.0, 2.0), (2.0, 3.0), (3.0, 1.0)]) == pytest.approx(-0.5)
    assert pt.spearman([(1.0, 10.0), (2.0, 20.0), (3.0, 30.0), (4.0, math.nan)]) == pytest.approx(1.0)
    assert math.isnan(pt.spearman([(1.0, 2.0), (2.0, 3.0)]))  # under three pairs
    assert pt.mean_abs_diff([(1.0, 2.0), (3.0, 1.0), (5.0, math.nan)]) == pytest.approx(1.5)

    C = pt.Cell
    cells = [C("II", 5, 1, "O-AUROC", "Ours", "open3d-ad", "Average", (84.39, 0.44), (86.0, 1.0)),
             C("II", 5, 1, "O-AUROC", "DRA_pm", "dra-pm", "Average", (64.24, 2.21), (70.0, 1.0)),
             C("II", 5, 1, "O-AUROC", "Ours", "open3d-ad", "x", (80.0, 1.0), (82.0, 1.0)),
             C("II", 5, 1, "O-AUROC", "DRA_pm", "dra-pm", "x", (60.0, 1.0), (66.0, 1.0)),
             C("VI", None, None, "O-AUROC", "BTF Raw", "btf-raw", "Average", (93.15, None), (60.0, 0.0)),
             C("VIII", 5, 1, "O-AUROC", "M6", "open3d-ad-m6", "Average", (83.08, 0.59), (80.0, 1.0)),
             C("VIII", 5, 1, "O-AUROC", "M9", "open3d-ad", "Average", (84.39, 0.44), (82.0, 1.0))]
    stats = pt.table_stats(cells)
    assert stats[("II", 5, "O-AUROC")]["mad"] == pytest.approx(4.0)  # classes only: |80-82|, |60-66|
    assert stats[("II", 5, "O-AUROC")]["mad_over"] == "classes"
    acc = pt.acceptance(cells)
    assert acc["open3d_ad_O-AUROC"]["diff"] == pytest.approx(1.61) and acc["open3d_ad_O-AUROC"]["within_5"]
    # II+VI rows: the paper ranks BTF > Ours > DRA, ours Ours > DRA > BTF: rho = -0.5 as above
    assert acc["spearman_II_VI_O-AUROC"]["rho"] == pytest.approx(-0.5)
    g = acc["m6_m9_gain_O-AUROC"]
    assert g["paper"] == pytest.approx(1.31) and g["ours"] == pytest.approx(2.0)
    assert g["same_sign"] and g["same_size"]  # 2.0 / 1.31 is within a factor of two
    assert g["pairs"] == 0  # cells without their runs: no paired figure


def test_m6_m9_gain_has_a_paired_standard_error(pt):
    C = pt.Cell
    m6 = [("a", 1, 80.0), ("a", 2, 82.0), ("b", 1, 70.0), ("b", 2, 71.0), ("c", 1, 60.0)]
    m9 = [("a", 1, 80.5), ("a", 2, 82.1), ("b", 1, 70.9), ("b", 2, 71.3), ("d", 1, 99.0)]
    cells = [C("VIII", 5, 5, "O-AUROC", "M6", "open3d-ad-m6", "Average", (83.08, 0.59), (75.0, 1.0), 2, tuple(m6)),
             C("VIII", 5, 5, "O-AUROC", "M9", "open3d-ad", "Average", (84.39, 0.44), (75.5, 1.0), 2, tuple(m9))]
    g = pt.acceptance(cells)["m6_m9_gain_O-AUROC"]
    d = [0.5, 0.1, 0.9, 0.3]  # the four (class, seed) runs both rows have; c and d are unpaired
    se = float(np.std(d, ddof=1) / 2.0)
    assert g["pairs"] == 4 and g["paired_mean"] == pytest.approx(0.45) and g["se"] == pytest.approx(se)
    assert not g["paper_within_2se"]  # 1.31 - 0.45 = 0.86 > 2 x 0.17
    assert "common_seeds" not in g and g["ours"] == pytest.approx(0.5)  # no seed ran every class in both
    assert not g["same_size"]  # 0.5 / 1.31 < 0.5
    # M6 a seed further on than M9: the gain is taken over the seeds both ran in full
    m6 = [("a", 1, 80.0), ("b", 1, 70.0), ("a", 2, 82.0), ("b", 2, 71.0), ("a", 3, 90.0), ("b", 3, 90.0)]
    m9 = [("a", 1, 81.0), ("b", 1, 71.0), ("a", 2, 83.0), ("b", 2, 72.0), ("a", 3, 91.0)]
    cells = [C("VIII", 5, 5, "O-AUROC", "M6", "open3d-ad-m6", "Average", (83.08, 0.59), (80.5, 1.0), 3, tuple(m6)),
             C("VIII", 5, 5, "O-AUROC", "M9", "open3d-ad", "Average", (84.39, 0.44), (76.75, 1.0), 2, tuple(m9))]
    g = pt.acceptance(cells)["m6_m9_gain_O-AUROC"]
    assert g["common_seeds"] == 2 and g["ours"] == pytest.approx(1.0) and g["same_size"]
    assert g["pairs"] == 5 and g["se"] == pytest.approx(0.0) and not g["paper_within_2se"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("ds"), SyntheticSpec(
        classes=("ring",), n_train=3, n_test_normal=3, n_per_defect=2, points=2048, defect_depth_mm=1.5))


@pytest.mark.parametrize("args, says", [
    (["--tables", "II,IX"], "unknown table"),
    (["--k", "0"], "--k"),
    (["--k", "1", "2", "3"], "--k"),
    (["--seeds", "3-1"], "--seeds"),
    (["--methods", "no-such"], "unknown detector"),
    (["--tables", "VI", "--methods", "open3d-ad"], "have no row"),
    (["--tables", "VI", "--methods", "btf-raw", "--set", "no_such_key=1"], "no setting"),
    (["--tables", "VI", "--methods", "btf-raw", "--set", "m3dm:layers=[1]"], "not among the methods"),
    (["--classes", "nope"], "not in the dataset"),
    (["--tables", "VI", "--methods", "btf-raw", "--set", "bank_size=-1"], "bank_size"),
    (["--feature-cache-gb", "nan"], "--feature-cache-gb"),
    (["--workers", "0"], "--workers"),
])
def test_bad_settings_are_refused_with_a_clear_message(pt, tiny, tmp_path, capsys, args, says):
    assert pt.main([str(tiny), "--runs", str(tmp_path / "r"), *args]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_dataset_is_refused(pt, tmp_path, capsys):
    assert pt.main([str(tmp_path / "none"), "--runs", str(tmp_path / "r")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_end_to_end_on_a_tiny_dataset_resumes_only_what_is_missing(pt, tiny, tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = [str(tiny), "--runs", str(runs), "--tables", "II,VI,VIII", "--k", "1", "--seeds", "1-2",
            "--methods", "patchcore-fpfh,open3d-ad,open3d-ad-m6,open3d-ad-m9", *SMALL]
    assert pt.main(argv) == 0
    out = capsys.readouterr().out
    # II's Ours and VIII's M9 are one detector (open3d-ad): 3 methods x 2 seeds x 1 class
    assert "6 runs needed: 0 finished" in out
    assert "## Table II: Object-AUROC, open-set, paper k = 5 (ours k = 1)" in out
    assert "| ring |" in out and "| Average |" not in out  # the class row; the Average row is bold
    for name in ("paper_tables.md", "paper_tables.csv", "paper_tables.json", "paper_tables.png"):
        assert (runs / name).is_file(), name
    assert {p.name.split("@")[0] for p in (runs / "runs" / "open-set-k1").iterdir()} == {"open3d-ad", "open3d-ad-m6"}
    rows = list(__import__("csv").DictReader((runs / "paper_tables.csv").open()))
    m9 = next(r for r in rows if r["table"] == "VIII" and r["paper_row"] == "M9" and r["metric"] == "O-AUROC")
    ours = next(r for r in rows if r["table"] == "II" and r["paper_row"] == "Ours" and r["class"] == "Average")
    assert m9["method"] == "open3d-ad" and m9["ours_mean"] == ours["ours_mean"] != ""
    assert m9["paper_mean"] == "84.3900" and m9["seeds"] == "2"
    pc = next(r for r in rows if r["paper_row"] == "PatchCore FPFH" and r["metric"] == "P-AUROC")
    assert 50.0 < float(pc["ours_mean"]) <= 100.0  # easy dents: clearly above chance
    summary = json.loads((runs / "paper_tables.json").read_text())
    assert {"open3d_ad_O-AUROC", "m6_m9_gain_O-AUROC"} <= set(summary["acceptance"])
    assert summary["speed"] and all(r["fps"] > 0 for r in summary["speed"])
    # the runs share RUNDIR/feature-cache: M6 scores the clouds open3d-ad featurised before it
    assert "feature cache" in out and any((runs / "feature-cache").glob("*/*.npz"))
    m6 = json.loads(next((runs / "runs" / "open-set-k1").glob("open3d-ad-m6*/seed1/ring/metrics.json")).read_text())
    assert m6["feature_cache"]["score_misses"] == 0 and m6["feature_cache"]["score_hits"] > 0

    # a killed run: two run folders missing -> only those run again (in two worker processes),
    # to the same cells
    metrics = sorted((runs / "runs").rglob("metrics.json"))
    assert len(metrics) == 6
    victims = [next((runs / "runs" / "one-class").rglob("seed2")) / "ring",
               next((runs / "runs" / "open-set-k1").glob("open3d-ad-m6*")) / "seed1" / "ring"]
    keep = {p: p.stat().st_mtime_ns for p in metrics if not any(v in p.parents for v in victims)}
    for v in victims:
        shutil.rmtree(v)
    assert pt.main([*argv, "--workers", "2"]) == 0
    assert "6 runs needed: 4 finished" in capsys.readouterr().out
    assert all((v / "metrics.json").is_file() for v in victims)
    assert all(p.stat().st_mtime_ns == t for p, t in keep.items())
    assert list(__import__("csv").DictReader((runs / "paper_tables.csv").open())) == rows

    assert pt.main([*argv, "--report-only"]) == 0
    assert "6 runs needed: 6 finished" in capsys.readouterr().out
