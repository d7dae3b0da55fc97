"""One training run, start to finish, as named steps: check the folder, read the data, check the
backbone, (TAPT), build the model, apply the method, train, test the best checkpoint, save.

Folder layout (see adapterlab.runs): config.json (resolved settings), metrics.jsonl (one row per
evaluation), result.json (written last and atomically: a folder without a complete result is
not a finished run), and pack/ (adapter runs) or model/ (fine-tuning, on request).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors import SafetensorError

from adapterlab._version import __version__
from adapterlab.backbone import resolve_backbone
from adapterlab.data.features import Collator, LabelMap, encode
from adapterlab.data.load import load_splits
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method
from adapterlab.recorded_config import RecordedConfig, config_differences, load_config, run_fingerprints
from adapterlab.runs import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    PROGRESS_FILE,
    RESULT_FILE,
    TAPT_CHECKPOINT_DIR,
    TAPT_DONE_FILE,
    TAPT_ENCODER_FILE,
    RunResult,
    cannot_write,
    check_run_folder,
    finite,
    is_complete,
    is_run_folder,
    json_value,
    prepare_run_folder,
    read_config,
    read_result,
    save_result,
    write_json_atomic,
    write_text_atomic,
)
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.batching import ShardedBatches
from adapterlab.train.checkpoint import STATE_FILE, checkpoint_problem
from adapterlab.train.config import RunConfig
from adapterlab.train.loop import LoopConfig, build_optimizer, evaluate, evaluation_bar, train_and_restore_best
from adapterlab.train.method import apply_method, check_method_fits
from adapterlab.train.metrics import last_epoch_gain
from adapterlab.train.model_setup import (
    build_task_model,
    check_backbone_weights,
    check_fits,
    effective_max_length,
    enable_gradient_checkpointing,
    load_model_config,
    load_tokenizer,
)
from adapterlab.train.pack_files import write_provenance
from adapterlab.train.provenance import portable_base
from adapterlab.train.tapt import clear_tapt_state, run_tapt, tapt_outcome_problem
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
    spec = get_task(config.task)
    splits = load_splits(
        spec,
        train=config.train,
        dev=config.dev,
        test=config.test,
        hub=config.hub,
        fmt=config.data_format,
        columns=config.columns,
        train_size=config.train_size,
        validation_size=config.validation_size,
        seed=config.seed if config.data_seed is None else config.data_seed,
        test_fraction=config.test_fraction,
        encoding=config.encoding,
    )
    labels = LabelMap(splits.labels)
    model_path = resolve_backbone(config.model)
    check_backbone_weights(model_path)
    model_config = load_model_config(model_path)
    tokenizer = load_tokenizer(model_path, model_config)
    max_length = effective_max_length(config.max_length, model_config, model_path)
    check_fits(config, model_config, tokenizer, model_path)
    check_method_fits(config, model_config, spec.kind)

    accelerator = build_accelerator(config.mixed_precision, config.report_to, run_dir)
    _open_folder(
        config,
        run_dir,
        previous,
        accelerator,
        {
            "model_path": model_path,
            "max_length_used": max_length,
            "protocol": splits.protocol,
            "split_sizes": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
            "labels": list(labels.names),
            "metric": spec.metric,
            "kind": spec.kind,
        },
    )
    metrics_log = (run_dir / METRICS_FILE).open("a") if accelerator.is_main_process else None
    record = _recorder(config, run_dir, spec.name, accelerator, metrics_log)
    started = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()  # peak memory of this run, not of the process so far
    result: dict = {
        "status": "failed",
        "task": spec.name,
        "method": config.method,
        "metric": spec.metric,
        "seed": config.seed,
    }
    try:
        result.update(
            _train_and_test(
                config, spec, splits, labels, model_path, tokenizer, max_length, accelerator, run_dir, record
            )
        )
    except Exception as err:  # a user error after the folder exists is recorded too
        result["error"] = (
            str(err).splitlines()[0] if isinstance(err, AdapterlabError) else f"{type(err).__name__}: {err}"
        )
        result["reason"] = "error"
        _finish(result, run_dir, started, accelerator, model_path)
        raise
    finally:
        if metrics_log is not None:
            metrics_log.close()
        if config.report_to:
            accelerator.end_training()
    return _finish(result, run_dir, started, accelerator, model_path)


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
    config: RunConfig, run_dir: Path, previous: dict | None, accelerator: Accelerator, derived: dict
) -> None:
    """Resume the killed attempt in the folder (its damaged state set aside, the rows after its
    checkpoint dropped), or start the folder afresh with its config.json: the settings and what
    was derived from them and the data (`derived`)."""
    if accelerator.is_main_process and config.checkpoint and previous is None and is_run_folder(run_dir):
        set_aside_damaged_state(run_dir, config)  # what cannot be resumed from goes aside, named in a warning
    accelerator.wait_for_everyone()
    resuming = _can_resume(run_dir, previous, config)
    if accelerator.is_main_process and resuming:
        _drop_rows_after_checkpoint(run_dir)  # the killed epoch's rows: that epoch runs again
    if accelerator.is_main_process and not resuming:
        prepare_run_folder(run_dir)
        model_path = derived["model_path"]
        local = (
            str(Path(model_path).resolve()) if Path(model_path).exists() else model_path
        )  # a local folder: found from any folder later
        recorded = RecordedConfig(
            config.to_dict(),
            config.learning_rate,
            local,
            derived["max_length_used"],
            derived["protocol"],
            derived["split_sizes"],
            derived["labels"],
            derived["metric"],
            derived["kind"],
            run_fingerprints(config),
        )
        write_json_atomic(run_dir / CONFIG_FILE, recorded.to_json())
    accelerator.wait_for_everyone()


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
    config: RunConfig,
    spec,
    splits,
    labels: LabelMap,
    model_path: str,
    tokenizer,
    max_length: int,
    accelerator: Accelerator,
    run_dir: Path,
    record,
) -> dict:
    """The recipe once the folder exists: (TAPT), model, method, train, test, save."""
    name = spec.name.replace(".", "_")
    set_seed(config.seed)
    tapt = (
        run_tapt(
            config,
            spec,
            model_path,
            tokenizer,
            max_length,
            splits.train,
            splits.validation,
            accelerator,
            run_dir,
            name,
            record,
        )
        if config.tapt
        else None
    )
    set_seed(config.seed)
    model = build_task_model(model_path, spec, labels)
    counts = apply_method(model, config, name, tapt)

    collator = Collator(tokenizer.pad_token_id)
    features = {
        split: encode(getattr(splits, split), spec, labels, tokenizer, max_length)
        for split in ("train", "validation", "test")
    }
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
        logger.info("%s", training_summary(config, spec, splits, len(train_batches), counts, accelerator, run_dir))
    outcome = train_and_restore_best(
        model,
        optimizer,
        scheduler,
        train_batches,
        features["validation"],
        collator,
        spec,
        labels,
        loop,
        accelerator,
        record,
        checkpoint,
        on_step=_progress_writer(run_dir) if accelerator.is_main_process else None,
    )

    test_metrics = None  # the best checkpoint (train_and_restore_best restored it) on the test set
    if features["test"]:
        with evaluation_bar(len(features["test"]), "test", config.progress and accelerator.is_main_process) as bar:
            test_metrics = evaluate(
                model, features["test"], collator, spec, labels, accelerator, config.batch_size, bar=bar
            )
        record({"split": "test", "at": "best", "epoch": outcome.best_epoch, "step": outcome.best_step, **test_metrics})

    unwrapped = accelerator.unwrap_model(model)
    # what a fine-tuned copy of this model weighs: every active parameter but the adapters
    method = get_method(config.method)
    full_bytes = sum(
        p.numel() * p.element_size()
        for p, role, active in method.parameter_roles(unwrapped)
        if active and role != "adapter"
    )
    artifact = _save_artifacts(unwrapped, config, name, labels, tokenizer, accelerator, run_dir)
    if checkpoint is not None and not config.keep_checkpoint and accelerator.is_main_process:
        shutil.rmtree(checkpoint, ignore_errors=True)  # the run is finished: nothing to resume
        clear_tapt_state(run_dir)
    fields = {"status": outcome.status, "protocol": splits.protocol}
    return {
        **fields,
        **_outcome_fields(outcome, test_metrics, spec.metric),
        **dict(
            trainable_params=counts.trainable,
            total_params=counts.total,
            trainable_percent=counts.trainable_percent,
            params_by_role={
                method.role: counts.adapter,
                "layernorm": counts.layernorm,
                "head": counts.head,
                "other": counts.other,
            },
            model_bytes_fp32=full_bytes,
            max_length_used=max_length,
            stopped_early=outcome.stopped_early,
            stop_reason="diverged"
            if outcome.status == "diverged"
            else "converged"
            if outcome.stopped_early
            else "ceiling",
            last_epoch_gain=last_epoch_gain(_validation_rows(run_dir), spec.metric)
            if accelerator.is_main_process
            else None,
            resumed_from=outcome.resumed_from,
            tapt=tapt.summary if tapt else None,
            **artifact,
        ),
    }


def _outcome_fields(outcome, test_metrics: dict | None, metric: str) -> dict:
    """The result's fields about training's outcome: the best checkpoint, its test metrics, speed."""
    return {
        "best_validation": outcome.best_validation,
        "best_epoch": outcome.best_epoch,
        "best_step": outcome.best_step,
        "test": test_metrics,
        "validation_metric": (outcome.best_validation or {}).get(metric),
        "test_metric": (test_metrics or {}).get(metric),
        "steps": outcome.steps,
        "train_examples_per_second": outcome.train_examples / outcome.train_seconds if outcome.train_seconds else None,
        "train_seconds": outcome.train_seconds,
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
    """on_step for the loop: progress.json ({"step", "steps"}) at most every `every` seconds and
    at the last step, atomically, for `study run`'s bar. _finish removes it."""
    last = [float("-inf")]

    def write(step: int, steps: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every or step == steps:
            last[0] = now
            write_json_atomic(run_dir / PROGRESS_FILE, {"step": step, "steps": steps})

    return write


def _validation_rows(run_dir: Path) -> list[dict]:
    """The validation rows metrics.jsonl holds so far (a resumed run's earlier ones too)."""
    rows = []
    for line in (run_dir / METRICS_FILE).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line of a killed attempt: not an evaluation this run can use
        if isinstance(row, dict) and row.get("split") == "validation":
            rows.append(row)
    return rows


def _can_resume(run_dir: Path, previous: dict | None, config: RunConfig) -> bool:
    """A killed run (our folder, no result) with a checkpoint made with these same settings: of the
    task phase, or of a TAPT run's TAPT phase (its checkpoint, or its finished outcome)."""
    if not config.checkpoint or previous is not None or not is_run_folder(run_dir):
        return False
    marks = [run_dir / CHECKPOINT_DIR / STATE_FILE] + (
        [run_dir / TAPT_CHECKPOINT_DIR / STATE_FILE, run_dir / TAPT_DONE_FILE] if config.tapt else []
    )
    if not any(mark.is_file() for mark in marks):
        return False
    stored = load_config(run_dir)
    differences = (
        config_differences(config.to_dict(), stored, run_fingerprints(config), RunConfig.defaults())
        if stored
        else ["no config.json"]
    )
    if differences:
        logger.warning(
            "%s: checkpoint/ ignored, the run starts over: the killed run had other settings (%s)",
            run_dir,
            "; ".join(differences),
        )
    return not differences


def set_aside_damaged_state(run_dir: Path, config: RunConfig) -> list[Path]:
    """Every damaged piece of a killed run's resume state is renamed NAME.damaged-TIME (kept for
    a look, never read again) with one warning line each, so the run restarts from its last good
    state: the task checkpoint or TAPT checkpoint when readable, TAPT's finished outcome, or from
    scratch. A metrics.jsonl with a broken line (a kill mid-write) is set aside and its good rows
    written back. Returns the paths set aside."""
    aside = []
    for folder in (CHECKPOINT_DIR, TAPT_CHECKPOINT_DIR):
        problem = checkpoint_problem(run_dir / folder)
        if problem:
            aside.append(_set_aside(run_dir / folder, f"{folder}/{STATE_FILE} is {problem}"))
    problem = tapt_outcome_problem(run_dir, config)
    if problem:
        for name in (TAPT_DONE_FILE, TAPT_ENCODER_FILE, "tapt_pack"):
            if (run_dir / name).exists():
                aside.append(_set_aside(run_dir / name, problem))
    path = run_dir / METRICS_FILE
    if path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        rows = [json_value(line) if line.strip() else {} for line in lines]
        broken = [number for number, row in enumerate(rows, start=1) if not isinstance(row, dict)]
        if broken:
            kept = [line for line, row in zip(lines, rows) if isinstance(row, dict) and line.strip()]
            aside.append(_set_aside(path, f"{METRICS_FILE} line {broken[0]} is not a JSON row (a write cut short)"))
            write_text_atomic(path, "".join(line + "\n" for line in kept))
    return aside


def _set_aside(path: Path, why: str) -> Path:
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    logger.warning("%s: %s; set aside as %s, the run goes on from its last good state", path.parent, why, target.name)
    return target


def _drop_rows_after_checkpoint(run_dir: Path) -> None:
    """metrics.jsonl without the rows the killed attempt logged after its last checkpoint: in the
    task phase after its checkpoint; in a TAPT run, the TAPT rows after the TAPT checkpoint too
    (none when TAPT had finished) and every task row when the task phase had none."""

    def steps_of(folder: str) -> int | None:
        state = run_dir / folder / STATE_FILE
        return torch.load(state, weights_only=True, mmap=True)["loop"]["steps"] if state.is_file() else None

    task_steps, tapt_steps = steps_of(CHECKPOINT_DIR), steps_of(TAPT_CHECKPOINT_DIR)
    tapt_done = (run_dir / TAPT_DONE_FILE).is_file()

    def keep(row: dict) -> bool:
        if row.get("split", "").startswith("tapt-"):
            return tapt_done or (tapt_steps is not None and row.get("step", 0) <= tapt_steps)
        return task_steps is not None and row.get("step", 0) <= task_steps and row.get("split") != "test"

    path = run_dir / METRICS_FILE
    rows = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    kept = [line for line, row in zip(rows, map(json_value, rows)) if isinstance(row, dict) and keep(row)]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


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


def _finish(result: dict, run_dir: Path, started: float, accelerator: Accelerator, model_path: str) -> RunResult:
    typed = RunResult.from_dict(
        {
            **result,
            "wall_seconds": time.perf_counter() - started,
            "peak_memory_mb": _peak_memory_mb(),
            "model_path": model_path,
            "num_processes": accelerator.num_processes,
            "versions": {
                "adapterlab": __version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "python": platform.python_version(),
                "git_sha": _git_sha(),
            },
        }
    )
    if accelerator.is_main_process:
        if (
            typed.pack and Path(typed.pack).is_dir()
        ):  # before the result: a finished run's pack always says where it came from
            try:
                write_provenance(Path(typed.pack), read_config(run_dir) or {}, typed.to_dict())
            except OSError as err:  # a full disk: the run is recorded as failed, and says why in one line
                error = cannot_write(Path(typed.pack), err)
                save_result(run_dir, dataclasses.replace(typed, status="failed", reason="error", error=str(error)))
                raise error from None
        save_result(run_dir, typed)
        (run_dir / PROGRESS_FILE).unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    return typed


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    # peak RSS of the process so far (Linux reports KiB): per run when each run has its own process
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
