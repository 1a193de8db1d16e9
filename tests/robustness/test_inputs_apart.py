"""An output folder never swallows what the command reads (:func:`scan2ad.outputs.check_apart`).

Before this guard, ``scan2ad dataset export DATA --out DATA --overwrite`` replaced the dataset by
its own export, and ``evaluate DATA -o DATA --overwrite`` (or an --out holding DATA) renamed the
staged run over the dataset: ``--overwrite`` allows replacing an earlier *output*, never the
input. An output inside an input folder (``-o DATA/runs``) is refused too where it would add
files to a dataset; a capture session may hold its reconstruction.
"""

from __future__ import annotations

import os

import pytest
from helpers.robust_cli import run_cli, snapshot

from scan2ad.errors import InputError
from scan2ad.io import write_text
from scan2ad.outputs import check_apart, claim_output


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

    spec = SyntheticSpec(classes=("ring",), n_train=2, n_test_normal=2, n_per_defect=1, points=256)
    return make_synthetic_dataset(tmp_path_factory.mktemp("holder") / "data", spec, package=True)


def test_check_apart_catches_every_spelling(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    link = tmp_path / "alias"
    os.symlink(data, link)
    f = tmp_path / "spec.toml"
    f.write_text("x")
    with pytest.raises(InputError, match=r"is the dataset .*replace what this command reads"):
        check_apart(tmp_path / "x" / ".." / "data", {"the dataset": data})
    with pytest.raises(InputError, match=r"is the dataset"):
        check_apart(link, {"the dataset": data})            # another name of the same folder
    with pytest.raises(InputError, match=r"holds the dataset .*remove what this command reads"):
        check_apart(tmp_path, {"the dataset": data})
    with pytest.raises(InputError, match=r"holds the spec file"):
        check_apart(tmp_path, {"the spec file": f})         # a file input inside the output
    with pytest.raises(InputError, match=r"is inside the dataset .*add files to it"):
        check_apart(link / "sub" / "runs", {"the dataset": data})
    check_apart(data / "runs", {"the session": data}, inside_ok=True)   # allowed where asked
    check_apart(tmp_path / "elsewhere", {"the dataset": data, "nothing": None})
    check_apart(tmp_path / "datax", {"the dataset": data})   # a sibling with a common prefix


def test_claim_with_overwrite_leaves_an_input_it_would_have_replaced(tmp_path):
    data = tmp_path / "data"
    write_text(data / "ring" / "train" / "a.pcd", "points\n")
    before = snapshot(data)
    for out in (data, tmp_path):
        with pytest.raises(InputError), claim_output(out, "evaluate", {"m": 1}, overwrite=True,
                                                     inputs={"the dataset": data}):
            pytest.fail("claimed the input")
        assert snapshot(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]   # no lock, staging or marker left


@pytest.mark.parametrize("out", ["same", "inside", "holder"])
def test_cli_export_and_evaluate_refuse_their_input(tiny, out):
    target = {"same": tiny, "inside": tiny / "ring" / "export", "holder": tiny.parent}[out]
    before = snapshot(tiny.parent)
    rc, text = run_cli(["dataset", "export", tiny, "--format", "real3d-ad", "--out", target, "--overwrite"])
    assert rc == 2 and "the dataset exported" in text and "Traceback" not in text, text
    rc, text = run_cli(["evaluate", "-m", "btf-raw", tiny, "-o", target, "--overwrite"])
    assert rc == 2 and "the dataset" in text and "Traceback" not in text, text
    assert snapshot(tiny.parent) == before


def test_build_refuses_an_out_holding_its_spec_or_own_parts(tmp_path):
    from helpers.own_parts import write_parts

    parts = write_parts(tmp_path / "proj" / "parts", suffixes=(".stl",))
    spec = tmp_path / "proj" / "spec.toml"
    spec.write_text('name = "own"\nsource = "carve"\nn_train = 1\nn_test_normal = 1\nn_per_defect = 2\n'
                    'split_ks = [1]\npoints = 2000\nclasses = [{ name = "gear", meshes = ["parts/gear*.stl"] }]\n')
    before = snapshot(tmp_path / "proj")
    rc, text = run_cli(["build", spec, "--out", tmp_path / "proj", "--overwrite"])
    assert rc == 2 and "holds the spec file" in text, text
    rc, text = run_cli(["build", spec, "--out", tmp_path / "proj" / "parts", "--overwrite"])
    assert rc == 2 and "meshes entry 'gear.stl' of class 'gear'" in text, text
    assert snapshot(tmp_path / "proj") == before
    assert parts


def test_paper_tables_and_variant_keep_out_of_the_dataset(tiny, tmp_path, capsys):
    from helpers.scripts import load_benchmark

    pt = load_benchmark("paper_tables")
    assert pt.main([str(tiny), "--runs", str(tiny / "runs"), "--methods", "btf-raw", "--tables", "VI"]) == 2
    assert "--runs is inside the dataset" in capsys.readouterr().err
    assert pt.main([str(tiny), "--runs", str(tmp_path / "r"), "--feature-cache", str(tiny / "fc"),
                    "--methods", "btf-raw", "--tables", "VI"]) == 2
    assert "--feature-cache is inside the dataset" in capsys.readouterr().err
    rv = load_benchmark("realism_variant")
    with pytest.raises(InputError, match=r"holds the build folder"):
        rv.main([str(tiny), str(tiny.parent)])
    assert not (tiny / "runs").exists() and not (tiny / "fc").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args,why", [
    (["--seeds", "-1"], "--seeds must be non-negative"), (["--k", "0"], "--k .* at least 1"),
    (["--known", "Crack"], "unknown defect type"), (["--official", "open3d-ad=/nonexistent/x"], "no such checkout"),
    (["--official", "open3d-ad"], "NAME=VALUE")])
def test_fidelity_checks_its_arguments_before_running_anything(tiny, tmp_path, args, why):
    from helpers.scripts import load_benchmark

    fid = load_benchmark("fidelity")
    with pytest.raises(InputError, match=why):
        fid.main([str(tiny), "--work", str(tmp_path / "w"), *args])
    with pytest.raises(InputError, match="is inside the dataset"):
        fid.main([str(tiny), "--work", str(tiny / "w")])
    assert not (tmp_path / "w").exists() and not (tiny / "w").exists()
