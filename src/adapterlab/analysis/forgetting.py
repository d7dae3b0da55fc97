"""`adapterlab forgetting`: masked-LM loss of tuned encoders on held-out general text, against the
base model (PEFT's method_comparison "forgetting" measure). Needs a backbone whose MLM head is
pretrained: with a fresh head the loss says nothing about what the encoder forgot."""

from __future__ import annotations

from pathlib import Path

import transformers

from adapterlab.backbone import resolve_backbone
from adapterlab.data.example import Example
from adapterlab.data.features import LabelMap, MlmCollator, encode
from adapterlab.data.readers import read_lines
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError
from adapterlab.runs import read_config, read_result
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.evaluation import evaluate
from adapterlab.train.model_setup import effective_max_length, load_model_config, load_tokenizer
from adapterlab.train.trained import load_trained_run

MLM = TaskSpec("forgetting", "mlm", "mlm_loss")


def load_mlm_model(base_path: str):
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(
        base_path, output_loading_info=True, use_safetensors=True
    )
    fresh = [k for k in info.get("missing_keys", []) if not k.startswith(model.base_model_prefix)]
    if fresh:
        raise AdapterlabError(
            f"backbone {base_path} has no pretrained MLM head ({fresh[0]} is missing); forgetting needs one, e.g. bert-base-uncased"
        )
    return model


def forgetting(
    base: str | None,
    runs: list[str],
    text: str,
    max_length: int = 128,
    seed: int = 0,
    max_lines: int | None = None,
    batch_size: int = 32,
) -> list[dict]:
    """Rows {model, method, mlm_loss, increase} for the base and every run, on the same masks.
    base: the backbone with the MLM head; None = the runs' own backbone (they must share one)."""
    if base is None:
        paths = {(read_config(Path(run)) or {}).get("model_path") for run in runs}
        if len(paths) > 1:
            raise AdapterlabError(f"the runs were trained on {len(paths)} different backbones; pass --base")
        base = paths.pop()
    base_path = resolve_backbone(base)
    lines = [line.strip() for _, line in read_lines(Path(text)) if line.strip()][: max_lines or None]
    if not lines:
        raise AdapterlabError(f"{text}: no text lines")
    model_config = load_model_config(base_path)
    tokenizer = load_tokenizer(base_path, model_config)
    max_length = effective_max_length(max_length, model_config, base_path)
    features = encode([Example(text=line) for line in lines], MLM, LabelMap(()), tokenizer, max_length)
    accelerator = build_accelerator("auto")

    def loss_of(model) -> float:
        # the same seed gives the same masks for every model compared
        collator = MlmCollator(tokenizer, 0.15, seed)
        return evaluate(accelerator.prepare(model), features, collator, MLM, LabelMap(()), accelerator, batch_size)[
            "mlm_loss"
        ]

    base_loss = loss_of(load_mlm_model(base_path))
    rows = [{"model": "base", "method": None, "mlm_loss": base_loss, "increase": 0.0}]
    for run in runs:
        run_dir = Path(run)
        result = read_result(run_dir)
        if result is None:
            raise AdapterlabError(f"{run_dir}: not a finished run (no result.json)")
        model = load_trained_run(
            run_dir, with_head=False, base=base_path, merge=True, onto=load_mlm_model(base_path), purpose="forgetting"
        ).model
        loss = loss_of(model)
        rows.append(
            {"model": str(run_dir), "method": result.get("method"), "mlm_loss": loss, "increase": loss - base_loss}
        )
    return rows
