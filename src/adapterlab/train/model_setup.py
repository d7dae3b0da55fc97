"""The backbone of a run, checked before anything is written: safetensors weights only, a
tokenizer that can pad, the longest input its position table allows, and the task model."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import transformers

from adapterlab.data.features import LabelMap
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method

logger = logging.getLogger(__name__)

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "pytorch_model.pt")
CONVERT_HINT = (
    "convert it once, in an environment you trust: AutoModel.from_pretrained(DIR).save_pretrained(DIR, "
    "safe_serialization=True)"
)
# Embeddings that number positions from padding_idx + 1 (RoBERTa's scheme): the position table
# holds max_position_embeddings - pad_token_id - 1 usable positions.
PADDING_OFFSET_TYPES = {
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "longformer",
    "data2vec-text",
    "ibert",
    "mpnet",
    "roberta-prelayernorm",
    "luke",
    "markuplm",
}


def check_backbone_weights(model_path: str) -> None:
    """A local backbone folder must hold safetensors weights: pickled weights (pytorch_model.bin)
    can run code when they are loaded, so adapterlab never loads them."""
    folder = Path(model_path)
    if not folder.is_dir():
        return  # a hub name: from_pretrained(use_safetensors=True) refuses pickled weights itself
    if any((folder / name).is_file() for name in SAFE_WEIGHTS):
        return
    pickled = [name for name in PICKLED_WEIGHTS if (folder / name).is_file()]
    if pickled:
        raise AdapterlabError(
            f"{folder / pickled[0]}: pickled weights are not loaded (they can run code); adapterlab loads only "
            f"safetensors weights (model.safetensors); {CONVERT_HINT}"
        )
    raise AdapterlabError(
        f"{folder}: no model.safetensors; point --model at a Hugging Face model folder with safetensors weights"
    )


def load_model_config(model_path: str):
    try:
        return transformers.AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as err:
        raise AdapterlabError(f"model {model_path!r}: config could not be loaded: {str(err).splitlines()[0]}") from None


def position_limit(model_config) -> int | None:
    """The longest input (in tokens, special tokens included) the model's absolute position table
    allows, or None when the model has no such limit (relative positions only)."""
    positions = getattr(model_config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions < 1:
        return None
    if getattr(model_config, "model_type", "") == "deberta-v2" and not getattr(
        model_config, "position_biased_input", True
    ):
        return None  # relative attention only: no absolute position embeddings
    if getattr(model_config, "model_type", "") in PADDING_OFFSET_TYPES:
        pad = getattr(model_config, "pad_token_id", None)
        positions -= (pad if isinstance(pad, int) else 1) + 1
    return positions


def effective_max_length(requested: int, model_config, model_path: str) -> int:
    """`requested`, capped at the model's position limit (longer inputs crash in the position
    embeddings). A cap is logged; the run records the length it used."""
    limit = position_limit(model_config)
    if limit is not None and requested > limit:
        logger.warning(
            "max_length %d is longer than the %d positions of %s; using %d", requested, limit, model_path, limit
        )
        return limit
    return requested


def load_tokenizer(model_path: str, model_config=None):
    """The backbone's tokenizer, with a pad token: the tokenizer's own, else the model's
    pad_token_id; a tokenizer with neither is refused."""
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError, TypeError) as err:
        raise AdapterlabError(f"tokenizer of {model_path!r} could not be loaded: {str(err).splitlines()[0]}") from None
    if tokenizer.pad_token_id is None:
        pad_id = getattr(model_config, "pad_token_id", None) if model_config is not None else None
        token = (
            tokenizer.convert_ids_to_tokens(pad_id)
            if isinstance(pad_id, int) and 0 <= pad_id < len(tokenizer)
            else None
        )
        if token is None:
            raise AdapterlabError(
                f"tokenizer of {model_path!r} has no pad token and the model config names no pad_token_id; "
                "set one (tokenizer.pad_token = ...) and save the tokenizer"
            )
        tokenizer.pad_token = token
        logger.info(
            "tokenizer of %s has no pad token; using the model's pad_token_id %d (%r)", model_path, pad_id, token
        )
    if model_config is not None:
        fit_token_types(tokenizer, model_config, model_path)
    return tokenizer


def fit_token_types(tokenizer, model_config, model_path: str) -> None:
    """Make the tokenizer's token types (segment ids) fit the model: a model with one type
    (RoBERTa, XLM-R: type_vocab_size 1) or none (DistilBERT, DeBERTa-v2) gets no token_type_ids,
    so every token has type 0, its default, instead of a pair's second text indexing past the
    table (an IndexError mid-run). A model with several types that the tokenizer still exceeds is
    refused with one line, before anything is written. Every command builds its tokenizer here."""
    if "token_type_ids" not in getattr(tokenizer, "model_input_names", ()):
        return
    types = getattr(model_config, "type_vocab_size", None)
    if not isinstance(types, int) or isinstance(types, bool) or types <= 1:
        tokenizer.model_input_names = [name for name in tokenizer.model_input_names if name != "token_type_ids"]
        logger.info(
            "%s: the model has %s token type(s); its tokenizer's token_type_ids are left out", model_path, types or "no"
        )
        return
    try:
        highest = max(tokenizer("a", "b")["token_type_ids"])
    except (KeyError, TypeError, ValueError):  # a tokenizer that cannot encode a pair: single texts only
        return
    if highest >= types:
        raise AdapterlabError(
            f"tokenizer of {model_path!r} gives token type {highest} to a pair of texts, but the model has "
            f"type_vocab_size={types} (types 0 to {types - 1}); use the tokenizer that came with the model"
        )


def check_fits(config, model_config, tokenizer, model_path: str) -> None:
    """What add_adapters and TAPT would refuse only after the run folder exists, checked first."""
    check_backbone_fits(config, model_config, model_path)
    least = tokenizer.num_special_tokens_to_add(pair=False) + 1
    if config.max_length < least:
        raise AdapterlabError(
            f"--max-length {config.max_length}: the tokenizer of {model_path} adds "
            f"{least - 1} special tokens, so at least {least} is needed to keep any text"
        )
    if config.tapt and tokenizer.mask_token_id is None:
        raise AdapterlabError(f"--tapt needs a tokenizer with a mask token; the tokenizer of {model_path} has none")


def check_backbone_fits(config, model_config, model_path: str) -> None:
    """The part of check_fits that needs only the backbone's config (study validate uses it too)."""
    get_method(config.method).check_backbone(config, model_config, model_path)


def enable_gradient_checkpointing(model, reentrant: bool = False) -> None:
    """Recompute each layer's activations in the backward pass (non-reentrant checkpointing, which
    works with frozen inputs, i.e. adapters on a frozen backbone, and with the CPU fast path, whose
    recomputation draws the same dropout masks; `reentrant` for the tests of the other kind)."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise AdapterlabError(
            f"{type(model).__name__} does not support gradient checkpointing; run without --gradient-checkpointing"
        )
    # transformers 5 renamed the method and deprecated the old name (gone in v6); 4.x has only the old one
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": reentrant})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})


def gradient_checkpointing_on(model) -> bool:
    """Whether any layer of `model` recomputes its activations, under the name each transformers line
    has (is_activation_checkpointing in 5.x; is_gradient_checkpointing, deprecated there, in 4.x)."""
    name = (
        "is_activation_checkpointing"
        if hasattr(type(model), "is_activation_checkpointing")
        else "is_gradient_checkpointing"
    )
    return bool(getattr(model, name, False))


def build_task_model(model_path: str, spec: TaskSpec, labels: LabelMap):
    """The backbone with a fresh head for the task (token or sequence classification/regression).

    Loaded in float32 whatever the checkpoint's dtype (transformers 5 keeps a half checkpoint
    half by default): trainable parameters must be float32, or AdamW steps on fp16 weights reach
    NaN. Half-precision compute comes from autocast (--mixed-precision) on GPUs."""
    auto = (
        transformers.AutoModelForTokenClassification
        if spec.kind == "token"
        else transformers.AutoModelForSequenceClassification
    )
    if spec.kind == "regression":
        kwargs = {"num_labels": 1, "problem_type": "regression"}
    else:
        kwargs = {
            "num_labels": len(labels.names),
            "id2label": dict(enumerate(labels.names)),
            "label2id": {n: i for i, n in enumerate(labels.names)},
        }
    try:
        return auto.from_pretrained(model_path, use_safetensors=True, dtype=torch.float32, **kwargs)
    except (
        OSError,
        RuntimeError,
        ValueError,
    ) as err:  # a missing or inconsistent folder (weights that do not fit its config)
        lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        raise AdapterlabError(f"model {model_path!r} could not be loaded: {lines[0]}") from None
