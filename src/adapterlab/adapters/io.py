"""Task packs: one adapter with its LayerNorm copies and head, as safetensors plus a JSON manifest.

Keys are relative to the encoder for adapters and LayerNorms, so a pack trained on a
BertForSequenceClassification also loads its adapters onto a BertModel. Nothing is unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from adapterlab import names
from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.injection import NAME_PATTERN, activate, add_adapters, check_labels, remove_adapters
from adapterlab.adapters.layer import AdaptedOutput, TaskHead, TaskLayerNorm
from adapterlab.adapters.structure import (
    adapter_state,
    backbone_parameters,
    base_model_of,
    model_type_of,
    require_state,
    task_copies,
    wrappers,
)
from adapterlab.errors import AdapterlabError
from adapterlab.runs import strict_json

logger = logging.getLogger(__name__)

PACK_FORMAT = "adapterlab-task-pack"
PACK_VERSION = 1
MANIFEST_FILE = "adapter_pack.json"
WEIGHTS_FILE = "adapter_pack.safetensors"
_IDENTITY_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")
# model_type (a string) and the sizes (integers, or None where the config has none)
BackboneIdentity = dict[str, str | int | None]
# storage precision of a pack; loading casts back to the model's dtype
PACK_DTYPES = {name: getattr(torch, name) for name in names.PACK_DTYPES}


@dataclass(frozen=True)
class SavedPack:
    path: Path
    name: str
    size_bytes: int
    num_tensors: int

    def __str__(self) -> str:
        return (
            f"saved task pack {self.name!r} to {self.path} ({self.size_bytes / 1e6:.2f} MB, {self.num_tensors} tensors)"
        )


@dataclass(frozen=True)
class PackInfo:
    """The manifest of a task pack, read without touching its weights."""

    path: Path
    name: str
    config: AdapterConfig
    backbone: BackboneIdentity
    num_labels: int | None
    labels: list[str] | None


def label_maps(labels: Sequence[str] | None) -> dict[str, dict[str, str] | dict[str, int]]:
    """{"id2label", "label2id"} as a transformers config writes them (ids as strings in id2label),
    for the label names of a head; {} without names. What `from_pretrained(..., **label_maps)` or
    a pipeline needs to print the task's label names instead of LABEL_0."""
    if not labels:
        return {}
    return {
        "id2label": {str(index): name for index, name in enumerate(labels)},
        "label2id": {name: index for index, name in enumerate(labels)},
    }


def backbone_identity(model: nn.Module) -> BackboneIdentity:
    config = model.config
    return {
        "model_type": model_type_of(model),
        "hidden_size": getattr(config, "hidden_size", None),
        "num_hidden_layers": getattr(config, "num_hidden_layers", None),
        "vocab_size": getattr(config, "vocab_size", None),
    }


def pack_parameters(model: nn.Module, name: str) -> dict[str, nn.Parameter]:
    """The parameters task `name` owns, by pack key."""
    base_path, _ = base_model_of(model)
    shared = backbone_parameters(model)
    found: dict[str, nn.Parameter] = {}
    groups: tuple[tuple[str, type[AdaptedOutput | TaskLayerNorm | TaskHead], bool], ...] = (
        ("adapters", AdaptedOutput, True),
        ("layernorms", TaskLayerNorm, True),
        ("heads", TaskHead, False),
    )
    for prefix, kind, strip_base in groups:
        for path, wrapper in wrappers(model, kind):
            copies = task_copies(wrapper)  # the wrapper's adapters, layernorms or heads
            if name not in copies:
                continue
            module = copies[name]
            rel = path[len(base_path) + 1 :] if strip_base and base_path else path
            for key, param in module.named_parameters():
                if id(param) not in shared:  # a tied MLM decoder weight is the encoder's embedding
                    found[f"{prefix}.{rel}.{key}"] = param
    return found


def pack_tensors(model: nn.Module, name: str) -> dict[str, torch.Tensor]:
    return {key: param.detach().contiguous().cpu() for key, param in pack_parameters(model, name).items()}


def save_adapter(
    model: nn.Module, path: str | os.PathLike[str], name: str, labels: list[str] | None = None, dtype: str = "float32"
) -> SavedPack:
    """Write the task pack of adapter `name` into folder `path`, atomically.

    `labels` are the task's label names in head order; the adapter keeps them from then on. By
    default the pack gets the names the adapter owns (see add_adapters), or none. `dtype`
    "float16" or "bfloat16" stores the weights at half the size (they are cast back on load, so
    outputs move by the rounding; measure it first).
    """
    if dtype not in PACK_DTYPES:
        raise AdapterlabError(f"save_adapter: dtype {dtype!r} is not allowed; use {', '.join(PACK_DTYPES)}")
    state = adapter_state(model)
    if state is None or name not in state.configs:
        known = ", ".join(state.configs) if state else "none"
        raise AdapterlabError(f"save_adapter: no adapter named {name!r} on this model (adapters: {known})")
    num_labels = state.num_labels.get(name) or getattr(model.config, "num_labels", None)
    has_head = bool(wrappers(model, TaskHead))
    own = (
        check_labels(labels, num_labels if has_head else None, "save_adapter")
        if labels is not None
        else state.labels.get(name)
    )
    manifest = {
        "format": PACK_FORMAT,
        "format_version": PACK_VERSION,
        "name": name,
        "adapter_config": state.configs[name].to_dict(),
        "backbone": backbone_identity(model),
        "head_class": type(model).__name__,
        "num_labels": num_labels if has_head else None,
        "labels": None if own is None else list(own),
        **label_maps(own),
        "dtype": dtype,
    }
    tensors = {key: tensor.to(PACK_DTYPES[dtype]) for key, tensor in pack_tensors(model, name).items()}
    target = Path(path)
    _write_pack(target, tensors, manifest)
    state.labels[name] = own  # names given here are the adapter's from now on
    size = sum(f.stat().st_size for f in target.iterdir())
    saved = SavedPack(target, name, size, len(tensors))
    logger.info("%s", saved)
    return saved


def _write_pack(target: Path, tensors: dict[str, torch.Tensor], manifest: dict[str, object]) -> None:
    """The pack's weights and manifest into `target`, atomically; only a pack's own files are replaced."""
    if target.exists() and not target.is_dir():
        raise AdapterlabError(f"save_adapter: {target} exists and is not a folder")
    if target.is_dir() and not (target / MANIFEST_FILE).is_file() and any(target.iterdir()):
        # only a pack's own files are ever replaced: never a folder of someone else's files
        raise AdapterlabError(
            f"save_adapter: {target} exists, is not empty and is not a task pack (no {MANIFEST_FILE}); "
            "save to a new or empty folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a pack is shared like any folder
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": PACK_FORMAT})
        (tmp / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; a pack is shared like any file
        (tmp / MANIFEST_FILE).write_text(strict_json(manifest))
        if target.is_dir():
            # an earlier pack here: replace its two files (weights first, so a half-written pack
            # never has a manifest that describes other weights); other files in it stay
            os.replace(tmp / WEIGHTS_FILE, target / WEIGHTS_FILE)
            os.replace(tmp / MANIFEST_FILE, target / MANIFEST_FILE)
            tmp.rmdir()
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_pack_info(path: str | os.PathLike[str]) -> PackInfo:
    """The manifest of the task pack in folder `path`, checked field by field: each problem is
    one error that starts with the manifest's path and names the field."""
    folder = Path(path)
    manifest_path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise AdapterlabError(f"task pack {folder}: folder does not exist")
    if not manifest_path.is_file():
        raise AdapterlabError(f"task pack {folder}: missing {MANIFEST_FILE}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AdapterlabError(f"{manifest_path}: cannot read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterlabError(f"{manifest_path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise AdapterlabError(f"{manifest_path}: not an adapterlab task pack (field 'format' must be {PACK_FORMAT!r})")
    version = manifest.get("format_version")
    if isinstance(version, bool) or version != PACK_VERSION:
        raise AdapterlabError(
            f"{manifest_path}: format_version {version!r} is not supported (this adapterlab reads {PACK_VERSION})"
        )
    for key in ("name", "adapter_config", "backbone", "head_class"):
        if key not in manifest:
            raise AdapterlabError(f"{manifest_path}: missing field {key!r}")
    name = manifest["name"]
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise AdapterlabError(
            f"{manifest_path}: field 'name' is {_manifest_value(name)}; expected an adapter name of letters, digits, '_' and '-'"
        )
    head_class = manifest["head_class"]
    if not isinstance(head_class, str) or not head_class:
        raise AdapterlabError(
            f"{manifest_path}: field 'head_class' is {_manifest_value(head_class)}; expected a model class name such as 'BertForSequenceClassification'"
        )
    dtype = manifest.get("dtype", "float32")  # packs from before half precision have no dtype
    if dtype not in PACK_DTYPES:
        raise AdapterlabError(
            f"{manifest_path}: field 'dtype' is {_manifest_value(dtype)}; allowed: {', '.join(PACK_DTYPES)}"
        )
    config = _manifest_config(manifest_path, manifest["adapter_config"])
    backbone = _manifest_backbone(manifest_path, manifest["backbone"])
    num_labels, labels = _manifest_labels(manifest_path, manifest.get("num_labels"), manifest.get("labels"))
    return PackInfo(folder, name, config, backbone, num_labels, labels)


def _manifest_value(value: object) -> str:
    """A manifest value for a one-line message: its type, and its repr when short."""
    text = repr(value)
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" + (f" ({text})" if len(text) <= 60 else "")


def _manifest_config(manifest_path: Path, values: object) -> AdapterConfig:
    where = f"{manifest_path}: field 'adapter_config'"
    if not isinstance(values, dict):
        raise AdapterlabError(
            f"{where} is {_manifest_value(values)}; expected an object of adapter settings (size, nonlinearity, ...)"
        )
    try:
        return AdapterConfig.from_dict(values, source=where)
    except AdapterlabError as err:  # AdapterConfig names the setting (e.g. "AdapterConfig.size='8'"), not the file
        message = str(err)
        raise AdapterlabError(message if message.startswith(where) else f"{where}: {message}") from None


def _manifest_backbone(manifest_path: Path, backbone: object) -> BackboneIdentity:
    """The backbone identity: model_type a string, the sizes integers (null where the model's
    config has none), as backbone_identity writes it."""
    if not isinstance(backbone, dict):
        raise AdapterlabError(
            f"{manifest_path}: field 'backbone' is {_manifest_value(backbone)}; expected an object with {', '.join(_IDENTITY_FIELDS)}"
        )
    for key in _IDENTITY_FIELDS:
        if key not in backbone:
            raise AdapterlabError(
                f"{manifest_path}: field 'backbone' has no {key!r}; expected {', '.join(_IDENTITY_FIELDS)}"
            )
        value = backbone[key]
        if key == "model_type":
            if not isinstance(value, str) or not value:
                raise AdapterlabError(
                    f"{manifest_path}: field 'backbone.model_type' is {_manifest_value(value)}; expected a model type such as 'bert'"
                )
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise AdapterlabError(
                f"{manifest_path}: field 'backbone.{key}' is {_manifest_value(value)}; expected a positive integer or null"
            )
    return backbone


def _manifest_labels(manifest_path: Path, num_labels: object, labels: object) -> tuple[int | None, list[str] | None]:
    """num_labels: a positive integer, or null for a pack without a head; labels: the label
    names in head order, or null; both set means as many names as labels."""
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1):
        raise AdapterlabError(
            f"{manifest_path}: field 'num_labels' is {_manifest_value(num_labels)}; expected a positive integer or null"
        )
    if labels is not None:
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise AdapterlabError(
                f"{manifest_path}: field 'labels' is {_manifest_value(labels)}; expected a list of label names (strings) or null"
            )
        if num_labels is not None and len(labels) != num_labels:
            raise AdapterlabError(
                f"{manifest_path}: field 'labels' has {len(labels)} names but field 'num_labels' is {num_labels}; they must agree"
            )
    return num_labels, labels


def load_adapter(
    model: nn.Module, path: str | os.PathLike[str], name: str | None = None, with_head: bool = True
) -> str:
    """Load a task pack onto a backbone of the same kind; returns the adapter's name (activated).

    The pack's adapter, LayerNorm copies and head replace nothing of the backbone. With
    with_head=False the pack's head is ignored (e.g. to put a classifier's adapter on a bare
    encoder for analysis).
    """
    info = read_pack_info(path)
    weights_path = info.path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise AdapterlabError(f"task pack {info.path}: missing {WEIGHTS_FILE}")
    ours = backbone_identity(model)
    for key in _IDENTITY_FIELDS:
        if info.backbone.get(key) != ours[key]:
            raise AdapterlabError(
                f"task pack {info.path} was saved from a backbone with {key}={info.backbone.get(key)!r}, "
                f"but this model has {key}={ours[key]!r}; load it onto the backbone it was trained on"
            )
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise AdapterlabError(f"{weights_path}: not a readable safetensors file ({err})") from None
    if not with_head:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("heads.")}
    name = name or info.name
    has_heads = any(k.startswith("heads.") for k in tensors)
    num_labels = info.num_labels if has_heads else None
    add_adapters(model, info.config, name, num_labels=num_labels)
    # the pack's names, or none: a head the pack did not bring is not described by them
    require_state(model, "load_adapter").labels[name] = (
        tuple(info.labels) if has_heads and info.labels is not None else None
    )
    try:
        expected = pack_parameters(model, name)
        if not with_head:
            expected = {k: v for k, v in expected.items() if not k.startswith("heads.")}
        _check_keys(info.path, tensors, expected)
        _copy_into(model, name, tensors)
    except BaseException:
        remove_adapters(model, name)
        raise
    activate(model, name)
    return name


def _check_keys(folder: Path, got: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if extra:
        hint = (
            "; pass with_head=False to load only the adapters and LayerNorms" if extra[0].startswith("heads.") else ""
        )
        raise AdapterlabError(
            f"task pack {folder}: tensor {extra[0]!r} has no place in this model ({len(extra)} unexpected tensors){hint}"
        )
    if missing:
        raise AdapterlabError(f"task pack {folder}: tensor {missing[0]!r} is missing ({len(missing)} missing tensors)")
    for key, tensor in got.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise AdapterlabError(
                f"task pack {folder}: tensor {key!r} has shape {tuple(tensor.shape)}, this model expects {tuple(expected[key].shape)}"
            )


def _copy_into(model: nn.Module, name: str, tensors: dict[str, torch.Tensor]) -> None:
    targets = pack_parameters(model, name)
    with torch.no_grad():
        for key, tensor in tensors.items():
            targets[key].copy_(tensor.to(targets[key].device, targets[key].dtype))
