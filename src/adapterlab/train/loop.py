"""The explicit training loop: AdamW + linear schedule, evaluation each epoch (and every N steps),
best-checkpoint selection on validation, divergence detection. Runs under Accelerate, so the
same code serves one CPU process, one GPU, or many processes."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from accelerate.utils import gather_object
from transformers import get_linear_schedule_with_warmup

from adapterlab.data.features import IGNORE_INDEX, LabelMap
from adapterlab.data.tasks import LOWER_IS_BETTER, TaskSpec
from adapterlab.train.batching import ShardedBatches, evaluation_batches
from adapterlab.train.checkpoint import LoopState, load_checkpoint, save_checkpoint
from adapterlab.train.config import RunConfig
from adapterlab.train.fast_ops import fast_training_ops
from adapterlab.train.metrics import UNSCORED, classification_metrics, is_better, regression_metrics, token_metrics

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
    early_stop_min_delta: float = 0.0  # an evaluation improves only by beating the best by more than this (metric units)
    early_stop_min_epochs: int = 0  # no early stop before this many epochs are done
    logging_steps: int | None = None  # every N optimizer steps, a training row: loss, learning rate, gradient norm

    @classmethod
    def for_run(cls, config: RunConfig, tapt: bool = False) -> "LoopConfig":
        """The loop settings of a run's task training, or of its TAPT phase (tapt=True)."""
        if tapt:
            return cls(lr=config.tapt_lr or config.learning_rate, epochs=config.tapt_epochs, warmup_ratio=config.warmup_ratio,
                       weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm, fast_dropout=config.fast_dropout,
                       progress=config.progress, eval_batch_size=config.batch_size, logging_steps=config.logging_steps)
        return cls(lr=config.learning_rate, epochs=config.epochs, warmup_ratio=config.warmup_ratio, weight_decay=config.weight_decay,
                   max_grad_norm=config.max_grad_norm, eval_every=config.eval_every, fast_dropout=config.fast_dropout,
                   progress=config.progress, eval_batch_size=config.batch_size, early_stop=config.early_stop,
                   early_stop_min_delta=config.early_stop_min_delta, early_stop_min_epochs=config.early_stop_min_epochs,
                   logging_steps=config.logging_steps)


@dataclass
class LoopResult:
    status: str  # "ok" or "diverged"
    best_validation: dict | None
    best_epoch: int | None
    best_step: int | None
    steps: int
    train_seconds: float
    train_examples: int
    stopped_early: dict | None = None  # {"epoch", "step"} where early stopping ended training
    resumed_from: dict | None = None  # {"epoch", "step"} of the checkpoint a killed run continued from


def compute_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """The task loss, computed here rather than by the HF model so that every head is treated alike."""
    if kind == "regression":
        return nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float())
    if kind in ("token", "mlm"):
        return nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)
    return nn.functional.cross_entropy(logits.float(), labels)


def example_losses(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, number of scored targets) per example, so losses add up across processes."""
    if kind == "regression":
        losses = (logits.squeeze(-1).float() - labels.float()) ** 2
        return losses, torch.ones_like(losses)
    if kind in ("token", "mlm"):
        per_token = nn.functional.cross_entropy(logits.transpose(1, 2).float(), labels, ignore_index=IGNORE_INDEX, reduction="none")
        return per_token.sum(1), labels.ne(IGNORE_INDEX).sum(1).float()
    losses = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
    return losses, torch.ones_like(losses)


def model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


COUNT_KEYS = ("count", "words", "unscored_words", "unknown_labels")  # counts beside the metrics: kept when outputs are non-finite


@torch.inference_mode()
def evaluate(model, features: list[dict], collator, spec: TaskSpec, labels: LabelMap, accelerator, batch_size: int = 64, bar=None) -> dict:
    """Loss and every metric of the task kind on one split. Each process scores every N-th
    feature and the per-feature outputs are gathered, so no example is dropped or counted twice
    whatever the number of processes. Token tasks: a sentence cut into windows is put back
    together, and every gold word is scored (`unscored_words` counts any that had no sub-word)."""
    model = accelerator.unwrap_model(model)  # no collectives in the forward: processes may see uneven batches
    model.eval()
    outputs = []  # (feature index, loss sum, scored count, prediction)
    nonfinite = 0  # features whose outputs hold NaN or inf (weights of a diverged run)
    for indices, batch in evaluation_batches(features, collator, batch_size, accelerator):
        logits = model(**model_inputs(batch)).logits
        nonfinite += int((~torch.isfinite(logits.detach().float()).reshape(logits.shape[0], -1).all(-1)).sum())
        targets = batch["labels"]
        if labels.unknown:  # gold labels the model cannot output: scored as misses, left out of the loss
            targets = targets.masked_fill(targets >= len(labels.names), IGNORE_INDEX)
        loss_sums, counts = example_losses(logits, targets, spec.kind)
        if spec.kind == "token":
            gold = batch["labels"].cpu()
            predicted = logits.argmax(-1).cpu()
            rows = [predicted[row][gold[row] != IGNORE_INDEX].tolist() for row in range(len(indices))]
        elif spec.kind == "regression":
            rows = logits.squeeze(-1).float().cpu().tolist()
        elif spec.kind == "classification":
            rows = logits.argmax(-1).cpu().tolist()
        else:
            rows = [None] * len(indices)
        outputs.extend(zip(indices, loss_sums.cpu().tolist(), counts.cpu().tolist(), rows))
        if bar is not None:  # a progress bar (tqdm) of the caller's, counted in features
            bar.update(len(indices))
    outputs = sorted(gather_object(outputs) if accelerator.num_processes > 1 else outputs)
    if accelerator.num_processes > 1:
        nonfinite = sum(gather_object([nonfinite]))
    total_count = sum(o[2] for o in outputs)
    metrics: dict = {"loss": sum(o[1] for o in outputs) / max(total_count, 1)}
    if spec.kind == "mlm":
        metrics["mlm_loss"] = metrics["loss"]
        metrics["count"] = int(total_count)
    elif spec.kind == "token":
        metrics.update(_token_metrics(features, outputs, labels))
    else:
        predicted = np.array([o[3] for o in outputs])
        gold = np.array([features[o[0]]["labels"] for o in outputs])
        if spec.kind == "regression":
            metrics.update(regression_metrics(predicted, gold))
        else:
            metrics.update(classification_metrics(predicted, gold, num_classes=len(labels.names)))
            if labels.unknown:
                metrics["unknown_labels"] = int((gold >= len(labels.names)).sum())
        metrics["count"] = len(outputs)
    if nonfinite:
        # argmax over NaN is class 0, so the metric would look like a real (majority-class) score:
        # every metric is NaN (null in JSON) instead, and the count of such inputs is kept
        metrics = {k: (v if k in COUNT_KEYS else float("nan")) for k, v in metrics.items()}
        metrics["nonfinite"] = nonfinite
    return metrics


def _token_metrics(features: list[dict], outputs: list[tuple], labels: LabelMap) -> dict:
    """Put the windows of each sentence back together and score every gold word once."""
    names = labels.all_names
    gold: dict[int, list[str]] = {}
    predicted: dict[int, dict[int, str]] = {}
    for index, _, _, row in outputs:
        feature = features[index]
        sentence = feature["_example"]
        if "_tags" in feature:
            gold[sentence] = [names[t] for t in feature["_tags"]]
        words = predicted.setdefault(sentence, {})
        for word, tag in zip(feature["_words"], row):
            words[word] = names[tag]
    sentences = sorted(gold)
    gold_tags = [gold[s] for s in sentences]
    predicted_tags = [[predicted.get(s, {}).get(w, UNSCORED) for w in range(len(gold[s]))] for s in sentences]
    metrics = token_metrics(predicted_tags, gold_tags)
    metrics["count"] = len(sentences)
    if labels.unknown:
        metrics["unknown_labels"] = sum(t in labels.unknown for sentence in gold_tags for t in sentence)
    return metrics


def build_optimizer(model: nn.Module, config: LoopConfig, total_steps: int):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # the usual BERT recipe: no weight decay on biases and LayerNorm weights
        (no_decay if param.ndim < 2 else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


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
    metric = spec.metric
    best_value, best_state = None, None
    result = LoopResult("ok", None, None, None, 0, 0.0, 0)
    steps_per_epoch = len(train_batches)
    world = accelerator.num_processes
    bar = tqdm(total=steps_per_epoch * config.epochs, disable=not (config.progress and accelerator.is_main_process), unit="step", dynamic_ncols=True)

    since_best = 0  # evaluations without improvement, for early stopping
    window: list[torch.Tensor] = []  # step losses since the last training row (logging_steps)
    first_epoch, skip = 1, 0
    resumed = load_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, scheduler) if checkpoint_dir else None
    if resumed is not None:
        first_epoch, skip = resumed.epoch + 1, resumed.into_epoch
        result.steps, result.train_seconds, result.train_examples = resumed.steps, resumed.train_seconds, resumed.train_examples
        best_value, best_state, since_best = resumed.best_value, resumed.best_state, resumed.since_best
        result.best_validation, result.best_epoch, result.best_step = resumed.best_validation, resumed.best_epoch, resumed.best_step
        bar.update(result.steps)
        result.resumed_from = {"epoch": resumed.epoch, "step": resumed.steps}
        logger.warning("resuming after epoch %d%s (step %d) from %s", resumed.epoch,
                       f" and {skip} steps of epoch {first_epoch}" if skip else "", resumed.steps, checkpoint_dir)

    def save(epoch_done: int, into_epoch: int) -> None:
        if accelerator.is_main_process:
            save_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, scheduler,
                            LoopState(epoch_done, result.steps, result.train_seconds, result.train_examples, best_value, best_state,
                                      result.best_validation, result.best_epoch, result.best_step, since_best, into_epoch))
        accelerator.wait_for_everyone()

    evaluated_at: list[int] = []  # the step of the last validation: an epoch that ends on an eval_every step is evaluated once

    def validate(epoch: int, kind: str) -> None:
        nonlocal best_value, best_state, since_best
        evaluated_at[:] = [result.steps]
        with evaluation_bar(len(validation), "validation", config.progress and accelerator.is_main_process) as eval_bar:
            metrics = evaluate(model, validation, collator, spec, labels, accelerator, config.eval_batch_size, bar=eval_bar)
        record({"split": "validation", "at": kind, "epoch": epoch, "step": result.steps, **metrics})
        # patience restarts only on a real improvement (beyond min_delta over the best so far); the
        # best checkpoint follows every improvement, however small
        improved = is_better(metric, metrics[metric], _shifted(metric, best_value, config.early_stop_min_delta))
        if is_better(metric, metrics[metric], best_value):
            best_value = metrics[metric]
            best_state = _trainable_state(model)
            result.best_validation, result.best_epoch, result.best_step = metrics, epoch, result.steps
        since_best = 0 if improved else since_best + 1
        warmed = result.steps >= config.early_stop_min_epochs * steps_per_epoch
        if config.early_stop and since_best >= config.early_stop and warmed and result.stopped_early is None:
            result.stopped_early = {"epoch": epoch, "step": result.steps}

    for epoch in range(first_epoch, config.epochs + 1):
        train_batches.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        for position, step in enumerate(train_batches):
            if epoch == first_epoch and position < skip:  # taken before the kill: the epoch's order is seeded, so skip them
                continue
            micro_losses = []
            for index, batch in enumerate(step.micro):
                # a data-parallel backward syncs gradients only on the last micro-batch
                sync = index == len(step.micro) - 1
                with _maybe_no_sync(accelerator, model, sync), fast_training_ops(config.fast_dropout):
                    logits = model(**model_inputs(batch.inputs)).logits
                    loss_sums, _ = example_losses(logits, batch.inputs["labels"], spec.kind)
                    # the mean over the GLOBAL batch: data parallelism averages gradients over
                    # processes, so each process scales its sum by world / (scored targets of the
                    # whole step, all processes and micro-batches)
                    loss = loss_sums.sum() * batch.weight * world / step.scored(accelerator)
                    micro_losses.append(loss.detach())
                    # backward even on a NaN: every process must join every gradient sync; the step is skipped below
                    accelerator.backward(loss)
            total = torch.stack(micro_losses).sum()
            window.append(total)  # this process's share of the step's loss, for the training rows
            finite = accelerator.gather(torch.isfinite(total).float().reshape(1)).min().item() == 1.0
            if not finite:
                result.status = "diverged"
                break
            log_now = bool(config.logging_steps) and (result.steps + 1) % config.logging_steps == 0
            grad_norm = None
            if config.max_grad_norm or log_now:  # an infinite bound measures the norm without clipping
                grad_norm = accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm or float("inf"))
            learning_rate = scheduler.get_last_lr()[0]  # the rate this step uses
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.steps += 1
            result.train_examples += step.size
            bar.update(1)
            elapsed = result.train_seconds + time.perf_counter() - started
            bar.set_postfix(epoch=epoch, loss=f"{total.item() / world:.4f}", ex_s=f"{result.train_examples / max(elapsed, 1e-9):.1f}")
            if log_now:
                record(_training_row(accelerator, window, learning_rate, grad_norm, epoch, result.steps))
                window = []
            if on_step is not None:
                on_step(result.steps, steps_per_epoch * config.epochs)
            if config.eval_every and result.steps % config.eval_every == 0:
                result.train_seconds += time.perf_counter() - started
                validate(epoch, "step")
                if checkpoint_dir is not None and not result.stopped_early and position + 1 < steps_per_epoch:
                    save(epoch - 1, position + 1)
                model.train()
                started = time.perf_counter()
                if result.stopped_early:
                    break
        result.train_seconds += time.perf_counter() - started
        if result.status == "diverged":
            logger.warning("loss became NaN/inf at step %d (epoch %d); the run is recorded as diverged", result.steps + 1, epoch)
            record({"split": "train", "at": "diverged", "epoch": epoch, "step": result.steps, "loss": float("nan")})
            break
        if not result.stopped_early and evaluated_at != [result.steps]:  # the same weights twice would count twice toward patience
            validate(epoch, "epoch")
        if checkpoint_dir is not None and not result.stopped_early and epoch < config.epochs:
            save(epoch, 0)
        if result.stopped_early:
            logger.info("early stopping at epoch %d, step %d: %d evaluations without improvement", epoch, result.steps, config.early_stop)
            break
    bar.close()
    if best_state is not None:
        _load_trainable_state(model, best_state)
    return result


def _training_row(accelerator, window: list[torch.Tensor], learning_rate: float, grad_norm, epoch: int, step: int) -> dict:
    """A training row of metrics.jsonl: the mean loss over the steps since the last row (every
    process's share summed: each process's loss is its part of the global mean), the learning
    rate the last step used and the gradient norm before clipping."""
    losses = torch.stack(window).float().reshape(1, -1)  # (1, steps)
    per_step = accelerator.gather(losses).sum(0) / accelerator.num_processes if accelerator.num_processes > 1 else losses[0]
    norm = float(grad_norm) if grad_norm is not None else None
    return {"split": "train", "at": "step", "epoch": epoch, "step": step, "loss": per_step.mean().item(), "learning_rate": learning_rate,
            **({"grad_norm": norm} if norm is not None else {})}


@contextlib.contextmanager
def evaluation_bar(examples: int, split: str, enabled: bool):
    """A progress bar over one evaluation, counted in examples (features for token tasks cut
    into windows), closed when it ends; None when disabled."""
    if not enabled:
        yield None
        return
    bar = tqdm(total=examples, desc=split, unit="ex", leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _shifted(metric: str, best: float | None, delta: float) -> float | None:
    """The value an evaluation must beat to count as an improvement for early stopping."""
    if best is None or not delta:
        return best
    return best - delta if metric in LOWER_IS_BETTER else best + delta


def _maybe_no_sync(accelerator, model, sync: bool):
    return contextlib.nullcontext() if sync else accelerator.no_sync(model)


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in state:
                param.copy_(state[name])
