import dataclasses
import json

import pytest

from scan2ad.config import config_to_dict, doc, load_config
from scan2ad.errors import FormatError, InputError, SchemaVersionError
from scan2ad.io import atomic_open, read_json, sha256_file, stable_hash, write_json


def test_write_json_carries_versions(tmp_path):
    p = write_json(tmp_path / "a" / "r.json", {"x": 1})
    doc_ = json.loads(p.read_text())
    assert doc_["schema_version"] == 1 and "scan2ad_version" in doc_ and doc_["x"] == 1
    assert read_json(p)["x"] == 1


def test_read_json_rejects_unknown_schema(tmp_path):
    p = write_json(tmp_path / "r.json", {"x": 1}, schema_version=99)
    with pytest.raises(SchemaVersionError, match="schema_version 99") as e:
        read_json(p)
    assert "r.json" in str(e.value)


def test_read_json_bad_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(FormatError, match="bad.json: not valid JSON"):
        read_json(p)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_hashes(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


@dataclasses.dataclass(frozen=True)
class Inner:
    sigma: float = doc("noise in mm", 0.01)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = doc("the name")
    sizes: tuple[int, ...] = doc("sizes", (1, 2))
    inner: Inner = doc("nested", Inner())
    mode: str | None = doc("optional", None)


def test_config_from_toml_and_rejects_unknown(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('name = "a"\nsizes = [3, 4]\n[inner]\nsigma = 2\n')
    cfg = load_config(Outer, p)
    assert cfg == Outer("a", (3, 4), Inner(2.0))
    assert config_to_dict(cfg)["sizes"] == [3, 4]
    p.write_text('name = "a"\n[inner]\nsigmaa = 2\n')
    with pytest.raises(InputError, match=r"unknown key\(s\) inner.sigmaa") as e:
        load_config(Outer, p)
    assert str(p) in str(e.value)
    with pytest.raises(InputError, match="missing required key 'name'"):
        load_config(Outer, {})
    with pytest.raises(InputError, match="expected a number"):
        load_config(Outer, {"name": "x", "inner": {"sigma": "big"}})


def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path):
    import os

    from scan2ad.io import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "weights.pt") as tmp:
            tmp.write_bytes(b"x")
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "weights.pt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
