"""Build the tiny spec, then check packaging, splits, validation and the CLI on it."""

import json
import shutil

import pytest

from scan2ad.cli import main
from scan2ad.datasets.builder import build
from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.datasets.spec import load_spec
from scan2ad.datasets.splits import load_split
from scan2ad.datasets.validate import validate_dataset
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "tiny"
    spec = load_spec("tiny")
    build(spec, out, workers=1)
    return out, spec


def test_build_is_complete_and_valid(tiny):
    out, spec = tiny
    assert validate_dataset(out) == []
    samples = read_open_industry(out)
    n_cls = spec.n_train + spec.n_test_normal + len(spec.defects) * spec.n_per_defect
    assert len(samples) == len(spec.classes) * n_cls
    man = json.loads((out / "manifest.json").read_text())
    assert len(man["samples"]) == len(samples) and man["schema_version"] == 1
    for rec in man["samples"]:
        s = next(x for x in samples if x.relpath == rec["relpath"])
        c = load_sample(s)
        assert rec["points"] == len(c) and rec["anomaly_points"] == int(c.labels.sum())
        if s.defect_type != NORMAL:
            assert 0 < rec["anomaly_ratio"] < 0.2, rec
            assert rec["provenance"]["defects"][0]["type"] == s.defect_type
    stats = (out / "stats.csv").read_text().splitlines()
    assert stats[0].startswith("class,normal_samples,normal_points_avg_k") and stats[-1].startswith("Mean,")
    assert "Open-set protocol" in (out / "README.md").read_text()


def test_load_split_partitions_the_class(tiny):
    out, spec = tiny
    sp = load_split(out, "ring", "Bump", k=1, seed=1)
    assert [s.defect_type for s in sp.train_anomalies] == ["Bump"]
    assert {s.defect_type for s in sp.test_seen} == {"Bump"} and len(sp.test_seen) == spec.n_per_defect - 1
    assert {s.defect_type for s in sp.test_unseen} == set(spec.defects) - {"Bump"}
    assert len(sp.test_normal) == spec.n_test_normal and len(sp.train_normal) == spec.n_train
    assert not {s.relpath for s in sp.train_anomalies} & {s.relpath for s in sp.test}
    other = load_split(out, "ring", "Bump", k=1, seed=2)
    doc = json.loads((out / "splits/ring/known-Bump_k1_seed1.json").read_text())
    assert set(doc) >= {"seed", "k", "known_defects", "selected_relpaths"}
    assert other.seed == 2
    with pytest.raises(InputError, match="no split file"):
        load_split(out, "ring", "Bump", k=7, seed=1)


def test_validate_lists_every_problem(tiny, tmp_path):
    out, _ = tiny
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    gt = bad / "ring/gt/ring_Bump_001.txt"
    rows = gt.read_text().splitlines()
    gt.write_text("\n".join(rows[:-1]) + "\n")                               # count differs
    g2 = bad / "ring/gt/ring_Dent_001.txt"
    g2.write_text(g2.read_text().replace(" 0\n", " 2\n", 1))                 # label 2
    g3 = bad / "washer/gt/washer_Scar_002.txt"
    r3 = g3.read_text().splitlines()
    g3.write_text("\n".join(r3[1:] + r3[:1]) + "\n")                         # order differs
    (bad / "washer/test/washer_Bump_009.pcd").write_bytes((bad / "washer/test/washer_001.pcd").read_bytes())
    sp = bad / "splits/ring/known-Dent_k1_seed2.json"
    d = json.loads(sp.read_text())
    d["selected_relpaths"] = ["ring/test/ring_Bump_001.pcd"]
    sp.write_text(json.dumps(d))
    problems = validate_dataset(bad)
    text = "\n".join(problems)
    for needle in ("ring_Bump_001.txt", "rows but the cloud has", "ring_Dent_001.txt",
                   "not 0, 1 or NaN", "washer_Scar_002.txt", "same order", "washer_Bump_009",
                   "known-Dent_k1_seed2", "sha256 differs"):
        assert needle in text, (needle, text)
    assert main(["dataset", "validate", str(bad)]) == 2
    assert main(["dataset", "validate", str(out)]) == 0


def test_rebuild_is_cached_and_repairs_deleted_files(tiny, tmp_path):
    out, spec = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "ring/test/ring_Dent_002.pcd").read_bytes()
    (copy / "ring/test/ring_Dent_002.pcd").unlink()
    # the unit cache holds absolute output paths: a copy is a different build, so rebuild in place
    r = build(spec, out, workers=1)
    assert r.ran == 0 and r.cached == r.samples + len(spec.classes) + 1
    (out / "ring/test/ring_Dent_002.pcd").unlink()
    r = build(spec, out, workers=1)
    assert r.ran >= 1 and (out / "ring/test/ring_Dent_002.pcd").read_bytes() == before
    assert validate_dataset(out) == []


def test_spec_rejects_unknown_keys_and_bad_values(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('name = "x"\nclases = ["ring"]\n')
    with pytest.raises(InputError, match="clases"):
        load_spec(f)
    with pytest.raises(InputError) as e:
        load_spec({"classes": ["ring", "blob"], "defects": ["Crack"], "n_per_defect": 3,
                   "split_ks": [5]})
    msg = str(e.value)
    assert "blob" in msg and "Crack" in msg and "split_ks" in msg


@pytest.mark.parametrize("key,value,why", [
    ("noise_mm", -0.01, r"noise_mm must be in \[0, 5\] mm"), ("noise_mm", 50.0, "noise_mm"),
    ("label_threshold_mm", 1e9, "label_threshold_mm must be in"), ("max_rotation_deg", -1.0, "max_rotation_deg"),
    ("max_rotation_deg", 720.0, "max_rotation_deg must be in"), ("views", 100_000, r"views must be in \[1, 360\]"),
    ("views", 0, "views must be in")])
def test_spec_refuses_sample_settings_out_of_their_physical_range(key, value, why):
    with pytest.raises(InputError, match=why):
        load_spec("tiny-pipeline", **{key: value})
    load_spec("tiny-pipeline", **{key: {"noise_mm": 0.0, "label_threshold_mm": 0.05, "max_rotation_deg": 180.0,
                                       "views": 360}[key]})   # the ends of the ranges are allowed


def test_synthetic_generator_is_packaged(tmp_path):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "syn", SyntheticSpec(classes=("ring",), n_train=2,
                                  n_test_normal=1, n_per_defect=3, points=512), package=True)
    assert validate_dataset(root) == []
    assert load_split(root, "ring", "Dent", k=1, seed=5).train_anomalies


def test_stats_and_splits_cli(tiny, capsys):
    out, _spec = tiny
    assert main(["dataset", "stats", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| ring |" in text and "| washer |" in text
    assert main(["dataset", "splits", str(out)]) == 0
    assert "ring: 6 split(s)" in capsys.readouterr().out


def test_shipped_specs_plan_what_they_promise():
    from scan2ad.datasets.builder import plan_samples
    from scan2ad.datasets.spec import shipped_specs

    assert {"tiny", "demo", "open-industry-full"} <= set(shipped_specs())
    full = load_spec("open-industry-full")
    plan = plan_samples(full)
    assert len(full.classes) == 15 and len(plan) == 15 * 160
    per_class = [p for p in plan if p.cls == full.classes[0]]
    assert sum(p.defect is None for p in per_class) == 100
    assert all(sum(p.defect == d for p in per_class) == 12 for d in full.defects)
    assert len({p.seed for p in plan}) == len(plan)  # every sample its own seed
    assert full.points == 90000 and full.split_ks == (5, 10) and full.split_seeds == (1, 2, 3, 4, 5)
    for name in shipped_specs():
        load_spec(name)  # validates


def test_carve_source_uses_the_annotation_stage(tmp_path):
    pytest.importorskip("bpy")
    spec = load_spec({"name": "c", "source": "carve", "classes": ["heavy_washer"], "n_train": 1,
                      "n_test_normal": 1, "n_per_defect": 2, "defects": ["Dent"], "points": 6000,
                      "split_ks": [1], "split_seeds": [1], "gallery": False})
    build(spec, tmp_path / "c", workers=1)
    assert validate_dataset(tmp_path / "c") == []
    man = json.loads((tmp_path / "c/manifest.json").read_text())
    dents = [r for r in man["samples"] if r["type"] == "Dent"]
    assert len(dents) == 2
    for r in dents:
        assert 0.005 <= r["anomaly_ratio"] <= 0.026  # the annotation stage's accepted range
        assert r["provenance"]["source"] == "carve" and r["provenance"]["defects"][0]["type"] == "Dent"
    with pytest.raises(InputError, match="part-library"):
        load_spec({"source": "carve", "classes": ["ring"], "n_per_defect": 12})


def test_pool_workers_carve_after_bpy_was_imported_here(tmp_path):
    """``scan2ad demo`` imports bpy in an earlier step; spawned workers must still carve."""
    bpy = pytest.importorskip("bpy")
    assert bpy is not None
    spec = load_spec({"name": "c", "source": "carve", "classes": ["heavy_washer"], "n_train": 1,
                      "n_test_normal": 0, "n_per_defect": 2, "defects": ["Bump"], "points": 5000,
                      "split_ks": [1], "split_seeds": [1], "gallery": False})
    r = build(spec, tmp_path / "p", workers=2)
    assert r.samples == 3 and validate_dataset(tmp_path / "p") == []
