"""A run's method on its task model, as its registered Method (adapterlab.methods) says: the
method's weights (fresh, or TAPT's), with that method's freeze policy.

Shared by training and by `study plan`'s probe, so a probe times exactly what a run trains."""

from __future__ import annotations

from adapterlab.adapters.freezing import ParamCounts
from adapterlab.methods import TaptOutcome, get_method, shape_model
from adapterlab.train.config import RunConfig

task_model_from_config = shape_model  # the probe's name for it


def apply_method(model, config: RunConfig, name: str, tapt: TaptOutcome | None = None) -> ParamCounts:
    """Add the method's weights to `model` in place and freeze the rest by the method's policy
    (He et al. 2021 §2: only adapters, LayerNorms and the head train; fine-tuning trains all).
    `tapt` is the outcome of train.tapt.run_tapt or None. Returns trainable counts by role."""
    return get_method(config.method).apply(model, config, name, tapt)


def check_method_fits(config: RunConfig, model_config, kind: str) -> None:
    """What apply_method would refuse, found before the run folder exists (e.g. a PEFT target that
    names no module of this backbone), on a weightless copy of the model. Raises AdapterlabError, one line."""
    get_method(config.method).check_fits(config, model_config, kind)
