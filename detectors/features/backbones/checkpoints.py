"""Checkpoint files of the backbones: scan2ad's own format and the official Point-MAE / Point-BERT
files, mapped key for key onto :mod:`.point_mae` / :mod:`.point_bert`.

scan2ad formats (``torch.save`` of plain dicts, loadable with ``torch.load(weights_only=True)``):

* ``scan2ad-backbone`` - ``{format, format_version, kind, config, state_dict, meta}``: an encoder
  (or a whole pretraining model when ``part == "model"``) ready to use; the shipped
  ``weights/point_mae_small.pt`` is one.
* ``scan2ad-pretrain`` - the resumable training state written by :mod:`.pretrain` (model and
  optimizer state, step, schedule, loss history); :func:`load_encoder` accepts it too.

Official layouts (``ckpts/pretrain.pth`` of Point-MAE, ``Point-BERT.pth``, their fine-tuned
files) hold ``{"base_model": state_dict, ...}``, keys possibly prefixed ``module.`` (DDP):

=====================================  ===========================================
official key                           scan2ad key (encoder)
=====================================  ===========================================
``MAE_encoder.encoder.*``              ``patch_embed.*``   (Point-MAE pretraining)
``MAE_encoder.pos_embed.*`` / ``norm``  ``pos_embed.*`` / ``norm.*``
``MAE_encoder.blocks.blocks.N.*``      ``blocks.N.*``
``transformer_q.<as above>``           Point-BERT pretraining (``reduce_dim``, ``cls_token``,
                                       ``cls_pos`` too; ``lm_head``, ``mask_token`` belong to
                                       masked point modelling, ``dvae.*`` to the tokenizer)
``encoder.*``, ``blocks.blocks.N.*``   fine-tuned files of either (``cls_token``, ``cls_pos``;
                                       the ``cls_head_finetune`` classifier is dropped)
=====================================  ===========================================

The number of attention heads is not stored in a state dict; both papers use 6, which is the
default here (``num_heads`` overrides it).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from scan2ad.errors import InputError

FORMAT_BACKBONE = "scan2ad-backbone"
FORMAT_PRETRAIN = "scan2ad-pretrain"
FORMAT_VERSION = 1
KINDS = ("point-mae", "point-bert", "pointnet2")   # pointnet2: GMANet's expert (methods/gmanet)

# official encoder sub-module prefixes -> ours (after the model prefix is removed)
_ENCODER_PREFIXES = (
    ("encoder.", "patch_embed."),
    ("blocks.blocks.", "blocks."),
    ("reduce_dim.", "reduce_dim."),
    ("pos_embed.", "pos_embed."),
    ("norm.", "norm."),
)
_ENCODER_PARAMS = ("cls_token", "cls_pos")


def strip_wrappers(state: dict[str, Any]) -> dict[str, Any]:
    """Keys without the ``module.`` (DistributedDataParallel) and ``base_model.`` prefixes."""
    out = {}
    for key, value in state.items():
        k = key
        while k.startswith(("module.", "base_model.")):
            k = k.split(".", 1)[1]
        out[k] = value
    return out


def official_layout(state: dict[str, Any]) -> str:
    """Which official layout a (stripped) state dict has: ``point-mae-pretrain``,
    ``point-bert-pretrain``, ``finetuned`` or ``unknown``."""
    if any(k.startswith("MAE_encoder.") for k in state):
        return "point-mae-pretrain"
    if any(k.startswith("transformer_q.") for k in state):
        return "point-bert-pretrain"
    if any(k.startswith("encoder.first_conv.") for k in state) and any(k.startswith("blocks.blocks.") for k in state):
        return "finetuned"
    return "unknown"


def map_encoder_keys(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """The encoder part of an official state dict under ``prefix`` as a
    :class:`.point_mae.PointMAEEncoder` / :class:`.point_bert.PointBERTEncoder` state dict, and
    the keys under ``prefix`` that are not part of the encoder (heads, mask tokens)."""
    mapped, dropped = {}, []
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        k = key[len(prefix):]
        if k in _ENCODER_PARAMS:
            mapped[k] = value
            continue
        for old, new in _ENCODER_PREFIXES:
            if k.startswith(old):
                mapped[new + k[len(old):]] = value
                break
        else:
            dropped.append(key)
    return mapped, dropped


def map_official_encoder(state: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(encoder state dict in scan2ad keys, layout name) of any official checkpoint's state dict."""
    state = strip_wrappers(state)
    layout = official_layout(state)
    prefix = {"point-mae-pretrain": "MAE_encoder.", "point-bert-pretrain": "transformer_q.",
              "finetuned": ""}.get(layout)
    if prefix is None:
        return {}, layout
    mapped, _ = map_encoder_keys(state, prefix)
    return mapped, layout


def to_official_encoder(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Our encoder state dict in the official modules' names under ``prefix`` (``MAE_encoder.``,
    ``transformer_q.``): ``patch_embed.X`` -> ``encoder.X``, ``blocks.i`` -> ``blocks.blocks.i``,
    every other key as it is; the inverse of :func:`map_encoder_keys` (to hand our weights to
    official code)."""
    out = {}
    for k, v in state.items():
        if k.startswith("patch_embed."):
            k = "encoder." + k[len("patch_embed."):]
        elif k.startswith("blocks."):
            k = "blocks.blocks." + k[len("blocks."):]
        out[prefix + k] = v
    return out


def map_official_point_mae(state: dict[str, Any]) -> dict[str, Any]:
    """A whole official Point-MAE pretraining state dict as a :class:`.point_mae.PointMAE` one
    (encoder, ``mask_token``, decoder, ``increase_dim``), e.g. to continue its pretraining."""
    state = strip_wrappers(state)
    out = {f"encoder.{k}": v for k, v in map_encoder_keys(state, "MAE_encoder.")[0].items()}
    for key, value in state.items():
        if key == "mask_token" or key.startswith("decoder_pos_embed."):
            out[key] = value
        elif key.startswith("MAE_decoder.blocks."):
            out["decoder_blocks." + key[len("MAE_decoder.blocks."):]] = value
        elif key.startswith("MAE_decoder.norm."):
            out["decoder_norm." + key[len("MAE_decoder.norm."):]] = value
        elif key.startswith("increase_dim.0."):
            out["increase_dim." + key[len("increase_dim.0."):]] = value
    return out


def map_official_point_bert(state: dict[str, Any]) -> dict[str, Any]:
    """A whole official Point-BERT pretraining state dict as a :class:`.point_bert.PointBERT` one:
    ``transformer_q`` -> ``transformer`` (plus its ``mask_token`` and ``lm_head``), ``dvae`` kept
    (same sub-module names); the momentum encoder ``transformer_k``, the MoCo queue and the
    classification head are not part of our model and are dropped."""
    state = strip_wrappers(state)
    out = {f"transformer.{k}": v for k, v in map_encoder_keys(state, "transformer_q.")[0].items()}
    for key, value in state.items():
        if key.startswith("dvae.") and not key.startswith("dvae.decoder.folding_seed"):
            out[key] = value
        elif key == "transformer_q.mask_token":
            out["mask_token"] = value
        elif key.startswith("transformer_q.lm_head."):
            out["lm_head." + key[len("transformer_q.lm_head."):]] = value
    return out


def infer_encoder_fields(state: dict[str, Any], num_heads: int | None = None) -> dict[str, Any]:
    """Encoder configuration fields read off the shapes of a scan2ad-keyed encoder state dict."""
    try:
        trans_dim = int(state["norm.weight"].shape[0])
        encoder_dims = int(state["patch_embed.second_conv.3.weight"].shape[0])
    except KeyError as exc:
        raise KeyError(f"no {exc.args[0]!r} weight") from None
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    heads = num_heads or next(h for h in (6, 8, 4, 3, 12, 2, 1) if trans_dim % h == 0)
    return {"trans_dim": trans_dim, "encoder_dims": encoder_dims, "depth": len(blocks),
            "num_heads": heads, "cls_token": "cls_token" in state}


def check_state_dict(model, state: dict[str, Any], path: Path | str | None, what: str) -> None:
    """Raise an :class:`InputError` naming ``path`` when ``state`` does not fit ``model`` exactly:
    missing and unexpected keys and shape mismatches, a few of each."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})" for k, v in expected.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("wrong shapes", shapes)):
        if items:
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            problems.append(f"{label}: {', '.join(items[:4])}{more}")
    if problems:
        raise InputError(f"the {what} weights do not fit: " + "; ".join(problems), path)


def _read(path: Path) -> Any:
    import torch

    if not path.is_file():
        raise InputError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a usable checkpoint"
        raise InputError(f"not a loadable torch checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
                         path) from None


def _classes(kind: str):
    if kind == "point-mae":
        from .point_mae import PointMAEConfig, PointMAEEncoder

        return PointMAEConfig, PointMAEEncoder
    if kind == "point-bert":
        from .point_bert import PointBERTConfig, PointBERTEncoder

        return PointBERTConfig, PointBERTEncoder
    if kind == "pointnet2":
        from scan2ad.detectors.methods.gmanet.pretraining import PointNet2Backbone, PointNet2Config

        return PointNet2Config, PointNet2Backbone
    raise InputError(f"unknown backbone kind {kind!r}; known: {', '.join(KINDS)}")


def config_from_dict(cls, data: dict[str, Any], path: Path | None = None):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}", path)
    return cls(**data)


def encoder_state_of_model(state: dict[str, Any], kind: str) -> dict[str, Any]:
    """The encoder part of a scan2ad pretraining model's state dict."""
    prefix = "transformer." if kind == "point-bert" else "encoder."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _encoder_config_fields(cfg_cls, config: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    return {k: v for k, v in config.items() if k in names}


def save_backbone(path: str | Path, module, kind: str, part: str = "encoder",
                  meta: dict[str, Any] | None = None) -> Path:
    """Write ``module`` (an encoder, or a whole pretraining model with ``part="model"``) in the
    ``scan2ad-backbone`` format, atomically."""
    import torch

    from scan2ad.config import config_to_dict
    from scan2ad.io import atomic_path

    if kind not in KINDS:
        raise InputError(f"unknown backbone kind {kind!r}; known: {', '.join(KINDS)}")
    payload = {"format": FORMAT_BACKBONE, "format_version": FORMAT_VERSION, "kind": kind, "part": part,
               "config": config_to_dict(module.cfg),
               "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
               "meta": dict(meta or {})}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_encoder(name_or_path: str = "point_mae_small", kind: str = "point-mae", device: str = "cpu",
                 num_heads: int | None = None):
    """A frozen encoder (eval mode, ``requires_grad`` off) from a shipped name, a scan2ad
    checkpoint (``scan2ad-backbone`` or ``scan2ad-pretrain``) or an official Point-MAE / Point-BERT
    file. Raises :class:`InputError` naming the file when it is missing or does not fit."""
    from . import SHIPPED

    if kind not in KINDS:
        raise InputError(f"unknown backbone kind {kind!r}; known: {', '.join(KINDS)}")
    path = SHIPPED.get(str(name_or_path), Path(name_or_path))
    if str(name_or_path) in SHIPPED and not path.is_file():
        raise InputError(f"the shipped weights {name_or_path!r} are not installed", path)
    obj = _read(path)
    if not isinstance(obj, dict):
        raise InputError(f"expected a dict checkpoint, found {type(obj).__name__}", path)
    fmt = obj.get("format")
    if fmt in (FORMAT_BACKBONE, FORMAT_PRETRAIN):
        file_kind = obj.get("kind")
        if file_kind != kind:
            raise InputError(f"this is a {file_kind} checkpoint; load it with kind={file_kind!r}", path)
        cfg_cls, enc_cls = _classes(kind)
        config = obj.get("encoder_config") or obj.get("config") or {}
        cfg = config_from_dict(cfg_cls, _encoder_config_fields(cfg_cls, config), path)
        state = obj.get("state_dict") if fmt == FORMAT_BACKBONE else obj.get("model")
        if not isinstance(state, dict):
            raise InputError("the checkpoint holds no state dict", path)
        if fmt == FORMAT_PRETRAIN or obj.get("part") == "model":
            state = encoder_state_of_model(state, kind)
        layout = fmt
    else:
        raw = obj.get("base_model", obj.get("model", obj.get("state_dict", obj)))
        if not isinstance(raw, dict):
            raise InputError("no state dict found (looked for base_model, model, state_dict)", path)
        state, layout = map_official_encoder(raw)
        if layout == "unknown":
            sample = ", ".join(list(strip_wrappers(raw))[:4])
            raise InputError("neither a scan2ad checkpoint nor an official Point-MAE / Point-BERT "
                             f"layout (keys start: {sample})", path)
        if layout == "point-bert-pretrain" and kind == "point-mae":
            raise InputError("this is a Point-BERT checkpoint; load it with kind='point-bert'", path)
        if layout == "point-mae-pretrain" and kind == "point-bert":
            raise InputError("this is a Point-MAE checkpoint; load it with kind='point-mae'", path)
        cfg_cls, enc_cls = _classes(kind)
        try:
            fields = infer_encoder_fields(state, num_heads)
        except (KeyError, StopIteration) as exc:
            raise InputError(f"the {layout} state dict lacks encoder weights ({exc})", path) from None
        if kind == "point-bert":
            fields.pop("cls_token")
        cfg = cfg_cls(**fields)
    import torch

    with torch.device("meta"):   # every weight comes from the file: skip the random initialisation
        encoder = enc_cls(cfg)
    check_state_dict(encoder, state, path, f"{kind} encoder ({layout})")
    state = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in state.items()}
    encoder.load_state_dict(state, strict=True, assign=True)
    encoder.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder.to(device)
