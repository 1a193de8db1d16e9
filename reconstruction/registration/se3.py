"""Rigid-motion algebra used by the registration methods: se(3) exp/log, weighted Kabsch.

Written with numpy because the methods need them on small dense arrays in inner loops; scipy's
``Rotation`` covers rotation vectors but not the se(3) translation part (the left Jacobian).
"""

from __future__ import annotations

import numpy as np


def hat(w: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def _so3_exp(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``exp(hat(w))`` and the left Jacobian ``V`` (so that t = V rho)."""
    th = float(np.linalg.norm(w))
    W = hat(w)
    W2 = W @ W
    if th < 1e-8:
        return np.eye(3) + W + 0.5 * W2, np.eye(3) + 0.5 * W + W2 / 6.0
    a = np.sin(th) / th
    b = (1.0 - np.cos(th)) / th**2
    c = (th - np.sin(th)) / th**3
    return np.eye(3) + a * W + b * W2, np.eye(3) + b * W + c * W2


def se3_exp(xi: np.ndarray) -> np.ndarray:
    """4x4 transform of the twist ``xi = (omega, rho)``."""
    R, V = _so3_exp(np.asarray(xi[:3], float))
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, V @ np.asarray(xi[3:], float)
    return T


def se3_log(T: np.ndarray) -> np.ndarray:
    """Twist ``(omega, rho)`` of a 4x4 rigid transform (inverse of :func:`se3_exp`)."""
    R = T[:3, :3]
    skew = 0.5 * np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    th = float(np.arctan2(np.linalg.norm(skew), (np.trace(R) - 1.0) / 2.0))
    if th < 1e-8:
        w = skew
    elif np.pi - th < 1e-6:  # near pi: axis from the symmetric part
        M = (R + np.eye(3)) / 2.0
        k = int(np.argmax(np.diag(M)))
        axis = M[:, k] / np.sqrt(max(M[k, k], 1e-300))
        w = th * axis / np.linalg.norm(axis)
    else:
        w = (
            th
            / (2.0 * np.sin(th))
            * np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
        )
    _, V = _so3_exp(w)
    return np.concatenate([w, np.linalg.solve(V, T[:3, 3])])


def weighted_kabsch(p: np.ndarray, q: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """4x4 rigid ``T`` minimising ``sum w_i |T p_i - q_i|^2`` (Kabsch/Umeyama without scale)."""
    if w is None:
        w = np.ones(len(p))
    s = float(w.sum())
    if s <= 0:
        return np.eye(4)
    wn = w / s
    cp, cq = wn @ p, wn @ q
    H = (p - cp).T @ ((q - cq) * wn[:, None])
    U, _, Vt = np.linalg.svd(H)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0])
    R = Vt.T @ D @ U.T
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, cq - R @ cp
    return T


def transform(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ T[:3, :3].T + T[:3, 3]


def rotation_angle_deg(T: np.ndarray) -> float:
    """Rotation angle of ``T`` (from the rotation vector: exact for small angles too)."""
    return float(np.degrees(np.linalg.norm(se3_log(T)[:3])))


def transform_error(T: np.ndarray, T_ref: np.ndarray) -> tuple[float, float]:
    """(rotation error in degrees, translation error) between two transforms."""
    D = np.linalg.inv(T_ref) @ T
    return rotation_angle_deg(D), float(np.linalg.norm(T[:3, 3] - T_ref[:3, 3]))
