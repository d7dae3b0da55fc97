"""Task metrics from scikit-learn, scipy and seqeval: predictions and gold labels in, floats out."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from seqeval.metrics import f1_score as entity_f1_score
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from adapterlab.data.tasks import LOWER_IS_BETTER


def classification_metrics(predictions: np.ndarray, labels: np.ndarray, positive: int = 1) -> dict[str, float]:
    """accuracy, micro/macro F1, Matthews correlation, and binary F1 of class `positive` (2 classes)."""
    metrics = {
        "accuracy": float(accuracy_score(labels, predictions)),
        "micro_f1": float(f1_score(labels, predictions, average="micro")),
        "macro_f1": float(f1_score(labels, predictions, average="macro")),
        "mcc": float(matthews_corrcoef(labels, predictions)),
    }
    if set(np.unique(labels)) <= {0, 1}:
        metrics["f1"] = float(f1_score(labels, predictions, average="binary", pos_label=positive, zero_division=0))
    return metrics


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    if np.all(predictions == predictions[0]) or not np.all(np.isfinite(predictions)):
        return {"pearson": 0.0, "spearman": 0.0}  # a constant prediction has no correlation
    return {"pearson": float(stats.pearsonr(predictions, labels)[0]), "spearman": float(stats.spearmanr(predictions, labels)[0])}


def token_metrics(predicted_tags: list[list[str]], gold_tags: list[list[str]]) -> dict[str, float]:
    """Token accuracy, and entity-level F1 (seqeval, CoNLL style) when the tags are BIO."""
    flat_pred = [t for sentence in predicted_tags for t in sentence]
    flat_gold = [t for sentence in gold_tags for t in sentence]
    metrics = {"accuracy": float(accuracy_score(flat_gold, flat_pred))}
    if any(t.startswith(("B-", "I-")) for t in flat_gold):
        metrics["entity_f1"] = float(entity_f1_score(gold_tags, predicted_tags))
    return metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return not math.isnan(value)
    return value < best if metric in LOWER_IS_BETTER else value > best
