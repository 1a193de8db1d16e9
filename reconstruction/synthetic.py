"""Decoded maps from known geometry: what a perfect decoder would return for a mesh seen by a
calibrated rig. Tests and benchmarks use it so the reconstruction stage has exact ground truth
independent of the renderer and decoder.

Each camera pixel's ray (through the lens distortion of the calibration, undone with
``cv2.undistortPoints``) is cast against the mesh with Open3D's ``RaycastingScene``; the hit is
kept when the projector sees it too (a ray from the projector centre reaches it first) and its
projection into the projector gives the pixel's projector column and row."""

from __future__ import annotations

import numpy as np

from scan2ad.acquisition.decode import DecodedMap


def _pixel_rays(K, dist, size):
    import cv2

    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel()], axis=1)[:, None, :]
    norm = cv2.undistortPoints(pix, np.asarray(K, float), np.asarray(dist, float)).reshape(-1, 2)
    d = np.hstack([norm, np.ones((len(norm), 1))])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def decoded_maps_from_mesh(
    mesh, calib, T_cam0_mesh: np.ndarray | None = None
) -> dict[str, DecodedMap]:
    """Exact decoded maps ``{"cam0": DecodedMap, "cam1": DecodedMap}`` of a trimesh ``mesh``
    placed in the cam0 frame by ``T_cam0_mesh`` (mm)."""
    import open3d as o3d

    T = np.eye(4) if T_cam0_mesh is None else np.asarray(T_cam0_mesh, float)
    verts = np.asarray(mesh.vertices, float) @ T[:3, :3].T + T[:3, 3]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(verts.astype(np.float32)),
        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)),
    )
    Kp = np.asarray(calib.projector["K"], float)
    T_0p = np.asarray(calib.projector["T_cam0_projector"], float)
    T_p0 = np.linalg.inv(T_0p)
    wp, hp = calib.projector["image_size"]
    out = {}
    for name in ("cam0", "cam1"):
        cam = calib.cameras[name]
        T_0c = np.linalg.inv(calib.stereo.T_cam1_cam0) if name == "cam1" else np.eye(4)
        dirs = _pixel_rays(cam.K, cam.dist, cam.image_size) @ T_0c[:3, :3].T
        origin = np.broadcast_to(T_0c[:3, 3], dirs.shape)
        rays = np.hstack([origin, dirs]).astype(np.float32)
        t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        hit = np.isfinite(t)
        X = origin + dirs * np.where(hit, t, 0.0)[:, None]
        Xp = X @ T_p0[:3, :3].T + T_p0[:3, 3]
        uvw = Xp @ Kp.T
        with np.errstate(invalid="ignore", divide="ignore"):
            col, row = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
        inside = (
            hit & (Xp[:, 2] > 0) & (col > -0.5) & (col < wp - 0.5) & (row > -0.5) & (row < hp - 0.5)
        )
        # shadow test: the projector ray must reach the point first
        pdir = X - T_0p[:3, 3]
        plen = np.linalg.norm(pdir, axis=1)
        lit = np.zeros_like(inside)
        idx = np.flatnonzero(inside)
        if len(idx):
            prays = np.hstack(
                [np.broadcast_to(T_0p[:3, 3], (len(idx), 3)), pdir[idx] / plen[idx, None]]
            )
            tp = scene.cast_rays(o3d.core.Tensor(prays.astype(np.float32)))["t_hit"].numpy()
            lit[idx] = np.abs(tp - plen[idx]) < 1e-3 * plen[idx] + 0.01
        w, h = cam.image_size
        valid = lit.reshape(h, w)
        col_m = np.where(valid, col.reshape(h, w), np.nan).astype(np.float32)
        row_m = np.where(valid, row.reshape(h, w), np.nan).astype(np.float32)
        out[name] = DecodedMap(col_m, row_m, valid, valid.astype(np.float32))
    return out
