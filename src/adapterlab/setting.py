"""A study's grid point without its seed (Setting), and the table column it makes (Column).

Both are typed, so nothing parses a folder or column name back: a Setting makes its folder name
and its Column; a Column makes its display name, its order among columns, its fine-tuning
partner and its best-adapter-size summary. Study specs, the executor and the report all use
this module, which imports none of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterlab.names import Method

BEST = "best"  # adapter_size of the column that picks the size on validation (the paper's "Adapter (best)")
# Grid axes whose values are paths: a folder name keeps their last part and a hash.
PATH_AXES = {"model", "train", "dev", "test", "hub"}
SAFE_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+-]*$")
_NAMED = ("method", "adapter_size", "train_size", "lr")


@dataclass(frozen=True)
class Column:
    """The grid labels of a setting other than its task: one column of a report table.

    A field that is None is not part of the setting (e.g. lr when the grid does not vary it);
    `axes` holds every other grid axis as sorted (name, value) pairs."""

    method: Method | None = None
    adapter_size: int | str | None = None  # an int, BEST, or None (not an adapter setting)
    train_size: int | None = None
    lr: float | None = None
    axes: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_labels(cls, labels: Mapping[str, Any]) -> Column:
        """From a labels mapping (study.json, a reference entry); task and seed are ignored."""
        named = {key: labels[key] for key in _NAMED if key in labels}
        axes = tuple(sorted((k, v) for k, v in labels.items() if k not in _NAMED and k not in ("task", "seed")))
        return cls(**named, axes=axes)

    def labels(self) -> dict[str, Any]:
        named = {key: getattr(self, key) for key in _NAMED if getattr(self, key) is not None}
        return {**named, **dict(self.axes)}

    @property
    def name(self) -> str:
        """The display name, e.g. "k=1000 adapter m=64 lr=0.0001 tapt=True"."""
        parts = []
        if self.train_size is not None:
            parts.append(f"k={self.train_size}")
        if self.method is not None:
            parts.append(str(self.method))
        if self.adapter_size is not None:
            parts.append(f"m={self.adapter_size}")
        if self.lr is not None:
            parts.append(f"lr={self.lr:g}" if isinstance(self.lr, float) else f"lr={self.lr}")
        parts.extend(f"{key}={value}" for key, value in self.axes)
        return " ".join(parts)

    def __str__(self) -> str:
        return self.name

    def only(self, *fields: str) -> Column:
        """This column with only the given labels (e.g. method and adapter_size for a legend)."""
        return Column.from_labels({k: v for k, v in self.labels().items() if k in fields})

    def without(self, *fields: str) -> Column:
        """This column without the given labels (the rest of a setting a figure does not show)."""
        return Column.from_labels({k: v for k, v in self.labels().items() if k not in fields})

    @property
    def sort_key(self) -> tuple[int, int, bool, int, float, str]:
        """k, then fine-tuning before adapters, then the best-size column after the sizes, then
        adapter size and learning rate as numbers, then the other axes."""
        size = self.adapter_size if isinstance(self.adapter_size, int) else 0
        lr = self.lr if isinstance(self.lr, (int, float)) else 0.0
        rest = " ".join([*([str(self.method)] if self.method is not None else []), *(f"{k}={v}" for k, v in self.axes)])
        return (self.train_size or 0, 0 if self.method == "finetune" else 1, self.adapter_size == BEST, size, lr, rest)

    def partner(self, own_axes: Collection[str] = ()) -> Column | None:
        """The fine-tuning column an adapter (or PEFT method) column is compared with: the same other
        settings, without the method's own (the adapter size, and `own_axes`: its registered
        Method's own_axes, e.g. a PEFT method's lora_r)."""
        if self.method in (None, "finetune"):
            return None
        axes = tuple((k, v) for k, v in self.axes if k not in own_axes)
        return dataclasses.replace(self, method="finetune", adapter_size=None, axes=axes)

    def best_size(self) -> Column | None:
        """The best-size column that summarises this sized adapter column."""
        return self.selected(("adapter_size",))

    def selected(self, axes: Iterable[str]) -> Column | None:
        """This column with each of `axes` it has set to BEST (chosen on validation); None when
        it has none of them (or already shows them as BEST)."""
        labels = self.labels()
        present = [axis for axis in axes if axis in labels and labels[axis] != BEST]
        if not present:
            return None
        return Column.from_labels({**labels, **dict.fromkeys(present, BEST)})

    def replace_best(self, value: Any) -> Column:
        """This column with every BEST label replaced by `value` (None drops them)."""
        labels = {k: (value if v == BEST else v) for k, v in self.labels().items()}
        return Column.from_labels({k: v for k, v in labels.items() if v is not None})

    def describe(self, axes: Iterable[str]) -> str:
        """The values of `axes` in this column, as a table shows them: "m=64 lr=0.0001"."""
        return self.only(*axes).without("method").name


@dataclass(frozen=True)
class Setting:
    """One grid point of a study without its seed: a task and a column."""

    task: str
    column: Column

    @classmethod
    def from_labels(cls, labels: Mapping[str, Any]) -> Setting:
        return cls(str(labels["task"]), Column.from_labels(labels))

    def labels(self) -> dict[str, Any]:
        """The labels stored in study.json: task, method, adapter_size, then the grid axes."""
        return {"task": self.task, **self.column.labels()}

    def folder_name(self, learning_rate: float, train_size: int | None) -> str:
        """The settings folder of its runs (seed=N/ below it). The learning rate and k always
        appear, grid axes or not, so two settings never share a folder."""
        column = self.column
        parts = [str(column.method)]
        if column.method == "adapter" and column.adapter_size is not None:
            parts.append(f"m{column.adapter_size}")
        parts.append(f"lr{learning_rate:g}")
        if train_size is not None:
            parts.append(f"k{train_size}")
        parts.extend(f"{axis}{folder_value(axis, value)}" for axis, value in column.axes)
        return f"{self.task}/" + "-".join(parts)


def folder_value(axis: str, value: Any) -> str:
    """A grid value as part of a folder name. Paths (a grid over backbones or data files) become
    their last component plus a short hash of the whole path, so no separator reaches the name."""
    if axis in PATH_AXES and not (isinstance(value, str) and SAFE_NAME.match(value)):
        name = re.sub(r"[^A-Za-z0-9_.+-]", "_", Path(str(value)).name).lstrip(".-") or "path"
        return f"{name}.{hashlib.sha1(str(value).encode()).hexdigest()[:8]}"
    return str(value)
