"""What `adapterlab compare` prints besides the answer's table (answer.py): the plan before the
first run, where the chosen run is, and the line that says a method has fewer seeds than planned."""

from __future__ import annotations

from pathlib import Path

from adapterlab.compare.answer import Answer
from adapterlab.compare.data import ComparisonData
from adapterlab.compare.plan import ComparePlan
from adapterlab.report.study_console import step_time


def plan_text(plan: ComparePlan, data: ComparisonData) -> str:
    """The plan as printed before the first run: sample, methods, schedule, seeds, estimate, notes."""
    seeds = (
        f"{plan.seeds_min} seeds, then up to {plan.seeds_max} while a comparison is undecided and the budget has room"
        if plan.sequential
        else f"{plan.seeds_min} seeds"
    )
    lines = [
        f"plan for {data.name} ({data.kind}{', pairs' if data.pair else ''}; pools: {data.pools['train']} train, "
        f"{data.pools['validation']} validation, {data.pools['test']} test; split seed {data.seed}):",
        f"  sample: k={plan.train_size} training examples, {plan.validation_size} validation, {plan.test_size} test"
        + (
            ""
            if plan.train_size >= data.pools["train"]
            else " (stratified; sized to the budget)"
            if data.kind == "classification"
            else " (sized to the budget)"
        ),
        "  methods: "
        + "; ".join(
            f"{m} lr {', '.join(f'{v:g}' for v in plan.lrs[m])} ({step_time(plan.seconds_per_step[m])} s/step)"
            for m in plan.methods
        ),
        f"  schedule: up to {plan.epochs} epochs, stopping when validation stops improving; batch {plan.batch_size}, "
        f"{plan.max_length} tokens; a rate at the edge of its grid grows it (x3, up to 5 rates)",
        f"  seeds: {seeds}",
        f"  estimate: {plan.estimate_seconds / 60:.0f} min at the epoch ceiling for the first design, within a budget of "
        f"{plan.budget_seconds / 60:.0f} min (the rest is room for the grid to grow)",
    ]
    lines += [f"  {note}" for note in plan.notes]
    return "\n".join(lines)


def where_line(out: Path) -> str:
    """Where the chosen run and the report are, and the command that uses the run."""
    return f"\nthe chosen run, ready for `{predict_hint(out)}`: {out / 'best'}; report: {out / 'report.html'}"


def predict_hint(out: Path) -> str:
    """The command that labels a file with the chosen run (`adapterlab predict`'s required options)."""
    return f"adapterlab predict {out / 'best'} --data FILE --out predictions.jsonl"


def incomplete_line(answer: Answer, planned_seeds: int) -> str:
    """A line for the head of the answer's table when a method has fewer seeds than planned."""
    short = [
        f"{r.word} over {r.seeds} of {planned_seeds} planned seeds" for r in answer.rows if r.seeds < planned_seeds
    ]
    return f"\nINCOMPLETE: {'; '.join(short)} (runs that failed, died or did not fit the budget)" if short else ""
