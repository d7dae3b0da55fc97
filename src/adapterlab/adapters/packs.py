"""Load any task pack a run writes (a Houlsby adapter pack or a LoRA pack) onto a model, so the
analyses (RSA, cross-lingual transfer, forgetting) treat every method alike."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from adapterlab.adapters.io import backbone_identity, load_adapter
from adapterlab.adapters.lora import is_lora_pack, load_lora_pack, merge_lora


def load_pack(model: nn.Module, path: str | Path, with_head: bool = True, merge: bool = False) -> nn.Module:
    """Load the pack at `path` onto `model` (a task model, or a bare encoder with with_head=False).
    merge: fold LoRA into the weights, for analyses that read plain encoder weights. Returns the
    model. Errors (another backbone, not a pack) are AdapterlabError, one line."""
    if is_lora_pack(path):
        load_lora_pack(model, path, backbone_identity(model), with_head=with_head)
        return merge_lora(model) if merge else model
    load_adapter(model, path, with_head=with_head)
    return model
