"""Where the adapter machinery sits in a Hugging Face encoder: the task model's encoder, head and
LayerNorms, the adapter sites of an architecture table, and the wrappers that `add_adapters` puts
there (layer.py). Reading the structure changes nothing; injection.py and freezing.py act on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar, cast

from torch import nn

from adapterlab.adapters.architectures import ArchitectureTable
from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.layer import AdaptedOutput, Router, TaskHead, TaskLayerNorm
from adapterlab.errors import AdapterlabError

STATE_ATTR = "adapterlab_state"
INJECTED_ATTR = (
    "adapterlab_injected"  # an InjectedWeights, set by a method that adds weights inside the encoder's layers
)
WRAPPERS = (AdaptedOutput, TaskLayerNorm, TaskHead)
W = TypeVar("W", bound=nn.Module)


@dataclass(frozen=True)
class InjectedWeights:
    """What a method that puts its own weights inside the encoder's modules records on the model
    (PEFT's methods: adapters/peft_methods.py), so that parameter_roles counts them as the method's
    without knowing the method: the marks its parameter names contain. Such a method trains the
    encoder's own LayerNorms, not per-task copies."""

    method: str
    marks: tuple[str, ...]

    def owns(self, parameter_name: str) -> bool:
        return any(mark in parameter_name for mark in self.marks)


def injected_weights(model: nn.Module) -> InjectedWeights | None:
    return getattr(model, INJECTED_ATTR, None)


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


def adapter_state(model: nn.Module) -> AdapterState | None:
    return getattr(model, STATE_ATTR, None)


def base_model_of(model: nn.Module) -> tuple[str, nn.Module]:
    """(path, module) of the encoder inside a task model; ("", model) for a bare encoder."""
    base = getattr(model, "base_model", None)
    if not isinstance(base, nn.Module) or not hasattr(model, "config"):
        raise AdapterlabError(
            f"{type(model).__name__} is not a Hugging Face PreTrainedModel; adapterlab needs model.config and model.base_model"
        )
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
        paths = [
            name
            for name, child in model.named_children()
            if child is not base and any(True for _ in child.parameters())
        ]
    pooler = getattr(base, "pooler", None)
    if isinstance(pooler, nn.Module) and any(True for _ in pooler.parameters()):
        paths.append(join_path(base_path, "pooler"))
    return paths


def layernorm_paths(model: nn.Module) -> list[str]:
    """Every LayerNorm of the encoder (those inside the head travel with the head)."""
    base_path, base = base_model_of(model)
    heads = set(head_paths(model))
    found = []
    for path, module in walk(base, base_path):
        if path in heads:
            continue
        if isinstance(module, (nn.LayerNorm, TaskLayerNorm)) and not _inside(path, heads):
            found.append(path)
    return found


def walk(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
    """Pre-order walk that yields wrappers but does not descend into them."""
    yield prefix, module
    if isinstance(module, WRAPPERS):
        return
    for name, child in module.named_children():
        yield from walk(child, join_path(prefix, name))


def _inside(path: str, roots: set[str]) -> bool:
    return any(path.startswith(root + ".") for root in roots)


def join_path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def replace_module(model: nn.Module, path: str, new: nn.Module) -> None:
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
    layers_path = join_path(base_path, table.layers)
    layers = _get(model, layers_path, "layers")
    if not isinstance(layers, (nn.ModuleList, nn.Sequential)):
        raise AdapterlabError(
            f"model_type {model_type_of(model)!r}: layers path {layers_path!r} is a {type(layers).__name__}, expected a ModuleList"
        )
    sites = []
    for index in range(len(layers)):
        for kind, rel in (("attention", table.attention_output), ("ffn", table.ffn_output)):
            path = f"{layers_path}.{index}.{rel}"
            _get(model, path, f"{kind} output")
            sites.append((index, kind, path))
    return sites


def wrappers(model: nn.Module, kind: type[W] | tuple[type[W], ...]) -> list[tuple[str, W]]:
    return [(path, module) for path, module in walk(model, "") if isinstance(module, kind)]


def wrap_sites(model: nn.Module, state: AdapterState, sites: list[tuple[int, str, str]]) -> None:
    router = state.router
    for path in head_paths(model):
        replace_module(model, path, TaskHead(model.get_submodule(path), router, path))
    for path in layernorm_paths(model):
        replace_module(model, path, TaskLayerNorm(cast(nn.LayerNorm, model.get_submodule(path)), router, path))
    for _, _, path in sites:
        replace_module(model, path, AdaptedOutput(model.get_submodule(path), router, path))


def site_position(path: str, table: ArchitectureTable, model: nn.Module) -> tuple[int, str]:
    layer = layer_index(path, table, model)
    assert layer is not None, path
    rel = path[len(_layers_prefix(table, model)) :].partition(".")[2]
    return layer, "attention" if rel == table.attention_output else "ffn"


def _layers_prefix(table: ArchitectureTable, model: nn.Module) -> str:
    base_path, _ = base_model_of(model)
    return join_path(base_path, table.layers) + "."


def layer_index(path: str, table: ArchitectureTable, model: nn.Module) -> int | None:
    """The encoder layer a module path lies in, or None outside the layers."""
    prefix = _layers_prefix(table, model)
    return int(path[len(prefix) :].partition(".")[0]) if path.startswith(prefix) else None


def backbone_parameters(model: nn.Module) -> set[int]:
    """ids of parameters the encoder owns outside any per-task copy (tied weights included)."""
    _, base = base_model_of(model)
    owned: set[int] = set()
    for _, module in walk(base, ""):
        if isinstance(module, TaskHead):
            continue  # the pooler belongs to the head
        if isinstance(module, (AdaptedOutput, TaskLayerNorm)):
            owned.update(id(p) for p in module.base.parameters())
        elif not isinstance(module, WRAPPERS):
            owned.update(id(p) for p in module.parameters(recurse=False))
    pooler = getattr(base, "pooler", None)
    if isinstance(pooler, nn.Module) and not isinstance(pooler, TaskHead):
        owned.difference_update(id(p) for p in pooler.parameters())
    return owned


def hidden_size_of(model: nn.Module) -> int:
    hidden = getattr(model.config, "hidden_size", None)
    if not isinstance(hidden, int):
        raise AdapterlabError(f"model_type {model_type_of(model)!r}: config has no integer hidden_size")
    return hidden


def task_copies(wrapper: nn.Module) -> nn.ModuleDict:
    if isinstance(wrapper, AdaptedOutput):
        return wrapper.adapters
    return wrapper.layernorms if isinstance(wrapper, TaskLayerNorm) else cast(TaskHead, wrapper).heads


def require_state(model: nn.Module, caller: str) -> AdapterState:
    state = adapter_state(model)
    if state is None:
        raise AdapterlabError(f"{caller}: the model has no adapters; call adapterlab.add_adapters first")
    return state


def check_known(state: AdapterState, name: str) -> None:
    if name not in state.configs:
        known = ", ".join(state.configs) or "none"
        raise AdapterlabError(f"no adapter named {name!r} on this model (adapters: {known})")
