"""Selection sensitivity: how much a claim's number rests on the settings chosen on validation.
The same quantity with one selected cell at a time replaced by its runner-up (the candidate
second on mean validation), beside the validation gap between the two.

A verdict between two methods compares each at the setting chosen on validation (He et al. tune
the learning rate, and the adapter size, on dev: §3). When the runner-up is close on validation,
the choice is partly noise, and a number that changes a lot at the runner-up rests on it.

This is a description, not a test, and the verdict does not change with it. Its interval is the
fixed-n paired t interval over the seeds both cells have: narrower than a sequential row's
anytime-valid interval, unadjusted for the selection (the runner-up was ranked on the same seeds)
and for multiplicity (one interval per selected cell), and somewhat too narrow where the
sequential rule added some of its seeds.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from adapterlab.report.gates import GateContext
from adapterlab.report.grid import interval_text
from adapterlab.report.tables import Table, selection_scores
from adapterlab.setting import Column


@dataclass(frozen=True)
class Choice:
    """A selected cell's choice and its runner-up. gap: the chosen minus the runner-up mean
    validation metric, in points (×100, >= 0), on the selection's own scores (the seeds every
    candidate has); gap_se: the standard error of that gap over those seeds (None under 2 seeds
    or when seeds are unknown); axes: the selected axes, which name the settings."""

    chosen: Column
    runner_up: Column
    gap: float
    gap_se: float | None
    axes: tuple[str, ...]


@dataclass(frozen=True)
class RunnerUp:
    """One selected cell's runner-up and the claim's quantity with it.

    column: the selected column's name (e.g. "adapter m=best lr=best"; in `compare`, the method);
    chosen and runner_up: the settings on its selected axes (e.g. "m=64 lr=0.001"; rows that chose
    differently are joined by " / "); validation_gap and gap_se: Choice's gap and its standard
    error (over rows that chose differently or by other scores: the mean gap, without an error); value, ci_low, ci_high and n:
    the quantity (×100) with the runner-up in place, its fixed-n paired t 95% interval (None where
    there is none) and its seeds; gates: the validity gates the runner-up's own runs trip;
    rows: for an every-row claim, its weakest row and how many rows go the claim's way."""

    column: str
    chosen: str
    runner_up: str
    validation_gap: float
    gap_se: float | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    gates: tuple[str, ...] = ()
    rows: str = ""

    def gap_text(self) -> str:
        """How far behind the chosen setting the runner-up is on validation, in words."""
        if self.validation_gap == 0:
            return f"tied on validation with {self.chosen}"
        se = f" ± {self.gap_se:.2f}" if self.gap_se is not None else ""
        return f"validation {self.validation_gap:.2f}{se} below {self.chosen}"

    def text(self) -> str:
        shown = interval_text(self.ci_low, self.ci_high)
        interval = f" {shown}" if shown != "n/a" else ""
        number = "–" if self.value is None else f"{0.0 if abs(self.value) < 0.005 else self.value:+.2f}"  # no "-0.00"
        extra = "".join(f"; {part}" for part in (self.rows, *(f"trips {g}" for g in self.gates)) if part)
        return (
            f"{self.column} at {self.runner_up} ({self.gap_text()}): {number}{interval} "
            f"(fixed-n t), {self.n} seeds{extra}"
        )


def runner_up_of(table: Table, row: Any, column: Column) -> Choice | None:
    """The choice of a selected cell and its runner-up (a tie on validation goes to the column
    first in order, as in the selection itself). None when the cell was not chosen among two or
    more candidates, or when this table lacks a candidate (an analysis that skipped one)."""
    cell = table.cells.get((row, column))
    selection = cell.selection if cell is not None else None
    if selection is None or len(selection.candidates) < 2:
        return None
    candidates = list(selection.candidates)
    if any((row, c) not in table.cells for c in candidates):
        return None
    scores = selection_scores(row, candidates, table.cells)
    second = min((c for c in scores if c != selection.chosen), key=lambda c: (-scores[c], c.sort_key))
    by_seed = [table.cells[(row, c)].validation_by_seed() for c in candidates]
    shared = set.intersection(*(set(m) for m in by_seed)) if all(by_seed) else set()
    ours, theirs = (
        table.cells[(row, selection.chosen)].validation_by_seed(),
        table.cells[(row, second)].validation_by_seed(),
    )
    gaps = [ours[s] - theirs[s] for s in shared]
    se = statistics.stdev(gaps) / math.sqrt(len(gaps)) if len(gaps) >= 2 else None
    return Choice(selection.chosen, second, scores[selection.chosen] - scores[second], se, tuple(selection.axes))


@dataclass(frozen=True)
class _Variant:
    column: Column
    choices: tuple[Choice, ...]  # one per row
    table: Table  # the column's cells replaced, row by row, by that row's runner-up


def _variants(table: Table, columns: list[Column], rows: list[Any]) -> Iterator[_Variant]:
    """For each selected column among `columns` with a runner-up in every row: the table with the
    column's cell in each row replaced by that row's runner-up."""
    for column in columns:
        choices = [runner_up_of(table, row, column) for row in rows]
        if not rows or any(c is None for c in choices):
            continue
        found = tuple(c for c in choices if c is not None)
        replaced = dict(table.cells)
        for row, choice in zip(rows, found):
            replaced[(row, column)] = dataclasses.replace(
                table.cells[(row, choice.runner_up)], chosen=choice.runner_up.describe(choice.axes), selection=None
            )
        yield _Variant(column, found, dataclasses.replace(table, cells=replaced))


def _words(settings: list[str]) -> str:
    return " / ".join(dict.fromkeys(settings))


def runner_ups(
    table: Table,
    columns: list[Column],
    rows: list[Any],
    measure: Callable[[Table], Any],
    gates: Callable[[Any, Column], list[str]],
) -> tuple[RunnerUp, ...]:
    """The claim's quantity with each selected column of `columns` in turn at its runner-up.
    measure: the claim measured on a table (a ClaimResult: value, ci_low, ci_high, n, row_values);
    gates: the names of the gates a (row, column)'s runs trip. A runner-up with fewer than 2
    seeds in common with the other side is left out: there is nothing to describe."""
    found = []
    for variant in _variants(table, columns, rows):
        result = measure(variant.table)
        if result.n < 2:
            continue
        choices = variant.choices
        tripped = dict.fromkeys(g for row, c in zip(rows, choices) for g in gates(row, c.runner_up))
        found.append(
            RunnerUp(
                variant.column.name,
                _words([c.chosen.describe(c.axes) for c in choices]),
                _words([c.runner_up.describe(c.axes) for c in choices]),
                statistics.mean(c.gap for c in choices),
                # one choice made on the same scores in every row (RSA's layers): its error holds
                choices[0].gap_se if len(set(choices)) == 1 else None,
                result.value,
                result.ci_low,
                result.ci_high,
                result.n,
                tuple(tripped),
                _rows_text(result.row_values),
            )
        )
    return tuple(found)


def _rows_text(row_values: tuple[tuple[str, float], ...]) -> str:
    """An every-row claim's rows at the runner-up: the weakest, and how many are above 0."""
    if not row_values:
        return ""
    name, value = min(row_values, key=lambda item: item[1])
    above = sum(v > 0 for _, v in row_values)
    return f"weakest {name} {value:+.2f}, {above} of {len(row_values)} rows above 0"


def with_runner_ups(
    result: Any, table: Table, rows: list[Any], context: GateContext, measure_claim: Callable[..., Any]
) -> Any:
    """A claims row (report/claims.py's ClaimResult, over `rows` of `table`) with its runner-ups:
    each selected cell it compares (`result.compared`) at its runner-up, by `measure_claim`."""
    columns = list(dict.fromkeys(column for _, column in result.compared))
    claim = result.claim
    fixed = dataclasses.replace(context, sequential=False)  # a description: the fixed-n t interval
    found = runner_ups(
        table,
        columns,
        rows,
        lambda variant: measure_claim(claim, variant, result.study, fixed),
        lambda row, column: [t.gate for t in context.trips(claim.table, row, column)],
    )
    return dataclasses.replace(result, runner_ups=found)
