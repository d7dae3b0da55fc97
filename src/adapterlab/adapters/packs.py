"""Load any task pack a run writes (a Houlsby adapter pack or a PEFT pack) onto a model, so the
analyses (RSA, cross-lingual transfer, forgetting) treat every method alike."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from adapterlab.adapters.io import backbone_identity, load_adapter
from adapterlab.adapters.peft_methods import is_peft_pack, load_peft_pack, merge_peft


def load_pack(model: nn.Module, path: str | Path, with_head: bool = True, merge: bool = False) -> nn.Module:
    """Load the pack at `path` onto `model` (a task model, or a bare encoder with with_head=False).
    merge: fold a PEFT method (LoRA, LoHa, IA3) into the weights, for analyses that read plain encoder weights. Returns the
    model. Errors (another backbone, not a pack) are AdapterlabError, one line."""
    if is_peft_pack(path):
        load_peft_pack(model, path, backbone_identity(model), with_head=with_head)
        return merge_peft(model) if merge else model
    load_adapter(model, path, with_head=with_head)
    return model
