"""The virtual rig (DESIGN §8): ray-cast images of a part on a turntable under projected patterns.

It stands in for the seed paper's rig (003, §III-B: two global-shutter cameras and a DLP3010
projector on a triangle bracket, a part on an automatic turntable) so that every command runs
without hardware, and it knows the truth (mesh, poses, calibration) so accuracy is measurable.

Geometry (open3d ``RaycastingScene``, exact triangle intersection):

- the scene is built once in the *table frame*: the part resting on the disc (its lowest point
  on ``z = 0``, its bounding-box centre on the axis: :func:`rest_on_table`) and the turntable
  disc (radius ``rig.virtual.table_radius_mm``, top face at ``z = 0``). Turning the table by θ
  about world +z is rendered by turning the cameras and the projector by −θ instead, so the
  scene is never rebuilt; ``T_world_part(θ) = Rz(θ) · T_table_part``.
- camera rays go through the exactly undistorted pixel centres of the true camera
  (``rig.virtual.cam0/cam1``: K, OpenCV distortion, ``T_world_device``), ``supersample²`` rays
  per pixel averaged by area; the first hit gives point, face normal and surface (part/table) —
  occlusion;
- each hit point is projected into the true projector (OpenCV lens model, its distortion
  included) and a shadow ray from the projector centre decides whether the projector reaches it.

Image formation per pixel (written by hand: pyvista/VTK cannot project an image through an
OpenCV lens model onto a mesh, and Blender would be far slower for 80 frames a view):

``I = exposure · [ s · P(u, v) · (a·cos θi + ks·(n·h)^m) · (d0/d)² + ambient · a ]``

with ``s`` the projector visibility (0 in shadow), ``P`` the projected frame after the
projector's black level and Gaussian defocus (``projector_defocus_px``) sampled bilinearly at the
point's projector pixel, ``a`` the albedo and ``ks, m`` the Blinn-Phong specular lobe of the
material (:class:`~scan2ad.acquisition.rig.VirtualMaterial`; ``h`` halfway between the light and
view directions), ``d`` the distance to the projector (``d0`` to its look-at point). The camera
image is then blurred (``camera_defocus_px``), given photon and read noise
(variance ``shot_noise_gain · I + noise_sigma²``) and quantised, saturating at full scale — so
glossy highlights drop out (pattern and inverse both saturate) and dark surfaces drop out
(contrast below the decoder's threshold) as on a real scanner.
"""

from __future__ import annotations

import functools

import numpy as np

from scan2ad.acquisition.devices.base import Camera, Projector, Rig, Turntable
from scan2ad.errors import InputError
from scan2ad.log import get_logger

log = get_logger(__name__)

PART_ID, TABLE_ID = 0, 1
TABLE_THICKNESS_MM = 6.0


def rot_z(angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return T


def rest_on_table(vertices: np.ndarray) -> np.ndarray:
    """``T_table_part`` placing a part on the table: lowest point on ``z = 0``, bounding-box
    centre on the rotation axis, orientation as modelled (the part library models parts in
    their stable resting pose)."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    T = np.eye(4)
    T[:3, 3] = [-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]]
    return T


@functools.lru_cache(maxsize=8)
def _pixel_rays(K: tuple, dist: tuple, width: int, height: int, ss: int) -> np.ndarray:
    """(H·ss, W·ss, 3) float64 camera-frame ray directions (z = 1) of the sub-pixel sample
    centres, exactly undistorted (iterative, to 1e-10)."""
    import cv2

    offs = (np.arange(ss) + 0.5) / ss - 0.5
    xs = (np.arange(width)[:, None] + offs[None, :]).ravel()
    ys = (np.arange(height)[:, None] + offs[None, :]).ravel()
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1).reshape(-1, 1, 2)
    Km = np.array(K, np.float64).reshape(3, 3)
    if any(abs(d) > 0 for d in dist):
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        und = cv2.undistortPointsIter(
            pts, Km, np.array(dist, np.float64), None, None, crit
        ).reshape(-1, 2)
    else:
        und = np.stack(
            [(pts[:, 0, 0] - Km[0, 2]) / Km[0, 0], (pts[:, 0, 1] - Km[1, 2]) / Km[1, 1]], axis=1
        )
    d = np.concatenate([und, np.ones((und.shape[0], 1))], axis=1)
    return d.reshape(height * ss, width * ss, 3)


def distort_project(p: np.ndarray, K: np.ndarray, dist) -> np.ndarray:
    """OpenCV's pinhole + (k1, k2, p1, p2, k3) projection of camera-frame points (N, 3) to
    pixels; the same formula as ``cv2.projectPoints``, vectorised in float32 because
    projectPoints takes half a second for a megapixel of points."""
    z = np.where(p[:, 2] > 1e-6, p[:, 2], np.float32(1e-6))
    x, y = p[:, 0] / z, p[:, 1] / z
    k1, k2, p1, p2, k3 = (list(dist) + [0.0] * 5)[:5]
    if any((k1, k2, p1, p2, k3)):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        x, y = (
            x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y,
        )
    return np.stack([K[0, 0] * x + K[0, 2], K[1, 1] * y + K[1, 2]], axis=1).astype(np.float32)


class _PixelGeometry:
    """What one camera sees at one table angle: per (sub-)pixel projector coordinates and the
    light transport factors of the image-formation model."""

    __slots__ = ("ambient", "depth", "gain", "hit", "mapx", "mapy", "ss", "surface")

    def __init__(self, mapx, mapy, gain, ambient, hit, surface, depth, ss):
        self.mapx, self.mapy, self.gain, self.ambient = mapx, mapy, gain, ambient
        self.hit, self.surface, self.depth, self.ss = hit, surface, depth, ss


def _noise_seed(seed: int, angle_deg: float) -> int:
    """A 31-bit cv2 RNG seed from the scene seed and a table angle (millidegree resolution)."""
    import hashlib

    key = f"{int(seed)}:{round(float(angle_deg) * 1000) % 360000}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


class VirtualScene:
    """A part on the virtual turntable, seen by the true cameras and projector of ``rig``."""

    def __init__(self, rig, part, seed: int = 0):
        import open3d as o3d
        import trimesh

        if not rig.is_virtual:
            raise InputError(f"rig {rig.name!r} has no [virtual] geometry to render")
        if not isinstance(part, trimesh.Trimesh) or len(part.faces) == 0:
            raise InputError("the virtual rig needs a non-empty triangle mesh as the part")
        self.rig = rig
        self.v = rig.virtual
        import cv2

        self.seed = int(seed)
        cv2.setRNGSeed(_noise_seed(self.seed, 0.0))  # camera noise (cv2.randn), reseeded per stop
        self.part = part
        self.T_table_part = rest_on_table(np.asarray(part.vertices))
        verts = (np.asarray(part.vertices) @ self.T_table_part[:3, :3].T) + self.T_table_part[:3, 3]
        radius = float(np.linalg.norm(verts[:, :2], axis=1).max())
        if radius > self.v.table_radius_mm * 1.5:
            log.warning(
                "part reaches %.0f mm from the axis, beyond the %.0f mm table",
                radius,
                self.v.table_radius_mm,
            )
        self.scene = o3d.t.geometry.RaycastingScene()
        pm = o3d.t.geometry.TriangleMesh()
        pm.vertex.positions = o3d.core.Tensor(verts.astype(np.float32))
        pm.triangle.indices = o3d.core.Tensor(np.asarray(part.faces, np.int32))
        assert self.scene.add_triangles(pm) == PART_ID
        disc = o3d.geometry.TriangleMesh.create_cylinder(
            self.v.table_radius_mm, TABLE_THICKNESS_MM, 180
        )
        disc.translate((0.0, 0.0, -TABLE_THICKNESS_MM / 2))
        assert self.scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(disc)) == TABLE_ID
        self.angle_deg = 0.0
        self._geometry: dict[str, _PixelGeometry] = {}
        self.pattern: np.ndarray | None = None  # the projected frame after black level + defocus
        true = {"cam0": self.v.cam0, "cam1": self.v.cam1}
        self.devices = {c.name: true[c.name] for c in rig.cameras}  # one or two cameras
        self.specs = {c.name: c for c in rig.cameras}
        proj = self.v.projector
        self.d0 = float(np.linalg.norm(np.subtract(proj.position_mm, proj.look_at_mm)))

    # ---- poses -------------------------------------------------------------------------------
    def T_world_part(self, angle_deg: float | None = None) -> np.ndarray:
        a = self.angle_deg if angle_deg is None else angle_deg
        return rot_z(a) @ self.T_table_part

    def mesh_world(self, angle_deg: float = 0.0):
        """The part mesh in the world frame at table angle ``angle_deg`` (ground truth)."""
        m = self.part.copy()
        m.apply_transform(self.T_world_part(angle_deg))
        return m

    def set_angle(self, angle_deg: float) -> None:
        import cv2

        if float(angle_deg) != self.angle_deg:
            self.angle_deg = float(angle_deg)
            self._geometry.clear()
        # the noise of a table stop depends on (seed, angle) only, not on the views rendered
        # before it: a capture resumed after a kill equals an uninterrupted one, bit for bit
        cv2.setRNGSeed(_noise_seed(self.seed, self.angle_deg))

    def _T_table_device(self, device) -> np.ndarray:
        return rot_z(-self.angle_deg) @ device.T_world_device

    # ---- geometry ----------------------------------------------------------------------------
    def geometry(self, cam: str) -> _PixelGeometry:
        if cam not in self._geometry:
            self._geometry[cam] = self._compute_geometry(cam)
        return self._geometry[cam]

    def _compute_geometry(self, cam: str) -> _PixelGeometry:
        import open3d as o3d

        dev, spec, render = self.devices[cam], self.specs[cam], self.v.render
        ss = max(1, int(render.supersample))
        w, h = spec.resolution
        dirs_cam = _pixel_rays(tuple(dev.K.ravel()), tuple(dev.dist), int(w), int(h), ss)
        T = self._T_table_device(dev)
        dirs = (dirs_cam.reshape(-1, 3) @ T[:3, :3].T).astype(np.float32)
        origin = T[:3, 3].astype(np.float32)
        rays = np.empty((dirs.shape[0], 6), np.float32)
        rays[:, :3] = origin
        rays[:, 3:] = dirs
        res = self.scene.cast_rays(o3d.core.Tensor(rays))
        t = res["t_hit"].numpy()
        gid = res["geometry_ids"].numpy()
        hit = np.isfinite(t)
        pts = origin[None, :] + dirs[hit] * t[hit, None]
        nrm = res["primitive_normals"].numpy()[hit]
        view = -dirs[hit] / np.linalg.norm(dirs[hit], axis=1, keepdims=True)
        flip = np.einsum("ij,ij->i", nrm, view) < 0
        nrm[flip] *= -1.0
        surface = np.full(t.shape, -1, np.int8)
        surface[hit] = np.where(gid[hit] == PART_ID, PART_ID, TABLE_ID)

        # projector: pixel coordinates of every hit point, and a shadow ray towards it
        proj = self.v.projector
        Tp = self._T_table_device(proj)
        pw, ph = self.rig.projector.resolution
        centre = Tp[:3, 3].astype(np.float32)
        to_pt = pts - centre[None, :]
        p_proj = to_pt @ Tp[:3, :3].astype(np.float32)  # projector-frame coordinates
        z_proj = p_proj[:, 2]
        uv = distort_project(p_proj, proj.K, proj.dist)
        inside = (
            (z_proj > 0) & (uv[:, 0] > -1) & (uv[:, 0] < pw) & (uv[:, 1] > -1) & (uv[:, 1] < ph)
        )
        srays = np.empty((pts.shape[0], 6), np.float32)
        srays[:, :3] = centre
        srays[:, 3:] = to_pt
        th = self.scene.cast_rays(o3d.core.Tensor(srays))["t_hit"].numpy()
        dist = np.linalg.norm(to_pt, axis=1)
        lit = inside & (th >= 1.0 - 0.05 / np.maximum(dist, 1e-6))  # 0.05 mm self-shadow tolerance

        light = -to_pt / dist[:, None]
        cos_i = np.einsum("ij,ij->i", nrm, light)
        lit &= cos_i > 0
        half = light + view
        half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-9)
        cos_h = np.clip(np.einsum("ij,ij->i", nrm, half), 0.0, 1.0)
        mats = (self.v.part_material, self.v.table_material)
        sid = surface[hit]
        albedo = np.where(sid == PART_ID, mats[0].albedo, mats[1].albedo).astype(np.float32)
        ks = np.where(sid == PART_ID, mats[0].specular, mats[1].specular).astype(np.float32)
        shin = np.where(sid == PART_ID, mats[0].shininess, mats[1].shininess).astype(np.float32)
        falloff = (self.d0 / dist) ** 2
        g = (albedo * np.clip(cos_i, 0, None) + ks * cos_h**shin) * falloff * lit

        n = t.shape[0]
        gain = np.zeros(n, np.float32)
        gain[hit] = g
        amb = np.zeros(n, np.float32)
        amb[hit] = render.ambient * albedo
        mapx = np.full(n, -1e4, np.float32)
        mapy = np.full(n, -1e4, np.float32)
        hit_idx = np.flatnonzero(hit)
        mapx[hit_idx[lit]] = uv[lit, 0]
        mapy[hit_idx[lit]] = uv[lit, 1]
        shape = (int(h) * ss, int(w) * ss)
        depth = np.where(hit, t, np.nan).astype(np.float32)  # rays have z = 1 in the camera frame
        return _PixelGeometry(
            mapx.reshape(shape),
            mapy.reshape(shape),
            gain.reshape(shape),
            amb.reshape(shape),
            hit.reshape(shape),
            surface.reshape(shape),
            depth.reshape(shape),
            ss,
        )

    # ---- image formation ---------------------------------------------------------------------
    def project(self, image: np.ndarray) -> None:
        """Put a projector frame (height×width uint8) on the scene: black level and defocus."""
        import cv2

        pw, ph = self.rig.projector.resolution
        image = np.asarray(image)
        if image.shape != (ph, pw):
            raise InputError(f"projector frame is {image.shape}, the projector is {ph}x{pw}")
        r = self.v.render
        p = image.astype(np.float32) * np.float32((1.0 - r.projector_black) / 255.0) + np.float32(
            r.projector_black
        )
        if r.projector_defocus_px > 0:
            p = cv2.GaussianBlur(p, (0, 0), r.projector_defocus_px, borderType=cv2.BORDER_REPLICATE)
        self.pattern = p

    def render(self, cam: str) -> np.ndarray:
        """The frame camera ``cam`` grabs now (uint8, or uint16 for ``bit_depth = 16``)."""
        import cv2

        if self.pattern is None:
            raise InputError("nothing is projected yet: call project() before render()")
        geo = self.geometry(cam)
        r = self.v.render
        sampled = cv2.remap(
            self.pattern,
            geo.mapx,
            geo.mapy,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        # in place, the same float32 operations in the same order as the expressions
        # (sampled * gain + ambient) * exposure and sqrt(shot * max(img, 0) + sigma_r^2): the
        # same bytes, a third less time (no 5 MB temporaries per operation)
        img = sampled
        np.multiply(img, geo.gain, out=img)
        np.add(img, geo.ambient, out=img)
        np.multiply(img, np.float32(r.exposure), out=img)
        if geo.ss > 1:
            w, h = self.specs[cam].resolution
            img = cv2.resize(img, (int(w), int(h)), interpolation=cv2.INTER_AREA)
        if r.camera_defocus_px > 0:
            img = cv2.GaussianBlur(
                img, (0, 0), r.camera_defocus_px, borderType=cv2.BORDER_REPLICATE
            )
        sigma = np.maximum(img, 0)
        np.multiply(np.float32(r.shot_noise_gain), sigma, out=sigma)
        np.add(sigma, np.float32(r.noise_sigma**2), out=sigma)
        np.sqrt(sigma, out=sigma)
        noise = np.empty_like(img)
        cv2.randn(noise, 0.0, 1.0)  # 3x faster than numpy's generator; seeded in __init__
        np.multiply(sigma, noise, out=noise)
        img += noise
        if self.specs[cam].bit_depth == 16:
            return np.clip(img * 257.0 + 0.5, 0, 65535).astype(np.uint16)
        img += np.float32(0.5)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)

    def render_view(
        self, angle_deg: float, images: list[np.ndarray]
    ) -> dict[str, list[np.ndarray]]:
        """Every camera's frames of one view: the in-memory path (no devices, no files)."""
        self.set_angle(angle_deg)
        out: dict[str, list[np.ndarray]] = {c: [] for c in self.devices}
        for img in images:
            self.project(img)
            for c in self.devices:
                out[c].append(self.render(c))
        return out

    def true_projector_coords(self, cam: str) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth of decoding at the current angle: projector column/row of every camera
        pixel (NaN where unlit or not on a surface); needs ``supersample = 1``."""
        geo = self.geometry(cam)
        if geo.ss != 1:
            raise InputError("true projector coordinates are per pixel only with supersample = 1")
        col = np.where(geo.gain > 0, geo.mapx, np.nan).astype(np.float32)
        row = np.where(geo.gain > 0, geo.mapy, np.nan).astype(np.float32)
        return col, row

    def true_depth(self, cam: str) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth at the current angle: camera-frame depth z (mm, NaN where no surface)
        and the surface id per pixel (0 part, 1 table, −1 nothing); ``supersample = 1`` only."""
        geo = self.geometry(cam)
        if geo.ss != 1:
            raise InputError("true depth is per pixel only with supersample = 1")
        return geo.depth, geo.surface

    def as_rig(self) -> Rig:
        """The virtual devices, as a :class:`Rig` the capture code drives like a real one."""
        return Rig(
            [VirtualCamera(self, c.name) for c in self.rig.cameras],
            VirtualProjector(self),
            VirtualTurntable(self),
        )


class VirtualCamera(Camera):
    def __init__(self, scene: VirtualScene, name: str):
        if name not in scene.devices:
            raise InputError(
                f"the virtual rig has cameras {', '.join(scene.devices)}, not {name!r}")
        self.scene, self.name = scene, name

    def grab(self) -> np.ndarray:
        return self.scene.render(self.name)


class VirtualProjector(Projector):
    def __init__(self, scene: VirtualScene):
        self.scene = scene
        self.resolution = tuple(scene.rig.projector.resolution)

    def show(self, image: np.ndarray) -> None:
        self.scene.project(image)


class VirtualTurntable(Turntable):
    def __init__(self, scene: VirtualScene):
        self.scene = scene

    def move_to(self, angle_deg: float) -> None:
        self.scene.set_angle(float(angle_deg) % 360.0)

    def home(self) -> None:
        self.scene.set_angle(0.0)

    @property
    def angle_deg(self) -> float:
        return self.scene.angle_deg
