"""Calibration-board images from the virtual rig, rendered through its TRUE geometry (DESIGN §8).

So that ``scan2ad calibrate`` runs on the virtual rig exactly as on the real one — from images —
this module photographs a printed board with the true cameras of ``load_rig("virtual")``
(``rig.virtual.cam0/cam1``: K, distortion, ``T_world_device``):

- at many hand-held poses seen by both cameras (intrinsics and stereo), and
- lying flat on the turntable at several known table angles (rotation about world +z), seen
  by cam0 (turntable axis), as the seed paper's procedure does (003, §III-A: "the calibration
  plate is placed at the central view field ... the revolving stage spins at specified angles").

Image formation, per pixel (written by hand: neither OpenCV nor pyvista renders a plane texture
through an OpenCV distortion model exactly):

1. the pixel centre is undistorted exactly (``cv2.undistortPointsIter`` to 1e-12) to a
   normalised ray, cached per camera;
2. the ray meets the board plane: board coordinates ``(u, v) ~ H⁻¹ (x, y, 1)`` with
   ``H = [r1 r2 t]`` the plane-to-camera homography — exact perspective;
3. the pixel is split into ``supersample²`` sub-samples whose board positions follow the local
   Jacobian of the pixel → board map, and each sub-sample takes the *area average* of the board
   reflectance over its footprint (:func:`boards.board_reflectance`; exact for chessboards);
4. light: reflectance × exposure × an uneven illumination field (a random linear gradient over
   the image and vignetting) + ambient; then Gaussian defocus blur, shot + read noise, 8-bit.

Ground truth is ``true_calibration(rig)`` plus the board poses written to ``truth.json``.

Folder layout written by :func:`render_calibration_images` (what ``scan2ad calibrate`` reads)::

    <out>/cam0/NNN.png, <out>/cam1/NNN.png        the same board pose in both cameras
    <out>/turntable/cam0/NNN.png                  board flat on the table at known angles
    <out>/turntable/angles.json                   {"angles_deg": {"NNN": angle, ...}}
    <out>/truth.json                              true calibration and board poses
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from scan2ad.acquisition.calibration.boards import BoardSpec, board_reflectance
from scan2ad.config import config_to_dict, doc
from scan2ad.log import get_logger

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoardRenderConfig:
    """How the virtual rig photographs a calibration board."""

    supersample: int = doc(
        "sub-samples per pixel side, each area-averaging the board over its footprint "
        "(exact for chessboards, so 1 suffices; other boards use at least 3)",
        1,
    )
    exposure: float = doc(
        "grey level of an albedo-1 surface under full light (rig.virtual.render.exposure)", 220.0
    )
    ambient: float = doc("grey level added everywhere (stray light)", 4.0)
    gradient: float = doc(
        "largest relative brightness change across the image from the light's direction", 0.25
    )
    vignetting: float = doc("relative brightness loss at the image corners", 0.2)
    blur_px: float = doc(
        "Gaussian defocus sigma, pixels (rig.virtual.render.camera_defocus_px)", 0.5
    )
    noise_sigma: float = doc("read noise sigma, grey levels (rig.virtual.render.noise_sigma)", 1.5)
    shot_noise: float = doc("shot-noise factor: sigma = shot_noise · sqrt(grey level)", 0.15)
    background: float = doc("reflectance of what lies behind the board (the table)", 0.22)

    @classmethod
    def from_rig(cls, rig, **overrides) -> BoardRenderConfig:
        r = rig.virtual.render
        base = {
            "exposure": r.exposure,
            "blur_px": r.camera_defocus_px,
            "noise_sigma": r.noise_sigma,
        }
        base.update(overrides)
        return cls(**base)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoseConfig:
    """Where the virtual board goes."""

    views: int = doc("hand-held board poses seen by both cameras", 14)
    max_tilt_deg: float = doc("largest tilt of the board away from facing the cameras", 40.0)
    max_roll_deg: float = doc("largest in-plane rotation of the board", 25.0)
    spread_mm: tuple[float, float, float] = doc(
        "half-ranges of the board centre offsets (x, depth, z), mm", (14.0, 25.0, 10.0)
    )
    turntable_angles_deg: tuple[float, ...] = doc(
        "table angles of the turntable views (board flat on the table)",
        (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0),
    )
    turntable_offset_mm: tuple[float, float] = doc(
        "board centre offset from the axis on the table, mm", (2.0, -1.0)
    )
    edge_margin_px: float = doc(
        "every printed corner of the board stays this far inside both images", 12.0
    )
    seed: int = doc("random seed of the poses and the image noise", 0)


# ---------------------------------------------------------------------- geometry
@functools.lru_cache(maxsize=4)
def _normalised_pixel_grid(K: tuple, dist: tuple, width: int, height: int) -> np.ndarray:
    """(H, W, 2) normalised image coordinates of every pixel centre, exactly undistorted."""
    import cv2

    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    und = cv2.undistortPointsIter(pts, np.array(K).reshape(3, 3), np.array(dist), None, None, crit)
    return und.reshape(height, width, 2)


def project(device, T_cam_x: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Project (N, 3) points of frame x into the device's distorted image, pixels."""
    import cv2

    rvec, _ = cv2.Rodrigues(T_cam_x[:3, :3])
    img, _ = cv2.projectPoints(
        np.asarray(pts, np.float64).reshape(-1, 1, 3),
        rvec,
        T_cam_x[:3, 3],
        device.K,
        np.asarray(device.dist, np.float64),
    )
    return img.reshape(-1, 2)


def board_outline(board: BoardSpec) -> np.ndarray:
    u0, v0, u1, v1 = board.extent_mm()
    return np.array([[u0, v0, 0], [u1, v0, 0], [u1, v1, 0], [u0, v1, 0]], np.float64)


def render_board(
    board: BoardSpec,
    device,
    image_size: tuple[int, int],
    T_cam_board: np.ndarray,
    cfg: BoardRenderConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """One uint8 grey image of ``board`` at pose ``T_cam_board`` through the true ``device``."""

    W, H = image_size
    if T_cam_board[2, 3] <= 0:
        raise ValueError("board behind the camera")
    normal_cam = T_cam_board[:3, 2]
    if normal_cam @ T_cam_board[:3, 3] <= 0:
        raise ValueError("the camera sees the back of the board")
    refl = np.full((H, W), cfg.background, np.float64)
    # region of interest: the printed board's projection, padded by a few pixels
    outline = project(device, T_cam_board, board_outline(board))
    x0, y0 = np.floor(outline.min(0) - 4).astype(int)
    x1, y1 = np.ceil(outline.max(0) + 4).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
    if x1 > x0 and y1 > y0:
        grid = _normalised_pixel_grid(tuple(device.K.ravel()), tuple(device.dist), W, H)
        n = grid[y0 : y1 + 1, x0 : x1 + 1]
        Hm = np.column_stack([T_cam_board[:3, 0], T_cam_board[:3, 1], T_cam_board[:3, 3]])
        Hinv = np.linalg.inv(Hm)
        den = Hinv[2, 0] * n[..., 0] + Hinv[2, 1] * n[..., 1] + Hinv[2, 2]
        u = (Hinv[0, 0] * n[..., 0] + Hinv[0, 1] * n[..., 1] + Hinv[0, 2]) / den
        v = (Hinv[1, 0] * n[..., 0] + Hinv[1, 1] * n[..., 1] + Hinv[1, 2]) / den
        # Jacobian of pixel -> board (central differences; the map is smooth at this scale)
        du_dy, du_dx = np.gradient(u)
        dv_dy, dv_dx = np.gradient(v)
        s = max(1 if board.type == "chessboard" else 3, int(cfg.supersample))
        fu = (np.abs(du_dx) + np.abs(du_dy)) / s
        fv = (np.abs(dv_dx) + np.abs(dv_dy)) / s
        acc = np.zeros_like(u)
        offsets = (np.arange(s) + 0.5) / s - 0.5
        for oy in offsets:
            for ox in offsets:
                acc += board_reflectance(
                    board,
                    u + du_dx * ox + du_dy * oy,
                    v + dv_dx * ox + dv_dy * oy,
                    fu,
                    fv,
                    cfg.background,
                )
        refl[y0 : y1 + 1, x0 : x1 + 1] = acc / (s * s)
    return _expose(refl, cfg, rng)


def _expose(refl: np.ndarray, cfg: BoardRenderConfig, rng: np.random.Generator) -> np.ndarray:
    """Reflectance image -> uint8 camera image: uneven light, defocus, shot and read noise."""
    import cv2

    H, W = refl.shape
    # uneven light: a linear gradient from a random direction and vignetting
    ys, xs = np.mgrid[0:H, 0:W]
    xn, yn = (xs - W / 2) / (W / 2), (ys - H / 2) / (H / 2)
    ang = rng.uniform(0, 2 * np.pi)
    g = rng.uniform(0.3, 1.0) * cfg.gradient
    light = (1 + 0.5 * g * (np.cos(ang) * xn + np.sin(ang) * yn)) * (
        1 - cfg.vignetting * (xn**2 + yn**2) / 2
    )
    img = cfg.ambient + cfg.exposure * refl * light
    if cfg.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), cfg.blur_px)
    noise = rng.standard_normal(img.shape) * np.sqrt(
        cfg.noise_sigma**2 + cfg.shot_noise**2 * np.maximum(img, 0)
    )
    return np.clip(np.round(img + noise), 0, 255).astype(np.uint8)


def _rot(axis, angle_rad: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    axis = np.asarray(axis, float)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle_rad).as_matrix()


def _visible(rig, board: BoardSpec, T_world_board: np.ndarray, margin: float, devices) -> bool:
    pts = np.vstack([board_outline(board), board.object_points()])
    for dev, spec in devices:
        T_cam_board = np.linalg.inv(dev.T_world_device) @ T_world_board
        if T_cam_board[2, 3] <= 0 or T_cam_board[:3, 2] @ T_cam_board[:3, 3] <= 0:
            return False
        uv = project(dev, T_cam_board, pts)
        W, H = spec.resolution
        if (
            (uv < margin).any()
            or (uv[:, 0] > W - 1 - margin).any()
            or (uv[:, 1] > H - 1 - margin).any()
        ):
            return False
    return True


def _board_centre(board: BoardSpec) -> np.ndarray:
    u0, v0, u1, v1 = board.extent_mm()
    return np.array([(u0 + u1) / 2, (v0 + v1) / 2, 0.0])


def handheld_board_poses(rig, board: BoardSpec, cfg: PoseConfig) -> list[np.ndarray]:
    """``T_world_board`` of ``cfg.views`` realistic hand-held poses seen whole by both cameras.

    The board faces the midpoint of the two cameras, tilted by up to ``max_tilt_deg`` about a
    random in-plane axis (tilt is what makes Zhang's method observe the focal length) and rolled
    by up to ``max_roll_deg``; its centre wanders around the common look-at point. Poses that do
    not keep the whole printed board inside both images are redrawn.
    """
    v = rig.virtual
    devices = [(v.cam0, rig.cameras[0]), (v.cam1, rig.cameras[1])]
    rng = np.random.default_rng(cfg.seed)
    target = (np.asarray(v.cam0.look_at_mm) + np.asarray(v.cam1.look_at_mm)) / 2
    eye = (v.cam0.T_world_device[:3, 3] + v.cam1.T_world_device[:3, 3]) / 2
    centre_b = _board_centre(board)
    poses: list[np.ndarray] = []
    attempts = 0
    while len(poses) < cfg.views:
        attempts += 1
        if attempts > 200 * cfg.views:
            raise RuntimeError(
                f"could not place {cfg.views} board poses inside both images; "
                f"found {len(poses)} (board {board.describe()} too large for the view?)"
            )
        c = target + rng.uniform(-1, 1, 3) * np.asarray(cfg.spread_mm) * np.array([1, 1, 1])
        z = c - eye
        z /= np.linalg.norm(z)
        x = np.array([1.0, 0, 0]) - z[0] * z
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.column_stack([x, y, z])
        # tilt: a random axis in the board plane; the angle drawn so that large tilts are common
        phi = rng.uniform(0, 2 * np.pi)
        tilt = np.deg2rad(cfg.max_tilt_deg) * np.sqrt(rng.uniform(0.15, 1.0))
        R = _rot(np.cos(phi) * x + np.sin(phi) * y, tilt) @ R
        R = R @ _rot([0, 0, 1], np.deg2rad(rng.uniform(-cfg.max_roll_deg, cfg.max_roll_deg)))
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = c - R @ centre_b
        if _visible(rig, board, T, cfg.edge_margin_px, devices):
            poses.append(T)
    return poses


def turntable_board_poses(rig, board: BoardSpec, cfg: PoseConfig) -> list[np.ndarray]:
    """``T_world_board`` of the board lying flat on the table (its print ``thickness_mm`` above the
    surface, facing up), turned by each of ``cfg.turntable_angles_deg`` about world +z."""
    R0 = np.column_stack([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # board z into the table
    T0 = np.eye(4)
    T0[:3, :3] = R0
    off = np.array([*cfg.turntable_offset_mm, board.thickness_mm])
    T0[:3, 3] = off - R0 @ _board_centre(board)
    poses = []
    v = rig.virtual
    for a in cfg.turntable_angles_deg:
        Rz = np.eye(4)
        Rz[:3, :3] = _rot([0, 0, 1], np.deg2rad(a))
        T = Rz @ T0
        if not _visible(rig, board, T, cfg.edge_margin_px, [(v.cam0, rig.cameras[0])]):
            from scan2ad.errors import InputError

            raise InputError(
                f"board {board.describe()} at table angle {a:g}° leaves cam0's image; "
                "choose other angles or a smaller board"
            )
        poses.append(T)
    return poses


# ---------------------------------------------------------------------- writing a folder
def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    from scan2ad.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), img):
            raise OSError(f"could not write {path}")


def render_board_unit(
    K: list,
    dist: list,
    size: list,
    T_cam_board: list,
    board: dict,
    render: dict,
    seed: int,
    out: str,
) -> str:
    """One board image written to ``out`` (an executor unit: JSON-able arguments only)."""
    import types

    from scan2ad.config import load_config

    device = types.SimpleNamespace(K=np.asarray(K, np.float64), dist=tuple(dist))
    img = render_board(
        load_config(BoardSpec, board),
        device,
        (int(size[0]), int(size[1])),
        np.asarray(T_cam_board, np.float64),
        BoardRenderConfig(**render),
        np.random.default_rng(seed),
    )
    _write_png(Path(out), img)
    return out


def render_calibration_images(
    out: str | Path,
    rig,
    board: BoardSpec,
    poses: PoseConfig = PoseConfig(),
    render: BoardRenderConfig | None = None,
    turntable: bool = True,
    workers: int = 1,
) -> Path:
    """Render the whole calibration image set of a virtual rig into ``out`` (layout in the module
    doc). Each image has its own noise seed, so ``workers`` (a local process pool through
    :func:`scan2ad.executors.run_units`) changes nothing in the pictures."""
    from scan2ad.acquisition.calibration.model import true_calibration
    from scan2ad.executors import Unit, run_units
    from scan2ad.io import write_json

    if rig.virtual is None:
        raise ValueError(f"rig {rig.name!r} is not virtual")
    out = Path(out)
    render = render or BoardRenderConfig.from_rig(rig)
    v = rig.virtual
    hand = handheld_board_poses(rig, board, poses)
    table = turntable_board_poses(rig, board, poses) if turntable else []
    cams = ((v.cam0, rig.cameras[0]), (v.cam1, rig.cameras[1]))
    jobs = [(f"cam{c}/{i:03d}.png", *cams[c], T) for i, T in enumerate(hand) for c in (0, 1)]
    jobs += [(f"turntable/cam0/{i:03d}.png", *cams[0], T) for i, T in enumerate(table)]
    board_d, render_d = config_to_dict(board), config_to_dict(render)
    units = [
        Unit(
            render_board_unit,
            {
                "K": dev.K.tolist(),
                "dist": list(dev.dist),
                "size": list(spec.resolution),
                "T_cam_board": (np.linalg.inv(dev.T_world_device) @ T).tolist(),
                "board": board_d,
                "render": render_d,
                "seed": int(poses.seed) * 100_003 + k,
                "out": str(out / rel),
            },
            description=f"render {rel}",
        )
        for k, (rel, dev, spec, T) in enumerate(jobs)
    ]
    run_units(units, workers=max(1, workers), desc="render board images")
    if turntable:
        write_json(
            out / "turntable" / "angles.json",
            {
                "angles_deg": {
                    f"{i:03d}": float(a) for i, a in enumerate(poses.turntable_angles_deg)
                }
            },
        )
    truth = true_calibration(rig).to_dict()
    write_json(
        out / "truth.json",
        {
            "rig": rig.name,
            "board": board.to_dict(),
            "calibration": truth,
            "T_world_board": {
                "handheld": [T.tolist() for T in hand],
                "turntable": [T.tolist() for T in table],
            },
            "poses": config_to_dict(poses),
            "render": config_to_dict(render),
        },
    )
    log.info("rendered %d board images into %s", len(jobs), out)
    return out


def render_markers(
    device,
    image_size: tuple[int, int],
    T_cam_world: np.ndarray,
    centres_world: np.ndarray,
    normals_world: np.ndarray,
    diameter_mm: float,
    cfg: BoardRenderConfig,
    rng: np.random.Generator,
    ring_ratio: float = 1.7,
    background: float = 0.35,
) -> np.ndarray:
    """Circular reference markers (white dots of ``diameter_mm`` in a black ring ``ring_ratio`` times
    wider) stuck on a grey surface, photographed by the true ``device``.

    Each marker is a disc in its own plane (centre, normal); per pixel of its image region the
    exact undistorted ray meets that plane and the radial distance decides dot / ring / surface,
    anti-aliased over the pixel footprint and supersampled (at least 3×3). Markers must not overlap
    in the image (nothing is occluded).
    """
    W, H = image_size
    refl = np.full((H, W), background, np.float64)
    grid = _normalised_pixel_grid(tuple(device.K.ravel()), tuple(device.dist), W, H)
    R, t = T_cam_world[:3, :3], T_cam_world[:3, 3]
    r_dot, r_ring = diameter_mm / 2, diameter_mm / 2 * ring_ratio
    s = max(3, int(cfg.supersample))
    offsets = (np.arange(s) + 0.5) / s - 0.5
    for c_w, n_w in zip(np.asarray(centres_world, float), np.asarray(normals_world, float)):
        P, N = R @ c_w + t, R @ (n_w / np.linalg.norm(n_w))
        if P[2] <= 0 or N @ P >= 0:
            continue  # behind the camera or facing away
        e1 = np.cross(N, [0.0, 0.0, 1.0] if abs(N[2]) < 0.9 else [1.0, 0.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(N, e1)
        ang = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        rim = P + 1.05 * r_ring * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)
        uv = project(device, np.eye(4), rim)
        x0, y0 = np.floor(uv.min(0) - 3).astype(int)
        x1, y1 = np.ceil(uv.max(0) + 3).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
        if x1 <= x0 or y1 <= y0:
            continue
        n = grid[y0 : y1 + 1, x0 : x1 + 1]
        rays = np.concatenate([n, np.ones(n.shape[:2] + (1,))], axis=2)
        depth = (N @ P) / (rays @ N)
        q = rays * depth[..., None] - P
        a, b = q @ e1, q @ e2
        da_dy, da_dx = np.gradient(a)
        db_dy, db_dx = np.gradient(b)
        w = np.sqrt(np.abs(da_dx * db_dy - da_dy * db_dx)) / s  # sub-sample footprint side, mm
        acc = np.zeros_like(a)
        for oy in offsets:
            for ox in offsets:
                rho = np.hypot(a + da_dx * ox + da_dy * oy, b + db_dx * ox + db_dy * oy)
                dot = np.clip(0.5 + (r_dot - rho) / w, 0, 1)
                disc = np.clip(0.5 + (r_ring - rho) / w, 0, 1)
                acc += background * (1 - disc) + 0.04 * (disc - dot) + 0.92 * dot
        region = acc / (s * s)
        sub = refl[y0 : y1 + 1, x0 : x1 + 1]
        inside = np.hypot(a, b) < r_ring * 1.04
        sub[inside] = region[inside]
    return _expose(refl, cfg, rng)
