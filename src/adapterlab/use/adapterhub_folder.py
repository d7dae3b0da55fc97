"""An AdapterHub adapter folder, read and checked (issue #18): adapter_config.json with the
Houlsby configuration (double_seq_bn), its weights, and head_config.json with its weights when the
head was saved. Only what the conversion (adapterhub.py) can carry over is accepted; anything else is
one line naming the file and what is wrong. Weights are read with safetensors, or with
torch.load(weights_only=True) for AdapterHub's .bin files: nothing is unpickled.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from adapterlab.adapters.config import AdapterConfig
from adapterlab.errors import AdapterlabError
from adapterlab.names import NONLINEARITIES

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = (
    "adapter.safetensors",
    "pytorch_adapter.bin",
)  # save_adapter(use_safetensors=True), else torch's format
HEAD_CONFIG = "head_config.json"
HEAD_WEIGHTS = ("model_head.safetensors", "pytorch_model_head.bin")
# A model with its own head (adapters.init on BertForSequenceClassification) saves that head under
# the model's parameter names, with "config": null; the class says which kind it is.
STATIC_HEADS = {"ForSequenceClassification": "classification", "ForTokenClassification": "tagging"}

# What makes a bottleneck config double_seq_bn (AdapterHub's DoubleSeqBnConfig, adapters 1.x):
# every setting that changes the computation, at the value that gives He et al.'s placement.
# reduction_factor, non_linearity and dropout may vary (they map onto AdapterConfig).
DOUBLE_SEQ_BN = {
    "architecture": "bottleneck",
    "mh_adapter": True,
    "output_adapter": True,
    "original_ln_before": False,
    "original_ln_after": True,
    "residual_before_ln": True,
    "ln_before": False,
    "ln_after": False,
    "is_parallel": False,
    "scaling": 1.0,
    "use_gating": False,
    "phm_layer": False,
    "adapter_residual_before_ln": False,
    "inv_adapter": None,
    "cross_adapter": False,
    "stochastic_depth": 0.0,
}
# AdapterHub's activation names (adapters' get_activation) that are one of ours.
ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "gelu": "gelu", "swish": "swish", "silu": "swish"}


@dataclass(frozen=True)
class HubHead:
    """A saved AdapterHub prediction head: kind (classification or tagging), its labels in id
    order, and its weights: a flexible head's by layer index ("1.weight", "4.bias": the Linear
    layers of its nn.Sequential); a model's own head (static) by the model's parameter names."""

    kind: str
    labels: tuple[str, ...]
    weights: dict[str, torch.Tensor]
    static: bool = False


@dataclass(frozen=True)
class HubAdapter:
    """An AdapterHub adapter folder, read: its name, the model it was trained on, its config as
    adapterlab's, the adapter weights by AdapterHub key, and its head (None when none was saved)."""

    folder: Path
    name: str
    model_type: str
    model_name: str | None
    hidden_size: int
    config: AdapterConfig
    weights: dict[str, torch.Tensor]
    head: HubHead | None


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterlabError(f"{path}: not found; give a folder written by AdapterHub's save_adapter") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterlabError(f"{path}: not readable JSON ({err.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise AdapterlabError(f"{path}: expected a JSON object")
    return value


def _read_weights(folder: Path, names: tuple[str, ...], what: str) -> dict[str, torch.Tensor] | None:
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():  # torch warns before refusing a plain pickle; the error below says it all
                warnings.simplefilter("ignore")
                weights = (
                    load_file(str(path))
                    if name.endswith(".safetensors")
                    else torch.load(path, map_location="cpu", weights_only=True)
                )
        except pickle.UnpicklingError:  # weights_only met something other than tensors: it is never unpickled here
            raise AdapterlabError(
                f"{path}: not a readable {what} weights file (it holds objects other than tensors, which "
                "adapterlab does not unpickle)"
            ) from None
        except Exception as err:  # SafetensorError, a truncated or foreign file, OSError
            raise AdapterlabError(
                f"{path}: not a readable {what} weights file ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
            ) from None
        if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
            raise AdapterlabError(f"{path}: expected a mapping of names to tensors")
        return weights
    return None


def _config_name(config: dict) -> str:
    """AdapterHub's name for a config that is not double_seq_bn, for the error."""
    if config.get("architecture") == "lora" and config.get("composition_mode") == "scale":
        return "ia3"
    if config.get("architecture") not in (None, "bottleneck"):
        return str(config["architecture"])
    if config.get("phm_layer"):
        return "compacter (PHM layers)"
    if config.get("inv_adapter"):
        return "an adapter with invertible adapters (e.g. double_seq_bn_inv)"
    if config.get("is_parallel"):
        return "par_bn (parallel bottleneck)"
    if config.get("mh_adapter") is False and config.get("output_adapter") is True:
        return "seq_bn (Pfeiffer: one bottleneck per layer)"
    if config.get("mh_adapter") is True and config.get("output_adapter") is False:
        return "a bottleneck after attention only"
    return "a bottleneck variant"


def _adapter_config(folder: Path, record: dict, hidden: int) -> AdapterConfig:
    config = record.get("config")
    source = folder / ADAPTER_CONFIG
    if not isinstance(config, dict):
        raise AdapterlabError(
            f"{source}: no 'config' object; AdapterHub adapters 1.x writes one (ConfigUnion adapters cannot be imported)"
        )
    different = [k for k, v in DOUBLE_SEQ_BN.items() if k in config and config[k] != v]
    if different:
        key = different[0]
        raise AdapterlabError(
            f"{source}: AdapterHub configuration {_config_name(config)} ({key}={config[key]!r}) is not supported; "
            "import-adapterhub converts double_seq_bn (Houlsby) adapters"
        )
    if config.get("leave_out"):
        raise AdapterlabError(
            f"{source}: leave_out={config['leave_out']!r} (no adapters in some layers) is not supported; "
            "import-adapterhub converts adapters in every layer"
        )
    factor = config.get("reduction_factor")
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 0:
        raise AdapterlabError(f"{source}: reduction_factor={factor!r} is not supported (one number for every layer is)")
    size = hidden / factor
    if abs(size - round(size)) > 1e-6:
        raise AdapterlabError(
            f"{source}: reduction_factor={factor} does not divide the hidden size {hidden} into a whole bottleneck size"
        )
    activation = str(config.get("non_linearity", "")).lower()
    if activation not in ACTIVATIONS:
        raise AdapterlabError(
            f"{source}: non_linearity={config.get('non_linearity')!r} has no adapterlab counterpart "
            f"(supported: {', '.join(sorted(ACTIVATIONS))}; adapterlab's: {', '.join(NONLINEARITIES)})"
        )
    dropout = config.get("dropout") or 0.0
    return AdapterConfig(size=int(round(size)), nonlinearity=ACTIVATIONS[activation], dropout=float(dropout))


def _head(folder: Path) -> HubHead | None:
    if not (folder / HEAD_CONFIG).is_file():
        return None
    record = _read_json(folder / HEAD_CONFIG)
    source = folder / HEAD_CONFIG
    static = record.get("config") is None
    if static:  # the model's own head: its class names the kind, the labels are at the top level
        config = record
        model_class = str(record.get("model_class") or "")
        kind = next((k for suffix, k in STATIC_HEADS.items() if model_class.endswith(suffix)), None)
        if kind is None:
            raise AdapterlabError(
                f"{source}: the head of a {model_class or 'model'} is not supported (sequence and token classification heads are)"
            )
    else:
        config = record["config"] if isinstance(record["config"], dict) else {}
        kind = config.get("head_type")
        expected = {
            "classification": {"layers": 2, "activation_function": "tanh", "use_pooler": False},
            "tagging": {"layers": 1},
        }
        if kind not in expected:
            raise AdapterlabError(
                f"{source}: head_type={kind!r} is not supported (classification and tagging heads are)"
            )
        for key, value in expected[kind].items():
            if config.get(key, value) != value:
                raise AdapterlabError(
                    f"{source}: a {kind} head with {key}={config.get(key)!r} is not supported (only {key}={value!r})"
                )
    weights = _read_weights(folder, HEAD_WEIGHTS, "head")
    if weights is None:
        raise AdapterlabError(f"{folder}: {HEAD_CONFIG} without its weights ({' or '.join(HEAD_WEIGHTS)})")
    label2id = config.get("label2id") or {}
    count = config.get("num_labels") or len(label2id)
    if label2id and sorted(label2id.values()) == list(range(len(label2id))):
        labels = tuple(sorted(label2id, key=label2id.get))
    else:
        labels = tuple(f"LABEL_{i}" for i in range(int(count)))
    if static:
        return HubHead(kind, labels, weights, static=True)
    by_layer = {}
    for key, tensor in weights.items():
        match = re.match(r"^heads\.[^.]+\.(\d+)\.(weight|bias)$", key)
        if not match:
            raise AdapterlabError(f"{folder}: head weight {key!r} is not a layer of a {kind} head")
        by_layer[f"{match.group(1)}.{match.group(2)}"] = tensor
    return HubHead(kind, labels, by_layer)


def read_adapterhub(folder: str | Path) -> HubAdapter:
    """Read an AdapterHub adapter folder (adapter_config.json, its weights, and head_config.json with
    its weights when the head was saved). Raises AdapterlabError, one line, naming the file and what
    is wrong: another configuration, a missing file, weights that are not tensors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterlabError(f"{folder}: not a folder; give the folder AdapterHub's save_adapter wrote")
    record = _read_json(folder / ADAPTER_CONFIG)
    hidden = record.get("hidden_size")
    if not isinstance(hidden, int) or hidden <= 0:
        raise AdapterlabError(f"{folder / ADAPTER_CONFIG}: hidden_size={hidden!r}; not an AdapterHub adapter config")
    config = _adapter_config(folder, record, hidden)
    weights = _read_weights(folder, ADAPTER_WEIGHTS, "adapter")
    if weights is None:
        raise AdapterlabError(f"{folder}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    return HubAdapter(
        folder,
        str(record.get("name") or "adapter"),
        str(record.get("model_type") or ""),
        record.get("model_name"),
        hidden,
        config,
        weights,
        _head(folder),
    )
