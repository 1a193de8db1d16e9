"""benchmarks/fidelity.py's official-run branch for the Real3D-AD family (patchcore-fpfh+raw,
reg3d-ad, m3dm), end to end on a tiny dataset without the authors' code: a stand-in checkout
reads the Real3D-AD export the way their loader does (``dataset_pc.py``: ``*template*.pcd``
training clouds, ``test/*.pcd`` without ``temp``, anomalies from ``gt/<stem>.txt``), scores it
with a known rule and writes the per-sample dump the FIDELITY edits write. The table must show
exactly that rule's AUROC on the partition's test samples, ours must run on the same samples,
the script must get the arguments of ``REAL3D_SCRIPTS``, and a second call must not rerun it."""

import json
import sys

import numpy as np
import pytest
from helpers.scripts import load_benchmark
from sklearn.metrics import roc_auc_score

from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

# a stand-in for one of M-3LAB/Real3D-AD's main_*.py after the FIDELITY edits: point score =
# distance to the nearest training point (a plain one-class rule), object score = the maximum
STAND_IN = r'''
import glob, json, os, sys
import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

root, dump = os.environ["FID_ROOT"], os.environ["FID_DUMP_DIR"]
calls = os.path.join(dump, "calls.json")
seen = json.load(open(calls)) if os.path.isfile(calls) else []
json.dump(seen + [{"script": os.path.basename(sys.argv[0]), "argv": sys.argv[1:]}], open(calls, "w"))
def read(p):
    return np.asarray(o3d.io.read_point_cloud(p).points)
for cls in os.environ["FID_CLASSES"].split(","):
    train = glob.glob(os.path.join(root, cls, "train") + "/*template*.pcd")
    tree = cKDTree(np.concatenate([read(p) - read(p).mean(0) for p in train]))
    test = [p for p in glob.glob(os.path.join(root, cls, "test") + "/*.pcd") if "temp" not in p]
    paths, obj, labels, pts = [], [], [], []
    for p in test:
        if "good" in p:
            xyz, lab = read(p), 0
        else:
            g = np.genfromtxt(os.path.join(root, cls, "gt", os.path.splitext(os.path.basename(p))[0] + ".txt"),
                              delimiter=" ")
            xyz, lab = g[:, :3], 1
        d = tree.query(xyz - xyz.mean(0))[0]
        paths.append(p); obj.append(float(d.max())); labels.append(lab); pts.append(d)
    np.savez(os.path.join(dump, cls + ".npz"), paths=np.asarray(paths), object=np.asarray(obj),
             labels=np.asarray(labels), **{f"points_{i}": x for i, x in enumerate(pts)})
    print("FIDRESULT " + json.dumps({"class": cls, "O": 0.5, "P": 0.5}), flush=True)
'''

TINY_PM = "random:trans_dim=96,depth=0,num_heads=3,encoder_dims=96,seed=0"
TINY_DEEP = "random:trans_dim=96,depth=2,num_heads=3,encoder_dims=96,seed=0"
OURS = {"m3dm": {"encoder": TINY_DEEP, "feature_points": 1024, "groups": 64, "group_size": 32},
        "reg3d-ad": {"encoder": TINY_PM, "feature_points": 1024, "groups": 64, "group_size": 32,
                     "memory_size": 500},
        "patchcore-fpfh+raw": {"feature_points": 1024, "groups": 64, "group_size": 32}}


@pytest.fixture(scope="module")
def fid():
    return load_benchmark("fidelity")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("fid"), SyntheticSpec(
        classes=("ring",), n_train=3, n_test_normal=3, n_per_defect=2, points=1536, defect_depth_mm=2.0))


# the three differ only in the script and its arguments: m3dm (the newest entry) by default
@pytest.mark.parametrize("method", ["m3dm", pytest.param("reg3d-ad", marks=pytest.mark.slow),
                                    pytest.param("patchcore-fpfh+raw", marks=pytest.mark.slow)])
def test_official_branch_end_to_end(method, fid, dataset, tmp_path, capsys, monkeypatch):
    from scan2ad.detectors import data as D

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    script = fid.REAL3D_SCRIPTS[method][0]
    (checkout / script).write_text(STAND_IN)
    work = tmp_path / "work"
    argv = [str(dataset), "--seeds", "1", "2", "--k", "1", "--known", "Bump", "--methods", method,
            "--official", f"{method}={checkout}", "--official-python", f"{method}={sys.executable}",
            "--ours", f"{method}={json.dumps(OURS[method])}", "--ours-once", method, "--work", str(work),
            "--feature-cache", str(tmp_path / "cache")]
    fid.main(argv)
    out = capsys.readouterr().out
    calls = json.loads((work / method / "all" / "calls.json").read_text())
    assert calls == [{"script": script, "argv": fid.REAL3D_SCRIPTS[method][1]}]   # one run serves both seeds

    samples = D.load_dataset(dataset, None)
    dump = fid.load_official_dump(work / method / "all" / "ring.npz", work / "export-real3d-ad-all")
    assert set(dump) == {s.relpath for s in samples if s.split == "test"}
    rows = [ln.split("|") for ln in out.splitlines() if ln.startswith("| ring | ")]
    assert [r[2].strip() for r in rows] == ["1", "2"]
    for row, seed in zip(rows, (1, 2)):
        test = fid.partition(dataset, samples, "ring", ("Bump",), 1, seed).test
        assert len(test) == len(dump) - 1                                  # the seen Bump left out
        o = roc_auc_score([s.label for s in test], [dump[s.relpath][0] for s in test])
        p = roc_auc_score(np.concatenate([load_labels(s) for s in test]),
                          np.concatenate([dump[s.relpath][1] for s in test]))
        assert float(row[4]) == pytest.approx(100 * o, abs=0.051)          # O theirs
        assert float(row[7]) == pytest.approx(100 * p, abs=0.051)          # P theirs
        assert 0 <= float(row[3]) <= 100 and 0 <= float(row[6]) <= 100   # ours ran on the same samples

    fid.main(argv)                                                         # both sides cached: no rerun
    assert json.loads((work / method / "all" / "calls.json").read_text()) == calls
    ours_dirs = sorted(work.glob(f"ours-{method}-*"))
    assert len(ours_dirs) == 1 and not list(work.rglob("*.tmp*"))          # written whole, by rename

    # other detector code (a fixed method) must not be served the old run's scores
    monkeypatch.setattr(fid, "detector_code_fingerprint", lambda: "0" * 16)
    fid.main(argv)
    assert len(sorted(work.glob(f"ours-{method}-*"))) == 2


def load_labels(sample):
    from scan2ad.datasets.samples import load_sample

    return load_sample(sample).labels


def test_a_dump_missing_a_sample_is_refused(fid):
    ours = {"a": (1.0, np.zeros(3), np.zeros(3), 0), "b": (2.0, np.ones(3), np.array([0, 1, 1]), 1)}
    with pytest.raises(SystemExit, match="different samples"):
        fid.compare(ours, {"a": ours["a"]})
