"""What each method of a study cost, from its run records: wall time per run (data, model,
training, evaluation, test, saving), training time alone, run-hours in all, the training steps
taken against the epoch ceiling (what convergence stopping saved), trainable parameters and what
a task keeps on disk. The numbers are the machine's that ran the study (result.json records them),
so they compare methods run side by side under the same conditions, not machines."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from adapterlab.methods import method_words
from adapterlab.report.curves import read_validation_rows
from adapterlab.report.grid import Entry, Grid, label, number
from adapterlab.runs import METRICS_FILE, RunRecord, read_config

COST_HEADER = (
    "method",
    "runs",
    "wall time per run",
    "training time per run",
    "run-hours",
    "training steps of the ceiling",
    "trainable parameters",
    "saved per task",
)
COST_CAPTION = (
    "mean (min-max) over the method's finished runs, on the machine that ran them; wall time covers model, training, "
    "evaluation, test and saving, not the process start-up and file reading before them (a resumed run: its last attempt); run-hours add every run's wall time; training steps "
    "of the ceiling: the steps taken over the steps `epochs` allowed, where convergence stopping ended runs early "
    "(diverged runs, and older runs stopped in their first epoch, whose ceiling is unknown, left out)"
)


def _spread(values: Sequence[float], unit: str) -> str:
    if not values:
        return "–"
    mean = statistics.mean(values)
    return f"{mean:.0f} {unit} ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else f"{mean:.0f} {unit}"


def _mean(values: Sequence[float]) -> float | None:
    return statistics.mean(values) if values else None


def ceiling_steps(record: RunRecord) -> int | None:
    """The optimizer steps a run's `epochs` allowed. Recorded since 2026-12-07; for an older run:
    its steps when it ran to the ceiling, else `epochs` x the steps of its first epoch (the last
    validation row of epoch 1, when a later epoch began: every epoch ends with one), else None.
    Not from train_size / batch_size: length-grouped batching can make an epoch a batch longer."""
    result = record.result
    if result.ceiling_steps:
        return result.ceiling_steps
    if result.stop_reason == "ceiling":
        return result.steps
    epochs = (read_config(record.folder) or {}).get("epochs")
    path = record.folder / METRICS_FILE
    rows = read_validation_rows(path) if path.is_file() else []
    first = [int(r["step"]) for r in rows if r.get("epoch") == 1 and isinstance(r.get("step"), int)]
    if not isinstance(epochs, int) or not first or not any(int(r.get("epoch") or 0) > 1 for r in rows):
        return None
    return epochs * max(first)


def _share_of_ceiling(pairs: Sequence[tuple[int, int]]) -> Entry:
    """Steps taken over the ceiling's, summed over the runs whose ceiling is known."""
    if not pairs:
        return number("–", None)
    taken, ceiling = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return number(f"{taken / ceiling:.0%} of {ceiling:,}", taken / ceiling)


def _row(name: str, records: Sequence[RunRecord]) -> tuple[Entry, ...]:
    results = [r.result for r in records]
    walls = [r.wall_seconds for r in results if r.wall_seconds]
    trains = [r.train_seconds for r in results if r.train_seconds]
    pairs = [
        (r.result.steps, c)
        for r in records
        if r.result.steps is not None and r.result.status != "diverged" and (c := ceiling_steps(r))
    ]
    hours = sum(walls) / 3600
    return (
        label(name),
        number(str(len(results)), len(results)),
        number(_spread(walls, "s"), _mean(walls)),
        number(_spread(trains, "s"), _mean(trains)),
        number(f"{hours:.2f}", hours),
        _share_of_ceiling(pairs),
    )


def cost_grid(records: list[RunRecord]) -> Grid | None:
    """One row per method over its finished runs (every task and setting), in the study's order,
    and a row for all of them when there are several methods; None when no run recorded its time."""
    by_method: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.result.status in ("ok", "diverged"):
            by_method.setdefault(record.setting.column.method or "?", []).append(record)
    if not any(r.result.wall_seconds for group in by_method.values() for r in group):
        return None
    rows = []
    for method, group in by_method.items():
        results = [r.result for r in group]
        trainable = [r.trainable_params for r in results if r.trainable_params]
        packs = [r.pack_bytes for r in results if r.pack_bytes]
        models = [r.model_bytes_fp32 for r in results if r.model_bytes_fp32]
        size = _mean(packs) or _mean(models)
        saved = "–" if size is None else f"{size / 1e6:.2f} MB pack" if packs else f"{size / 1e6:.1f} MB model"
        rows.append(
            (
                *_row(method_words(method), group),
                number(f"{statistics.mean(trainable):,.0f}" if trainable else "–", _mean(trainable)),
                number(saved, size),
            )
        )
    if len(by_method) > 1:  # what the whole study cost
        rows.append((*_row("all methods", [r for group in by_method.values() for r in group]), label("–"), label("–")))
    return Grid("cost", "Cost, by method", COST_CAPTION, COST_HEADER, tuple(rows))
