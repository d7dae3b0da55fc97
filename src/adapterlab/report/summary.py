"""The method summary of a study folder: per method (and adapter size), mean ± std test metric
over seeds, its cost (trainable share, time per run) and what each task saves. The quickstart
prints it; it reads the same typed run records as the report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from adapterlab.runs import RunRecord


@dataclass(frozen=True)
class MethodSummary:
    name: str  # the setting's column name, e.g. "adapter m=64"
    method: str
    lr: float | None
    seeds: int
    test_mean: float  # fraction
    test_std: float
    macro_f1_mean: float | None
    trainable_percent: float
    seconds_per_run: float
    pack_mb: float | None  # adapter runs: the task pack
    full_model_mb: float


def summarize(records: list[RunRecord], learning_rates: dict[str, float] | None = None) -> list[MethodSummary]:
    """One summary per setting (task aside) over its finished (ok) runs, fine-tuning last."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.result.status == "ok" and record.result.test_metric is not None:
            groups.setdefault(record.setting.column.name, []).append(record)
    summaries = []
    for name, group in groups.items():
        results = [r.result for r in group]
        tests = [r.test_metric for r in results]
        macro = [r.test["macro_f1"] for r in results if r.test and "macro_f1" in r.test]
        packs = [r.pack_bytes for r in results if r.pack_bytes]
        method = group[0].setting.column.method or ""
        summaries.append(MethodSummary(
            name=name, method=method, lr=(learning_rates or {}).get(method), seeds=len(results),
            test_mean=statistics.mean(tests), test_std=statistics.stdev(tests) if len(tests) > 1 else 0.0,
            macro_f1_mean=statistics.mean(macro) if macro else None,
            trainable_percent=statistics.mean(r.trainable_percent or 0.0 for r in results),
            seconds_per_run=statistics.mean(r.wall_seconds or 0.0 for r in results),
            pack_mb=statistics.mean(packs) / 1e6 if packs else None,
            full_model_mb=(results[0].model_bytes_fp32 or 0) / 1e6,
        ))
    return sorted(summaries, key=lambda s: (s.method == "finetune", s.name))


def format_summary(summaries: list[MethodSummary], title: str, metric: str = "accuracy", planned: dict[str, int] | None = None) -> str:
    """The summary table under `title`. planned: seeds planned per setting (column name); a
    setting with fewer finished seeds, or none, is named in the title, so a table over fewer
    seeds than planned says so where it starts."""
    short = []
    for name, count in (planned or {}).items():
        have = next((s.seeds for s in summaries if s.name == name), 0)
        if have < count:
            shown = "full fine-tuning" if name == "finetune" else name
            short.append(f"{shown} over {have} of {count} planned seeds" if have else f"{shown}: no finished run of {count} planned")
    if short:
        title = f"{title} (INCOMPLETE: {'; '.join(short)})"
    lines = [title, "",
             f"| method | lr | seeds | test {metric} (mean ± std) | test macro-F1 | trainable | time/run | saved per task |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        name = "full fine-tuning" if s.method == "finetune" else s.name.replace("m=", "m=")
        saved = f"{s.pack_mb:.2f} MB pack" if s.pack_mb is not None else f"{s.full_model_mb:.1f} MB model"
        macro = "–" if s.macro_f1_mean is None else f"{100 * s.macro_f1_mean:.2f}"
        lr = "–" if s.lr is None else f"{s.lr:g}"
        test = f"{100 * s.test_mean:.2f} ± {100 * s.test_std:.2f}" if s.seeds > 1 else f"{100 * s.test_mean:.2f}"  # one seed: no spread to show
        lines.append(f"| {name} | {lr} | {s.seeds} | {test} | {macro} | "
                     f"{s.trainable_percent:.2f}% | {s.seconds_per_run:.0f} s | {saved} |")
    adapters = next((s for s in summaries if s.pack_mb), None)
    if adapters and adapters.full_model_mb:
        lines += ["", f"task pack: {adapters.pack_mb:.2f} MB = {100 * adapters.pack_mb / adapters.full_model_mb:.1f}% of the "
                      f"{adapters.full_model_mb:.1f} MB full model"]
    return "\n".join(lines)
