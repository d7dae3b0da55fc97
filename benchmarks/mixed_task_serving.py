"""Mixed-task serving: one backbone pass over a batch whose rows belong to 4 tasks, against
per-task passes, on the offline MiniLM in inference mode.

    .venv/bin/python benchmarks/mixed_task_serving.py [--batch-sizes 4 16 64] [--length 64] [--repeats 10] [--smoke]

Each task has its own adapters (m=64), LayerNorms and head (2, 3, 4 and 5 labels). Three ways to
serve a batch that mixes the tasks round-robin:
- mixed:  activate_per_example([task of each row]) and run one pass (adapterlab's mixed-task batch);
- full:   activate each task in turn, run the whole batch, keep that task's rows (a library
          without per-row routing, when requests cannot be regrouped);
- split:  activate each task in turn and run only its rows (4 smaller passes).
The script first checks that all three give the same logits, then times them interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke  # noqa: E402
from train_throughput import add_process_arguments, apply_process_settings, backbone, backbone_name, token_batch  # noqa: E402

TASKS = {"sentiment": 2, "nli": 3, "topic": 4, "rating": 5}


def build_model(seed: int = 0, model_path: str | None = None):
    import transformers

    import adapterlab as al

    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(backbone(model_path), num_labels=2)
    for name, labels in TASKS.items():
        # a visible adapter (std 0.05, not the near-identity init), so the tasks really differ
        al.add_adapters(model, al.AdapterConfig(size=64, init_std=0.05), name=name, num_labels=labels)
    return model.eval()


def make_batch(batch_size: int, length: int, seed: int = 0, vocab_size: int = 30522) -> tuple[dict, list[str]]:
    generator = torch.Generator().manual_seed(seed)
    batch = token_batch(vocab_size, batch_size, length, generator)
    names = list(TASKS)
    return batch, [names[i % len(names)] for i in range(batch_size)]


def rows_of(tasks: list[str], name: str) -> torch.Tensor:
    return torch.tensor([i for i, task in enumerate(tasks) if task == name])


def serve_mixed(model, batch: dict, tasks: list[str]) -> torch.Tensor:
    import adapterlab as al

    al.activate_per_example(model, tasks)
    return model(**batch).logits


def serve_full(model, batch: dict, tasks: list[str]) -> list[torch.Tensor]:
    import adapterlab as al

    out = []
    for name in TASKS:
        al.activate(model, name)
        out.append(model(**batch).logits.index_select(0, rows_of(tasks, name)))
    return out


def serve_split(model, batch: dict, tasks: list[str]) -> list[torch.Tensor]:
    import adapterlab as al

    out = []
    for name in TASKS:
        al.activate(model, name)
        rows = rows_of(tasks, name)
        out.append(model(**{key: value.index_select(0, rows) for key, value in batch.items()}).logits)
    return out


def check_same(model, batch: dict, tasks: list[str]) -> float:
    """Largest |logit difference| between the mixed pass and the per-task passes."""
    mixed = serve_mixed(model, batch, tasks)
    worst = 0.0
    for per_task in (serve_full(model, batch, tasks), serve_split(model, batch, tasks)):
        for (name, labels), logits in zip(TASKS.items(), per_task):
            rows = rows_of(tasks, name)
            ours = mixed.index_select(0, rows)
            if torch.isfinite(ours[:, labels:]).any():
                raise AssertionError(f"{name}: padding columns beyond its {labels} labels are not -inf")
            worst = max(worst, (ours[:, :labels] - logits).abs().max().item())
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    add_process_arguments(parser)
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    add_smoke_argument(parser)
    args = parser.parse_args()
    apply_smoke(args, batch_sizes=[8], length=16, repeats=1, warmup=0, threads=1)
    allocator = apply_process_settings(args)
    import transformers

    model = build_model(model_path=args.model)
    print(
        f"{backbone_name(args.model)}, 4 tasks (m=64 adapters, own LayerNorms and heads), length {args.length}, {args.threads} threads, {allocator}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}; {args.repeats} timed repeats after {args.warmup}, interleaved"
    )
    print(
        "| batch (rows per task) | max logit diff | mixed, 1 pass | full, 4 passes | split, 4 passes | mixed vs full | mixed vs split |"
    )
    print("|---|---|---|---|---|---|---|")
    for batch_size in args.batch_sizes:
        batch, tasks = make_batch(batch_size, args.length, vocab_size=model.config.vocab_size)
        times: dict[str, list[float]] = {"mixed": [], "full": [], "split": []}
        with torch.inference_mode():
            difference = check_same(model, batch, tasks)
            for index in range(args.warmup + args.repeats):
                for kind, serve in (("mixed", serve_mixed), ("full", serve_full), ("split", serve_split)):
                    started = time.perf_counter()
                    serve(model, batch, tasks)
                    if index >= args.warmup:
                        times[kind].append(time.perf_counter() - started)
        rate = {kind: batch_size / statistics.median(values) for kind, values in times.items()}
        print(
            f"| {batch_size} ({batch_size // len(TASKS)}) | {difference:.1e} | {rate['mixed']:.1f} ex/s | {rate['full']:.1f} ex/s | "
            f"{rate['split']:.1f} ex/s | {rate['mixed'] / rate['full']:.2f}x | {rate['mixed'] / rate['split']:.2f}x |"
        )
    print("\ntarget: mixed >= 2.5x the throughput of 4 separate passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
