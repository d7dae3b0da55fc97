"""Our metrics against values computed independently of the library calls (formulas, hand counts)."""

import math

import numpy as np
import pytest

from adapterlab.train.metrics import classification_metrics, is_better, regression_metrics, token_metrics


def test_binary_classification_metrics_by_hand():
    gold = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    pred = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    tp, tn, fp, fn = 3, 3, 1, 1
    metrics = classification_metrics(pred, gold, num_classes=2)
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert metrics["mcc"] == pytest.approx(mcc)
    assert metrics["micro_f1"] == pytest.approx(metrics["accuracy"])  # single-label: micro-F1 = accuracy


def test_macro_f1_by_hand():
    gold = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    f1 = {0: 2 * 1 / (2 * 1 + 1 + 1), 1: 2 * 2 / (2 * 2 + 1 + 0), 2: 2 * 1 / (2 * 1 + 0 + 1)}
    metrics = classification_metrics(pred, gold, num_classes=3)
    assert metrics["macro_f1"] == pytest.approx(sum(f1.values()) / 3)
    assert "f1" not in metrics  # binary F1 only for two classes


def test_metric_averaging_follows_the_label_set_not_the_labels_present():
    # a 3-class task whose test split happens to hold only classes 0 and 1, and a model that
    # predicts class 2 once: no binary F1 (the label set has 3 classes), and no crash
    gold = np.array([0, 1, 1, 0])
    pred = np.array([0, 1, 2, 0])
    metrics = classification_metrics(pred, gold, num_classes=3)
    assert "f1" not in metrics and metrics["accuracy"] == pytest.approx(3 / 4)
    # a 2-class task whose split holds only class 0: binary F1 still exists (positive class 1)
    only_negative = classification_metrics(np.array([0, 1, 0]), np.array([0, 0, 0]), num_classes=2)
    assert only_negative["f1"] == 0.0
    # a gold label outside the label set (cross-lingual evaluation, id 2 of a binary task) is not positive
    unknown = classification_metrics(np.array([1, 1, 0]), np.array([1, 2, 0]), num_classes=2)
    assert unknown["f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 0))


def test_token_metrics_count_unscored_words_as_misses():
    from adapterlab.train.metrics import UNSCORED

    metrics = token_metrics([["B-PER", UNSCORED, "O"]], [["B-PER", "I-PER", "O"]])
    assert metrics["accuracy"] == pytest.approx(2 / 3) and metrics["unscored_words"] == 1 and metrics["words"] == 3
    assert metrics["entity_f1"] == 0.0  # the unscored I-PER breaks the entity


def test_regression_metrics_against_numpy():
    rng = np.random.default_rng(0)
    gold = rng.normal(size=50)
    pred = gold + rng.normal(scale=0.5, size=50)
    metrics = regression_metrics(pred, gold)
    assert metrics["pearson"] == pytest.approx(np.corrcoef(pred, gold)[0, 1])
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731 (no ties in continuous data)
    assert metrics["spearman"] == pytest.approx(np.corrcoef(ranks(pred), ranks(gold))[0, 1])
    assert regression_metrics(np.ones(5), gold[:5]) == {"pearson": 0.0, "spearman": 0.0}


def test_entity_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    # entities: gold {PER, LOC, ORG} = 3; predicted {PER, ORG, LOC(wrong)} = 3; correct 2
    metrics = token_metrics(pred, gold)
    assert metrics["entity_f1"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert "entity_f1" not in token_metrics([["NOUN"]], [["NOUN"]])


def test_is_better_respects_direction():
    assert is_better("accuracy", 0.6, 0.5) and not is_better("accuracy", 0.4, 0.5)
    assert is_better("mlm_loss", 1.0, 2.0) and not is_better("mlm_loss", 3.0, 2.0)
    assert is_better("accuracy", 0.1, None) and not is_better("accuracy", float("nan"), None)


def test_token_mcc_by_hand_and_zero_for_a_one_tag_tagger():
    """POS tagging's chance-corrected score is the multiclass MCC over words (Gorodkin's R_K):
    by the covariance formula on the confusion matrix, and exactly 0 for an all-NOUN tagger,
    whatever its accuracy, so the convergence rule waits at it and `did not learn` can see it."""
    from adapterlab.data.tasks import chance_of, left_chance

    gold = [["NOUN", "VERB", "DET", "NOUN"], ["ADJ", "NOUN"]]
    pred = [["NOUN", "VERB", "NOUN", "NOUN"], ["ADJ", "VERB"]]
    tags = sorted({t for s in gold + pred for t in s})
    confusion = np.zeros((len(tags), len(tags)))
    for g, p in zip(sum(gold, []), sum(pred, [])):
        confusion[tags.index(g), tags.index(p)] += 1
    n, correct = confusion.sum(), np.trace(confusion)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    mcc = (correct * n - true_counts @ pred_counts) / math.sqrt(
        (n**2 - pred_counts @ pred_counts) * (n**2 - true_counts @ true_counts)
    )
    assert token_metrics(pred, gold)["mcc"] == pytest.approx(mcc)

    all_noun = token_metrics([["NOUN"] * len(s) for s in gold], gold)
    assert all_noun["accuracy"] == pytest.approx(3 / 6) and all_noun["mcc"] == 0.0
    assert chance_of(all_noun) == (0.0, "MCC") and not left_chance(all_noun)


def test_ner_reads_entity_f1_as_its_chance_score_not_token_mcc():
    """NER runs record both entity F1 and token MCC and select by entity F1: the gates and the
    convergence rule read the number the run is chosen on."""
    from adapterlab.data.tasks import chance_of

    metrics = token_metrics([["B-PER", "O", "O"]], [["B-PER", "O", "B-LOC"]])
    assert "mcc" in metrics and chance_of(metrics) == (metrics["entity_f1"], "entity F1")
