"""The dataset build spec: a frozen dataclass loaded from TOML, unknown keys rejected.

Shipped specs live in ``scan2ad/datasets/specs/*.toml``: ``open-industry-full`` (15 classes ×
160 samples: 100 normal + 60 anomalous, 12 per defect type, as 000 §III-B describes), ``demo``
(small, minutes on 2 cores), ``tiny`` (for tests, seconds), and for the ``pipeline`` source
(virtual-rig capture -> reconstruction -> carving, :mod:`scan2ad.datasets.pipeline`)
``demo-pipeline`` (2 classes × 16 samples, minutes) and ``tiny-pipeline`` (for tests). ``load_spec("demo")`` reads a
shipped one; ``load_spec(path)`` any file.

The user's own parts: an entry of ``classes`` is a part-library name or an inline table
(:class:`OwnClass`) naming the class and where its parts come from, paths (glob patterns)
relative to the spec file::

    classes = ["heavy_washer",
               { name = "bracket", meshes = ["parts/bracket_*.stl"], units = "mm" },
               { name = "hinge", sessions = ["scans/hinge_*"],
                 real_anomalies = [{ path = "defective/hinge_dent_1", type = "Dent" }] },
               { name = "knob", clouds = ["recon/knob_*"] }]

``meshes`` are part instances (ply/stl/obj) made like the library's parts by the spec's
``source`` (``carve``: carved and sampled; ``pipeline``: scanned on the virtual rig, then
carved); ``sessions`` (folders of ``scan2ad capture``) and ``clouds`` (folders holding a
reconstruction's ``part.ply`` and ``mesh.ply``) are measured scans, carved and labelled as the
``pipeline`` source does whatever ``source`` says (:mod:`scan2ad.datasets.own_parts`).

Where 000 is silent: how the 100 normal samples divide into training references and normal test
samples. The shipped full spec takes 60 references and 40 normal test samples.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

from scan2ad.acquisition.parts import PART_NAMES as OPEN_INDUSTRY_CLASSES
from scan2ad.acquisition.session import MESH_UNITS_MM
from scan2ad.config import config_to_dict, doc, load_config
from scan2ad.errors import InputError

SPECS_DIR = Path(__file__).resolve().parent / "specs"
DEFAULT_RIG = "virtual"  # the rig of the pipeline source (datasets.pipeline.RIG)
OPEN_INDUSTRY_DEFECTS = ("Bump", "Dent", "Scratch", "Scar", "Deformation")


@dataclasses.dataclass(frozen=True)
class DefectRange:
    """Parameter ranges of one defect type; each sample draws uniformly inside them."""

    radius_mm: tuple[float, float] = doc("radius of the affected region (mm)", (1.5, 3.0))
    depth_mm: tuple[float, float] = doc("peak displacement along the surface normal (mm)", (0.4, 1.0))
    length_mm: tuple[float, float] = doc("length (Scratch only, mm)", (6.0, 12.0))


_BUMP = DefectRange((1.5, 3.0), (0.35, 0.9))
_DENT = DefectRange((1.5, 3.0), (0.35, 0.9))
_SCRATCH = DefectRange((0.4, 0.7), (0.2, 0.45), (6.0, 12.0))
_SCAR = DefectRange((1.5, 2.5), (0.2, 0.45))
_DEFORMATION = DefectRange((3.0, 5.0), (0.4, 0.8))


@dataclasses.dataclass(frozen=True)
class DefectParams:
    """Ranges per Open-Industry defect type (000 §III: convex, concave, scratch, scar, deformation)."""

    Bump: DefectRange = doc("convex defect", _BUMP)
    Dent: DefectRange = doc("concave defect", _DENT)
    Scratch: DefectRange = doc("narrow groove: radius is the half-width", _SCRATCH)
    Scar: DefectRange = doc("irregular pitted patch", _SCAR)
    Deformation: DefectRange = doc("broad bend of the part: wide and shallow", _DEFORMATION)


_DEFECT_PARAMS = DefectParams()

UNITS_MM = MESH_UNITS_MM  # one table for `capture --units` and own-part classes
_CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(_[A-Za-z0-9-]+)*$")


@dataclasses.dataclass(frozen=True)
class RealAnomaly:
    """A physically defective part, captured like the others and labelled by hand (not carved)."""

    path: str = doc("the labelled sample, relative to the spec file: a folder holding cloud.ply + "
                    "labels.npy (what `scan2ad label` saves and the CloudCompare import writes) or a "
                    "cloud file with labels in it or in <stem>.labels.npy beside it; in the frame "
                    "and units of the class's other samples (same rig) — it is not registered")
    type: str = doc("its defect type (DESIGN §4, Open-Industry vocabulary)")


@dataclasses.dataclass(frozen=True)
class OwnClass:
    """A class of the user's own parts: exactly one of meshes / sessions / clouds (or none, for a
    part-library class given as a table to add real anomalies)."""

    name: str = doc("class name (letters, digits, '-' and single '_' between them; the file names "
                    "<class>_<Type>_NNN must stay parseable, so no type name as a suffix)")
    meshes: tuple[str, ...] = doc("mesh files (ply/stl/obj), glob patterns: each file is a part "
                                  "instance, made by the spec's source (carve / pipeline)", ())
    sessions: tuple[str, ...] = doc("capture-session folders (scan2ad capture), glob patterns: each "
                                    "session is one scan, reconstructed once", ())
    clouds: tuple[str, ...] = doc("reconstruction folders holding part.ply (with normals) and "
                                  "mesh.ply, glob patterns: each is one scan", ())
    units: Literal["mm", "cm", "m", "in"] = doc("length unit of the meshes / clouds (sessions are in "
                                                 "mm by the rig's calibration)", "mm")
    size_jitter: float = doc("meshes: relative spread of a seeded uniform size scaling per sample "
                             "(carve) or per scan (pipeline); 0: the files' own size", 0.0)
    real_anomalies: tuple[RealAnomaly, ...] = doc("captured defective parts labelled by hand: they "
                                                  "join the test split beside the carved ones", ())

    @property
    def kind(self) -> str:
        """library | meshes | sessions | clouds."""
        given = [k for k in ("meshes", "sessions", "clouds") if getattr(self, k)]
        return given[0] if len(given) == 1 else ("library" if not given else "+".join(given))


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """What ``scan2ad build`` makes."""

    name: str = doc("dataset name (manifest, README)", "dataset")
    source: Literal["synthetic", "carve", "pipeline"] = doc(
        "synthetic: procedural parts -> surface sampling -> analytic defects -> labels -> noise; "
        "carve: part library -> Blender carving and labels of the annotation stage -> noise "
        "(defect sizes chosen for Open-Industry's anomaly ratio; defect_params unused); "
        "pipeline: virtual-rig capture (in memory) -> reconstruction -> carving of the scan's "
        "mesh, moving its measured points -> labels (scanner noise is the rig's own; noise_mm "
        "and defect_params unused)",
        "synthetic")
    classes: tuple[str | OwnClass, ...] = doc(
        "part categories: scan2ad.acquisition.parts names (or the synthetic source's "
        "ring/washer/bracket), or inline tables of the user's own parts "
        "({ name, meshes | sessions | clouds, units, size_jitter, real_anomalies }, paths "
        "relative to the spec file)", OPEN_INDUSTRY_CLASSES)
    n_train: int = doc("normal references per class (train/)", 60)
    n_test_normal: int = doc("normal test samples per class", 40)
    n_per_defect: int = doc("anomalous test samples per class and defect type", 12)
    defects: tuple[str, ...] = doc("defect vocabulary (DESIGN §4)", OPEN_INDUSTRY_DEFECTS)
    defect_params: DefectParams = doc("parameter ranges per defect type", _DEFECT_PARAMS)
    max_radius_frac: float = doc(
        "defect radii (and scratch lengths) are scaled down so the largest stays below this "
        "fraction of the part's bounding-box diagonal", 0.06)
    points: int = doc("points per sample", 90000)
    points_jitter: float = doc("relative spread of the point count between samples", 0.1)
    noise_mm: float = doc("scanner noise: std of Gaussian displacement (mm)", 0.015)
    label_threshold_mm: float = doc("a point is anomalous where the defect moved it farther (mm)", 0.05)
    max_rotation_deg: float = doc("random placement rotation of each sample (deg)", 3.0)
    texture_mm: float = doc(
        "pipeline: std of a smooth random height field added along the normals of every sample's "
        "points (machining traces and correlated scanner error; datasets.pipeline.surface_texture); "
        "0: the rig's per-pixel noise only", 0.0)
    texture_corr_mm: float = doc("pipeline: correlation length of that height field (mm)", 0.5)
    label_margin_mm: float = doc(
        "pipeline: an annotator's margin around the geometric labels: points within this distance "
        "of a labelled point, on the same side of the part (normals less than 90 deg apart), are "
        "labelled anomalous too (datasets.pipeline.annotator_margin); 0: the geometric labels", 0.0)
    part_variation: float = doc(
        "pipeline: spread of the scanned part instances, a factor on every random draw of the part "
        "library around its band's centre (acquisition.parts.ScaledDraws): 1 = each dimension "
        "uniform over the standard's tolerance band (parts from different batches), 0.1 = one "
        "production batch (open-industry-full), 0 = every instance the nominal part", 1.0)
    defect_area_scale: float = doc(
        "pipeline: factor on the carved footprint's target area (1.2 % of the scanned area): the "
        "labelled share is smaller than the footprint by the falloff's rim below the label "
        "threshold", 1.0)
    defect_depth_scale: float = doc(
        "pipeline: factor on the annotation stage's default defect depth (kept >= 2 label "
        "thresholds)", 1.0)
    views: int = doc("pipeline: turntable views captured per scan (equal steps)", 4)
    class_rigs: dict[str, str] = doc(
        "pipeline: virtual rig (a name in calibration_data/rigs/ or a TOML path) per library "
        "class, e.g. { split_pin = \"virtual_macro\" } to scan small parts through longer lenses; "
        "classes not named are scanned on \"virtual\"", {})
    samples_per_scan: int = doc(
        "pipeline: samples drawn from one scan of a part instance (different resamplings of its "
        "measured points, carved or not); train and test never share a scan", 4)
    poisson_depth: int = doc("pipeline: octree depth of the scan's Poisson mesh (the carved surface)", 8)
    seed: int = doc("master seed: every sample's seed derives from it, the class and the index", 0)
    split_ks: tuple[int, ...] = doc("seen anomalies per known type in the open-set splits", (5, 10))
    split_seeds: tuple[int, ...] = doc("split seeds", (1, 2, 3, 4, 5))
    gallery: bool = doc("render gallery/<class>.png", True)
    base_dir: str = doc("folder the paths of own-part classes are relative to (empty: the spec "
                        "file's folder; the working directory for a spec given as a dict)", "")

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c if isinstance(c, str) else c.name for c in self.classes)

    def own(self, cls: str) -> OwnClass | None:
        """The table of class ``cls`` (None for a plain library name)."""
        return next((c for c in self.classes if not isinstance(c, str) and c.name == cls), None)

    def kind(self, cls: str) -> str:
        """library | meshes | sessions | clouds: where class ``cls``'s parts come from."""
        own = self.own(cls)
        return "library" if own is None else own.kind

    def real_anomalies(self, cls: str) -> tuple[RealAnomaly, ...]:
        own = self.own(cls)
        return () if own is None else own.real_anomalies

    @property
    def root(self) -> Path:
        """The folder own-part paths are relative to."""
        return Path(self.base_dir or ".").resolve()

    def check(self, source_path: Path | None = None) -> BuildSpec:
        problems = []
        from scan2ad.datasets.synthetic import SHAPES

        known = OPEN_INDUSTRY_CLASSES + SHAPES
        if not self.classes:
            problems.append("classes is empty")
        names = self.class_names
        library = [c if isinstance(c, str) else c.name for c in self.classes
                   if isinstance(c, str) or c.kind == "library"]
        bad = [c for c in library if c not in known]
        if bad:
            problems.append(f"unknown class(es) {bad} (known: {', '.join(known)}; a class of your "
                            "own parts is a table: {{ name = ..., meshes = [...] }}, or sessions / "
                            "clouds)")
        if len(set(names)) != len(names):
            problems.append("classes repeat")
        for c in self.classes:
            if isinstance(c, str):
                continue
            problems += [f"class {c.name!r}: {p}" for p in self._check_own(c)]
        bad = [d for d in self.defects if d not in OPEN_INDUSTRY_DEFECTS]
        if bad:
            problems.append(f"unknown defect type(s) {bad} (known: {', '.join(OPEN_INDUSTRY_DEFECTS)})")
        for f in ("n_train", "n_per_defect", "points"):
            if getattr(self, f) < 1:
                problems.append(f"{f} must be >= 1")
        if self.n_test_normal < 0:
            problems.append("n_test_normal must be >= 0")
        if self.points < 100:
            problems.append("points must be >= 100")
        if not 0 < self.max_radius_frac <= 1:
            problems.append("max_radius_frac must be in (0, 1]")
        if not 0 <= self.points_jitter < 0.5:
            problems.append("points_jitter must be in [0, 0.5)")
        # physical ranges of the sample settings (a negative noise std, a rotation of 1e9 degrees
        # or a label threshold beyond any part's size is a slip, not a setting)
        if not 0 <= self.noise_mm <= 5:
            problems.append("noise_mm must be in [0, 5] mm")
        if not 0 <= self.label_threshold_mm <= 5:
            problems.append("label_threshold_mm must be in [0, 5] mm")
        if not 0 <= self.max_rotation_deg <= 180:
            problems.append("max_rotation_deg must be in [0, 180] degrees")
        big = [k for k in self.split_ks if k >= self.n_per_defect]
        if big:
            problems.append(f"split_ks {big} leave no seen test anomaly: each must be < n_per_defect "
                            f"({self.n_per_defect})")
        for name in OPEN_INDUSTRY_DEFECTS:
            r: DefectRange = getattr(self.defect_params, name)
            for f in ("radius_mm", "depth_mm", "length_mm"):
                lo, hi = getattr(r, f)
                if not 0 <= lo <= hi:
                    problems.append(f"defect_params.{name}.{f} must be 0 <= low <= high, got {[lo, hi]}")
        if self.source == "carve":
            from scan2ad.datasets.synthetic import SHAPES

            shapes = [c for c in library if c in SHAPES]
            if shapes:
                problems.append(f"source = 'carve' needs part-library classes, not {shapes}")
            if self.noise_mm <= 0:
                problems.append("source = 'carve' needs noise_mm > 0 (its label threshold is "
                                "label_threshold_mm = k * noise_mm)")
        measured = [c for c in names if self.kind(c) in ("sessions", "clouds")]
        if self.source == "pipeline" or measured:
            from scan2ad.datasets.synthetic import SHAPES

            shapes = [c for c in library if c in SHAPES]
            if shapes:
                problems.append(f"source = 'pipeline' scans part-library classes, not {shapes}")
            if not 1 <= self.views <= 360:
                problems.append("views must be in [1, 360] (turntable steps of at least 1 degree)")
            if self.samples_per_scan < 1:
                problems.append("samples_per_scan must be >= 1")
            if not 4 <= self.poisson_depth <= 11:
                problems.append("poisson_depth must be in [4, 11]")
            if self.label_threshold_mm <= 0:
                problems.append("source = 'pipeline' (and classes of sessions or clouds) needs "
                                "label_threshold_mm > 0")
            if not 0 <= self.texture_mm <= 1:
                problems.append("texture_mm must be in [0, 1] mm")
            if not 0 < self.texture_corr_mm <= 100:
                problems.append("texture_corr_mm must be in (0, 100] mm")
            if not 0 <= self.label_margin_mm <= 5:
                problems.append("label_margin_mm must be in [0, 5] mm")
            if not 0 <= self.part_variation <= 1:
                problems.append("part_variation must be in [0, 1]")
            if not 0 < self.defect_area_scale <= 4:
                problems.append("defect_area_scale must be in (0, 4]")
            if not 0 < self.defect_depth_scale <= 10:
                problems.append("defect_depth_scale must be in (0, 10]")
        for key, off in (("part_variation", 1), ("label_margin_mm", 0)):  # pipeline-only, set
            if self.source != "pipeline" and getattr(self, key) != off:
                problems.append(f"{key} applies to source = 'pipeline' (this spec's source is "
                                f"{self.source!r})")
        problems += self._check_rigs(library)
        if problems:
            raise InputError("invalid build spec:\n  " + "\n  ".join(problems), source_path)
        return self

    def rig(self, cls: str) -> str:
        """The virtual rig that scans class ``cls`` (source ``pipeline``)."""
        return self.class_rigs.get(cls, DEFAULT_RIG)

    def _check_rigs(self, library: list[str]) -> list[str]:
        if not self.class_rigs:
            return []
        if self.source != "pipeline":
            return [f"class_rigs applies to source = 'pipeline' (this spec's source is {self.source!r})"]
        problems = []
        from scan2ad.acquisition.rig import load_rig

        for cls, name in self.class_rigs.items():
            if cls not in library:
                problems.append(f"class_rigs: {cls!r} is not a part-library class of this spec "
                                f"(its library classes: {', '.join(library) or 'none'})")
                continue
            try:
                rig = load_rig(name)
            except InputError as exc:
                problems.append(f"class_rigs.{cls}: {exc}")
                continue
            if not rig.is_virtual:
                problems.append(f"class_rigs.{cls}: rig {name!r} has no [virtual] geometry: the "
                                "pipeline source scans on a virtual rig")
        return problems

    def _check_own(self, c: OwnClass) -> list[str]:
        problems = []
        if not _CLASS_NAME.match(c.name) or any(c.name.endswith(f"_{t}") for t in OPEN_INDUSTRY_DEFECTS):
            problems.append("the name must be letters, digits and '-', joined by single '_', and "
                            "not end in _<defect type>")
        if "+" in c.kind:
            problems.append(f"give one of meshes, sessions, clouds (got {c.kind.replace('+', ', ')}); "
                            "mix kinds in separate classes")
        if c.kind == "library" and not c.real_anomalies:
            problems.append("no meshes, sessions or clouds")
        if c.kind == "meshes" and self.source not in ("carve", "pipeline", "synthetic"):
            problems.append(f"meshes need source 'carve', 'pipeline' or 'synthetic', not {self.source!r}")
        if c.kind == "sessions" and c.units != "mm":
            problems.append("sessions are in mm (the rig's calibration); units applies to meshes "
                            "and clouds")
        if not 0 <= c.size_jitter < 0.5:
            problems.append("size_jitter must be in [0, 0.5)")
        for pat in c.meshes + c.sessions + c.clouds + tuple(r.path for r in c.real_anomalies):
            if not pat.strip():
                problems.append("an empty path")
        for r in c.real_anomalies:
            if r.type not in OPEN_INDUSTRY_DEFECTS:
                problems.append(f"real anomaly {r.path}: type {r.type!r} is not one of "
                                f"{', '.join(OPEN_INDUSTRY_DEFECTS)}")
        k = max(self.split_ks, default=0)
        for t in sorted({r.type for r in c.real_anomalies} - set(self.defects)):
            n = sum(r.type == t for r in c.real_anomalies)
            if n <= k:
                problems.append(f"{n} real anomaly(ies) of type {t}, which is not carved (not in "
                                f"defects): an open-set split with k = {k} needs more than {k}")
        return problems


def shipped_specs() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def load_spec(spec: str | Path | dict, **overrides) -> BuildSpec:
    """A spec from a TOML path, a shipped spec name (``demo``) or a dict; validated."""
    if isinstance(spec, dict):
        s = load_config(BuildSpec, spec, **overrides)
        return _with_base(s, Path.cwd()).check()
    path = Path(spec)
    if not path.exists() and (SPECS_DIR / f"{spec}.toml").is_file():
        path = SPECS_DIR / f"{spec}.toml"
    if not path.is_file():
        raise InputError(f"no such spec file (shipped specs: {', '.join(shipped_specs())})", path)
    from scan2ad.config import read_toml

    cfg = load_config(BuildSpec, path, **overrides)  # unknown keys and types first
    if "classes" not in read_toml(path) and "classes" not in overrides:
        # the default is every Open-Industry class at full size: hours of work nobody asked for
        raise InputError(f"the spec names no classes{' (the file is empty)' if not read_toml(path) else ''}: "
                         f"add e.g. classes = [\"ring\", \"washer\"] (known: "
                         f"{', '.join(OPEN_INDUSTRY_CLASSES)}, ring, washer, bracket)", path)
    return _with_base(cfg, path.resolve().parent).check(path)


def _with_base(spec: BuildSpec, folder: Path) -> BuildSpec:
    """``spec`` with its own parts' folder made absolute (``base_dir``, itself relative to
    ``folder``); specs of library classes only stay as written (their manifests then do not
    depend on where the checkout lies)."""
    if all(isinstance(c, str) for c in spec.classes):
        return spec
    return dataclasses.replace(spec, base_dir=str((folder / spec.base_dir).resolve()))


def spec_to_dict(spec: BuildSpec) -> dict:
    d = config_to_dict(spec)
    if not d.get("class_rigs"):  # specs without it keep the job (and manifest) they always had
        d.pop("class_rigs", None)
    return d
