"""A run's method on its task model: adapters (fresh, or from the TAPT pack), a PEFT method, or
fine-tuning (from the TAPT encoder when there is one), with that method's freeze policy.

Shared by training and by `study plan`'s probe, so a probe times exactly what a run trains."""

from __future__ import annotations

import copy

import torch
import transformers

from adapterlab.adapters.inject import ParamCounts, add_adapters, count_parameters, set_trainable
from adapterlab.adapters.io import load_adapter
from adapterlab.adapters.peft_methods import PEFT_METHODS, add_peft, set_peft_trainable
from adapterlab.train.config import RunConfig


def apply_method(model, config: RunConfig, name: str, tapt=None) -> ParamCounts:
    """Add the method's weights to `model` in place and freeze the rest by the paper's policy
    (He et al. 2021 §2: only adapters, LayerNorms and the head train; fine-tuning trains all).
    `tapt` is the outcome of train.tapt.run_tapt or None. Returns trainable counts by role."""
    if config.method == "adapter":
        if tapt:
            load_adapter(model, tapt.pack, name=name, with_head=False)
        else:
            add_adapters(model, config.adapter, name=name)
        return set_trainable(model, "adapter")
    if config.method in PEFT_METHODS:
        add_peft(model, config.peft)
        set_peft_trainable(model)
        if tapt:  # the method's weights and LayerNorms as TAPT left them (the same injection names them alike)
            _, unexpected = model.base_model.load_state_dict(tapt.encoder_state, strict=False)
            assert not unexpected, unexpected
        return count_parameters(model)
    if tapt:
        missing, unexpected = model.base_model.load_state_dict(tapt.encoder_state, strict=False)
        assert not unexpected and all("pooler" in k for k in missing), (missing, unexpected)
    return set_trainable(model, "finetune")


def check_method_fits(config: RunConfig, model_config, kind: str) -> None:
    """What apply_method would refuse, found before the run folder exists: a PEFT target that
    names no module of this backbone, only the head, or a module the method cannot adapt (a
    LayerNorm, an embedding). Tried on a weightless copy of the task model (device meta), so it
    costs no memory and no time. Raises AdapterlabError, one line."""
    if config.method not in PEFT_METHODS:
        return
    with torch.device("meta"):
        model = task_model_from_config(model_config, kind)
    add_peft(model, config.peft)


def task_model_from_config(model_config, kind: str):
    """A task model of the backbone's shapes with random weights (no checkpoint read): a token
    head for token tasks, one output for regression, two classes otherwise. For shape-only work:
    the plan's probe and the checks above."""
    shape = copy.deepcopy(model_config)
    shape.num_labels = 1 if kind == "regression" else 2
    auto = transformers.AutoModelForTokenClassification if kind == "token" else transformers.AutoModelForSequenceClassification
    return auto.from_config(shape)
