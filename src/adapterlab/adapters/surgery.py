"""Hugging Face model surgery on a model with adapters: what works as on the plain model, and
what is refused with one clear AdapterlabError instead of failing inside transformers.

Works: get/set_input_embeddings, resizing and re-tying the embeddings of a task model whose head
does not decode into the vocabulary (classification, tagging), gradient checkpointing. Refused:
save_pretrained (and push_to_hub), whose checkpoint would hold the wrapped modules under names
from_pretrained does not know (it loads with random LayerNorms and head, silently), and, on a
model with an MLM head, resize_token_embeddings and tie_weights, which cannot find the wrapped
decoder.
"""

from __future__ import annotations

from typing import NoReturn

from torch import nn

from adapterlab.errors import AdapterlabError

_SAVE = (
    "a model with adapters is saved as task packs: adapterlab.save_adapter(model, PATH, name) (and load_adapter on the base "
    "model); to save the model itself, adapterlab.remove_adapters(model) first"
)
_TIED = (
    "its head decodes into the vocabulary and adapters wrap it, so transformers cannot find the decoder to resize or (re-)tie; "
    "change the embeddings before add_adapters, or remove_adapters(model), change them, and add the adapters again"
)


class RefusedSurgery:
    """Stands in for a model method that cannot work while adapters are on it."""

    def __init__(self, operation: str, reason: str):
        self.operation = operation
        self.reason = reason

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        raise AdapterlabError(f"{self.operation}: {self.reason}")


def guard_surgery(model: nn.Module) -> None:
    """Put the refusals on `model` (instance attributes: the class and other models are untouched)."""
    refused = {"save_pretrained": _SAVE, "push_to_hub": _SAVE}
    if _has_output_embeddings(model):
        refused.update(
            {"resize_token_embeddings": _TIED, "tie_weights": _TIED, "tie_embeddings_and_encoder_decoder": _TIED}
        )
    for name, reason in refused.items():
        if hasattr(model, name):
            object.__setattr__(model, name, RefusedSurgery(f"{name} on a model with adapters", reason))


def unguard_surgery(model: nn.Module) -> None:
    """The model's own methods again (remove_adapters)."""
    for name, value in list(vars(model).items()):
        if isinstance(value, RefusedSurgery):
            delattr(model, name)


def _has_output_embeddings(model: nn.Module) -> bool:
    """A head that decodes into the vocabulary (an MLM head): transformers resizes and ties it by path."""
    get_output = getattr(model, "get_output_embeddings", None)
    try:
        return get_output is not None and get_output() is not None
    except (NotImplementedError, AttributeError):
        return False
