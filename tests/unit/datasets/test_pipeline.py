"""The ``pipeline`` source: virtual-rig capture -> reconstruction -> carving of the scan ->
labels, as cached units (DESIGN §7). The default tests build a one-view micro dataset once
(~20 s on one core); the tiny-pipeline builds on 1 and 2 workers are slow-marked."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from scan2ad.datasets.builder import BUILD_DIR, build, plan_samples, plan_units, sample_params
from scan2ad.datasets.pipeline import (
    annotator_margin,
    carve_points,
    plan_scans,
    resample_scan,
    surface_texture,
)
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.datasets.spec import load_spec
from scan2ad.datasets.validate import validate_dataset
from scan2ad.errors import InputError

MICRO = {
    "name": "micro-pipeline", "source": "pipeline", "classes": ["heavy_washer"],
    "n_train": 2, "n_test_normal": 1, "n_per_defect": 2, "defects": ["Dent"],
    "points": 3000, "views": 1, "samples_per_scan": 3, "poisson_depth": 6,
    "split_ks": [1], "split_seeds": [1], "gallery": False,
}


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and BUILD_DIR not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "micro"
    spec = load_spec(MICRO)
    r = build(spec, out, workers=1)
    return out, spec, r


def test_micro_build_is_valid_with_scan_provenance(micro):
    out, spec, r = micro
    assert validate_dataset(out) == []
    # 2 train + 1 test normal + 2 Dent = 5 samples from 1 train scan and 1 test scan
    assert r.samples == 5 and r.ran == 2 + 2 + 5 + 2  # captures, reconstructions, samples, packaging
    man = json.loads((out / "manifest.json").read_text())
    recs = {m["relpath"]: m for m in man["samples"]}
    train = {recs[k]["provenance"]["session"] for k in recs if "/train/" in k}
    test = {recs[k]["provenance"]["session"] for k in recs if "/test/" in k}
    assert len(train) == 1 and len(test) == 1 and not train & test
    for rec in recs.values():
        prov = rec["provenance"]
        assert prov["source"] == "pipeline" and prov["views"] == 1 and prov["rig"] == "virtual"
        assert (out / prov["session"] / "carve_mesh.ply").is_file()
        # jittered target +-10 %, which the octree resampling meets within 1 % from below
        assert 0.88 * spec.points <= rec["points"] <= 1.1 * spec.points
        if rec["type"] == NORMAL:
            assert rec["anomaly_points"] == 0
        else:
            d = prov["defects"][0]
            assert d["type"] == "Dent" and not d["ratio_check_relaxed"], d
            assert 0.005 <= rec["anomaly_ratio"] <= 0.026, rec  # Open-Industry's range
    # the decoded maps are pruned once their scan is reconstructed
    assert not list((out / BUILD_DIR).rglob("*.npz"))


def test_anomalies_are_one_compact_region_at_the_defect(micro):
    out, _, _ = micro
    from scan2ad.datasets.formats.open_industry import read_open_industry

    for s in read_open_industry(out):
        if s.defect_type == NORMAL:
            continue
        c = load_sample(s)
        bad = c.points[c.labels == 1]
        # a 1.2 % Dent on a ~40 mm washer: a patch of a few mm, not points scattered over the part
        assert np.linalg.norm(bad - bad.mean(0), axis=1).max() < 0.25 * np.ptp(c.points, axis=0).max()


def test_samples_of_one_scan_are_different_point_subsets(micro):
    out, _, _ = micro
    from scan2ad.pointcloud import read_cloud

    a = read_cloud(out / "heavy_washer/train/heavy_washer_001.pcd").points
    b = read_cloud(out / "heavy_washer/train/heavy_washer_002.pcd").points
    assert len(a) != len(b) or not np.allclose(a, b)
    # both are measured points of one scan: every point of one lies near the other's surface
    from scipy.spatial import cKDTree

    d, _ = cKDTree(b).query(a)
    assert np.median(d) < 1.0


def test_resume_redoes_a_pruned_scan_to_the_same_bytes(micro):
    """In place (unit keys hold the output path), so it runs after the other micro tests."""
    out, spec, _ = micro
    before = _files(out)
    units = {u.description: u for u in plan_units(spec, out)}
    scan = next(u for d, u in units.items() if d.startswith("reconstruct heavy_washer/test_000"))
    (out / BUILD_DIR / "units" / f"{scan.key}.json").unlink()  # as if killed inside the scan
    (out / "heavy_washer/gt/heavy_washer_Dent_001.txt").unlink()
    r = build(spec, out, workers=1)
    # its capture (maps pruned) and reconstruction again, one sample, the two package units
    assert r.ran == 1 + 1 + 1 + 2, r
    assert _files(out) == before


def test_plan_keeps_train_and_test_scans_apart():
    spec = load_spec(dict(MICRO, n_train=5, n_test_normal=3, n_per_defect=4, samples_per_scan=3))
    scans, of = plan_scans(spec, plan_samples(spec))
    assert [s.scan_id for s in scans] == ["heavy_washer/train_000", "heavy_washer/train_001",
                                          "heavy_washer/test_000", "heavy_washer/test_001",
                                          "heavy_washer/test_002"]
    assert all(("/train/" in k) == ("/train_" in v) for k, v in of.items())
    assert len({s.part_seed for s in scans}) == len(scans)
    one = load_spec(dict(MICRO, samples_per_scan=1))
    assert len(plan_scans(load_spec(MICRO), plan_samples(load_spec(MICRO)))[0]) == 2
    assert len(plan_scans(one, plan_samples(one))[0]) == 5


def test_pipeline_spec_is_checked():
    with pytest.raises(InputError, match="part-library classes"):
        load_spec(dict(MICRO, classes=["ring"]))
    with pytest.raises(InputError, match="samples_per_scan"):
        load_spec(dict(MICRO, samples_per_scan=0))
    with pytest.raises(InputError, match="poisson_depth"):
        load_spec(dict(MICRO, poisson_depth=14))
    for key, bad in (("texture_mm", -0.01), ("texture_mm", float("nan")), ("texture_corr_mm", 0.0),
                     ("defect_depth_scale", 0.0), ("defect_area_scale", 5.0),
                     ("label_margin_mm", -0.1), ("label_margin_mm", float("inf")),
                     ("label_margin_mm", float("nan")), ("label_margin_mm", 6.0)):
        with pytest.raises(InputError, match=key):
            load_spec(dict(MICRO, **{key: bad}))
    with pytest.raises(InputError, match="label_margin_mm applies to source = 'pipeline'"):
        load_spec(dict(MICRO, source="carve", noise_mm=0.015, label_margin_mm=0.3))


def test_label_margin_keys_only_the_builds_that_set_it():
    """``label_margin_mm`` came after builds were made: at 0 the sample units' arguments (and so
    their cache keys) are those of a spec without it; set, it keys the samples, not the scans."""
    assert "label_margin_mm" not in sample_params(load_spec(MICRO))
    a = plan_units(load_spec(MICRO), Path("/x"))
    b = plan_units(load_spec(dict(MICRO, label_margin_mm=0.3)), Path("/x"))
    for ua, ub in zip(a, b, strict=True):
        if ua.fn.__name__ == "pipeline_sample":
            assert ua.key != ub.key and ub.kwargs["params"]["label_margin_mm"] == 0.3
        elif ua.fn.__name__ in ("capture_view", "reconstruct_scan"):
            assert ua.key == ub.key


def test_part_variation_keys_only_the_scans_of_builds_that_set_it():
    """``part_variation`` came after builds were made: at 1 every unit's arguments (and key) are
    those of a spec without it; set, it keys the scans, and the samples depend on the new scans
    (a changed spec is rebuilt in a staging folder, so every sample is redrawn from them); it is
    checked where it enters."""
    a = plan_units(load_spec(MICRO), Path("/x"))
    b = plan_units(load_spec(dict(MICRO, part_variation=0.25)), Path("/x"))
    assert all("part_variation" not in u.kwargs for u in a)
    for ua, ub in zip(a, b, strict=True):
        if ua.fn.__name__ in ("capture_view", "reconstruct_scan"):
            assert ua.key != ub.key and ub.kwargs["part_variation"] == 0.25
        elif ua.fn.__name__ == "pipeline_sample":
            assert ua.deps != ub.deps
    for bad in (-0.1, 1.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="part_variation"):
            load_spec(dict(MICRO, part_variation=bad))
    with pytest.raises(InputError, match="part_variation applies to source = 'pipeline'"):
        load_spec(dict(MICRO, source="carve", noise_mm=0.015, part_variation=0.5))


def test_annotator_margin_widens_the_labels_on_the_seen_side_only():
    """A plate 1 mm thick: a labelled disc of radius 1 on the top face grows to radius 1 + margin
    on the top face; the bottom face (1 mm below, normals opposite) stays unlabelled."""
    g = np.linspace(-4, 4, 161)  # 0.05 mm grid
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    top = np.c_[xy, np.zeros(len(xy))]
    bottom = np.c_[xy, -np.full(len(xy), 0.4)]
    pts = np.r_[top, bottom]
    nrm = np.r_[np.tile([0.0, 0.0, 1.0], (len(xy), 1)), np.tile([0.0, 0.0, -1.0], (len(xy), 1))]
    r = np.linalg.norm(xy, axis=1)
    labels = np.r_[(r <= 1.0), np.zeros(len(xy), bool)].astype(np.uint8)
    out = annotator_margin(pts, nrm, labels, 0.5)
    assert out.dtype == np.uint8 and (out >= labels).all()
    assert out[: len(xy)][r <= 1.45].all() and not out[: len(xy)][r > 1.5 + 1e-9].any()  # grid: 0.05
    assert not out[len(xy):].any()  # the far side within 0.5 mm is not drawn over
    assert np.array_equal(annotator_margin(pts, nrm, labels, 0.0), labels)
    # without normals every point within the margin is taken (here: the bottom under the disc too)
    bare = annotator_margin(pts, np.zeros_like(pts), labels, 0.5)
    assert bare[len(xy):].any() and np.array_equal(bare[: len(xy)], out[: len(xy)])
    assert not annotator_margin(pts, nrm, np.zeros(len(pts), np.uint8), 0.5).any()


def test_sample_settings_key_the_samples_not_the_scans():
    """A changed sample setting (texture, defect depth) must not be served from a stale cache
    entry (unit keys hash the arguments, not the code), and must not redo the scans."""
    a = plan_units(load_spec(MICRO), Path("/x"))
    b = plan_units(load_spec(dict(MICRO, texture_mm=0.01)), Path("/x"))
    for ua, ub in zip(a, b, strict=True):
        scan_side = ua.fn.__name__ in ("capture_view", "reconstruct_scan")
        assert (ua.key == ub.key) == scan_side or ua.fn.__name__.startswith("package_")


def test_class_rigs_scan_the_named_classes_on_their_rig_and_leave_the_others_alone():
    """``class_rigs`` keys (and records) the rig of the named classes' scans only: the units and
    job of a spec without it, and of the classes it does not name, are those of the default rig,
    so a running build's cache stays valid."""
    from scan2ad.datasets.spec import spec_to_dict

    two = dict(MICRO, classes=["heavy_washer", "split_pin"])
    plain = plan_units(load_spec(two), Path("/x"))
    macro = plan_units(load_spec(dict(two, class_rigs={"split_pin": "virtual_macro"})), Path("/x"))
    for ua, ub in zip(plain, macro, strict=True):
        if ua.fn.__name__ not in ("capture_view", "reconstruct_scan"):
            continue
        named = ua.kwargs["cls"] == "split_pin"
        assert (ua.key != ub.key) == named
        assert ub.kwargs.get("rig") == ("virtual_macro" if named else None)
    assert "class_rigs" not in spec_to_dict(load_spec(two))
    for rigs, msg in (({"ring": "virtual_macro"}, "not a part-library class"),
                      ({"split_pin": "no_such_rig"}, r"class_rigs\.split_pin"),
                      ({"split_pin": "iec3d_real"}, "no \\[virtual\\] geometry")):
        with pytest.raises(InputError, match=msg):
            load_spec(dict(two, class_rigs=rigs))
    with pytest.raises(InputError, match="source = 'pipeline'"):
        load_spec(dict(two, source="carve", noise_mm=0.015, class_rigs={"split_pin": "virtual_macro"}))


def test_sample_params_are_what_every_sample_unit_gets():
    """Tools that draw samples like the build (benchmarks/realism_proxy.py) take the spec's
    settings from ``sample_params``; a run of the proxy without --set once used full-depth
    defects instead of open-industry-full's adopted ones."""
    full = load_spec("open-industry-full")
    p = sample_params(full)
    assert p["source"] == "pipeline"
    assert (p["defect_depth_scale"], p["defect_area_scale"]) == (full.defect_depth_scale, full.defect_area_scale)
    assert full.defect_depth_scale != 1.0  # the adopted setting differs from the annotation default
    assert 0 < full.part_variation < 1  # one production batch, not the whole tolerance band
    spec = load_spec(dict(MICRO, defect_depth_scale=0.5, texture_mm=0.01))
    samples = [u for u in plan_units(spec, Path("/x")) if u.fn.__name__ == "pipeline_sample"]
    assert samples and all(u.kwargs["params"] == sample_params(spec) for u in samples)


def test_surface_texture_is_a_smooth_field_of_the_given_std():
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(0, 20, (40000, 2)), np.zeros(40000)]
    nrm = np.tile([0.0, 0.0, 2.0], (len(pts), 1))  # not unit: normalised inside
    h = surface_texture(pts, nrm, 0.02, 0.5, np.random.default_rng(1))[:, 2]
    assert np.allclose(surface_texture(pts, nrm, 0.02, 0.5, np.random.default_rng(1))[:, 2], h)
    assert 0.012 < h.std() < 0.028 and abs(h.mean()) < 0.01
    from scipy.spatial import cKDTree

    near = cKDTree(pts).query(pts[:2000], k=2)[1][:, 1]  # neighbours ~0.05 mm apart
    assert np.corrcoef(h[:2000], h[near])[0, 1] > 0.9  # correlated over a fraction of 0.5 mm


def test_carve_points_moves_only_the_defect_and_labels_it():
    import trimesh

    from scan2ad.acquisition.parts import make_part

    mesh = make_part("heavy_washer", 0)
    pts, fid = trimesh.sample.sample_surface(mesh, 20000, seed=1)
    nrm = np.asarray(mesh.face_normals[fid])
    rng = np.random.default_rng(0)
    noisy = np.asarray(pts) + nrm * rng.normal(0, 0.01, (len(pts), 1))  # scanner-like noise
    moved, labels, spec, _ = carve_points(mesh, noisy, nrm, "Bump", seed=3, target_ratio=0.012,
                                          label_threshold_mm=0.05)
    disp = np.linalg.norm(moved - noisy, axis=1)
    assert 0.005 <= labels.mean() <= 0.026
    # labelled points moved by the carve (most of them by more than the threshold), the others
    # at most by about the threshold (the rim of the defect's falloff)
    assert np.median(disp[labels == 1]) > 0.05
    assert disp[labels == 0].max() < 0.1
    # a Bump moves points outward along the normal
    assert ((moved - noisy)[labels == 1] @ np.asarray(spec.direction)).mean() > 0
    # the defect acts in a cylinder of its radius and height: within sqrt(2) radii of its centre
    assert np.linalg.norm(noisy[labels == 1] - np.asarray(spec.centre), axis=1).max() <= 1.5 * spec.influence_radius()


def test_defect_depth_scale_makes_shallower_defects():
    import trimesh

    from scan2ad.acquisition.parts import make_part

    mesh = make_part("heavy_washer", 0)
    pts, fid = trimesh.sample.sample_surface(mesh, 20000, seed=1)
    nrm = np.asarray(mesh.face_normals[fid])
    kw = {"seed": 3, "target_ratio": 0.012, "label_threshold_mm": 0.05, "check": False}
    _, _, full, _ = carve_points(mesh, np.asarray(pts), nrm, "Bump", **kw)
    moved, labels, half, _ = carve_points(mesh, np.asarray(pts), nrm, "Bump", depth_scale=0.5, **kw)
    assert half.depth == pytest.approx(max(0.5 * full.depth, 0.1)) and half.radius == full.radius
    assert np.linalg.norm(moved - pts, axis=1).max() <= half.depth + 1e-6 and labels.any()


def test_resample_scan_is_seeded_and_bounded():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(20000, 3))
    a = resample_scan(pts, 5000, np.random.default_rng(1))
    b = resample_scan(pts, 5000, np.random.default_rng(1))
    c = resample_scan(pts, 5000, np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.98 * 5000 <= len(a) <= 5000 and len(np.unique(a)) == len(a)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_tiny_pipeline_same_bytes_on_one_and_two_workers(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    spec = load_spec("tiny-pipeline")
    a, b = tmp_path / "a", tmp_path / "b"
    build(spec, a, workers=1)
    build(spec, b, executor=executor, workers=2)
    assert validate_dataset(a) == []
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_demo_step_builds_the_spec_the_environment_names(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from scan2ad.datasets import demo

    spec = tmp_path / "env.toml"
    spec.write_text('name = "envspec"\nsource = "synthetic"\nclasses = ["ring"]\nn_train = 2\n'
                    'n_test_normal = 1\nn_per_defect = 2\ndefects = ["Bump"]\npoints = 500\n'
                    'split_ks = [1]\nsplit_seeds = [1]\ngallery = false\n')
    monkeypatch.setenv(demo.SPEC_ENV, str(spec))
    ctx = SimpleNamespace(workdir=tmp_path / "w", workers=1, quick=False, artefacts={})
    line = demo.run(ctx)
    assert "envspec (synthetic source): 5 samples" in line
    assert ctx.artefacts["dataset"] == tmp_path / "w" / "dataset-envspec"
    monkeypatch.setenv(demo.SPEC_ENV, "no-such-spec")
    with pytest.raises(InputError, match="shipped specs: .*demo-pipeline"):
        demo.run(ctx)


def test_rebuild_of_new_sample_settings_keeps_the_scans(micro, tmp_path, monkeypatch):
    """A rebuild with --overwrite of changed sample settings, over an unfinished staging folder
    of other settings, keeps that folder's scans: only samples and packaging run again."""
    import shutil

    from scan2ad.datasets import pipeline
    from scan2ad.errors import Scan2adError

    out = tmp_path / "ds"
    shutil.copytree(micro[0], out)  # a finished build of MICRO
    real = pipeline.make_pipeline_cloud

    def killed(*a, **k):
        raise Scan2adError("killed half way")

    monkeypatch.setattr(pipeline, "make_pipeline_cloud", killed)
    with pytest.raises(Scan2adError):
        build(load_spec(dict(MICRO, texture_mm=0.01)), out, workers=1, overwrite=True)
    assert (tmp_path / ".ds.staging" / BUILD_DIR / "scans").is_dir()
    monkeypatch.setattr(pipeline, "make_pipeline_cloud", real)
    r = build(load_spec(dict(MICRO, texture_mm=0.02)), out, workers=1, overwrite=True)
    assert r.cached == 2 + 2 and r.ran == 5 + 2  # captures and reconstructions found again
    assert validate_dataset(out) == []


def test_realism_variant_redraws_the_anomalies_and_links_the_rest(micro, tmp_path):
    """benchmarks/realism_variant.py: at the build's settings the redrawn anomalous samples are
    the build's bytes; with deeper defects only the anomalous samples and their labels change."""
    from helpers.scripts import load_benchmark

    rv = load_benchmark("realism_variant")
    out, spec, _ = micro
    samples, scans = rv.unit_records(out)
    assert rv.class_status(out, spec, samples) == {"heavy_washer": 0}
    _, params = rv.parse_sets(spec, [])
    assert params == sample_params(spec)
    same = rv.write_variant(out, tmp_path / "same", ["heavy_washer"], samples, scans, params)
    assert same["heavy_washer"]["redrawn"] == 2 and same["heavy_washer"]["linked"] == 3
    assert _files(tmp_path / "same") == {k: v for k, v in _files(out).items()
                                         if k.startswith(("heavy_washer/", "splits/heavy_washer/"))}
    _, deep = rv.parse_sets(spec, ["defect_depth_scale=0.4"])
    assert deep["defect_depth_scale"] == 0.4 != spec.defect_depth_scale
    rv.write_variant(out, tmp_path / "deep", ["heavy_washer"], samples, scans, deep)
    a, b = _files(tmp_path / "same"), _files(tmp_path / "deep")
    changed = {k for k in a if a[k] != b[k]}
    anomalous = {r["relpath"] for r in samples.values() if r["provenance"].get("defects")}
    assert anomalous and anomalous <= changed
    assert all("Dent" in k for k in changed)  # normal samples and splits untouched
    _, textured = rv.parse_sets(spec, ["texture_mm=0.01"])
    rv.write_variant(out, tmp_path / "tex", ["heavy_washer"], samples, scans, textured, redraw_normals=True)
    c = _files(tmp_path / "tex")
    assert {k for k in a if a[k] != c[k]} == {k for k in a if k.endswith(".pcd")} | {
        k for k in a if "/gt/" in k}  # every sample (and its labels' coordinates) redrawn
    _, wide = rv.parse_sets(spec, ["label_margin_mm=0.5"])
    assert wide["label_margin_mm"] == 0.5
    rv.write_variant(out, tmp_path / "wide", ["heavy_washer"], samples, scans, wide)
    w = _files(tmp_path / "wide")
    assert {k for k in a if a[k] != w[k]} == {k for k in a if "/gt/" in k}  # same clouds, wider labels
    for k in (k for k in a if "/gt/" in k):
        la = np.loadtxt(tmp_path / "same" / k)[:, 3]
        lw = np.loadtxt(tmp_path / "wide" / k)[:, 3]
        assert (lw >= la).all() and lw.sum() > la.sum()
    for bad in (["defect_depth_scale=nan"], ["defect_depth_scale=-1"], ["views=3"], ["nonsense"],
                ["label_threshold_mm=abc"], ["label_margin_mm=-1"], ["label_margin_mm=inf"]):
        with pytest.raises(InputError):
            rv.parse_sets(spec, bad)


def test_realism_variant_refuses_what_it_did_not_write(micro, tmp_path):
    from helpers.scripts import load_benchmark

    rv = load_benchmark("realism_variant")
    (tmp_path / "nobuild").mkdir()
    with pytest.raises(InputError, match="no unit cache"):
        rv.main([str(tmp_path / "nobuild"), str(tmp_path / "v")])
    with pytest.raises(InputError, match="is inside the build folder"):
        rv.main([str(micro[0]), str(micro[0] / "v")])
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="holds no variant"):
        rv.main([str(micro[0]), str(theirs), "--overwrite"])
    assert (theirs / "keep.txt").read_text() == "x"
    with pytest.raises(InputError, match="not in spec"):
        rv.main([str(micro[0]), str(tmp_path / "v"), "--classes", "no_such_class"])


def test_realism_variant_clears_only_its_killed_runs(tmp_path):
    from helpers.scripts import load_benchmark

    rv = load_benchmark("realism_variant")
    dead, live, theirs = (tmp_path / n for n in (".v.dead", ".v.live", ".v.theirs"))
    for d, pid in ((dead, "999999999"), (live, str(os.getpid()))):
        (d / "cls").mkdir(parents=True)
        (d / ".pid").write_text(pid)
    theirs.mkdir()
    (theirs / "keep.txt").write_text("x")
    rv._clear_killed_runs(tmp_path / "v")
    assert not dead.exists() and live.is_dir() and (theirs / "keep.txt").is_file()


def test_build_stats_counts_the_plan_of_the_spec_the_folder_was_built_with(micro, capsys, tmp_path):
    """benchmarks/build_stats.py on a build of another spec than open-industry-full: the plan is
    the one its marker records (every unit done), not the shipped default's."""
    from helpers.scripts import load_benchmark

    out, spec, _ = micro
    stats = load_benchmark("build_stats")
    stats.main([str(out)])
    text = capsys.readouterr().out
    n = len(plan_units(spec, out))
    assert f"{n} of {n} units of the plan done" in text
    assert "| heavy_washer | 5 / 5 |" in text and "square_taper_washer" not in text
    (tmp_path / "foreign" / BUILD_DIR).mkdir(parents=True)
    with pytest.raises(InputError, match="--spec"):
        stats.main([str(tmp_path / "foreign")])
