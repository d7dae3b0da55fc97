"""Add, activate and remove named adapters on a Hugging Face encoder, and the paper's freeze policy.

The first `add_adapters` call wraps, once, the two sublayer outputs of every layer, every
LayerNorm of the encoder and the task head (see layer.py). Each named adapter then owns its
adapters, its LayerNorm copies and its head copy; `activate` picks which one the forward uses.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from torch import nn

from adapterlab.adapters.architectures import ArchitectureTable, resolve_table
from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.surgery import guard_surgery, unguard_surgery
from adapterlab.adapters.layer import AdaptedOutput, BottleneckAdapter, Router, SharedWeightLinear, TaskHead, TaskLayerNorm
from adapterlab.errors import AdapterlabError

STATE_ATTR = "adapterlab_state"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MODES = ("adapter", "finetune")  # set_trainable's modes; PEFT methods' policy is adapters/peft_methods.py's set_peft_trainable
# PEFT's parameter names for the weights it adds, per method (lora, loha, ia3): lora_A / lora_B,
# hada_w1_a ..., ia3_l.
PEFT_MARKS = ("lora_", "hada_", "ia3_l")
PEFT_STATE_ATTR = "adapterlab_peft"  # set by adapters/peft_methods.py's add_peft: the method's settings
_WRAPPERS = (AdaptedOutput, TaskLayerNorm, TaskHead)
HALF_DTYPES = (torch.float16, torch.bfloat16)


@dataclass
class AdapterState:
    """What add_adapters records on the model: the router, the table, each adapter's config and
    label names, and the backbone's requires_grad flags from before the first adapter."""

    router: Router
    table: ArchitectureTable
    configs: dict[str, AdapterConfig] = field(default_factory=dict)
    num_labels: dict[str, int | None] = field(default_factory=dict)  # per task; None = the model's
    labels: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # per task, in head order
    original_requires_grad: dict[str, bool] = field(default_factory=dict)  # by parameter name


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of the active forward path (inactive tasks' copies are not counted).

    adapter/layernorm/head/other count trainable parameters by role; `total` counts every
    parameter the active forward pass uses.
    """

    trainable: int
    total: int
    adapter: int
    layernorm: int
    head: int
    other: int

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0


# ---------------------------------------------------------------------------------- structure


def adapter_state(model: nn.Module) -> AdapterState | None:
    return getattr(model, STATE_ATTR, None)


def base_model_of(model: nn.Module) -> tuple[str, nn.Module]:
    """(path, module) of the encoder inside a task model; ("", model) for a bare encoder."""
    base = getattr(model, "base_model", None)
    if not isinstance(base, nn.Module) or not hasattr(model, "config"):
        raise AdapterlabError(f"{type(model).__name__} is not a Hugging Face PreTrainedModel; adapterlab needs model.config and model.base_model")
    if base is model:
        return "", model
    for name, child in model.named_children():
        if child is base:
            return name, base
    raise AdapterlabError(f"{type(model).__name__}: could not find its base model among its direct children")


def model_type_of(model: nn.Module) -> str:
    return getattr(model.config, "model_type", None) or type(model).__name__


def head_paths(model: nn.Module) -> list[str]:
    """The task head: the task model's own top-level modules with parameters, plus the pooler.

    The paper's head is dense + tanh + classifier (its Table 10), so BERT's pooler belongs to it.
    """
    base_path, base = base_model_of(model)
    paths = []
    if base is not model:
        paths = [name for name, child in model.named_children() if child is not base and any(True for _ in child.parameters())]
    pooler = getattr(base, "pooler", None)
    if isinstance(pooler, nn.Module) and any(True for _ in pooler.parameters()):
        paths.append(_join(base_path, "pooler"))
    return paths


def layernorm_paths(model: nn.Module) -> list[str]:
    """Every LayerNorm of the encoder (those inside the head travel with the head)."""
    base_path, base = base_model_of(model)
    heads = set(head_paths(model))
    found = []
    for path, module in _walk(base, base_path):
        if path in heads:
            continue
        if isinstance(module, (nn.LayerNorm, TaskLayerNorm)) and not _inside(path, heads):
            found.append(path)
    return found


def _walk(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """Pre-order walk that yields wrappers but does not descend into them."""
    yield prefix, module
    if isinstance(module, _WRAPPERS):
        return
    for name, child in module.named_children():
        yield from _walk(child, _join(prefix, name))


def _inside(path: str, roots: set[str]) -> bool:
    return any(path.startswith(root + ".") for root in roots)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def _get(model: nn.Module, path: str, what: str) -> nn.Module:
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise AdapterlabError(
            f"model_type {model_type_of(model)!r}: {what} path {path!r} does not exist in {type(model).__name__}; "
            "pass a matching table=adapterlab.ArchitectureTable(...) to add_adapters"
        ) from None


def site_paths(model: nn.Module, table: ArchitectureTable) -> list[tuple[int, str, str]]:
    """(layer index, "attention"|"ffn", path) of every adapter site, checked against the model."""
    base_path, _ = base_model_of(model)
    layers_path = _join(base_path, table.layers)
    layers = _get(model, layers_path, "layers")
    if not isinstance(layers, (nn.ModuleList, nn.Sequential)):
        raise AdapterlabError(f"model_type {model_type_of(model)!r}: layers path {layers_path!r} is a {type(layers).__name__}, expected a ModuleList")
    sites = []
    for index in range(len(layers)):
        for kind, rel in (("attention", table.attention_output), ("ffn", table.ffn_output)):
            path = f"{layers_path}.{index}.{rel}"
            _get(model, path, f"{kind} output")
            sites.append((index, kind, path))
    return sites


def wrappers(model: nn.Module, kind: type) -> list[tuple[str, nn.Module]]:
    return [(path, module) for path, module in _walk(model, "") if isinstance(module, kind)]


# ------------------------------------------------------------------------------- public API


def add_adapters(
    model: nn.Module,
    config: AdapterConfig,
    name: str,
    *,
    num_labels: int | None = None,
    labels: Sequence[str] | None = None,
    table: ArchitectureTable | None = None,
) -> nn.Module:
    """Add a named Houlsby adapter set (two adapters per layer) in place, and activate it.

    The new task also gets its own copies of every LayerNorm and of the task head, starting from
    the model's current values. `num_labels` gives this task's head a new output layer of that
    size when it differs from the model's. Returns the model.

    Rules for the task's own modules (adapters, LayerNorm copies, head copy):
    - They are created trainable (requires_grad=True), even when the model's modules they copy
      are frozen (e.g. by an earlier set_trainable(model, "adapter")); set_trainable decides the rest.
    - On a float16 or bfloat16 backbone they are float32 (as PEFT's autocast_adapter_dtype), so
      that optimizer steps on them do not underflow; each runs in float32 and hands back the
      backbone's dtype. On any other dtype they take the backbone's dtype. A head weight tied to
      the encoder (an MLM decoder) stays the encoder's.
    - `labels` are the task's label names in head order, kept with the adapter for save_adapter.
      Without them, the first adapter added to a model takes model.config.id2label when its head
      has the model's own size and the names are not the default LABEL_i; a later adapter takes
      none, since the model's names belong to the task it was set up for.
    """
    if not isinstance(config, AdapterConfig):
        raise AdapterlabError(f"add_adapters: config must be an adapterlab.AdapterConfig, got {type(config).__name__}")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise AdapterlabError(f"add_adapters: adapter name {name!r} is not allowed; use letters, digits, '_' and '-'")
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1):
        raise AdapterlabError(f"add_adapters: num_labels={num_labels!r} must be a positive integer")
    state = adapter_state(model)
    if state is not None and table is not None and table != state.table:
        raise AdapterlabError("add_adapters: this model already has adapters placed by another table; remove_adapters first")
    if state is not None and name in state.configs:
        raise AdapterlabError(f"add_adapters: the model already has an adapter named {name!r}; pick another name or remove it first")
    base_model_of(model)  # a clear error for anything that is not an HF model
    has_head = bool(head_paths(model))
    if labels is not None:
        size = (num_labels or getattr(model.config, "num_labels", None)) if has_head else None
        labels = check_labels(labels, size, "add_adapters")
    elif has_head and (state is None or not state.configs) and num_labels in (None, getattr(model.config, "num_labels", None)):
        labels = _config_labels(model)

    created = state is None
    if created:
        resolved = resolve_table(model_type_of(model), table)
        sites = site_paths(model, resolved)  # checks the table before anything changes
        state = AdapterState(router=Router(), table=resolved)
        state.original_requires_grad = {path: p.requires_grad for path, p in model.named_parameters()}
        guard_surgery(model)  # before wrapping: it looks at the plain model's tied head
        _wrap(model, state, sites)
        setattr(model, STATE_ATTR, state)
    try:
        _add_task_modules(model, state, config, name, num_labels)
    except BaseException:
        for _, wrapper in wrappers(model, _WRAPPERS):
            copies = _task_copies(wrapper)
            if name in copies:
                del copies[name]
        if created:
            _unwrap(model, state)
        raise
    state.configs[name] = config
    state.num_labels[name] = num_labels
    state.labels[name] = labels
    model.train(model.training)  # new modules follow the model's train/eval mode
    activate(model, name)
    return model


def _add_task_modules(model: nn.Module, state: AdapterState, config: AdapterConfig, name: str, num_labels: int | None) -> None:
    """Task `name`'s adapters, LayerNorm copies and head copy, trainable, in the trainable dtype."""
    reference = next(model.parameters())
    hidden_size = _hidden_size(model)
    layers = 1 + max((_site_position(path, state.table, model)[0] for path, _ in wrappers(model, AdaptedOutput)), default=-1)
    if config.skip_layers >= layers:
        raise AdapterlabError(f"add_adapters: skip_layers={config.skip_layers} leaves no adapter in this model's {layers} layers; "
                              f"use at most {layers - 1}")
    if config.size > 4 * hidden_size:
        # a bottleneck is narrower than the hidden state; a huge m is a typo that would exhaust memory
        raise AdapterlabError(f"add_adapters: adapter size {config.size} is more than 4x the hidden size {hidden_size}; "
                              "the paper uses 64 to 256")
    for path, site in wrappers(model, AdaptedOutput):
        layer, kind = _site_position(path, state.table, model)
        if layer < config.skip_layers or config.placement not in ("both", kind):
            continue
        site.adapters[name] = BottleneckAdapter(hidden_size, config).to(reference.device, trainable_dtype(reference.dtype))
    shared = _backbone_parameters(model)
    for _, norm in wrappers(model, TaskLayerNorm):
        norm.layernorms[name] = _own_copy(copy.deepcopy(norm.base), shared)
    for _, head in wrappers(model, TaskHead):
        # The memo keeps weights the head shares with the encoder (a tied MLM decoder) shared.
        task_head = copy.deepcopy(head.base, memo={id(p): p for p in head.base.parameters() if id(p) in shared})
        if num_labels is not None:
            task_head = _resize_output(task_head, model, num_labels, head.path)
        head.heads[name] = _own_copy(task_head, shared)


def trainable_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a task's own parameters on a backbone of `dtype`: float32 for half precision."""
    return torch.float32 if dtype in HALF_DTYPES else dtype


def _own_copy(module: nn.Module, shared: set[int]) -> nn.Module:
    """Make a task's copy its own: its parameters trainable and, from half precision, float32.

    Parameters in `shared` (the encoder's, e.g. a tied decoder weight) are left as they are; a
    Linear holding one in another dtype computes in that dtype (SharedWeightLinear).
    """
    seen: set[int] = set()
    for sub in module.modules():
        for param in sub.parameters(recurse=False):
            if id(param) in shared or id(param) in seen:
                continue
            seen.add(id(param))
            dtype = trainable_dtype(param.dtype) if param.is_floating_point() else param.dtype
            if dtype != param.dtype:
                param.data = param.data.to(dtype)
            param.requires_grad_(True)
        for key, buffer in sub.named_buffers(recurse=False):
            if buffer is not None and buffer.is_floating_point() and trainable_dtype(buffer.dtype) != buffer.dtype:
                setattr(sub, key, buffer.to(trainable_dtype(buffer.dtype)))
    for sub in module.modules():
        if type(sub) is nn.Linear and id(sub.weight) in shared and trainable_dtype(sub.weight.dtype) != sub.weight.dtype:
            sub.__class__ = SharedWeightLinear
    return module


def _config_labels(model: nn.Module) -> tuple[str, ...] | None:
    """model.config.id2label in head order, unless it is missing or the default LABEL_i."""
    id2label = getattr(model.config, "id2label", None) or {}
    size = getattr(model.config, "num_labels", None)
    if not isinstance(id2label, dict) or sorted(map(str, id2label)) != sorted(map(str, range(len(id2label)))):
        return None  # not indices 0..n-1 (a hand-edited config)
    names = [str(id2label[i] if i in id2label else id2label[str(i)]) for i in range(len(id2label))]
    if len(names) != size or all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return None
    return tuple(names)


def check_labels(labels: Sequence[str], size: int | None, caller: str) -> tuple[str, ...]:
    """Label names as a tuple of strings; as many as the head's outputs when there is a head."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise AdapterlabError(f"{caller}: labels={labels!r} must be a list of label names, one per head output")
    if size is not None and len(labels) != size:
        raise AdapterlabError(f"{caller}: got {len(labels)} label names {list(labels)!r} for a head with {size} outputs; pass one name per output")
    return tuple(str(label) for label in labels)


def activate(model: nn.Module, name: str) -> None:
    """Run the whole batch through adapter `name` (its adapters, LayerNorm copies and head)."""
    state = _require_state(model, "activate")
    if not isinstance(name, str):
        raise AdapterlabError(f"activate: name must be one adapter name, got {type(name).__name__}; for one name per example use "
                              "activate_per_example, for none deactivate")
    _check_known(state, name)
    state.router.set_single(name)


def activate_per_example(model: nn.Module, names: Sequence[str]) -> None:
    """A mixed-task batch in one backbone pass: row i runs through adapter names[i] (its
    adapters, LayerNorm copies and head). `names` has one entry per example of the next batch."""
    state = _require_state(model, "activate_per_example")
    names = list(names)
    if not names or not all(isinstance(n, str) for n in names):
        raise AdapterlabError("activate_per_example: pass one adapter name per example (a non-empty list of names)")
    for item in dict.fromkeys(names):
        _check_known(state, item)
    state.router.set_per_example(names)


def deactivate(model: nn.Module) -> None:
    """Turn every adapter off: the forward pass is the original model's."""
    _require_state(model, "deactivate").router.set_single(None)


def remove_adapters(model: nn.Module, name: str | None = None) -> nn.Module:
    """Remove one named adapter, or all of them (name=None), restoring the original model.

    With all removed, the model's modules, state dict and forward are exactly the original's
    (the wrapped modules were never changed, only wrapped), and every parameter's requires_grad
    is again what it was before the first add_adapters, whatever set_trainable did since.
    """
    state = adapter_state(model)
    if state is None:
        if name is not None:
            raise AdapterlabError(f"remove_adapters: the model has no adapter named {name!r} (it has no adapters)")
        return model
    if name is not None:
        _check_known(state, name)
        for _, wrapper in wrappers(model, _WRAPPERS):
            copies = _task_copies(wrapper)
            if name in copies:
                del copies[name]
        del state.configs[name]
        del state.num_labels[name]
        del state.labels[name]
        if name in state.router.active_names:
            state.router.set_single(None)
        if state.configs:
            return model
    _unwrap(model, state)
    return model


def _unwrap(model: nn.Module, state: AdapterState) -> None:
    """Put the original modules back and the original requires_grad flags."""
    for path, wrapper in wrappers(model, _WRAPPERS):
        _replace(model, path, wrapper.base)
    for path, param in model.named_parameters():
        if path in state.original_requires_grad:
            param.requires_grad_(state.original_requires_grad[path])
    delattr(model, STATE_ATTR)
    unguard_surgery(model)


def set_trainable(model: nn.Module, mode: str) -> ParamCounts:
    """Apply the paper's freeze policy and return the parameter counts.

    "adapter": the active adapters, their LayerNorm copies and task head train; all else is
    frozen (AdapterHub freezes LayerNorms and BERT's pooler; the paper trains both).
    "finetune": every parameter trains.
    """
    if mode not in MODES:
        raise AdapterlabError(f"set_trainable: mode {mode!r} is not allowed; use 'adapter' or 'finetune'")
    roles = parameter_roles(model)
    if mode == "adapter":
        state = _require_state(model, "set_trainable(model, 'adapter')")
        if not state.router.active_names:
            raise AdapterlabError("set_trainable(model, 'adapter'): no adapter is active; call activate(model, NAME) first")
        for param, role, active in roles:
            param.requires_grad_(active and role != "backbone")
        _freeze_skipped_layernorms(model, state)
    else:
        for param, _, _ in roles:
            param.requires_grad_(True)
    return count_parameters(model)


def _freeze_skipped_layernorms(model: nn.Module, state: AdapterState) -> None:
    """AdapterDrop's skip_layers: a task's LayerNorm copies below its lowest adapter stay frozen,
    so nothing under that layer needs a gradient and the backward pass stops there."""
    skips = {name: state.configs[name].skip_layers for name in state.router.active_names if state.configs[name].skip_layers}
    if not skips:
        return
    below_first_layer = True  # LayerNorms come in module order: the embeddings' before layer 0
    for path, norm in wrappers(model, TaskLayerNorm):
        layer = _layer_index(path, state.table, model)
        if layer is not None:
            below_first_layer = False
        elif not below_first_layer:
            continue  # a LayerNorm above the last layer
        for name, skip in skips.items():
            if name in norm.layernorms and (layer is None or layer < skip):
                norm.layernorms[name].requires_grad_(False)


def count_parameters(model: nn.Module) -> ParamCounts:
    """Counts of the active forward path by role, as set_trainable left them."""
    totals = {"adapter": 0, "layernorm": 0, "head": 0, "backbone": 0}
    total = 0
    for param, role, active in parameter_roles(model):
        if not active:
            continue
        total += param.numel()
        if param.requires_grad:
            totals[role] += param.numel()
    trainable = sum(totals.values())
    return ParamCounts(trainable, total, totals["adapter"], totals["layernorm"], totals["head"], totals["backbone"])


def parameter_roles(model: nn.Module) -> list[tuple[nn.Parameter, str, bool]]:
    """Each distinct parameter with its role and whether the active forward path uses it.

    Roles: "adapter" (Houlsby adapters, or LoRA's A and B), "layernorm", "head", "backbone". Works with
    and without adapters.
    """
    state = adapter_state(model)
    active_names = set(state.router.active_names) if state else set()
    roles: dict[int, tuple[nn.Parameter, str, bool]] = {}
    for param in model.parameters():
        roles[id(param)] = (param, "backbone", True)
    shared = _backbone_parameters(model)

    def mark(module: nn.Module, role: str, active: bool) -> None:
        for param in module.parameters():
            if id(param) not in shared:
                roles[id(param)] = (param, role, active)

    for role, paths in (("layernorm", layernorm_paths(model)), ("head", head_paths(model))):
        for path in paths:
            module = model.get_submodule(path)
            if isinstance(module, (TaskLayerNorm, TaskHead)):
                copies = _task_copies(module)
                mark(module.base, role, not any(n in copies for n in active_names))
                for task, task_module in copies.items():
                    mark(task_module, role, task in active_names)
            else:
                mark(module, role, True)
    for _, site in wrappers(model, AdaptedOutput):
        for task, adapter in site.adapters.items():
            mark(adapter, "adapter", task in active_names)
    for name, param in model.named_parameters():  # a PEFT method's weights count as the method's, like adapters
        if any(mark_ in name for mark_ in PEFT_MARKS):
            roles[id(param)] = (param, "adapter", True)
    if getattr(model, PEFT_STATE_ATTR, None) is not None:  # PEFT methods train the encoder's own LayerNorms, not per-task copies
        for path in layernorm_paths(model):
            for param in model.get_submodule(path).parameters():
                roles[id(param)] = (param, "layernorm", True)
    return list(roles.values())


def adapter_names(model: nn.Module) -> list[str]:
    state = adapter_state(model)
    return list(state.configs) if state else []


# ------------------------------------------------------------------------------------ helpers


def _wrap(model: nn.Module, state: AdapterState, sites: list[tuple[int, str, str]]) -> None:
    router = state.router
    for path in head_paths(model):
        _replace(model, path, TaskHead(model.get_submodule(path), router, path))
    for path in layernorm_paths(model):
        _replace(model, path, TaskLayerNorm(model.get_submodule(path), router, path))
    for _, _, path in sites:
        _replace(model, path, AdaptedOutput(model.get_submodule(path), router, path))


def _site_position(path: str, table: ArchitectureTable, model: nn.Module) -> tuple[int, str]:
    layer = _layer_index(path, table, model)
    assert layer is not None, path
    rel = path[len(_layers_prefix(table, model)) :].partition(".")[2]
    return layer, "attention" if rel == table.attention_output else "ffn"


def _layers_prefix(table: ArchitectureTable, model: nn.Module) -> str:
    base_path, _ = base_model_of(model)
    return _join(base_path, table.layers) + "."


def _layer_index(path: str, table: ArchitectureTable, model: nn.Module) -> int | None:
    """The encoder layer a module path lies in, or None outside the layers."""
    prefix = _layers_prefix(table, model)
    return int(path[len(prefix) :].partition(".")[0]) if path.startswith(prefix) else None


def _backbone_parameters(model: nn.Module) -> set[int]:
    """ids of parameters the encoder owns outside any per-task copy (tied weights included)."""
    _, base = base_model_of(model)
    owned: set[int] = set()
    for _, module in _walk(base, ""):
        if isinstance(module, TaskHead):
            continue  # the pooler belongs to the head
        if isinstance(module, (AdaptedOutput, TaskLayerNorm)):
            owned.update(id(p) for p in module.base.parameters())
        elif not isinstance(module, _WRAPPERS):
            owned.update(id(p) for p in module.parameters(recurse=False))
    pooler = getattr(base, "pooler", None)
    if isinstance(pooler, nn.Module) and not isinstance(pooler, TaskHead):
        owned.difference_update(id(p) for p in pooler.parameters())
    return owned


def _hidden_size(model: nn.Module) -> int:
    hidden = getattr(model.config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise AdapterlabError(f"model_type {model_type_of(model)!r}: config has no integer hidden_size")
    return hidden


def _resize_output(head: nn.Module, model: nn.Module, num_labels: int, path: str) -> nn.Module:
    """Return the head copy with a fresh final Linear of num_labels outputs (another label set)."""
    current = getattr(model.config, "num_labels", None)
    if num_labels == current or path.endswith("pooler"):
        return head
    linears = [(p, m) for p, m in head.named_modules() if isinstance(m, nn.Linear) and m.out_features == current]
    if not linears:
        raise AdapterlabError(f"add_adapters: num_labels={num_labels} but head {path!r} has no output layer of size {current} to replace")
    sub_path, old = linears[-1]
    new = nn.Linear(old.in_features, num_labels, bias=old.bias is not None).to(old.weight.device, old.weight.dtype)
    nn.init.normal_(new.weight, std=getattr(model.config, "initializer_range", 0.02))
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    if not sub_path:
        return new
    _replace(head, sub_path, new)
    return head


def _task_copies(wrapper: nn.Module) -> nn.ModuleDict:
    if isinstance(wrapper, AdaptedOutput):
        return wrapper.adapters
    return wrapper.layernorms if isinstance(wrapper, TaskLayerNorm) else wrapper.heads


def _require_state(model: nn.Module, caller: str) -> AdapterState:
    state = adapter_state(model)
    if state is None:
        raise AdapterlabError(f"{caller}: the model has no adapters; call adapterlab.add_adapters first")
    return state


def _check_known(state: AdapterState, name: str) -> None:
    if name not in state.configs:
        known = ", ".join(state.configs) or "none"
        raise AdapterlabError(f"no adapter named {name!r} on this model (adapters: {known})")
