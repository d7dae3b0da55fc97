"""Claims as checks: each claim (study/claims_spec.py) evaluated on a study's tables, with our
number, its 95% CI, and a verdict that the evidence can carry.

A row gets a verdict only when its compared cells pass the validity gates (report/gates.py);
otherwise it says `no verdict` and names the gate with its numbers. The rows of one claims table
are one family: Benjamini-Hochberg over all of them (decide), the verdict from q. Runs that share
a seed are paired (same k-sample and validation split).

Verdicts: supported / contradicted (q < α, by the sign), equivalent (the two one-sided tests of
Schuirmann 1987 against ±margin, BH-adjusted over the same rows, q < α), inconclusive (with the
seeds 80% power would need at the observed effect and at the paper's), no verdict (a gate
tripped), not applicable (the study cannot test the claim).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapterlab.report.analysis_tables import source_gap
from adapterlab.report.gates import GateContext, GateReport, Trip, run_trips, seeds_with_tail
from adapterlab.report.sensitivity import RunnerUp, with_runner_ups
from adapterlab.report.statistics import (
    ALPHA,
    MIN_SEEDS_FOR_VERDICT,
    anytime_paired,
    equivalence_p,
    fdr_adjust,
    paired_comparison,
    seeds_needed,
)
from adapterlab.report.tables import Table, seed_means
from adapterlab.setting import BEST, Column
from adapterlab.study.claims_spec import (
    ENCODER_LAYERS,
    Claim,
    axis_columns,
    claim_order,
    claim_problem,
    fixed_where,
    pick_columns,
)

# What a study needs for each table a claim can name (the spec's validator refuses a claim without it)
MISSING_TABLE = {
    "rsa": "it needs an analysis: {rsa: ...} block and `adapterlab study analyze`",
    "crosslingual": "it needs an analysis: {crosslingual: ...} block and `adapterlab study analyze`",
    "overfitting_gap": "it needs runs with validation curves",
    "main": "no finished runs",
}
VERDICTS = ("supported", "contradicted", "equivalent", "inconclusive", "no verdict", "not applicable", "not finished")


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    study: str  # the study (and the table, for cross-lingual claims)
    value: float | None  # ours, ×100 scale
    ci_low: float | None
    ci_high: float | None
    n: int  # seeds behind it
    p: float | None  # the row's test (paired t; an every-row claim: the intersection-union p over its rows)
    verdict: str  # one of VERDICTS ("pending" until decide() has seen the family)
    seeds_needed: int | None  # at the observed effect
    detail: str = ""  # which cells; why not applicable
    setup: str = ""  # the study spec's description: its scale (backbone, data, seeds), so a row says what it rests on
    q: float | None = None  # Benjamini-Hochberg over every row of the claims table (one family)
    p_equivalence: float | None = None  # two one-sided tests against ±claim.margin
    q_equivalence: float | None = None
    sd: float | None = None  # std over seeds of the per-seed quantity
    seeds_needed_paper: int | None = None  # at the paper's effect (claim.paper_value) with our spread
    gates: GateReport = GateReport()
    cells: tuple[str, ...] = ()  # the compared cells, "row: column [chosen]"
    sequential: bool = False  # its seeds were added by the sequential rule (study policy)
    compared: tuple[Any, ...] = ()  # (task, Column) of each compared cell, for the sequential rule
    runner_ups: tuple[RunnerUp, ...] = ()  # the number with a selected cell at its runner-up (report/sensitivity.py)
    row_values: tuple[tuple[str, float], ...] = ()  # an every-row claim: (row, its difference) for each row

    @property
    def gate(self) -> list[str] | None:
        return self.gates.names or None


class _Gathered:
    """The cells one comparison uses, and what their gates say."""

    def __init__(self, claim: Claim, context: GateContext):
        self.claim, self.context = claim, context
        self.trips: list[Trip] = []
        self.cells: list[str] = []
        self.compared: list[tuple[Any, Column]] = []

    def add(self, table: Table, rows: list[Any], column: Column, learn: bool | Callable[[Any], bool] = True) -> None:
        for row in rows:
            cell = table.cells.get((row, column))
            self.cells.append(
                f"{table.row_name(row)}: {column.name}"
                + (f" [{cell.chosen}]" if cell is not None and cell.chosen else "")
            )
            task = self.context.main_cell(self.claim.table, row, column)[0]
            if (task, column) not in self.compared:
                self.compared.append((task, column))
            for trip in self.context.trips(self.claim.table, row, column, learn(row) if callable(learn) else learn):
                if trip not in self.trips:
                    self.trips.append(trip)

    def report(self) -> GateReport:
        return GateReport(tuple(self.trips), tuple(self.context.options.switched_off()))


def _result(
    claim: Claim, study: str, a: dict[Any, float], b: dict[Any, float], detail: str, gathered: _Gathered
) -> ClaimResult:
    """Paired comparison of per-seed values a[s] - b[s]; the verdict waits for decide()."""
    shared = sorted(set(a) & set(b), key=str)
    common: dict[str, Any] = {
        "gates": gathered.report(),
        "cells": tuple(gathered.cells),
        "compared": tuple(gathered.compared),
    }
    if len(shared) < 2:
        value = statistics.mean(a[s] - b[s] for s in shared) if shared else None
        return ClaimResult(
            claim,
            study,
            value,
            None,
            None,
            len(shared),
            None,
            "pending",
            None,
            f"{detail}; {len(shared)} shared seed(s)",
            **common,
        )
    differences = [a[s] - b[s] for s in shared]
    sequential = gathered.context.sequential
    comparison = paired_comparison([a[s] for s in shared], [b[s] for s in shared], anytime=sequential)
    p_equivalence = (
        anytime_paired(differences, margin=claim.margin)[3] if sequential else equivalence_p(differences, claim.margin)
    )
    few = len(shared) < MIN_SEEDS_FOR_VERDICT
    return ClaimResult(
        claim,
        study,
        comparison.difference,
        comparison.ci_low,
        comparison.ci_high,
        len(shared),
        comparison.p,
        "pending",
        comparison.seeds_needed,
        f"{detail}; {len(shared)} seeds: no verdict below {MIN_SEEDS_FOR_VERDICT}" if few else detail,
        p_equivalence=p_equivalence,
        sd=comparison.sd,
        seeds_needed_paper=_at_paper(claim, comparison.sd),
        sequential=sequential,
        **common,
    )


def _at_paper(claim: Claim, sd: float | None) -> int | None:
    """Seeds for 80% power at the paper's own effect (claim.paper_value) with our spread."""
    if claim.paper_value is None or sd is None:
        return None
    return seeds_needed(float(claim.paper_value), sd, paired=True)


def _not_applicable(claim: Claim, study: str, why: str) -> ClaimResult:
    return ClaimResult(claim, study, None, None, None, 0, None, "not applicable", None, why)


def _rows(claim: Claim, table: Table) -> list[Any]:
    if claim.rows == ENCODER_LAYERS:  # the layers the paper plots: 1..N, not the embeddings (layer 0)
        return [r for r in table.rows if isinstance(r, int) and not isinstance(r, bool) and r >= 1]
    rows = list(claim.rows) if claim.rows else [r for r in table.rows if r != "average"]
    return [r for r in rows if r in table.rows]


def evaluate_claim(claim: Claim, table: Table, study: str, context: GateContext | None = None) -> ClaimResult:
    """One claim on one table, decided as a family of one (evaluate_claims decides many together)."""
    return decide([measure_claim(claim, table, study, context)])[0]


def measure_claim(claim: Claim, table: Table, study: str, context: GateContext | None = None) -> ClaimResult:
    """The claim's quantity, its test and its gates; the verdict waits for decide()."""
    context = context or GateContext(table if claim.table == "main" else None)
    rows = _rows(claim, table)
    if not rows:
        return _not_applicable(claim, study, "none of its rows are in the table")
    problem = claim_problem(claim, table.columns)
    if problem:
        return _not_applicable(claim, study, problem)
    if claim.kind in ("trend", "spread"):
        return _by_axis(claim, table, study, rows, context)
    (a,), (b,) = pick_columns(table.columns, claim.a, claim.where), pick_columns(table.columns, claim.b, claim.where)
    detail = f"{a.name} vs {b.name}"
    gathered = _Gathered(claim, context)
    gathered.add(table, rows, a)
    gathered.add(table, rows, b)
    if claim.kind == "every_row":
        return _every_row(claim, table, study, rows, a, b, detail, gathered)
    a_values, b_values = seed_means(table, a, rows), seed_means(table, b, rows)
    detail = f"{detail}, over {len(rows)} row(s)"
    if claim.table.startswith("crosslingual:"):
        detail += source_gap(table, a, b, set(a_values) & set(b_values))
    if claim.table == "overfitting_gap":
        a_values, b_values, short = seeds_with_tail(table, rows, (a, b), (a_values, b_values), context.options.tail)
        if short:
            detail += f"; left out {len(short)} seed(s) without {context.options.tail} evaluations after the best"
    return _result(claim, study, a_values, b_values, detail, gathered)


def _every_row(
    claim: Claim, table: Table, study: str, rows: list[Any], a: Column, b: Column, detail: str, gathered: _Gathered
) -> ClaimResult:
    """a > b in every row. Each row is a paired test; the claim holds only if every row does, so
    its p is the intersection-union test's (Berger 1982): the largest row p when every row's
    difference is positive. When the weakest row is negative, the evidence against the claim is
    that row's: the smallest BH-adjusted p over the rows going the other way."""
    results = [
        _result(claim, study, seed_means(table, a, [row]), seed_means(table, b, [row]), "", gathered) for row in rows
    ]
    weakest = min(range(len(results)), key=lambda i: (results[i].value is None, results[i].value or 0.0))
    worst = results[weakest]
    names = f"rows {', '.join(table.row_name(r) for r in rows)}"
    if any(r.p is None for r in results):
        return dataclasses.replace(
            worst, p=None, p_equivalence=None, detail=f"{detail}: fewer than 2 shared seeds in some row ({names})"
        )
    # every row has its p (checked above), and so its value
    ps, values = [r.p for r in results if r.p is not None], [r.value for r in results if r.value is not None]
    assert worst.value is not None and len(ps) == len(values) == len(results)
    qs = fdr_adjust(ps)
    if worst.value > 0:
        p = max(ps)
    else:
        p = min(q for q, value in zip(qs, values) if value <= 0 and q is not None)  # no q is None: every p is there
    row_ps = ", ".join(f"{table.row_name(row)} {r.value:+.2f} (p {r.p:.3f})" for row, r in zip(rows, results))
    needed = [r.seeds_needed for r in results if r.seeds_needed is not None]
    at_paper = [r.seeds_needed_paper for r in results if r.seeds_needed_paper is not None]
    return dataclasses.replace(
        worst,
        p=p,
        p_equivalence=None,
        seeds_needed=max(needed) if needed else None,
        seeds_needed_paper=max(at_paper) if at_paper else None,
        row_values=tuple((table.row_name(row), value) for row, value in zip(rows, values)),
        detail=f"{detail}: every one of {len(rows)} rows, the weakest shown ({table.row_name(rows[weakest])}); "
        f"p: {'intersection-union over the rows' if worst.value > 0 else _AGAINST}; per row: {row_ps}",
    )


# an every-row claim whose weakest row goes the other way: its p is the evidence against the claim
_AGAINST = "against the claim, the smallest BH-adjusted p of the rows going the other way"


def _by_axis(claim: Claim, table: Table, study: str, rows: list[Any], context: GateContext) -> ClaimResult:
    axis = claim.axis
    assert axis is not None  # the spec requires an axis for trend and spread claims
    if claim.kind == "trend":
        return _trend(claim, table, study, rows, context, axis)
    return _spread(claim, table, study, rows, context, axis)


def _trend(claim: Claim, table: Table, study: str, rows: list[Any], context: GateContext, axis: str) -> ClaimResult:
    """The difference at the lowest value of the axis minus at the highest, each side's column the
    one selected on validation at that value (a trend over k compares tuned methods at each k)."""
    gathered = _Gathered(claim, context)
    levels = sorted(
        {c.labels()[axis] for c in table.columns if c.labels().get(axis) not in (None, BEST)},
        key=lambda v: (isinstance(v, str), v),
    )
    pairs: dict[Any, tuple[Column, Column]] = {}
    for value in levels:
        at_a = pick_columns(table.columns, {**claim.a, axis: value}, claim.where)
        at_b = pick_columns(table.columns, {**claim.b, axis: value}, claim.where)
        if len(at_a) == 1 and len(at_b) == 1:
            pairs[value] = (at_a[0], at_b[0])
    if len(pairs) < 2:
        return _not_applicable(
            claim, study, f"needs one column of a and one of b at two values of {axis} (has {sorted(pairs)})"
        )
    low, high = min(pairs), max(pairs)
    for value in (low, high):
        gathered.add(table, rows, pairs[value][0])
        gathered.add(table, rows, pairs[value][1])

    def gap(value: Any) -> dict[Any, float]:
        return _difference_by_seed(table, *pairs[value], rows)

    return _result(
        claim,
        study,
        gap(low),
        gap(high),
        f"(a-b at {axis}={low}: {pairs[low][0].name} vs {pairs[low][1].name}) - "
        f"(a-b at {axis}={high}: {pairs[high][0].name} vs {pairs[high][1].name})",
        gathered,
    )


def _spread(claim: Claim, table: Table, study: str, rows: list[Any], context: GateContext, axis: str) -> ClaimResult:
    """The spread (std over the axis) of b minus that of a, over the values both sides have."""
    gathered = _Gathered(claim, context)
    a, b = (
        axis_columns(table.columns, claim.a, claim.where, axis),
        axis_columns(table.columns, claim.b, claim.where, axis),
    )
    shared = set(a) & set(b)
    if len(shared) >= 2:  # the same grid for both sides (a bracketed grid may have grown one side further)
        a, b = {v: c for v, c in a.items() if v in shared}, {v: c for v, c in b.items() if v in shared}
    if len(a) < 2 or len(b) < 2:
        return _not_applicable(claim, study, f"needs two values of {axis} for a and for b")
    for side, columns in (("a", a), ("b", b)):
        seen = {
            v for c in columns.values() for row in rows if (row, c) in table.cells for v in table.cells[(row, c)].values
        }
        if len(seen) == 1 and context.options.did_not_learn:
            # e.g. MCC 0 everywhere: the majority class at every setting; a spread of 0 says nothing about sensitivity
            labels = ", ".join(f"{k}={v}" for k, v in getattr(claim, side).items())
            gathered.trips.append(
                Trip(
                    "did not learn",
                    f"every {side} cell ({labels})",
                    f"{next(iter(seen)):.2f} at every {axis} and seed: no spread to compare",
                )
            )
        for value, column in columns.items():
            # a spread over the axis: a value below the method's own choice that leaves it at the
            # trivial baseline is too slow for the schedule (undertrained), not a sign of
            # sensitivity; above the choice, failing to learn is the collapse the claim is about,
            # unless the chosen value did not learn either (then the method never learned)
            def learn(row: Any, value: Any = value, column: Column = column) -> bool:
                task = context.main_cell(claim.table, row, column)[0]
                chosen = context.selected_value(task, column, axis)
                if (
                    chosen is None
                    or not isinstance(value, (int, float))
                    or not isinstance(chosen, (int, float))
                    or value < chosen
                ):
                    return True
                selected = context.main.cells.get((task, column.selected(context.select or (axis,))))
                return selected is not None and any(
                    t.gate == "did not learn" for t in run_trips(selected.evidence, "", context.options)
                )

            gathered.add(table, rows, column, learn)
    shown = ", ".join(_fmt_value(v) for v in sorted(a, key=lambda v: (isinstance(v, str), v)))
    grid = f"the {axis} values both have ({shown})" if set(a) == set(b) else f"{len(b)} values of b, {len(a)} of a"
    return _result(
        claim,
        study,
        _spread_by_seed(table, list(b.values()), rows),
        _spread_by_seed(table, list(a.values()), rows),
        f"std over {axis} of b minus of a, over {grid}",
        gathered,
    )


def _fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _difference_by_seed(table: Table, a: Column, b: Column, rows: list[Any]) -> dict[Any, float]:
    x, y = seed_means(table, a, rows), seed_means(table, b, rows)
    return {seed: x[seed] - y[seed] for seed in set(x) & set(y)}


def _spread_by_seed(table: Table, columns: list[Column], rows: list[Any]) -> dict[str, Any]:
    """{seed: std across the columns of that seed's row-averaged value}."""
    means = [seed_means(table, column, rows) for column in columns]
    shared = set.intersection(*(set(m) for m in means)) if means else set()
    return {seed: statistics.stdev(m[seed] for m in means) for seed in shared}


def decide(results: list[ClaimResult], alpha: float = ALPHA) -> list[ClaimResult]:
    """The verdicts of one claims table, its rows one family: q = Benjamini-Hochberg over every
    row's p (rows with a tripped gate included, which only makes the others' q larger), and the
    same over the equivalence tests' p. Idempotent: deciding decided rows again re-adjusts them
    in the new family (`adapterlab claims` over several studies). Rows come out by claim (C2
    before C10, each claim's rows in their given order); the order changes no q."""
    results = sorted(results, key=lambda r: claim_order(r.claim.id))
    qs, qs_equivalence = fdr_adjust([r.p for r in results]), fdr_adjust([r.p_equivalence for r in results])
    decided = []
    for result, q, q_equivalence in zip(results, qs, qs_equivalence):
        result = dataclasses.replace(result, q=q, q_equivalence=q_equivalence)
        decided.append(dataclasses.replace(result, verdict=_verdict(result, alpha)))
    return decided


def _verdict(r: ClaimResult, alpha: float) -> str:
    if r.verdict in ("not applicable", "not finished"):  # no test to decide: kept in any family
        return r.verdict
    if r.gates.trips:
        return "no verdict"
    if r.q is None or r.n < MIN_SEEDS_FOR_VERDICT:
        return "inconclusive"
    if r.q < alpha:
        return "supported" if r.value is not None and r.value > 0 else "contradicted"
    if r.q_equivalence is not None and r.q_equivalence < alpha:
        return "equivalent"
    return "inconclusive"


def evaluate_claims(
    claims: list[Claim],
    tables: dict[str, Table],
    study: str,
    constants: dict[str, Any] | None = None,
    context: GateContext | None = None,
) -> list[ClaimResult]:
    """Every claim on the table it names ("crosslingual:*": each cross-lingual table), decided as
    one family. constants: the settings every run of the study shares (its base); a `where:` key
    that is no grid label is checked against them (train_size: 1000 of a study whose base has k=1000).
    context: the gates (default: the main table with the default options)."""
    context = context or GateContext(tables.get("main"))
    results = []
    labels = {key for table in tables.values() for column in table.columns for key in column.labels()}
    for claim in claims:
        if claim.not_tested:
            results.append(_not_applicable(claim, study, f"not tested by this study: {claim.not_tested}"))
            continue
        claim, problem = fixed_where(claim, labels, constants or {})
        if problem:
            results.append(_not_applicable(claim, study, problem))
            continue
        names = (
            [name for name in tables if name.startswith("crosslingual:")]
            if claim.table == "crosslingual:*"
            else [claim.table]
        )
        if not any(name in tables for name in names):
            results.append(
                _not_applicable(
                    claim,
                    study,
                    f"the study has no {claim.table} table ({MISSING_TABLE.get(claim.table.split(':')[0], '')})",
                )
            )
        for name in (name for name in names if name in tables):
            label = study if claim.table != "crosslingual:*" else f"{study} ({name.split(':', 1)[1]})"
            measured = measure_claim(dataclasses.replace(claim, table=name), tables[name], label, context)
            rows = _rows(measured.claim, tables[name])
            results.append(with_runner_ups(measured, tables[name], rows, context, measure_claim))
    return decide(results)
