"""Train-step time and peak memory: adapter tuning vs full fine-tuning on MiniLM, one process.

    python benchmarks/train_throughput.py [--batch-size 16] [--length 128] [--steps 12] [--threads 2] [--smoke]

Step = forward + backward + AdamW step in training mode (dropout on), on the same fixed batch
of real-looking token ids. The variants (VARIANTS below: plain fine-tuning, fine-tuning in
adapterlab's loop, adapters with and without the CPU fast path, AdapterDrop) take turns step by
step (A/B interleaved) after a warm-up, so machine noise hits all alike; the median and the
spread are printed. Peak memory is measured in a fresh child process per variant (peak RSS over
the steps), because RSS peaks cannot be reset inside one process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke  # noqa: E402


@dataclass(frozen=True)
class Variant:
    method: str  # "finetune" or "adapter"
    fast: bool  # adapterlab's CPU fast path (train/fast_ops.py), what its trainer uses on CPUs
    skip_layers: int = 0  # AdapterDrop: changes the method, so it is reported apart
    note: str = ""
    checkpointing: bool = False  # --gradient-checkpointing: recompute activations in backward


VARIANTS = {
    "finetune": Variant("finetune", False, note="plain PyTorch/HF fine-tuning"),
    "finetune-fast": Variant("finetune", True, note="fine-tuning in adapterlab's loop (fast path on)"),
    "adapter-native": Variant("adapter", False, note="adapterlab adapters, torch's own dropout/attention"),
    "adapter": Variant("adapter", True, note="adapterlab adapters as its trainer runs them"),
    "adapter-skip3": Variant(
        "adapter", True, skip_layers=3, note="AdapterDrop: no adapters in layers 0-2 (not the paper's method)"
    ),
    "finetune-ckpt": Variant(
        "finetune", True, note="fine-tuning in adapterlab's loop with --gradient-checkpointing", checkpointing=True
    ),
    "adapter-ckpt": Variant("adapter", True, note="adapters with --gradient-checkpointing", checkpointing=True),
}


def backbone(model: str | None) -> str:
    """--model, or the embedded MiniLM every measurement here was taken on."""
    from adapterlab.backbone import default_backbone_path

    return model or str(default_backbone_path())


def backbone_name(model: str | None) -> str:
    return "MiniLM-L6" if model is None else Path(model).name


def token_batch(vocab_size: int, batch_size: int, length: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Real-looking token ids (1000 to 30000 in MiniLM's vocabulary; the upper half of a smaller one)."""
    low, high = min(1000, vocab_size // 2), min(30000, vocab_size)
    return {
        "input_ids": torch.randint(low, high, (batch_size, length), generator=generator),
        "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
    }


def build(name: str, batch_size: int, length: int, seed: int = 0, model_path: str | None = None):
    import transformers

    import adapterlab as al

    variant = VARIANTS[name]
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(backbone(model_path), num_labels=2)
    if variant.method == "adapter":
        al.add_adapters(model, al.AdapterConfig(size=64, skip_layers=variant.skip_layers), name="task")
    counts = al.set_trainable(model, variant.method)
    if variant.checkpointing:
        from adapterlab.train.model_setup import enable_gradient_checkpointing

        enable_gradient_checkpointing(model)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(seed)
    batch = token_batch(model.config.vocab_size, batch_size, length, generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    return model, optimizer, batch, labels, counts


def step(model, optimizer, batch, labels, fast: bool = False) -> float:
    from adapterlab.train.fast_ops import fast_training_ops

    started = time.perf_counter()
    with fast_training_ops(fast):
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_while_training(model, optimizer, batch, labels, steps: int, fast: bool = False) -> dict:
    """RSS after loading, and the peak RSS while training `steps` steps (sampled every 2 ms)."""
    loaded = current_rss_mb()
    peak = [loaded]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], current_rss_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(steps):
        step(model, optimizer, batch, labels, fast)
    stop.set()
    sampler.join()
    return {"loaded_mb": loaded, "peak_mb": peak[0]}


def child_memory(name: str, batch_size: int, length: int, steps: int, model_path: str | None = None) -> dict:
    model, optimizer, batch, labels, _ = build(name, batch_size, length, model_path=model_path)
    return peak_rss_while_training(model, optimizer, batch, labels, steps, VARIANTS[name].fast)


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    """Thread count and allocator: the settings every benchmark here applies to its whole process."""
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="the allocator setting adapterlab's CLI uses (runtime.keep_freed_memory), for every variant alike",
    )


def apply_process_settings(args: argparse.Namespace) -> str:
    """Apply --threads and --keep-freed-memory, quiet transformers; returns the allocator's name."""
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        from adapterlab.runtime import keep_freed_memory

        keep_freed_memory()
    import transformers

    transformers.logging.set_verbosity_error()
    return "freed memory kept" if args.keep_freed_memory else "glibc malloc defaults"


def add_step_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    add_process_arguments(parser)
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    add_smoke_argument(parser)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--variants", help=f"comma-separated subset of {', '.join(VARIANTS)} (finetune is always run: the baseline)"
    )


def interleaved_step_times(runs: dict[str, tuple], fast: set[str], warmup: int, steps: int) -> dict[str, list[float]]:
    """Train-step times per variant, the variants taking turns step by step after `warmup` steps.
    Each value of `runs` starts with (model, optimizer, batch, labels)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(warmup + steps):
        for name, (model, optimizer, batch, labels, *_) in runs.items():
            elapsed = step(model, optimizer, batch, labels, name in fast)
            if index >= warmup:
                times[name].append(elapsed)
    return times


def child_peak_memory(script: str, names, args: argparse.Namespace) -> dict[str, dict]:
    """Peak RSS per variant, each trained in a fresh `script --child NAME` process (--smoke: all of
    them in one child, one after the other: it checks the plumbing, the peaks mean nothing)."""
    flags = [
        "--batch-size",
        str(args.batch_size),
        "--length",
        str(args.length),
        "--steps",
        str(args.steps),
        "--threads",
        str(args.threads),
    ]
    if args.keep_freed_memory:
        flags.append("--keep-freed-memory")
    if args.model:
        flags += ["--model", args.model]
    memory = {}
    for group in [",".join(names)] if args.smoke else list(names):
        out = subprocess.run(
            [sys.executable, script, "--child", group, *flags],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        memory.update(json.loads(out.stdout.strip().splitlines()[-1]))
    return memory


def print_child_memory(measure, args: argparse.Namespace) -> None:
    """The child's side: {name: measure(name)} for each name of --child, as one JSON line."""
    print(json.dumps({name: measure(name) for name in args.child.split(",")}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser)
    args = parser.parse_args()
    # the variants the summary line compares, one child process each
    apply_smoke(
        args, batch_size=2, length=16, steps=2, warmup=1, threads=1, variants=args.variants or "finetune-fast,adapter"
    )
    allocator = apply_process_settings(args)
    if args.child:
        print_child_memory(
            lambda name: child_memory(name, args.batch_size, args.length, max(3, args.steps // 3), args.model), args
        )
        return 0

    chosen = ["finetune", *[n for n in (args.variants.split(",") if args.variants else VARIANTS) if n != "finetune"]]
    runs = {name: build(name, args.batch_size, args.length, model_path=args.model) for name in chosen}
    times = interleaved_step_times(runs, {name for name in chosen if VARIANTS[name].fast}, args.warmup, args.steps)
    memory = child_peak_memory(__file__, runs, args)

    print(
        f"{backbone_name(args.model)}, batch {args.batch_size}, length {args.length}, {args.threads} threads, {allocator}, torch {torch.__version__}; "
        f"{args.steps} timed steps per variant after {args.warmup} warm-up, interleaved"
    )
    print(
        "| variant | trainable params | step time, median (min-max) | examples/s | vs plain fine-tuning | peak RSS while training | vs plain fine-tuning | what it is |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_time, base_memory = statistics.median(times["finetune"]), memory["finetune"]["peak_mb"]
    for name in runs:
        values = times[name]
        counts = runs[name][4]
        median = statistics.median(values)
        print(
            f"| {name} | {counts.trainable:,} ({counts.trainable_percent:.1f}%) | {median:.3f} s ({min(values):.3f}-{max(values):.3f}) | "
            f"{args.batch_size / median:.1f} | {median / base_time:.2f}x | {memory[name]['peak_mb']:.0f} MB | "
            f"{memory[name]['peak_mb'] / base_memory:.2f}x | {VARIANTS[name].note} |"
        )
    if {"adapter", "finetune-fast"} <= set(times):
        ours = statistics.median(times["adapter"])
        print(
            f"\nadapter / plain fine-tuning step: {ours / base_time:.2f}x (target <= 0.65x); "
            f"adapter / fine-tuning in the same loop: {ours / statistics.median(times['finetune-fast']):.2f}x; "
            f"peak RSS adapter / plain fine-tuning: {memory['adapter']['peak_mb'] / base_memory:.2f}x (target <= 0.70x)"
        )
    for plain, checkpointed in (("finetune-fast", "finetune-ckpt"), ("adapter", "adapter-ckpt")):
        if {plain, checkpointed} <= set(times):
            print(
                f"{checkpointed} / {plain}: step {statistics.median(times[checkpointed]) / statistics.median(times[plain]):.2f}x, "
                f"peak RSS {memory[checkpointed]['peak_mb'] / memory[plain]['peak_mb']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
