"""Metrics against hand-computed values (DESIGN §6: per-class pooled point metrics, unweighted
class means, population std over seeds)."""

import math

import numpy as np
import pytest

from scan2ad.detectors.metrics import (
    class_mean,
    class_metrics,
    fmt,
    mean_std,
    min_max,
    object_metrics,
    point_metrics,
)


def test_object_metrics_hand_computed():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered -> 0.75
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = 0.5 * 1 + 0.5 * 2/3
    m = object_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["O-AUROC"] == pytest.approx(0.75)
    assert m["O-AUPR"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_point_metrics_pool_the_class_and_do_not_normalise_per_sample():
    # pooled: scores 0, 1 | 5, 6 with the single positive at 1 -> it beats 1 of 3 negatives
    m = point_metrics([np.array([0, 1]), np.array([0, 0])], [np.array([0.0, 1.0]), np.array([5.0, 6.0])])
    assert m["P-AUROC"] == pytest.approx(1 / 3)
    # precision at the positive's rank: 1 positive among the top 3 -> AP = 1/3
    assert m["P-AUPR"] == pytest.approx(1 / 3)
    # per-sample normalisation would have given a different answer: the test can fail
    per_sample = point_metrics([np.array([0, 1]), np.array([0, 0])],
                               [min_max(np.array([0.0, 1.0])), min_max(np.array([5.0, 6.0]))])
    assert per_sample["P-AUROC"] != pytest.approx(1 / 3)


def test_min_max_and_constant_scores():
    assert np.allclose(min_max(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert np.allclose(min_max(np.array([7.0, 7.0])), [0.0, 0.0])


def test_undefined_metrics_are_nan_and_skipped_in_means():
    m = object_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(m["O-AUROC"]) and math.isnan(m["O-AUPR"])
    per_class = {"a": {"O-AUROC": 0.5, "O-AUPR": 0.4, "P-AUROC": math.nan, "P-AUPR": 0.2},
                 "b": {"O-AUROC": 1.0, "O-AUPR": 0.8, "P-AUROC": 0.9, "P-AUPR": 0.4}}
    mean = class_mean(per_class)
    assert mean["O-AUROC"] == pytest.approx(0.75)   # unweighted over classes
    assert mean["P-AUROC"] == pytest.approx(0.9)    # NaN skipped


def test_class_metrics_combines_both_levels():
    m = class_metrics([0, 1], [0.2, 0.9], [np.zeros(3), np.array([0, 1, 1])],
                      [np.array([0.1, 0.2, 0.1]), np.array([0.1, 0.8, 0.7])])
    assert m == {"O-AUROC": 1.0, "O-AUPR": 1.0, "P-AUROC": 1.0, "P-AUPR": 1.0}


def test_mean_std_is_population_std_and_formatting():
    mu, sd = mean_std([0.8, 0.9])
    assert mu == pytest.approx(0.85) and sd == pytest.approx(0.05)
    assert fmt(0.84391, 0.00441) == "84.39±0.44"
    assert fmt(math.nan, 0.0) == "n/a"


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="labels but"):
        object_metrics([0, 1, 1], [0.1, 0.2])


def test_run_summary_is_the_mean_and_std_over_seeds_of_unweighted_class_means():
    """evaluate's metrics.json / table.md from known per-seed values, computed by hand."""
    from scan2ad.detectors.evaluate import EvalSettings, summarise, table_markdown

    def ms(o, p):
        return {"O-AUROC": o, "O-AUPR": o, "P-AUROC": p, "P-AUPR": p}

    per_seed = {1: {"overall": {"a": ms(0.6, 0.9), "b": ms(1.0, 0.7)}},
                2: {"overall": {"a": ms(0.8, 0.9), "b": ms(1.0, math.nan)}}}
    speed = {"fps": [2.0, 4.0], "cpu_s": [0.5, 0.25], "fit_s": [1.0, 3.0], "parameters": 7,
             "points_per_sample": [100.0, 100.0]}
    out = summarise(EvalSettings(seeds=(1, 2)), per_seed, speed, ["a", "b"])
    assert out["per_class"]["overall"]["a"]["O-AUROC"] == pytest.approx([0.7, 0.1])
    # class means per seed: 0.8 and 0.9 -> 0.85 ± 0.05; P: 0.8 and 0.9 (NaN class skipped)
    assert out["mean"]["overall"]["O-AUROC"] == pytest.approx([0.85, 0.05])
    assert out["mean"]["overall"]["P-AUROC"] == pytest.approx([0.85, 0.05])
    assert out["per_class"]["overall"]["b"]["P-AUROC"] == pytest.approx([0.7, 0.0])
    assert out["fps"] == pytest.approx(3.0) and out["parameters"] == 7
    table = table_markdown(out)
    assert "| a | 70.00±10.00 |" in table and "| **Average** | 85.00±5.00 |" in table


def test_peak_memory_is_measured_from_the_start_of_the_run():
    from scan2ad.detectors.evaluate import peak_rss_mb, reset_peak_rss

    big = np.ones(40_000_000)  # 320 MB resident
    big[::512] = 2.0
    before = peak_rss_mb()
    del big
    if not reset_peak_rss():
        pytest.skip("this kernel cannot reset the peak-RSS mark")
    assert peak_rss_mb() < before - 250
