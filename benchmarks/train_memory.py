"""Memory of a training run over its steps: adapterlab as it is, against the allocator setting it
had before and against its loop without the garbage collection after validation and save (issue #28).

    .venv/bin/python benchmarks/train_memory.py [--model DIR] [--task sst2 --train FILE --dev FILE]
        [--method finetune] [--lr 1e-4] [--seed 2] [--batch-size 32] [--train-size 1000] [--epochs 2] [--eval-every 16] [--smoke]

Why: fine-tuning multilingual-e5-small on PAN-X grew 100-200 MB per step until it was killed
for memory (16-21 GB). Two causes were found, one after the other. Evaluation and torch.save
leave reference cycles that hold freed tensors until Python's collector runs (train/loop.py and
train/checkpoint.py now call gc.collect() after each validation and save). And the CLI's
allocator setting (runtime.keep_freed_memory) kept blocks up to 1 GB in glibc's heap, where the
384 MB blocks of e5's 250k-vocabulary embedding (gradient, Adam states, best-state copy)
fragmented it without bound; blocks above 32 MB now go back to the kernel.

Each variant is one `adapterlab train` in a fresh child process (the real command line); a
baseline child changes one thing before it starts: the allocator's threshold back to 1 GB, or
the two gc.collect() calls replaced with no-ops. The parent
samples the child's resident memory (VmRSS) every 0.2 s and prints, per variant, the peak and
the resident memory when each validation row appears in metrics.jsonl (within 0.2 s of it, just
before or after that validation's collection): a run whose memory is bounded is flat from one
validation to the next. Defaults: full fine-tuning of the embedded MiniLM
on 1,000 SST-2 sentences from ../shared (skipped when absent); the PAN-X case of the fix is
`--model runs/backbones/multilingual-e5-small --task panx --train .../train-en.tsv --dev .../dev-en.tsv`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke, toy_task  # noqa: E402

SHARED_SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue" / "SST-2"
CHILD = """
import contextlib, sys, types
if sys.argv[1] == "no-collection":  # the loop as it was before the collection (and before its freeze)
    import adapterlab.train.checkpoint as checkpoint, adapterlab.train.loop as loop
    loop.gc = checkpoint.gc = types.SimpleNamespace(collect=lambda *a, **k: 0)
    loop.collect_new_objects_only = contextlib.nullcontext
if sys.argv[1] == "threshold-1gb":  # the allocator as it was: blocks up to 1 GB kept in the heap
    import adapterlab.runtime
    adapterlab.runtime.MMAP_THRESHOLD_BYTES = 1 << 30
from adapterlab.cli.main import main
sys.exit(main(sys.argv[2:]))
"""
VARIANTS = {
    "adapterlab": "adapterlab as it is",
    "threshold-1gb": "allocator keeps blocks up to 1 GB (before)",
    "no-collection": "no collection after validation and save (before)",
}


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def validation_steps(metrics: Path) -> list[int]:
    """The steps of the validation rows the run has written so far (metrics.jsonl)."""
    if not metrics.exists():
        return []
    steps = []
    for line in metrics.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line being written
            continue
        if row.get("split") == "validation":
            steps.append(row.get("step"))
    return steps


def measure(variant: str, arguments: list[str], out: Path) -> tuple[float, list[tuple[int, float]], float, int]:
    """(peak MB, [(step, MB) when each validation row appeared], seconds, exit code) of one child."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    run = out / variant
    errors = out / f"{variant}.stderr"  # a file, not a pipe: a chatty child never blocks on it
    with errors.open("w") as sink:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, variant, *arguments, "--out", str(run), "--no-progress"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=env,
        )
    start, peak, at_validation, seen = time.time(), 0.0, [], 0
    while child.poll() is None:
        value = rss_mb(child.pid)
        if value is not None:
            peak = max(peak, value)
            steps = validation_steps(run / "metrics.jsonl")
            at_validation += [(step, value) for step in steps[seen:]]  # sampled within 0.2 s of the row
            seen = len(steps)
        time.sleep(0.2)
    seconds = time.time() - start
    error = errors.read_text()
    if child.returncode != 0:
        print(f"{variant}: adapterlab train exited {child.returncode}: {error.strip().splitlines()[-1:]}")
    return peak, at_validation, seconds, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--train", default=str(SHARED_SST2 / "train.tsv"))
    parser.add_argument("--dev", default=str(SHARED_SST2 / "dev.tsv"))
    parser.add_argument("--method", default="finetune")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=2, help="the PAN-X run that grew was seed 2 (seed 1 did not)")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--validation-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--batch-size", type=int, default=32, help="the replication specs' (at 16 the e5 run did not grow)"
    )
    parser.add_argument("--eval-every", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    add_smoke_argument(parser)
    args = parser.parse_args()
    folder = apply_smoke(args, train_size=40, validation_size=20, epochs=1, eval_every=1)
    if folder is not None:
        toy = toy_task(folder / "toy")
        args.train, args.dev = str(toy / "train.tsv"), str(toy / "dev.tsv")
    if not Path(args.train).exists():
        print(f"skipped: {args.train} is not here (../shared/data); give --train and --dev")
        return
    arguments = [
        "train",
        "--task", args.task, "--train", args.train, "--dev", args.dev, "--method", args.method,
        "--train-size", str(args.train_size), "--validation-size", str(args.validation_size),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--eval-every", str(args.eval_every), "--max-length", str(args.max_length),
        "--lr", str(args.lr), "--seed", str(args.seed),
    ]  # fmt: skip
    if args.model:
        arguments += ["--model", args.model]
    print(f"adapterlab {' '.join(arguments)}")
    print("| variant | peak RSS MB | RSS MB at each validation (step: MB) | seconds |")
    print("|---|---|---|---|")
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="adapterlab-memory-") as out:
        for variant, label in VARIANTS.items():
            peak, series, seconds, code = measure(variant, arguments, Path(out))
            print(f"| {label} | {peak:.0f} | {', '.join(f'{s}: {v:.0f}' for s, v in series)} | {seconds:.0f} |")
            peaks[variant] = (peak, series, code)
    ours, ours_series, ours_code = peaks["adapterlab"]
    print()
    for variant in list(VARIANTS)[1:]:
        peak, series, code = peaks[variant]
        if ours_code == 0 and code == 0 and ours > 0 and ours_series and series:
            print(
                f"{VARIANTS[variant]}: peak RSS {peak / ours:.2f}x adapterlab's; from the first validation to the "
                f"last: {series[-1][1] - series[0][1]:+.0f} MB against {ours_series[-1][1] - ours_series[0][1]:+.0f} MB"
            )


if __name__ == "__main__":
    main()
