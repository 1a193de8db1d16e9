import struct

import numpy as np
import pytest

from scan2ad.errors import FormatError, ValidationError
from scan2ad.pointcloud import PointCloud, read_cloud, read_xyz, write_cloud, write_xyz


def _cloud(n=500, seed=0, normals=True, labels=True, extra=True):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-50, 50, size=(n, 3))
    nrm = rng.normal(size=(n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    return PointCloud(
        pts,
        nrm if normals else None,
        labels=(rng.random(n) < 0.1).astype(np.uint8) if labels else None,
        extra={"confidence": rng.random(n).astype(np.float32)} if extra else {},
    )


@pytest.mark.parametrize("fmt,binary", [("ply", True), ("ply", False), ("pcd", True), ("pcd", False), ("npz", True)])
def test_round_trip_keeps_every_field(tmp_path, fmt, binary):
    c = _cloud()
    path = write_cloud(tmp_path / f"c.{fmt}", c, binary=binary)
    back = read_cloud(path)
    np.testing.assert_allclose(back.points, c.points, rtol=1e-6, atol=1e-4)  # float32 on disk
    np.testing.assert_allclose(back.normals, c.normals, atol=1e-6)
    np.testing.assert_array_equal(back.labels, c.labels)
    np.testing.assert_allclose(back.extra["confidence"], c.extra["confidence"], rtol=1e-6)


@pytest.mark.parametrize("fmt", ["xyz", "txt"])
def test_round_trip_xyz_with_labels(tmp_path, fmt):
    c = _cloud(normals=False, extra=False)
    back = read_cloud(write_cloud(tmp_path / f"c.{fmt}", c))
    np.testing.assert_allclose(back.points, c.points, rtol=1e-8)
    np.testing.assert_array_equal(back.labels, c.labels)


def test_colors_round_trip(tmp_path):
    c = _cloud(extra=False)
    c.colors = np.random.default_rng(1).random((len(c), 3))
    for fmt in ("ply", "pcd"):
        back = read_cloud(write_cloud(tmp_path / f"c.{fmt}", c))
        np.testing.assert_allclose(back.colors, c.colors, atol=1 / 255)


def test_pcd_multi_count_field_round_trip(tmp_path):
    c = _cloud(extra=False)
    c.extra["fpfh"] = np.random.default_rng(2).random((len(c), 33)).astype(np.float32)
    back = read_cloud(write_cloud(tmp_path / "c.pcd", c))
    np.testing.assert_allclose(back.extra["fpfh"], c.extra["fpfh"])


def test_reads_comma_separated_gt_with_nan_labels(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1.0,2.0,3.0,nan\n4.0,5.0,6.0,1\n7,8,9,0\n")
    c = read_cloud(p)
    assert c.labels.tolist() == [0, 1, 0]
    np.testing.assert_allclose(c.points[1], [4, 5, 6])


def test_reads_whitespace_gt_and_header(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("x y z label\n1 2 3 0.0\n4   5\t6 1.0\n")
    assert read_cloud(p).labels.tolist() == [0, 1]


def test_xyz_explicit_columns(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("1 2 3 0.1 0.2 0.3\n4 5 6 0.4 0.5 0.6\n")
    c = read_xyz(p, columns=("x", "y", "z", "red", "green", "blue"))
    np.testing.assert_allclose(c.colors[0], [0.1, 0.2, 0.3])


def test_write_xyz_gt_layout(tmp_path):
    c = _cloud(n=4, normals=False, extra=False)
    text = write_xyz(tmp_path / "gt.txt", c).read_text().splitlines()
    assert len(text) == 4 and len(text[0].split()) == 4
    assert text[0].split()[3] in ("0", "1")


def _binary_pcd_lzf(path, pts):
    """A binary_compressed PCD whose LZF stream holds only literal runs (valid LZF)."""
    n = len(pts)
    raw = b"".join(pts[:, i].astype("<f4").tobytes() for i in range(3))
    comp = bytearray()
    for i in range(0, len(raw), 32):
        chunk = raw[i : i + 32]
        comp.append(len(chunk) - 1)
        comp += chunk
    header = (f"VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH {n}\nHEIGHT 1\n"
              f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary_compressed\n")
    path.write_bytes(header.encode() + struct.pack("<II", len(comp), len(raw)) + bytes(comp))


def test_pcd_binary_compressed(tmp_path):
    pts = np.random.default_rng(3).random((100, 3)).astype(np.float32)
    p = tmp_path / "c.pcd"
    _binary_pcd_lzf(p, pts)
    np.testing.assert_allclose(read_cloud(p).points, pts)


def test_lzf_back_references():
    from scan2ad.pointcloud import _lzf_decompress

    # "abcabcabc": literal "abc" then a back-reference of length 6 at distance 3
    stream = bytes([2]) + b"abc" + bytes([(4 << 5) | 0, 2])
    assert _lzf_decompress(stream, 9) == b"abcabcabc"


def test_matches_open3d_reader(tmp_path):
    o3d = pytest.importorskip("open3d")
    c = _cloud(extra=False, labels=False)
    for fmt in ("ply", "pcd"):
        path = write_cloud(tmp_path / f"c.{fmt}", c)
        o = o3d.io.read_point_cloud(str(path))
        np.testing.assert_allclose(np.asarray(o.points), c.points, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(np.asarray(o.normals), c.normals, atol=1e-6)
    # and we read what open3d writes
    p = tmp_path / "o3d.pcd"
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(c.points))
    o3d.io.write_point_cloud(str(p), pcd, write_ascii=False, compressed=True)
    np.testing.assert_allclose(read_cloud(p).points, c.points, rtol=1e-6, atol=1e-4)
    p2 = tmp_path / "o3d.ply"
    o3d.io.write_point_cloud(str(p2), pcd)
    np.testing.assert_allclose(read_cloud(p2).points, c.points, rtol=1e-6, atol=1e-4)


# ------------------------------------------------------------------ bad input
def test_rejects_empty_cloud(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("")
    with pytest.raises(ValidationError, match="empty") as e:
        read_cloud(p)
    assert str(p) in str(e.value)


def test_rejects_nan_coordinates(tmp_path):
    p = tmp_path / "nan.xyz"
    p.write_text("1 2 3\nnan 2 3\n")
    with pytest.raises(ValidationError, match="NaN or infinite") as e:
        read_cloud(p)
    assert "nan.xyz" in str(e.value)


def test_rejects_inf_in_memory_write(tmp_path):
    c = PointCloud(np.array([[0.0, 0, 0], [np.inf, 0, 0]]))
    with pytest.raises(ValidationError):
        write_cloud(tmp_path / "x.ply", c)
    assert not (tmp_path / "x.ply").exists()


def test_rejects_label_length_mismatch(tmp_path):
    c = PointCloud(np.zeros((3, 3)), labels=np.zeros(2))
    with pytest.raises(ValidationError, match="2 labels for 3 points"):
        write_cloud(tmp_path / "x.pcd", c)


@pytest.mark.parametrize("fmt", ["ply", "pcd"])
def test_rejects_truncated_binary(tmp_path, fmt):
    path = write_cloud(tmp_path / f"c.{fmt}", _cloud())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(FormatError, match="truncated") as e:
        read_cloud(path)
    assert path.name in str(e.value)


@pytest.mark.parametrize("fmt", ["ply", "pcd"])
def test_rejects_truncated_ascii(tmp_path, fmt):
    path = write_cloud(tmp_path / f"c.{fmt}", _cloud(), binary=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-10]) + "\n")
    with pytest.raises(FormatError, match="truncated"):
        read_cloud(path)


def test_rejects_ragged_txt(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1 2 3 0\n4 5 6\n")
    with pytest.raises(FormatError, match="row 2 has 3 values"):
        read_cloud(p)


def test_rejects_truncated_header_and_garbage(tmp_path):
    p = tmp_path / "h.ply"
    p.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n")
    with pytest.raises(FormatError, match="header"):
        read_cloud(p)
    q = tmp_path / "g.ply"
    q.write_bytes(b"\x00\x01garbage")
    with pytest.raises(FormatError, match="not a PLY"):
        read_cloud(q)
    z = tmp_path / "z.npz"
    z.write_bytes(b"PK\x03\x04broken")
    with pytest.raises(FormatError, match="NPZ"):
        read_cloud(z)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        read_cloud(tmp_path / "nope.ply")
    with pytest.raises(FormatError, match="unknown point-cloud format"):
        read_cloud(tmp_path / "x.obj")


def test_ply_with_faces_reads_vertices(tmp_path):
    p = tmp_path / "mesh.ply"
    p.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                 "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
                 "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert len(read_cloud(p)) == 3


def test_subset_keeps_fields():
    c = _cloud()
    s = c.subset(c.labels == 1)
    assert len(s) == int(c.labels.sum()) and s.labels.all()
    assert s.extra["confidence"].shape == (len(s),)
