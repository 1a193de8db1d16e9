"""Demo step: reconstruct the session the acquisition step captured (``scan2ad demo``)."""

from __future__ import annotations


def run(ctx) -> str:
    import dataclasses

    from scan2ad.reconstruction.pipeline import ReconstructConfig, reconstruct_session

    session = ctx.artefacts.get("session")
    if session is None:
        return "no capture session from the acquisition step: reconstruction skipped"
    cfg = ReconstructConfig()
    if ctx.quick:
        cfg = dataclasses.replace(
            cfg, cleanup=dataclasses.replace(cfg.cleanup, target_points=20000, poisson_depth=6)
        )
    out = ctx.workdir / "recon"
    s = reconstruct_session(session, out, config=cfg)
    ctx.artefacts["recon"] = out
    return (
        f"reconstructed {s['views']} view(s): {s['fused']} fused -> {s['part']} points "
        f"(part.ply), mesh watertight {s.get('mesh_watertight')} in {s['time_s']:.1f} s -> {out}"
    )
