import numpy as np

from scan2ad.acquisition.calibration.model import (
    load_calibration,
    save_calibration,
    true_calibration,
)
from scan2ad.acquisition.rig import load_rig


def test_virtual_rig_geometry_is_sane():
    rig = load_rig("virtual")
    v = rig.virtual
    for dev, spec_res in ((v.cam0, rig.cameras[0].resolution), (v.cam1, rig.cameras[1].resolution)):
        T = dev.T_world_device
        assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3)) and np.isclose(np.linalg.det(T[:3, :3]), 1)
        # the turntable centre projects inside the image, a higher point appears higher (smaller v)
        p = np.linalg.inv(T) @ np.array([0, 0, 12.0, 1])
        q = np.linalg.inv(T) @ np.array([0, 0, 30.0, 1])
        uv_p, uv_q = (dev.K @ p[:3]) / p[2], (dev.K @ q[:3]) / q[2]
        assert 0 < uv_p[0] < spec_res[0] and 0 < uv_p[1] < spec_res[1]
        assert uv_q[1] < uv_p[1]


def test_true_calibration_round_trip_and_epipolar(tmp_path):
    rig = load_rig("virtual")
    cal = true_calibration(rig)
    assert abs(cal.stereo.baseline_mm - 110.0) < 1e-9
    path = save_calibration(tmp_path / "calibration.json", cal)
    back = load_calibration(path)
    np.testing.assert_allclose(back.stereo.R, cal.stereo.R)
    np.testing.assert_allclose(back.T_world_cam("cam1"), rig.virtual.cam1.T_world_device, atol=1e-9)
    # a world point satisfies x1^T F x0 = 0
    X = np.array([3.0, -4.0, 15.0, 1.0])
    x = []
    for dev in (rig.virtual.cam0, rig.virtual.cam1):
        pc = np.linalg.inv(dev.T_world_device) @ X
        x.append(dev.K @ pc[:3] / pc[2])
    assert abs(x[1] @ back.stereo.F @ x[0]) < 1e-6
    # the axis passes through the world origin along +z
    pw = cal.T_world_cam0 @ np.r_[cal.turntable.axis_point_cam0, 1]
    np.testing.assert_allclose(pw[:3], 0, atol=1e-9)
