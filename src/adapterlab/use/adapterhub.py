"""`adapterlab import-adapterhub`: an adapter saved by AdapterHub's `adapters` library with the
Houlsby configuration (double_seq_bn), with its prediction head when one was saved, as an
adapterlab task pack (issue #18). The folder is read and checked in adapterhub_folder.py; this
module puts its weights into an adapterlab model and saves the pack.

double_seq_bn puts one bottleneck after the attention output projection and one after the
feed-forward output projection, before the residual add and the LayerNorm (original_ln_after):
the placement of He et al. 2021 §2 and of adapterlab (benchmarks/parity_adapterhub.py shows the
logits agree to 0 with the same weights). AdapterHub freezes the LayerNorms, so the pack's
LayerNorm copies are the base model's own.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from adapterlab.adapters.freezing import set_trainable
from adapterlab.adapters.injection import add_adapters
from adapterlab.adapters.io import MANIFEST_FILE, PACK_FORMAT, WEIGHTS_FILE, save_adapter
from adapterlab.adapters.structure import base_model_of, head_paths
from adapterlab.backbone import resolve_backbone
from adapterlab.data.features import LabelMap
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.errors import AdapterlabError
from adapterlab.runs import write_json_atomic
from adapterlab.train.model_setup import build_task_model, effective_max_length, load_model_config
from adapterlab.train.pack_files import save_provenance
from adapterlab.train.provenance import Provenance, config_sha256, portable_path, weights_fingerprint
from adapterlab.use.adapterhub_folder import HubAdapter, read_adapterhub

logger = logging.getLogger(__name__)

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
    _check_base(hub, backbone, model_path, model_chosen)
    max_length = effective_max_length(max_length, backbone, model_path)  # capped to the position table, as train does
    spec = _task_of(hub, task)
    labels = LabelMap(_labels_for(hub, spec))
    model, name = _adapter_model(hub, model_path, spec, labels)
    saved = save_adapter(model, out, name=name, labels=(list(labels.names) or None) if hub.head else None)
    if not hub.head:
        _drop_fresh_head(saved.path)
    else:
        _save_import_provenance(saved.path, hub, model_path, model_chosen, spec, labels, max_length)
    return saved.path


def _check_base(hub: HubAdapter, backbone, model_path: str, model_chosen: bool) -> None:
    """The base model must have the adapter's architecture and hidden size; a base other than the
    one AdapterHub recorded is noted (the user's --model) or warned about (the default)."""
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


def _adapter_model(hub: HubAdapter, model_path: str, spec: TaskSpec, labels: LabelMap) -> tuple[torch.nn.Module, str]:
    """The task model with the hub's adapter (and head, when saved) copied in; (model, adapter name)."""
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
    return model, name


def _drop_fresh_head(pack: Path) -> None:
    """Adapters only: the fresh head is not part of what was imported, in the weights or the manifest."""
    weights = pack / WEIGHTS_FILE
    tensors = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("heads.")}
    tmp = weights.with_name(f".{weights.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": PACK_FORMAT})
    tmp.chmod(0o644)
    tmp.replace(weights)
    manifest_path = pack / MANIFEST_FILE
    manifest = {**json.loads(manifest_path.read_text()), "num_labels": None, "labels": None}
    write_json_atomic(manifest_path, manifest)


def _save_import_provenance(
    pack: Path,
    hub: HubAdapter,
    model_path: str,
    model_chosen: bool,
    spec: TaskSpec,
    labels: LabelMap,
    max_length: int,
) -> None:
    """provenance.json and the model card of a pack with its head, so predict and evaluate can run it."""
    resolved = str(Path(model_path).resolve()) if Path(model_path).exists() else model_path
    given = (
        (portable_path(model_path) if Path(model_path).exists() else model_path) if model_chosen else None
    )  # None: the embedded one
    save_provenance(
        pack,
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
