"""Small test meshes shared by several test modules."""

import trimesh


def box_with_post() -> trimesh.Trimesh:
    """A 40 x 26 x 12 mm block standing on z = 0 with an off-centre 7 mm post on top: no rotational
    symmetry, so a wrong registration shows."""
    box = trimesh.creation.box((40, 26, 12))
    box.apply_translation((0, 0, 6))
    post = trimesh.creation.cylinder(radius=7, height=18, sections=64)
    post.apply_translation((9, 3, 21))
    return trimesh.util.concatenate([box, post])
