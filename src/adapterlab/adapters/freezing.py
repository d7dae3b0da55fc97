"""The paper's freeze policy (He et al. 2021 §2) and parameter counts by role.

"adapter": only the active adapters, their LayerNorm copies and the task head train;
"finetune": every weight trains. A method that injects its own weights (PEFT's) records their
marks on the model (structure.InjectedWeights), so its weights are counted as the method's here.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from adapterlab.adapters.layer import AdaptedOutput, TaskHead, TaskLayerNorm
from adapterlab.adapters.structure import (
    AdapterState,
    adapter_state,
    backbone_parameters,
    head_paths,
    injected_weights,
    layer_index,
    layernorm_paths,
    require_state,
    task_copies,
    wrappers,
)
from adapterlab.errors import AdapterlabError

MODES = (
    "adapter",
    "finetune",
)  # set_trainable's modes; a PEFT method's policy is adapters/peft_methods.py's set_peft_trainable


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
        state = require_state(model, "set_trainable(model, 'adapter')")
        if not state.router.active_names:
            raise AdapterlabError(
                "set_trainable(model, 'adapter'): no adapter is active; call activate(model, NAME) first"
            )
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
    skips = {
        name: state.configs[name].skip_layers for name in state.router.active_names if state.configs[name].skip_layers
    }
    if not skips:
        return
    below_first_layer = True  # LayerNorms come in module order: the embeddings' before layer 0
    for path, norm in wrappers(model, TaskLayerNorm):
        layer = layer_index(path, state.table, model)
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

    Roles: "adapter" (Houlsby adapters, or an injected method's weights such as LoRA's A and B), "layernorm", "head", "backbone". Works with
    and without adapters.
    """
    state = adapter_state(model)
    active_names = set(state.router.active_names) if state else set()
    roles: dict[int, tuple[nn.Parameter, str, bool]] = {}
    for param in model.parameters():
        roles[id(param)] = (param, "backbone", True)
    shared = backbone_parameters(model)

    def mark(module: nn.Module, role: str, active: bool) -> None:
        for param in module.parameters():
            if id(param) not in shared:
                roles[id(param)] = (param, role, active)

    for role, paths in (("layernorm", layernorm_paths(model)), ("head", head_paths(model))):
        for path in paths:
            module = model.get_submodule(path)
            if isinstance(module, (TaskLayerNorm, TaskHead)):
                copies = task_copies(module)
                mark(module.base, role, not any(n in copies for n in active_names))
                for task, task_module in copies.items():
                    mark(task_module, role, task in active_names)
            else:
                mark(module, role, True)
    for _, site in wrappers(model, AdaptedOutput):
        for task, adapter in site.adapters.items():
            mark(adapter, "adapter", task in active_names)
    injected = injected_weights(model)
    if injected is not None:  # a method's own weights inside the encoder count as the method's, like adapters
        for name, param in model.named_parameters():
            if injected.owns(name):
                roles[id(param)] = (param, "adapter", True)
        for path in layernorm_paths(model):  # such methods train the encoder's own LayerNorms, not per-task copies
            for param in model.get_submodule(path).parameters():
                roles[id(param)] = (param, "layernorm", True)
    return list(roles.values())
