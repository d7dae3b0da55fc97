"""`adapterlab import-adapterhub`: an adapter saved by AdapterHub's `adapters` library with the
Houlsby configuration (double_seq_bn), with its prediction head when one was saved, as an
adapterlab task pack (issue #18).

double_seq_bn puts one bottleneck after the attention output projection and one after the
feed-forward output projection, before the residual add and the LayerNorm (original_ln_after):
the placement of He et al. 2021 §2 and of adapterlab (benchmarks/parity_adapterhub.py shows the
logits agree to 0 with the same weights). AdapterHub freezes the LayerNorms, so the pack's
LayerNorm copies are the base model's own. Weights are read with safetensors, or with
torch.load(weights_only=True) for AdapterHub's .bin files: nothing is unpickled.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.freezing import set_trainable
from adapterlab.adapters.injection import add_adapters
from adapterlab.adapters.io import MANIFEST_FILE, PACK_FORMAT, WEIGHTS_FILE, save_adapter
from adapterlab.adapters.structure import base_model_of, head_paths
from adapterlab.backbone import resolve_backbone
from adapterlab.data.features import LabelMap
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.errors import AdapterlabError
from adapterlab.names import NONLINEARITIES
from adapterlab.runs import write_json_atomic
from adapterlab.train.model_setup import build_task_model, effective_max_length, load_model_config
from adapterlab.train.pack_files import save_provenance
from adapterlab.train.provenance import Provenance, config_sha256, portable_path, weights_fingerprint

logger = logging.getLogger(__name__)

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
# Its classification head (layers=2, use_pooler false: dense + activation + linear on the first
# token) is the sequence-classification head of these architectures, by module path.
CLASSIFICATION_HEADS = {
    "bert": ("pooler.dense", "classifier"),
    "roberta": ("classifier.dense", "classifier.out_proj"),
    "xlm-roberta": ("classifier.dense", "classifier.out_proj"),
}
_KEY = re.compile(
    r"^(?P<site>.+)\.adapters\.(?P<name>[^.]+)\.(?P<part>adapter_down\.0|adapter_up)\.(?P<leaf>weight|bias)$"
)


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


def _copy_adapters(hub: HubAdapter, model, name: str) -> int:
    """AdapterHub hangs a site's bottleneck on the sublayer's output module (BertSelfOutput,
    BertOutput); adapterlab wraps that module's dropout: same site, same weights."""
    base_path, _ = base_model_of(model)
    ours = dict(model.named_parameters())
    prefix = model.base_model_prefix if hasattr(model, "base_model_prefix") else base_path
    copied = set()
    for key, tensor in hub.weights.items():
        match = _KEY.match(key)
        if not match:
            raise AdapterlabError(f"{hub.folder}: weight {key!r} is not a bottleneck adapter weight of double_seq_bn")
        site = match.group("site")
        site = site[len(prefix) + 1 :] if site.startswith(prefix + ".") else site
        part = "down" if match.group("part").startswith("adapter_down") else "up"
        target = f"{base_path + '.' if base_path else ''}{site}.dropout.adapters.{name}.{part}.{match.group('leaf')}"
        if target not in ours:
            raise AdapterlabError(
                f"{hub.folder}: AdapterHub site {match.group('site')!r} has no adapterlab adapter on this "
                f"{hub.model_type or 'model'} (adapterlab imports bert, roberta, xlm-roberta and electra-style layers)"
            )
        if ours[target].shape != tensor.shape:
            raise AdapterlabError(
                f"{hub.folder}: {key} has shape {tuple(tensor.shape)}, the model's adapter {tuple(ours[target].shape)}"
            )
        with torch.no_grad():
            ours[target].copy_(tensor.to(ours[target].dtype))
        copied.add(target)
    expected = {n for n in ours if f".adapters.{name}." in n and (".down." in n or ".up." in n)}
    if copied != expected:
        raise AdapterlabError(
            f"{hub.folder}: the adapter covers {len(copied)} of the model's {len(expected)} adapter weights"
        )
    return len(copied)


def _copy_head(hub: HubAdapter, model, name: str) -> None:
    """The head weights into adapter `name`'s head copy (added by add_adapters with the head's label count)."""
    head = hub.head
    if head.static:
        return _copy_static_head(hub, model, name)
    if head.kind == "tagging":
        paths = ("classifier",)
        layers = ("1",)
    else:
        if hub.model_type not in CLASSIFICATION_HEADS:
            raise AdapterlabError(
                f"{hub.folder}: an AdapterHub classification head on model_type {hub.model_type!r} has no "
                f"adapterlab counterpart (supported: {', '.join(CLASSIFICATION_HEADS)})"
            )
        base_path, _ = base_model_of(model)
        paths = tuple(f"{base_path}.{p}" if p.startswith("pooler") else p for p in CLASSIFICATION_HEADS[hub.model_type])
        layers = ("1", "4")  # nn.Sequential(dropout, linear, activation, dropout, linear)
    ours = dict(model.named_parameters())
    wrapped = head_paths(model)  # the head modules add_adapters copied per task: "bert.pooler", "classifier"
    for path, layer in zip(paths, layers):
        wrapper = next((w for w in wrapped if path == w or path.startswith(w + ".")), None)
        rest = path[len(wrapper) + 1 :] if wrapper and path != wrapper else ""
        for leaf in ("weight", "bias"):
            key = f"{wrapper}.heads.{name}.{rest + '.' if rest else ''}{leaf}"
            source = head.weights.get(f"{layer}.{leaf}")
            if source is None or wrapper is None or key not in ours:
                raise AdapterlabError(f"{hub.folder}: the head's layer {layer} does not map onto {path} of this model")
            if ours[key].shape != source.shape:
                raise AdapterlabError(
                    f"{hub.folder}: head layer {layer}.{leaf} has shape {tuple(source.shape)}, {path} {tuple(ours[key].shape)}"
                )
            with torch.no_grad():
                ours[key].copy_(source.to(ours[key].dtype))


def _copy_static_head(hub: HubAdapter, model, name: str) -> None:
    """A model's own head, saved under the model's parameter names (classifier.weight, ...)."""
    ours = dict(model.named_parameters())
    wrapped = head_paths(model)
    for key, tensor in hub.head.weights.items():
        wrapper = next((w for w in wrapped if key.startswith(w + ".")), None)
        target = f"{wrapper}.heads.{name}.{key[len(wrapper) + 1 :]}" if wrapper else None
        if target not in ours:
            raise AdapterlabError(
                f"{hub.folder}: head weight {key!r} has no place in this model's head ({', '.join(wrapped)})"
            )
        if ours[target].shape != tensor.shape:
            raise AdapterlabError(
                f"{hub.folder}: head weight {key} has shape {tuple(tensor.shape)}, the model's {tuple(ours[target].shape)}"
            )
        with torch.no_grad():
            ours[target].copy_(tensor.to(ours[target].dtype))


def import_adapterhub(
    folder: str | Path,
    out: str | Path,
    model_path: str,
    task: str | None = None,
    max_length: int = 128,
    model_chosen: bool = False,
) -> Path:
    """Convert the AdapterHub adapter in `folder` into an adapterlab task pack at `out`, on the base
    model at `model_path` (the backbone it was trained on; AdapterHub records only its name). With a
    head, the pack also gets provenance.json and a model card, so predict and evaluate can run it;
    task: the adapterlab task (default: classification or token, from the head); model_chosen: the
    user named the base (--model), so a differently spelled recorded name is only noted. Returns `out`."""
    hub = read_adapterhub(folder)
    backbone = load_model_config(model_path)
    if hub.model_type and backbone.model_type != hub.model_type:
        raise AdapterlabError(
            f"{hub.folder}: the adapter was trained on a {hub.model_type} model, {model_path} is {backbone.model_type}"
        )
    if backbone.hidden_size != hub.hidden_size:
        raise AdapterlabError(f"{hub.folder}: hidden size {hub.hidden_size}, {model_path} has {backbone.hidden_size}")
    recorded = hub.model_name or ""
    if recorded and recorded != model_path and Path(recorded).name != Path(model_path).name:
        if model_chosen:  # the user's choice; the recorded name may be a Hub id of the same local copy
            logger.info("%s records base %s; importing it onto --model %s", hub.folder, recorded, model_path)
        else:
            logger.warning(
                "%s was trained on %s; importing it onto the default %s (name the base with --model if that is not the same model)",
                hub.folder,
                recorded,
                model_path,
            )
    max_length = effective_max_length(max_length, backbone, model_path)  # capped to the position table, as train does
    spec = _task_of(hub, task)
    labels = LabelMap(_labels_for(hub, spec))
    model = build_task_model(model_path, spec, labels)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", hub.name) or "adapter"
    add_adapters(
        model,
        hub.config,
        name,
        num_labels=(len(labels.names) or 1) if hub.head else None,
        labels=list(labels.names) or None if hub.head else None,
    )
    set_trainable(model, "adapter")
    _copy_adapters(hub, model, name)
    if hub.head:
        _copy_head(hub, model, name)
    saved = save_adapter(model, out, name=name, labels=(list(labels.names) or None) if hub.head else None)
    if not hub.head:  # adapters only: the fresh head is not part of what was imported, in the weights or the manifest
        weights = saved.path / WEIGHTS_FILE
        tensors = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("heads.")}
        tmp = weights.with_name(f".{weights.name}.tmp")
        save_file(tensors, str(tmp), metadata={"format": PACK_FORMAT})
        tmp.chmod(0o644)
        tmp.replace(weights)
        manifest_path = saved.path / MANIFEST_FILE
        manifest = {**json.loads(manifest_path.read_text()), "num_labels": None, "labels": None}
        write_json_atomic(manifest_path, manifest)
    else:
        resolved = str(Path(model_path).resolve()) if Path(model_path).exists() else model_path
        given = (
            (portable_path(model_path) if Path(model_path).exists() else model_path) if model_chosen else None
        )  # None: the embedded one
        save_provenance(
            saved.path,
            Provenance(
                base_model=model_path if model_chosen else None,
                base_model_path=resolved,
                base_config_sha256=config_sha256(model_path),
                revision=None,
                method="adapter",
                task=spec.name,
                kind=spec.kind,
                labels=list(labels.names),
                metric=spec.metric,
                validation=None,
                test=None,
                data_format="auto",
                columns={},
                encoding="utf-8",
                max_length=max_length,
                command=f"adapterlab import-adapterhub {portable_path(hub.folder)}{f' --model {given}' if given else ''} --out NEW_PACK_FOLDER",
                versions={"imported_from": f"AdapterHub adapter {hub.name!r} of {hub.model_name or hub.model_type}"},
                base_weights_fingerprint=weights_fingerprint(model_path),
            ),
            {},
        )
    return saved.path


def _task_of(hub: HubAdapter, task: str | None) -> TaskSpec:
    """The adapterlab task: --task, else from the head (one output: regression; tagging: token)."""
    head = hub.head
    default = (
        "token"
        if head and head.kind == "tagging"
        else "regression"
        if head and len(head.labels) == 1
        else "classification"
    )
    spec = get_task(task or default)
    if head and (spec.kind == "token") != (head.kind == "tagging"):
        raise AdapterlabError(
            f"{hub.folder}: task {spec.name} ({spec.kind}) does not fit the adapter's {head.kind} head"
        )
    if head and (spec.kind == "regression") != (len(head.labels) == 1):
        raise AdapterlabError(
            f"{hub.folder}: task {spec.name} ({spec.kind}) does not fit a head with {len(head.labels)} output(s)"
        )
    if head and spec.labels is not None and len(spec.labels) != len(head.labels):
        raise AdapterlabError(
            f"{hub.folder}: the head has {len(head.labels)} labels, task {spec.name} has {len(spec.labels)} "
            f"({', '.join(spec.labels)})"
        )
    return spec


PLACEHOLDER = re.compile(r"^LABEL_\d+$")


def _labels_for(hub: HubAdapter, spec: TaskSpec) -> tuple[str, ...]:
    """The pack's label names in head order: a task with fixed labels gives its own when the head
    has only AdapterHub's placeholders (LABEL_0, ...), by index; named head labels must be the task's."""
    if not hub.head:
        return ("0", "1")
    if spec.kind == "regression":
        return ()
    names = hub.head.labels
    if spec.labels is None:
        return names
    if all(PLACEHOLDER.match(n) for n in names):
        return tuple(spec.labels)  # index i of the head is the task's label i, as in its training files' order
    if set(names) != set(spec.labels):
        raise AdapterlabError(
            f"{hub.folder}: the head's labels ({', '.join(names)}) are not task {spec.name}'s ({', '.join(spec.labels)})"
        )
    return names


def import_adapterhub_folder(
    folder: str | Path, out: str | Path, model: str | None = None, task: str | None = None, max_length: int = 128
) -> tuple[HubAdapter, Path]:
    """`adapterlab import-adapterhub`: import_adapterhub into a new (or empty) folder `out`, on the
    base `model` (default: the embedded all-MiniLM-L6-v2). Returns (what was read, the pack)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AdapterlabError(f"--out {out} exists and is not empty; import into a new folder")
    hub = read_adapterhub(folder)
    pack = import_adapterhub(folder, out, resolve_backbone(model), task, max_length, model_chosen=model is not None)
    return hub, pack
