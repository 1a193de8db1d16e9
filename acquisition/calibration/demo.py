"""Demo step: the virtual rig photographs its calibration board, ``scan2ad calibrate all`` runs on
the images, and the result is compared with the rig's true geometry.

Quick mode (the tests): 8 hand-held poses and 4 table angles (20 images, about 10 s); full
mode: 40 poses and 8 angles, the set the acceptance test uses. Writes
``<workdir>/calibration/{images/, calibration.json, calibration_report.png}`` and puts the
calibration's path in ``ctx.artefacts["calibration"]`` for the later steps.
"""

from __future__ import annotations

import numpy as np


def run(ctx) -> str:
    from scan2ad.acquisition.calibration.boards import load_board
    from scan2ad.acquisition.calibration.model import save_calibration, true_calibration
    from scan2ad.acquisition.calibration.pipeline import calibrate_images
    from scan2ad.acquisition.calibration.report import write_report
    from scan2ad.acquisition.calibration.solve import SolveConfig
    from scan2ad.acquisition.calibration.virtual_boards import PoseConfig, render_calibration_images
    from scan2ad.acquisition.rig import load_rig

    rig = load_rig("virtual")
    board = load_board(rig.board_path())
    root = ctx.workdir / "calibration"
    poses = (
        PoseConfig(views=8, turntable_angles_deg=(0.0, 90.0, 180.0, 270.0))
        if ctx.quick
        else PoseConfig(views=40)
    )
    # quick mode renders in-process: 20 images do not repay starting worker processes
    workers = 1 if ctx.quick else ctx.workers
    images = render_calibration_images(root / "images", rig, board, poses, workers=workers)
    result = calibrate_images(images, board, "all", SolveConfig(fix_k3=True), rig=rig.name)
    out = save_calibration(root / "calibration.json", result.calibration)
    write_report(result, root / "calibration_report.png")
    ctx.artefacts["calibration"] = out

    cal, truth = result.calibration, true_calibration(rig)
    rel = max(
        abs(cal.cameras[c].K[i, j] / truth.cameras[c].K[i, j] - 1)
        for c in ("cam0", "cam1")
        for i, j in ((0, 0), (1, 1), (0, 2), (1, 2))
    )
    base = abs(cal.stereo.baseline_mm / truth.stereo.baseline_mm - 1)
    a, b = cal.turntable.axis_direction_cam0, truth.turntable.axis_direction_cam0
    axis = np.degrees(np.arccos(np.clip(a @ b, -1, 1)))
    n_img = 2 * poses.views + len(poses.turntable_angles_deg)
    return (
        f"{n_img} board images -> RMS {cal.cameras['cam0'].rms_px:.3f}/{cal.cameras['cam1'].rms_px:.3f} px, "
        f"stereo {cal.stereo.rms_px:.3f} px; vs truth: K within {rel:.3%}, baseline {base:.4%}, "
        f"axis {axis:.4f} deg -> {out}"
    )
