"""Task specs: what kind of task, which metric the paper reports, which labels are allowed."""

from __future__ import annotations

from dataclasses import dataclass

from adapterlab.errors import AdapterlabError


@dataclass(frozen=True)
class TaskSpec:
    """name: registry key. kind: one of names.TASK_KINDS. metric: the one used for checkpoint selection and
    reported as the result (the paper's choice per task). labels: the fixed label set, or None
    to take the sorted label set of the training data. pair: sentence-pair input.
    reader: the default file format (see readers.READERS)."""

    name: str
    kind: str
    metric: str
    labels: tuple[str, ...] | None = None
    pair: bool = False
    reader: str = "auto"


_NLI3 = ("entailment", "neutral", "contradiction")
_BINARY = ("0", "1")
_UPOS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
_PANX = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        # GLUE, with the metrics of the paper's Table 2
        TaskSpec("cola", "classification", "mcc", _BINARY, reader="glue"),
        TaskSpec("sst2", "classification", "accuracy", _BINARY, reader="glue"),
        TaskSpec("mrpc", "classification", "f1", _BINARY, pair=True, reader="glue"),
        TaskSpec("stsb", "regression", "spearman", pair=True, reader="glue"),
        TaskSpec("qqp", "classification", "accuracy", _BINARY, pair=True, reader="glue"),
        TaskSpec("mnli", "classification", "accuracy", _NLI3, pair=True, reader="glue"),
        TaskSpec("qnli", "classification", "accuracy", ("entailment", "not_entailment"), pair=True, reader="glue"),
        TaskSpec("rte", "classification", "accuracy", ("entailment", "not_entailment"), pair=True, reader="glue"),
        TaskSpec("wnli", "classification", "accuracy", _BINARY, pair=True, reader="glue"),
        # TAE (Gururangan et al. 2020), with the metrics of the paper's Table 1
        TaskSpec("chemprot", "classification", "micro_f1", reader="jsonl"),
        TaskSpec("rct", "classification", "micro_f1", reader="jsonl"),
        TaskSpec("acl-arc", "classification", "macro_f1", reader="jsonl"),
        TaskSpec("sciie", "classification", "macro_f1", reader="jsonl"),
        TaskSpec("hyperpartisan", "classification", "macro_f1", ("false", "true"), reader="hyperpartisan"),
        TaskSpec("ag", "classification", "macro_f1", reader="tsv"),
        TaskSpec("helpfulness", "classification", "macro_f1", reader="jsonl"),
        TaskSpec("imdb", "classification", "macro_f1", reader="tsv"),
        # XTREME zero-shot cross-lingual tasks
        TaskSpec("udpos", "token", "accuracy", _UPOS, reader="xtreme-tokens"),
        TaskSpec("panx", "token", "entity_f1", _PANX, reader="xtreme-tokens"),
        TaskSpec("xnli", "classification", "accuracy", _NLI3, pair=True, reader="xnli"),
        # the offline demo corpus and generic user tasks
        TaskSpec("bbc", "classification", "accuracy", reader="folder"),
        TaskSpec("classification", "classification", "accuracy"),
        TaskSpec("pair-classification", "classification", "accuracy", pair=True),
        TaskSpec("regression", "regression", "spearman"),
        TaskSpec("token", "token", "accuracy"),
        TaskSpec("ner", "token", "entity_f1"),
        TaskSpec("mlm", "mlm", "mlm_loss"),
    )
}

METRICS_BY_KIND = {
    "classification": ("accuracy", "micro_f1", "macro_f1", "mcc", "f1"),
    "regression": ("pearson", "spearman"),
    "token": ("accuracy", "entity_f1", "mcc"),
    "mlm": ("mlm_loss",),
}
LOWER_IS_BETTER = {"mlm_loss", "loss"}

# The score that is 0 for every constant predictor (majority class, no entity, one tag, one value),
# per task kind, by the metric key a run records: tagging with entities (NER), classification and
# other tagging (POS: token-level MCC), regression. Entity F1 comes before MCC because NER runs
# record both and select by entity F1; regression reads Spearman first because the regression
# tasks select by it (STS-B). So the convergence rule and the gates read the number a run is
# chosen on.
CHANCE_SCORES = (("entity_f1", "entity F1"), ("mcc", "MCC"), ("spearman", "Spearman rho"), ("pearson", "Pearson r"))
# Within this of 0 a model has not left a constant predictor: the `did not learn` gate's default
# margin (×100: 5 points), and the level below which convergence stopping waits (train/loop.py).
CHANCE_MARGIN = 0.05


def chance_of(metrics: dict) -> tuple[float, str] | None:
    """The chance-corrected score among `metrics` (CHANCE_SCORES; 0 to 1, unscaled) and its
    display name ("MCC"), or None."""
    return next(
        ((float(metrics[key]), name) for key, name in CHANCE_SCORES if isinstance(metrics.get(key), (int, float))),
        None,
    )


def chance_score(metrics: dict) -> float | None:
    """The chance-corrected score among `metrics` (CHANCE_SCORES; 0 to 1, unscaled), or None."""
    found = chance_of(metrics)
    return found[0] if found else None


def left_chance(metrics: dict | None) -> bool:
    """Whether `metrics` (one evaluation's) are beyond a constant predictor's: its chance-corrected
    score is above CHANCE_MARGIN, or the task records none (nothing to wait for). None (no
    evaluation with a finite selection metric yet: a NaN metric is never a best) has not left it."""
    if metrics is None:
        return False
    score = chance_score(metrics)
    return score is None or score > CHANCE_MARGIN


def get_task(name: str, metric: str | None = None) -> TaskSpec:
    """The registered task `name`, with its metric overridden when `metric` is given."""
    key = name.lower().replace("_", "-")
    key = {"sst-2": "sst2", "sts-b": "stsb", "acl_arc": "acl-arc", "pan-x": "panx", "ud-pos": "udpos"}.get(key, key)
    if key not in TASKS:
        raise AdapterlabError(f"task {name!r} is not known; known tasks: {', '.join(sorted(TASKS))}")
    spec = TASKS[key]
    if metric is not None:
        if metric not in METRICS_BY_KIND[spec.kind]:
            raise AdapterlabError(
                f"metric {metric!r} does not apply to {spec.kind} task {spec.name!r}; allowed: {', '.join(METRICS_BY_KIND[spec.kind])}"
            )
        spec = TaskSpec(spec.name, spec.kind, metric, spec.labels, spec.pair, spec.reader)
    return spec
