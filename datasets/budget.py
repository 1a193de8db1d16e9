"""What a build will cost before it starts: disk and CPU time from the spec, so a request far
beyond the usual (a typo of three zeros in ``points`` or ``n_train``) is stated and needs
``--allow-large`` instead of filling the disk for days.

Rates (2 idle cores of the development machine, 90 000 points per sample; scaled linearly with
the points): ``synthetic`` 0.6 CPU s per sample (part library; the three fast shapes 0.1 s),
``carve`` 1.9 s, ``pipeline`` 8.0 s (``benchmarks/build_throughput.py``; 9.5 s before session
18's faster smoothing and stereo matching, ``benchmarks/scan_speed.py``). Files: a binary pcd
takes 12 bytes per point, a gt text file 36 bytes per point; the pipeline's scan cache about
30 MB per scan. The shipped full spec (15 classes x 160 samples, pipeline) comes to ~5 CPU hours
and ~24 GB; the limits below are several times that.
"""

from __future__ import annotations

import dataclasses
import math

LIMIT_GB = 50.0
LIMIT_CPU_HOURS = 24.0
_CPU_S = {"synthetic": 0.6, "carve": 1.9, "pipeline": 8.0}
_PCD_B, _GT_B, _SCAN_B = 12, 36, 30e6


@dataclasses.dataclass(frozen=True)
class Budget:
    samples: int
    disk_gb: float
    cpu_hours: float

    def text(self) -> str:
        return (f"{self.samples} samples, about {self.disk_gb:.1f} GB of disk and "
                f"{self.cpu_hours:.1f} CPU hours")

    @property
    def large(self) -> bool:
        return self.disk_gb > LIMIT_GB or self.cpu_hours > LIMIT_CPU_HOURS


def estimate(spec) -> Budget:
    """The :class:`Budget` of building ``spec`` (a :class:`scan2ad.datasets.spec.BuildSpec`)."""
    per_class_normal = spec.n_train + spec.n_test_normal
    per_class_anom = spec.n_per_defect * len(spec.defects)
    n_cls = len(spec.classes)
    samples = n_cls * (per_class_normal + per_class_anom)
    disk = n_cls * (per_class_normal * spec.points * _PCD_B + per_class_anom * spec.points * (_PCD_B + _GT_B))
    if spec.source == "pipeline":
        disk += math.ceil(samples / max(1, spec.samples_per_scan)) * _SCAN_B
    cpu = samples * _CPU_S.get(spec.source, 1.0) * spec.points / 90000
    return Budget(samples, disk / 1e9, cpu / 3600)
