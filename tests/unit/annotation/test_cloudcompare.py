"""Labels imported from CloudCompare's ASCII export: every variant it writes, exact round trips,
and refusals by name."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.annotation.cloudcompare import (
    import_labels,
    labels_from_values,
    read_cloudcompare_ascii,
    select_field,
    write_cloudcompare_ascii,
)
from scan2ad.cli import main
from scan2ad.errors import InputError


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory):
    """A measured-looking cloud of a defective part (a noisy cylinder shell with a dented patch)
    and its hand labels, saved as cloud.ply."""
    from scan2ad.pointcloud import PointCloud, write_cloud

    rng = np.random.default_rng(7)
    n = 3000
    theta, z = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 20, n)
    r = 10 + rng.normal(0, 0.02, n)
    labels = ((np.abs(theta - 1.0) < 0.25) & (np.abs(z - 8) < 3)).astype(np.uint8)
    r[labels == 1] -= 0.4
    pts = np.c_[r * np.cos(theta), r * np.sin(theta), z] + [123.4, -56.7, 8.9]
    normals = np.c_[np.cos(theta), np.sin(theta), np.zeros(n)]
    path = tmp_path_factory.mktemp("real") / "part.ply"
    write_cloud(path, PointCloud(pts, normals=normals))
    from scan2ad.pointcloud import read_cloud

    return path, read_cloud(path).points, normals, labels  # the points as stored (float32 PLY)


@pytest.mark.parametrize("sep,header,count", [(" ", True, False), (",", True, True), (";", False, False),
                                              ("\t", True, False), (",", False, True)])
def test_import_round_trips_the_labels_exactly(real_sample, tmp_path, sep, header, count, capsys):
    from scan2ad.annotation.review import load_labelled
    from scan2ad.pointcloud import read_cloud

    path, pts, normals, labels = real_sample
    order = np.random.default_rng(1).permutation(len(pts))  # CloudCompare's own order (segment + merge)
    export = write_cloudcompare_ascii(tmp_path / "export.txt", pts[order], {"Scalar field": labels[order]},
                                      separator=sep, header=header, count_line=count, normals=normals[order])
    out = tmp_path / "sample"
    args = ["label", str(path), "--import-cloudcompare", str(export), "--out", str(out)]
    if not header:
        args += ["--field", "3"]  # X Y Z, the field, Nx Ny Nz: 7 columns, no names
    assert main(args) == 0
    assert f"{int(labels.sum())}/{len(labels)} points anomalous" in capsys.readouterr().out
    got_pts, got, _ = load_labelled(out)  # what the builder's real_anomalies read
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(got_pts, pts)
    np.testing.assert_array_equal(read_cloud(out / "cloud.ply").labels, labels)
    assert (out / "labels.json").is_file()
    # a second import into the same output is refused without --overwrite
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_outputs_labels_npy_and_labelled_cloud(real_sample, tmp_path):
    from scan2ad.pointcloud import read_cloud

    path, pts, _, labels = real_sample
    export = write_cloudcompare_ascii(tmp_path / "e.asc", pts, {"defect": labels})
    assert main(["label", str(path), "--import-cloudcompare", str(export), "--out", str(tmp_path / "l.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    assert main(["label", str(path), "--import-cloudcompare", str(export), "--out",
                 str(tmp_path / "labelled.pcd")]) == 0
    np.testing.assert_array_equal(read_cloud(tmp_path / "labelled.pcd").labels, labels)


def test_field_choice_and_threshold_rule(real_sample, tmp_path):
    _, pts, _, labels = real_sample
    dist = np.where(labels == 1, 0.4, 0.01)
    dist[:5] = np.nan  # CloudCompare's invalid value
    export = write_cloudcompare_ascii(tmp_path / "d.txt", pts, {"C2C absolute distances": dist,
                                                                 "defect": labels}, separator=",")
    cc = read_cloudcompare_ascii(export)
    assert cc.columns == ["X", "Y", "Z", "C2C_absolute_distances", "defect"] and cc.separator == ","
    with pytest.raises(InputError, match="2 scalar field.*--field"):
        select_field(cc)
    name, values = select_field(cc, "c2c absolute distances")  # names match ignoring case and _/space
    assert name == "column 3 (C2C_absolute_distances)"
    with pytest.raises(InputError, match=r"values other than 0 and 1 .*--threshold"):
        labels_from_values(values, None, export, name)
    got = import_labels(pts, export, "C2C_absolute_distances", threshold=0.2)
    expected = labels.copy()
    expected[:5] = 0  # NaN is never anomalous
    np.testing.assert_array_equal(got.labels, expected)
    assert got.rule == "value > 0.2 (NaN = 0)"
    np.testing.assert_array_equal(import_labels(pts, export, 4).labels, labels)  # by column index
    with pytest.raises(InputError, match="no scalar field 'label'; the columns are X, Y, Z"):
        select_field(cc, "label")
    with pytest.raises(InputError, match="is a coordinate"):
        select_field(cc, 2)
    with pytest.raises(InputError, match="out of range"):
        select_field(cc, 9)


def test_refusals_name_the_file(real_sample, tmp_path, capsys):
    path, pts, _, labels = real_sample
    moved = write_cloudcompare_ascii(tmp_path / "moved.txt", pts * 1.001, {"sf": labels})
    with pytest.raises(InputError, match=r"3000 of 3000 points .* have no export point within 0.01 mm") as e:
        import_labels(pts, moved)
    assert e.value.path == moved
    short = write_cloudcompare_ascii(tmp_path / "short.txt", pts[:-10], {"sf": labels[:-10]})
    with pytest.raises(InputError, match="2990 points in the export but 3000"):
        import_labels(pts, short)
    # a cloud with a duplicated point: two points take the same export row
    dup = pts.copy()
    dup[1] = dup[0]
    with pytest.raises(InputError, match="nearest of several points"):
        import_labels(dup, write_cloudcompare_ascii(tmp_path / "dup.txt", pts, {"sf": labels}))
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("//X,Y,Z,sf\n1,2,3,0\n1,2,3\n")
    with pytest.raises(Exception, match="line 3 has 3 columns"):
        read_cloudcompare_ascii(ragged)
    noheader = write_cloudcompare_ascii(tmp_path / "nh.txt", pts, {"a": labels, "b": labels}, header=False)
    assert main(["label", str(path), "--import-cloudcompare", str(noheader), "--out", str(tmp_path / "o")]) == 2
    assert "5 columns and no header line" in capsys.readouterr().err
    assert main(["label", str(path), "--import-cloudcompare", str(noheader), "--tolerance", "-1",
                 "--field", "3", "--out", str(tmp_path / "o")]) == 2
    assert "--tolerance must be" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["label", str(path), "--field", "3", "--out", str(tmp_path / "l.npy")]) == 2
    assert "--field only go with --import-cloudcompare" in capsys.readouterr().err


def test_real_anomaly_through_the_import_round_trips_into_a_built_dataset(tmp_path):
    """CloudCompare export -> scan2ad label --import-cloudcompare -> spec real_anomalies -> build:
    the dataset's gt labels are the exported scalar field, point for point."""
    import trimesh
    from helpers import own_parts as parts

    from scan2ad.datasets.builder import build
    from scan2ad.datasets.readers import read_dataset
    from scan2ad.datasets.samples import load_sample
    from scan2ad.datasets.spec import load_spec
    from scan2ad.datasets.validate import validate_dataset
    from scan2ad.pointcloud import PointCloud, read_cloud, write_cloud

    parts.write_parts(tmp_path / "parts")
    pts = np.asarray(trimesh.sample.sample_surface(parts.gear(), 1500, seed=3)[0])
    (tmp_path / "scans").mkdir()
    write_cloud(tmp_path / "scans" / "gear_dent.ply", PointCloud(pts))
    pts = read_cloud(tmp_path / "scans" / "gear_dent.ply").points  # as stored
    labels = (np.linalg.norm(pts - pts[0], axis=1) < 3.0).astype(np.uint8)
    order = np.random.default_rng(2).permutation(len(pts))
    export = write_cloudcompare_ascii(tmp_path / "gear_dent_cc.txt", pts[order], {"defect": labels[order]},
                                      separator=";", count_line=True)
    assert main(["label", str(tmp_path / "scans" / "gear_dent.ply"), "--import-cloudcompare", str(export),
                 "--out", str(tmp_path / "labelled" / "gear_dent")]) == 0
    (tmp_path / "spec.toml").write_text(
        'name = "own"\nsource = "synthetic"\npoints = 4000\nn_train = 2\nn_test_normal = 1\nn_per_defect = 2\n'
        'defects = ["Dent"]\nsplit_ks = [1]\nsplit_seeds = [1]\ngallery = false\n'
        'classes = [{ name = "gear", meshes = ["parts/gear.stl"], '
        'real_anomalies = [{ path = "labelled/gear_dent", type = "Dent" }] }]\n')
    out = tmp_path / "ds"
    build(load_spec(tmp_path / "spec.toml"), out, workers=1)
    assert validate_dataset(out) == []
    real = [s for s in read_dataset(out) if s.relpath == "gear/test/gear_Dent_003.pcd"]
    assert real, [s.relpath for s in read_dataset(out)]
    np.testing.assert_array_equal(load_sample(real[0]).labels, labels)
