"""adapterlab vs AdapterHub (`adapters` double_seq_bn) vs PEFT LoRA vs full fine-tuning, and LoRA and
IA3 in adapterlab's loop, on the same backbone (the offline MiniLM), the same batch and the same
thread count, in one process.

Runs in the peers' venv, because adapters==1.3.0 pins transformers 4.57.6 (see README.md here):

    .venv-peers/bin/python benchmarks/compare_peers.py [--threads 2] [--steps 12] [--e2e] [--smoke]

- train step (forward + backward + AdamW, training mode): the methods take turns step by step
  (A/B interleaved) after a warm-up; median and spread;
- peak memory while training (VmRSS sampled in a fresh child process per method);
- inference latency (eval mode, no grad) relative to the bare backbone, interleaved too;
- task pack size on disk: each library's own saved adapter;
- with --e2e: one low-resource run (1k SST-2-style examples from ../shared/data, 5 epochs,
  evaluation each epoch) with adapterlab's trainer and with AdapterHub's AdapterTrainer.
Settings are matched: adapter m=64 with tanh, and in both adapter libraries the LayerNorms,
the pooler and the classifier train (AdapterHub freezes the first two by default; they are
unfrozen here so that both train the same parameters). `lora` is PEFT's own get_peft_model
(r=8 on query/value, the classifier trains); `adapterlab-lora` is the same LoRA through
adapterlab (--method lora: PEFT's layers, the paper's freeze policy, so LayerNorms and pooler
train too, and the CPU fast path); `adapterlab-ia3` is --method ia3.
Without AdapterHub's `adapters` installed (the main venv, CI's --smoke) its rows are left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import apply_smoke, toy_task  # noqa: E402
from train_throughput import (  # noqa: E402
    add_step_arguments,
    apply_process_settings,
    backbone,
    backbone_name,
    child_peak_memory,
    interleaved_step_times,
    peak_rss_while_training,
    print_child_memory,
    token_batch,
)

HAVE_ADAPTERS = importlib.util.find_spec("adapters") is not None  # AdapterHub, in the peers' venv only
METHODS = tuple(
    m
    for m in ("finetune", "finetune-fast", "adapterlab", "adapterhub", "lora", "adapterlab-lora", "adapterlab-ia3")
    if m != "adapterhub" or HAVE_ADAPTERS
)
# adapterlab's trainer runs its CPU fast path (train/fast_ops.py); so do these rows
FAST = {"finetune-fast", "adapterlab", "adapterlab-lora", "adapterlab-ia3"}


def build(method: str, batch_size: int, length: int, seed: int = 0, model_path: str | None = None):
    import transformers

    import adapterlab as al

    torch.manual_seed(seed)
    path = backbone(model_path)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    if method == "finetune-fast":
        al.set_trainable(model, "finetune")
    elif method == "adapterlab":
        al.add_adapters(model, al.AdapterConfig(size=64), name="task")
        al.set_trainable(model, "adapter")
    elif method == "adapterhub":
        import adapters
        from adapters import DoubleSeqBnConfig

        adapters.init(model)
        model.add_adapter(
            "task", config=DoubleSeqBnConfig(reduction_factor=model.config.hidden_size / 64, non_linearity="tanh")
        )
        model.train_adapter("task")
        model.set_active_adapters("task")
        for name, param in model.named_parameters():  # the paper's policy: LayerNorms and pooler train too
            if "LayerNorm" in name or "pooler" in name or "classifier" in name:
                param.requires_grad_(True)
    elif method in ("adapterlab-lora", "adapterlab-ia3"):
        from adapterlab.adapters.peft_methods import PeftSettings, add_peft, set_peft_trainable

        add_peft(model, PeftSettings(method.split("-")[1], r=8, alpha=16))
        set_peft_trainable(model)
    elif method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], modules_to_save=["classifier"])
        )
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(seed)
    batch = token_batch(model.config.vocab_size, batch_size, length, generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    return model, optimizer, batch, labels


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pack_bytes(method: str, model) -> int | None:
    import adapterlab as al

    with tempfile.TemporaryDirectory() as folder:
        if method == "adapterlab":
            return al.save_adapter(model, Path(folder) / "pack", name="task").size_bytes
        if method.startswith("adapterlab-"):
            from adapterlab.adapters.io import backbone_identity
            from adapterlab.adapters.peft_packs import save_peft_pack

            return save_peft_pack(model, Path(folder) / "pack", None, backbone_identity(model))
        if method == "adapterhub":
            model.save_adapter(folder, "task", with_head=True)
        elif method == "lora":
            model.save_pretrained(folder)
        else:
            return None
        return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def child_memory(method: str, batch_size: int, length: int, steps: int, model_path: str | None = None) -> dict:
    model, optimizer, batch, labels = build(method, batch_size, length, model_path=model_path)
    return peak_rss_while_training(model, optimizer, batch, labels, steps, method in FAST)


@torch.inference_mode()
def infer(model, batch) -> float:
    started = time.perf_counter()
    model(**batch)
    return time.perf_counter() - started


def end_to_end(
    data_root: Path, threads: int, model_path: str | None = None, size: int = 1000, epochs: int = 5
) -> list[dict]:
    """1k SST-2 examples (`size`), 5 epochs, evaluation each epoch: adapterlab's trainer vs AdapterTrainer
    (when `adapters` is installed)."""
    import numpy as np
    import transformers

    from adapterlab.adapters.config import AdapterConfig
    from adapterlab.data.load import load_splits
    from adapterlab.data.tasks import get_task
    from adapterlab.train.config import RunConfig
    from adapterlab.train.run import run_training

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        config = RunConfig(
            task="sst2",
            train=str(data_root / "glue/SST-2/train.tsv"),
            dev=str(data_root / "glue/SST-2/dev.tsv"),
            model=model_path,
            method="adapter",
            adapter=AdapterConfig(size=64),
            lr=1e-4,
            epochs=epochs,
            batch_size=16,
            max_length=128,
            seed=0,
            train_size=size,
            validation_size=size,
            progress=False,
        )
        started = time.perf_counter()
        result = run_training(config, Path(folder) / "ours")
        rows.append(
            {
                "trainer": "adapterlab train",
                "wall_s": time.perf_counter() - started,
                "test_accuracy": result.test_metric,
            }
        )
        if not HAVE_ADAPTERS:
            return rows

        import adapters
        from adapters import AdapterTrainer, DoubleSeqBnConfig

        splits = load_splits(
            get_task("sst2"), train=config.train, dev=config.dev, train_size=size, validation_size=size, seed=0
        )
        path = backbone(model_path)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)

        def dataset(examples):
            encoded = tokenizer([e.text for e in examples], truncation=True, max_length=128)
            return [
                {
                    "input_ids": encoded["input_ids"][i],
                    "attention_mask": encoded["attention_mask"][i],
                    "labels": int(e.label),
                }
                for i, e in enumerate(examples)
            ]

        torch.manual_seed(0)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        adapters.init(model)
        model.add_adapter(
            "task", config=DoubleSeqBnConfig(reduction_factor=model.config.hidden_size / 64, non_linearity="tanh")
        )
        model.train_adapter("task")
        for name, param in model.named_parameters():
            if "LayerNorm" in name or "pooler" in name or "classifier" in name:
                param.requires_grad_(True)
        arguments = transformers.TrainingArguments(
            output_dir=str(Path(folder) / "hub"),
            num_train_epochs=epochs,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=16,
            learning_rate=1e-4,
            warmup_ratio=0.06,
            weight_decay=0.01,
            eval_strategy="epoch",
            save_strategy="epoch",
            load_best_model_at_end=True,
            metric_for_best_model="accuracy",
            report_to=[],
            seed=0,
            use_cpu=True,
            disable_tqdm=True,
            save_total_limit=1,
        )
        accuracy = lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}  # noqa: E731
        trainer = AdapterTrainer(
            model=model,
            args=arguments,
            train_dataset=dataset(splits.train),
            eval_dataset=dataset(splits.validation),
            data_collator=transformers.DataCollatorWithPadding(tokenizer),
            compute_metrics=accuracy,
        )
        started = time.perf_counter()
        trainer.train()
        test = trainer.evaluate(dataset(splits.test))
        rows.append(
            {
                "trainer": "AdapterHub AdapterTrainer",
                "wall_s": time.perf_counter() - started,
                "test_accuracy": test["eval_accuracy"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser)
    parser.add_argument(
        "--e2e", action="store_true", help="also the end-to-end low-resource run (about 10 min on 2 cores)"
    )
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    folder = apply_smoke(args, batch_size=2, length=16, steps=1, warmup=1, threads=1)
    if folder is not None:
        args.data_root = str(toy_task(folder / "glue" / "SST-2").parents[1])
    allocator = apply_process_settings(args)
    import transformers

    if args.child:
        print_child_memory(
            lambda name: child_memory(name, args.batch_size, args.length, max(3, args.steps // 3), args.model), args
        )
        return 0

    built = {m: build(m, args.batch_size, args.length, model_path=args.model) for m in METHODS}
    times = interleaved_step_times(built, FAST, args.warmup, args.steps)

    # inference: the bare backbone (fine-tuning model in eval mode) against each method
    latency: dict[str, list[float]] = {m: [] for m in METHODS}
    for model, *_ in built.values():
        model.eval()
    for index in range(args.warmup + args.steps):
        for method, (model, _, batch, _) in built.items():
            elapsed = infer(model, batch)
            if index >= args.warmup:
                latency[method].append(elapsed)

    memory = child_peak_memory(__file__, METHODS, args)

    import peft

    hub_version = importlib.import_module("adapters").__version__ if HAVE_ADAPTERS else "not installed"
    print(
        f"{backbone_name(args.model)}, batch {args.batch_size}, length {args.length}, {args.threads} threads, {allocator}; torch {torch.__version__}, "
        f"transformers {transformers.__version__}, adapters {hub_version}, peft {peft.__version__}; "
        f"{args.steps} timed steps after {args.warmup} warm-up, interleaved"
    )
    print(
        "| method | trainable | train step, median (min-max) | examples/s | vs fine-tune | peak RSS training | inference vs bare | saved adapter |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_step = statistics.median(times["finetune"])
    base_infer = statistics.median(latency["finetune"])
    for method in METHODS:
        median = statistics.median(times[method])
        size = pack_bytes(method, built[method][0])
        print(
            f"| {method} | {trainable(built[method][0]):,} | {median:.3f} s ({min(times[method]):.3f}-{max(times[method]):.3f}) | "
            f"{args.batch_size / median:.1f} | {median / base_step:.2f}x | {memory[method]['peak_mb']:.0f} MB | "
            f"{100 * (statistics.median(latency[method]) / base_infer - 1):+.1f}% | {'-' if size is None else f'{size / 1e6:.2f} MB'} |"
        )
    ours = statistics.median(times["adapterlab"])
    if HAVE_ADAPTERS:
        print(
            f"\nadapterlab / AdapterHub train step: {ours / statistics.median(times['adapterhub']):.2f}x (target <= 0.90x)",
            end="; ",
        )
    else:
        print("\nAdapterHub (`adapters`) not installed: its rows are left out", end="; ")
    print(
        f"adapterlab / fine-tune: {ours / base_step:.2f}x (target <= 0.65x); "
        f"adapterlab / fine-tuning in adapterlab's loop: {ours / statistics.median(times['finetune-fast']):.2f}x; "
        f"peak RSS adapterlab / fine-tune: {memory['adapterlab']['peak_mb'] / memory['finetune']['peak_mb']:.2f}x (target <= 0.70x)"
    )
    lora_ours, lora_peft = statistics.median(times["adapterlab-lora"]), statistics.median(times["lora"])
    print(
        f"LoRA in adapterlab's loop / PEFT's get_peft_model: {lora_ours / lora_peft:.2f}x the step time, "
        f"{memory['adapterlab-lora']['peak_mb'] / memory['lora']['peak_mb']:.2f}x the peak RSS "
        f"({trainable(built['adapterlab-lora'][0]):,} vs {trainable(built['lora'][0]):,} trainable: LayerNorms and pooler train too)"
    )
    if args.e2e:
        size, epochs = (20, 1) if args.smoke else (1000, 5)
        print(
            f"\n| end to end (SST-2 k={size}, {epochs} epochs, eval each epoch) | wall time | test accuracy |\n|---|---|---|"
        )
        rows = end_to_end(Path(args.data_root), args.threads, args.model, size, epochs)
        for row in rows:
            print(f"| {row['trainer']} | {row['wall_s']:.0f} s | {100 * row['test_accuracy']:.2f} |")
        if len(rows) > 1:
            print(
                f"adapterlab / AdapterTrainer wall time: {rows[0]['wall_s'] / rows[1]['wall_s']:.2f}x (target <= 0.80x)"
            )
        else:
            print("AdapterHub (`adapters`) not installed: AdapterTrainer's row is left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
