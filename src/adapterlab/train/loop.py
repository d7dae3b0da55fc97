"""The explicit training loop: AdamW + linear schedule, evaluation each epoch (and every N steps),
best-checkpoint selection on validation, divergence detection. Runs under Accelerate, so the
same code serves one CPU process, one GPU, or many processes."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from adapterlab.data.features import IGNORE_INDEX, LabelMap
from adapterlab.data.tasks import TaskSpec, left_chance
from adapterlab.train.batching import ShardedBatches
from adapterlab.train.checkpoint import LoopState, load_checkpoint, save_checkpoint
from adapterlab.train.collection import collect_new_objects_only
from adapterlab.train.config import RunConfig
from adapterlab.train.evaluation import evaluate, evaluation_bar, example_losses, model_inputs
from adapterlab.train.fast_ops import fast_training_ops
from adapterlab.train.metrics import improvement_bar, is_better

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    lr: float  # peak learning rate of AdamW
    epochs: int
    warmup_ratio: float = 0.06  # fraction of all steps spent warming up linearly from 0
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights
    max_grad_norm: float = 1.0  # gradient clipping; 0 turns it off
    eval_every: int | None = None  # also evaluate validation every N optimizer steps (Fig. 5)
    fast_dropout: bool = True  # on CPUs, the cheaper dropout and attention of fast_ops
    progress: bool = True
    eval_batch_size: int = 64  # evaluation batches (no gradients, so larger than training's)
    early_stop: int | None = None  # stop after this many evaluations without improvement
    early_stop_min_delta: float = (
        0.0  # an evaluation improves only by beating the best by more than this (metric units)
    )
    early_stop_min_epochs: int = 0  # no early stop before this many epochs are done
    logging_steps: int | None = None  # every N optimizer steps, a training row: loss, learning rate, gradient norm

    @classmethod
    def for_run(cls, config: RunConfig, tapt: bool = False) -> LoopConfig:
        """The loop settings of a run's task training, or of its TAPT phase (tapt=True)."""
        if tapt:
            return cls(
                lr=config.tapt_lr or config.learning_rate,
                epochs=config.tapt_epochs,
                warmup_ratio=config.warmup_ratio,
                weight_decay=config.weight_decay,
                max_grad_norm=config.max_grad_norm,
                fast_dropout=config.fast_dropout,
                progress=config.progress,
                eval_batch_size=config.batch_size,
                logging_steps=config.logging_steps,
            )
        return cls(
            lr=config.learning_rate,
            epochs=config.epochs,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm,
            eval_every=config.eval_every,
            fast_dropout=config.fast_dropout,
            progress=config.progress,
            eval_batch_size=config.batch_size,
            early_stop=config.early_stop,
            early_stop_min_delta=config.early_stop_min_delta,
            early_stop_min_epochs=config.early_stop_min_epochs,
            logging_steps=config.logging_steps,
        )


@dataclass
class LoopResult:
    status: str  # "ok" or "diverged"
    best_validation: dict | None
    best_epoch: int | None
    best_step: int | None
    steps: int
    train_seconds: float
    train_examples: int
    ceiling_steps: int  # what `epochs` allows: the measure of what convergence stopping saved
    stopped_early: dict | None = None  # {"epoch", "step"} where early stopping ended training
    resumed_from: dict | None = None  # {"epoch", "step"} of the checkpoint a killed run continued from


def compute_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """The task loss, computed here rather than by the HF model so that every head is treated alike."""
    if kind == "regression":
        return nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float())
    if kind in ("token", "mlm"):
        return nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)
    return nn.functional.cross_entropy(logits.float(), labels)


def build_optimizer(model: nn.Module, config: LoopConfig, total_steps: int):
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        # the usual BERT recipe: no weight decay on biases and LayerNorm weights
        (no_decay if param.ndim < 2 else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


@dataclass
class _Parts:
    """What one call of train_and_restore_best works with: the components and callbacks it was
    given, unchanged for the length of the call."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_batches: ShardedBatches
    validation: list[dict]
    collator: Any
    spec: TaskSpec
    labels: LabelMap
    config: LoopConfig
    accelerator: Any
    record: Callable[[dict], None]
    checkpoint_dir: Path | None
    on_step: Callable[[int, int], None] | None

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_batches)

    @property
    def shows_progress(self) -> bool:
        return self.config.progress and self.accelerator.is_main_process


@dataclass
class _LoopState:
    """What the loop carries from step to step (and what a checkpoint saves of it)."""

    result: LoopResult
    bar: Any  # the run's progress bar (tqdm), counted in optimizer steps
    best_value: float | None = None  # the best validation metric so far
    best_state: dict[str, torch.Tensor] | None = None  # the trainable weights that scored it
    since_best: int = 0  # evaluations without improvement, for early stopping
    window: list[torch.Tensor] = field(default_factory=list)  # step losses since the last training row (logging_steps)
    evaluated_at: int | None = (
        None  # the step of the last validation: an epoch that ends on an eval_every step is evaluated once
    )


def train_and_restore_best(
    model,
    optimizer,
    scheduler,
    train_batches: ShardedBatches,
    validation: list[dict],
    collator,
    spec: TaskSpec,
    labels: LabelMap,
    config: LoopConfig,
    accelerator,
    record: Callable[[dict], None],
    checkpoint_dir: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> LoopResult:
    """Train, evaluating validation at each epoch end (and every eval_every steps), and keep the
    best checkpoint by the task metric in memory. On return the model HOLDS THAT BEST
    CHECKPOINT, not the last one (restored before returning).

    checkpoint_dir: save a resumable checkpoint there at each epoch end and each step-level
    evaluation; when one is there already, continue from it (train/checkpoint.py).
    on_step(steps done, steps in all): called after each optimizer step (the run's progress file)."""
    parts = _Parts(
        model,
        optimizer,
        scheduler,
        train_batches,
        validation,
        collator,
        spec,
        labels,
        config,
        accelerator,
        record,
        checkpoint_dir,
        on_step,
    )
    ceiling = parts.steps_per_epoch * config.epochs
    state = _LoopState(LoopResult("ok", None, None, None, 0, 0.0, 0, ceiling), _progress_bar(parts, ceiling))
    result = state.result
    first_epoch, skip = _resume(parts, state)
    with collect_new_objects_only():  # the collections after each evaluation stay cheap
        for epoch in range(first_epoch, config.epochs + 1):
            _train_epoch(parts, state, epoch, skip if epoch == first_epoch else 0)
            if result.status == "diverged":
                _record_divergence(parts, state, epoch)
                break
            # the same weights twice would count twice toward patience
            if not result.stopped_early and state.evaluated_at != result.steps:
                _validate(parts, state, epoch, "epoch")
            if checkpoint_dir is not None and not result.stopped_early and epoch < config.epochs:
                _save(parts, state, epoch, 0)
            if result.stopped_early:
                logger.info(_EARLY_STOP, epoch, result.steps, config.early_stop)
                break
    state.bar.close()
    if state.best_state is not None:
        _load_trainable_state(model, state.best_state)
    return result


_EARLY_STOP = "early stopping at epoch %d, step %d: %d evaluations without improvement"


def _progress_bar(parts: _Parts, total: int) -> tqdm:
    """The loop's bar, in optimizer steps over every epoch (shown on the main process, on request)."""
    return tqdm(total=total, disable=not parts.shows_progress, unit="step", dynamic_ncols=True)


def _record_divergence(parts: _Parts, state: _LoopState, epoch: int) -> None:
    """A NaN/inf loss ended training: one warning, and a row that says where."""
    steps = state.result.steps
    logger.warning("loss became NaN/inf at step %d (epoch %d); the run is recorded as diverged", steps + 1, epoch)
    parts.record({"split": "train", "at": "diverged", "epoch": epoch, "step": steps, "loss": float("nan")})


def _resume(parts: _Parts, state: _LoopState) -> tuple[int, int]:
    """Continue from the checkpoint in checkpoint_dir, if there is one: (the first epoch to run,
    the steps of it that were taken before the kill); (1, 0) for a fresh start."""
    if not parts.checkpoint_dir:
        return 1, 0
    resumed = load_checkpoint(
        parts.checkpoint_dir, parts.accelerator.unwrap_model(parts.model), parts.optimizer, parts.scheduler
    )
    if resumed is None:
        return 1, 0
    result = state.result
    first_epoch, skip = resumed.epoch + 1, resumed.into_epoch
    result.steps, result.train_seconds, result.train_examples = (
        resumed.steps,
        resumed.train_seconds,
        resumed.train_examples,
    )
    state.best_value, state.best_state, state.since_best = resumed.best_value, resumed.best_state, resumed.since_best
    result.best_validation, result.best_epoch, result.best_step = (
        resumed.best_validation,
        resumed.best_epoch,
        resumed.best_step,
    )
    state.bar.update(result.steps)
    result.resumed_from = {"epoch": resumed.epoch, "step": resumed.steps}
    logger.warning(
        "resuming after epoch %d%s (step %d) from %s",
        resumed.epoch,
        f" and {skip} steps of epoch {first_epoch}" if skip else "",
        resumed.steps,
        parts.checkpoint_dir,
    )
    return first_epoch, skip


def _train_epoch(parts: _Parts, state: _LoopState, epoch: int, skip: int) -> None:
    """One epoch of optimizer steps (its first `skip` steps were taken before a kill), with the
    step-level evaluations of eval_every; stops early on divergence or early stopping."""
    config, result = parts.config, state.result
    parts.train_batches.set_epoch(epoch)
    parts.model.train()
    started = time.perf_counter()
    for position, step in enumerate(parts.train_batches):
        if position < skip:  # taken before the kill: the epoch's order is seeded, so skip them
            continue
        if not _optimizer_step(parts, state, step, epoch, started):
            result.status = "diverged"
            break
        if config.eval_every and result.steps % config.eval_every == 0:
            result.train_seconds += time.perf_counter() - started
            _validate(parts, state, epoch, "step")
            if parts.checkpoint_dir is not None and not result.stopped_early and position + 1 < parts.steps_per_epoch:
                _save(parts, state, epoch - 1, position + 1)
            parts.model.train()
            started = time.perf_counter()
            if result.stopped_early:
                break
    result.train_seconds += time.perf_counter() - started


def _optimizer_step(parts: _Parts, state: _LoopState, step, epoch: int, started: float) -> bool:
    """Forward and backward over the step's micro-batches, then clip, step and log; False (and no
    optimizer step) when the loss is not finite on some process."""
    config, result, accelerator = parts.config, state.result, parts.accelerator
    total = _step_loss(parts, step)
    state.window.append(total)  # this process's share of the step's loss, for the training rows
    finite = accelerator.gather(torch.isfinite(total).float().reshape(1)).min().item() == 1.0
    if not finite:
        return False
    log_now = bool(config.logging_steps) and (result.steps + 1) % config.logging_steps == 0
    grad_norm = None
    if config.max_grad_norm or log_now:  # an infinite bound measures the norm without clipping
        trainable = [p for p in parts.model.parameters() if p.requires_grad]
        grad_norm = accelerator.clip_grad_norm_(trainable, config.max_grad_norm or float("inf"))
    learning_rate = parts.scheduler.get_last_lr()[0]  # the rate this step uses
    parts.optimizer.step()
    parts.scheduler.step()
    parts.optimizer.zero_grad(set_to_none=True)
    result.steps += 1
    result.train_examples += step.size
    state.bar.update(1)
    elapsed = result.train_seconds + time.perf_counter() - started
    state.bar.set_postfix(
        epoch=epoch,
        loss=f"{total.item() / accelerator.num_processes:.4f}",
        ex_s=f"{result.train_examples / max(elapsed, 1e-9):.1f}",
    )
    if log_now:
        parts.record(_training_row(accelerator, state.window, learning_rate, grad_norm, epoch, result.steps))
        state.window = []
    if parts.on_step is not None:
        parts.on_step(result.steps, result.ceiling_steps)
    return True


def _step_loss(parts: _Parts, step) -> torch.Tensor:
    """Forward and backward over one step's micro-batches; this process's share of the step's loss."""
    accelerator, world = parts.accelerator, parts.accelerator.num_processes
    micro_losses = []
    for index, batch in enumerate(step.micro):
        # a data-parallel backward syncs gradients only on the last micro-batch
        sync = index == len(step.micro) - 1
        unsynced = contextlib.nullcontext() if sync else accelerator.no_sync(parts.model)
        with unsynced, fast_training_ops(parts.config.fast_dropout):
            logits = parts.model(**model_inputs(batch.inputs)).logits
            loss_sums, _ = example_losses(logits, batch.inputs["labels"], parts.spec.kind)
            # the mean over the GLOBAL batch: data parallelism averages gradients over
            # processes, so each process scales its sum by world / (scored targets of the
            # whole step, all processes and micro-batches)
            loss = loss_sums.sum() * batch.weight * world / step.scored(accelerator)
            micro_losses.append(loss.detach())
            # backward even on a NaN: every process must join every gradient sync; the step is skipped by the caller
            accelerator.backward(loss)
    return torch.stack(micro_losses).sum()


def _validate(parts: _Parts, state: _LoopState, epoch: int, kind: str) -> None:
    """Evaluate validation, record it, follow the best checkpoint and count toward early stopping."""
    config, result, metric = parts.config, state.result, parts.spec.metric
    state.evaluated_at = result.steps
    with evaluation_bar(len(parts.validation), "validation", parts.shows_progress) as eval_bar:
        metrics = evaluate(
            parts.model,
            parts.validation,
            parts.collator,
            parts.spec,
            parts.labels,
            parts.accelerator,
            config.eval_batch_size,
            bar=eval_bar,
        )
    parts.record({"split": "validation", "at": kind, "epoch": epoch, "step": result.steps, **metrics})
    gc.collect()  # cycles the evaluation left hold freed tensors until the count-based collector runs
    # patience restarts only on a real improvement (beyond min_delta over the best so far); the
    # best checkpoint follows every improvement, however small
    before, bar = result.best_validation, improvement_bar(metric, state.best_value, config.early_stop_min_delta)
    improved = is_better(metric, metrics[metric], bar)
    if is_better(metric, metrics[metric], state.best_value):
        state.best_value = metrics[metric]
        state.best_state = _trainable_state(parts.model)
        result.best_validation, result.best_epoch, result.best_step = metrics, epoch, result.steps
    # a plateau at a constant predictor's score (the majority class) is a slow start, not convergence
    # (ChemProt fine-tuning at 3e-5: 3-4 epochs there): patience counts from the best that leaves it
    left = left_chance(result.best_validation)  # None: no finite validation metric yet
    improved = improved or (left and before is not None and not left_chance(before))
    state.since_best = 0 if improved else state.since_best + 1
    warmed = result.steps >= config.early_stop_min_epochs * parts.steps_per_epoch and left
    if config.early_stop and state.since_best >= config.early_stop and warmed and result.stopped_early is None:
        result.stopped_early = {"epoch": epoch, "step": result.steps}


def _save(parts: _Parts, state: _LoopState, epoch_done: int, into_epoch: int) -> None:
    """A resumable checkpoint (written by the main process; every process waits for it)."""
    result = state.result
    if parts.accelerator.is_main_process:
        save_checkpoint(
            parts.checkpoint_dir,
            parts.accelerator.unwrap_model(parts.model),
            parts.optimizer,
            parts.scheduler,
            LoopState(
                epoch_done,
                result.steps,
                result.train_seconds,
                result.train_examples,
                state.best_value,
                state.best_state,
                result.best_validation,
                result.best_epoch,
                result.best_step,
                state.since_best,
                into_epoch,
            ),
        )
    parts.accelerator.wait_for_everyone()


def _training_row(
    accelerator, window: list[torch.Tensor], learning_rate: float, grad_norm, epoch: int, step: int
) -> dict:
    """A training row of metrics.jsonl: the mean loss over the steps since the last row (every
    process's share summed: each process's loss is its part of the global mean), the learning
    rate the last step used and the gradient norm before clipping."""
    losses = torch.stack(window).float().reshape(1, -1)  # (1, steps)
    per_step = (
        accelerator.gather(losses).sum(0) / accelerator.num_processes if accelerator.num_processes > 1 else losses[0]
    )
    norm = float(grad_norm) if grad_norm is not None else None
    return {
        "split": "train",
        "at": "step",
        "epoch": epoch,
        "step": step,
        "loss": per_step.mean().item(),
        "learning_rate": learning_rate,
        **({"grad_norm": norm} if norm is not None else {}),
    }


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in ((n, p) for n, p in model.named_parameters() if n in state):
            param.copy_(state[name])
