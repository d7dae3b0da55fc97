"""What each method of a study cost per run, from its run records: wall time (data, model,
training, evaluation, test, saving), training time alone, trainable parameters and what a task
keeps on disk. The numbers are the machine's that ran the study (result.json records them), so
they compare methods run side by side under the same conditions, not machines."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from adapterlab.methods import method_words
from adapterlab.report.grid import Grid, label, number
from adapterlab.runs import RunRecord, RunResult

COST_HEADER = ("method", "runs", "wall time per run", "training time per run", "trainable parameters", "saved per task")
COST_CAPTION = (
    "mean (min-max) over the method's finished runs, on the machine that ran them; wall time covers data, model, training, "
    "evaluation, test and saving"
)


def _spread(values: Sequence[float], unit: str) -> str:
    if not values:
        return "–"
    mean = statistics.mean(values)
    return f"{mean:.0f} {unit} ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else f"{mean:.0f} {unit}"


def _mean(values: Sequence[float]) -> float | None:
    return statistics.mean(values) if values else None


def cost_grid(records: list[RunRecord]) -> Grid | None:
    """One row per method over its finished runs (every task and setting), in the study's order;
    None when no run recorded its time."""
    by_method: dict[str, list[RunResult]] = {}
    for record in records:
        if record.result.status in ("ok", "diverged"):
            by_method.setdefault(record.setting.column.method or "?", []).append(record.result)
    if not any(r.wall_seconds for results in by_method.values() for r in results):
        return None
    rows = []
    for method, results in by_method.items():
        walls = [r.wall_seconds for r in results if r.wall_seconds]
        trains = [r.train_seconds for r in results if r.train_seconds]
        trainable = [r.trainable_params for r in results if r.trainable_params]
        packs = [r.pack_bytes for r in results if r.pack_bytes]
        models = [r.model_bytes_fp32 for r in results if r.model_bytes_fp32]
        size = _mean(packs) or _mean(models)
        saved = "–" if size is None else f"{size / 1e6:.2f} MB pack" if packs else f"{size / 1e6:.1f} MB model"
        rows.append(
            (
                label(method_words(method)),
                number(str(len(results)), len(results)),
                number(_spread(walls, "s"), _mean(walls)),
                number(_spread(trains, "s"), _mean(trains)),
                number(f"{statistics.mean(trainable):,.0f}" if trainable else "–", _mean(trainable)),
                number(saved, size),
            )
        )
    return Grid("cost", "Cost per run, by method", COST_CAPTION, COST_HEADER, tuple(rows))
