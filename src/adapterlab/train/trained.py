"""A finished run's trained model, loaded one way for every analysis (cross-lingual transfer, RSA,
forgetting) and for `use`'s fine-tuned runs: its base model with its pack (whichever registered
method made it), or the whole model a fine-tuning run saved (--save-model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import transformers

from adapterlab.data.features import LabelMap
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import load_pack
from adapterlab.runs import CONFIG_FILE, load_run_config, read_result
from adapterlab.train.model_setup import build_task_model, load_model_config, load_tokenizer


@dataclass
class TrainedRun:
    """model: the task model (with_head) or the encoder; tokenizer: the run's (with_head only)."""

    model: object
    tokenizer: object | None
    spec: TaskSpec
    labels: LabelMap
    config: dict
    result: dict


def load_trained_run(
    run_dir: str | Path,
    *,
    with_head: bool = True,
    base: str | None = None,
    merge: bool = False,
    onto=None,
    purpose: str = "evaluation",
) -> TrainedRun:
    """The run in `run_dir` with its head (a task model, and its tokenizer), or without it (the
    bare encoder). base: the backbone to load a pack onto (default: the run's). merge: fold the
    method into plain weights where it can (analyses that read plain encoder weights). onto: a
    model whose encoder takes the run's (e.g. the base's masked-LM model, for forgetting).
    purpose: what the weights are for, named in the error for a fine-tuning run without them."""
    run_dir = Path(run_dir)
    result = read_result(run_dir)
    if result is None or not (run_dir / CONFIG_FILE).is_file():
        raise AdapterlabError(f"{run_dir}: not a finished run (no result.json and config.json)")
    config = load_run_config(run_dir)
    spec, labels = get_task(config["task"]), LabelMap(tuple(config["labels"]))
    base = base or config["model_path"]
    tokenizer = None
    if result.get("pack"):
        model, tokenizer = load_with_pack(
            base, run_dir / "pack", spec, labels, with_head=with_head, merge=merge, onto=onto
        )
    elif (run_dir / "model" / "config.json").is_file():
        model = _saved_task_model(run_dir / "model", spec) if with_head else _encoder(run_dir / "model")
        tokenizer = load_tokenizer(str(run_dir / "model"), model.config) if with_head else None
        if onto is not None:
            onto.base_model.load_state_dict(model.state_dict(), strict=False)
            model = onto
    else:
        raise AdapterlabError(
            f"{run_dir}: a fine-tuning run needs its weights for {purpose}; train it with --save-model"
        )
    return TrainedRun(model, tokenizer, spec, labels, config, result)


def load_with_pack(
    base: str, pack: Path, spec: TaskSpec, labels: LabelMap, *, with_head: bool = True, merge: bool = False, onto=None
) -> tuple[object, object | None]:
    """(model, tokenizer): the base model `base` with the pack of any registered method in `pack`,
    the one way a pack becomes a model (run folders here, task packs in use/load.py). with_head:
    a task model for `spec` and `labels` and its tokenizer, else the bare encoder and None. merge,
    onto: as load_trained_run."""
    model = onto if onto is not None else build_task_model(base, spec, labels) if with_head else _encoder(base)
    load_pack(model, pack, with_head=with_head, merge=merge)
    return model, load_tokenizer(base, load_model_config(base)) if with_head else None


def _encoder(path: str | Path):
    return transformers.AutoModel.from_pretrained(path, use_safetensors=True)


def _saved_task_model(folder: Path, spec: TaskSpec):
    auto = (
        transformers.AutoModelForTokenClassification
        if spec.kind == "token"
        else transformers.AutoModelForSequenceClassification
    )
    return auto.from_pretrained(folder, use_safetensors=True)
