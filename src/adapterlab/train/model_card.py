"""A task pack's model card (README.md), made from its provenance with huggingface_hub's
ModelCardData: base_model, library_name, pipeline_tag, datasets and a model-index of the run's
results as the Hub's YAML metadata, then what the pack is and how to use it (issues #18, #31)."""

from __future__ import annotations

from pathlib import Path

from adapterlab.backbone import is_embedded
from adapterlab.methods import find_method
from adapterlab.train.base_files import EMBEDDED_HUB_ID, HUB_ID
from adapterlab.train.provenance import Provenance

CARD_FILE = "README.md"
# the entries of a split's metrics that count things (shown whole), not scores
_COUNTS = {"words", "unscored_words", "examples", "tokens", "unknown_labels"}


def hub_base_model(p: Provenance) -> str | None:
    """The base model's Hub id for the card's `base_model:` metadata, or None when the pack was
    trained on a local folder (the Hub accepts only repo ids there, and a local path says nothing
    to anyone else; the card's text names the folder and its config hash instead)."""
    if is_embedded(p.base_model):
        return EMBEDDED_HUB_ID
    if p.base_local or Path(p.base_model).exists() or not HUB_ID.match(p.base_model):
        return None
    return p.base_model


# The Hub datasets of tasks whose reader reads that dataset's own files ("where known"): GLUE's
# and XNLI's layouts. A run that read a Hub dataset (--hub) names that one instead.
_GLUE = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli")
HUB_DATASETS: dict[str, tuple[str, str | None]] = {
    **{task: ("nyu-mll/glue", task) for task in _GLUE},
    "xnli": ("facebook/xnli", None),
}
_NOT_SCORES = _COUNTS | {"count", "loss", "nonfinite", "mlm_loss"}


def hub_dataset(p: Provenance) -> tuple[str, str | None] | None:
    """(dataset id, config) of the data the pack was trained on, when known."""
    if p.dataset:
        name, _, config = p.dataset.partition("/")
        return name, config or None
    return HUB_DATASETS.get(p.task)


def card_data(p: Provenance, result: dict):
    """The card's metadata as huggingface_hub.ModelCardData: base model, library, pipeline tag,
    tags, datasets and a model-index with the run's test results (and its validation metric)."""
    from huggingface_hub import EvalResult, ModelCardData

    dataset = hub_dataset(p)
    task_type = "token-classification" if p.kind == "token" else "text-classification"
    dataset_type, config = dataset if dataset else (p.task, None)
    # the low-resource protocol tests on the original dev set
    test_split = "dev" if result.get("protocol") == "low-resource" else "test"
    results = []
    for split, values in ((test_split, p.test), ("validation", {p.metric: (p.validation or {}).get(p.metric)})):
        for key, value in (values or {}).items():
            if (
                key in _NOT_SCORES
                or not isinstance(value, (int, float))
                or isinstance(value, bool)
                or value != value
                or abs(value) == float("inf")
            ):
                continue
            results.append(
                EvalResult(
                    task_type=task_type,
                    dataset_type=dataset_type,
                    dataset_name=p.task,
                    dataset_config=config,
                    dataset_split=split,
                    metric_type=key,
                    metric_value=round(float(value), 6),
                )
            )
    return ModelCardData(
        base_model=hub_base_model(p),
        library_name=_library(p.method),
        pipeline_tag=task_type,
        datasets=[dataset[0]] if dataset else None,
        tags=["adapterlab", *_tags(p.method), p.method, p.task],
        model_name=f"{p.task}-{p.method}" if results else None,
        eval_results=results or None,
    )


def _library(method: str) -> str:
    found = find_method(method)
    return found.library if found else "adapterlab"


def _tags(method: str) -> tuple[str, ...]:
    found = find_method(method)
    return found.tags if found else ()


def _python_usage(p: Provenance, hub_id: str | None) -> list[str]:
    """Loading the pack in Python: adapterlab's one call for every pack, and PEFT alone for a PEFT
    pack (its adapter_config.json names the base model and the task type)."""
    lines = [
        "In Python, with the task's label names (a transformers pipeline prints them):",
        "",
        "```python",
        "import adapterlab",
        "from transformers import pipeline",
        "",
        'model, tokenizer, labels = adapterlab.load_pack("THIS_FOLDER")  # or "hf://OWNER/NAME"',
        f'classify = pipeline("{"token-classification" if p.kind == "token" else "text-classification"}", model=model, tokenizer=tokenizer)',
        "```",
        "",
    ]
    if _library(p.method) != "peft":
        return lines
    auto = "AutoPeftModelForTokenClassification" if p.kind == "token" else "AutoPeftModelForSequenceClassification"
    maps = (
        f"id2label={dict(enumerate(p.labels))!r}, label2id={ {name: i for i, name in enumerate(p.labels)}!r}"
        if p.labels
        else "num_labels=1"
    )
    where = (
        ""
        if hub_id
        else f" The base model was a local folder, `{p.base_model}` in adapter_config.json: run this where that folder "
        "is, or point base_model_name_or_path at a copy of it."
    )
    return lines + [
        "Or with PEFT alone (the same logits; the head and LayerNorms are its modules_to_save)." + where,
        "",
        "```python",
        f"from peft import {auto}",
        "",
        f'model = {auto}.from_pretrained("THIS_FOLDER", {maps})',
        "```",
        "",
    ]


def model_card(p: Provenance, result: dict) -> str:
    """The pack's README.md: the Hub's YAML metadata (card_data), then what it is and how to use it."""
    from huggingface_hub import ModelCard

    hub_id = hub_base_model(p)
    base = f"`{hub_id}`" if hub_id else f"a local folder, {Path(p.base_model_path).name}"
    method = find_method(p.method).title if find_method(p.method) else p.method

    body = [
        f"# {p.task} task pack ({p.method})",
        "",
        f"{method} for **{p.task}** ({p.kind}) on top of {base}. The pack holds only what the method trains (the "
        "added weights, the LayerNorms and the task head); the base model is loaded separately.",
        "",
        "## Labels",
        "",
        ", ".join(f"`{label}`" for label in p.labels) or "(regression: one output)",
        "",
        "## Results",
        "",
        f"- metric: {p.metric}",
        f"- validation (best checkpoint): {_metrics_text(p.validation)}",
        f"- test{' (the original dev set, as the low-resource protocol tests)' if result.get('protocol') == 'low-resource' else ''}: "
        f"{_metrics_text(p.test)}",
        f"- trainable parameters: {result.get('trainable_params')} ({(result.get('trainable_percent') or 0):.2f}% of the model)",
        "",
        "## How it was made",
        "",
        "Local paths are relative to the folder the run was started in, or file names.",
        "",
        "```bash",
        p.command,
        "```",
        "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in p.versions.items() if v)}.",
        "",
        "## How to use it",
        "",
        "```bash",
        "adapterlab predict THIS_FOLDER --data texts.txt --format lines --out predictions.jsonl",
        "adapterlab evaluate THIS_FOLDER --data labelled.tsv",
        "```",
        "",
        *_python_usage(p, hub_id),
        f"Base model config sha256: `{p.base_config_sha256}`"
        + (f", revision `{p.revision}`" if p.revision else "")
        + ".",
        "",
    ]
    return str(ModelCard(f"---\n{card_data(p, result).to_yaml()}\n---\n\n" + "\n".join(body)))


def _metrics_text(values: dict | None) -> str:
    """A split's metrics on one line of the card, or "none"."""
    return (
        ", ".join(_metric_text(k, v) for k, v in (values or {}).items() if isinstance(v, (int, float)) and k != "count")
        or "none"
    )


def _metric_text(key: str, value: float) -> str:
    """One metric: counts (words, examples) are stored as floats beside the metrics, and shown whole."""
    return (
        f"{key} {int(value)}"
        if key in _COUNTS and float(value).is_integer()
        else f"{key} {value:.4f}"
        if isinstance(value, float)
        else f"{key} {value}"
    )
