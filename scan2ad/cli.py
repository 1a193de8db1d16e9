"""The ``scan2ad`` command: one click group whose subcommands are imported only when used.

The table below is the explicit list of subcommands and the module that defines each one. A
command whose module is not importable in this install is left out of ``--help`` rather than
failing, so the group stays usable while a stage is being built. Nothing heavy (torch, open3d,
bpy) is imported at the top of any command module: ``scan2ad --help`` stays under a second.

Exit codes: 0 ok; 1 failure; 2 bad input (``InputError``) or a usage error.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from scan2ad import __version__

# name -> "module:attribute"; the order is the order of the pipeline
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("scan2ad.demo:demo", "Run the main job end to end on the virtual rig."),
    "pointcloud": ("scan2ad.pointcloud_cli:pointcloud", "Inspect, validate and convert point clouds."),
    "parts": ("scan2ad.acquisition.parts.cli:parts", "The procedural part library (list, export, render)."),
    "capture": ("scan2ad.acquisition.cli:capture", "Capture a structured-light session (real or virtual rig)."),
    "calibrate": ("scan2ad.acquisition.calibration.cli:calibrate", "Calibrate cameras, stereo pair and turntable from images."),
    "triangulate": ("scan2ad.reconstruction.triangulate_cli:triangulate", "Triangulate one capture with a calibrated projector (one camera)."),
    "register": ("scan2ad.reconstruction.cli:register", "Register two point clouds (S4PCS / FPFH + FRICP)."),
    "reconstruct": ("scan2ad.reconstruction.cli:reconstruct", "Reconstruct a part cloud from a capture session."),
    "carve": ("scan2ad.annotation.cli:carve", "Carve defects into a part mesh (Blender) and label points."),
    "review": ("scan2ad.annotation.cli:review", "Render labelled samples for review (PNG)."),
    "label": ("scan2ad.annotation.cli:label", "Label anomalous points interactively."),
    "build": ("scan2ad.datasets.cli:build", "Build a dataset from a spec (cached, resumable)."),
    "dataset": ("scan2ad.datasets.cli:dataset", "Validate, describe and read datasets."),
    "pretrain": ("scan2ad.detectors.features.backbones.cli:pretrain", "Pretrain a Point-MAE / Point-BERT / PointNet++ backbone."),
    "train": ("scan2ad.detectors.cli:train", "Train a detector on a dataset."),
    "evaluate": ("scan2ad.detectors.cli:evaluate", "Evaluate a detector (one-class or open-set protocol)."),
    "benchmark": ("scan2ad.detectors.cli:benchmark", "Benchmark several detectors on a dataset."),
}


def _available(target: str) -> bool:
    """Whether the command's module exists, found on disk without importing it or its parent
    packages (a sub-package ``__init__`` may import numpy; ``--help`` must not pay for that)."""
    parts = target.partition(":")[0].split(".")
    try:
        spec = importlib.util.find_spec(".".join(parts[:2]))  # scan2ad or scan2ad.<stage>: light
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    if len(parts) == 2:
        return True
    from pathlib import Path

    for root in spec.submodule_search_locations or []:
        base = Path(root).joinpath(*parts[2:-1])
        if (base / f"{parts[-1]}.py").is_file() or (base / parts[-1] / "__init__.py").is_file():
            return True
    return False


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx):
        return [name for name, (target, _) in COMMANDS.items() if _available(target)]

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(COMMANDS[name][0]):
            return None
        module, _, attr = COMMANDS[name][0].partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        # short help from the table, so listing commands imports nothing
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="scan2ad")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """scan2ad: structured-light turntable scans to 3D anomaly-detection benchmarks."""
    from scan2ad.log import setup_logging

    setup_logging(verbose)
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def _notes(exc: BaseException) -> str:
    """What was added on the way up (e.g. that the previous output is unchanged), one line."""
    return "".join(f"; {n}" for n in getattr(exc, "__notes__", ()))


def os_error_text(exc: OSError) -> str:
    """One line for an operating-system error: the file, what went wrong, what to do."""
    import errno

    where = exc.filename if exc.filename is not None else "(unknown file)"
    hints = {errno.ENOSPC: "the disk is full: free space or write elsewhere; files already "
                           "written were replaced only when complete",
             errno.EDQUOT: "the disk quota is exceeded",
             errno.EACCES: "permission denied: choose a writable output",
             errno.EPERM: "operation not permitted: choose a writable output",
             errno.EROFS: "the file system is read-only: choose another output",
             errno.EISDIR: "a folder is in the way where a file is written",
             errno.ENOTDIR: "a file is in the way where a folder is needed",
             errno.ENAMETOOLONG: "the path is too long"}
    hint = hints.get(exc.errno, exc.strerror or str(exc))
    return f"{where}: {hint} ({type(exc).__name__}, errno {exc.errno}){_notes(exc)}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the group, map exceptions to exit codes and clear messages."""
    from scan2ad.errors import InputError, Scan2adError

    verbose = any(a in ("-v", "-vv", "--verbose") for a in (argv or sys.argv[1:]))
    try:
        cli.main(args=argv, prog_name="scan2ad", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 2 if isinstance(exc, click.UsageError) or exc.exit_code == 2 else 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except InputError as exc:
        click.echo(f"error: {exc}{_notes(exc)}", err=True)
        return 2
    except Scan2adError as exc:
        click.echo(f"error: {exc}{_notes(exc)}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except OSError as exc:  # disk full, not writable, a folder where a file goes, ...
        if verbose:
            raise
        click.echo(f"error: {os_error_text(exc)}", err=True)
        return 1
    except Exception as exc:  # unexpected: one line unless -v asks for the traceback
        if verbose:
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
