"""``scan2ad build``: a dataset spec to a complete Open-Industry-format dataset, resumable.

The build is a graph of :class:`scan2ad.executors.Unit` (DESIGN §7): one unit per sample, one
``package_class`` unit per class (open-set splits, gallery) depending on its samples, and one
``package_dataset`` unit (manifest, stats, README) depending on everything. A unit's key is the
hash of its function and arguments (the sample's seed, its parameters, its output path); a
finished unit's result is cached in ``<out>/.build/units/<key>.json`` and skipped on rerun.

Resume is byte-exact because (1) every sample is a pure function of its arguments (its seed is
``[spec.seed, crc32(class), role, index]``, independent of execution order), (2) every file is
written atomically (temp + rename) and the cache entry only after the file, (3) a rerun first
removes temp files a kill left behind and drops cache entries whose output file is missing or
changed, and (4) packaging writes sorted, timestamp-free files. Killing a build at any moment and
rerunning it gives the bytes of an uninterrupted build (``tests/integration/test_build_resume.py``).

Sources:
- ``synthetic`` (the geometry-only path): procedural part (``scan2ad.acquisition.parts``) →
  surface sampling → defect (``scan2ad.datasets.defects``) → scanner noise → labels, in one
  ``build_sample`` unit: there is no intermediate artefact worth caching on this path.
- ``carve``: part library mesh → the annotation stage's Blender carving and labels
  (:func:`scan2ad.annotation.sample.carve_sample`) → scanner noise, in one unit per sample.
- ``pipeline``: virtual-rig capture → reconstruction → carving → labels, as ``capture_view``
  units (one per scan and view), ``reconstruct_scan`` units (one per scan) and
  ``pipeline_sample`` units (one per sample, several per scan): see
  :mod:`scan2ad.datasets.pipeline`.

Classes of the user's own parts (:mod:`scan2ad.datasets.own_parts`): mesh files take the place
of the library's instances in the spec's source; capture sessions (``reconstruct_session_scan``
units) and existing reconstructions (``prepare_cloud_scan``) are scans whose samples are
``pipeline_sample`` units whatever the source; hand-labelled real anomalies are
``real_anomaly_sample`` units.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.datasets.spec import OPEN_INDUSTRY_DEFECTS, BuildSpec, spec_to_dict
from scan2ad.errors import InputError, UnitFailedError
from scan2ad.executors import RunReport, Unit, run_units
from scan2ad.io import read_json, sha256_file
from scan2ad.log import get_logger

log = get_logger(__name__)

BUILD_DIR = ".build"
_ROLE_TRAIN, _ROLE_TEST = 0, 1


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _part_source(cls: str) -> str:
    """Where a class's meshes come from: the acquisition stage's part library (the 15
    Open-Industry categories) or the three fast shapes of :mod:`scan2ad.datasets.synthetic`.
    Recorded in each unit's arguments, so a change of library changes the unit keys."""
    from scan2ad.datasets.synthetic import SHAPES

    return "scan2ad.datasets.synthetic" if cls in SHAPES else "scan2ad.acquisition.parts"


def _mesh(cls: str, part_source: str, rng: np.random.Generator):
    if part_source == "scan2ad.acquisition.parts":
        from scan2ad.acquisition.parts import make_part

        return make_part(cls, int(rng.integers(2**31)))
    from scan2ad.datasets.synthetic import _part_mesh

    return _part_mesh(cls, rng)


def _random_rotation(max_deg: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(0, max_deg))).as_matrix()


def make_labelled_cloud(cls: str, defect: str | None, seed: list[int], params: dict,
                        part_source: str = "scan2ad.acquisition.parts", part: dict | None = None):
    """One sample of the geometry-only path: (points (N,3) float32-exact, labels, defect specs)."""
    import trimesh

    from scan2ad.datasets.defects import apply_defect
    from scan2ad.datasets.spec import DefectRange

    rng = np.random.default_rng(seed)
    if part is None:
        mesh = _mesh(cls, part_source, rng)
    else:  # an own-part class's mesh file
        from scan2ad.datasets.own_parts import load_part_mesh

        mesh = load_part_mesh(part, int(rng.integers(2**31)))
    n = round(params["points"] * (1 + params["points_jitter"] * rng.uniform(-1, 1)))
    pts, face = trimesh.sample.sample_surface(mesh, n, seed=int(rng.integers(2**31)))
    pts = np.asarray(pts, np.float64)
    nrm = np.asarray(mesh.face_normals[face], np.float64)
    labels = np.zeros(n, np.uint8)
    specs = []
    if defect is not None:
        rng_def = params["defect_range"]
        ranges = DefectRange(**{k: tuple(v) for k, v in rng_def.items()})
        # small parts (a 3 mm split-pin wire) would be swallowed by a defect sized for a heavy
        # washer: cap the radius (and scratch length) at a fraction of the part's diagonal
        cap = params.get("max_radius_frac", 1.0) * float(np.linalg.norm(mesh.extents))
        if ranges.radius_mm[1] > cap:
            f = cap / ranges.radius_mm[1]
            ranges = DefectRange(tuple(r * f for r in ranges.radius_mm), ranges.depth_mm,
                                 tuple(r * f for r in ranges.length_mm))
        for _attempt in range(20):  # a centre on a thin edge can move nothing above threshold
            moved, mag, dspec = apply_defect(pts, nrm, defect, rng, ranges)
            labels = (mag > params["label_threshold_mm"]).astype(np.uint8)
            if labels.sum() > 0:
                break
        else:
            raise RuntimeError(f"{defect} on {cls}: no point moved more than "
                               f"{params['label_threshold_mm']} mm in 20 attempts")
        pts = moved
        specs.append(dspec)
    pts = pts + rng.normal(scale=params["noise_mm"], size=pts.shape)
    pts = pts @ _random_rotation(params["max_rotation_deg"], rng).T
    # float32-representable values: the pcd and the "%.9g" gt rows then hold identical numbers
    return pts.astype(np.float32).astype(np.float64), labels, specs


def _jsonable(obj):
    """Numpy values inside a defect spec as plain lists/floats (unit results are JSON)."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def make_carved_cloud(cls: str, defect: str | None, seed: list[int], params: dict,
                      part: dict | None = None):
    """One sample of the ``carve`` source: part library mesh → Blender carving and labels of the
    annotation stage (:func:`scan2ad.annotation.sample.carve_sample`, sized for Open-Industry's
    mean anomaly ratio) → scanner noise along the normal. Normal samples are the uncarved mesh
    sampled the same way (area-uniform, same noise). A carve whose label ratio falls outside
    the annotation stage's accepted range is redrawn with the next defect seed (up to 4 times);
    when every draw misses (thin parts, where any visible defect covers much of the surface) the
    first one is kept with the check off and ``ratio_check_relaxed`` recorded in provenance.
    ``part``: the mesh file of an own-part class instead of the library's instance."""
    import trimesh

    from scan2ad.acquisition.parts import make_part
    from scan2ad.annotation.labels import LabelConfig, LabelRatioError
    from scan2ad.annotation.sample import carve_sample

    rng = np.random.default_rng(seed)
    if part is None:
        mesh = make_part(cls, int(rng.integers(2**31)))
    else:
        from scan2ad.datasets.own_parts import load_part_mesh

        mesh = load_part_mesh(part, int(rng.integers(2**31)))
    n = round(params["points"] * (1 + params["points_jitter"] * rng.uniform(-1, 1)))
    noise = params["noise_mm"]
    sample_seed = int(rng.integers(2**31))
    specs: list[dict] = []
    if defect is None:
        pts, face = trimesh.sample.sample_surface(mesh, n, seed=sample_seed)
        nrm = np.asarray(mesh.face_normals[face])
        pts = np.asarray(pts) + nrm * rng.normal(0.0, noise, (n, 1))
        labels = np.zeros(n, np.uint8)
    else:
        cfg = LabelConfig(n_points=n, noise_sigma_mm=noise, add_noise=True,
                          k_sigma=params["label_threshold_mm"] / noise)
        relaxed = False
        for attempt in range(4):
            try:
                carved = carve_sample(mesh, defect, seed=sample_seed + attempt, label_cfg=cfg)
                break
            except LabelRatioError:
                if attempt == 3:  # thin parts (a split pin's wire): keep the carve, say so
                    relaxed = True
                    cfg = dataclasses.replace(cfg, check_ratio=False)
                    carved = carve_sample(mesh, defect, seed=sample_seed, label_cfg=cfg)
                    attempt = 0
        pts, labels = carved.cloud.points, carved.cloud.labels.astype(np.uint8)
        specs = [_jsonable(sp.to_dict()) | {"seed": sample_seed + attempt, "ratio_check_relaxed": relaxed}
                 for sp in carved.specs]
    pts = np.asarray(pts, np.float64) @ _random_rotation(params["max_rotation_deg"], rng).T
    return pts.astype(np.float32).astype(np.float64), labels, specs


def sample_record(root: Path, relpath: str, gt_relpath: str | None, cls: str, split: str,
                  defect: str | None, pts: np.ndarray, labels: np.ndarray) -> dict:
    """A sample's manifest record (provenance added by the caller), from its written files."""
    n, n_anom = len(pts), int(labels.sum())
    return {
        "relpath": relpath, "class": cls, "split": split, "type": defect or NORMAL,
        "points": n, "anomaly_points": n_anom, "anomaly_ratio": round(n_anom / n, 6),
        "sha256": sha256_file(root / relpath),
        "gt_relpath": gt_relpath,
        "gt_sha256": sha256_file(root / gt_relpath) if gt_relpath else None,
    }


def build_sample(out: str, relpath: str, gt_relpath: str | None, cls: str, split: str,
                 defect: str | None, seed: list[int], params: dict, part_source: str,
                 part: dict | None = None) -> dict:
    """Unit: make one sample, write its pcd (and gt txt) atomically, return its manifest record.
    ``part``: an own-part class's mesh file (:func:`scan2ad.datasets.own_parts.mesh_instances`)."""
    from scan2ad.pointcloud import PointCloud, write_cloud, write_xyz

    root = Path(out)
    if params.get("source") == "carve":
        pts, labels, specs = make_carved_cloud(cls, defect, seed, params, part)
    else:
        pts, labels, specs = make_labelled_cloud(cls, defect, seed, params, part_source, part)
    write_cloud(root / relpath, PointCloud(pts))
    if gt_relpath is not None:
        write_xyz(root / gt_relpath, PointCloud(pts, labels=labels))
    rec = sample_record(root, relpath, gt_relpath, cls, split, defect, pts, labels)
    rec["provenance"] = {"source": params.get("source", "synthetic"), "part": cls,
                         "part_source": part_source,
                         "seed": list(seed), "session": None, "defects": specs}
    if part is not None:
        from scan2ad.datasets.own_parts import mesh_provenance

        rec["provenance"].update(part_source="mesh", **mesh_provenance(part))
    return rec


def _samples_from_records(root: Path, records: list[dict]) -> list[Sample]:
    return [Sample(r["class"], r["split"], r["type"], root / r["relpath"],
                   root / r["gt_relpath"] if r["gt_relpath"] else None, r["relpath"])
            for r in sorted(records, key=lambda r: r["relpath"])]


def package_class(out: str, cls: str, ks: list[int], seeds: list[int], gallery: bool,
                  deps: dict | None = None) -> dict:
    """Unit: the class's open-set split files and gallery PNG from its samples' records."""
    from scan2ad.datasets.package import render_gallery
    from scan2ad.datasets.splits import write_class_splits

    root = Path(out)
    records = [r for r in (deps or {}).values() if isinstance(r, dict) and r.get("class") == cls
               and "relpath" in r]
    samples = _samples_from_records(root, records)
    files = write_class_splits(root, samples, cls, ks=tuple(ks), seeds=tuple(seeds))
    png = render_gallery(root, samples, cls) if gallery else None
    return {"package_class": cls,
            "splits": [p.relative_to(root).as_posix() for p in files],
            "gallery": png.relative_to(root).as_posix() if png else None}


def package_dataset(out: str, name: str, spec: dict, ks: list[int], seeds: list[int],
                    deps: dict | None = None) -> dict:
    """Unit: manifest.json, stats.csv and README.md from every sample's record."""
    from scan2ad.datasets.package import write_manifest, write_readme, write_stats

    root = Path(out)
    records = [r for r in (deps or {}).values() if isinstance(r, dict) and "relpath" in r]
    write_manifest(root, records, name, spec)
    write_stats(root, records)
    write_readme(root, records, name, spec, tuple(ks), tuple(seeds))
    return {"package_dataset": name, "samples": len(records)}


@dataclasses.dataclass(frozen=True)
class PlannedSample:
    relpath: str
    gt_relpath: str | None
    cls: str
    split: str
    defect: str | None
    seed: tuple[int, ...]
    real: dict | None = None  # a hand-labelled real anomaly (own_parts.real_anomalies)


def plan_samples(spec: BuildSpec) -> list[PlannedSample]:
    """Every sample the spec asks for, with its path and seed (order-independent); real
    anomalies are numbered after the carved samples of their type."""
    plan = []
    for cls in spec.class_names:
        c = _crc(cls)
        for i in range(spec.n_train):
            plan.append(PlannedSample(f"{cls}/train/{cls}_{i + 1:03d}.pcd", None, cls, "train",
                                      None, (spec.seed, c, _ROLE_TRAIN, i)))
        for i in range(spec.n_test_normal):
            plan.append(PlannedSample(f"{cls}/test/{cls}_{i + 1:03d}.pcd", None, cls, "test",
                                      None, (spec.seed, c, _ROLE_TEST, i)))
        for d in spec.defects:
            role = 2 + OPEN_INDUSTRY_DEFECTS.index(d)
            for i in range(spec.n_per_defect):
                stem = f"{cls}_{d}_{i + 1:03d}"
                plan.append(PlannedSample(f"{cls}/test/{stem}.pcd", f"{cls}/gt/{stem}.txt", cls,
                                          "test", d, (spec.seed, c, role, i)))
        if spec.real_anomalies(cls):
            from scan2ad.datasets.own_parts import real_anomalies

            count: dict[str, int] = {}
            for real in real_anomalies(spec, cls):
                d = real["type"]
                j = count.get(d, spec.n_per_defect if d in spec.defects else 0)
                count[d] = j + 1
                stem = f"{cls}_{d}_{j + 1:03d}"
                plan.append(PlannedSample(f"{cls}/test/{stem}.pcd", f"{cls}/gt/{stem}.txt", cls,
                                          "test", d, (spec.seed, c, 20 + OPEN_INDUSTRY_DEFECTS.index(d), j),
                                          real))
    return plan


# pipeline sample settings added after builds were made: a unit's arguments hold them only when
# they differ from 0, so a build made before them keeps its unit keys (and its cache)
OPTIONAL_SAMPLE_KEYS = ("label_margin_mm",)


def sample_params(spec: BuildSpec) -> dict:
    """The per-sample settings a build hands to its sample source (the unit arguments that make a
    sample; also what a tool that makes samples like the build's must pass, e.g.
    ``benchmarks/realism_proxy.py``)."""
    base = {"points": spec.points, "points_jitter": spec.points_jitter, "noise_mm": spec.noise_mm,
            "label_threshold_mm": spec.label_threshold_mm,
            "max_rotation_deg": spec.max_rotation_deg, "max_radius_frac": spec.max_radius_frac,
            "source": spec.source}
    if spec.source == "pipeline":  # sample settings of the pipeline source only (other keys unchanged)
        base.update(texture_mm=spec.texture_mm, texture_corr_mm=spec.texture_corr_mm,
                    defect_depth_scale=spec.defect_depth_scale, defect_area_scale=spec.defect_area_scale)
        for key in OPTIONAL_SAMPLE_KEYS:  # keyed only when set: earlier builds' unit keys unchanged
            if getattr(spec, key):
                base[key] = getattr(spec, key)
    return base


def plan_units(spec: BuildSpec, out: Path) -> list[Unit]:
    """The unit graph of a build into ``out``."""
    out_s = str(out.resolve())
    base = sample_params(spec)
    units: list[Unit] = []
    scan_units: list[Unit] = []
    plan = plan_samples(spec)
    real = [p for p in plan if p.real is not None]
    measured = [p for p in plan if p.real is None and spec.kind(p.cls) in ("sessions", "clouds")]
    made = [p for p in plan if p.real is None and spec.kind(p.cls) in ("library", "meshes")]
    if spec.source == "pipeline":
        from scan2ad.datasets.pipeline import plan_pipeline_units

        scan_units, units = plan_pipeline_units(spec, out_s, made, base)
        made = []
    parts: dict[str, list[dict]] = {}
    for cls in sorted({p.cls for p in made if spec.kind(p.cls) == "meshes"}):
        from scan2ad.datasets.own_parts import mesh_instances

        parts[cls] = mesh_instances(spec, cls)
    turn: dict[tuple[str, str], int] = {}
    for p in made:
        params = dict(base)
        if p.defect is not None and spec.source == "synthetic":
            params["defect_range"] = dataclasses.asdict(getattr(spec.defect_params, p.defect))
        kwargs = {"out": out_s, "relpath": p.relpath, "gt_relpath": p.gt_relpath, "cls": p.cls,
                  "split": p.split, "defect": p.defect, "seed": list(p.seed), "params": params,
                  "part_source": ("scan2ad.acquisition.parts" if spec.source == "carve"
                                  else _part_source(p.cls))}
        if p.cls in parts:  # own meshes: sample i of a split takes file i mod F
            i = turn.get((p.cls, p.split), 0)
            turn[(p.cls, p.split)] = i + 1
            kwargs.update(part_source="mesh", part=parts[p.cls][i % len(parts[p.cls])])
        units.append(Unit(build_sample, kwargs, description=f"sample {p.relpath}"))
    if measured:
        from scan2ad.datasets.own_parts import plan_measured_units

        more_scans, more = plan_measured_units(spec, out_s, measured, base)
        scan_units += more_scans
        units += more
    if real:
        from scan2ad.datasets.own_parts import plan_real_units

        units += plan_real_units(spec, out_s, real, base)
    by_class: dict[str, list[str]] = {}
    for u in units:
        by_class.setdefault(u.kwargs["cls"], []).append(u.key)
    return _with_packaging(spec, out_s, scan_units, units, by_class)


SAMPLE_FNS = ("build_sample", "pipeline_sample", "real_anomaly_sample")


def _is_sample(u: Unit) -> bool:
    return u.fn.__name__ in SAMPLE_FNS


def _with_packaging(spec: BuildSpec, out_s: str, upstream: list[Unit], units: list[Unit],
                    by_class: dict[str, list[str]]) -> list[Unit]:
    """``upstream`` (scans) + sample ``units`` + a package unit per class + the dataset's."""
    sample_keys = [u.key for u in units]
    class_units = [Unit(package_class, {"out": out_s, "cls": cls, "ks": list(spec.split_ks),
                                        "seeds": list(spec.split_seeds), "gallery": spec.gallery},
                        description=f"package class {cls}", deps=tuple(keys))
                   for cls, keys in by_class.items()]
    final = Unit(package_dataset, {"out": out_s, "name": spec.name, "spec": spec_to_dict(spec),
                                   "ks": list(spec.split_ks), "seeds": list(spec.split_seeds)},
                 description="package dataset",
                 deps=tuple(sample_keys) + tuple(u.key for u in class_units))
    return upstream + units + class_units + [final]


def _clean_leftovers(out: Path, cache: Path, units: list[Unit]) -> int:
    """Remove temp files a killed build left, and cache entries whose outputs are gone/changed."""
    removed = 0
    for tmp in out.rglob(".*.tmp*"):
        if tmp.is_file():
            tmp.unlink()
            removed += 1
    scans_done: set[str] = set()
    # scans before their captures: a capture's decoded maps are deleted once its scan is
    # reconstructed, and the capture stays done while that scan's outputs stand
    for u in sorted(units, key=lambda u: u.fn.__name__ != "reconstruct_scan"):
        entry = cache / f"{u.key}.json"
        if not entry.is_file():
            continue
        try:
            res = read_json(entry)["result"]
        except (InputError, KeyError):  # a corrupt entry is redone, never trusted
            entry.unlink()
            continue
        files = []
        if isinstance(res, dict) and "capture" in res and res["capture"] in scans_done:
            continue
        if isinstance(res, dict) and "files" in res:  # pipeline captures and scans
            files = [tuple(f) for f in res["files"]]
        elif isinstance(res, dict) and "relpath" in res:
            files = [(res["relpath"], res["sha256"])]
            if res.get("gt_relpath"):
                files.append((res["gt_relpath"], res["gt_sha256"]))
        elif isinstance(res, dict) and "splits" in res:
            files = [(f, None) for f in res["splits"]] + ([(res["gallery"], None)] if res["gallery"] else [])
        elif isinstance(res, dict) and "package_dataset" in res:
            files = [(f, None) for f in ("manifest.json", "stats.csv", "README.md")]
        for rel, sha in files:
            f = out / rel
            if not f.is_file() or (sha is not None and sha256_file(f) != sha):
                entry.unlink()
                removed += 1
                break
        else:
            if isinstance(res, dict) and "scan" in res:
                scans_done.add(res["scan"])
    return removed


@dataclasses.dataclass
class BuildResult:
    out: Path
    samples: int
    ran: int
    cached: int
    seconds: float


def build(spec: BuildSpec, out: str | Path, executor: str = "local", workers: int | None = None,
          address: str | None = None, overwrite: bool = False) -> BuildResult:
    """Build (or resume) ``spec`` into ``out``; raise :class:`UnitFailedError` on failures
    after every independent unit has run.

    ``out`` is claimed (:mod:`scan2ad.outputs`, job = the spec): the same spec resumes in place;
    a folder of another spec or not made by ``build`` is refused unless ``overwrite``, and then
    built in a staging folder (itself resumable) that replaces ``out`` only when complete, so
    a failed or killed rebuild leaves the previous dataset as it was and no stale class folder
    can survive beside a new manifest."""
    from scan2ad.executors import check_workers
    from scan2ad.outputs import claim_output

    check_workers(workers, executor)  # before the output folder is claimed
    out = Path(out)
    job = spec_to_dict(spec)

    def adopt(folder: Path) -> bool:  # a dataset built before output markers, of this spec
        try:
            return (folder / BUILD_DIR).is_dir() and read_json(folder / "manifest.json").get("spec") == job
        except InputError:
            return False

    # a rebuild of changed settings keeps the unit cache (and scans) of the staging folder it
    # replaces: unit keys hash each unit's arguments, so units the change does not touch (a
    # pipeline build's captures and reconstructions when only sample settings changed) are
    # found again; _clean_leftovers drops the entries whose files went with the old staging
    from scan2ad.datasets.own_parts import source_paths

    with claim_output(out, "build", job, overwrite=overwrite, staging="overwrite", keep_staging=True,
                      adopt=adopt, carry=BUILD_DIR, inputs=source_paths(spec), inside_ok=True) as claim:
        result = _build_into(spec, claim.work, executor, workers, address)
        if claim.staged:
            _rekey_cache(spec, claim.work, out)
    return dataclasses.replace(result, out=out)


def _rekey_cache(spec: BuildSpec, staged: Path, final: Path) -> None:
    """Unit keys hash the output path: rename the staging folder's cache entries to the keys the
    units will have at ``final``, so a later rerun there finds them."""
    cache = staged / BUILD_DIR / "units"
    for a, b in zip(plan_units(spec, staged), plan_units(spec, final), strict=True):
        entry = cache / f"{a.key}.json"
        if entry.is_file():
            entry.rename(cache / f"{b.key}.json")


def _build_into(spec: BuildSpec, out: Path, executor: str, workers: int | None,
                address: str | None) -> BuildResult:
    out.mkdir(parents=True, exist_ok=True)
    cache = out / BUILD_DIR / "units"
    cache.mkdir(parents=True, exist_ok=True)
    units = plan_units(spec, out)
    _clean_leftovers(out, cache, units)
    # a dependent unit must rerun when any input reran: drop package entries if a sample is missing
    sample_units = [u for u in units if _is_sample(u)]
    if any(not (cache / f"{u.key}.json").is_file() for u in sample_units):
        for u in units:
            if u.fn.__name__.startswith("package_"):
                (cache / f"{u.key}.json").unlink(missing_ok=True)
    report: RunReport = run_units(units, executor=executor, workers=workers, address=address,
                                  cache_dir=cache, desc=f"build {spec.name}", raise_on_failure=False)
    if report.failures:
        raise UnitFailedError(report.failures)
    return BuildResult(out, len(sample_units), len(report.ran), len(report.cached), report.seconds)
