"""``scan2ad demo``: the main job end to end on the virtual rig, as far as the stages exist.

The job is an explicit, ordered list of stage steps. Each step is a function
``run(ctx: DemoContext) -> str`` in the named module that does its part of the job in
``ctx.workdir`` (reading what earlier steps wrote, DESIGN §3) and returns a one-line summary.
A step whose module is not part of this install is reported as not built yet.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import time
from pathlib import Path

import click

# (title, module holding run(ctx)) in pipeline order
STEPS: list[tuple[str, str]] = [
    ("core: point-cloud I/O and executors", "scan2ad.core_demo"),
    ("acquisition: virtual capture", "scan2ad.acquisition.demo"),
    ("calibration: calibrate the virtual rig from images", "scan2ad.acquisition.calibration.demo"),
    ("reconstruction: session to part cloud", "scan2ad.reconstruction.demo"),
    ("annotation: carve and label defects", "scan2ad.annotation.demo"),
    ("datasets: build the demo dataset", "scan2ad.datasets.demo"),
    ("detectors: train and evaluate", "scan2ad.detectors.demo"),
]


@dataclasses.dataclass
class DemoContext:
    workdir: Path
    workers: int
    quick: bool
    artefacts: dict = dataclasses.field(default_factory=dict)  # step outputs for later steps


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.command()
@click.option("--out", "workdir", type=click.Path(path_type=Path), default=Path("demo_out"),
              show_default=True, help="Folder for everything the demo writes.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Parallel workers.")
@click.option("--quick", is_flag=True, help="Smallest sizes (used by the tests).")
def demo(workdir: Path, workers: int, quick: bool) -> None:
    """Run the main job end to end on the virtual rig and say what each step did."""
    ctx = DemoContext(workdir=workdir, workers=workers, quick=quick)
    workdir.mkdir(parents=True, exist_ok=True)
    click.echo(f"scan2ad demo -> {workdir.resolve()}")
    for i, (title, module) in enumerate(STEPS, 1):
        if not _has(module):
            click.echo(f"[{i}/{len(STEPS)}] {title}: not built yet")
            continue
        t0 = time.perf_counter()
        summary = importlib.import_module(module).run(ctx)
        click.echo(f"[{i}/{len(STEPS)}] {title}: {summary} ({time.perf_counter() - t0:.1f} s)")
    click.echo("demo finished")
