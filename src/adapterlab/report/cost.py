"""What each method of a study cost per run, from its run records: wall time (data, model,
training, evaluation, test, saving), training time alone, trainable parameters and what a task
keeps on disk. The numbers are the machine's that ran the study (result.json records them), so
they compare methods run side by side under the same conditions, not machines."""

from __future__ import annotations

import statistics

from adapterlab.runs import RunRecord
from adapterlab.report.tables import METHOD_WORDS


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "–"
    mean = statistics.mean(values)
    return f"{mean:.0f} {unit} ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else f"{mean:.0f} {unit}"


def cost_markdown(records: list[RunRecord]) -> str:
    """One row per method over its finished runs (every task and setting), in the study's order.
    Empty when no run recorded its time."""
    by_method: dict[str, list] = {}
    for record in records:
        if record.result.status in ("ok", "diverged"):
            by_method.setdefault(record.setting.column.method or "?", []).append(record.result)
    if not any(r.wall_seconds for results in by_method.values() for r in results):
        return ""
    lines = ["**Cost per run, by method** — mean (min-max) over the method's finished runs, on the machine that ran them; "
             "wall time covers data, model, training, evaluation, test and saving", "",
             "| method | runs | wall time per run | training time per run | trainable parameters | saved per task |", "|---|---|---|---|---|---|"]
    for method, results in by_method.items():
        trainable = [r.trainable_params for r in results if r.trainable_params]
        packs = [r.pack_bytes for r in results if r.pack_bytes]
        models = [r.model_bytes_fp32 for r in results if r.model_bytes_fp32]
        saved = f"{statistics.mean(packs) / 1e6:.2f} MB pack" if packs else f"{statistics.mean(models) / 1e6:.1f} MB model" if models else "–"
        shown = f"{statistics.mean(trainable):,.0f}" if trainable else "–"
        lines.append(f"| {METHOD_WORDS.get(method, method)} | {len(results)} | {_spread([r.wall_seconds for r in results if r.wall_seconds], 's')} | "
                     f"{_spread([r.train_seconds for r in results if r.train_seconds], 's')} | {shown} | {saved} |")
    return "\n".join(lines) + "\n"
