"""``scan2ad pretrain point-mae|point-bert|pointnet2``: self-supervised pretraining of a backbone."""

from __future__ import annotations

import click


def _pairs(items: tuple[str, ...], what: str) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str):
    """A TOML literal (42, 0.5, true, "x") or, failing that, the text itself."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@click.command("pretrain")
@click.argument("kind", type=click.Choice(["point-mae", "point-bert", "pointnet2"]))
@click.option("--data", required=True,
              help="'parts' or 'parts:NAME,...' (procedural part library), a dataset folder (its "
                   "train clouds) or a folder of meshes/clouds.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--steps", type=int, default=None, help="Optimisation steps (per phase for Point-BERT).")
@click.option("--epochs", type=float, default=None,
              help="Instead of --steps: passes over the data's shapes (steps = epochs x shapes / batch).")
@click.option("--batch", type=int, default=None, help="Clouds per step.")
@click.option("--points", type=int, default=None, help="Points per cloud.")
@click.option("--seed", type=int, default=None, help="Seed of the data draws and torch.")
@click.option("--resume", is_flag=True, help="Continue the run saved in --out.")
@click.option("--overwrite", is_flag=True, help="Replace an --out folder of another kind or data (or not "
              "made by pretrain); the old one stays until the new run completes.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML with [train] (PretrainConfig) and [model] (PointMAEConfig / PointBERTConfig / "
                   "PointNet2Config) tables.")
@click.option("--set", "train_set", multiple=True, metavar="KEY=VALUE", help="A PretrainConfig field.")
@click.option("--model", "model_set", multiple=True, metavar="KEY=VALUE",
              help="A model config field, e.g. --model trans_dim=192 --model depth=6.")
def pretrain(kind, data, out, steps, epochs, batch, points, seed, resume, overwrite, device, config_path,
             train_set, model_set):
    """Pretrain a Point-MAE (masked autoencoder), Point-BERT (dVAE tokenizer, then masked point
    modelling) or PointNet++ (GMANet's expert: regression of multi-scale local descriptors)
    backbone; writes point_mae.pt / point_bert.pt / pointnet2.pt, resumable states, loss CSV +
    PNG and pretrain.json to OUT."""
    import math

    from scan2ad.config import load_config, read_toml
    from scan2ad.errors import InputError

    from . import pretrain as pt

    if steps is not None and epochs is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    tables = read_toml(config_path) if config_path else {}
    unknown = sorted(set(tables) - {"train", "model"})
    if unknown:
        raise InputError(f"unknown table(s) {', '.join(unknown)}; expected [train] and [model]", config_path)
    train = dict(tables.get("train", {}))
    train.update(_pairs(train_set, "--set"))
    for key, value in (("steps", steps), ("batch", batch), ("points", points), ("seed", seed)):
        if value is not None:
            train[key] = value
    model = dict(tables.get("model", {}))
    model.update(_pairs(model_set, "--model"))
    if kind == "point-mae":
        from .point_mae import PointMAEConfig as ModelConfig
    elif kind == "point-bert":
        from .point_bert import PointBERTConfig as ModelConfig
    else:
        from scan2ad.detectors.methods.gmanet.pretraining import PointNet2Config as ModelConfig
    model_cfg = load_config(ModelConfig, model)
    cfg = load_config(pt.PretrainConfig, train)
    corpus = pt.Corpus(data, cfg.points, cfg.rotate, cfg.part_variants)
    if epochs is not None:
        if not (math.isfinite(epochs) and epochs > 0):
            raise click.BadParameter(f"must be a positive finite number, got {epochs}", param_hint="--epochs")
        cfg = load_config(pt.PretrainConfig, {**train, "steps": max(1, math.ceil(epochs * len(corpus.shapes)
                                                                               / cfg.batch))})
    run = {"point-mae": pt.pretrain_point_mae, "point-bert": pt.pretrain_point_bert,
           "pointnet2": pt.pretrain_pointnet2}[kind]
    from pathlib import Path

    from scan2ad.outputs import claim_output

    # the folder holds one kind's run on one corpus; the model and training settings of a
    # resumed run are checked against its saved state by the run itself
    # --data is a library name or a folder; a folder must stay apart from --out
    data_dir = None if data == "parts" or data.startswith("parts:") else data
    with claim_output(Path(out), "pretrain", {"kind": kind, "data": data}, overwrite=overwrite,
                      staging="overwrite", keep_staging=True, inputs={"the --data folder": data_dir}) as claim:
        summary = run(corpus, claim.work, model_cfg, cfg, resume=resume, device=device)
    for name, phase in summary["phases"].items():
        click.echo(f"{kind} {name}: {phase['steps']} steps in {phase['seconds']:.1f} s, loss "
                   f"{phase['first_loss']:.4g} -> {phase['final_loss']:.4g} (mean of the last <= 20 steps)")
    click.echo(f"{summary['parameters']:,} parameters on {summary['data']['shapes']} shapes; "
               f"weights {out}/{summary['weights']}")
