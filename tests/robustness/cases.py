"""The hostile-input table of the dataset and detector commands (build, dataset, train,
evaluate, benchmark, pretrain, demo), shared by the pytest suite (``test_commands.py``, which
runs each case through ``scan2ad.cli.main`` in-process) and the survey script (``survey.py``,
which runs each through a fresh ``python -P -m scan2ad.cli`` process and counts outcomes).

A case is the command line a careless or hostile user types, the files it must not change, and
what a trustworthy CLI does: fail with an exit code and a message matching ``expect``, or
(``ok=True``) succeed and pass ``check``. Outcomes (issue 22's classes):

* ``clear error`` - failed as expected with the expected message (or succeeded when it should);
* ``unexpected exception`` - "error: unexpected ..." / a traceback / killed by a signal;
* ``exit 0 wrong result`` - exit 0 where it must fail, or a success whose result is wrong;
* ``destroyed output`` - a protected file changed or vanished;
* ``wrong message`` - failed, but the message does not name the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

FAST = ["--set", "groups=64", "--set", "group_size=16", "--set", "feature_points=512"]

SPEC_A = """name = "a"
classes = ["ring", "washer"]
n_train = 2
n_test_normal = 1
n_per_defect = 2
defects = ["Bump", "Dent", "Scar", "Scratch"]
points = 400
split_ks = [1]
split_seeds = [1]
gallery = false
"""
SPEC_B = SPEC_A.replace('classes = ["ring", "washer"]', 'classes = ["ring"]').replace('"a"', '"b"')


@dataclasses.dataclass
class Case:
    name: str
    kind: str                       # output | settings | metrics | input | process
    argv: list[str]                 # {ds} {built} {run} {train} {tmp} {spec_a} {spec_b} replaced
    expect: str = ""                # regex the error message must match (ok=False)
    ok: bool = False                # the command must succeed (and pass check)
    protect: tuple[str, ...] = ()   # placeholders of folders that must stay byte-identical
    setup: Callable[[dict], None] | None = None
    check: Callable[[dict], str | None] | None = None  # a problem, or None
    env: dict = dataclasses.field(default_factory=dict)
    slow: bool = False              # too slow for the default test run (survey only)


# --- fixtures (made once per session / survey into ``base``) -------------------------------

def make_fixtures(base: Path, main) -> dict:
    """A tiny synthetic dataset, a built tiny dataset, an evaluate run and a train run."""
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset

    base.mkdir(parents=True, exist_ok=True)
    ds = make_synthetic_dataset(base / "ds", SyntheticSpec(
        classes=("ring", "washer"), n_train=3, n_test_normal=2, n_per_defect=2, points=1024,
        defects=("Bump", "Dent"), defect_depth_mm=1.5))
    (base / "spec_a.toml").write_text(SPEC_A)
    (base / "spec_b.toml").write_text(SPEC_B)
    paths = {"ds": str(ds), "spec_a": str(base / "spec_a.toml"), "spec_b": str(base / "spec_b.toml"),
             "built": str(base / "built"), "run": str(base / "run"), "train": str(base / "train")}
    steps = [["build", paths["spec_a"], "--out", paths["built"], "--workers", "1"],
             ["evaluate", paths["ds"], "-o", paths["run"], "-m", "patchcore-fpfh", "--class", "ring",
              "--no-plots", *FAST],
             ["train", paths["ds"], "-o", paths["train"], "-m", "btf-fpfh", "--class", "ring",
              "--set", "feature_points=512"]]
    for argv in steps:
        rc = main(argv)
        if rc != 0:
            raise RuntimeError(f"fixture command failed ({rc}): scan2ad {' '.join(argv)}")
    return paths


def copy_fixtures(fixtures: dict, tmp: Path) -> dict:
    """Private copies of the fixture folders a case may write into."""
    out = dict(fixtures, tmp=str(tmp), ds0=fixtures["ds"])  # ds0: the shared original, read only
    for key in ("ds", "built", "run", "train"):
        dst = tmp / key
        shutil.copytree(fixtures[key], dst, symlinks=True)
        out[key] = str(dst)
    return out


def snapshot(folder: str | Path) -> dict[str, str]:
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- setups and checks -----------------------------------------------------------------------

def _junk_root(p):
    Path(p["built"], "notes.txt").write_text("my notes\n")


def _foreign(p):
    d = Path(p["tmp"], "mine")
    d.mkdir()
    (d / "thesis.tex").write_text("precious\n")


def _drop_anomalies(p):
    for f in Path(p["ds"], "ring", "test").glob("ring_*_*.pcd"):
        f.unlink()
    shutil.rmtree(Path(p["ds"], "ring", "gt"), ignore_errors=True)


def _drop_normals(p):
    for f in Path(p["ds"], "ring", "test").glob("ring_[0-9]*.pcd"):
        f.unlink()


def _truncate_model(p):
    f = Path(p["train"], "models", "ring", "seed1", "model.pt")
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])


def _garbage_model(p):
    Path(p["train"], "models", "ring", "seed1", "model.pt").write_bytes(b"\x00garbage" * 64)


def _model_of_other_class(p):
    m = Path(p["train"], "models")
    shutil.copytree(m / "ring", m / "washer")


def _empty_spec(p):
    Path(p["tmp"], "empty.toml").write_text("")


def _spec_no_classes(p):
    Path(p["tmp"], "nocls.toml").write_text('name = "x"\npoints = 400\n')


def _huge_spec(p):
    Path(p["tmp"], "huge.toml").write_text(SPEC_A.replace("points = 400", "points = 5000000")
                                           .replace("n_train = 2", "n_train = 5000"))


def _nan_spec(p):
    Path(p["tmp"], "nan.toml").write_text(SPEC_A + "noise_mm = nan\n")


def _nan_config(p):
    Path(p["tmp"], "nan_cfg.toml").write_text("raw_weight = nan\n")


def _file_out(p):
    Path(p["tmp"], "afile").write_text("not a folder\n")


def _valid_built(p) -> str | None:
    from scan2ad.datasets.validate import validate_dataset

    probs = validate_dataset(Path(p["built"]))
    return f"dataset invalid: {probs[:2]}" if probs else None


def _train_completed(p) -> str | None:
    t = Path(p["train"])
    if not (t / "metrics.json").is_file() or not (t / "models" / "ring" / "seed1" / "model.pt").is_file():
        return "the train run did not get its metrics beside its models"
    return None


def _run_replaced(p) -> str | None:
    from scan2ad.outputs import read_marker

    r = Path(p["run"])
    m = read_marker(r)
    if not m or m["command"] != "train" or m["job"]["method"] != "btf-fpfh":
        return f"marker {m}"
    if (r / "metrics.json").exists():
        return "the old method's metrics.json survived beside the new models"
    return None


def _metrics_null(p) -> str | None:
    m = json.loads(Path(p["tmp"], "r").joinpath("metrics.json").read_text())
    o = m["per_class"]["overall"]["ring"]["O-AUROC"]
    if o[0] is not None:
        return f"O-AUROC {o} written for a class without anomalies"
    if "undefined" not in json.dumps(m.get("undefined", "")):
        return "no reason given for the undefined metric"
    return None


def _known_first_half(p) -> str | None:
    m = json.loads(Path(p["tmp"], "r", "metrics.json").read_text())
    used = m.get("known_per_class", {}).get("ring")
    return None if used == ["Bump", "Dent"] else f"known types used {used!r}, the help promises ['Bump', 'Dent']"


def _no_stale_class(p) -> str | None:
    if Path(p["built"], "washer").exists():
        return "stale class folder 'washer' left beside the new manifest"
    return _valid_built(p)


CASES: list[Case] = [
    # output is never lost
    Case("build into a foreign folder", "output", ["build", "{spec_a}", "--out", "{tmp}/mine", "--workers", "1"],
         r"mine.*not written by scan2ad build.*--overwrite", setup=_foreign, protect=("{tmp}/mine",)),
    Case("build another spec into a dataset", "output", ["build", "{spec_b}", "--out", "{built}", "--workers", "1"],
         r"another job.*--overwrite", protect=("{built}",)),
    Case("build --overwrite with fewer classes", "output",
         ["build", "{spec_b}", "--out", "{built}", "--workers", "1", "--overwrite"], ok=True, check=_no_stale_class),
    Case("build the same spec again (resume)", "output", ["build", "{spec_a}", "--out", "{built}", "--workers", "1"],
         ok=True, check=_valid_built),
    Case("build --out is a file", "output", ["build", "{spec_a}", "--out", "{tmp}/afile"], r"afile.*not a folder",
         setup=_file_out, protect=("{tmp}/afile",)),
    Case("build disk full at the manifest", "output", ["build", "{spec_b}", "--out", "{tmp}/b", "--workers", "1"],
         r"manifest.json.*disk is full", env={"SCAN2AD_FAULT": "enospc:manifest.json"}, protect=("{built}",)),
    Case("train into another method's run", "output", ["train", "{ds}", "-o", "{run}", "-m", "btf-fpfh",
                                                       "--class", "ring"],
         r"run.*written by scan2ad evaluate.*--overwrite", protect=("{run}",)),
    Case("evaluate into another method's run", "output",
         ["evaluate", "{ds}", "-o", "{run}", "-m", "btf-fpfh", "--class", "ring", "--no-plots"],
         r"another job.*method.*--overwrite", protect=("{run}",)),
    Case("evaluate into a foreign folder", "output", ["evaluate", "{ds}", "-o", "{tmp}/mine", "--class", "ring"],
         r"not written by scan2ad evaluate", setup=_foreign, protect=("{tmp}/mine",)),
    Case("failing evaluate into a good run", "output",
         ["evaluate", "{ds}", "-o", "{run}", "-m", "patchcore-fpfh", "--class", "ring", "--no-plots", *FAST,
          "--models", "{tmp}/nope"], r"nope", protect=("{run}",)),
    Case("evaluate disk full at metrics.json", "output",
         ["evaluate", "{ds0}", "-o", "{run}", "-m", "patchcore-fpfh", "--class", "ring", "--no-plots", *FAST],
         r"metrics.json.*disk is full.*run is unchanged", env={"SCAN2AD_FAULT": "enospc:metrics.json"},
         protect=("{run}",)),
    Case("evaluate permission denied at metrics.json", "output",
         ["evaluate", "{ds0}", "-o", "{run}", "-m", "patchcore-fpfh", "--class", "ring", "--no-plots", *FAST],
         r"metrics.json.*permission denied", env={"SCAN2AD_FAULT": "eacces:metrics.json"}, protect=("{run}",)),
    Case("evaluate --models RUN -o RUN completes a train run", "output",
         ["evaluate", "{ds0}", "-o", "{train}", "-m", "btf-fpfh", "--class", "ring", "--no-plots",
          "--models", "{train}", "--set", "feature_points=512"], ok=True, check=_train_completed),
    Case("train --overwrite replaces another method's run", "output",
         ["train", "{ds0}", "-o", "{run}", "-m", "btf-fpfh", "--class", "ring", "--set", "feature_points=512",
          "--overwrite"], ok=True, check=_run_replaced),
    Case("evaluate -o is a file", "output", ["evaluate", "{ds}", "-o", "{tmp}/afile", "--class", "ring"],
         r"afile.*not a folder", setup=_file_out, protect=("{tmp}/afile",)),
    Case("benchmark into an evaluate run", "output",
         ["benchmark", "{ds}", "-o", "{run}", "--methods", "patchcore-fpfh", "--class", "ring"],
         r"written by scan2ad evaluate.*--overwrite", protect=("{run}",)),
    Case("pretrain into a dataset", "output",
         ["pretrain", "pointnet2", "--data", "parts:lock_nut", "--out", "{ds}", "--steps", "1"],
         r"not written by scan2ad pretrain.*--overwrite", protect=("{ds}",)),
    Case("dataset splits --write into a foreign folder", "output", ["dataset", "splits", "{tmp}/mine", "--write"],
         r"mine", setup=_foreign, protect=("{tmp}/mine",)),
    # every setting validated on entry
    Case("btf-raw normal_k=0", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-raw", "--class", "ring",
                                            "--set", "normal_k=0"], r"normal_k.*>= ?[1-9]"),
    Case("raw_weight=nan", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh+raw", "--class",
                                        "ring", "--set", "raw_weight=nan", *FAST], r"raw_weight.*(finite|nan)"),
    Case("fpfh_k=-3", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class", "ring",
                                   "--set", "fpfh_k=-3"], r"fpfh_k.*>="),
    Case("normal_k=-1", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class", "ring",
                                     "--set", "normal_k=-1"], r"normal_k.*>="),
    Case("groups=-5", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh", "--class", "ring",
                                   "--set", "groups=-5"], r"groups.*>="),
    Case("feature_points=lots", "settings", ["train", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class", "ring",
                                             "--set", "feature_points=lots"], r"feature_points.*integer"),
    Case("topk=0", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh", "--class", "ring",
                                "--set", "aggregation=topk_mean", "--set", "topk=0", *FAST], r"topk.*>= ?1"),
    Case("aggregation=median", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh", "--class",
                                            "ring", "--set", "aggregation=median"], r"aggregation.*median"),
    Case("seed=-1", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh", "--class", "ring",
                                 "--seeds", "-1", *FAST], r"seed"),
    Case("--config with nan", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh+raw",
                                           "--class", "ring", "--config", "{tmp}/nan_cfg.toml"],
         r"raw_weight.*(finite|nan)", setup=_nan_config),
    Case("--set seed=3 (silently replaced by --seeds)", "settings",
         ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", "--set", "seed=3"], r"--seeds"),
    Case("--known with the one-class protocol", "settings",
         ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", "--known", "Bump"], r"--known.*open-set"),
    Case("pretrain --epochs nan", "settings", ["pretrain", "pointnet2", "--data", "parts:lock_nut", "--out",
                                               "{tmp}/p", "--epochs", "nan"], r"epochs.*finite"),
    Case("-k 0", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", "--protocol", "open-set",
                              "-k", "0"], r"-k|k must|k ="),
    Case("--seeds 5-1", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", "--seeds", "5-1"],
         r"seeds"),
    Case("--heatmaps -1", "settings", ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", "--heatmaps", "-1"],
         r"heatmaps"),
    Case("build --workers 0", "settings", ["build", "{spec_a}", "--out", "{tmp}/b", "--workers", "0"], r"workers"),
    Case("spec with noise_mm = nan", "settings", ["build", "{tmp}/nan.toml", "--out", "{tmp}/b"],
         r"noise_mm.*(finite|nan)", setup=_nan_spec),
    Case("pretrain --steps -1", "settings", ["pretrain", "pointnet2", "--data", "parts:lock_nut", "--out", "{tmp}/p",
                                             "--steps", "-1"], r"steps"),
    Case("demo --workers 0", "settings", ["demo", "--out", "{tmp}/d", "--workers", "0", "--quick"], r"workers"),
    # metrics and models
    Case("only normal test samples", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", *FAST,
                                                 "--no-plots"], ok=True, setup=_drop_anomalies, check=_metrics_null),
    Case("only anomalous test samples", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "--class", "ring", *FAST,
                                                    "--no-plots"], ok=True, setup=_drop_normals, check=_metrics_null),
    Case("--models of another method", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "patchcore-fpfh",
                                                   "--class", "ring", "--models", "{train}"],
         r"btf-fpfh.*patchcore-fpfh|patchcore-fpfh.*btf-fpfh"),
    Case("--models of another class", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class",
                                                  "washer", "--models", "{train}", "--set", "feature_points=512"],
         r"ring.*washer|washer.*ring", setup=_model_of_other_class),
    Case("truncated model.pt", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class", "ring",
                                           "--models", "{train}", "--set", "feature_points=512"],
         r"model\.pt.*(truncated|corrupt|not a)(?!.*weights_only)", setup=_truncate_model),
    Case("garbage model.pt", "metrics", ["evaluate", "{ds}", "-o", "{tmp}/r", "-m", "btf-fpfh", "--class", "ring",
                                         "--models", "{train}", "--set", "feature_points=512"],
         r"model\.pt.*(truncated|corrupt|not a)(?!.*weights_only)", setup=_garbage_model),
    Case("open-set without --known and no split file", "metrics",
         ["evaluate", "{built}", "-o", "{tmp}/r", "--class", "ring", "--protocol", "open-set", "-k", "1", *FAST,
          "--no-plots"], ok=True, check=_known_first_half),
    # input
    Case("empty spec", "input", ["build", "{tmp}/empty.toml", "--out", "{tmp}/b"], r"empty.toml.*classes",
         setup=_empty_spec),
    Case("spec without classes", "input", ["build", "{tmp}/nocls.toml", "--out", "{tmp}/b"], r"nocls.toml.*classes",
         setup=_spec_no_classes),
    Case("dataset validate with junk at the root", "input", ["dataset", "validate", "{built}"], r"notes.txt",
         setup=_junk_root),
    Case("dataset stats of a file", "input", ["dataset", "stats", "{spec_a}"], r"spec_a.toml"),
    Case("evaluate a dataset that is a file", "input", ["evaluate", "{spec_a}", "-o", "{tmp}/r"], r"spec_a.toml"),
    # process: huge requests
    Case("huge spec", "process", ["build", "{tmp}/huge.toml", "--out", "{tmp}/b"], r"GB.*--allow-large|--allow-large.*GB",
         setup=_huge_spec),
]


def fill(argv: list[str], paths: dict) -> list[str]:
    def sub(a: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: paths.get(m.group(1), m.group(0)), a)

    return [sub(a) for a in argv]


def classify(case: Case, rc: int, err: str, paths: dict, before: dict) -> tuple[str, str]:
    """(outcome, detail) of one run."""
    for key, snap in before.items():
        if snapshot(key) != snap:
            return "destroyed output", f"{key} changed"
    if rc < 0 or rc > 2 or "error: unexpected" in err or "Traceback" in err:
        return "unexpected exception", (err.strip().splitlines() or [f"rc {rc}"])[-1][:200]
    if case.ok:
        if rc != 0:
            return "wrong message", err.strip()[:200]
        problem = case.check(paths) if case.check else None
        return ("exit 0 wrong result", problem) if problem else ("clear error", "ok")
    if rc == 0:
        return "exit 0 wrong result", "exit 0"
    if not re.search(case.expect, err, re.DOTALL | re.IGNORECASE):
        return "wrong message", err.strip()[:200]
    return "clear error", err.strip().splitlines()[0][:200] if err.strip() else ""


OUTCOMES = ("clear error", "unexpected exception", "exit 0 wrong result", "destroyed output", "wrong message")
