"""The adapter module and the three wrappers that put per-task weights into a frozen encoder.

- BottleneckAdapter: Houlsby's adapter, h' = f2(act(f1(h))) + h (He et al. 2021, eq. 1).
- AdaptedOutput: wraps a sublayer's output module and applies the active task's adapter to it.
- TaskLayerNorm / TaskHead: hold one copy of a LayerNorm or of the task head per task, because
  the paper trains LayerNorms and the head along with the adapters.
All wrappers read one shared Router that says which task each example belongs to. A task's
modules may be float32 on a half-precision backbone (see add_adapters): each runs in its own
dtype and hands its output back in the dtype it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from adapterlab.adapters.config import AdapterConfig
from adapterlab.errors import AdapterlabError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "swish": nn.SiLU,
}


class BottleneckAdapter(nn.Module):
    """down (d->m) -> nonlinearity -> up (m->d), plus the skip connection inside the adapter."""

    def __init__(self, hidden_size: int, config: AdapterConfig):
        super().__init__()
        self.down = nn.Linear(hidden_size, config.size)
        self.act = ACTIVATIONS[config.nonlinearity]()
        self.up = nn.Linear(config.size, hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.reset_parameters(config)

    def reset_parameters(self, config: AdapterConfig) -> None:
        # adapter-bert draws both projections from a truncated normal with std 1e-3 and zero
        # biases, so that f2(act(f1(h))) ~ 0 and the whole adapter starts near the identity.
        std = config.init_std
        nn.init.trunc_normal_(self.down.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(self.down.bias)
        if config.init == "zero_up":
            nn.init.zeros_(self.up.weight)
        else:
            nn.init.trunc_normal_(self.up.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, d)
        x = hidden.to(self.down.weight.dtype)  # a no-op unless the backbone is in half precision
        out: torch.Tensor = x + self.dropout(self.up(self.act(self.down(x))))
        return out.to(hidden.dtype)


class SharedWeightLinear(nn.Linear):
    """A Linear in a task's head copy whose weight is the backbone's (a tied MLM decoder) and in
    another dtype than the copy: it computes in the weight's dtype and returns the input's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = self.weight.dtype
        bias = None if self.bias is None else self.bias.to(dtype)
        return F.linear(x.to(dtype), self.weight, bias).to(x.dtype)


@dataclass
class Router:
    """Which task the forward pass serves: one name for the whole batch, or one per example."""

    active: str | None = None
    per_example: tuple[str, ...] | None = None
    _groups: dict[torch.device, tuple[list[tuple[str, torch.Tensor]], torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

    def set_single(self, name: str | None) -> None:
        self.active, self.per_example, self._groups = name, None, {}

    def set_per_example(self, names: Sequence[str]) -> None:
        self.active, self.per_example, self._groups = None, tuple(names), {}

    @property
    def active_names(self) -> tuple[str, ...]:
        if self.per_example is not None:
            return tuple(dict.fromkeys(self.per_example))
        return () if self.active is None else (self.active,)

    def groups(
        self, device: torch.device, batch: int, where: str
    ) -> tuple[list[tuple[str, torch.Tensor]], torch.Tensor]:
        """Row indices per task, and the permutation that puts the concatenated groups back in order."""
        assert self.per_example is not None
        if batch != len(self.per_example):
            raise AdapterlabError(
                f"mixed-task batch: {len(self.per_example)} adapter names were activated but {where} "
                f"got a tensor with {batch} rows; pass exactly one name per example"
            )
        if device not in self._groups:
            names = self.per_example
            order: list[int] = []
            groups = []
            for name in dict.fromkeys(names):
                rows = [i for i, n in enumerate(names) if n == name]
                order.extend(rows)
                groups.append((name, torch.tensor(rows, device=device)))
            inverse = torch.empty(len(order), dtype=torch.long)
            inverse[torch.tensor(order)] = torch.arange(len(order))
            self._groups[device] = (groups, inverse.to(device))
        return self._groups[device]


def apply_per_task(
    x: torch.Tensor, router: Router, where: str, fn: Callable[[str, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Run fn(task, rows) for each task's rows of a mixed batch and restore the original row order."""
    groups, inverse = router.groups(x.device, x.shape[0], where)
    pieces = [fn(name, x.index_select(0, rows)) for name, rows in groups]
    return torch.cat(pieces).index_select(0, inverse)


class _Wrapper(nn.Module):
    """Common part of the wrappers: the original module lives on as `base`, untouched."""

    def __init__(self, base: nn.Module, router: Router, path: str):
        super().__init__()
        self.base = base
        self.router = router
        self.path = path  # where the wrapped module sits in the model, for pack keys and errors

    # Any: the wrapped transformers module may hold anything (a config, a tensor, a submodule)
    def __getattr__(self, name: str) -> Any:
        # HF code sometimes reads attributes of the module we replaced (e.g. a head's decoder);
        # let those reads reach the original module.
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("base"), name)


class AdaptedOutput(_Wrapper):
    """A sublayer's output module followed by the active task's adapter.

    Wrapping the module that ends a sublayer (its dropout, or its output projection when no
    dropout follows it) places the adapter after the projection and dropout and before the
    residual add and LayerNorm, as in Houlsby et al. and AdapterHub's double_seq_bn.
    """

    def __init__(self, base: nn.Module, router: Router, path: str):
        super().__init__(base, router, path)
        self.adapters = nn.ModuleDict()

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        hidden: torch.Tensor = self.base(*args, **kwargs)
        router = self.router
        if router.per_example is not None:
            adapters = self.adapters
            return apply_per_task(
                hidden, router, self.path, lambda name, rows: adapters[name](rows) if name in adapters else rows
            )
        if router.active is not None and router.active in self.adapters:
            adapted: torch.Tensor = self.adapters[router.active](hidden)
            return adapted
        return hidden


class TaskLayerNorm(_Wrapper):
    """A LayerNorm with one trainable copy per task; `base` keeps the pretrained values."""

    def __init__(self, base: nn.LayerNorm, router: Router, path: str):
        super().__init__(base, router, path)
        self.layernorms = nn.ModuleDict()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        router = self.router
        if router.per_example is not None:
            norms = self.layernorms
            return apply_per_task(
                hidden,
                router,
                self.path,
                lambda name, rows: _norm(cast(nn.LayerNorm, norms[name]), rows) if name in norms else self.base(rows),
            )
        if router.active is not None and router.active in self.layernorms:
            return _norm(cast(nn.LayerNorm, self.layernorms[router.active]), hidden)
        out: torch.Tensor = self.base(hidden)
        return out


def _norm(norm: nn.LayerNorm, hidden: torch.Tensor) -> torch.Tensor:
    """A task's LayerNorm copy in its own dtype; the output in the dtype of `hidden`."""
    dtype = hidden.dtype if norm.weight is None else norm.weight.dtype
    out: torch.Tensor = norm(hidden.to(dtype))
    return out.to(hidden.dtype)


class TaskHead(_Wrapper):
    """The task head (classifier, pooler, MLM head) with one copy per task.

    In a mixed-task batch the tasks' heads may have different output sizes; rows are then padded
    on the last dimension with -inf, which leaves softmax and argmax of each row unchanged.
    """

    def __init__(self, base: nn.Module, router: Router, path: str):
        super().__init__(base, router, path)
        self.heads = nn.ModuleDict()

    # Any: a head returns what the (untyped) transformers head it copies returns, a tensor or a tuple
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        router = self.router
        if router.per_example is not None:
            return self._forward_mixed(args, kwargs)
        if router.active is not None and router.active in self.heads:
            return _run_head(self.heads[router.active], args, kwargs)
        return self.base(*args, **kwargs)

    def _forward_mixed(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
        split: tuple[list[tuple[str, torch.Tensor]], torch.Tensor] | None = None
        assert self.router.per_example is not None
        batch = len(self.router.per_example)
        for value in list(args) + list(kwargs.values()):
            if isinstance(value, torch.Tensor):
                split = self.router.groups(value.device, value.shape[0], self.path)
                break
        if split is None:
            raise AdapterlabError(f"mixed-task batch: head {self.path} got no tensor input to split by task")
        groups, inverse = split

        def rows_of(value: Any, rows: torch.Tensor) -> Any:
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
                return value.index_select(0, rows)
            return value

        pieces = []
        for name, rows in groups:
            head = self.heads[name] if name in self.heads else self.base
            out = _run_head(
                head, tuple(rows_of(a, rows) for a in args), {k: rows_of(v, rows) for k, v in kwargs.items()}
            )
            if not isinstance(out, torch.Tensor):
                raise AdapterlabError(
                    f"mixed-task batch: head {self.path} returned {type(out).__name__}, expected a tensor"
                )
            pieces.append(out)
        width = max(p.shape[-1] for p in pieces)
        pieces = [F.pad(p, (0, width - p.shape[-1]), value=float("-inf")) if p.shape[-1] < width else p for p in pieces]
        return torch.cat(pieces).index_select(0, inverse)


def _run_head(head: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a head in its own dtype (its first parameter's): floating tensor inputs are cast to
    it, and floating tensor outputs back to the dtype of the first floating input (the backbone's)."""
    values = list(args) + list(kwargs.values())
    given = next((v.dtype for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()), None)
    first = next(head.parameters(), None)
    if given is None or first is None or first.dtype == given:
        return head(*args, **kwargs)
    own = first.dtype

    def to_dtype(value: Any, dtype: torch.dtype) -> Any:
        return value.to(dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    out = head(*(to_dtype(a, own) for a in args), **{k: to_dtype(v, own) for k, v in kwargs.items()})
    if type(out) in (tuple, list):
        return type(out)(to_dtype(o, given) for o in out)
    return to_dtype(out, given)
