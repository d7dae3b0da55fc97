"""Aggregation over seeds into tables: mean ± std per cell, averages across tasks, the columns
selected on validation, reference numbers, and the significance tests of each method against
fine-tuning and adapters. report/views.py turns a Table into what every format prints."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterlab.methods import find_method, method_words, own_axes_of
from adapterlab.names import Status
from adapterlab.report.gates import RunEvidence, Selection
from adapterlab.report.statistics import (
    ALPHA,
    MIN_SEEDS_FOR_VERDICT,
    SignificanceTest,
    fdr_adjust,
    paired_comparison,
    welch_comparison,
)
from adapterlab.runs import RunRecord
from adapterlab.setting import BEST, Column
from adapterlab.study.report_spec import selection_groups


@dataclass(frozen=True)
class Cell:
    """One table cell: a setting's test metric over seeds (in percent)."""

    values: tuple[float, ...]
    validation: tuple[float, ...] = ()
    reference: float | None = None
    diverged: int = 0
    failed: int = 0
    seeds: tuple[Any, ...] = ()  # the seed of each value (same order), when known: pairs adapter and fine-tuning runs
    chosen: str = ""  # a selected column's cell: the setting chosen on validation, e.g. "m=64 lr=0.0001"
    evidence: tuple[RunEvidence, ...] = ()  # what each run's records say for the validity gates (report/gates.py)
    selection: Selection | None = None  # a selected column's cell: the column chosen and its candidates
    folders: tuple[Path, ...] = ()  # the run folders behind the values (the report links a cell to them)

    def by_seed(self) -> dict[Any, float]:
        return dict(zip(self.seeds, self.values)) if len(self.seeds) == len(self.values) else {}

    def validation_by_seed(self) -> dict[Any, float]:
        return dict(zip(self.seeds, self.validation)) if self.seeds and len(self.seeds) == len(self.validation) else {}

    @property
    def mean(self) -> float:
        return statistics.mean(self.values) if self.values else float("nan")

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


@dataclass(frozen=True)
class Observation:
    """One run's number for one table cell. `row` is what the table's rows are (a task, a
    language, a layer); values are fractions (tables show ×100)."""

    row: Any
    column: Column
    metric: str
    test: float | None
    validation: float | None = None
    status: Status = "ok"
    seed: int | None = None
    evidence: RunEvidence | None = None
    folder: Path | None = None  # the run's folder


def observations_of(
    records: list[RunRecord], evidence: Mapping[Path | None, RunEvidence | None] | None = None
) -> list[Observation]:
    """The main table's observations: one per run record, its task as the row; `evidence`:
    {run folder: RunEvidence} for the validity gates."""
    evidence = evidence or {}
    return [
        Observation(
            r.setting.task,
            r.setting.column,
            r.result.metric or "",
            r.result.test_metric,
            r.result.validation_metric,
            r.result.status,
            r.seed,
            evidence.get(r.folder),
            r.folder,
        )
        for r in records
    ]


@dataclass(frozen=True)
class Table:
    """Rows are tasks (plus 'average'), languages, or layers; columns are settings (typed
    Columns); a cell holds one setting's values over seeds."""

    title: str
    metric_by_row: dict[Any, str]
    columns: list[Column]
    cells: dict[tuple[Any, Column], Cell]
    significance: list[SignificanceTest] = field(default_factory=list)
    row_header: str = "task"
    caption: str = "test metric ×100, mean<sub>std</sub> over seeds; (paper's number) where the spec has one"
    layout: str = "paper"  # one of study.report_spec.LAYOUTS; see _grid

    @property
    def rows(self) -> list[Any]:
        return list(self.metric_by_row)

    def cell(self, row: Any, column: Column | str) -> Cell | None:
        """The cell of `row` and `column` (a Column, or its display name)."""
        found = next((c for c in self.columns if c.name == column), None) if isinstance(column, str) else column
        return None if found is None else self.cells.get((row, found))

    def row_name(self, row: Any) -> str:
        return f"layer {row}" if self.row_header == "layer" and isinstance(row, int) else str(row)


def percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def build_table(
    title: str,
    observations: list[Observation],
    reference: list[dict[str, Any]] | None = None,
    average_row: bool = True,
    select: tuple[str, ...] = ("adapter_size",),
    anytime: bool = False,
    **shape: Any,
) -> Table:
    """Seeds of one setting form one cell (mean ± std); then the columns selected on validation
    (`select`: the grid axes tuned per task and method, see add_selected_columns), the average row
    (average_row: off where rows are not tasks) and the adapter-vs-fine-tuning tests.
    reference: the spec's entries, each naming a row by its `task` key and a column by its
    labels. shape: the Table's row_header, caption and layout."""
    groups: dict[tuple[Any, Column], list[Observation]] = {}
    metric_by_row: dict[Any, str] = {}
    columns: list[Column] = []
    for item in observations:
        metric_by_row.setdefault(item.row, item.metric or "")
        if item.column not in columns:
            columns.append(item.column)
        groups.setdefault((item.row, item.column), []).append(item)
    cells = {}
    for (row, column), items in groups.items():
        ok = [o for o in items if o.status in ("ok", "diverged") and o.test is not None]
        cells[(row, column)] = Cell(
            seeds=tuple(o.seed for o in ok) if all(o.seed is not None for o in ok) else (),
            values=tuple(100.0 * o.test for o in ok if o.test is not None),
            validation=tuple(100.0 * o.validation for o in ok if o.validation is not None),
            reference=_reference_for(reference or [], row, column),
            diverged=sum(o.status == "diverged" for o in items),
            failed=sum(o.status == "failed" for o in items),
            evidence=tuple(o.evidence for o in ok if o.evidence is not None),
            folders=tuple(o.folder for o in ok if o.folder is not None),
        )
    columns.sort(key=lambda column: column.sort_key)
    table = Table(title, metric_by_row, columns, cells, row_header=shape.get("row_header", "task"))
    table = add_selected_columns(table, select, reference)
    if average_row:
        table = add_average_row(table)
    return Table(
        table.title,
        table.metric_by_row,
        table.columns,
        table.cells,
        significance_tests(table, anytime=anytime),
        **shape,
    )


def _reference_for(reference: list[dict[str, Any]], row: Any, column: Column) -> float | None:
    for item in reference:
        labels = {k: v for k, v in item.items() if k not in ("value", "std", "note")}
        if labels.get("task") == row and Column.from_labels(labels) == column:
            return float(item["value"])
    return None


def add_selected_columns(table: Table, select: tuple[str, ...], reference: list[dict[str, Any]] | None = None) -> Table:
    """Selection on validation (He et al. tune the learning rate, and for adapters the size, on
    dev). Columns that differ only in the `select` axes form a group; its selected column (those
    axes shown as "best") holds, per row, the cell of the member with the best MEAN VALIDATION
    metric over seeds, never the test metric. Rules: members without validation metrics are not
    candidates (no candidate, no cell); a tie goes to the member first in column order (the
    smaller size, the smaller learning rate). A selected cell's reference is the spec's entry for
    the selected column itself (e.g. adapter_size: best), when there is one."""
    groups = selection_groups(table.columns, select)
    if not groups:  # no choice anywhere: nothing to select
        return table
    cells = dict(table.cells)
    columns = list(table.columns)
    for selected, members in groups.items():
        for row in table.rows:
            candidates = [c for c in members if (row, c) in cells and cells[(row, c)].validation]
            if not candidates:
                continue
            score = selection_scores(row, candidates, cells)
            best = max(score.values())
            chosen = min((c for c in candidates if score[c] == best), key=lambda c: c.sort_key)
            own = _reference_for(reference or [], row, selected)
            cells[(row, selected)] = dataclasses.replace(
                cells[(row, chosen)],
                reference=own,
                chosen=chosen.describe(select),
                selection=Selection(chosen, tuple(candidates), tuple(select)),
            )
        if any((row, selected) in cells for row in table.rows):  # no validation metric, no choice to show
            columns.insert(max(columns.index(c) for c in members) + 1, selected)
    return Table(table.title, table.metric_by_row, columns, cells, row_header=table.row_header)


def selection_scores(row: Any, candidates: list[Column], cells: dict[tuple[Any, Column], Cell]) -> dict[Column, float]:
    """Each candidate's mean validation metric, over the seeds every candidate has when all know
    their seeds: a point that got more seeds (policy.seeds adds them to the chosen point only)
    is compared with the others on the same seeds, so adding seeds never changes the choice."""
    by_seed = [cells[(row, c)].validation_by_seed() for c in candidates]
    shared = set.intersection(*(set(m) for m in by_seed)) if all(by_seed) else set()
    if shared:
        return {c: statistics.mean(m[s] for s in shared) for c, m in zip(candidates, by_seed)}
    return {c: statistics.mean(cells[(row, c)].validation) for c in candidates}


def add_average_row(table: Table) -> Table:
    if len(table.rows) < 2:
        return table
    cells = dict(table.cells)
    for column in table.columns:
        present = [cells[(row, column)] for row in table.rows if (row, column) in cells and cells[(row, column)].values]
        if len(present) == len(table.rows):
            # the average over tasks, seed by seed, so its std (and a paired test) means something:
            # by seed id where every cell knows its seeds, else by position
            refs = [c.reference for c in present]
            reference = statistics.mean(refs) if all(r is not None for r in refs) else None
            maps = [c.by_seed() for c in present]
            if all(maps):
                shared = sorted(set.intersection(*(set(m) for m in maps)), key=str)
                values = tuple(statistics.mean(m[s] for m in maps) for s in shared)
                cells[("average", column)] = Cell(values, reference=reference, seeds=tuple(shared))
            else:
                count = min(len(c.values) for c in present)
                cells[("average", column)] = Cell(
                    tuple(statistics.mean(c.values[i] for c in present) for i in range(count)), reference=reference
                )
    return Table(
        table.title,
        {**table.metric_by_row, "average": "mean over tasks"},
        table.columns,
        cells,
        row_header=table.row_header,
    )


def partner_of(column: Column, columns: list[Column]) -> Column | None:
    """The fine-tuning column an adapter column is tested against: the same other settings. A
    selected adapter column (e.g. lr=best) pairs with the selected fine-tuning column, or with the
    only fine-tuning column when fine-tuning has one value of that axis."""
    partner = column.partner(own_axes_of(column.method))
    if partner is None:
        return None
    if partner in columns:
        return partner
    unselected = partner.replace_best(None)
    matches = [c for c in columns if c.method == "finetune" and c.replace_best(None) == unselected]
    return matches[0] if len(matches) == 1 else None


def adapter_partner_of(column: Column, columns: list[Column]) -> Column | None:
    """The adapter column a PEFT method's column (LoRA, LoHa, IA3) is also tested against: the same
    other settings (neither method's own); the adapter column selected on validation when there is
    one, else the only one."""
    method = find_method(column.method)
    if method is None or "adapter" not in method.references:
        return None
    partner = column.partner(method.own_axes)
    assert partner is not None  # every method but fine-tuning has a fine-tuning partner
    own = partner.replace_best(None).without("method")
    matches = [
        c
        for c in columns
        if c.method == "adapter" and (p := c.partner()) is not None and p.replace_best(None).without("method") == own
    ]
    selected = [c for c in matches if BEST in c.labels().values()]
    return (selected or matches)[0] if len(selected or matches) == 1 else None


def significance_tests(table: Table, seed: int = 0, anytime: bool = False) -> list[SignificanceTest]:
    """Adapter minus fine-tuning for every adapter column with a fine-tuning partner, per row:
    paired (t-test, Wilcoxon signed-rank, paired bootstrap) on the seeds both cells have when at
    least two are shared, else Welch's t-test and a bootstrap CI. Each family of one table
    (SignificanceTest.family) is corrected together (Benjamini-Hochberg q), and each test says how
    many seeds would detect the observed difference with 80% power."""
    tests = []
    pairs = [(c, partner_of(c, table.columns)) for c in table.columns] + [
        (c, adapter_partner_of(c, table.columns)) for c in table.columns
    ]
    for column, partner in pairs:
        if partner is None:
            continue
        for row in table.rows:
            a, f = table.cells.get((row, column)), table.cells.get((row, partner))
            if not a or not f or len(a.values) < 2 or len(f.values) < 2:
                continue
            ours, theirs = a.by_seed(), f.by_seed()
            shared = sorted(set(ours) & set(theirs), key=str)
            if len(shared) >= 2:
                comparison = paired_comparison([ours[s] for s in shared], [theirs[s] for s in shared], seed, anytime)
            else:
                comparison = welch_comparison(list(a.values), list(f.values), seed)
            tests.append(
                SignificanceTest(
                    table.row_name(row),
                    column,
                    partner,
                    comparison,
                    len(a.values),
                    len(f.values),
                    a.chosen,
                    f.chosen,
                    average=row == "average",
                )
            )
    return _corrected(tests)


def _corrected(tests: list[SignificanceTest]) -> list[SignificanceTest]:
    """The tests, in their order, each with its family's Benjamini-Hochberg q and its verdict."""
    done: dict[int, SignificanceTest] = {}
    for family in dict.fromkeys(t.family for t in tests):
        members = [i for i, t in enumerate(tests) if t.family == family]
        for i, q in zip(members, fdr_adjust([tests[i].comparison.p for i in members])):
            test = dataclasses.replace(tests[i], q=q, family_size=len(members))
            done[i] = dataclasses.replace(test, verdict=verdict_of(test))
    return [done[i] for i in range(len(tests))]


def verdict_of(test: SignificanceTest) -> str:
    """ "adapter better", "fine-tuning better" ("LoRA better", ...: the tested method or its
    reference; BH-corrected q < ALPHA, at least MIN_SEEDS_FOR_VERDICT seeds), or "inconclusive"."""
    if test.q is None or test.q >= ALPHA or test.comparison.n < MIN_SEEDS_FOR_VERDICT:
        return "inconclusive"
    better = (test.method if test.comparison.difference > 0 else test.reference) or "?"  # both columns name a method
    return f"{method_words(better)} better"


def seed_means(table: Table, column: Column, rows: list[Any]) -> dict[Any, float]:
    """{seed: mean over rows of the cell values} for the seeds every row has."""
    maps = [table.cells[(row, column)].by_seed() for row in rows if (row, column) in table.cells]
    if len(maps) < len(rows) or not all(maps):
        return {}
    shared = set.intersection(*(set(m) for m in maps))
    return {seed: statistics.mean(m[seed] for m in maps) for seed in shared}
