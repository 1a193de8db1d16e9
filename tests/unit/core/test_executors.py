import pytest
from helpers import units as U

from scan2ad.errors import InputError, UnitFailedError
from scan2ad.executors import Unit, run_units


def _graph():
    leaves = [Unit(U.square, {"x": i}, f"square {i}") for i in range(4)]
    agg = Unit(U.total, {}, "total", deps=tuple(u.key for u in leaves))
    return leaves, agg


@pytest.mark.parametrize("workers", [1, 2])
def test_local_graph_with_dependencies(workers):
    leaves, agg = _graph()
    rep = run_units(leaves + [agg], workers=workers)
    assert rep.results[agg.key] == 0 + 1 + 4 + 9
    assert len(rep.ran) == 5 and not rep.failures


def test_cache_skips_finished_units(tmp_path):
    log = tmp_path / "log.txt"
    units = [Unit(U.append_marker, {"log": str(log), "x": i}) for i in range(3)]
    rep1 = run_units(units, workers=1, cache_dir=tmp_path / "cache")
    rep2 = run_units(units + [Unit(U.append_marker, {"log": str(log), "x": 9})], workers=1,
                     cache_dir=tmp_path / "cache")
    assert len(rep1.ran) == 3 and len(rep2.cached) == 3 and len(rep2.ran) == 1
    assert log.read_text().split() == ["0", "1", "2", "9"]
    assert rep2.results[units[0].key] == 1


def test_units_run_deepest_first_and_are_cached_as_they_finish(tmp_path):
    """A build's graph (views -> scan -> samples): each scan is finished with its samples before
    the next scan's views start, and every unit is cached before the next one starts (a killed
    run keeps all but the unit it was running)."""
    log, cache = tmp_path / "log.txt", tmp_path / "cache"
    cache.mkdir()
    roots, rest = [], []
    for s in range(2):
        views = [Unit(U.log_order, {"log": str(log), "cache": str(cache), "name": f"v{s}{v}"})
                 for v in range(2)]
        scan = Unit(U.log_order, {"log": str(log), "cache": str(cache), "name": f"r{s}"},
                    deps=tuple(u.key for u in views))
        roots += views
        rest += [scan, Unit(U.log_order, {"log": str(log), "cache": str(cache), "name": f"s{s}"},
                            deps=(scan.key,))]
    run_units(roots + rest, workers=1, cache_dir=cache)  # plan order: every view first
    order = [line.split(":") for line in log.read_text().split()]
    assert [n for n, _ in order] == ["v00", "v01", "r0", "s0", "v10", "v11", "r1", "s1"]
    assert [int(c) for _, c in order] == list(range(8))


def test_key_is_content_hash():
    assert Unit(U.square, {"x": 1}).key == Unit(U.square, {"x": 1}, "other description").key
    assert Unit(U.square, {"x": 1}).key != Unit(U.square, {"x": 2}).key
    assert Unit(U.square, {"x": 1}).key != Unit(U.square, {"x": 1}, salt="input-sha").key


def test_failure_reported_and_independent_units_go_on(tmp_path):
    units = [Unit(U.fail_on, {"x": i, "bad": 2}, f"unit {i}") for i in range(4)]
    dependent = Unit(U.total, {}, "needs the broken one", deps=(units[2].key,))
    with pytest.raises(UnitFailedError) as e:
        run_units(units + [dependent], workers=2, cache_dir=tmp_path / "c")
    msg = str(e.value)
    assert "unit 2" in msg and "broken on purpose" in msg and "'bad': 2" in msg
    assert "dependency" in msg and "needs the broken one" in msg
    rep = run_units(units + [dependent], workers=1, cache_dir=tmp_path / "c", raise_on_failure=False)
    assert len(rep.cached) == 3 and len(rep.failures) == 2  # the good ones were cached


def test_bad_graphs():
    with pytest.raises(InputError, match="unknown unit"):
        run_units([Unit(U.total, {}, deps=("nope",))])
    with pytest.raises(InputError, match="unknown executor"):
        run_units([Unit(U.square, {"x": 1})], executor="dask")


def test_ray_runs_the_same_graph(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import os
    from pathlib import Path

    # the local Ray cluster's workers inherit the environment: let them import tests/helpers
    tests_dir = str(Path(U.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])))
    leaves, agg = _graph()
    bad = Unit(U.fail_on, {"x": 2, "bad": 2}, "broken")
    rep = run_units(leaves + [agg, bad], executor="ray", workers=2, cache_dir=tmp_path / "c",
                    raise_on_failure=False)
    local = run_units(leaves + [agg], workers=1)
    assert rep.results[agg.key] == local.results[agg.key] == 14
    assert len(rep.failures) == 1 and "broken on purpose" in rep.failures[0][2]


def test_pool_workers_do_not_inherit_blenders_paths(tmp_path, monkeypatch):
    """After ``import bpy`` the parent's sys.path starts with Blender's scripts folders; spawned
    workers must not see them (their own ``import bpy`` would find Blender's stub package)."""
    import sys
    import types

    modules = tmp_path / "4.2" / "scripts" / "modules"
    (modules / "bpy").mkdir(parents=True)
    (modules / "bpy" / "__init__.py").write_text("")
    fake = types.ModuleType("bpy")
    fake.__file__ = str(modules / "bpy" / "__init__.py")
    monkeypatch.setitem(sys.modules, "bpy", fake)
    monkeypatch.setattr(sys, "path", [str(modules), str(tmp_path / "4.2" / "scripts" / "addons"), *sys.path])
    rep = run_units([Unit(U.sys_path, {"x": i}) for i in range(2)], workers=2)
    for worker_path in rep.results.values():
        assert not any(p.startswith(str(tmp_path)) for p in worker_path)
        assert any(p.endswith("site-packages") for p in worker_path)
    assert sys.path[0] == str(modules)  # the parent keeps its own path


def test_workers_are_checked_before_any_process_starts(tmp_path, monkeypatch):
    import os

    from scan2ad.executors import OVERSUBSCRIBE, check_workers

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    units = [Unit(U.square, {"x": i}, f"square {i}") for i in range(3)]
    for bad, why in ((0, "at least 1"), (-3, "at least 1"), (2.5, "whole number"), (True, "whole number"),
                     (OVERSUBSCRIBE * 2 + 1, "2 core")):
        with pytest.raises(InputError, match=why):
            run_units(units, workers=bad, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()
    assert check_workers(OVERSUBSCRIBE * 2) == OVERSUBSCRIBE * 2 and check_workers(None) is None
    assert check_workers(1000, executor="ray") == 1000     # a cluster may have more cores
    with pytest.raises(InputError, match="2 core"):
        from scan2ad.datasets.builder import build
        from scan2ad.datasets.spec import load_spec

        build(load_spec("tiny"), tmp_path / "out", workers=10_000)
    assert not (tmp_path / "out").exists()
