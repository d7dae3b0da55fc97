"""The answer of `adapterlab compare`: per method, the setting chosen on validation, its test
metric with a CI, the paired difference against the method chosen best on validation with q and
a verdict (better / equivalent / worse / inconclusive / no verdict and its gate), and the cost
(trainable parameters, saved size per task, training time, inference throughput); then one
paragraph that says what the evidence supports and nothing more.

The comparisons are one family (Benjamini-Hochberg q), paired by seed, and anytime-valid when
the study added seeds while undecided; every compared cell must pass the validity gates.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy import stats

from adapterlab.methods import method_words
from adapterlab.report.build import StudyTables
from adapterlab.report.grid import interval_text
from adapterlab.report.sensitivity import RunnerUp, runner_up_of
from adapterlab.report.statistics import ALPHA, anytime_paired, equivalence_p, fdr_adjust, paired_comparison
from adapterlab.report.tables import Cell
from adapterlab.runs import RunRecord
from adapterlab.setting import BEST, Column

MARGIN = 1.0  # points: a difference inside ±MARGIN (two one-sided tests) is "equivalent"


@dataclass
class MethodRow:
    """One method of the answer. Scores on the ×100 scale; sizes in bytes; times in seconds."""

    method: str
    chosen: str  # the setting chosen on validation, e.g. "m=64 lr=0.001"
    seeds: int
    validation: float
    test: float
    test_low: float | None
    test_high: float | None
    trainable_params: int | None
    saved_bytes: int | None
    saved_what: str  # "pack" or "model"
    train_seconds: float | None
    throughput: float | None = None  # test examples per second, measured on the chosen run
    difference: float | None = None  # minus the best method, paired by seed
    diff_low: float | None = None
    diff_high: float | None = None
    p: float | None = None
    q: float | None = None
    p_equivalence: float | None = None
    q_equivalence: float | None = None
    verdict: str = ""  # "best", "better", "equivalent", "worse", "inconclusive", "no verdict"
    gates: list[str] = field(default_factory=list)  # the tripped gates, with their numbers
    run: str = ""  # the run folder of the chosen setting's seed with the best validation metric
    # the difference with this method, then the best, at its runner-up setting (report/sensitivity.py)
    runner_ups: list[RunnerUp] = field(default_factory=list)

    @property
    def word(self) -> str:
        return method_words(self.method)


@dataclass
class Answer:
    task: str
    metric: str
    best: str
    rows: list[MethodRow]
    sequential: bool
    sizes: dict[str, int]
    paragraph: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "rows"}, "rows": [asdict(r) for r in self.rows]}

    @classmethod
    def from_json(cls, values: dict) -> Answer:
        rows = [
            MethodRow(
                **{
                    **row,
                    "runner_ups": [
                        RunnerUp(**{**u, "gates": tuple(u.get("gates", ()))}) for u in row.get("runner_ups", [])
                    ],
                }
            )
            for row in values["rows"]
        ]
        return cls(**{**values, "rows": rows})


def _selected(tables: StudyTables, task: str) -> dict[str, tuple[Column, Cell]]:
    """{method: (selected column, its cell)} of the main table for `task`."""
    found = {}
    for column in tables.main.columns:
        cell = tables.main.cells.get((task, column))
        if cell is not None and BEST in column.labels().values() and cell.values and column.method:
            found[column.method] = (column, cell)
    return found


def _records_of(tables: StudyTables, task: str, chosen: Column) -> list[RunRecord]:
    return [r for r in tables.records if r.setting.task == task and r.setting.column == chosen and r.result.complete]


def _interval(values: tuple[float, ...]) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    half = stats.t.ppf(1 - ALPHA / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return statistics.mean(values) - half, statistics.mean(values) + half


def build_answer(tables: StudyTables, task: str) -> Answer:
    """The answer from a finished study's tables (report.build.assemble)."""
    selected = _selected(tables, task)
    if not selected:
        raise ValueError(f"no method of {task} has a selected setting with finished runs")
    metric = tables.main.metric_by_row.get(task, "")
    rows = []
    for method, (column, cell) in selected.items():
        chosen = cell.selection.chosen if cell.selection is not None else column
        records = _records_of(tables, task, chosen)
        best_run = max(records, key=lambda r: r.result.validation_metric or -math.inf) if records else None
        results = [r.result for r in records]
        low, high = _interval(cell.values)
        saved = [r.pack_bytes for r in results if r.pack_bytes] or [
            r.model_bytes_fp32 for r in results if r.model_bytes_fp32
        ]
        rows.append(
            MethodRow(
                method,
                cell.chosen,
                len(cell.values),
                statistics.mean(cell.validation) if cell.validation else math.nan,
                cell.mean,
                low,
                high,
                results[0].trainable_params if results else None,
                saved[0] if saved else None,
                "pack" if any(r.pack_bytes for r in results) else "model",
                statistics.mean(r.train_seconds for r in results if r.train_seconds)
                if any(r.train_seconds for r in results)
                else None,
                run=str(best_run.folder) if best_run else "",
            )
        )
    best = max(rows, key=lambda r: r.validation)
    best.verdict = "best"
    _compare_to_best(tables, task, selected, rows, best)
    answer = Answer(
        task,
        metric,
        best.method,
        sorted(rows, key=lambda r: (r.verdict != "best", -r.test)),
        tables.context.sequential,
        {},
    )
    return answer


def undecided_against_best(tables: StudyTables) -> list[tuple[str, int, list[tuple[str, Column]]]]:
    """The answer's comparisons that more seeds could decide, as policy/sequential's targets: each
    method against the best on validation, inconclusive and without a tripped gate. (The main
    table compares each method with fine-tuning; the answer compares with the best, so seeds go
    where the answer is undecided.)"""
    found = []
    for task in tables.main.metric_by_row:
        try:
            answer = build_answer(tables, task)
        except ValueError:  # no method has finished runs yet
            continue
        selected = _selected(tables, task)
        best = next(r for r in answer.rows if r.verdict == "best")
        for row in answer.rows:
            if row.verdict == "inconclusive":
                compared = [(task, selected[row.method][0]), (task, selected[best.method][0])]
                found.append((f"{task}: {row.word} vs {best.word}", min(row.seeds, best.seeds), compared))
    return found


def _compare_to_best(tables: StudyTables, task: str, selected: dict, rows: list[MethodRow], best: MethodRow) -> None:
    """Each other method minus the best, paired by seed; one family (BH); gates on both cells."""
    _, best_cell = selected[best.method]
    others = [r for r in rows if r is not best]
    for row in others:
        column, cell = selected[row.method]
        trips = tables.context.trips("main", task, column) + list(
            tables.context.trips("main", task, selected[best.method][0])
        )
        row.gates = list(dict.fromkeys(str(t) for t in trips))
        paired = _paired(cell.by_seed(), best_cell.by_seed(), tables.context.sequential)
        if paired is None:
            continue
        differences, comparison = paired
        row.difference, row.diff_low, row.diff_high, row.p = (
            comparison.difference,
            comparison.ci_low,
            comparison.ci_high,
            comparison.p,
        )
        row.p_equivalence = (
            anytime_paired(differences, margin=MARGIN)[3]
            if tables.context.sequential
            else equivalence_p(differences, MARGIN)
        )
        row.runner_ups = _runner_ups(tables, task, (row.word, column, cell), (best.word, *selected[best.method]))
    for row, q, q_equivalence in zip(
        others, fdr_adjust([r.p for r in others]), fdr_adjust([r.p_equivalence for r in others])
    ):
        row.q, row.q_equivalence = q, q_equivalence
        row.verdict = _verdict(row)


def _paired(ours: dict[Any, float], theirs: dict[Any, float], anytime: bool) -> tuple[list[float], Any] | None:
    """(per-seed differences, paired comparison) over the seeds both have; None under 2 seeds."""
    shared = sorted(set(ours) & set(theirs), key=str)
    if len(shared) < 2:
        return None
    a, b = [ours[s] for s in shared], [theirs[s] for s in shared]
    return [x - y for x, y in zip(a, b)], paired_comparison(a, b, anytime=anytime)


def _runner_ups(tables: StudyTables, task: str, ours: tuple, best: tuple) -> list[RunnerUp]:
    """The row's difference with this method, then the best, at its runner-up setting
    (report/sensitivity.py: a description beside the verdict, with the fixed-n t interval)."""
    found = []
    for side, (word, column, _cell) in enumerate((ours, best)):
        choice = runner_up_of(tables.main, task, column)
        if choice is None:
            continue
        second = tables.main.cells[(task, choice.runner_up)].by_seed()
        a, b = (second, best[2].by_seed()) if side == 0 else (ours[2].by_seed(), second)
        paired = _paired(a, b, anytime=False)
        if paired is None:
            continue
        comparison = paired[1]
        found.append(
            RunnerUp(
                word,
                choice.chosen.describe(choice.axes),
                choice.runner_up.describe(choice.axes),
                choice.gap,
                choice.gap_se,
                comparison.difference,
                comparison.ci_low,
                comparison.ci_high,
                len(paired[0]),
                tuple(dict.fromkeys(t.gate for t in tables.context.trips("main", task, choice.runner_up))),
            )
        )
    return found


def _verdict(row: MethodRow) -> str:
    if row.gates:
        return "no verdict"
    if row.q is not None and row.q < ALPHA and row.seeds >= 3:
        return "better" if row.difference > 0 else "worse"
    if row.q_equivalence is not None and row.q_equivalence < ALPHA and row.seeds >= 3:
        return "equivalent"
    return "inconclusive"


def _multiplicity(row: MethodRow, family: int) -> str:
    """Why an interval that excludes 0 is still no difference: the interval is one comparison's,
    the verdict corrects for the family (Benjamini-Hochberg q)."""
    excludes = row.diff_low is not None and (row.diff_low > 0 or row.diff_high < 0)
    if not excludes or row.q is None or row.q < ALPHA or family < 2:
        return ""
    return (
        f" (its 95% interval excludes 0 on its own, but not once corrected for the {family} comparisons "
        f"with the best: q = {_p(row.q)})"
    )


def _size(value: int | None) -> str:
    if value is None:
        return "–"
    return f"{value / 2**20:.1f} MB" if value >= 2**20 else f"{value / 2**10:.0f} KB"


def _params(value: int | None) -> str:
    return "–" if value is None else f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}K"


def _p(value: float | None) -> str:
    return "–" if value is None else "<0.001" if value < 0.001 else f"{value:.3f}"


def answer_markdown(answer: Answer) -> str:
    header = (
        "| method | chosen on validation | seeds | test "
        + answer.metric
        + " [95% CI] | vs "
        + method_words(answer.best)
        + " [95% CI] | q | verdict | trainable | saved per task | training time per run | inference |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in answer.rows:
        ci = f" [{r.test_low:.1f}, {r.test_high:.1f}]" if r.test_low is not None else ""
        diff = (
            "–"
            if r.verdict == "best"
            else "–"
            if r.difference is None
            else f"{r.difference:+.2f} {interval_text(r.diff_low, r.diff_high)}"
        )
        verdict = r.verdict + (f" ({'; '.join(r.gates)})" if r.gates and r.verdict == "no verdict" else "")
        lines.append(
            f"| {r.word} | {r.chosen or '–'} | {r.seeds}{' (seq.)' if answer.sequential else ''} | {r.test:.1f}{ci} | {diff} | "
            f"{_p(r.q) if r.verdict != 'best' else '–'} | {verdict} | {_params(r.trainable_params)} | {_size(r.saved_bytes)} {r.saved_what} | "
            f"{'–' if r.train_seconds is None else f'{r.train_seconds:.0f} s'} | "
            f"{'–' if r.throughput is None else f'{r.throughput:.0f} ex/s'} |"
        )
    return "\n".join(lines) + "\n"


def paragraph(answer: Answer) -> str:
    """What the evidence supports, in words, and nothing more."""
    best = next(r for r in answer.rows if r.verdict == "best")
    parts = [
        f"{best.word} ({best.chosen}) scored highest on validation and {best.test:.1f} {answer.metric} on the test set "
        f"(mean of {best.seeds} seeds)."
    ]
    for r in answer.rows:
        if r is best:
            continue
        size = (
            f" at {_ratio(r.saved_bytes, best.saved_bytes)} of its size per task"
            if r.saved_bytes and best.saved_bytes and r.saved_bytes < best.saved_bytes
            else ""
        )
        if r.verdict == "equivalent":
            parts.append(
                f"{r.word} ({r.chosen}) is equivalent to it within ±{MARGIN:g} point{size} "
                f"(difference {r.difference:+.2f} {interval_text(r.diff_low, r.diff_high)}, equivalence q = {_p(r.q_equivalence)})."
            )
        elif r.verdict in ("worse", "better"):
            parts.append(
                f"{r.word} ({r.chosen}) is {abs(r.difference):.1f} points {'below' if r.verdict == 'worse' else 'above'} it on test"
                f"{size} (q = {_p(r.q)})."
            )
        elif r.verdict == "inconclusive":
            shown = "" if r.difference is None else f" ({r.difference:+.2f} {interval_text(r.diff_low, r.diff_high)})"
            parts.append(
                f"{r.word} vs {best.word} is undecided at {r.seeds} seeds{shown}: neither a difference nor an equivalence "
                f"within ±{MARGIN:g} point is shown{_multiplicity(r, len(answer.rows) - 1)}."
            )
        else:
            parts.append(
                f"{r.word} vs {best.word}: no verdict, because a validity gate tripped ({'; '.join(r.gates)})."
            )
        parts.extend(_flips(r))
    return " ".join(parts)


def _flips(row: MethodRow) -> list[str]:
    """For a decided difference (better or worse), a runner-up setting whose point estimate goes
    the other way at the printed precision: the verdict's direction rests on that choice."""
    if row.verdict not in ("better", "worse") or row.difference is None:
        return []
    return [
        f"With {u.column} at its runner-up {u.runner_up} ({u.gap_text()}), the difference would be "
        f"{u.value:+.2f} {interval_text(u.ci_low, u.ci_high)} (fixed-n t, {u.n} seeds): its direction rests on that choice."
        for u in row.runner_ups
        if u.value is not None
        and u.ci_low is not None
        and u.ci_high is not None
        and round(u.value, 2) * round(row.difference, 2) < 0
    ]


def _ratio(part: int, whole: int) -> str:
    ratio = whole / part
    return f"1/{ratio:.0f}" if ratio >= 2 else f"{part / whole:.0%}"


def answer_summary(answer: Answer, data: dict[str, Any]) -> str:
    sizes = data.get("sampled", {})
    return (
        f"{answer.task}: {data.get('kind', '')} on {data.get('source', '')}; train {sizes.get('train', '?')}, validation "
        f"{sizes.get('validation', '?')}, test {sizes.get('test', '?')} examples (split seed {data.get('seed', '?')}); "
        f"metric {answer.metric}"
    )
