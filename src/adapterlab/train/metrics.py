"""Task metrics from scikit-learn, scipy and seqeval: predictions and gold labels in, floats out."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from seqeval.metrics import f1_score as entity_f1_score
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from adapterlab.data.tasks import LOWER_IS_BETTER

UNSCORED = "<unscored>"  # the prediction of a gold word no model output covered: always wrong


def classification_metrics(
    predictions: np.ndarray, labels: np.ndarray, num_classes: int, positive: int = 1
) -> dict[str, float]:
    """accuracy, micro/macro F1, Matthews correlation, and binary F1 of class `positive`.

    The averaging follows the task's label set (`num_classes`), never the labels that happen to
    occur in this split: binary F1 exists exactly when the label set has two classes, and the
    macro average runs over the classes that occur in gold or predictions (sklearn's rule).
    """
    metrics = {
        "accuracy": float(accuracy_score(labels, predictions)),
        "micro_f1": float(f1_score(labels, predictions, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(labels, predictions)),
    }
    if num_classes == 2:
        # on "is it the positive class": a gold label outside the label set (cross-lingual
        # evaluation) is simply not positive
        metrics["f1"] = float(f1_score(labels == positive, predictions == positive, zero_division=0))
    return metrics


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    if np.all(predictions == predictions[0]) or not np.all(np.isfinite(predictions)):
        return {"pearson": 0.0, "spearman": 0.0}  # a constant prediction has no correlation
    return {
        "pearson": float(stats.pearsonr(predictions, labels)[0]),
        "spearman": float(stats.spearmanr(predictions, labels)[0]),
    }


def token_metrics(predicted_tags: list[list[str]], gold_tags: list[list[str]]) -> dict[str, float]:
    """Token accuracy and the Matthews correlation over every gold word (multiclass MCC: 0 for any
    tagger that predicts one tag, e.g. all NOUN, so POS tagging has a chance-corrected score), and
    entity-level F1 (seqeval, CoNLL style) when the tags are BIO. A word predicted as UNSCORED
    counts as wrong (and as O for entities); `unscored_words` says how many there were."""
    flat_pred = [t for sentence in predicted_tags for t in sentence]
    flat_gold = [t for sentence in gold_tags for t in sentence]
    metrics = {
        "accuracy": float(accuracy_score(flat_gold, flat_pred)) if flat_gold else 0.0,
        "mcc": float(matthews_corrcoef(flat_gold, flat_pred)) if flat_gold else 0.0,
        "words": len(flat_gold),
        "unscored_words": sum(t == UNSCORED for t in flat_pred),
    }
    if any(t.startswith(("B-", "I-")) for t in flat_gold):
        as_entities = [["O" if t == UNSCORED else t for t in sentence] for sentence in predicted_tags]
        metrics["entity_f1"] = float(entity_f1_score(gold_tags, as_entities))
    return metrics


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return not math.isnan(value)
    return value < best if metric in LOWER_IS_BETTER else value > best


def improvement_bar(metric: str, best: float | None, delta: float) -> float | None:
    """The value an evaluation must beat to count as an improvement for early stopping: the best so
    far moved by `delta` (min_delta, the metric's units) in the metric's better direction."""
    if best is None or not delta:
        return best
    return best - delta if metric in LOWER_IS_BETTER else best + delta


def last_epoch_gain(rows: list[dict], metric: str) -> float | None:
    """How much a run's validation metric improved over its last epoch (positive = better, in the
    metric's units): the last evaluation minus the last one of the previous epoch (with a single
    epoch, minus the first evaluation). None with fewer than two evaluations. `rows`: the
    validation rows of metrics.jsonl, in the order written."""
    evaluations = sorted(
        {
            (r.get("step") or 0, r.get("epoch") or 0): r
            for r in rows
            if r.get("split") == "validation" and isinstance(r.get(metric), (int, float))
        }.items()
    )
    if len(evaluations) < 2:
        return None
    values = [r[metric] for _, r in evaluations]
    last_epoch = evaluations[-1][0][1]
    earlier = [i for i, ((_, epoch), _) in enumerate(evaluations) if epoch < last_epoch]
    change = values[-1] - values[earlier[-1] if earlier else 0]
    return -change if metric in LOWER_IS_BETTER else change
