"""Defect specs as data: validation, defects.json round trip, falloff profiles, sizing."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.annotation.specs import (
    ALL_TYPE_NAMES,
    DefectSpec,
    default_size,
    displacement,
    falloff,
    make_spec,
    read_defects,
    write_defects,
)
from scan2ad.errors import FormatError, InputError


def spec(**kw):
    base = {"type": "Dent", "centre": (0, 0, 4), "direction": (0, 0, 2), "tangent": (1, 0, 0.5), "radius": 2.0, "depth": 0.5}
    base.update(kw)
    return DefectSpec(**base)


def test_spec_normalises_frame_and_type():
    s = spec(type="dent")
    assert s.type == "Dent"
    np.testing.assert_allclose(s.direction, (0, 0, 1))
    np.testing.assert_allclose(s.tangent, (1, 0, 0))  # made perpendicular to direction


@pytest.mark.parametrize("bad, msg", [
    ({"type": "Smudge"}, "unknown defect type"),
    ({"direction": (0, 0, 0)}, "zero vector"),
    ({"radius": -1.0}, "must be > 0"),
    ({"profile": "square"}, "unknown profile"),
    ({"centre": (0, 1)}, "3 finite numbers"),
])
def test_bad_specs_are_refused_clearly(bad, msg):
    with pytest.raises(InputError, match=msg):
        spec(**bad)


def test_defects_json_round_trip_and_errors(tmp_path):
    specs = [spec(), spec(type="Scratch", length=6.0, radius=0.5, profile="u", seed=7)]
    path = write_defects(tmp_path / "defects.json", specs, anomaly_ratio=0.01)
    assert read_defects(path) == specs
    path.write_text('{"schema_version": 1, "defects": [{"type": "Dent", "colour": 3}]}')
    with pytest.raises(FormatError, match="unknown keys \\['colour'\\]"):
        read_defects(path)
    path.write_text('{"schema_version": 99, "defects": []}')
    with pytest.raises(InputError, match="schema_version 99"):
        read_defects(path)


@pytest.mark.parametrize("profile", ["cosine", "gaussian", "spherical", "u", "v"])
def test_falloff_profiles(profile):
    t = np.linspace(0, 1.5, 301)
    f = falloff(t, profile)
    assert f[0] == pytest.approx(1.0) and np.all(f[t >= 1] == 0)
    assert np.all(np.diff(f) <= 1e-12)  # monotone


def test_bump_field_is_radial_and_one_sided():
    s = spec(type="Bump", radius=2.0, depth=0.5)
    p = np.array([[0, 0, 4], [1, 0, 4], [2.5, 0, 4], [0, 0, 3.0]], dtype=float)
    n = np.array([[0, 0, 1]] * 3 + [[0, 0, -1]], dtype=float)  # last: a back face under the bump
    d = displacement(s, p, n)
    np.testing.assert_allclose(d[0], (0, 0, 0.5))
    np.testing.assert_allclose(d[1], (0, 0, 0.25), atol=1e-12)  # cosine profile at half radius
    assert np.all(d[2:] == 0)


def test_scratch_and_scar_randomness_comes_from_the_seed():
    p = np.random.default_rng(0).uniform(-3, 3, (500, 3)) * [1, 1, 0] + [0, 0, 4]
    n = np.tile([0, 0, 1.0], (500, 1))
    for t in ("Scratch", "Scar", "crack"):
        a = displacement(spec(type=t, length=6.0, seed=1), p, n)
        b = displacement(spec(type=t, length=6.0, seed=1), p, n)
        c = displacement(spec(type=t, length=6.0, seed=2), p, n)
        np.testing.assert_array_equal(a, b)
        assert np.abs(a - c).max() > 1e-3


@pytest.mark.parametrize("t", ALL_TYPE_NAMES)
def test_every_type_gets_default_sizes_and_a_spec(box_part, t):
    sizes = default_size(t, 0.012 * box_part.area, 0.15)
    assert sizes["radius"] > 0 and sizes["depth"] > 0
    s = make_spec(box_part, t, 3)
    assert s.type == t and s.seed == 3
    assert make_spec(box_part, t, 3) == s  # location and frame are seeded
