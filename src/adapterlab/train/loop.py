"""The explicit training loop: AdamW + linear schedule, evaluation each epoch (and every N steps),
best-checkpoint selection on validation, divergence detection. Runs under Accelerate, so the
same code serves one CPU process, one GPU, or many processes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from adapterlab.data.features import IGNORE_INDEX, LabelMap
from adapterlab.data.tasks import TaskSpec
from adapterlab.train.fast_ops import fast_training_ops
from adapterlab.train.metrics import classification_metrics, is_better, regression_metrics, token_metrics

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


@dataclass
class LoopResult:
    status: str  # "ok" or "diverged"
    best_validation: dict | None
    best_epoch: int | None
    best_step: int | None
    steps: int
    train_seconds: float
    train_examples: int
    history: list[dict] = field(default_factory=list)


def compute_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """The task loss, computed here rather than by the HF model so that every head is treated alike."""
    if kind == "regression":
        return nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float())
    if kind in ("token", "mlm"):
        return nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX)
    return nn.functional.cross_entropy(logits.float(), labels)


def example_losses(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, number of scored targets) per example, so losses gather like predictions."""
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


@torch.inference_mode()
def evaluate(model, loader, spec: TaskSpec, labels: LabelMap, accelerator) -> dict:
    """Loss and every metric of the task kind on one split, gathered across processes without
    duplicated or dropped examples."""
    model.eval()
    total_loss, total_count = 0.0, 0
    predictions, golds = [], []
    for batch in loader:
        logits = model(**model_inputs(batch)).logits
        loss_sum, count = accelerator.gather_for_metrics(example_losses(logits, batch["labels"], spec.kind))
        total_loss += loss_sum.sum().item()
        total_count += count.sum().item()
        if spec.kind == "mlm":
            continue
        if spec.kind == "token":
            predicted = logits.argmax(-1)
            predicted = accelerator.pad_across_processes(predicted, dim=1, pad_index=IGNORE_INDEX)
            gold = accelerator.pad_across_processes(batch["labels"], dim=1, pad_index=IGNORE_INDEX)
            predicted, gold = accelerator.gather_for_metrics((predicted, gold))
            for row_pred, row_gold in zip(predicted.cpu().numpy(), gold.cpu().numpy()):
                keep = row_gold != IGNORE_INDEX
                predictions.append(row_pred[keep])
                golds.append(row_gold[keep])
            continue
        output = logits.squeeze(-1).float() if spec.kind == "regression" else logits.argmax(-1)
        output, gold = accelerator.gather_for_metrics((output, batch["labels"]))
        predictions.append(output.cpu().numpy())
        golds.append(gold.cpu().numpy())
    metrics: dict = {"loss": total_loss / max(total_count, 1)}
    if spec.kind == "mlm":
        metrics["mlm_loss"] = metrics["loss"]
        metrics["count"] = int(total_count)
    elif spec.kind == "token":
        names = labels.names
        metrics.update(token_metrics([[names[i] for i in p] for p in predictions], [[names[i] for i in g] for g in golds]))
        metrics["count"] = len(golds)
    else:
        predicted, gold = np.concatenate(predictions), np.concatenate(golds)
        metrics.update(regression_metrics(predicted, gold) if spec.kind == "regression" else classification_metrics(predicted, gold))
        metrics["count"] = int(len(gold))
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


def train_loop(
    model,
    optimizer,
    scheduler,
    train_loader,
    validation_loader,
    spec: TaskSpec,
    labels: LabelMap,
    config: LoopConfig,
    accelerator,
    record: Callable[[dict], None],
) -> LoopResult:
    """Train, evaluating validation at each epoch end (and every eval_every steps), keeping the
    best checkpoint by the task metric in memory; on return the model holds that checkpoint."""
    metric = spec.metric
    best_value, best_state = None, None
    result = LoopResult("ok", None, None, None, 0, 0.0, 0)
    steps_per_epoch = len(train_loader)
    bar = tqdm(total=steps_per_epoch * config.epochs, disable=not (config.progress and accelerator.is_main_process), unit="step", dynamic_ncols=True)

    def validate(epoch: int, kind: str) -> None:
        nonlocal best_value, best_state
        metrics = evaluate(model, validation_loader, spec, labels, accelerator)
        row = {"split": "validation", "at": kind, "epoch": epoch, "step": result.steps, **metrics}
        record(row)
        result.history.append(row)
        if is_better(metric, metrics[metric], best_value):
            best_value = metrics[metric]
            best_state = _trainable_state(model)
            result.best_validation, result.best_epoch, result.best_step = metrics, epoch, result.steps

    for epoch in range(1, config.epochs + 1):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        batch_sampler = getattr(train_loader, "batch_sampler", None)
        inner = getattr(batch_sampler, "batch_sampler", batch_sampler)
        if hasattr(inner, "set_epoch"):
            inner.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        for batch in train_loader:
            with fast_training_ops(config.fast_dropout):
                logits = model(**model_inputs(batch)).logits
            loss = compute_loss(logits, batch["labels"], spec.kind)
            finite = accelerator.gather(torch.isfinite(loss.detach()).float().reshape(1)).min().item() == 1.0
            if not finite:
                result.status = "diverged"
                break
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.steps += 1
            result.train_examples += batch["labels"].shape[0] * accelerator.num_processes
            bar.update(1)
            elapsed = result.train_seconds + time.perf_counter() - started
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.4f}", ex_s=f"{result.train_examples / max(elapsed, 1e-9):.1f}")
            if config.eval_every and result.steps % config.eval_every == 0:
                result.train_seconds += time.perf_counter() - started
                validate(epoch, "step")
                model.train()
                started = time.perf_counter()
        result.train_seconds += time.perf_counter() - started
        if result.status == "diverged":
            logger.warning("loss became NaN/inf at step %d (epoch %d); the run is recorded as diverged", result.steps + 1, epoch)
            record({"split": "train", "at": "diverged", "epoch": epoch, "step": result.steps, "loss": float("nan")})
            break
        validate(epoch, "epoch")
    bar.close()
    if best_state is not None:
        _load_trainable_state(model, best_state)
    return result


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in state:
                param.copy_(state[name])
