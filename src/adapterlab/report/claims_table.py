"""The claims table as the report prints it (Markdown, LaTeX, CSV, HTML from one Grid) and as
claims.json stores it: each row's verdict in words, and the caption that says the rows are one
family. The numbers themselves come from report/claims.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from adapterlab.report.claims import ClaimResult
from adapterlab.report.grid import Entry, Grid, interval_text, label, number, to_markdown
from adapterlab.report.statistics import ALPHA, MAX_SEEDS
from adapterlab.report.views import gates_entry


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _p(value: float | None) -> str:
    return "–" if value is None else "<0.001" if value < 0.001 else f"{value:.3f}"


def _seeds(value: int | None) -> str:
    return "–" if value is None else f"> {MAX_SEEDS}" if value > MAX_SEEDS else str(value)


def verdict_text(r: ClaimResult) -> str:
    """The verdict as the tables print it: with the gate that tripped, or the seeds it would need."""
    if r.verdict == "no verdict":
        return f"no verdict ({', '.join(r.gates.names)})"
    if r.verdict == "inconclusive" and (r.seeds_needed is not None or r.seeds_needed_paper is not None):
        parts = [
            f"{_seeds(r.seeds_needed)} at ours" if r.seeds_needed is not None else None,
            f"{_seeds(r.seeds_needed_paper)} at the paper's {r.claim.paper_value:+g}"
            if r.seeds_needed_paper is not None
            else None,
        ]
        return f"inconclusive (seeds for 80% power: {'; '.join(p for p in parts if p)})"
    if r.verdict == "equivalent":
        return f"equivalent (within ±{r.claim.margin:g})"
    return r.verdict


def family_caption(results: list[ClaimResult]) -> str:
    """What a claims table's numbers are, and that its rows are one family."""
    tested = sum(r.p is not None for r in results)
    off = sorted({name for r in results for name in r.gates.off})
    off_text = f" Gates switched off by a spec: {', '.join(off)}." if off else ""
    sequential = (
        " Rows marked (sequential): p and the interval are the anytime-valid test's (wider than the t interval)."
        if any(r.sequential for r in results)
        else ""
    )
    return (
        "ours: the claim's quantity ×100 (a − b, per seed, mean over seeds) with its paired t-test 95% CI."
        f"{sequential} "
        f"One family: q = Benjamini-Hochberg over the {tested} rows of this table with a test; the verdict from q at α={ALPHA} "
        "(supported / contradicted by the sign; equivalent when the two one-sided tests put it inside ±margin; inconclusive, with "
        "the seeds 80% power would need at our effect and at the paper's, for a fixed-n t-test). A row whose compared cells fail a validity gate "
        "(edge of the grid, not converged, did not learn; C6: no tail) gets no verdict and names it. "
        '"At the runner-up" (selection sensitivity): the same quantity with one chosen setting at a time '
        "replaced by the one second on validation (the gap ± its standard error over seeds), with its fixed-n t "
        "interval, unadjusted for the selection and for multiplicity: how much the row rests on that choice "
        "(a description, not a test)." + off_text
    )


CLAIMS_HEADER = (
    "claim",
    "study",
    "setup",
    "paper",
    "ours [95% CI]",
    "seeds",
    "p",
    "q",
    "verdict",
    "gates",
    "cells",
    "at the runner-up",
)


def claim_entries(r: ClaimResult) -> tuple[Entry, ...]:
    """One claims row as its cells (every format prints these)."""
    ci = f" {interval_text(r.ci_low, r.ci_high)}" if r.ci_low is not None else ""
    sequential = " (sequential)" if r.sequential else ""
    return (
        label(f"{r.claim.id}: {r.claim.text}"),
        label(r.study),
        label(r.setup or "–"),
        label(r.claim.paper or "–"),
        number(f"{_fmt(r.value)}{ci}", r.value),
        number(f"{r.n}{sequential}", r.n),
        number(_p(r.p), r.p),
        number(_p(r.q), r.q),
        label(verdict_text(r)),
        gates_entry(r.gates.names, [str(t) for t in r.gates.trips]),
        label(r.detail),
        label("; ".join(u.text() for u in r.runner_ups) or "–"),
    )


def claims_grid(results: list[ClaimResult]) -> Grid:
    """The claims table as a Grid (one row per claim and study)."""
    return Grid(
        "claims",
        "Claims",
        family_caption(results),
        CLAIMS_HEADER,
        tuple(claim_entries(r) for r in results),
        labels=2,
        level=2,
    )


def claims_markdown(results: list[ClaimResult]) -> str:
    """The claims table in Markdown, as `adapterlab claims` prints it."""
    return to_markdown(claims_grid(results))


def claims_json(results: list[ClaimResult]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.claim.id,
            "text": r.claim.text,
            "study": r.study,
            "setup": r.setup,
            "paper": r.claim.paper,
            "paper_value": r.claim.paper_value,
            "value": r.value,
            "ci_low": r.ci_low,  # JSON has no inf: an unbounded end is null here, and "interval" says which
            "ci_high": r.ci_high,
            "interval": interval_text(r.ci_low, r.ci_high) if r.ci_low is not None else None,
            "n": r.n,
            "p": r.p,
            "q": r.q,
            "verdict": r.verdict,
            "gate": r.gate,
            "gate_detail": [str(t) for t in r.gates.trips],
            "gates_off": list(r.gates.off),
            "p_equivalence": r.p_equivalence,
            "q_equivalence": r.q_equivalence,
            "margin": r.claim.margin,
            "seeds_needed": r.seeds_needed,
            "seeds_needed_at_paper": r.seeds_needed_paper,
            "sd": r.sd,
            "sequential": r.sequential,
            "cells": list(r.cells),
            "detail": r.detail,
            "runner_ups": [dataclasses.asdict(u) for u in r.runner_ups],
        }
        for r in results
    ]
