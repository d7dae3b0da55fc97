"""Real-data low-resource comparison: adapters (m=64, lr 1e-4) vs fine-tuning (lr 2e-5) on
SST-2 and ChemProt at k=1000, 20 epochs, the paper's protocol (k from train, 1k validation from
the rest of train, the original dev set as test), several seeds.

    python benchmarks/lowres_real.py --data-root ../shared/data --out runs/lowres [--model DIR] [--smoke]

Finished runs are skipped, so the command resumes. It prints a Markdown table of mean ± std.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from adapterlab.adapters.config import AdapterConfig
from adapterlab.runs import RunResult, load_result
from adapterlab.train.config import RunConfig
from adapterlab.train.run import run_training

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke, toy_task  # noqa: E402

TASKS = {"sst2": "glue/SST-2", "chemprot": "tae/chemprot"}
METHODS = {"adapter": 1e-4, "finetune": 2e-5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="folder holding glue/SST-2 and tae/chemprot (required)")
    parser.add_argument("--out", help="(required)")
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--validation-size", type=int, default=1000)
    parser.add_argument("--tasks", default="sst2,chemprot")
    add_smoke_argument(parser)
    args = parser.parse_args()
    folder = apply_smoke(args, seeds=1, epochs=1, train_size=16, validation_size=16, tasks="sst2")
    if folder is not None:
        args.data_root, args.out = str(toy_task(folder / "data" / TASKS["sst2"]).parents[1]), str(folder / "runs")
    if args.data_root is None or args.out is None:
        parser.error("--data-root and --out are required (or --smoke)")

    root, out = Path(args.data_root), Path(args.out)
    results = []
    for task in args.tasks.split(","):
        folder = root / TASKS[task]
        for method, lr in METHODS.items():
            for seed in range(args.seeds):
                run_dir = out / task / method / f"seed={seed}"
                result = load_result(run_dir)
                if result is None:
                    config = RunConfig(
                        task=task,
                        train=str(folder / ("train.tsv" if task == "sst2" else "train.txt")),
                        dev=str(folder / ("dev.tsv" if task == "sst2" else "dev.txt")),
                        model=args.model,
                        method=method,
                        adapter=AdapterConfig(size=64),
                        lr=lr,
                        epochs=args.epochs,
                        batch_size=16,
                        max_length=128,
                        seed=seed,
                        train_size=args.train_size,
                        validation_size=args.validation_size,
                        progress=False,
                    )
                    result = run_training(config, run_dir)
                print(
                    f"{task} {method} seed {seed}: {result.status} test {result.metric} {result.test_metric:.4f} "
                    f"(best epoch {result.best_epoch}, {result.wall_seconds:.0f} s)",
                    flush=True,
                )
                results.append(result)
    print()
    print(table(results))
    return 0


def table(results: list[RunResult]) -> str:
    lines = [
        "| task (metric) | method | lr | seeds | test, mean ± std | validation, mean | best epoch, mean | trainable | s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r.task, r.method) for r in results}, key=lambda k: (k[0], k[1] != "adapter"))
    for task, method in keys:
        rows = [r for r in results if r.task == task and r.method == method and r.status == "ok"]
        tests = [100 * r.test_metric for r in rows]
        std = statistics.stdev(tests) if len(tests) > 1 else 0.0
        lines.append(
            f"| {task} ({rows[0].metric}) | {method} | {METHODS[method]:g} | {len(rows)} | {statistics.mean(tests):.2f} ± {std:.2f} | "
            f"{100 * statistics.mean(r.validation_metric for r in rows):.2f} | {statistics.mean(r.best_epoch for r in rows):.1f} | "
            f"{rows[0].trainable_percent:.2f}% | {statistics.mean(r.wall_seconds for r in rows):.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
