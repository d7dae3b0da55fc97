"""A run's method on its task model: adapters (fresh, or from the TAPT pack), a PEFT method, or
fine-tuning (from the TAPT encoder when there is one), with that method's freeze policy.

Shared by training and by `study plan`'s probe, so a probe times exactly what a run trains."""

from __future__ import annotations

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
        return count_parameters(model)
    if tapt:
        missing, unexpected = model.base_model.load_state_dict(tapt.encoder_state, strict=False)
        assert not unexpected and all("pooler" in k for k in missing), (missing, unexpected)
    return set_trainable(model, "finetune")
