"""One training run, start to finish: data, (TAPT), model, method, loop, test, and the run folder.

Folder layout: config.json (resolved settings), metrics.jsonl (one row per evaluation),
result.json (written last and atomically: a folder without it is not a finished run), and
pack/ (the task pack, adapter runs) or model/ (fine-tuning, on request).
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader

import adapterlab
from adapterlab.adapters.inject import add_adapters, parameter_roles, set_trainable
from adapterlab.adapters.io import load_adapter, save_adapter
from adapterlab.backbone import resolve_backbone
from adapterlab.data.example import Example
from adapterlab.data.features import Collator, LabelMap, LengthGroupedBatches, MlmCollator, encode
from adapterlab.data.load import load_splits
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.errors import AdapterlabError
from adapterlab.train.config import RunConfig
from adapterlab.train.loop import LoopConfig, build_optimizer, evaluate, train_loop

logger = logging.getLogger(__name__)

RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"


def write_json_atomic(path: Path, data: dict) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, default=_json_default)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def read_result(run_dir: Path) -> dict | None:
    """The run's result, or None when the run is not complete (missing or unreadable result)."""
    try:
        result = json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return result if isinstance(result, dict) and "status" in result else None


def build_accelerator(mixed_precision: str) -> Accelerator:
    if mixed_precision == "auto":
        mixed_precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    if not torch.cuda.is_available():
        mixed_precision = "no"  # fp32 on CPU, as the paper's numbers assume
    # split_batches: batch_size is the global batch, so N processes follow the 1-process schedule.
    # cpu=True on a machine without GPUs lets a multi-process launch use gloo (MULTI_CPU).
    return Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available(),
                       dataloader_config=DataLoaderConfiguration(split_batches=True))


def build_task_model(model_path: str, spec: TaskSpec, labels: LabelMap):
    auto = transformers.AutoModelForTokenClassification if spec.kind == "token" else transformers.AutoModelForSequenceClassification
    kwargs = {}
    if spec.kind == "regression":
        kwargs = {"num_labels": 1, "problem_type": "regression"}
    else:
        kwargs = {"num_labels": len(labels.names), "id2label": dict(enumerate(labels.names)), "label2id": {n: i for i, n in enumerate(labels.names)}}
    try:
        return auto.from_pretrained(model_path, **kwargs)
    except OSError as err:
        raise AdapterlabError(f"model {model_path!r} could not be loaded: {str(err).splitlines()[0]}") from None


def load_tokenizer(model_path: str):
    try:
        return transformers.AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as err:
        raise AdapterlabError(f"tokenizer of {model_path!r} could not be loaded: {str(err).splitlines()[0]}") from None


def make_loader(features: list[dict], collator, batch_size: int, seed: int, shuffle: bool) -> DataLoader:
    sampler = LengthGroupedBatches([len(f["input_ids"]) for f in features], batch_size, seed, shuffle=shuffle)
    return DataLoader(features, batch_sampler=sampler, collate_fn=collator)


def mlm_examples(examples: list[Example]) -> list[Example]:
    """The unlabeled text of a task's examples, for masked-LM (TAPT) training."""
    return [Example(text=e.text if e.tokens is None else " ".join(e.tokens), text_pair=e.text_pair) for e in examples]


def run_tapt(config: RunConfig, spec: TaskSpec, model_path: str, tokenizer, train: list[Example], validation: list[Example],
             accelerator: Accelerator, run_dir: Path, record) -> dict:
    """Task-adaptive MLM pretraining on the training text. Adapter method: only adapters,
    LayerNorms and the MLM head train, and their pack is saved for the task run to start from.
    Fine-tuning: the whole encoder trains and is kept in memory for the task run."""
    mlm_spec = TaskSpec("tapt", "mlm", "mlm_loss", pair=spec.pair)
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(model_path, output_loading_info=True)
    head_fresh = any(not key.startswith(model.base_model_prefix) for key in info.get("missing_keys", []))
    if head_fresh:
        logger.warning("the backbone has no MLM-head weights: the TAPT head starts from a fresh initialization")
    if config.method == "adapter":
        add_adapters(model, config.adapter, name=spec.name.replace(".", "_"))
        set_trainable(model, "adapter")
    collator = MlmCollator(tokenizer, config.mlm_probability, config.seed)
    eval_collator = MlmCollator(tokenizer, config.mlm_probability, config.seed + 1)
    train_features = encode(mlm_examples(train), mlm_spec, LabelMap(()), tokenizer, config.max_length)
    validation_features = encode(mlm_examples(validation), mlm_spec, LabelMap(()), tokenizer, config.max_length)
    train_loader = make_loader(train_features, collator, config.batch_size, config.seed, shuffle=True)
    validation_loader = make_loader(validation_features, eval_collator, config.batch_size, config.seed, shuffle=False)
    loop = LoopConfig(lr=config.tapt_lr or config.learning_rate, epochs=config.tapt_epochs, warmup_ratio=config.warmup_ratio,
                      weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, fast_dropout=config.fast_dropout, progress=config.progress)
    optimizer, scheduler = build_optimizer(model, loop, len(train_loader) * loop.epochs)
    prepared = accelerator.prepare(model, optimizer, scheduler, train_loader, validation_loader)
    model, optimizer, scheduler, train_loader, validation_loader = prepared
    before = evaluate(model, validation_loader, mlm_spec, LabelMap(()), accelerator)
    record({"split": "tapt-validation", "at": "start", "epoch": 0, "step": 0, **before})
    result = train_loop(model, optimizer, scheduler, train_loader, validation_loader, mlm_spec, LabelMap(()), loop, accelerator,
                        lambda row: record({**row, "split": "tapt-" + row["split"]}))
    unwrapped = accelerator.unwrap_model(model)
    summary = {"status": result.status, "head_fresh": head_fresh, "epochs": config.tapt_epochs, "steps": result.steps,
               "mlm_loss_start": before["mlm_loss"], "mlm_loss_best": (result.best_validation or {}).get("mlm_loss")}
    if config.method == "adapter":
        pack = run_dir / "tapt_pack"
        if accelerator.is_main_process:
            save_adapter(unwrapped, pack, name=spec.name.replace(".", "_"))
        accelerator.wait_for_everyone()
        summary["pack"] = str(pack)
    else:
        summary["encoder_state"] = {k: v.detach().cpu().clone() for k, v in unwrapped.base_model.state_dict().items()}
    accelerator.free_memory()
    return summary


def run_training(config: RunConfig, run_dir: str | Path, *, overwrite: bool = False) -> dict:
    """Run one configuration into `run_dir` and return its result (also in result.json).

    All input is read and checked before the folder is touched, so bad input writes nothing.
    A run that diverges or fails still writes result.json with its status.
    """
    run_dir = Path(run_dir)
    spec = get_task(config.task)
    splits = load_splits(spec, train=config.train, dev=config.dev, test=config.test, hub=config.hub, fmt=config.data_format,
                         columns=config.columns, train_size=config.train_size, validation_size=config.validation_size,
                         seed=config.seed if config.data_seed is None else config.data_seed, test_fraction=config.test_fraction,
                         encoding=config.encoding)
    # every label seen in any split: a rare class can be missing from a k-sample of train
    labels = LabelMap.for_task(spec, splits.train + splits.validation + splits.test)
    model_path = resolve_backbone(config.model)
    tokenizer = load_tokenizer(model_path)
    if read_result(run_dir) is not None and not overwrite:
        raise AdapterlabError(f"{run_dir}: this run is already complete (result.json exists); pass --overwrite to run it again")

    accelerator = build_accelerator(config.mixed_precision)
    if accelerator.is_main_process:
        if run_dir.exists():
            shutil.rmtree(run_dir)  # an unfinished earlier attempt: start clean
        run_dir.mkdir(parents=True)
        resolved = {**config.to_dict(), "learning_rate": config.learning_rate, "model_path": model_path, "protocol": splits.protocol,
                    "split_sizes": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
                    "labels": list(labels.names), "metric": spec.metric, "kind": spec.kind}
        write_json_atomic(run_dir / CONFIG_FILE, resolved)
    accelerator.wait_for_everyone()
    metrics_log = (run_dir / METRICS_FILE).open("a") if accelerator.is_main_process else None

    def record(row: dict) -> None:
        if metrics_log is not None:
            metrics_log.write(json.dumps({k: _finite(v) for k, v in row.items()}) + "\n")
            metrics_log.flush()

    started = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()  # peak memory of this run, not of the process so far
    result: dict = {"status": "failed", "task": spec.name, "method": config.method, "metric": spec.metric, "seed": config.seed}
    try:
        set_seed(config.seed)
        tapt = run_tapt(config, spec, model_path, tokenizer, splits.train, splits.validation, accelerator, run_dir, record) if config.tapt else None
        set_seed(config.seed)
        model = build_task_model(model_path, spec, labels)
        name = spec.name.replace(".", "_")
        if config.method == "adapter":
            if tapt:
                load_adapter(model, tapt["pack"], name=name, with_head=False)
            else:
                add_adapters(model, config.adapter, name=name)
            counts = set_trainable(model, "adapter")
        else:
            if tapt:
                missing, unexpected = model.base_model.load_state_dict(tapt.pop("encoder_state"), strict=False)
                assert not unexpected and all("pooler" in k for k in missing), (missing, unexpected)
            counts = set_trainable(model, "finetune")

        collator = Collator(tokenizer.pad_token_id)
        features = {split: encode(getattr(splits, split), spec, labels, tokenizer, config.max_length) for split in ("train", "validation", "test")}
        train_loader = make_loader(features["train"], collator, config.batch_size, config.seed, shuffle=True)
        validation_loader = make_loader(features["validation"], collator, config.batch_size, config.seed, shuffle=False)
        loop = LoopConfig(lr=config.learning_rate, epochs=config.epochs, warmup_ratio=config.warmup_ratio, weight_decay=config.weight_decay,
                          max_grad_norm=config.max_grad_norm, eval_every=config.eval_every, fast_dropout=config.fast_dropout,
                          progress=config.progress)
        optimizer, scheduler = build_optimizer(model, loop, len(train_loader) * loop.epochs)
        model, optimizer, scheduler, train_loader, validation_loader = accelerator.prepare(model, optimizer, scheduler, train_loader, validation_loader)
        outcome = train_loop(model, optimizer, scheduler, train_loader, validation_loader, spec, labels, loop, accelerator, record)

        test_metrics = None
        if features["test"]:
            test_loader = accelerator.prepare(make_loader(features["test"], collator, config.batch_size, config.seed, shuffle=False))
            test_metrics = evaluate(model, test_loader, spec, labels, accelerator)
            record({"split": "test", "at": "best", "epoch": outcome.best_epoch, "step": outcome.best_step, **test_metrics})

        unwrapped = accelerator.unwrap_model(model)
        # what a fine-tuned copy of this model weighs: every active parameter but the adapters
        full_bytes = sum(p.numel() * p.element_size() for p, role, active in parameter_roles(unwrapped) if active and role != "adapter")
        artifact = {}
        if accelerator.is_main_process:
            if config.method == "adapter":
                saved = save_adapter(unwrapped, run_dir / "pack", name=name, labels=list(labels.names) or None, dtype=config.pack_dtype)
                artifact = {"pack": str(saved.path), "pack_bytes": saved.size_bytes}
            elif config.save_model:
                unwrapped.save_pretrained(run_dir / "model", safe_serialization=True)
                tokenizer.save_pretrained(run_dir / "model")
                artifact = {"model": str(run_dir / "model")}
        result.update(
            status=outcome.status,
            protocol=splits.protocol,
            best_validation=outcome.best_validation,
            best_epoch=outcome.best_epoch,
            best_step=outcome.best_step,
            test=test_metrics,
            validation_metric=(outcome.best_validation or {}).get(spec.metric),
            test_metric=(test_metrics or {}).get(spec.metric),
            steps=outcome.steps,
            train_examples_per_second=outcome.train_examples / outcome.train_seconds if outcome.train_seconds else None,
            train_seconds=outcome.train_seconds,
            trainable_params=counts.trainable,
            total_params=counts.total,
            trainable_percent=counts.trainable_percent,
            params_by_role={"adapter": counts.adapter, "layernorm": counts.layernorm, "head": counts.head, "other": counts.other},
            model_bytes_fp32=full_bytes,
            tapt=_tapt_summary(tapt),
            **artifact,
        )
    except AdapterlabError:
        raise
    except Exception as err:
        result["error"] = f"{type(err).__name__}: {err}"
        _finish(result, run_dir, started, accelerator, model_path)
        raise
    finally:
        if metrics_log is not None:
            metrics_log.close()
    _finish(result, run_dir, started, accelerator, model_path)
    return result


def _tapt_summary(tapt: dict | None) -> dict | None:
    if tapt is None:
        return None
    summary = {k: v for k, v in tapt.items() if k != "encoder_state"}
    if summary["head_fresh"]:
        summary["note"] = "the backbone ships without MLM-head weights; the TAPT head started from a fresh initialization"
    return summary


def _finish(result: dict, run_dir: Path, started: float, accelerator: Accelerator, model_path: str) -> None:
    result["wall_seconds"] = time.perf_counter() - started
    result["peak_memory_mb"] = _peak_memory_mb()
    result["model_path"] = model_path
    result["num_processes"] = accelerator.num_processes
    result["versions"] = {"adapterlab": adapterlab.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
                          "python": platform.python_version(), "git_sha": _git_sha()}
    if accelerator.is_main_process:
        write_json_atomic(run_dir / RESULT_FILE, {k: _finite(v) for k, v in result.items()})
    accelerator.wait_for_everyone()


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    # peak RSS of the process so far (Linux reports KiB): per run when each run has its own process
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value

