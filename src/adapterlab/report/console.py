"""What the run, use and analysis commands print: a run's summary, the task list, an
evaluation's line, and the Markdown tables of `rsa`, `crosslingual` and `forgetting`.
Functions return lines; the CLI prints them."""

from __future__ import annotations

import math
from typing import Any

from adapterlab.data.tasks import TASKS


def _metric(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def train_summary_lines(result: Any, out: str) -> list[str]:
    """`adapterlab train`'s answer: status, metrics, trainable share and time; notes; the pack."""
    metric = result.metric
    lines = [
        f"{result.status}: {result.task} {result.method} seed {result.seed}: "
        f"validation {metric} {_metric(result.validation_metric)}, test {metric} {_metric(result.test_metric)}; "
        f"{result.trainable_params:,} trainable params ({result.trainable_percent:.2f}%), {result.wall_seconds:.0f} s"
    ]
    unscored = (result.test or {}).get("unscored_words")
    if unscored:
        lines.append(f"note: {unscored} of {result.test['words']} test words had no sub-word token and count as wrong")
    if result.tapt and result.tapt.get("note"):
        lines.append(f"note: {result.tapt['note']}")
    if result.pack:
        lines.append(
            f"task pack: {result.pack} ({result.pack_bytes / 1e6:.2f} MB; the full model is {result.model_bytes_fp32 / 1e6:.1f} MB)"
        )
    lines.append(f"results: {out}/result.json")
    return lines


def task_lines() -> list[str]:
    """`adapterlab tasks`: every known task with its kind, metric and labels."""
    lines = []
    for spec in TASKS.values():
        labels = (
            ", ".join(spec.labels)
            if spec.labels
            else "(from the training data)"
            if spec.kind in ("classification", "token")
            else "-"
        )
        lines.append(
            f"{spec.name:20} {spec.kind:15} metric {spec.metric:10} {'pair ' if spec.pair else ''}labels: {labels}"
        )
    return lines


def evaluation_line(evaluation: dict[str, Any], data: str, out: Any) -> str:
    """`adapterlab evaluate`'s answer: the metric, with why it may be missing or partial."""
    value = evaluation["value"]
    shown = f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"
    unknown = evaluation["metrics"].get("unknown_labels")
    note = (
        f" ({len(unknown)} gold label(s) the run never saw count as misses: {', '.join(unknown[:3])})"
        if unknown
        else ""
    )
    if evaluation["metrics"].get("nonfinite"):
        note += (
            f" ({evaluation['metrics']['nonfinite']} of {evaluation['examples']} inputs gave NaN or inf outputs: the weights are not "
            "finite (did the run diverge?), so no metric is reported)"
        )
    return (
        f"{evaluation['task']} ({evaluation['method']}) on {data}: {evaluation['metric']} {shown} over {evaluation['examples']} "
        f"examples{note}; written to {out}"
    )


def import_line(hub: Any, pack: Any) -> str:
    """`adapterlab import-adapterhub`'s answer."""
    head = (
        f"with its {hub.head.kind} head ({len(hub.head.labels)} labels)"
        if hub.head
        else "without a head (none was saved)"
    )
    return f"imported AdapterHub adapter {hub.name!r} (double_seq_bn, m={hub.config.size}, {hub.config.nonlinearity}) {head}: {pack}"


def export_line(exported: Any) -> str:
    """`adapterlab export`'s answer: what was written and how it was checked against the pack."""
    what = "merged weights (transformers)" if exported.format == "merged" else "ONNX"
    check = (
        f"max |logit difference| vs the pack {exported.max_abs_diff:.1e} ({exported.checked_with}, a probe batch)"
        if exported.max_abs_diff is not None
        else exported.checked_with
    )
    return f"exported {exported.task} ({exported.method}) as {what} to {exported.path}: {check}"


def rsa_lines(rows: list[dict[str, Any]], count: int, csv_path: Any, png_path: Any) -> list[str]:
    """`adapterlab rsa`: RSA per layer, a row per run."""
    lines = ["| run | method | " + " | ".join(f"layer {r['layer']}" for r in rows if r["run"] == rows[0]["run"]) + " |"]
    for run in dict.fromkeys(r["run"] for r in rows):
        points = [r for r in rows if r["run"] == run]
        lines.append(f"| {run} | {points[0]['method']} | " + " | ".join(f"{p['rsa']:.3f}" for p in points) + " |")
    lines.append(f"RSA on {count} tokens (CKA in the CSV): {csv_path}, {png_path}")
    return lines


def crosslingual_lines(rows: list[dict[str, Any]], languages: list[str]) -> list[str]:
    """`adapterlab crosslingual`: the metric ×100 per language and its averages, a row per run;
    then a note per language whose gold labels the run never saw."""
    lines = [
        "| run | method | " + " | ".join(languages) + " | all | target | distant |",
        "|---|---|" + "---|" * (len(languages) + 3),
    ]
    for row in rows:
        averages = [row["averages"][k] for k in ("all", "target", "distant")]
        lines.append(
            f"| {row['run']} | {row['method']} | "
            + " | ".join(f"{100 * row['scores'][lang]:.1f}" for lang in languages)
            + " | "
            + " | ".join("–" if a is None else f"{100 * a:.1f}" for a in averages)
            + " |"
        )
    for row in rows:
        for lang in languages:
            unknown = row["per_language"][lang].get("unknown_labels")
            if unknown:
                lines.append(f"note: {row['run']} {lang}: {unknown} gold labels the run never saw count as misses")
    return lines


def forgetting_lines(rows: list[dict[str, Any]]) -> list[str]:
    """`adapterlab forgetting`: MLM loss per model and its increase over the base."""
    lines = ["| model | method | MLM loss on held-out text | increase over base |\n|---|---|---|---|"]
    lines += [
        f"| {row['model']} | {row['method'] or '-'} | {row['mlm_loss']:.4f} | {row['increase']:+.4f} |" for row in rows
    ]
    return lines
