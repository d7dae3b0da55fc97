"""Train-step time and peak memory: adapter tuning vs full fine-tuning on MiniLM, one process.

    python benchmarks/train_throughput.py [--batch-size 16] [--length 128] [--steps 12] [--threads 2]

Step = forward + backward + AdamW step in training mode (dropout on), on the same fixed batch
of real-looking token ids. The two methods alternate step by step (A/B interleaved) after a
warm-up, so machine noise hits both alike; the median and the spread are printed. Peak memory
is measured in a fresh child process per method (peak RSS over the steps, minus the RSS after
loading the model), because RSS peaks cannot be reset inside one process.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch


def build(method: str, batch_size: int, length: int, seed: int = 0):
    import transformers

    import adapterlab as al
    from adapterlab.backbone import default_backbone_path

    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(default_backbone_path(), num_labels=2)
    if method == "adapter":
        al.add_adapters(model, al.AdapterConfig(size=64), name="task")
    counts = al.set_trainable(model, method)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(seed)
    batch = {
        "input_ids": torch.randint(1000, 30000, (batch_size, length), generator=generator),
        "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
    }
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    return model, optimizer, batch, labels, counts


def step(model, optimizer, batch, labels) -> float:
    started = time.perf_counter()
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


def peak_rss_while_training(model, optimizer, batch, labels, steps: int) -> dict:
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
        step(model, optimizer, batch, labels)
    stop.set()
    sampler.join()
    return {"loaded_mb": loaded, "peak_mb": peak[0]}


def child_memory(method: str, batch_size: int, length: int, steps: int) -> dict:
    model, optimizer, batch, labels, _ = build(method, batch_size, length)
    return peak_rss_while_training(model, optimizer, batch, labels, steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child_memory(args.child, args.batch_size, args.length, max(3, args.steps // 3))))
        return 0

    runs = {m: build(m, args.batch_size, args.length) for m in ("finetune", "adapter")}
    times: dict[str, list[float]] = {m: [] for m in runs}
    for index in range(args.warmup + args.steps):
        for method, (model, optimizer, batch, labels, _) in runs.items():
            elapsed = step(model, optimizer, batch, labels)
            if index >= args.warmup:
                times[method].append(elapsed)

    memory = {}
    for method in runs:
        out = subprocess.run([sys.executable, __file__, "--child", method, "--batch-size", str(args.batch_size), "--length", str(args.length),
                              "--steps", str(args.steps), "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        memory[method] = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"MiniLM-L6, batch {args.batch_size}, length {args.length}, {args.threads} threads, torch {torch.__version__}; "
          f"{args.steps} timed steps per method after {args.warmup} warm-up, interleaved")
    print("| method | trainable params | step time, median (min-max) | examples/s | peak RSS while training | growth over the loaded model |")
    print("|---|---|---|---|---|---|")
    for method in ("finetune", "adapter"):
        values = times[method]
        counts = runs[method][4]
        median = statistics.median(values)
        grow = memory[method]["peak_mb"] - memory[method]["loaded_mb"]
        print(f"| {method} | {counts.trainable:,} ({counts.trainable_percent:.1f}%) | {median:.3f} s ({min(values):.3f}-{max(values):.3f}) | "
              f"{args.batch_size / median:.1f} | {memory[method]['peak_mb']:.0f} MB | {grow:.0f} MB |")
    ratio = statistics.median(times["adapter"]) / statistics.median(times["finetune"])
    mem_ratio = memory["adapter"]["peak_mb"] / memory["finetune"]["peak_mb"]
    print(f"\nadapter / fine-tune step time: {ratio:.2f}x (target <= 0.70x); peak RSS: {mem_ratio:.2f}x (target < 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
