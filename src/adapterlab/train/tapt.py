"""Task-adaptive pretraining (TAPT, Gururangan et al. 2020; He et al. 2021 Table 1): masked-LM
training on the task's own training text before the task run.

A killed TAPT run resumes like any run: the TAPT phase checkpoints each epoch into
tapt_checkpoint/, and once it is over its outcome (tapt_done.json, with tapt_pack/ for adapters or
tapt_encoder.safetensors for fine-tuning) stands, so a kill in the task phase never redoes TAPT.
The masks depend only on each batch (data/features.py MlmCollator), so the resumed phase masks as
the uninterrupted one did."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors.torch import save_file

from adapterlab.data.example import Example
from adapterlab.data.features import LabelMap, MlmCollator, encode
from adapterlab.data.tasks import TaskSpec
from adapterlab.methods import TaptOutcome, get_method
from adapterlab.runs import (
    METRICS_FILE,
    TAPT_CHECKPOINT_DIR,
    TAPT_DONE_FILE,
    TAPT_ENCODER_FILE,
    json_value,
    write_json_atomic,
)
from adapterlab.train.batching import ShardedBatches
from adapterlab.train.config import RunConfig
from adapterlab.train.loop import LoopConfig, LoopResult, build_optimizer, evaluate, train_and_restore_best
from adapterlab.train.mlm_head import HeadRecord, warm_head
from adapterlab.train.model_setup import enable_gradient_checkpointing

logger = logging.getLogger(__name__)
HEAD_NOTE = "the backbone ships without MLM-head weights; the TAPT head started from a fresh initialization"
WARM_NOTE = "the backbone ships without MLM-head weights; the head was first trained alone (encoder frozen) on {corpus}"


__all__ = ["TaptOutcome", "clear_tapt_state", "mlm_examples", "run_tapt", "tapt_outcome_problem"]


def mlm_examples(examples: list[Example]) -> list[Example]:
    """The unlabeled text of a task's examples, for masked-LM (TAPT) training."""
    return [Example(text=e.text if e.tokens is None else " ".join(e.tokens), text_pair=e.text_pair) for e in examples]


def run_tapt(
    config: RunConfig,
    spec: TaskSpec,
    model_path: str,
    tokenizer,
    max_length: int,
    train: list[Example],
    validation: list[Example],
    accelerator,
    run_dir: Path,
    adapter_name: str,
    record: Callable[[dict], None],
) -> TaptOutcome:
    """Masked-LM training on the training text. Adapter method: only adapters, LayerNorms and the
    MLM head train, and their pack is saved for the task run to start from. PEFT methods (lora,
    loha, ia3): the method's weights, LayerNorms and MLM head train, and the encoder's trained
    tensors are handed over. Fine-tuning: the whole encoder trains and its weights are handed over.
    What is handed over as tensors is kept in tapt_encoder.safetensors until the run finishes, for
    a resume. A finished TAPT phase of this run folder is reused, not redone."""
    done = _finished(run_dir, config)
    if done is not None:
        logger.warning("%s: TAPT finished before the run was stopped; the task phase starts from its outcome", run_dir)
        # its steps took no time in this process: the ETA's pace (study/eta.py pace_of) must not count them
        done.summary = {**done.summary, "reused": True}
        return done
    mlm_spec = TaskSpec("tapt", "mlm", "mlm_loss", pair=spec.pair)
    model, head = _mlm_model(config, model_path, tokenizer)
    method = get_method(config.method)
    method.prepare_tapt(model, config, adapter_name)
    no_labels = LabelMap(())
    features = [
        encode(mlm_examples(split), mlm_spec, no_labels, tokenizer, max_length) for split in (train, validation)
    ]
    model, result, before = _train_mlm(model, features, mlm_spec, tokenizer, config, accelerator, run_dir, record)
    summary = _summary(config, head, result, before)
    handed = method.hand_over(accelerator.unwrap_model(model), run_dir, adapter_name, accelerator.is_main_process)
    summary.update(handed.summary)
    outcome = TaptOutcome(summary, pack=handed.pack, encoder_state=handed.encoder_state)
    if accelerator.is_main_process and config.checkpoint:  # the phase's outcome stands; its checkpoint is spent
        _keep_outcome(run_dir, outcome)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return outcome


def _train_mlm(
    model,
    features: list[list[dict]],
    mlm_spec: TaskSpec,
    tokenizer,
    config: RunConfig,
    accelerator,
    run_dir: Path,
    record: Callable[[dict], None],
) -> tuple[Any, LoopResult, dict]:
    """The explicit loop (train/loop.py) on the masked-LM features (train, validation), with TAPT's
    own epochs and rate, its rows named tapt-*. Returns the prepared model (holding its best
    checkpoint), the loop's outcome and the validation metrics before the first step."""
    train_features, validation_features = features
    no_labels = LabelMap(())
    train_collator = MlmCollator(tokenizer, config.mlm_probability, config.seed)
    train_batches = ShardedBatches(
        train_features, train_collator, config.batch_size, config.seed, accelerator, config.grad_accum
    )
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    eval_collator = MlmCollator(tokenizer, config.mlm_probability, config.seed + 1)
    loop = LoopConfig.for_run(config, tapt=True)
    optimizer, scheduler = build_optimizer(model, loop, len(train_batches) * loop.epochs)
    model, optimizer = accelerator.prepare(model, optimizer)
    checkpoint = run_dir / TAPT_CHECKPOINT_DIR if config.checkpoint else None
    before = _start_row(run_dir) if checkpoint is not None and (checkpoint / "state.pt").is_file() else None
    if before is None:  # a fresh phase (a resumed one logged its start before it was killed)
        before = evaluate(
            model, validation_features, eval_collator, mlm_spec, no_labels, accelerator, config.batch_size
        )
        record({"split": "tapt-validation", "at": "start", "epoch": 0, "step": 0, **before})
    result = train_and_restore_best(
        model,
        optimizer,
        scheduler,
        train_batches,
        validation_features,
        eval_collator,
        mlm_spec,
        no_labels,
        loop,
        accelerator,
        lambda row: record({**row, "split": "tapt-" + row["split"]}),
        checkpoint,
    )
    return model, result, before


def _keep_outcome(run_dir: Path, outcome: TaptOutcome) -> None:
    """A finished TAPT phase's outcome in the run folder, so a kill in the task phase never redoes
    TAPT: the handed-over tensors (kept until the run finishes) and tapt_done.json, written last."""
    if outcome.encoder_state is not None:
        staged = run_dir / f".{TAPT_ENCODER_FILE}.tmp"
        save_file({k: v.contiguous() for k, v in outcome.encoder_state.items()}, str(staged))
        staged.replace(run_dir / TAPT_ENCODER_FILE)
    write_json_atomic(run_dir / TAPT_DONE_FILE, outcome.summary)
    shutil.rmtree(run_dir / TAPT_CHECKPOINT_DIR, ignore_errors=True)


def _mlm_model(config: RunConfig, model_path: str, tokenizer) -> tuple:
    """The masked-LM model TAPT trains, with its head: the backbone's own, or warmed up first
    (tapt_head warm), or fresh. Returns (model, HeadRecord)."""
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(
        model_path, output_loading_info=True, use_safetensors=True, dtype=torch.float32
    )  # trainable weights in float32
    head_missing = any(not key.startswith(model.base_model_prefix) for key in info.get("missing_keys", []))
    if not head_missing:
        return model, HeadRecord("pretrained")
    if config.tapt_head == "warm":
        # before the method's weights go in: the head learns the bare encoder's outputs, which the
        # near-identity adapters leave almost unchanged at the start of TAPT
        return model, warm_head(model, tokenizer, model_path, progress=config.progress)
    logger.warning(HEAD_NOTE)
    return model, HeadRecord("fresh")


def _summary(config: RunConfig, head: HeadRecord, result, before: dict) -> dict:
    """The TAPT phase's summary in the run's result."""
    summary = {
        "status": result.status,
        "head_fresh": head.source == "fresh",
        "head": head.to_dict(),
        "epochs": config.tapt_epochs,
        "steps": result.steps,
        "mlm_loss_start": before["mlm_loss"],
        "mlm_loss_best": (result.best_validation or {}).get("mlm_loss"),
    }
    if head.source == "fresh":
        summary["note"] = HEAD_NOTE
    elif head.source == "warmed":
        summary["note"] = WARM_NOTE.format(corpus=head.corpus)
    if result.resumed_from:
        summary["resumed_from"] = result.resumed_from
    return summary


def _finished(run_dir: Path, config: RunConfig) -> TaptOutcome | None:
    """The outcome of a TAPT phase this run folder finished before it was stopped, or None."""
    marker = run_dir / TAPT_DONE_FILE
    if not config.checkpoint or not marker.is_file():
        return None
    return get_method(config.method).resume_tapt(run_dir, json.loads(marker.read_text()))


def tapt_outcome_problem(run_dir: Path, config: RunConfig) -> str | None:
    """What is wrong with a finished TAPT phase's outcome in `run_dir` (its summary, its pack or
    encoder file cut short), or None when it is whole or there is none."""
    marker = run_dir / TAPT_DONE_FILE
    if not config.checkpoint or not marker.is_file():
        return None
    try:
        summary = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        summary = None
    if not isinstance(summary, dict):
        return f"{TAPT_DONE_FILE} is not a JSON object (a write cut short)"
    method = get_method(config.method)
    weights = method.tapt_weights(run_dir)
    if not weights.is_file():
        return None  # no outcome: _finished redoes TAPT
    try:
        method.open_tapt_weights(run_dir)
    except Exception as err:  # noqa: BLE001  SafetensorError, AdapterlabError, OSError: a file cut short
        return f"TAPT's outcome {weights.relative_to(run_dir)} is unreadable ({str(err).splitlines()[0][:100] if str(err) else type(err).__name__})"
    return None


def _start_row(run_dir: Path) -> dict | None:
    """The TAPT phase's starting validation row, logged before the run was stopped."""
    path = run_dir / METRICS_FILE
    for line in path.read_text().splitlines() if path.is_file() else []:
        row = json_value(line)
        if isinstance(row, dict) and row.get("split") == "tapt-validation" and row.get("at") == "start":
            return row
    return None


def clear_tapt_state(run_dir: Path) -> None:
    """Remove what only a resume needs, once the run is finished."""
    for entry in (TAPT_DONE_FILE, TAPT_ENCODER_FILE):
        (run_dir / entry).unlink(missing_ok=True)
    shutil.rmtree(run_dir / TAPT_CHECKPOINT_DIR, ignore_errors=True)
