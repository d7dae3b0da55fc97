"""Evaluation of one split: the loss and every metric of the task kind, gathered across
processes so that no example is dropped or counted twice. The training loop (train/loop.py)
evaluates validation with it; `evaluate`, `crosslingual` and `forgetting` score files with it."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from accelerate.utils import gather_object
from torch import nn
from tqdm.auto import tqdm

from adapterlab.data.features import IGNORE_INDEX, LabelMap
from adapterlab.data.tasks import TaskSpec
from adapterlab.train.batching import evaluation_batches
from adapterlab.train.metrics import UNSCORED, classification_metrics, regression_metrics, token_metrics


def example_losses(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, number of scored targets) per example, so losses add up across processes."""
    if kind == "regression":
        losses = (logits.squeeze(-1).float() - labels.float()) ** 2
        return losses, torch.ones_like(losses)
    if kind in ("token", "mlm"):
        per_token = nn.functional.cross_entropy(
            logits.transpose(1, 2).float(), labels, ignore_index=IGNORE_INDEX, reduction="none"
        )
        return per_token.sum(1), labels.ne(IGNORE_INDEX).sum(1).float()
    losses = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
    return losses, torch.ones_like(losses)


def model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


COUNT_KEYS = (
    "count",
    "words",
    "unscored_words",
    "unknown_labels",
)  # counts beside the metrics: kept when outputs are non-finite


@torch.inference_mode()
def evaluate(
    model, features: list[dict], collator, spec: TaskSpec, labels: LabelMap, accelerator, batch_size: int = 64, bar=None
) -> dict:
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
