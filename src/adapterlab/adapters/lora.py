"""LoRA (Hu et al. 2022) through the PEFT library, under the paper's freeze policy (issue #17).

PEFT injects the low-rank updates `W x + (alpha / r) B A x` into the encoder's attention
projections; everything else is adapterlab's own harness. As for the Houlsby adapters (He et al.
2021 §2), the task head (classifier, and BERT's pooler) and, by default, every LayerNorm train, so
adapters, LoRA and fine-tuning differ only in what they add to the encoder.

A LoRA pack is a folder with PEFT's own files (adapter_config.json, adapter_model.safetensors,
readable by `peft`), task.safetensors (the head and the LayerNorms) and manifest.json (the
backbone's shapes, the labels, the settings).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from adapterlab.adapters.inject import LORA_STATE_ATTR, PEFT_MARKS, base_model_of, head_paths, layernorm_paths, model_type_of
from adapterlab.errors import AdapterlabError

PEFT_INSTALL = "pip install 'adapterlab[peft]'"
LORA_PACK_FORMAT = "adapterlab-lora-pack"
MANIFEST_FILE = "manifest.json"
TASK_FILE = "task.safetensors"  # head and LayerNorms
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
LORA_MARK = PEFT_MARKS[0]  # PEFT's LoRA parameter names contain lora_A / lora_B
STATE_ATTR = LORA_STATE_ATTR

# The attention projections LoRA adapts by default, per model_type: query and value, as in Hu et
# al. (2022) §4.2 and PEFT's own defaults for these encoders. `--lora-targets` overrides them.
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "electra": ("query", "value"),
    "deberta-v2": ("query_proj", "value_proj"),
    "distilbert": ("q_lin", "v_lin"),
}


@dataclass(frozen=True)
class LoraSettings:
    """r: rank of A (r x d_in) and B (d_out x r); alpha: the update is scaled by alpha / r;
    dropout: on LoRA's input; targets: module names to adapt (None: LORA_TARGETS of the
    architecture); layernorm: whether the encoder's LayerNorms train (the paper's policy: yes)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] | None = None
    layernorm: bool = True

    def problems(self) -> list[str]:
        found = []
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            found.append(f"lora_r={self.r!r}: must be an integer >= 1")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or not math.isfinite(self.alpha) or self.alpha <= 0:
            found.append(f"lora_alpha={self.alpha!r}: must be a number > 0")
        if not isinstance(self.dropout, (int, float)) or not math.isfinite(self.dropout) or not 0 <= self.dropout < 1:
            found.append(f"lora_dropout={self.dropout!r}: must be in [0, 1)")
        if self.targets is not None and (not self.targets or not all(isinstance(t, str) and t for t in self.targets)):
            found.append(f"lora_targets={self.targets!r}: must name one or more modules, e.g. query,value")
        return found


def _peft():
    try:
        import peft
    except ImportError:
        raise AdapterlabError(f"method lora needs the peft library: {PEFT_INSTALL}") from None
    return peft


def targets_of(model: nn.Module, settings: LoraSettings) -> tuple[str, ...]:
    if settings.targets:
        return tuple(settings.targets)
    model_type = model_type_of(model)
    if model_type not in LORA_TARGETS:
        raise AdapterlabError(f"LoRA has no default target modules for model_type {model_type!r} (known: {', '.join(sorted(LORA_TARGETS))}); "
                              "name them with --lora-targets, e.g. query,value")
    return LORA_TARGETS[model_type]


def add_lora(model: nn.Module, settings: LoraSettings) -> None:
    """Inject LoRA into the encoder of `model` (in place; the head stays outside it). B starts at
    zero, so the model's outputs are unchanged until training moves it. Raises AdapterlabError
    when peft is missing or a target module is not in the encoder."""
    peft = _peft()
    if getattr(model, STATE_ATTR, None) is not None:
        raise AdapterlabError("add_lora: this model already has LoRA")
    targets = targets_of(model, settings)
    _, encoder = base_model_of(model)
    present = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    missing = [t for t in targets if t not in present]
    if missing:
        raise AdapterlabError(f"LoRA target module(s) {', '.join(missing)} not found in {type(encoder).__name__} "
                              f"(linear layers there: {', '.join(sorted(_linear_names(encoder)))})")
    config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=list(targets), bias="none")
    try:
        peft.inject_adapter_in_model(config, encoder)
    except (ValueError, TypeError) as err:  # e.g. a LayerNorm named as a target: LoRA adapts linear (and a few other) layers
        raise AdapterlabError(f"LoRA cannot adapt {', '.join(targets)}: {str(err).splitlines()[0]}") from None
    setattr(model, STATE_ATTR, LoraSettings(settings.r, settings.alpha, settings.dropout, targets, settings.layernorm))


def _linear_names(module: nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear) and name}


def lora_settings(model: nn.Module) -> LoraSettings | None:
    return getattr(model, STATE_ATTR, None)


def is_lora_parameter(name: str) -> bool:
    return LORA_MARK in name


def set_lora_trainable(model: nn.Module) -> None:
    """LoRA's A and B, the task head and (settings.layernorm) the LayerNorms train; all else is frozen."""
    settings = lora_settings(model)
    if settings is None:
        raise AdapterlabError("set_lora_trainable: the model has no LoRA; call add_lora first")
    for name, param in model.named_parameters():
        param.requires_grad_(is_lora_parameter(name))
    for path in head_paths(model) + (layernorm_paths(model) if settings.layernorm else []):
        for param in model.get_submodule(path).parameters():
            param.requires_grad_(True)


def _task_parameters(model: nn.Module, with_head: bool = True) -> dict[str, nn.Parameter]:
    """The head's and (when they train) the LayerNorms' parameters by pack key: "heads.<path>.<name>"
    (path in the task model) and "layernorms.<path>.<name>" (path relative to the encoder, so a bare
    encoder, e.g. for RSA, takes them too), as in Houlsby packs."""
    settings = lora_settings(model)
    base_path, _ = base_model_of(model)
    found = {}
    for path in layernorm_paths(model) if settings is not None and settings.layernorm else []:
        rel = path[len(base_path) + 1:] if base_path else path
        found.update({f"layernorms.{rel}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    for path in head_paths(model) if with_head else []:
        found.update({f"heads.{path}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    return found


def save_lora_pack(model: nn.Module, path: str | os.PathLike, labels: list[str] | None, backbone: dict, dtype: torch.dtype = torch.float32) -> int:
    """Write a LoRA pack folder atomically (replacing an earlier LoRA pack there, never another
    folder); returns its size in bytes. `backbone`: adapters.io.backbone_identity(model)."""
    peft = _peft()
    settings = lora_settings(model)
    if settings is None:
        raise AdapterlabError("save_lora_pack: the model has no LoRA")
    _, encoder = base_model_of(model)
    target = Path(path)
    if target.exists() and not (target / MANIFEST_FILE).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise AdapterlabError(f"save_lora_pack: {target} exists and is not a pack; save to a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a pack is shared like any folder
    try:
        lora = {k: v.detach().to(dtype).contiguous().cpu() for k, v in peft.get_peft_model_state_dict(encoder).items()}
        save_file(lora, str(tmp / PEFT_WEIGHTS), metadata={"format": "pt"})
        (tmp / PEFT_WEIGHTS).chmod(0o644)
        encoder.peft_config["default"].save_pretrained(str(tmp))
        save_file({k: v.detach().to(dtype).contiguous().cpu() for k, v in _task_parameters(model).items()}, str(tmp / TASK_FILE))
        (tmp / TASK_FILE).chmod(0o644)
        manifest = {"format": LORA_PACK_FORMAT, "format_version": 1, "lora": {**asdict(settings), "targets": list(settings.targets or ())},
                    "backbone": backbone, "head_class": type(model).__name__, "num_labels": getattr(model.config, "num_labels", None),
                    "labels": labels, "dtype": str(dtype).replace("torch.", ""), "peft": peft.__version__}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(f.stat().st_size for f in target.iterdir())


def is_lora_pack(path: str | os.PathLike) -> bool:
    manifest = Path(path) / MANIFEST_FILE
    try:
        return manifest.is_file() and json.loads(manifest.read_text()).get("format") == LORA_PACK_FORMAT
    except (OSError, json.JSONDecodeError):
        return False


def read_lora_manifest(path: str | os.PathLike) -> dict:
    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        LoraSettings(**{**manifest["lora"], "targets": tuple(manifest["lora"]["targets"])})
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise AdapterlabError(f"{folder / MANIFEST_FILE}: not a LoRA pack manifest ({err!r})") from None
    if manifest.get("format") != LORA_PACK_FORMAT:
        raise AdapterlabError(f"{folder}: not a LoRA pack (format {manifest.get('format')!r})")
    return manifest


def load_lora_pack(model: nn.Module, path: str | os.PathLike, backbone: dict, with_head: bool = True) -> dict:
    """Inject the pack's LoRA into `model` and load its weights, its LayerNorms and (with_head)
    its head. `backbone`: backbone_identity(model), compared with the pack's: a different shape
    is a one-line AdapterlabError naming it. Returns the manifest."""
    peft = _peft()
    folder = Path(path)
    manifest = read_lora_manifest(folder)
    mismatched = {k: (v, backbone.get(k)) for k, v in (manifest.get("backbone") or {}).items() if backbone.get(k) != v}
    if mismatched:
        key, (theirs, ours) = next(iter(mismatched.items()))
        raise AdapterlabError(f"{folder}: the pack was trained on another backbone ({key}: pack {theirs!r}, model {ours!r})")
    lora = manifest["lora"]
    settings = LoraSettings(lora["r"], lora["alpha"], lora["dropout"], tuple(lora["targets"]), lora["layernorm"])
    add_lora(model, settings)
    _, encoder = base_model_of(model)
    weights = _read(folder / PEFT_WEIGHTS)
    outcome = peft.set_peft_model_state_dict(encoder, weights)
    unexpected = list(getattr(outcome, "unexpected_keys", []) or [])
    if unexpected:
        raise AdapterlabError(f"{folder / PEFT_WEIGHTS}: weights this model has no place for: {', '.join(unexpected[:3])}")
    task = _read(folder / TASK_FILE)
    own = _task_parameters(model, with_head)
    for key, tensor in task.items():
        if key.startswith("heads.") and not with_head:
            continue
        if key not in own or own[key].shape != tensor.shape:
            raise AdapterlabError(f"{folder / TASK_FILE}: {key} does not fit this model (a head for another task or label count?)")
        with torch.no_grad():
            own[key].copy_(tensor.to(own[key].dtype))
    return manifest


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as err:  # SafetensorError, OSError: a truncated or missing file
        raise AdapterlabError(f"{path}: not a readable safetensors file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold B A into the target weights and remove the LoRA modules (for analyses such as RSA
    that read plain encoder weights); the outputs stay the same up to rounding."""
    _peft()
    from peft.tuners.tuners_utils import BaseTunerLayer

    _, encoder = base_model_of(model)
    for name, module in list(encoder.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = encoder.get_submodule(parent_name) if parent_name else encoder
            setattr(parent, child, module.get_base_layer())
    if hasattr(encoder, "peft_config"):
        del encoder.peft_config
    setattr(model, STATE_ATTR, None)
    return model
