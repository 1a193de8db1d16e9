"""Demo step: capture a small session of one part on the virtual rig (``scan2ad demo``)."""

from __future__ import annotations


def _demo_part(workdir) -> str:
    """A procedural library part when the library is installed, else a machined ring (mesh file)."""
    from scan2ad.acquisition.session import part_library

    parts = part_library()
    if parts is not None and parts.PART_NAMES:
        return parts.PART_NAMES[0]  # square_taper_washer, Open-Industry's first class
    import trimesh

    from scan2ad.io import atomic_path

    path = workdir / "demo_part.stl"
    if not path.is_file():
        ring = trimesh.creation.annulus(r_min=9.0, r_max=22.0, height=12.0, sections=96)
        with atomic_path(path) as tmp:
            ring.export(tmp, file_type="stl")
    return str(path)


def run(ctx) -> str:
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.acquisition.session import capture_session, open_session

    rig = load_rig("virtual")
    out = ctx.workdir / "session"
    views = 1 if ctx.quick else 4
    part = _demo_part(ctx.workdir)
    old = open_session(out) if (out / "session.json").is_file() else None
    if old is not None and old.finished and old.n_views == views:
        session, done = old, "reused"
    else:  # a same-sized unfinished session resumes; one of another size is replaced
        session = capture_session(
            out,
            rig,
            part,
            views,
            rig_path="virtual",
            overwrite=old is not None and old.n_views != views,
        )
        done = "captured"
    ctx.artefacts["session"] = out
    maps = session.decode(0)
    share = sum(m.valid_fraction() for m in maps.values()) / len(maps)
    return (
        f"{done} {session.n_views} view(s) of {session.meta['part']['id']} at "
        f"{len(session.patterns.frames)} frames x 2 cameras -> {out}; view 0 decodes "
        f"{share * 100:.0f}% of pixels"
    )
