"""A PEFT method's task pack (LoRA, LoHa, IA3: peft_methods.py): save, read and load.

Every method starts as the identity, so the model's outputs are the bare backbone's until
training moves it. A PEFT pack is a folder in PEFT's own format, adapter_config.json and
adapter_model.safetensors, keyed as `PeftModel.save_pretrained` keys the task model, with the head
and the trained LayerNorms as its `modules_to_save`; so
`PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=n), pack)`
gives the same logits as adapterlab. manifest.json adds the method, its settings, the backbone's
shapes and the labels. Packs of format_version 2 (keys relative to the encoder, the head and
LayerNorms in task.safetensors) still load here.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from adapterlab.adapters.io import BackboneIdentity, label_maps
from adapterlab.adapters.peft_methods import RANKED, PeftSettings, add_peft, peft_settings, require_peft
from adapterlab.adapters.structure import base_model_of, head_paths, layernorm_paths
from adapterlab.errors import AdapterlabError
from adapterlab.runs import strict_json

PACK_FORMAT = "adapterlab-peft-pack"
LORA_PACK_FORMAT = "adapterlab-lora-pack"  # format 1 of the same folder, LoRA only (still read)
MANIFEST_FILE = "manifest.json"
TASK_FILE = "task.safetensors"  # head and LayerNorms, in packs of format_version 2
PEFT_PREFIX = "base_model.model."  # what PeftModel puts before the task model's own parameter names
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
# a pack's manifest.json as read: a JSON object, its fields checked by _check_manifest_types
Manifest = dict[str, Any]


def _task_parameters(model: nn.Module, with_head: bool = True) -> dict[str, nn.Parameter]:
    """The head's and (when they train) the LayerNorms' parameters by pack key: "heads.<path>.<name>"
    (path in the task model) and "layernorms.<path>.<name>" (path relative to the encoder, so a bare
    encoder, e.g. for RSA, takes them too), as in Houlsby packs."""
    settings = peft_settings(model)
    base_path, _ = base_model_of(model)
    found = {}
    for path in layernorm_paths(model) if settings is not None and settings.layernorm else []:
        rel = path[len(base_path) + 1 :] if base_path else path
        found.update({f"layernorms.{rel}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    for path in head_paths(model) if with_head else []:
        found.update({f"heads.{path}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    return found


def _settings_record(settings: PeftSettings) -> dict[str, object]:
    """The manifest's settings: only those the method uses (an IA3 pack records no rank), so the
    manifest says what was trained; read_peft_manifest fills the rest with the defaults."""
    record = {
        **asdict(settings),
        "targets": list(settings.targets or ()),
        "feedforward": None if settings.feedforward is None else list(settings.feedforward),
    }
    unused = {
        "r": settings.method not in RANKED,
        "alpha": settings.method not in RANKED,
        "dropout": settings.method != "lora",
        "feedforward": settings.method != "ia3",
    }
    return {key: value for key, value in record.items() if not unused.get(key)}


def save_peft_pack(
    model: nn.Module,
    path: str | os.PathLike[str],
    labels: list[str] | None,
    backbone: BackboneIdentity,
    dtype: torch.dtype = torch.float32,
    base_model: str | None = None,
) -> int:
    """Write a PEFT pack folder atomically (replacing an earlier PEFT pack there, never another
    folder); returns its size in bytes. `backbone`: adapters.io.backbone_identity(model).
    base_model: what adapter_config.json's base_model_name_or_path names (a Hub id, or a folder as
    it may leave this machine), with task_type SEQ_CLS or TOKEN_CLS from the head, so that
    `peft.AutoPeftModelForSequenceClassification.from_pretrained(pack, id2label=..., label2id=...)`
    builds the task model on its own (the label maps are in manifest.json)."""
    peft = require_peft()
    settings = peft_settings(model)
    if settings is None:
        raise AdapterlabError("save_peft_pack: the model has no PEFT method")
    target = Path(path)
    if target.exists() and not (target / MANIFEST_FILE).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise AdapterlabError(f"save_peft_pack: {target} exists and is not a pack; save to a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a pack is shared like any folder
    try:
        saved = _saved_modules(model)
        save_file(_peft_weights(peft, model, saved, dtype), str(tmp / PEFT_WEIGHTS), metadata={"format": "pt"})
        _peft_config(model, saved, base_model).save_pretrained(str(tmp))
        manifest = _manifest(model, settings, saved, labels, backbone, dtype, peft.__version__)
        (tmp / MANIFEST_FILE).write_text(strict_json(manifest))
        for file in tmp.iterdir():
            file.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(f.stat().st_size for f in target.iterdir())


def _peft_weights(peft: ModuleType, model: nn.Module, saved: list[str], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The method's weights and the `modules_to_save`, keyed as PeftModel keys the task model."""
    base_path, encoder = base_model_of(model)
    within = f"{base_path}." if base_path else ""
    weights = {f"{PEFT_PREFIX}{within}{k}": v for k, v in peft.get_peft_model_state_dict(encoder).items()}
    for path in saved:  # PeftModel keys modules_to_save by their own names, as here
        weights.update({f"{PEFT_PREFIX}{path}.{k}": p for k, p in model.get_submodule(path).named_parameters()})
    return {k: v.detach().to(dtype).contiguous().cpu() for k, v in weights.items()}


def _peft_config(model: nn.Module, saved: list[str], base_model: str | None) -> Any:
    """PEFT's own config of the method (adapter_config.json), with what builds the task model on its own."""
    _, encoder = base_model_of(model)
    # Any: peft (untyped) keeps its configs in a dict on the encoder
    config = copy.copy(cast(Any, encoder).peft_config["default"])
    config.modules_to_save = saved  # full paths: PEFT matches a module by the end of its name
    config.base_model_name_or_path = base_model
    config.task_type = "TOKEN_CLS" if "TokenClassification" in type(model).__name__ else "SEQ_CLS"
    return config


def _manifest(
    model: nn.Module,
    settings: PeftSettings,
    saved: list[str],
    labels: list[str] | None,
    backbone: BackboneIdentity,
    dtype: torch.dtype,
    peft_version: str,
) -> Manifest:
    """manifest.json: the method, its settings, the backbone's shapes and the labels."""
    base_path, _ = base_model_of(model)
    heads = head_paths(model)
    return {
        "format": PACK_FORMAT,
        "format_version": 3,
        "method": settings.method,
        "settings": _settings_record(settings),
        "base_path": base_path,
        "heads": heads,
        "layernorms": [p for p in saved if p not in heads],
        "backbone": backbone,
        "head_class": type(model).__name__,
        "num_labels": getattr(model.config, "num_labels", None),
        "labels": labels,
        **label_maps(labels),
        "dtype": str(dtype).replace("torch.", ""),
        "peft": peft_version,
    }


def _format_of(path: str | os.PathLike[str]) -> str | None:
    manifest = Path(path) / MANIFEST_FILE
    try:
        return json.loads(manifest.read_text()).get("format") if manifest.is_file() else None
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def is_peft_pack(path: str | os.PathLike[str]) -> bool:
    return _format_of(path) in (PACK_FORMAT, LORA_PACK_FORMAT)


def pack_method(path: str | os.PathLike[str]) -> str | None:
    """The method a PEFT pack's manifest names (lora for a LoRA pack of format 1), or None."""
    fmt = _format_of(path)
    if fmt == LORA_PACK_FORMAT:
        return "lora"
    if fmt != PACK_FORMAT:
        return None
    try:
        method = json.loads((Path(path) / MANIFEST_FILE).read_text()).get("method")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return method if isinstance(method, str) else None


def read_peft_manifest(path: str | os.PathLike[str]) -> tuple[Manifest, PeftSettings]:
    """(manifest, settings) of a PEFT pack; a LoRA pack of format 1 reads as method lora."""
    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        if manifest.get("format") == LORA_PACK_FORMAT:
            record = {**manifest["lora"], "method": "lora"}
        else:
            record = dict(manifest["settings"])
        record["targets"] = tuple(record["targets"])
        if record.get("feedforward") is not None:
            record["feedforward"] = tuple(record["feedforward"])
        settings = PeftSettings(**record)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise AdapterlabError(f"{folder / MANIFEST_FILE}: not a PEFT pack manifest ({err!r})") from None
    if manifest.get("format") not in (PACK_FORMAT, LORA_PACK_FORMAT):
        raise AdapterlabError(f"{folder}: not a PEFT pack (format {manifest.get('format')!r})")
    _check_manifest_types(folder / MANIFEST_FILE, manifest)
    if settings.problems():
        raise AdapterlabError(f"{folder / MANIFEST_FILE}: {settings.problems()[0]}")
    return manifest, settings


def _check_manifest_types(path: Path, manifest: Manifest) -> None:
    """The fields load_peft_pack and predict read, each of its JSON type (one line naming the field)."""
    from adapterlab.runs import describe_value

    checks: dict[str, tuple[Callable[[object], bool], str]] = {
        "backbone": (lambda v: v is None or isinstance(v, dict), "an object of the backbone's sizes"),
        "base_path": (lambda v: v is None or isinstance(v, str), "a module path (a string)"),
        "heads": (
            lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
            "a list of module paths",
        ),
        "layernorms": (
            lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
            "a list of module paths",
        ),
        "num_labels": (
            lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
            "a positive integer or null",
        ),
        "labels": (
            lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
            "a list of label names or null",
        ),
        "format_version": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an integer"),
    }
    for key, (good, allowed) in checks.items():
        if not good(manifest.get(key)):
            raise AdapterlabError(f"{path}: field {key!r} is {describe_value(manifest.get(key))}; expected {allowed}")


def load_peft_pack(
    model: nn.Module, path: str | os.PathLike[str], backbone: BackboneIdentity, with_head: bool = True
) -> Manifest:
    """Inject the pack's method into `model` and load its weights, its LayerNorms and (with_head)
    its head. `backbone`: backbone_identity(model), compared with the pack's: a different shape
    is a one-line AdapterlabError naming it. Returns the manifest."""
    peft = require_peft()
    folder = Path(path)
    manifest, settings = read_peft_manifest(folder)
    mismatched = {k: (v, backbone.get(k)) for k, v in (manifest.get("backbone") or {}).items() if backbone.get(k) != v}
    if mismatched:
        key, (theirs, ours) = next(iter(mismatched.items()))
        raise AdapterlabError(
            f"{folder}: the pack was trained on another backbone ({key}: pack {theirs!r}, model {ours!r})"
        )
    add_peft(model, settings)
    _, encoder = base_model_of(model)
    weights = _read(folder / PEFT_WEIGHTS)
    if manifest.get("format_version", 1) >= 3:
        (weights, task), source = _split_peft_layout(weights, manifest), folder / PEFT_WEIGHTS
    else:  # keys relative to the encoder; the head and LayerNorms in their own file
        task, source = _read(folder / TASK_FILE), folder / TASK_FILE
    outcome = peft.set_peft_model_state_dict(encoder, weights)
    unexpected = list(getattr(outcome, "unexpected_keys", []) or [])
    if unexpected:
        raise AdapterlabError(
            f"{folder / PEFT_WEIGHTS}: weights this model has no place for: {', '.join(unexpected[:3])}"
        )
    own = _task_parameters(model, with_head)
    for key, tensor in task.items():
        if key.startswith("heads.") and not with_head:
            continue
        if key not in own or own[key].shape != tensor.shape:
            raise AdapterlabError(f"{source}: {key} does not fit this model (a head for another task or label count?)")
        with torch.no_grad():
            own[key].copy_(tensor.to(own[key].dtype))
    return manifest


def _saved_modules(model: nn.Module) -> list[str]:
    """The task model's modules a pack stores whole (PEFT's modules_to_save): the head and, when
    they train, the LayerNorms."""
    settings = peft_settings(model)
    return head_paths(model) + (layernorm_paths(model) if settings is not None and settings.layernorm else [])


def _split_peft_layout(
    weights: dict[str, torch.Tensor], manifest: Manifest
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A format-3 pack's weights (PeftModel's layout for the task model it was trained on) split
    into (the method's, keyed relative to the encoder as set_peft_model_state_dict takes them;
    the head's and LayerNorms', keyed as _task_parameters keys them), so that the pack also loads
    into a bare encoder (RSA, cross-lingual analyses)."""
    base = manifest.get("base_path") or ""
    heads, norms = list(manifest.get("heads") or []), list(manifest.get("layernorms") or [])
    method, task = {}, {}
    for key, tensor in weights.items():
        name = key.removeprefix(PEFT_PREFIX)
        head = next((h for h in heads if name.startswith(h + ".")), None)
        norm = next((n for n in norms if name.startswith(n + ".")), None)
        relative = name[len(base) + 1 :] if base and name.startswith(base + ".") else name
        if head is not None:
            task[f"heads.{name}"] = tensor
        elif norm is not None:
            task[f"layernorms.{relative}"] = tensor
        else:
            method[relative] = tensor
    return method, task


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as err:  # SafetensorError, OSError: a truncated or missing file
        raise AdapterlabError(
            f"{path}: not a readable safetensors file ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
