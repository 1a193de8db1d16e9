"""``calibration.json`` (DESIGN §3): the contract between calibration, capture and reconstruction.

Conventions: millimetres; OpenCV camera models (K, dist = k1 k2 p1 p2 k3); the stereo pair
as OpenCV's stereoCalibrate returns it (``X_cam1 = R · X_cam0 + T``); the turntable axis as a
point and a unit direction in the cam0 frame; ``T_world_cam0`` maps cam0 points into the world
(turntable) frame, 4×4 row-major.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scan2ad.io import read_json, write_json

SCHEMA_VERSION = 1


@dataclasses.dataclass
class CameraCalibration:
    K: np.ndarray                       # 3x3
    dist: np.ndarray                    # (5,) k1 k2 p1 p2 k3
    image_size: tuple[int, int]         # width, height
    rms_px: float = float("nan")
    per_view_rms_px: dict[str, float] = dataclasses.field(default_factory=dict)
    rejected_views: dict[str, str] = dataclasses.field(default_factory=dict)  # view -> reason


@dataclasses.dataclass
class StereoCalibration:
    R: np.ndarray                       # 3x3, cam0 -> cam1
    T: np.ndarray                       # (3,) mm
    E: np.ndarray
    F: np.ndarray
    rms_px: float = float("nan")
    per_view_rms_px: dict[str, float] = dataclasses.field(default_factory=dict)
    rejected_views: dict[str, str] = dataclasses.field(default_factory=dict)  # view -> reason

    @property
    def T_cam1_cam0(self) -> np.ndarray:
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = self.R, self.T
        return M

    @property
    def baseline_mm(self) -> float:
        return float(np.linalg.norm(self.T))


@dataclasses.dataclass
class TurntableCalibration:
    axis_point_cam0: np.ndarray         # (3,) mm, a point on the rotation axis
    axis_direction_cam0: np.ndarray     # (3,) unit, pointing up (world +z)
    residual_mm: float = float("nan")
    angles_deg: list[float] = dataclasses.field(default_factory=list)
    reprojection_rms_px: float = float("nan")
    per_view_rms_px: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ProjectorCalibration:
    """The projector as an inverse camera (Moreno & Taubin 2012), the ``projector`` entry.

    On disk (``calibration.json`` → ``projector``): ``K`` (3×3), ``dist`` (k1 k2 p1 p2 k3: the
    projector's ideal → projector-pixel mapping, as OpenCV models a camera), ``resolution``
    [width, height], ``T_projector_cam0`` (4×4, maps cam0 points into the projector frame, OpenCV
    axes), ``rms_px`` (its own Zhang calibration), ``stereo_rms_px`` (the camera–projector
    extrinsics), ``per_view_rms_px``, ``rejected_views``, ``source`` ("images" or
    "virtual-truth"). ``image_size`` and ``T_cam0_projector`` are written too (the same
    resolution and the inverse pose) for readers of the older projector entry, which had only
    those and ``K``.
    """

    K: np.ndarray                       # 3x3
    dist: np.ndarray                    # (5,)
    resolution: tuple[int, int]         # width, height
    T_projector_cam0: np.ndarray        # 4x4
    rms_px: float = float("nan")
    stereo_rms_px: float = float("nan")
    per_view_rms_px: dict[str, float] = dataclasses.field(default_factory=dict)
    rejected_views: dict[str, str] = dataclasses.field(default_factory=dict)
    source: str = ""

    @property
    def T_cam0_projector(self) -> np.ndarray:
        return np.linalg.inv(self.T_projector_cam0)

    def to_dict(self) -> dict:
        f = lambda v: None if not np.isfinite(v) else float(v)
        return {
            "K": np.asarray(self.K, float).tolist(),
            "dist": np.asarray(self.dist, float).ravel().tolist(),
            "resolution": [int(self.resolution[0]), int(self.resolution[1])],
            "T_projector_cam0": np.asarray(self.T_projector_cam0, float).tolist(),
            "rms_px": f(self.rms_px),
            "stereo_rms_px": f(self.stereo_rms_px),
            "per_view_rms_px": dict(self.per_view_rms_px),
            "rejected_views": dict(self.rejected_views),
            "source": self.source,
            "image_size": [int(self.resolution[0]), int(self.resolution[1])],
            "T_cam0_projector": self.T_cam0_projector.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ProjectorCalibration:
        """Read the entry; the older form (K, image_size, T_cam0_projector) is accepted."""
        A = lambda v: np.asarray(v, dtype=np.float64)
        nan = lambda v: float("nan") if v is None else float(v)
        if "T_projector_cam0" in d:
            T = A(d["T_projector_cam0"])
        else:
            T = np.linalg.inv(A(d["T_cam0_projector"]))
        res = d.get("resolution", d.get("image_size"))
        K, dist = A(d["K"]), A(d.get("dist", np.zeros(5))).ravel()
        if K.shape != (3, 3) or T.shape != (4, 4) or res is None or len(res) != 2:
            raise ValueError("projector: K must be 3x3, T_projector_cam0 4x4, resolution [w, h]")
        return cls(K, dist, (int(res[0]), int(res[1])), T, nan(d.get("rms_px")),
                   nan(d.get("stereo_rms_px")), d.get("per_view_rms_px", {}),
                   d.get("rejected_views", {}), d.get("source", ""))


@dataclasses.dataclass
class Calibration:
    cameras: dict[str, CameraCalibration]   # "cam0", "cam1"
    stereo: StereoCalibration | None         # None only in a cameras-only file (calibrate cameras)
    turntable: TurntableCalibration | None
    T_world_cam0: np.ndarray                 # 4x4; identity (world = cam0) without a turntable
    rig: str = ""
    board: dict[str, Any] = dataclasses.field(default_factory=dict)
    # the ProjectorCalibration entry as a dict ({} when the projector is not calibrated)
    projector: dict[str, Any] = dataclasses.field(default_factory=dict)
    per_view_errors: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""                         # "images" (calibrated) or "virtual-truth"

    def projector_model(self) -> ProjectorCalibration | None:
        """The calibrated projector, or None when this calibration has none (needs K and a pose)."""
        if not self.projector or "K" not in self.projector or not (
            {"T_projector_cam0", "T_cam0_projector"} & set(self.projector)
        ):
            return None
        return ProjectorCalibration.from_dict(self.projector)

    def T_world_cam(self, name: str) -> np.ndarray:
        if name == "cam0":
            return self.T_world_cam0
        if self.stereo is None:
            raise ValueError("this calibration has no stereo pair (made by `calibrate cameras`)")
        return self.T_world_cam0 @ np.linalg.inv(self.stereo.T_cam1_cam0)

    def to_dict(self) -> dict:
        def conv(obj):
            if isinstance(obj, np.ndarray):
                return obj.tolist()
            if dataclasses.is_dataclass(obj):
                return {f.name: conv(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            if isinstance(obj, (list, tuple)):
                return [conv(v) for v in obj]
            if isinstance(obj, float) and not np.isfinite(obj):
                return None
            return obj

        d = conv(self)
        if self.stereo is not None:
            d["stereo"]["T_cam1_cam0"] = self.stereo.T_cam1_cam0.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        A = lambda v: np.asarray(v, dtype=np.float64)
        nan = lambda v: float("nan") if v is None else float(v)
        cams = {
            name: CameraCalibration(A(c["K"]), A(c["dist"]), tuple(c["image_size"]), nan(c.get("rms_px")),
                                    c.get("per_view_rms_px", {}), c.get("rejected_views", {}))
            for name, c in d["cameras"].items()
        }
        s = d["stereo"]
        stereo = None if s is None else StereoCalibration(
            A(s["R"]), A(s["T"]).reshape(3), A(s["E"]), A(s["F"]), nan(s.get("rms_px")),
            s.get("per_view_rms_px", {}), s.get("rejected_views", {}))
        t = d.get("turntable")
        tt = None if t is None else TurntableCalibration(
            A(t["axis_point_cam0"]), A(t["axis_direction_cam0"]), nan(t.get("residual_mm")),
            list(t.get("angles_deg", [])), nan(t.get("reprojection_rms_px")), t.get("per_view_rms_px", {}))
        return cls(cams, stereo, tt, A(d["T_world_cam0"]), d.get("rig", ""), d.get("board", {}),
                   d.get("projector", {}), d.get("per_view_errors", {}), d.get("source", ""))


def save_calibration(path: str | Path, calib: Calibration) -> Path:
    return write_json(path, calib.to_dict(), schema_version=SCHEMA_VERSION)


def load_calibration(path: str | Path) -> Calibration:
    from scan2ad.errors import FormatError

    doc = read_json(path, supported=(SCHEMA_VERSION,))
    try:
        cal = Calibration.from_dict(doc)
        cal.projector_model()  # a malformed projector entry fails here, not in a later stage
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"not a calibration file: missing or bad field {exc}", path) from None
    return check_calibration(cal, path)


def check_calibration(cal: Calibration, path: str | Path | None = None) -> Calibration:
    """Refuse a calibration no stage can use, naming the field: non-finite or non-positive focal
    lengths, non-finite distortion, a stereo rotation that is not one, a zero baseline, a
    non-finite pose. (NaN in K reached triangulation as "only 0 points triangulated"; a zero
    baseline as a ZeroDivisionError.)"""
    from scan2ad.errors import ValidationError

    def bad(field: str, why: str):
        raise ValidationError(f"{field} {why}", path)

    for name, cam in cal.cameras.items():
        K = np.asarray(cam.K, float)
        if K.shape != (3, 3) or not np.isfinite(K).all():
            bad(f"cameras.{name}.K", f"must be a finite 3x3 matrix, got {K.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            bad(f"cameras.{name}.K", f"has focal lengths fx={K[0, 0]:g}, fy={K[1, 1]:g}; both must be > 0")
        if not np.isfinite(np.asarray(cam.dist, float)).all():
            bad(f"cameras.{name}.dist", f"must be finite, got {np.asarray(cam.dist).tolist()}")
        w, h = cam.image_size
        if int(w) < 1 or int(h) < 1:
            bad(f"cameras.{name}.image_size", f"must be positive, got {[w, h]}")
    st = cal.stereo
    if st is not None:
        R, T = np.asarray(st.R, float), np.asarray(st.T, float).reshape(-1)
        if R.shape != (3, 3) or not np.isfinite(R).all() or not np.allclose(R @ R.T, np.eye(3), atol=1e-4) \
                or np.linalg.det(R) < 0:
            bad("stereo.R", "is not a rotation matrix (finite, orthonormal, determinant +1)")
        if T.shape != (3,) or not np.isfinite(T).all():
            bad("stereo.T", f"must be 3 finite numbers (mm), got {T.tolist()}")
        if np.linalg.norm(T) < 1e-6:
            bad("stereo.T", "is zero: the two cameras are at one place (zero baseline), so depth "
                            "cannot be triangulated; calibrate the stereo pair again")
    Tw = np.asarray(cal.T_world_cam0, float)
    if Tw.shape != (4, 4) or not np.isfinite(Tw).all():
        bad("T_world_cam0", "must be a finite 4x4 matrix")
    return cal


def true_calibration(rig) -> Calibration:
    """The exact calibration of a virtual rig (ground truth written beside every capture)."""
    if rig.virtual is None:
        raise ValueError(f"rig {rig.name!r} is not virtual: it has no true calibration")
    v = rig.virtual
    T_w0 = v.cam0.T_world_device
    stereo = None
    if len(rig.cameras) == 2:
        T_10 = np.linalg.inv(v.cam1.T_world_device) @ T_w0
        R, T = T_10[:3, :3], T_10[:3, 3]
        tx = np.array([[0, -T[2], T[1]], [T[2], 0, -T[0]], [-T[1], T[0], 0]])
        E = tx @ R
        F = np.linalg.inv(v.cam1.K).T @ E @ np.linalg.inv(v.cam0.K)
        stereo = StereoCalibration(R, T, E, F / F[2, 2], 0.0)
    cams = {}
    for spec, dev in zip(rig.cameras, (v.cam0, v.cam1)):
        cams[spec.name] = CameraCalibration(dev.K, np.asarray(dev.dist, float), tuple(spec.resolution), 0.0)
    T_0w = np.linalg.inv(T_w0)
    axis_point = T_0w[:3, :3] @ np.zeros(3) + T_0w[:3, 3]
    axis_dir = T_0w[:3, :3] @ np.array([0.0, 0.0, 1.0])
    proj = ProjectorCalibration(
        v.projector.K, np.asarray(v.projector.dist, float), tuple(rig.projector.resolution),
        np.linalg.inv(T_0w @ v.projector.T_world_device), 0.0, 0.0, source="virtual-truth",
    ).to_dict()
    return Calibration(cams, stereo,
                       TurntableCalibration(axis_point, axis_dir, 0.0), T_w0, rig=rig.name,
                       projector=proj, source="virtual-truth")
