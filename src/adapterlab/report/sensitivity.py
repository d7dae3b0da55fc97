"""How much a claim's number rests on the choice of its selected cells: the same quantity with one
selected cell replaced by its runner-up (the candidate second on mean validation).

A verdict between two methods compares each at the setting chosen on validation (He et al. tune
the learning rate on dev, §3). When the runner-up is close on validation, that choice is partly
noise, and a number that changes a lot at the runner-up rests on it. This is a description, not a
test: the verdict does not change with it. The runner-up's interval is the fixed-n paired t
interval over the seeds both cells have, so it is narrower than a sequential row's anytime-valid
interval, and somewhat too narrow where the sequential rule added some of those seeds. The results page reads it as a sensitivity of the row.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from adapterlab.report.tables import Table, selection_scores
from adapterlab.setting import Column


@dataclass(frozen=True)
class RunnerUp:
    """One selected cell's runner-up and the claim's quantity with it.

    column: the selected column (e.g. "adapter m=best lr=best"); chosen and runner_up: the settings
    on its selected axes (e.g. "m=64 lr=0.001"); validation_gap: how far the runner-up's mean
    validation metric is below the chosen one's, in points (×100), over the seeds both have;
    value, ci_low, ci_high and n: the claim's quantity (×100), its paired t 95% interval and its
    seeds with the runner-up in place of the chosen cell (None where there is no interval)."""

    column: str
    chosen: str
    runner_up: str
    validation_gap: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def text(self) -> str:
        finite = all(v is not None and math.isfinite(v) for v in (self.ci_low, self.ci_high))
        interval = f" [{self.ci_low:+.2f}, {self.ci_high:+.2f}]" if finite else ""
        number = "–" if self.value is None else f"{self.value:+.2f}"
        return (
            f"at the runner-up {self.runner_up} of {self.column} (validation {self.validation_gap:.2f} "
            f"below {self.chosen}): {number}{interval}, {self.n} seed(s)"
        )


@dataclass(frozen=True)
class _Variant:
    column: Column
    chosen: str
    runner_up: str
    gap: float
    table: Table


@dataclass(frozen=True)
class Choice:
    """A selected cell's choice and its runner-up; gap: validation points between them (>= 0);
    axes: the selected axes, which name the two settings (Column.describe)."""

    chosen: Column
    runner_up: Column
    gap: float
    axes: tuple[str, ...]


def runner_up_of(table: Table, row: Any, column: Column) -> Choice | None:
    """The choice of a selected cell and its runner-up: the candidate second on
    the selection's own scores (mean validation over the seeds every candidate has). None when
    the cell was not chosen among two or more candidates, or when this table lacks a candidate
    (an analysis that skipped one: no ranking to read)."""
    cell = table.cells.get((row, column))
    selection = cell.selection if cell is not None else None
    if selection is None or len(selection.candidates) < 2:
        return None
    if any((row, c) not in table.cells for c in selection.candidates):
        return None
    scores = selection_scores(row, list(selection.candidates), table.cells)
    # a tie on validation goes to the column first in order, as in the selection itself
    second = min((c for c in scores if c != selection.chosen), key=lambda c: (-scores[c], c.sort_key))
    return Choice(selection.chosen, second, scores[selection.chosen] - scores[second], tuple(selection.axes))


def _variants(table: Table, columns: list[Column], rows: list[Any]) -> Iterator[_Variant]:
    """For each selected column among `columns`: the table with that column's cells (in `rows`)
    replaced by their runner-up's. A column without a runner-up in some row, or whose rows chose
    differently, has no variant."""
    for column in columns:
        picks = {runner_up_of(table, row, column) for row in rows}
        if len(picks) != 1 or None in picks:
            continue
        choice = picks.pop()
        assert choice is not None
        second = choice.runner_up.describe(choice.axes)
        replaced = dict(table.cells)
        for row in rows:
            replaced[(row, column)] = dataclasses.replace(
                table.cells[(row, choice.runner_up)], chosen=second, selection=None
            )
        yield _Variant(
            column, choice.chosen.describe(choice.axes), second, choice.gap, dataclasses.replace(table, cells=replaced)
        )


def runner_ups(
    table: Table, columns: list[Column], rows: list[Any], measure: Callable[[Table], Any]
) -> tuple[RunnerUp, ...]:
    """The claim's quantity (`measure`: the claim measured on a table, a ClaimResult) with each
    selected column of `columns` in turn at its runner-up."""
    found = []
    for variant in _variants(table, columns, rows):
        result = measure(variant.table)
        if not result.n:
            continue  # no seed both cells have (e.g. C6's seeds without a tail): nothing to say
        found.append(
            RunnerUp(
                variant.column.name,
                variant.chosen,
                variant.runner_up,
                variant.gap,
                result.value,
                result.ci_low,
                result.ci_high,
                result.n,
            )
        )
    return tuple(found)
