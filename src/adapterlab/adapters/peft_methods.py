"""PEFT's methods (LoRA, LoHa, IA3) in adapterlab's harness, under the paper's freeze policy (issue #17).

The PEFT library injects each method's weights into the encoder's linear layers; everything else
is adapterlab's own harness. As for the Houlsby adapters (He et al. 2021 §2), the task head
(classifier, and BERT's pooler) and, by default, every LayerNorm train, so adapters, these
methods and fine-tuning differ only in what they add to the encoder.

- lora (Hu et al. 2022, eq. 3): `W x + (alpha / r) B A x`, A: r x d_in, B: d_out x r, B = 0 at start.
- loha (Hyeon-Woo et al. 2022, FedPara, eq. 4; PEFT's LyCORIS port): the update is the Hadamard
  product of two rank-r products, `(alpha / r) (B1 A1) ∘ (B2 A2)`; one factor starts at zero.
- ia3 (Liu et al. 2022, T-Few §3.3): learned vectors scale the keys, the values and the
  feed-forward block's inner activations (`l_k ∘ k`, `l_v ∘ v`, `l_ff ∘ γ(W1 x)`), ones at start.

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
import math
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from adapterlab.adapters.inject import (
    PEFT_MARKS,
    PEFT_STATE_ATTR,
    base_model_of,
    head_paths,
    layernorm_paths,
    model_type_of,
)
from adapterlab.adapters.io import label_maps
from adapterlab.errors import AdapterlabError

PEFT_INSTALL = "pip install 'adapterlab[peft]'"
PACK_FORMAT = "adapterlab-peft-pack"
LORA_PACK_FORMAT = "adapterlab-lora-pack"  # format 1 of the same folder, LoRA only (still read)
MANIFEST_FILE = "manifest.json"
TASK_FILE = "task.safetensors"  # head and LayerNorms, in packs of format_version 2
PEFT_PREFIX = "base_model.model."  # what PeftModel puts before the task model's own parameter names
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
STATE_ATTR = PEFT_STATE_ATTR
PEFT_METHODS = ("lora", "loha", "ia3")
RANKED = ("lora", "loha")  # the methods with a rank r and a scale alpha
TITLES = {"lora": "LoRA (Hu et al. 2022)", "loha": "LoHa (Hyeon-Woo et al. 2022)", "ia3": "IA3 (Liu et al. 2022)"}
MARKS = dict(zip(PEFT_METHODS, PEFT_MARKS))  # each method's parameter names contain its mark

# The modules each method adapts by default, per model_type. A target is a module name or the end
# of one as a regular expression, matched at a dot (`value` matches `encoder.layer.0.attention.
# self.value`). LoRA and LoHa: query and value, as in Hu et al. (2022) §4.2 and PEFT's defaults.
# IA3: keys, values and the feed-forward block's output projection, whose input IA3 scales
# (T-Few §3.3); `layer\.\d+\.output\.dense` names that projection and not the attention output's.
RANK_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "electra": ("query", "value"),
    "deberta-v2": ("query_proj", "value_proj"),
    "distilbert": ("q_lin", "v_lin"),
}
_BERT_FFN_OUT = r"layer\.\d+\.output\.dense"
IA3_FEEDFORWARD: dict[str, tuple[str, ...]] = {
    "bert": (_BERT_FFN_OUT,), "roberta": (_BERT_FFN_OUT,), "xlm-roberta": (_BERT_FFN_OUT,), "electra": (_BERT_FFN_OUT,),
    "deberta-v2": (_BERT_FFN_OUT,), "distilbert": (r"ffn\.lin2",),
}
IA3_TARGETS: dict[str, tuple[str, ...]] = {
    **{kind: ("key", "value", *IA3_FEEDFORWARD[kind]) for kind in ("bert", "roberta", "xlm-roberta", "electra")},
    "deberta-v2": ("key_proj", "value_proj", *IA3_FEEDFORWARD["deberta-v2"]),
    "distilbert": ("k_lin", "v_lin", *IA3_FEEDFORWARD["distilbert"]),
}
DEFAULT_TARGETS = {"lora": RANK_TARGETS, "loha": RANK_TARGETS, "ia3": IA3_TARGETS}


@dataclass(frozen=True)
class PeftSettings:
    """method: lora, loha or ia3. r: rank (lora, loha); alpha: the update is scaled by alpha / r
    (lora, loha); dropout: on LoRA's input (lora only); targets: modules to adapt (None: the
    method's default for the architecture); feedforward: which targets IA3 scales at their input
    (None: the architecture's feed-forward output projection); layernorm: whether the encoder's
    LayerNorms train (the paper's policy: yes)."""

    method: str = "lora"
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] | None = None
    layernorm: bool = True
    feedforward: tuple[str, ...] | None = None

    def problems(self) -> list[str]:
        found = []
        if self.method not in PEFT_METHODS:
            return [f"method={self.method!r}: PEFT methods are {', '.join(PEFT_METHODS)}"]
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            found.append(f"lora_r={self.r!r}: must be an integer >= 1")
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or not math.isfinite(self.alpha) or self.alpha <= 0:
            found.append(f"lora_alpha={self.alpha!r}: must be a number > 0")
        if not isinstance(self.dropout, (int, float)) or not math.isfinite(self.dropout) or not 0 <= self.dropout < 1:
            found.append(f"lora_dropout={self.dropout!r}: must be in [0, 1)")
        elif self.dropout and self.method != "lora":
            found.append(f"lora_dropout={self.dropout!r}: LoRA's input dropout; method {self.method} has none (leave it at 0)")
        for name in ("targets", "feedforward"):
            value = getattr(self, name)
            if value is not None and (not value or not all(isinstance(t, str) and t for t in value)):
                found.append(f"{'lora_targets' if name == 'targets' else 'ia3_feedforward'}={value!r}: must name one or more modules, e.g. query,value")
            elif value is not None:
                bad = [t for t in value if not _compiles(t)]
                if bad:
                    found.append(f"{'lora_targets' if name == 'targets' else 'ia3_feedforward'}: {bad[0]!r} is not a module name or regular expression")
        if self.feedforward is not None and self.method != "ia3":
            found.append(f"ia3_feedforward={','.join(self.feedforward)!r}: only method ia3 scales feed-forward inputs")
        return found


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _peft():
    try:
        import peft
    except ImportError:
        raise AdapterlabError(f"the PEFT methods ({', '.join(PEFT_METHODS)}) need the peft library: {PEFT_INSTALL}") from None
    return peft


def targets_of(model: nn.Module, settings: PeftSettings) -> tuple[str, ...]:
    """The target patterns of a run: the settings' own, or the method's default for the architecture."""
    if settings.targets:
        return tuple(settings.targets)
    model_type = model_type_of(model)
    table = DEFAULT_TARGETS[settings.method]
    if model_type not in table:
        raise AdapterlabError(f"{settings.method} has no default target modules for model_type {model_type!r} (known: {', '.join(sorted(table))}); "
                              "name them with --lora-targets, e.g. query,value")
    return table[model_type]


def feedforward_of(model: nn.Module, settings: PeftSettings) -> tuple[str, ...]:
    """IA3's feed-forward targets (scaled at their input): the settings' own, or the architecture's."""
    if settings.feedforward is not None:
        return tuple(settings.feedforward)
    if settings.targets:  # the user named the targets: none is feed-forward unless named too
        return ()
    return IA3_FEEDFORWARD.get(model_type_of(model), ())


def _matches(pattern: str, name: str) -> bool:
    return re.fullmatch(rf"(?:.*\.)?(?:{pattern})", name) is not None


def resolve_targets(encoder: nn.Module, patterns: tuple[str, ...], method: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """The encoder's module names (relative to it) that `patterns` select, outside `exclude` (the
    pooler, which trains whole as part of the head). Raises AdapterlabError naming a pattern that
    selects nothing."""
    every = [name for name, _ in encoder.named_modules() if name]
    names = [name for name in every if not any(name == x or name.startswith(x + ".") for x in exclude)]
    chosen: list[str] = []
    for pattern in patterns:
        hits = [name for name in names if _matches(pattern, name)]
        if not hits and any(_matches(pattern, name) for name in every):
            raise AdapterlabError(f"{method} target {pattern!r} names only modules of the head ({', '.join(exclude)}), which trains whole "
                                  "and is never wrapped; name encoder modules, e.g. query,value")
        if not hits:
            raise AdapterlabError(f"{method} target module {pattern!r} not found in {type(encoder).__name__} "
                                  f"(linear layers there: {', '.join(sorted(_linear_names(encoder)))})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def _peft_config(peft, settings: PeftSettings, targets: list[str], feedforward: list[str]):
    if settings.method == "lora":
        return peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets, bias="none")
    if settings.method == "loha":
        return peft.LoHaConfig(r=settings.r, alpha=settings.alpha, target_modules=targets)
    return peft.IA3Config(target_modules=targets, feedforward_modules=feedforward)


def add_peft(model: nn.Module, settings: PeftSettings) -> None:
    """Inject a PEFT method into the encoder of `model` (in place; the head stays outside it). Every
    method starts as the identity, so the outputs are unchanged until training moves it. Raises
    AdapterlabError when peft is missing, the settings are invalid, or a target is not in the encoder."""
    peft = _peft()
    problems = settings.problems()
    if problems:
        raise AdapterlabError(problems[0])
    if getattr(model, STATE_ATTR, None) is not None:
        raise AdapterlabError(f"add_peft: this model already has {getattr(model, STATE_ATTR).method}")
    base_path, encoder = base_model_of(model)
    heads = tuple(p[len(base_path) + 1:] if base_path else p for p in head_paths(model) if p.startswith(base_path))
    patterns = targets_of(model, settings)
    targets = resolve_targets(encoder, patterns, settings.method, exclude=heads)
    feedforward = []
    if settings.method == "ia3":
        wanted = feedforward_of(model, settings)
        feedforward = [n for n in targets if any(_matches(p, n) for p in wanted)]
        outside = [p for p in wanted if not any(_matches(p, n) for n in targets)]
        if outside:  # PEFT scales feed-forward modules among the targets only; one outside them would be dropped silently
            raise AdapterlabError(f"ia3_feedforward {outside[0]!r} matches none of the targets ({', '.join(patterns)}); "
                                  "name it among --lora-targets too")
    try:
        peft.inject_adapter_in_model(_peft_config(peft, settings, targets, feedforward), encoder)
    except (ValueError, TypeError) as err:  # e.g. a LayerNorm named as a target: these methods adapt linear (and a few other) layers
        reason = " ".join(str(err).split())  # PEFT's message can hold a module's multi-line repr
        raise AdapterlabError(f"{settings.method} cannot adapt {', '.join(patterns)}: {reason[:160]}{'…' if len(reason) > 160 else ''}") from None
    recorded = None if settings.method != "ia3" else tuple(feedforward_of(model, settings))
    setattr(model, STATE_ATTR, PeftSettings(settings.method, settings.r, settings.alpha, settings.dropout, patterns, settings.layernorm, recorded))


def _linear_names(module: nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, nn.Linear) and name}


def peft_settings(model: nn.Module) -> PeftSettings | None:
    return getattr(model, STATE_ATTR, None)


def is_peft_parameter(name: str) -> bool:
    return any(mark in name for mark in PEFT_MARKS)


def set_peft_trainable(model: nn.Module) -> None:
    """The method's weights, the task head and (settings.layernorm) the LayerNorms train; all else is frozen."""
    settings = peft_settings(model)
    if settings is None:
        raise AdapterlabError("set_peft_trainable: the model has no PEFT method; call add_peft first")
    for name, param in model.named_parameters():
        param.requires_grad_(is_peft_parameter(name))
    for path in head_paths(model) + (layernorm_paths(model) if settings.layernorm else []):
        for param in model.get_submodule(path).parameters():
            param.requires_grad_(True)



def _task_parameters(model: nn.Module, with_head: bool = True) -> dict[str, nn.Parameter]:
    """The head's and (when they train) the LayerNorms' parameters by pack key: "heads.<path>.<name>"
    (path in the task model) and "layernorms.<path>.<name>" (path relative to the encoder, so a bare
    encoder, e.g. for RSA, takes them too), as in Houlsby packs."""
    settings = peft_settings(model)
    base_path, _ = base_model_of(model)
    found = {}
    for path in layernorm_paths(model) if settings is not None and settings.layernorm else []:
        rel = path[len(base_path) + 1:] if base_path else path
        found.update({f"layernorms.{rel}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    for path in head_paths(model) if with_head else []:
        found.update({f"heads.{path}.{key}": p for key, p in model.get_submodule(path).named_parameters()})
    return found


def _settings_record(settings: PeftSettings) -> dict:
    """The manifest's settings: only those the method uses (an IA3 pack records no rank), so the
    manifest says what was trained; read_peft_manifest fills the rest with the defaults."""
    record = {**asdict(settings), "targets": list(settings.targets or ()),
              "feedforward": None if settings.feedforward is None else list(settings.feedforward)}
    unused = {"r": settings.method not in RANKED, "alpha": settings.method not in RANKED,
              "dropout": settings.method != "lora", "feedforward": settings.method != "ia3"}
    return {key: value for key, value in record.items() if not unused.get(key)}


def save_peft_pack(model: nn.Module, path: str | os.PathLike, labels: list[str] | None, backbone: dict, dtype: torch.dtype = torch.float32,
                   base_model: str | None = None) -> int:
    """Write a PEFT pack folder atomically (replacing an earlier PEFT pack there, never another
    folder); returns its size in bytes. `backbone`: adapters.io.backbone_identity(model).
    base_model: what adapter_config.json's base_model_name_or_path names (a Hub id, or a folder as
    it may leave this machine), with task_type SEQ_CLS or TOKEN_CLS from the head, so that
    `peft.AutoPeftModelForSequenceClassification.from_pretrained(pack, id2label=..., label2id=...)`
    builds the task model on its own (the label maps are in manifest.json)."""
    peft = _peft()
    settings = peft_settings(model)
    if settings is None:
        raise AdapterlabError("save_peft_pack: the model has no PEFT method")
    base_path, encoder = base_model_of(model)
    target = Path(path)
    if target.exists() and not (target / MANIFEST_FILE).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise AdapterlabError(f"save_peft_pack: {target} exists and is not a pack; save to a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a pack is shared like any folder
    try:
        heads, saved = head_paths(model), _saved_modules(model)
        within = f"{base_path}." if base_path else ""
        weights = {f"{PEFT_PREFIX}{within}{k}": v for k, v in peft.get_peft_model_state_dict(encoder).items()}
        for path in saved:  # PeftModel keys modules_to_save by their own names, as here
            weights.update({f"{PEFT_PREFIX}{path}.{k}": p for k, p in model.get_submodule(path).named_parameters()})
        save_file({k: v.detach().to(dtype).contiguous().cpu() for k, v in weights.items()}, str(tmp / PEFT_WEIGHTS), metadata={"format": "pt"})
        config = copy.copy(encoder.peft_config["default"])
        config.modules_to_save = saved  # full paths: PEFT matches a module by the end of its name
        config.base_model_name_or_path = base_model
        config.task_type = "TOKEN_CLS" if "TokenClassification" in type(model).__name__ else "SEQ_CLS"
        config.save_pretrained(str(tmp))
        manifest = {"format": PACK_FORMAT, "format_version": 3, "method": settings.method, "settings": _settings_record(settings),
                    "base_path": base_path, "heads": heads, "layernorms": [p for p in saved if p not in heads],
                    "backbone": backbone, "head_class": type(model).__name__, "num_labels": getattr(model.config, "num_labels", None),
                    "labels": labels, **label_maps(labels), "dtype": str(dtype).replace("torch.", ""), "peft": peft.__version__}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        for file in tmp.iterdir():
            file.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(f.stat().st_size for f in target.iterdir())


def _format_of(path: str | os.PathLike) -> str | None:
    manifest = Path(path) / MANIFEST_FILE
    try:
        return json.loads(manifest.read_text()).get("format") if manifest.is_file() else None
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def is_peft_pack(path: str | os.PathLike) -> bool:
    return _format_of(path) in (PACK_FORMAT, LORA_PACK_FORMAT)


def read_peft_manifest(path: str | os.PathLike) -> tuple[dict, PeftSettings]:
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


def _check_manifest_types(path: Path, manifest: dict) -> None:
    """The fields load_peft_pack and predict read, each of its JSON type (one line naming the field)."""
    from adapterlab.runs import describe_value

    checks = {
        "backbone": (lambda v: v is None or isinstance(v, dict), "an object of the backbone's sizes"),
        "base_path": (lambda v: v is None or isinstance(v, str), "a module path (a string)"),
        "heads": (lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)), "a list of module paths"),
        "layernorms": (lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)), "a list of module paths"),
        "num_labels": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1), "a positive integer or null"),
        "labels": (lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)), "a list of label names or null"),
        "format_version": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an integer"),
    }
    for key, (good, allowed) in checks.items():
        if not good(manifest.get(key)):
            raise AdapterlabError(f"{path}: field {key!r} is {describe_value(manifest.get(key))}; expected {allowed}")


def load_peft_pack(model: nn.Module, path: str | os.PathLike, backbone: dict, with_head: bool = True) -> dict:
    """Inject the pack's method into `model` and load its weights, its LayerNorms and (with_head)
    its head. `backbone`: backbone_identity(model), compared with the pack's: a different shape
    is a one-line AdapterlabError naming it. Returns the manifest."""
    peft = _peft()
    folder = Path(path)
    manifest, settings = read_peft_manifest(folder)
    mismatched = {k: (v, backbone.get(k)) for k, v in (manifest.get("backbone") or {}).items() if backbone.get(k) != v}
    if mismatched:
        key, (theirs, ours) = next(iter(mismatched.items()))
        raise AdapterlabError(f"{folder}: the pack was trained on another backbone ({key}: pack {theirs!r}, model {ours!r})")
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
        raise AdapterlabError(f"{folder / PEFT_WEIGHTS}: weights this model has no place for: {', '.join(unexpected[:3])}")
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


def _split_peft_layout(weights: dict[str, torch.Tensor], manifest: dict) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
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
        relative = name[len(base) + 1:] if base and name.startswith(base + ".") else name
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
        raise AdapterlabError(f"{path}: not a readable safetensors file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def merge_peft(model: nn.Module) -> nn.Module:
    """Fold the method's update into the target weights and remove its modules (for analyses such
    as RSA that read plain encoder weights); the outputs stay the same up to rounding."""
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
