"""The `report:` block of a study spec: how `study report` lays out its tables.

```yaml
report: {layout: paper}     # a row per setting, a column per task (as the paper prints them)
report: {layout: tasks-as-rows}
report: {select: [lr, adapter_size]}   # tuned on validation per task and method (default: [adapter_size])
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from adapterlab.setting import Column

Layout = Literal["paper", "tasks-as-rows"]
LAYOUTS: tuple[str, ...] = get_args(Layout)


DEFAULT_SELECT = ("adapter_size",)
# Axes a report may select on validation: the adapter size and any run setting a grid varies.
SELECTABLE = (
    "adapter_size",
    "lr",
    "batch_size",
    "epochs",
    "train_size",
    "warmup_ratio",
    "weight_decay",
    "max_length",
    "tapt",
    "tapt_epochs",
    "tapt_lr",
    "nonlinearity",
    "placement",
    "skip_layers",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
)


@dataclass(frozen=True)
class ReportOptions:
    layout: str = "paper"  # one of LAYOUTS
    # grid axes chosen per task and method by the mean validation metric over seeds (never the
    # test metric); the report shows the chosen value and keeps every setting's own column
    select: tuple[str, ...] = DEFAULT_SELECT

    @classmethod
    def from_raw(cls, raw: object) -> ReportOptions:
        """From a checked block (see check_report); an absent block gives the defaults."""
        if not isinstance(raw, dict):
            return cls()
        values = dict(raw)
        if "select" in values:
            values["select"] = tuple(values["select"])
        return cls(**values)


def selection_groups(columns: list[Column], select: tuple[str, ...]) -> dict[Column, list[Column]]:
    """The columns a report selects on validation, each with the columns it is chosen from (those
    that differ only in the `select` axes), in column order; {} when no group has a choice. A group
    with one member gets its selected column too when another group has a choice, so that every
    method's selected column has its partner (adapter lr=best vs fine-tuning lr=best when
    fine-tuning tried one rate)."""
    groups: dict[Column, list[Column]] = {}
    for column in columns:
        selected = column.selected(select)
        if selected is not None:
            groups.setdefault(selected, []).append(column)
    return groups if any(len(members) > 1 for members in groups.values()) else {}


def check_report(report: object, source: str) -> list[str]:
    """One error line per problem of the report block."""
    if report in (None, {}):
        return []
    if not isinstance(report, dict):
        return [f"{source}: report must be a mapping such as {{layout: paper}}"]
    errors = [
        f"{source}: report.{key}: unknown field; allowed: layout, select"
        for key in report
        if key not in ("layout", "select")
    ]
    if "layout" in report and report["layout"] not in LAYOUTS:
        errors.append(f"{source}: report.layout={report['layout']!r}: allowed: {', '.join(LAYOUTS)}")
    select = report.get("select", [])
    if not isinstance(select, list) or not all(isinstance(axis, str) for axis in select):
        errors.append(f"{source}: report.select={select!r}: must be a list of grid axes, e.g. [lr, adapter_size]")
    else:
        errors.extend(
            f"{source}: report.select: {axis!r} cannot be selected; allowed: {', '.join(SELECTABLE)}"
            for axis in select
            if axis not in SELECTABLE
        )
    return errors
