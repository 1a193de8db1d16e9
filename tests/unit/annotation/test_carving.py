"""Every defect type carved into two part shapes changes the geometry where and as much as its spec
says, and its labels match the analytic carved region (IoU >= 0.9). One Blender process for all."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.annotation.carving import carve
from scan2ad.annotation.labels import LabelConfig, distance_to_surface, label_carve
from scan2ad.annotation.specs import engine_type, make_spec

pytest.importorskip("bpy")

CFG = LabelConfig(n_points=12000)
SURFACE_TYPES = ("Bump", "Dent", "Scratch", "crack", "Scar", "Deformation")  # displacement fields
TWIST = "Deformation-twist"  # the Deformation field's second mode; "Deformation" is its bend
SURFACE_TYPES += (TWIST,)
ALL = SURFACE_TYPES + ("hole", "break", "bending")
SHAPES = {"box": (3.0, 2.0), "washer": (10.5, 0.0)}


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture(scope="module")
def parts(box_part, washer_part):
    return {"box": box_part, "washer": washer_part}


@pytest.fixture(scope="module")
def carved(parts, top_point):
    """(shape, type) -> (spec, CarveResult, LabelledCloud), carved once per module."""
    out = {}
    for shape, xy in SHAPES.items():
        mesh = parts[shape]
        for t in ALL:
            loc = "random" if t == "bending" else "given"
            type_, sizes = t, {}
            if t.startswith("Deformation"):
                type_, sizes = "Deformation", {"profile": "twist" if t == TWIST else "bend"}
            spec = make_spec(mesh, type_, 5, location=loc, centre=top_point(mesh, xy), threshold=CFG.threshold,
                             **sizes)
            result = carve(mesh, [spec])
            out[shape, t] = spec, result, label_carve(mesh, result, [spec], CFG, seed=0)
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("defect", ALL)
def test_labels_match_analytic_region(carved, shape, defect):
    _spec, _result, cloud = carved[shape, defect]
    labels = cloud.labels > 0
    assert cloud.region.sum() > 50
    assert iou(labels, cloud.region) >= 0.9
    if defect in SURFACE_TYPES:
        # the measured deviation alone (no analytic help) finds the same region
        assert iou(cloud.distance > CFG.threshold, cloud.region) >= 0.9
    lo, hi = CFG.ratio_range([_spec.type])
    if (shape, defect) != ("box", "bending"):  # bending the box moves its whole 8x20 mm end face
        assert lo <= cloud.ratio <= hi


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("defect", ALL)
def test_geometry_changes_where_and_as_much_as_spec(carved, parts, shape, defect):
    spec, result, cloud = carved[shape, defect]
    mesh = parts[shape]
    c = np.asarray(spec.centre)
    if defect != "bending":
        far = np.linalg.norm(cloud.points - c, axis=1) > spec.influence_radius() + 0.5
        assert far.sum() > 0.5 * len(far)
        assert cloud.distance[far].max() < 1e-3  # nothing moved outside the defect
    if defect in ("Bump", "Dent", "Scratch", "crack"):
        # peak deviation of the carved mesh from the original surface is the spec's depth ...
        assert distance_to_surface(mesh, result.carved.vertices).max() == pytest.approx(spec.depth, rel=0.03)
        # ... on the side the type says (a bump outside the part, the rest inside)
        inside = mesh.contains(cloud.points[cloud.distance > 0.5 * spec.depth])
        assert inside.mean() > 0.95 if defect != "Bump" else inside.mean() < 0.05
    elif defect == "Scar":  # shallow rough patch: 0.3..1.0 x depth, always below the surface
        assert 0.6 * spec.depth < cloud.distance.max() <= 1.01 * spec.depth
        deep = cloud.distance > CFG.threshold
        assert mesh.contains(cloud.points[deep]).mean() > 0.95
        assert np.std(cloud.distance[cloud.distance > 0.3 * spec.depth]) > 0.05 * spec.depth  # rough
    elif defect.startswith("Deformation"):
        delta = result.carved.vertices - result.reference.vertices
        disp = np.linalg.norm(delta, axis=1)
        assert disp.max() == pytest.approx(spec.depth, rel=0.06)
        moved = result.reference.vertices[disp > 1e-6]
        assert np.linalg.norm(moved - c, axis=1).max() <= spec.radius + 1e-6
        _c, u, v, n = spec.frame()
        big = disp > 0.3 * spec.depth
        q = result.reference.vertices[big] - c
        if defect == TWIST:
            # a twist about the tangent axis: the two halves along the axis turn opposite ways,
            # so the normal displacement has the sign of (along-axis) x (across-axis)
            assert np.mean(np.sign(delta[big] @ n) == np.sign((q @ u) * (q @ v))) > 0.9
        else:
            # a bend about direction x tangent: everything in the ball turns one way
            assert abs(np.mean(np.sign(delta[big] @ n) == np.sign(q @ u)) - 0.5) > 0.4
    elif defect == "hole":
        assert result.carved.is_watertight
        assert cloud.distance.max() == pytest.approx(spec.depth, rel=0.05)  # bottom of the bore
        assert result.carved.volume == pytest.approx(
            mesh.volume - np.pi * spec.radius**2 * spec.depth, rel=0.02, abs=0.05 * spec.radius**2 * spec.depth)
    elif defect == "break":
        assert result.carved.is_watertight
        assert mesh.volume - result.carved.volume > 0.5 * spec.radius**2 * spec.depth
        assert cloud.distance.max() >= 0.9 * spec.depth
    elif defect == "bending":
        # the far end turned rigidly by depth/length about the hinge
        u = np.asarray(spec.tangent)
        ref, new = result.reference.vertices, result.carved.vertices
        end = (ref - c) @ u > spec.radius + 1e-6
        assert end.sum() >= 3
        a, b = ref[end] - ref[end].mean(0), new[end] - new[end].mean(0)
        U, _, Vt = np.linalg.svd(a.T @ b)
        R = (U @ Vt).T
        angle = np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))
        assert angle == pytest.approx(spec.depth / spec.length, rel=0.02)
        assert np.abs(new[(ref - c) @ u < 0] - ref[(ref - c) @ u < 0]).max() == 0.0


def test_other_vocabulary_carves_the_same_fields(parts, top_point):
    mesh = parts["box"]
    p = top_point(mesh)
    for alias, base in (("bulge", "Bump"), ("concavity", "Dent"), ("scratch", "Scratch")):
        a = make_spec(mesh, alias, 2, location="given", centre=p)
        b = make_spec(mesh, base, 2, location="given", centre=p)
        assert a.type == alias and engine_type(a.type) == base
        va = carve(mesh, [a]).carved.vertices
        vb = carve(mesh, [b]).carved.vertices
        np.testing.assert_array_equal(va, vb)


def test_curvature_location_lands_on_an_edge(parts):
    mesh = parts["box"]
    spec = make_spec(mesh, "Dent", 1, location="curvature")
    half = np.asarray(mesh.extents) / 2
    # on a box the high-curvature vertices are the corners
    np.testing.assert_allclose(np.abs(spec.centre), half, atol=1e-6)
