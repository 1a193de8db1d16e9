"""One anomalous sample: choose defect specs, carve them (Blender), label, write ``<sample>/``.

This is what ``scan2ad carve`` and the dataset builder call (``carve`` through
:func:`carve_sample_redrawn`, which redraws the location like the builder does, and
:func:`normal_sample` for ``carve --normal``). A sample folder holds
``cloud.ply`` + ``labels.npy`` (same order), the carved ``mesh.ply`` and ``defects.json`` (the
specs, the anomaly point ratio and the label threshold); ``defects.json`` alone reproduces the
carve: :func:`recarve` reads it back and carves the same mesh bit for bit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scan2ad.log import get_logger

from .carving import CarveConfig, carve
from .labels import (
    LabelConfig,
    LabelledCloud,
    LabelRatioError,
    check_ratio,
    label_carve,
    write_sample,
)
from .meshprep import RepairReport, prepare_mesh
from .specs import DefectSpec, canonical_type, make_spec, read_defects

log = get_logger(__name__)


@dataclasses.dataclass
class CarvedSample:
    specs: list[DefectSpec]
    cloud: LabelledCloud
    carved_mesh: object
    repair: RepairReport

    @property
    def ratio(self) -> float:
        return self.cloud.ratio


def carve_sample(mesh, defect_types: list[str] | str | None = None, seed: int = 0, *,
                 specs: list[DefectSpec] | None = None, location: str = "random", centre=None,
                 sizes: dict | None = None, carve_cfg: CarveConfig | None = None,
                 label_cfg: LabelConfig | None = None, out: str | Path | None = None,
                 where: str | Path | None = None) -> CarvedSample:
    """Repair ``mesh`` if needed, make specs (or use ``specs``), carve, label, check the ratio, write.

    Defect ``i`` of ``defect_types`` gets seed ``seed + i``; its location, frame and default sizes
    come from :func:`specs.make_spec` (``sizes`` overrides radius/depth/length/profile).
    """
    carve_cfg = carve_cfg or CarveConfig()
    label_cfg = label_cfg or LabelConfig()
    mesh, repair = prepare_mesh(mesh, where)
    if specs is None:
        if isinstance(defect_types, str):
            defect_types = [defect_types]
        if not defect_types:
            raise ValueError("give defect_types or specs")
        # aim at Open-Industry's mean ratio (1.2 %), kept inside the accepted range
        target = 0.012
        if label_cfg.check_ratio:
            lo, hi = label_cfg.ratio_range([canonical_type(t) for t in defect_types])
            target = min(max(target, 1.5 * lo), 0.7 * hi)
        target /= len(defect_types)
        specs = [make_spec(mesh, t, seed + i, location=location, centre=centre,
                           target_ratio=target, threshold=label_cfg.threshold,
                           **(sizes or {}))
                 for i, t in enumerate(defect_types)]
    result = carve(mesh, specs, carve_cfg)
    cloud = label_carve(mesh, result, specs, label_cfg, seed=seed)
    check_ratio(cloud, label_cfg, [s.type for s in specs], f"carving {', '.join(s.type for s in specs)}")
    if out is not None:
        write_sample(out, cloud, specs, result.carved, seed=seed, threshold_mm=label_cfg.threshold,
                     label_config=dataclasses.asdict(label_cfg), carve_config=dataclasses.asdict(carve_cfg),
                     repair=dataclasses.asdict(repair))
    log.info("carved %s: %.2f%% anomalous points", [s.type for s in specs], 100 * cloud.ratio)
    return CarvedSample(specs=list(specs), cloud=cloud, carved_mesh=result.carved, repair=repair)


def recarve(mesh, defects_json: str | Path, **kwargs) -> CarvedSample:
    """Carve ``mesh`` again from a sample's ``defects.json`` (same seed, same specs)."""
    from scan2ad.io import read_json

    doc = read_json(defects_json)
    return carve_sample(mesh, specs=read_defects(defects_json), seed=int(doc.get("seed", 0)), **kwargs)


def carve_sample_redrawn(mesh, defect_types: list[str] | str, seed: int = 0, *, draws: int = 5,
                         **kwargs) -> tuple[CarvedSample, int]:
    """:func:`carve_sample`, redrawn with the next seed (new location, frame and default sizes) when
    the anomaly ratio falls outside the accepted range, as the dataset builder does; up to
    ``draws`` draws. Returns the sample and the seed that made it; when every draw misses, raises
    :class:`LabelRatioError` naming the range and each draw's measured ratio."""
    if draws < 1:
        raise ValueError("draws must be >= 1")
    measured: list[str] = []
    last = None
    for attempt in range(draws):
        try:
            return carve_sample(mesh, defect_types, seed + attempt, **kwargs), seed + attempt
        except LabelRatioError as exc:
            last = exc
            measured.append(f"seed {seed + attempt}: {exc.measured_percent:.2f}%")
            log.info("carve draw %d missed the ratio range: %s", attempt, exc)
    raise LabelRatioError(f"{last.what}: each of {draws} draw(s) labels an anomaly ratio outside the accepted "
                          f"{last.range_text} ({'; '.join(measured)}); change the defect's radius/depth, "
                          "the ratio range (--ratio-range), or allow more draws (--draws)",
                          what=last.what, ratio=last.ratio, lo=last.lo, hi=last.hi) from None


def normal_sample(mesh, seed: int = 0, *, label_cfg: LabelConfig | None = None, out: str | Path | None = None,
                  where: str | Path | None = None) -> LabelledCloud:
    """A normal (defect-free) sample of ``mesh``: points sampled as a carve samples its carved mesh
    (area-uniform, ``label_cfg.n_points``, face normals, optional noise along them), labels all 0,
    written like a carved sample (``defects.json`` with no defects)."""
    import numpy as np
    import trimesh

    label_cfg = label_cfg or LabelConfig()
    mesh, repair = prepare_mesh(mesh, where)
    pts, fid = trimesh.sample.sample_surface(mesh, label_cfg.n_points, seed=seed)
    normals = np.asarray(mesh.face_normals)[fid]
    pts = np.asarray(pts, dtype=np.float64)
    if label_cfg.add_noise:
        rng = np.random.default_rng(seed + 1)
        pts = pts + normals * rng.normal(0.0, label_cfg.noise_sigma_mm, (len(pts), 1))
    n = len(pts)
    cloud = LabelledCloud(points=pts, normals=normals, labels=np.zeros(n, np.uint8),
                          distance=np.zeros(n), region=np.zeros(n, dtype=bool))
    if out is not None:
        write_sample(out, cloud, [], mesh, seed=seed, threshold_mm=label_cfg.threshold,
                     label_config=dataclasses.asdict(label_cfg), repair=dataclasses.asdict(repair), normal=True)
    return cloud
