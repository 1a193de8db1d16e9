"""The procedural part library: every category × several seeds is a closed, consistently wound,
positive-volume solid in its resting pose; seeds are deterministic and differ a little; threads
are real helices and tooth washers have twisted teeth."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from scan2ad.acquisition.parts import PART_INFO, PART_NAMES, ScaledDraws, make_part
from scan2ad.acquisition.parts.geometry import (
    _rotation_between,
    helical_thread,
    iso_thread_profile,
    rest_pose,
    to_trimesh,
)
from scan2ad.errors import InputError

SEEDS = (0, 1, 2)

PAPER_NAMES = (
    "Square Taper Washer",
    "Split Pin",
    "Lock Nut",
    "Threaded Nail",
    "L-shaped Screw",
    "Circlip",
    "Internal Tooth Lock Washer",
    "Double Lug Washer",
    "Square Plug",
    "S-hook",
    "External Tooth Lock Washer",
    "Hex Head Plug",
    "Eyelet Self-tapping Screw",
    "Heavy Washer",
    "Locking Tab Washer",
)


@pytest.fixture(scope="module")
def meshes() -> dict[tuple[str, int], trimesh.Trimesh]:
    return {(name, seed): make_part(name, seed) for name in PART_NAMES for seed in SEEDS}


def test_the_fifteen_categories_of_the_paper():
    assert len(PART_NAMES) == 15
    assert tuple(PART_INFO[n].display_name for n in PART_NAMES) == PAPER_NAMES
    assert all(n == n.lower() and " " not in n for n in PART_NAMES)


@pytest.mark.parametrize("name", PART_NAMES)
def test_closed_solid_in_resting_pose(meshes, name):
    for seed in SEEDS:
        mesh = meshes[(name, seed)]
        assert mesh.is_watertight, (name, seed)
        assert mesh.is_winding_consistent, (name, seed)
        assert mesh.volume > 0.0, (name, seed)
        assert mesh.body_count == 1, (name, seed)
        assert 15_000 <= len(mesh.faces) <= 160_000, (name, len(mesh.faces))
        lo, hi = mesh.bounds
        assert abs(lo[2]) < 1e-6
        np.testing.assert_allclose((lo[:2] + hi[:2]) / 2.0, 0.0, atol=1e-6)
        # Realistic size: the nominal extent of the category within 10 %, all in 10–60 mm.
        extent = float(np.max(hi - lo))
        assert 10.0 <= extent <= 60.0, (name, extent)
        assert (
            abs(extent - PART_INFO[name].nominal_extent_mm)
            <= 0.10 * PART_INFO[name].nominal_extent_mm
        ), (name, extent)
        # Statically stable: the centre of mass projects inside the support polygon at z = 0.
        support = mesh.vertices[mesh.vertices[:, 2] < 1e-6][:, :2]
        com = mesh.center_mass[:2]
        from scipy.spatial import ConvexHull

        hull = ConvexHull(support)
        assert np.all(hull.equations[:, :2] @ com + hull.equations[:, 2] < 0.0), (name, seed)


def test_deterministic_per_seed(meshes):
    for name in PART_NAMES:
        again = make_part(name, 1)
        np.testing.assert_array_equal(again.vertices, meshes[(name, 1)].vertices, err_msg=name)
        np.testing.assert_array_equal(again.faces, meshes[(name, 1)].faces, err_msg=name)


def test_seeds_differ_by_a_small_amount(meshes):
    for name in PART_NAMES:
        a, b = meshes[(name, 0)], meshes[(name, 1)]
        vol = abs(a.volume - b.volume) / a.volume
        ext = np.abs(np.sort(a.extents) - np.sort(b.extents)) / np.max(a.extents)
        assert vol > 1e-4 or ext.max() > 1e-3, f"{name}: seeds 0 and 1 are the same part"
        assert vol < 0.15, f"{name}: volume differs by {vol:.1%} between seeds"
        assert ext.max() < 0.12, f"{name}: extent differs by {ext.max():.1%} between seeds"


def test_bad_names_and_seeds_are_input_errors():
    with pytest.raises(InputError, match="unknown part 'washer'"):
        make_part("washer")
    with pytest.raises(InputError, match="non-negative"):
        make_part("circlip", -1)


def _section_radius(mesh: trimesh.Trimesh, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Angle and radius of the outer contour of a cross-section at height z (axis = z)."""
    section = mesh.section(plane_origin=[0, 0, z], plane_normal=[0, 0, 1])
    pts = np.vstack([section.vertices[e.points] for e in section.entities])[:, :2]
    return np.arctan2(pts[:, 1], pts[:, 0]), np.hypot(pts[:, 0], pts[:, 1])


def test_helical_thread_matches_the_iso_profile_everywhere():
    pitch, major = 1.25, 8.0
    u, r = iso_thread_profile(major, pitch)
    rod = to_trimesh(helical_thread(u, r, pitch, 0.0, 10.0, angular=96))
    assert rod.is_watertight and rod.is_winding_consistent
    np.testing.assert_allclose(rod.bounds[:, 2], [0.0, 10.0], atol=1e-5)

    def profile(z, theta):  # right-hand thread: r = f((z − z0 − θP/2π) mod P), z0 = 0
        uu = np.mod(z - theta * pitch / (2.0 * np.pi), pitch)
        return np.interp(uu, np.append(u, pitch), np.append(r, r[0]))

    for z in (2.0, 4.3, 7.77):
        theta, radius = _section_radius(rod, z)
        # The polygon's chords cut inside the true surface by at most r(1 − cos(π/96)) ≈ 2 µm.
        err = radius - profile(z, np.mod(theta, 2 * np.pi))
        assert np.abs(err).max() < 0.02, z
        assert radius.max() > major / 2.0 - 0.01 and radius.min() < major / 2.0 - 0.6


def test_left_hand_thread_is_the_mirror():
    u, r = iso_thread_profile(6.0, 1.0)
    right = to_trimesh(helical_thread(u, r, 1.0, 0.0, 5.0, angular=64))
    left = to_trimesh(helical_thread(u, r, 1.0, 0.0, 5.0, angular=64, right_hand=False))
    assert left.is_watertight and abs(left.volume - right.volume) < 1e-3
    theta_r, rad_r = _section_radius(right, 2.5)
    theta_l, rad_l = _section_radius(left, 2.5)
    # The crest direction of the left thread at a height is the mirror (θ → π − θ) of the right one.
    crest_r, crest_l = theta_r[np.argmax(rad_r)], theta_l[np.argmax(rad_l)]
    assert abs(np.angle(np.exp(1j * (crest_l - (np.pi - crest_r))))) < 0.15


@pytest.mark.parametrize("name", ["hex_head_plug", "square_plug"])
def test_plug_threads_rise_one_pitch_per_turn(meshes, name):
    """The crest direction of a section turns by 360°·Δz/P between two heights (a helix, not
    stacked rings): measured on the finished part."""
    mesh = meshes[(name, 0)]
    pitch = 1.5 if name == "hex_head_plug" else 25.4 / 18.0
    top = mesh.bounds[1, 2]
    z0 = top - 5.0
    lo, hi = mesh.bounds
    centre = (lo[:2] + hi[:2]) / 2.0

    def crest_angle(z):  # phase of the first harmonic of r(θ) (the crest flat spans 45°)
        section = mesh.section(plane_origin=[0, 0, z], plane_normal=[0, 0, 1])
        pts = np.vstack([section.vertices[e.points] for e in section.entities])[:, :2] - centre
        theta, radius = np.arctan2(pts[:, 1], pts[:, 0]), np.hypot(pts[:, 0], pts[:, 1])
        order = np.argsort(theta)
        grid = np.linspace(-np.pi, np.pi, 720, endpoint=False)
        r_grid = np.interp(grid, theta[order], radius[order], period=2 * np.pi)
        return np.angle(np.sum(r_grid * np.exp(1j * grid)))

    dz = pitch / 4.0
    turned = np.angle(np.exp(1j * (crest_angle(z0 + dz) - crest_angle(z0))))
    assert abs(turned - np.pi / 2.0) < 0.2, (
        name,
        np.rad2deg(turned),
    )  # right-hand: counter-clockwise


@pytest.mark.parametrize("name", ["internal_tooth_lock_washer", "external_tooth_lock_washer"])
def test_tooth_washers_have_nine_twisted_teeth(meshes, name):
    mesh = meshes[(name, 0)]
    height = float(mesh.extents[2])
    assert height > 1.5 * 0.85  # flat stock is 0.85–0.95 mm; twisted teeth make it taller
    # Below the top only the raised edges of the teeth are cut: one closed loop per tooth (the
    # washer rests tilted on its lowest teeth, so look at a few depths).
    loops = []
    for depth in (0.1, 0.2, 0.3, 0.4):
        section = mesh.section(plane_origin=[0, 0, height - depth], plane_normal=[0, 0, 1])
        loops.append(len(section.discrete))
    assert max(loops) == 9, loops


def test_lock_nut_has_an_internal_thread(meshes):
    mesh = meshes[("lock_nut", 0)]
    assert mesh.euler_number == 0  # one through hole (genus 1)
    _theta, radius = _section_radius(mesh, 3.0)
    inner = radius < 5.5
    # The bore's radius varies around the hole between the minor (≈4.2) and major (≈5.0) radius.
    assert radius[inner].min() < 4.3 and radius[inner].max() > 4.9


def test_rest_pose_tips_a_tilted_box_onto_a_face():
    box = trimesh.creation.box(extents=[30.0, 20.0, 5.0])
    box.apply_transform(trimesh.transformations.rotation_matrix(np.deg2rad(30.0), [1.0, 0.3, 0.0]))
    rested = rest_pose(box)
    np.testing.assert_allclose(sorted(rested.extents), [5.0, 20.0, 30.0], atol=1e-6)
    np.testing.assert_allclose(rested.extents[2], 5.0, atol=1e-6)  # on a large face, not an edge
    np.testing.assert_allclose(
        _rotation_between(np.array([0, 0, -1.0]), np.array([0, 0, -1.0])), np.eye(4)
    )


def test_cli_list_export_and_errors(tmp_path):
    from scan2ad.acquisition.parts.cli import parts

    runner = CliRunner()
    listed = runner.invoke(parts, ["list"])
    assert listed.exit_code == 0
    assert all(n in listed.output for n in PART_NAMES)
    out = tmp_path / "nut.ply"
    done = runner.invoke(parts, ["export", "lock_nut", "--seed", "3", "--out", str(out)])
    assert done.exit_code == 0, done.output
    loaded = trimesh.load(out, process=False)
    reference = make_part("lock_nut", 3)
    assert loaded.is_watertight and abs(loaded.volume - reference.volume) < 1e-3 * reference.volume
    bad = runner.invoke(parts, ["export", "lock_nut", "--out", str(tmp_path / "nut.doc")])
    assert isinstance(bad.exception, InputError) and not (tmp_path / "nut.doc").exists()
    nominal = [tmp_path / f"nominal{s}.ply" for s in (1, 2)]
    for s, path in zip((1, 2), nominal, strict=True):
        done = runner.invoke(parts, ["export", "lock_nut", "--seed", str(s), "--variation", "0",
                                     "--out", str(path)])
        assert done.exit_code == 0, done.output
    assert nominal[0].read_bytes() == nominal[1].read_bytes()
    for v in ("1.5", "-0.1", "nan", "x"):
        bad = runner.invoke(parts, ["export", "lock_nut", "--variation", v, "--out", str(tmp_path / "v.ply")])
        assert bad.exit_code == 2 and "--variation" in bad.output and not (tmp_path / "v.ply").exists()


def test_contact_sheet_png(tmp_path):
    import matplotlib.image as mpimg

    from scan2ad.acquisition.parts.render import render_contact_sheet

    out = render_contact_sheet(
        tmp_path / "sheet.png", names=("heavy_washer", "circlip", "s_hook"), cell_px=160, columns=3
    )
    img = mpimg.imread(out)
    assert img.shape[:2] == (160, 480)
    # Each cell shows a part: a good share of non-white pixels in every third of the image.
    for cell in np.split(img[..., :3], 3, axis=1):
        assert (cell.mean(axis=2) < 0.9).mean() > 0.03
    with pytest.raises(InputError):
        render_contact_sheet(tmp_path / "sheet.jpg")


def test_cli_render_all_fifteen(tmp_path):
    import matplotlib.image as mpimg

    from scan2ad.acquisition.parts.cli import parts

    out = tmp_path / "contact_sheet.png"
    done = CliRunner().invoke(parts, ["render", "--out", str(out)])
    assert done.exit_code == 0, done.output
    img = mpimg.imread(out)[..., :3]
    assert img.shape[:2] == (3 * 420, 5 * 420)  # 5 x 3 grid of 420 px cells
    for row in np.split(img, 3, axis=0):
        for cell in np.split(row, 5, axis=1):
            assert (
                cell.mean(axis=2) < 0.9
            ).mean() > 0.02  # a part (not only a label) in every cell


def test_dimensions_stay_inside_their_tolerance_bands(meshes):
    for seed in SEEDS:
        nut = meshes[("lock_nut", seed)]
        assert 16.73 - 1e-6 <= nut.extents[1] <= 17.0 + 1e-6  # across flats s (DIN 985 M10)
        assert 9.64 - 1e-6 <= nut.extents[2] <= 10.0 + 1e-6  # height h
        washer = meshes[("heavy_washer", seed)]
        assert 29.48 - 0.01 <= washer.extents[0] <= 30.0 + 0.01  # d2 h14, plus ≤ 0.04 mm dish
        assert 5.7 <= washer.extents[2] <= 6.3 + 0.1  # h ± 0.3 (+ dish)


@pytest.mark.parametrize("name", ["square_taper_washer", "split_pin", "lock_nut", "s_hook"])
def test_variation_scales_the_spread_of_instances(name):
    """1 is the default part bit for bit; 0 is one nominal part whatever the seed; in between
    each instance's extents sit proportionally closer to the nominal ones (draws scaled around
    their bands' centres)."""
    full, default = make_part(name, 3, 1.0), make_part(name, 3)
    assert np.array_equal(full.vertices, default.vertices)
    nominal = make_part(name, 3, 0.0)
    assert np.allclose(nominal.vertices, make_part(name, 7, 0.0).vertices)
    d_full = full.extents - nominal.extents
    d_quarter = make_part(name, 3, 0.25).extents - nominal.extents
    assert np.abs(d_full).max() > 0.02
    assert np.abs(d_quarter).max() < 0.45 * np.abs(d_full).max()
    assert make_part(name, 3, 0.25).metadata["variation"] == 0.25


def test_variation_is_checked():
    for bad in (-0.1, 1.01, float("nan"), float("inf"), "half", None, True):
        with pytest.raises(InputError, match="part variation"):
            make_part("heavy_washer", 0, bad)


def test_scaled_draws_keep_the_stream_and_refuse_unscaled_draws():
    a, b = np.random.default_rng(5), ScaledDraws(np.random.default_rng(5), 0.5)
    assert b.uniform(10.0, 12.0) == pytest.approx(11.0 + 0.5 * (a.uniform(10.0, 12.0) - 11.0))
    x, y = a.normal(1.0, 2.0, 4), b.normal(1.0, 2.0, 4)
    assert np.allclose(y, 1.0 + 0.5 * (x - 1.0))
    assert a.uniform() == b._rng.uniform()  # same position in the stream
    with pytest.raises(AttributeError, match="does not scale"):
        b.integers(3)
