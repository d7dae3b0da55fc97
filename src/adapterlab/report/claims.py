"""Claims as checks: each claim (study/claims_spec.py) evaluated on a study's tables, with our
number, its 95% CI, a verdict (supported / contradicted / inconclusive) and the seeds a
comparison would need. Runs that share a seed are paired (same k-sample and validation split)."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass

from adapterlab.report.statistics import ALPHA, MAX_SEEDS, MIN_SEEDS_FOR_VERDICT, fdr_adjust, paired_comparison
from adapterlab.report.tables import Table
from adapterlab.setting import BEST, Column
from adapterlab.study.claims_spec import Claim


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    study: str  # the study (and the table, for cross-lingual claims)
    value: float | None  # ours, ×100 scale
    ci_low: float | None
    ci_high: float | None
    n: int  # seeds behind it
    p: float | None
    verdict: str  # "supported", "contradicted", "inconclusive", "not applicable"
    seeds_needed: int | None
    detail: str = ""  # which cells; why not applicable
    setup: str = ""  # the study spec's description: its scale (backbone, data, seeds), so a row says what it rests on


def _matches(column: Column, labels: dict) -> bool:
    own = column.labels()
    return all(key in own and own[key] == value for key, value in labels.items())


def _narrowed(column: Column, where: dict) -> bool:
    """`where` holds for the column; a key the column does not carry is an axis its method does not
    vary (by_method: {adapter: {tapt: [false, true]}}), so it does not exclude the column."""
    own = column.labels()
    return all(own[key] == value for key, value in where.items() if key in own)


def _pick(table: Table, labels: dict, where: dict, exclude: tuple[str, ...] = ()) -> list[Column]:
    """The columns with these labels: the selected (best) column of a group where there is one."""
    found = [c for c in table.columns if _matches(c, labels) and _narrowed(c, where)]
    selected = [c for c in found if BEST in c.labels().values() and not any(c.labels().get(axis) == BEST for axis in exclude)]
    return selected or [c for c in found if BEST not in c.labels().values()]


def _seed_means(table: Table, column: Column, rows: list) -> dict:
    """{seed: mean over rows of the cell values} for the seeds every row has."""
    maps = [table.cells[(row, column)].by_seed() for row in rows if (row, column) in table.cells]
    if len(maps) < len(rows) or not all(maps):
        return {}
    shared = set.intersection(*(set(m) for m in maps))
    return {seed: statistics.mean(m[seed] for m in maps) for seed in shared}


def _result(claim: Claim, study: str, a: dict, b: dict, detail: str) -> ClaimResult:
    """Paired comparison of per-seed values a[s] - b[s], verdict by its p and direction."""
    shared = sorted(set(a) & set(b), key=str)
    if len(shared) < 2:
        value = statistics.mean(a[s] - b[s] for s in shared) if shared else None
        return ClaimResult(claim, study, value, None, None, len(shared), None, "inconclusive", None, f"{detail}; {len(shared)} shared seed(s)")
    comparison = paired_comparison([a[s] for s in shared], [b[s] for s in shared])
    return ClaimResult(claim, study, comparison.difference, comparison.ci_low, comparison.ci_high, len(shared), comparison.p,
                       _verdict(comparison.difference, comparison.p, len(shared)), comparison.seeds_needed,
                       detail if len(shared) >= MIN_SEEDS_FOR_VERDICT else f"{detail}; {len(shared)} seeds: no verdict below {MIN_SEEDS_FOR_VERDICT}")


def _verdict(difference: float, p: float | None, n: int = MIN_SEEDS_FOR_VERDICT) -> str:
    if p is None or p >= ALPHA or n < MIN_SEEDS_FOR_VERDICT:
        return "inconclusive"
    return "supported" if difference > 0 else "contradicted"


def _not_applicable(claim: Claim, study: str, why: str) -> ClaimResult:
    return ClaimResult(claim, study, None, None, None, 0, None, "not applicable", None, why)


def evaluate_claim(claim: Claim, table: Table, study: str) -> ClaimResult:
    rows = list(claim.rows) if claim.rows else [r for r in table.rows if r != "average"]
    rows = [r for r in rows if r in table.rows]
    if not rows:
        return _not_applicable(claim, study, "none of its rows are in the table")
    if claim.kind in ("trend", "spread"):
        return _by_axis(claim, table, study, rows)
    a, b = _pick(table, claim.a, claim.where), _pick(table, claim.b, claim.where)
    if len(a) != 1 or len(b) != 1:
        return _not_applicable(claim, study, f"{len(a)} column(s) match a={claim.a}, {len(b)} match b={claim.b}; narrow it with where:")
    a, b = a[0], b[0]
    detail = f"{a.name} vs {b.name}"
    if claim.kind == "every_row":
        return _every_row(claim, table, study, rows, a, b, detail)
    return _result(claim, study, _seed_means(table, a, rows), _seed_means(table, b, rows), f"{detail}, over {len(rows)} row(s)")


def _every_row(claim: Claim, table: Table, study: str, rows: list, a: Column, b: Column, detail: str) -> ClaimResult:
    results = [_result(claim, study, _seed_means(table, a, [row]), _seed_means(table, b, [row]), "") for row in rows]
    if any(r.p is None for r in results):
        return ClaimResult(claim, study, min((r.value for r in results if r.value is not None), default=None), None, None,
                           min(r.n for r in results), None, "inconclusive", None, f"{detail}: fewer than 2 shared seeds in some row")
    qs = fdr_adjust([r.p for r in results])
    weakest = min(range(len(results)), key=lambda i: results[i].value)
    if min(r.n for r in results) < MIN_SEEDS_FOR_VERDICT:
        verdict = "inconclusive"
    elif all(q < ALPHA and r.value > 0 for q, r in zip(qs, results)):
        verdict = "supported"
    elif any(q < ALPHA and r.value < 0 for q, r in zip(qs, results)):
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    needed = [r.seeds_needed for r in results if r.seeds_needed is not None]
    return ClaimResult(claim, study, results[weakest].value, results[weakest].ci_low, results[weakest].ci_high, results[weakest].n,
                       qs[weakest], verdict, max(needed) if needed else None,
                       f"{detail}: the weakest of {len(rows)} rows ({table.row_name(rows[weakest])}); q: Benjamini-Hochberg over the rows")


def _by_axis(claim: Claim, table: Table, study: str, rows: list) -> ClaimResult:
    axis = claim.axis

    def columns_by_value(labels: dict) -> dict:
        found = [c for c in table.columns if _matches(c, labels) and _narrowed(c, claim.where) and c.labels().get(axis) not in (None, BEST)]
        return {c.labels()[axis]: c for c in found if BEST not in c.labels().values()}

    a, b = columns_by_value(claim.a), columns_by_value(claim.b)
    values = sorted(set(a) & set(b), key=lambda v: (isinstance(v, str), v))
    if claim.kind == "trend":
        if len(values) < 2:
            return _not_applicable(claim, study, f"needs two values of {axis} for both a and b (has {values})")
        low, high = values[0], values[-1]
        gap = lambda value: _difference_by_seed(table, a[value], b[value], rows)  # noqa: E731
        return _result(claim, study, gap(low), gap(high), f"(a-b at {axis}={low}) - (a-b at {axis}={high})")
    if len(a) < 2 or len(b) < 2:
        return _not_applicable(claim, study, f"needs two values of {axis} for a and for b")
    for side, columns in (("a", a), ("b", b)):
        values = {v for c in columns.values() for row in rows if (row, c) in table.cells for v in table.cells[(row, c)].values}
        if len(values) == 1:  # e.g. MCC 0 everywhere: the majority class at every setting; a spread of 0 means nothing
            return _not_applicable(claim, study, f"every {side} cell ({', '.join(f'{k}={v}' for k, v in getattr(claim, side).items())}) is "
                                                 f"{next(iter(values)):.2f} at every {axis} and seed: it did not learn at these settings, "
                                                 "so its spread says nothing about sensitivity")
    return _result(claim, study, _spread_by_seed(table, list(b.values()), rows), _spread_by_seed(table, list(a.values()), rows),
                   f"std over {axis} of b ({len(b)} values) minus of a ({len(a)} values)")


def _difference_by_seed(table: Table, a: Column, b: Column, rows: list) -> dict:
    x, y = _seed_means(table, a, rows), _seed_means(table, b, rows)
    return {seed: x[seed] - y[seed] for seed in set(x) & set(y)}


def _spread_by_seed(table: Table, columns: list[Column], rows: list) -> dict:
    """{seed: std across the columns of that seed's row-averaged value}."""
    means = [_seed_means(table, column, rows) for column in columns]
    shared = set.intersection(*(set(m) for m in means)) if means else set()
    return {seed: statistics.stdev(m[seed] for m in means) for seed in shared}


def evaluate_claims(claims: list[Claim], tables: dict[str, Table], study: str, constants: dict | None = None) -> list[ClaimResult]:
    """Every claim on the table it names ("crosslingual:*": each cross-lingual table).
    constants: the settings every run of the study shares (its base); a `where:` key that is no
    grid label is checked against them (train_size: 1000 of a study whose base has k=1000)."""
    results = []
    for claim in claims:
        labels = {key for table in tables.values() for column in table.columns for key in column.labels()}
        fixed = {key: value for key, value in claim.where.items() if key not in labels}
        wrong = {key: value for key, value in fixed.items() if (constants or {}).get(key, object()) != value}
        if wrong:
            key = next(iter(wrong))
            have = (constants or {}).get(key, "a value that varies")
            results.append(_not_applicable(claim, study, f"where {key}={wrong[key]!r}: the study runs {key}={have!r}"))
            continue
        claim = dataclasses.replace(claim, where={k: v for k, v in claim.where.items() if k not in fixed})
        names = [name for name in tables if name.startswith("crosslingual:")] if claim.table == "crosslingual:*" else [claim.table]
        if not any(name in tables for name in names):
            results.append(_not_applicable(claim, study, f"the study has no {claim.table} table"))
        for name in names:
            if name in tables:
                label = study if claim.table != "crosslingual:*" else f"{study} ({name.split(':', 1)[1]})"
                results.append(evaluate_claim(claim, tables[name], label))
    return results


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def claims_markdown(results: list[ClaimResult]) -> str:
    lines = ["**Claims** — ours: the claim's quantity ×100 (a − b, per seed, mean over seeds) with its paired t-test 95% CI; "
             f"verdict at α={ALPHA} (supported / contradicted / inconclusive, with the seeds 80% power would need)", "",
             "| claim | study | setup | paper | ours [95% CI] | seeds | p | verdict | cells |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ci = f" [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if r.ci_low is not None else ""
        verdict = r.verdict
        if verdict == "inconclusive" and r.seeds_needed is not None:
            verdict += f" (needs {'> ' + str(MAX_SEEDS) if r.seeds_needed > MAX_SEEDS else r.seeds_needed} seeds)"
        p = "–" if r.p is None else f"{r.p:.3f}"
        lines.append(f"| {r.claim.id}: {r.claim.text} | {r.study} | {r.setup or '–'} | {r.claim.paper or '–'} | {_fmt(r.value)}{ci} | {r.n} | {p} | "
                     f"{verdict} | {r.detail} |")
    return "\n".join(lines) + "\n"


def claims_json(results: list[ClaimResult]) -> list[dict]:
    return [{"id": r.claim.id, "text": r.claim.text, "study": r.study, "setup": r.setup, "paper": r.claim.paper, "paper_value": r.claim.paper_value,
             "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n, "p": r.p, "verdict": r.verdict,
             "seeds_needed": r.seeds_needed, "detail": r.detail} for r in results]
