"""benchmarks/fidelity.py's standard error of the mean difference ours - theirs: the weighted
Mann-Whitney AUROC the bootstrap uses against scikit-learn, and the bootstrap on hand-made sides."""


import numpy as np
import pytest
from helpers.scripts import load_benchmark
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope="module")
def fid():
    return load_benchmark("fidelity")


def test_weighted_auroc_matches_sklearn_with_ties_and_multiplicities(fid):
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 200).astype(np.float64)        # many ties
    y = (rng.random(200) < 0.3).astype(np.float64)
    bins, n = fid._ranked([scores])
    assert fid._weighted_auroc(bins, y, np.ones(200), n) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    w = rng.integers(0, 4, 200).astype(np.float64)             # a bootstrap draw's multiplicities
    rep = np.repeat(np.arange(200), w.astype(int))
    assert fid._weighted_auroc(bins, y, w, n) == pytest.approx(roc_auc_score(y[rep], scores[rep]), abs=1e-12)


def _side(rng, labels, signal):
    out = {}
    for i, lab in enumerate(labels):
        pl = np.zeros(50, np.int64)
        if lab:
            pl[:5] = 1
        pts = rng.random(50) + signal * pl
        out[f"s{i:02d}"] = (float(rng.random() + signal * lab), pts, pl, int(lab))
    return out


def test_difference_se(fid):
    rng = np.random.default_rng(0)
    labels = [0] * 6 + [1] * 19                                 # the demo's test set per class
    chance = [_side(rng, labels, 0.0) for _ in range(3)]
    # the same scores on both sides: every difference and its SE are exactly 0
    same = fid.difference_se([(c, c) for c in chance], reps=50)
    assert same["dO"] == same["dP"] == same["se_boot_O"] == same["se_boot_P"] == 0.0
    # two independent chance scorers on 3 rows of 6 + 19 clouds: the mean difference's SE is
    # about sqrt(2 / 3) x 14 points (0.14: sqrt((n0 + n1 + 1) / (12 n0 n1)) for one AUROC)
    other = [_side(rng, labels, 0.0) for _ in range(3)]
    s = fid.difference_se(list(zip(chance, other)), reps=300)
    assert 0.05 < s["se_boot_O"] < 0.2
    assert 0.05 < s["se_ours_O"] < 0.15 and 0.05 < s["se_theirs_O"] < 0.15
    # a perfect scorer against chance: ours is 1.0 on every draw, so the difference is theirs' spread
    perfect = [_side(rng, labels, 2.0) for _ in range(3)]
    p = fid.difference_se(list(zip(perfect, chance)), reps=100)
    assert p["O_ours"] == 1.0 and p["se_ours_O"] == 0.0
    assert p["se_boot_O"] == pytest.approx(p["se_theirs_O"])
