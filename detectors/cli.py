"""``scan2ad train | evaluate | benchmark``: thin click wrappers over :mod:`.train`,
:mod:`.evaluate` and :mod:`.benchmark`. Nothing heavy is imported until a command runs."""

from __future__ import annotations

from pathlib import Path

import click


def _seeds(text: str) -> tuple[int, ...]:
    """"1-5" or "1,3,5" -> seeds."""
    out: list[int] = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            if b and int(b) < int(a):
                raise ValueError
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    except ValueError:
        raise click.BadParameter(f"seeds must look like 1-5 or 1,2,3 (non-negative, a range low-high), "
                                 f"got {text!r}", param_hint="--seeds") from None
    return tuple(out)


def _overrides(pairs: tuple[str, ...], config: Path | None) -> dict:
    """``--set key=value`` (value parsed as TOML: 512, 0.3, true, "fpfh", [40, 80]) over ``--config``."""
    import tomllib

    from scan2ad.config import read_toml

    out = dict(read_toml(config)) if config else {}
    for p in pairs:
        key, eq, value = p.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"--set wants key=value, got {p!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # a bare word is a string
    return out


def _settings(method, protocol, known, k, seeds, classes, sets, config, heatmaps=2, plots=True,
              feature_cache=None, feature_cache_gb=0.0):
    from scan2ad.detectors.evaluate import EvalSettings

    return EvalSettings(method=method, protocol=protocol,
                        known=tuple(t for t in (known or "").split(",") if t), k=k, seeds=_seeds(seeds),
                        classes=tuple(classes), overrides=_overrides(sets, config), heatmaps=heatmaps,
                        plots=plots, feature_cache=str(feature_cache or ""), feature_cache_gb=feature_cache_gb)


def _cache_options(f):
    f = click.option("--feature-cache-gb", type=click.FloatRange(min=0), default=0.0, show_default=True,
                     help="Bound on the feature cache in GB (least recently used entries go; 0 = none).")(f)
    return click.option("--feature-cache", type=click.Path(path_type=Path, file_okay=False),
                        help="Folder of an on-disk feature cache shared by runs (same scores; features "
                             "of a cloud computed once for every method variant, k and seed).")(f)


def _common(f):
    opts = [
        click.argument("dataset", type=click.Path(path_type=Path)),
        click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Run folder."),
        click.option("--protocol", type=click.Choice(["one-class", "open-set"]), default="one-class",
                     show_default=True),
        click.option("--known", default="", help="Open-set known defect types, comma-separated "
                     "(default: first half of each class's types)."),
        click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Open-set seen samples per known type."),
        click.option("--seeds", default="1", show_default=True, help="Seeds, e.g. 1-5."),
        click.option("--class", "classes", multiple=True, help="Only this class (repeatable)."),
        click.option("--set", "sets", multiple=True, help="Detector setting key=value (repeatable)."),
        click.option("--config", type=click.Path(path_type=Path, dir_okay=False),
                     help="TOML file of detector settings."),
        click.option("--overwrite", is_flag=True, help="Replace an OUT folder written by another command "
                     "or job (the previous content stays until the new run completes)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@click.command()
@click.option("--method", "-m", default="patchcore-fpfh", show_default=True, help="Registry name.")
@_common
def train(method, dataset, out, protocol, known, k, seeds, classes, sets, config, overwrite):
    """Fit METHOD on every class of DATASET and save the models (no testing)."""
    from scan2ad.detectors.train import train as run

    s = _settings(method, protocol, known, k, seeds, classes, sets, config)
    times = run(dataset, out, s, overwrite=overwrite)
    click.echo(f"trained {len(times)} model(s) of {method} in {sum(times.values()):.1f} s -> {out}/models")


@click.command()
@click.option("--method", "-m", default="patchcore-fpfh", show_default=True, help="Registry name.")
@click.option("--models", type=click.Path(path_type=Path, file_okay=False),
              help="Score with the models of this train run instead of fitting.")
@click.option("--heatmaps", type=click.IntRange(min=0), default=2, show_default=True, help="Heat maps per class.")
@click.option("--no-plots", is_flag=True, help="Skip curves and heat maps.")
@_cache_options
@_common
def evaluate(method, models, heatmaps, no_plots, feature_cache, feature_cache_gb, dataset, out, protocol, known,
             k, seeds, classes, sets, config, overwrite):
    """Evaluate METHOD on DATASET (one-class or open-set) and write the run folder."""
    from scan2ad.detectors.evaluate import evaluate as run

    s = _settings(method, protocol, known, k, seeds, classes, sets, config, heatmaps, not no_plots,
                  feature_cache, feature_cache_gb)
    from scan2ad.detectors.metrics import fmt

    payload = run(dataset, out, s, models_from=models, overwrite=overwrite)
    for sub, ms in payload["mean"].items():
        click.echo(f"{sub:8s} " + "  ".join(f"{m} {fmt(*v)}" for m, v in ms.items()))
    if payload.get("undefined"):
        click.echo(f"{len(payload['undefined'])} metric(s) undefined (null in metrics.json, reasons under "
                   f"'undefined'): {payload['undefined'][0]['reason']}")
    click.echo(f"FPS {payload['fps']:.2f} · table: {out / 'table.md'}")


@click.command()
@click.option("--methods", default="btf-raw,btf-fpfh,patchcore-fpfh,patchcore-fpfh+raw,open3d-ad",
              show_default=True, help="Comma-separated registry names.")
@_cache_options
@_common
def benchmark(methods, feature_cache, feature_cache_gb, dataset, out, protocol, known, k, seeds, classes, sets,
              config, overwrite):
    """Evaluate several methods on DATASET and write one comparison table."""
    from scan2ad.detectors.benchmark import benchmark as run

    s = _settings("", protocol, known, k, seeds, classes, sets, config, heatmaps=1,
                  feature_cache=feature_cache, feature_cache_gb=feature_cache_gb)
    run(dataset, out, [m.strip() for m in methods.split(",") if m.strip()], s, overwrite=overwrite)
    click.echo((out / "benchmark.md").read_text())
