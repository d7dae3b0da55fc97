"""Validity gates: whether a compared cell can carry a verdict at all, decided from its runs'
records before any test is read.

He et al. (2021) compare methods at their tuned optimum after training to convergence (20
epochs, rates chosen on dev). A number taken at the edge of a grid, from runs still improving
when they stopped, or from a model no better than a constant predictor measures the grid or the
schedule, not the method; such a comparison gets `no verdict` and the gate that tripped, with its
numbers:

- `edge`: a selected axis (report.select: lr, adapter size, rank, ...) chose the smallest or the
  largest value of its grid for the cell (an axis with one value was not tuned and is no edge);
- `not converged`: in more than `share` of the cell's seeds the best validation checkpoint is the
  last evaluation and the metric still rose by more than `tolerance` points over the last epoch
  (a run that recorded `stop: converged` is converged; `ceiling` and older records are judged
  from their curves; a run with one evaluation cannot show that it stopped improving);
- `did not learn`: the cell's chance-corrected test score (MCC for classification, entity F1 for
  NER, word-level MCC for POS tagging, Spearman's rho for regression; 0 for any constant
  predictor: majority class, no entity, one tag) is within `margin` points of 0;
- `no tail` (C6 only): in more than `share` of the seeds fewer than `tail` evaluations follow the
  best one, so how far the metric falls after its best cannot be measured.

Every default is in study/gates_spec.py (GateOptions) and a spec's `gates:` block can change it; a gate switched
off is named in every table that would have used it, never silently off.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import Any

from adapterlab.data.tasks import LOWER_IS_BETTER, chance_of
from adapterlab.runs import RunResult
from adapterlab.study.gates_spec import GateOptions
from adapterlab.train.metrics import last_epoch_gain

GATE_NAMES = ("edge", "not converged", "did not learn", "no tail")


@dataclass(frozen=True)
class RunEvidence:
    """What one run's records say about whether its number can carry a verdict. Scores ×100."""

    seed: Any
    evaluations: int  # validation evaluations recorded
    best_is_last: bool  # the selected checkpoint is the last evaluation
    tail_gain: (
        float | None
    )  # last evaluation minus the end of the previous epoch (minus the first evaluation when there is one epoch)
    stop: (
        str | None
    )  # the run's own record of why it stopped (converged / ceiling / diverged / early); None: older records
    chance: float | None  # the chance-corrected test score (CHANCE_SCORES)
    chance_name: str | None
    best: float | None  # best validation metric
    after_best: tuple[float, ...] = ()  # the validation metric at each evaluation after the best, in order

    def not_converged(self, tolerance: float) -> bool:
        if self.stop == "converged":
            return False
        if self.evaluations < 2:
            return True  # one evaluation shows nothing of where the curve was going
        return self.best_is_last and (self.tail_gain is None or self.tail_gain > tolerance)


def run_evidence(result: RunResult, rows: list[dict[str, Any]], seed: Any = None) -> RunEvidence:
    """The evidence of one run from its result (a RunResult) and its validation rows
    (metrics.jsonl's, in the order written)."""
    metric = result.metric or ""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    by_step: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if row.get("split") == "validation" and isinstance(row.get(metric), (int, float)):
            by_step[(row.get("step"), row.get("epoch"))] = (
                row  # a step evaluated twice (epoch end and eval_every) counts once
            )
    evaluations = sorted(by_step.values(), key=lambda r: (r.get("step") or 0, r.get("epoch") or 0))
    values = [100.0 * r[metric] for r in evaluations]
    test = result.test or {}
    found = chance_of(test)
    chance, chance_name = (100.0 * found[0], found[1]) if found else (None, None)
    stop = result.stop_reason or (result.extra or {}).get("stop_reason")
    if not values:
        return RunEvidence(seed, 0, True, None, stop, chance, chance_name, None)
    best_index = next(
        (
            i
            for i, r in enumerate(evaluations)
            if r.get("step") == result.best_step and r.get("epoch") == result.best_epoch
        ),
        None,
    )
    if best_index is None:  # no best recorded: the first evaluation at the best value
        best_index = max(range(len(values)), key=lambda i: (sign * values[i], -i))
    gain = last_epoch_gain(evaluations, metric)
    gain = None if gain is None else 100.0 * gain
    return RunEvidence(
        seed,
        len(values),
        best_index == len(values) - 1,
        gain,
        stop,
        chance,
        chance_name,
        values[best_index],
        tuple(values[best_index + 1 :]),
    )


@dataclass(frozen=True)
class Selection:
    """How a selected cell was chosen: the column whose runs it holds, and the columns it was
    chosen from (the members with validation metrics), on the axes of report.select."""

    chosen: Any  # a setting.Column
    candidates: tuple[Any, ...] = ()
    axes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trip:
    """A gate that tripped for one cell, with the numbers that tripped it."""

    gate: str  # one of GATE_NAMES
    cell: str  # the cell, as the tables name it
    why: str

    def __str__(self) -> str:
        return f"{self.gate}: {self.cell}: {self.why}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def edge_trips(selection: Selection | None, name: str) -> list[Trip]:
    """`edge`: for each selected numeric axis with two or more values among the candidates that
    share the chosen column's other settings, the chosen value is the smallest or the largest."""
    if selection is None:
        return []
    trips = []
    chosen = selection.chosen.labels()
    for axis in selection.axes:
        value = chosen.get(axis)
        if not _is_number(value):
            continue
        others = {k: v for k, v in chosen.items() if k != axis}
        values = sorted(
            {
                c.labels()[axis]
                for c in selection.candidates
                if _is_number(c.labels().get(axis)) and {k: v for k, v in c.labels().items() if k != axis} == others
            }
        )
        if len(values) >= 2 and value in (values[0], values[-1]):
            end = "top" if value == values[-1] else "bottom"
            grid = ", ".join(map(_fmt, values))
            trips.append(
                Trip("edge", name, f"{axis} {_fmt(value)} is the {end} of its grid {{{grid}}}: extend the grid")
            )
    return trips


def run_trips(
    evidence: tuple[RunEvidence, ...], name: str, options: GateOptions, learn: bool = True, tail: bool = False
) -> list[Trip]:
    """The per-run gates of one cell: `not converged`, `did not learn` (unless learn=False) and,
    for C6 (tail=True), `no tail`."""
    if not evidence:
        return []
    trips = []
    n = len(evidence)
    if options.not_converged:
        stuck = [e for e in evidence if e.not_converged(options.tolerance)]
        if len(stuck) > options.share * n:
            gains = [e.tail_gain for e in stuck if e.tail_gain is not None]
            rise = f", still rising {statistics.mean(gains):+.1f} points over the last epoch (mean)" if gains else ""
            single = sum(e.evaluations < 2 for e in stuck)
            how = f" ({single} with a single evaluation)" if single else ""
            trips.append(
                Trip(
                    "not converged",
                    name,
                    f"best at the last evaluation in {len(stuck)} of {n} seeds{how}{rise} "
                    f"(tolerance {options.tolerance:g}): train longer",
                )
            )
    scores = [e.chance for e in evidence if e.chance is not None]
    if options.did_not_learn and learn and scores and statistics.mean(scores) <= options.margin:
        label = next(e.chance_name for e in evidence if e.chance_name)
        trips.append(
            Trip(
                "did not learn",
                name,
                f"test {label} ×100 {statistics.mean(scores):.1f} over {len(scores)} seeds, within "
                f"{options.margin:g} of a constant predictor's 0",
            )
        )
    if tail:
        short = [e for e in evidence if len(e.after_best) < options.tail]
        if len(short) > options.share * n:
            trips.append(
                Trip(
                    "no tail",
                    name,
                    f"fewer than {options.tail} evaluations after the best in {len(short)} of {n} seeds: "
                    "how far the metric falls after its best is not measured; train past the best",
                )
            )
    return trips


def did_not_learn(evidence: tuple[RunEvidence, ...], name: str, options: GateOptions = GateOptions()) -> Trip | None:
    """The `did not learn` trip of one cell's runs (run_trips' rule, at the options' margin), or
    None. It describes the runs, so it is computed even where a spec switched the gate off for
    verdicts: the report marks such cells in every table."""
    forced = dataclasses.replace(options, did_not_learn=True, not_converged=False)
    return next((t for t in run_trips(evidence, name, forced) if t.gate == "did not learn"), None)


def fall_after_best(evidence: RunEvidence, window: int) -> float | None:
    """C6's quantity for one run (×100): its best validation metric minus the mean of the next
    `window` evaluations (of those there are; 0 when the best is the last: no fall was seen)."""
    if evidence.best is None:
        return None
    after = evidence.after_best[:window]
    return evidence.best - statistics.mean(after) if after else 0.0


@dataclass(frozen=True)
class GateReport:
    """The gates of one comparison: what tripped, and which gates were off."""

    trips: tuple[Trip, ...] = ()
    off: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(t.gate for t in self.trips))

    def text(self) -> str:
        return "; ".join(map(str, self.trips))


@dataclass(frozen=True)
class GateContext:
    """How a claim's compared cells are gated: the main table holds every run's evidence and every
    selection; a cell of another table (RSA per layer, zero-shot per language, C6's fall) is
    gated by the main-table cell of the same column on the task its runs trained on."""

    main: Any = None  # a report.tables.Table
    options: GateOptions = GateOptions()
    rsa_task: str | None = None
    select: tuple[str, ...] = ()  # the axes chosen on validation (report.select)
    sequential: bool = False  # seeds were added while comparisons were undecided: anytime-valid tests (policy.seeds)

    def main_cell(self, table: str, row: Any, column: Any) -> tuple[Any, Any]:
        if self.main is None:
            return row, None
        task = self.rsa_task if table == "rsa" else table.split(":", 1)[1] if table.startswith("crosslingual:") else row
        return task, self.main.cells.get((task, column))

    def trips(self, table: str, row: Any, column: Any, learn: bool = True) -> list[Trip]:
        task, cell = self.main_cell(table, row, column)
        if cell is None:
            return []
        name = f"{task}: {column.name}" + (f" [{cell.chosen}]" if cell.chosen else "")
        found = edge_trips(cell.selection, name) if self.options.edge else []
        return found + run_trips(cell.evidence, name, self.options, learn=learn, tail=table == "overfitting_gap")

    def selected_value(self, task: Any, column: Any, axis: str) -> Any:
        """The value of `axis` chosen on validation for the group of `column` (None: no choice)."""
        if self.main is None:
            return None
        selected = column.selected(self.select or (axis,))
        cell = self.main.cells.get((task, selected)) if selected is not None else None
        return cell.selection.chosen.labels().get(axis) if cell is not None and cell.selection is not None else None


def gate_significance(table: Any, name: str, context: GateContext) -> Any:
    """The table (a report.tables.Table) with each adapter-vs-reference test gated: a test whose
    two cells trip a gate gets verdict "no verdict" and the gates' names and numbers. `name` is
    the table's name for the context (main, rsa, overfitting_gap, crosslingual:<task>)."""
    columns = {column.name: column for column in table.columns}
    rows = {table.row_name(row): row for row in table.rows}
    tests = []
    for test in table.significance:
        row = rows.get(test.task)
        trips: list[Trip] = []
        for side in (test.adapter, test.finetune):
            column = columns.get(side)
            for own in [r for r in table.rows if r != "average"] if row == "average" else [row]:
                trips += [t for t in context.trips(name, own, column) if t not in trips] if column is not None else []
        tests.append(
            dataclasses.replace(
                test,
                gate=list(dict.fromkeys(t.gate for t in trips)) or None,
                gate_detail=[str(t) for t in trips],
                verdict="no verdict" if trips else test.verdict,
            )
        )
    return dataclasses.replace(table, significance=tests)


def seeds_with_tail(
    table: Any,
    rows: list[Any],
    columns: tuple[Any, Any],
    values: tuple[dict[Any, float], dict[Any, float]],
    tail: int,
) -> tuple[dict[Any, float], dict[Any, float], set[Any]]:
    """C6's seeds: those whose runs on both sides have `tail` evaluations after their best. A run
    that stopped at its best (or soon after) has no measured fall; counting it as 0 would credit
    it with not overfitting. The `no tail` gate trips when most seeds of a cell lack the tail."""
    short = {
        e.seed
        for column in columns
        for row in rows
        if (cell := table.cells.get((row, column))) is not None
        for e in cell.evidence
        if len(e.after_best) < tail
    }
    kept = tuple({s: v for s, v in side.items() if s not in short} for side in values)
    return kept[0], kept[1], short & (set(values[0]) | set(values[1]))
