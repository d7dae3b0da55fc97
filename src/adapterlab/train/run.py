"""One training run, start to finish, as named steps: check the folder, read the data, check the
backbone, (TAPT), build the model, apply the method, train, test the best checkpoint, save.

Folder layout (see adapterlab.runs): config.json (resolved settings), metrics.jsonl (one row per
evaluation), result.json (written last and atomically: a folder without a complete result is
not a finished run), and pack/ (adapter runs) or model/ (fine-tuning, on request).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors import SafetensorError

from adapterlab.adapters.freezing import ParamCounts
from adapterlab.data.features import Collator, LabelMap, encode
from adapterlab.errors import AdapterlabError
from adapterlab.methods import Method, TaptOutcome, get_method
from adapterlab.recorded_config import RecordedConfig, run_fingerprints
from adapterlab.runs import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    PROGRESS_FILE,
    RESULT_FILE,
    RunResult,
    cannot_write,
    check_run_folder,
    finite,
    is_complete,
    is_run_folder,
    prepare_run_folder,
    read_config,
    read_result,
    write_json_atomic,
)
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.batching import ShardedBatches
from adapterlab.train.config import RunConfig
from adapterlab.train.inputs import RunInputs, read_inputs
from adapterlab.train.loop import (
    LoopConfig,
    LoopResult,
    build_optimizer,
    evaluate,
    evaluation_bar,
    train_and_restore_best,
)
from adapterlab.train.method import apply_method
from adapterlab.train.metrics import last_epoch_gain
from adapterlab.train.model_setup import (
    build_task_model,
    enable_gradient_checkpointing,
    load_tokenizer,
)
from adapterlab.train.outcome import finish_run, outcome_fields, stop_reason, validation_rows
from adapterlab.train.provenance import portable_base
from adapterlab.train.resume import can_resume, drop_rows_after_checkpoint, set_aside_damaged_state
from adapterlab.train.tapt import clear_tapt_state, run_tapt
from adapterlab.train.trackers import hyperparameters, init_kwargs, log_summary, run_identity, scalars, tracker_names

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "RESULT_FILE",
    "build_accelerator",
    "build_task_model",
    "load_tokenizer",
    "read_result",
    "run_training",
    "write_json_atomic",
]


def run_training(config: RunConfig, run_dir: str | Path, *, overwrite: bool = False) -> RunResult:
    """Run one configuration into `run_dir` and return its result (also in result.json).

    Everything is read and checked before the folder is touched, so bad input writes nothing and
    a folder adapterlab did not create is refused. Once the folder exists, every outcome writes
    result.json: ok, diverged, or failed with the error (a user error included).
    """
    run_dir = Path(run_dir)
    previous = _previous_attempt(run_dir, overwrite)
    inputs = read_inputs(config)
    accelerator = build_accelerator(config.mixed_precision, config.report_to, run_dir)
    _open_folder(config, run_dir, previous, accelerator, inputs)
    metrics_log = (run_dir / METRICS_FILE).open("a") if accelerator.is_main_process else None
    record = _recorder(config, run_dir, inputs.spec.name, accelerator, metrics_log)
    started = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()  # peak memory of this run, not of the process so far
    result: dict = {
        "status": "failed",
        "task": inputs.spec.name,
        "method": config.method,
        "metric": inputs.spec.metric,
        "seed": config.seed,
    }
    try:
        result.update(_train_and_test(config, inputs, accelerator, run_dir, record))
    except Exception as err:  # a user error after the folder exists is recorded too
        result["error"] = (
            str(err).splitlines()[0] if isinstance(err, AdapterlabError) else f"{type(err).__name__}: {err}"
        )
        result["reason"] = "error"
        finish_run(result, run_dir, started, accelerator, inputs.model_path)
        raise
    finally:
        if metrics_log is not None:
            metrics_log.close()
        if config.report_to:
            accelerator.end_training()
    return finish_run(result, run_dir, started, accelerator, inputs.model_path)


def _previous_attempt(run_dir: Path, overwrite: bool) -> dict | None:
    """The folder's earlier result, if any: a complete one is refused without --overwrite."""
    check_run_folder(run_dir)
    previous = read_result(run_dir)
    if is_complete(previous) and not overwrite:
        raise AdapterlabError(
            f"{run_dir}: this run is already complete (result.json says {previous['status']}); "
            "pass --overwrite to run it again"
        )
    if previous is not None and not is_complete(previous):
        logger.warning(
            "%s: the previous attempt failed (%s); running it again",
            run_dir,
            previous.get("error") or "no error recorded",
        )
    return previous


def _open_folder(
    config: RunConfig, run_dir: Path, previous: dict | None, accelerator: Accelerator, inputs: RunInputs
) -> None:
    """Resume the killed attempt in the folder (its damaged state set aside, the rows after its
    checkpoint dropped), or start the folder afresh with its config.json: the settings and what
    was derived from them and the data (`inputs`)."""
    if accelerator.is_main_process and config.checkpoint and previous is None and is_run_folder(run_dir):
        set_aside_damaged_state(run_dir, config)  # what cannot be resumed from goes aside, named in a warning
    accelerator.wait_for_everyone()
    resuming = can_resume(run_dir, previous, config)
    if accelerator.is_main_process and resuming:
        drop_rows_after_checkpoint(run_dir)  # the killed epoch's rows: that epoch runs again
    if accelerator.is_main_process and not resuming:
        prepare_run_folder(run_dir)
        write_json_atomic(run_dir / CONFIG_FILE, _recorded_config(config, inputs).to_json())
    accelerator.wait_for_everyone()


def _recorded_config(config: RunConfig, inputs: RunInputs) -> RecordedConfig:
    """config.json's record: the settings, and what was derived from them and the data."""
    splits, model_path = inputs.splits, inputs.model_path
    local = str(Path(model_path).resolve()) if Path(model_path).exists() else model_path  # found from any folder later
    return RecordedConfig(
        config.to_dict(),
        config.learning_rate,
        local,
        inputs.max_length,
        splits.protocol,
        {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
        list(inputs.labels.names),
        inputs.spec.metric,
        inputs.spec.kind,
        run_fingerprints(config),
    )


def _recorder(
    config: RunConfig, run_dir: Path, task: str, accelerator: Accelerator, metrics_log
) -> Callable[[dict], None]:
    """record(row): a row into metrics.jsonl and, with --report-to, to the trackers (started here)."""
    if config.report_to:
        identity = run_identity(run_dir, task, config.method, config.seed)
        tags = {**identity.study, "run_name": identity.name, **({"group": identity.group} if identity.group else {})}
        accelerator.init_trackers(
            config.tracker_project,
            config=hyperparameters(read_config(run_dir) or config.to_dict(), run_dir, tags),
            init_kwargs=init_kwargs(identity),
        )

    def record(row: dict) -> None:
        if metrics_log is not None:
            metrics_log.write(json.dumps(finite(row)) + "\n")
            metrics_log.flush()
        if config.report_to and row.get("split") == "test":  # one value per metric: the run's summary, not a chart
            log_summary(accelerator, tracker_names(config.report_to), scalars(finite(row)))
        elif config.report_to:  # a view of metrics.jsonl, which stays the record
            accelerator.log(scalars(finite(row)), step=int(row.get("step") or 0))

    return record


def _train_and_test(
    config: RunConfig, inputs: RunInputs, accelerator: Accelerator, run_dir: Path, record: Callable[[dict], None]
) -> dict:
    """The recipe once the folder exists: (TAPT), model, method, train, test, save."""
    spec, tokenizer = inputs.spec, inputs.tokenizer
    name = spec.name.replace(".", "_")
    set_seed(config.seed)
    tapt = _tapt(config, inputs, accelerator, run_dir, name, record) if config.tapt else None
    set_seed(config.seed)
    model = build_task_model(inputs.model_path, spec, inputs.labels)
    counts = apply_method(model, config, name, tapt)

    collator = Collator(tokenizer.pad_token_id)
    features = {
        split: encode(getattr(inputs.splits, split), spec, inputs.labels, tokenizer, inputs.max_length)
        for split in ("train", "validation", "test")
    }
    model, outcome = _train(model, counts, features, collator, config, inputs, accelerator, run_dir, record)

    test_metrics = None  # the best checkpoint (train_and_restore_best restored it) on the test set
    if features["test"]:
        with evaluation_bar(len(features["test"]), "test", config.progress and accelerator.is_main_process) as bar:
            test_metrics = evaluate(
                model, features["test"], collator, spec, inputs.labels, accelerator, config.batch_size, bar=bar
            )
        record({"split": "test", "at": "best", "epoch": outcome.best_epoch, "step": outcome.best_step, **test_metrics})

    unwrapped = accelerator.unwrap_model(model)
    method = get_method(config.method)
    model_bytes = _fine_tuned_bytes(unwrapped, method)
    artifact = _save_artifacts(unwrapped, config, name, inputs.labels, tokenizer, accelerator, run_dir)
    if config.checkpoint and not config.keep_checkpoint and accelerator.is_main_process:
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)  # the run is finished: nothing to resume
        clear_tapt_state(run_dir)
    gain = last_epoch_gain(validation_rows(run_dir), spec.metric) if accelerator.is_main_process else None
    return {
        "status": outcome.status,
        "protocol": inputs.splits.protocol,
        **outcome_fields(outcome, test_metrics, spec.metric),
        **_size_fields(counts, method.role, model_bytes),
        "max_length_used": inputs.max_length,
        "stopped_early": outcome.stopped_early,
        "stop_reason": stop_reason(outcome),
        "last_epoch_gain": gain,
        "resumed_from": outcome.resumed_from,
        "tapt": tapt.summary if tapt else None,
        **artifact,
    }


def _tapt(
    config: RunConfig,
    inputs: RunInputs,
    accelerator: Accelerator,
    run_dir: Path,
    name: str,
    record: Callable[[dict], None],
) -> TaptOutcome:
    """Masked-LM training on the task's own text before the task run (train/tapt.py)."""
    splits = inputs.splits
    return run_tapt(
        config,
        inputs.spec,
        inputs.model_path,
        inputs.tokenizer,
        inputs.max_length,
        splits.train,
        splits.validation,
        accelerator,
        run_dir,
        name,
        record,
    )


def _train(
    model,
    counts: ParamCounts,
    features: dict[str, list[dict]],
    collator: Collator,
    config: RunConfig,
    inputs: RunInputs,
    accelerator: Accelerator,
    run_dir: Path,
    record: Callable[[dict], None],
) -> tuple[torch.nn.Module, LoopResult]:
    """The explicit loop (train/loop.py) on the training split, validated on the validation split;
    returns the prepared model, holding its best checkpoint, and the loop's outcome."""
    train_batches = ShardedBatches(
        features["train"], collator, config.batch_size, config.seed, accelerator, config.grad_accum
    )
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    loop = LoopConfig.for_run(config)
    optimizer, scheduler = build_optimizer(model, loop, len(train_batches) * loop.epochs)
    model, optimizer = accelerator.prepare(model, optimizer)
    checkpoint = run_dir / CHECKPOINT_DIR if config.checkpoint else None
    if accelerator.is_main_process:
        summary = training_summary(config, inputs.spec, inputs.splits, len(train_batches), counts, accelerator, run_dir)
        logger.info("%s", summary)
    outcome = train_and_restore_best(
        model,
        optimizer,
        scheduler,
        train_batches,
        features["validation"],
        collator,
        inputs.spec,
        inputs.labels,
        loop,
        accelerator,
        record,
        checkpoint,
        on_step=_progress_writer(run_dir) if accelerator.is_main_process else None,
    )
    return model, outcome


def _fine_tuned_bytes(model: torch.nn.Module, method: Method) -> int:
    """What a fine-tuned copy of this model weighs: every active parameter but the adapters."""
    return sum(
        p.numel() * p.element_size()
        for p, role, active in method.parameter_roles(model)
        if active and role != "adapter"
    )


def _size_fields(counts: ParamCounts, role: str, model_bytes: int) -> dict:
    """The result's fields about the model's size: what trains, by role, and a full copy's bytes."""
    return {
        "trainable_params": counts.trainable,
        "total_params": counts.total,
        "trainable_percent": counts.trainable_percent,
        "params_by_role": {
            role: counts.adapter,
            "layernorm": counts.layernorm,
            "head": counts.head,
            "other": counts.other,
        },
        "model_bytes_fp32": model_bytes,
    }


def training_summary(
    config: RunConfig, spec, splits, steps_per_epoch: int, counts, accelerator: Accelerator, run_dir: Path
) -> str:
    """The block `train` logs before its first step: what will run, how long, on what."""
    accumulation = f" ({config.grad_accum} micro-batches each)" if config.grad_accum > 1 else ""
    device = f"{accelerator.device}" + (
        f" x {accelerator.num_processes} processes" if accelerator.num_processes > 1 else ""
    )
    lines = [
        f"training {run_dir}: {spec.name} ({spec.kind}, metric {spec.metric}), method {config.method}, {splits.protocol} protocol",
        f"  examples: {len(splits.train):,} train, {len(splits.validation):,} validation, {len(splits.test):,} test",
        f"  steps: {steps_per_epoch:,} per epoch x {config.epochs} epochs = {steps_per_epoch * config.epochs:,} "
        f"(batch {config.batch_size}{accumulation}, lr {config.learning_rate:g}); validation "
        + (f"every {config.eval_every} steps and " if config.eval_every else "")
        + "at each epoch end",
        f"  trainable parameters: {counts.trainable:,} of {counts.total:,} ({counts.trainable_percent:.2f}%)",
        f"  device: {device}, precision {accelerator.mixed_precision}",
    ]
    return "\n".join(lines)


def _progress_writer(run_dir: Path, every: float = 2.0):
    """on_step for the loop: progress.json ({"step", "steps", "seconds_per_step"}) at most every
    `every` seconds and at the last step, atomically, for `study run`'s bar and `study status`'s
    ETA. The pace counts from this process's first step (a resumed run's earlier steps took no
    time here), evaluations included. finish_run removes it."""
    last = [float("-inf")]
    first: list[tuple[float, int]] = []

    def write(step: int, steps: int) -> None:
        now = time.monotonic()
        if not first:
            first.append((now, step))
        if now - last[0] >= every or step == steps:
            last[0] = now
            since, from_step = first[0]
            pace = (now - since) / (step - from_step) if step > from_step else None
            write_json_atomic(run_dir / PROGRESS_FILE, {"step": step, "steps": steps, "seconds_per_step": pace})

    return write


def _save_artifacts(
    model, config: RunConfig, name: str, labels: LabelMap, tokenizer, accelerator: Accelerator, run_dir: Path
) -> dict:
    """The task pack (or the fine-tuned model); a write that fails (a full disk) is one AdapterlabError
    naming the folder, and the run is recorded as failed."""
    artifact: dict = {}
    if accelerator.is_main_process:
        method = get_method(config.method)
        target = run_dir / (method.artifact or "")
        try:
            artifact = method.save(
                model, config, name, list(labels.names) or None, tokenizer, run_dir, portable_base(config.model)
            )
        except (OSError, SafetensorError, RuntimeError) as err:  # RuntimeError: torch's writer on a full disk
            raise cannot_write(target, err) from None
    accelerator.wait_for_everyone()
    return artifact
