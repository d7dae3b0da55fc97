"""Add, activate and remove named Houlsby adapters on a Hugging Face encoder.

The first `add_adapters` call wraps, once, the two sublayer outputs of every layer, every
LayerNorm of the encoder and the task head (see layer.py, structure.py). Each named adapter then
owns its adapters, its LayerNorm copies and its head copy; `activate` picks which one the forward
uses. Which of them train is freezing.py's.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

import torch
from torch import nn

from adapterlab.adapters.architectures import ArchitectureTable, resolve_table
from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.layer import (
    AdaptedOutput,
    BottleneckAdapter,
    Router,
    SharedWeightLinear,
    TaskHead,
    TaskLayerNorm,
)
from adapterlab.adapters.structure import (
    STATE_ATTR,
    WRAPPERS,
    AdapterState,
    adapter_state,
    backbone_parameters,
    base_model_of,
    check_known,
    head_paths,
    hidden_size_of,
    model_type_of,
    replace_module,
    require_state,
    site_paths,
    site_position,
    task_copies,
    wrap_sites,
    wrappers,
)
from adapterlab.adapters.surgery import guard_surgery, unguard_surgery
from adapterlab.errors import AdapterlabError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
HALF_DTYPES = (torch.float16, torch.bfloat16)


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
    state = adapter_state(model)
    _check_new_adapter(model, state, config, name, num_labels, table)
    labels = _task_labels(model, state, labels, num_labels)
    created = state is None
    if state is None:  # the model's first adapter: wrap it
        resolved = resolve_table(model_type_of(model), table)
        sites = site_paths(model, resolved)  # checks the table before anything changes
        state = AdapterState(router=Router(), table=resolved)
        state.original_requires_grad = {path: p.requires_grad for path, p in model.named_parameters()}
        guard_surgery(model)  # before wrapping: it looks at the plain model's tied head
        wrap_sites(model, state, sites)
        setattr(model, STATE_ATTR, state)
    try:
        _add_task_modules(model, state, config, name, num_labels)
    except BaseException:
        for _, wrapper in wrappers(model, WRAPPERS):
            copies = task_copies(wrapper)
            if name in copies:
                del copies[name]
        if created:
            unwrap(model, state)
        raise
    state.configs[name] = config
    state.num_labels[name] = num_labels
    state.labels[name] = labels
    model.train(model.training)  # new modules follow the model's train/eval mode
    activate(model, name)
    return model


def _check_new_adapter(
    model: nn.Module,
    state: AdapterState | None,
    config: AdapterConfig,
    name: str,
    num_labels: int | None,
    table: ArchitectureTable | None,
) -> None:
    """add_adapters' arguments, checked before the model changes."""
    if not isinstance(config, AdapterConfig):
        raise AdapterlabError(f"add_adapters: config must be an adapterlab.AdapterConfig, got {type(config).__name__}")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise AdapterlabError(f"add_adapters: adapter name {name!r} is not allowed; use letters, digits, '_' and '-'")
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1):
        raise AdapterlabError(f"add_adapters: num_labels={num_labels!r} must be a positive integer")
    if state is not None and table is not None and table != state.table:
        raise AdapterlabError(
            "add_adapters: this model already has adapters placed by another table; remove_adapters first"
        )
    if state is not None and name in state.configs:
        raise AdapterlabError(
            f"add_adapters: the model already has an adapter named {name!r}; pick another name or remove it first"
        )
    base_model_of(model)  # a clear error for anything that is not an HF model


def _task_labels(
    model: nn.Module, state: AdapterState | None, labels: Sequence[str] | None, num_labels: int | None
) -> tuple[str, ...] | None:
    """The new task's label names: the given ones (checked against its head), or the model's own
    for the first adapter on a head of the model's size (see add_adapters)."""
    has_head = bool(head_paths(model))
    if labels is not None:
        size = (num_labels or getattr(model.config, "num_labels", None)) if has_head else None
        return check_labels(labels, size, "add_adapters")
    if (
        has_head
        and (state is None or not state.configs)
        and num_labels in (None, getattr(model.config, "num_labels", None))
    ):
        return _config_labels(model)
    return None


def _add_task_modules(
    model: nn.Module, state: AdapterState, config: AdapterConfig, name: str, num_labels: int | None
) -> None:
    """Task `name`'s adapters, LayerNorm copies and head copy, trainable, in the trainable dtype."""
    reference = next(model.parameters())
    hidden_size = hidden_size_of(model)
    layers = 1 + max(
        (site_position(path, state.table, model)[0] for path, _ in wrappers(model, AdaptedOutput)), default=-1
    )
    if config.skip_layers >= layers:
        raise AdapterlabError(
            f"add_adapters: skip_layers={config.skip_layers} leaves no adapter in this model's {layers} layers; "
            f"use at most {layers - 1}"
        )
    if config.size > 4 * hidden_size:
        # a bottleneck is narrower than the hidden state; a huge m is a typo that would exhaust memory
        raise AdapterlabError(
            f"add_adapters: adapter size {config.size} is more than 4x the hidden size {hidden_size}; "
            "the paper uses 64 to 256"
        )
    for path, site in wrappers(model, AdaptedOutput):
        layer, kind = site_position(path, state.table, model)
        if layer < config.skip_layers or config.placement not in ("both", kind):
            continue
        site.adapters[name] = BottleneckAdapter(hidden_size, config).to(
            reference.device, trainable_dtype(reference.dtype)
        )
    shared = backbone_parameters(model)
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
        if (
            type(sub) is nn.Linear
            and id(sub.weight) in shared
            and trainable_dtype(sub.weight.dtype) != sub.weight.dtype
        ):
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
        raise AdapterlabError(
            f"{caller}: got {len(labels)} label names {list(labels)!r} for a head with {size} outputs; pass one name per output"
        )
    return tuple(str(label) for label in labels)


def activate(model: nn.Module, name: str) -> None:
    """Run the whole batch through adapter `name` (its adapters, LayerNorm copies and head)."""
    state = require_state(model, "activate")
    if not isinstance(name, str):
        raise AdapterlabError(
            f"activate: name must be one adapter name, got {type(name).__name__}; for one name per example use "
            "activate_per_example, for none deactivate"
        )
    check_known(state, name)
    state.router.set_single(name)


def activate_per_example(model: nn.Module, names: Sequence[str]) -> None:
    """A mixed-task batch in one backbone pass: row i runs through adapter names[i] (its
    adapters, LayerNorm copies and head). `names` has one entry per example of the next batch."""
    state = require_state(model, "activate_per_example")
    names = list(names)
    if not names or not all(isinstance(n, str) for n in names):
        raise AdapterlabError("activate_per_example: pass one adapter name per example (a non-empty list of names)")
    for item in dict.fromkeys(names):
        check_known(state, item)
    state.router.set_per_example(names)


def deactivate(model: nn.Module) -> None:
    """Turn every adapter off: the forward pass is the original model's."""
    require_state(model, "deactivate").router.set_single(None)


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
        check_known(state, name)
        for _, wrapper in wrappers(model, WRAPPERS):
            copies = task_copies(wrapper)
            if name in copies:
                del copies[name]
        del state.configs[name]
        del state.num_labels[name]
        del state.labels[name]
        if name in state.router.active_names:
            state.router.set_single(None)
        if state.configs:
            return model
    unwrap(model, state)
    return model


def unwrap(model: nn.Module, state: AdapterState) -> None:
    """Put the original modules back and the original requires_grad flags."""
    for path, wrapper in wrappers(model, WRAPPERS):
        replace_module(model, path, wrapper.base)
    for path, param in model.named_parameters():
        if path in state.original_requires_grad:
            param.requires_grad_(state.original_requires_grad[path])
    delattr(model, STATE_ATTR)
    unguard_surgery(model)


def adapter_names(model: nn.Module) -> list[str]:
    state = adapter_state(model)
    return list(state.configs) if state else []


def _resize_output(head: nn.Module, model: nn.Module, num_labels: int, path: str) -> nn.Module:
    """Return the head copy with a fresh final Linear of num_labels outputs (another label set)."""
    current = getattr(model.config, "num_labels", None)
    if num_labels == current or path.endswith("pooler"):
        return head
    linears = [(p, m) for p, m in head.named_modules() if isinstance(m, nn.Linear) and m.out_features == current]
    if not linears:
        raise AdapterlabError(
            f"add_adapters: num_labels={num_labels} but head {path!r} has no output layer of size {current} to replace"
        )
    sub_path, old = linears[-1]
    new = nn.Linear(old.in_features, num_labels, bias=old.bias is not None).to(old.weight.device, old.weight.dtype)
    nn.init.normal_(new.weight, std=getattr(model.config, "initializer_range", 0.02))
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    if not sub_path:
        return new
    replace_module(head, sub_path, new)
    return head
