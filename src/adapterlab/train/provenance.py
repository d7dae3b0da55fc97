"""What a task pack records about where it came from (provenance.json) and its model card
(README.md in the Hub's model-card format), written when its run finishes (issue #18).

PEFT's save_pretrained folders record `base_model_name_or_path` and `revision`; a pack records
those, a hash of the base model's config.json and a fingerprint of its weights (so a backbone
with the same shapes but other weights is told apart), the versions, the task, its labels and metric, the run's validation and
test results, and the command that reproduces it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from adapterlab.adapters.peft_methods import PEFT_METHODS, TITLES
from adapterlab.errors import AdapterlabError
from adapterlab.runs import describe_value, write_json_atomic

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
CARD_FILE = "README.md"
# the run settings a command line needs to reproduce a run; the rest are defaults or derived
_COMMAND_SKIP = {"learning_rate", "model_path", "max_length_used", "protocol", "split_sizes", "labels", "metric", "kind", "fingerprints",
                 "progress", "lora_targets", "ia3_feedforward", "columns", "adapter"}


EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the embedded default's Hub name
# A Hub repo id: NAME or OWNER/NAME (the Hub's model-card metadata rejects anything else, e.g. a path)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_COUNTS = {"words", "unscored_words", "examples", "tokens", "unknown_labels"}


@dataclass(frozen=True)
class Provenance:
    """base_model: the --model the run was given (None: the embedded MiniLM); base_model_path: where it
    was loaded from; base_config_sha256: sha256 of its config.json; revision: the Hub commit, when
    it came from the Hub. validation / test: the run's metrics (the task's metric first)."""

    base_model: str | None
    base_model_path: str
    base_config_sha256: str | None
    revision: str | None
    method: str
    task: str
    kind: str
    labels: list[str]
    metric: str
    validation: dict | None
    test: dict | None
    data_format: str
    columns: dict
    encoding: str
    max_length: int
    command: str
    versions: dict
    base_weights_fingerprint: str | None = None  # weights_fingerprint(base); None in packs from before it

    def to_dict(self) -> dict:
        return asdict(self)


def local_folder(model_path: str) -> Path | None:
    """The folder a backbone's files are in: the path itself, or for a Hub id the snapshot in the
    local Hub cache that transformers loaded it from (…/snapshots/<commit>/, so the config hash,
    weights fingerprint and revision are recorded for Hub models too); None when neither is here."""
    if Path(model_path).is_dir():
        return Path(model_path)
    if not HUB_ID.match(str(model_path)):
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(str(model_path), "config.json")
    except ValueError:  # an id the Hub would reject
        return None
    return Path(found).parent if isinstance(found, str) else None


def config_sha256(model_path: str) -> str | None:
    """sha256 of the backbone's config.json (a folder, or a Hub id in the local cache), or None."""
    folder = local_folder(model_path)
    path = folder / "config.json" if folder else None
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else None


def weights_fingerprint(model_path: str) -> str | None:
    """sha256 over every tensor's name, shape, dtype and first 256 values in the backbone's
    safetensors files: another checkpoint of the same architecture (a fine-tuned copy, other seed)
    changes it, and only a slice of each tensor is read, so it costs milliseconds on any size.
    None when the folder has no safetensors weights."""
    from safetensors import safe_open

    folder = local_folder(model_path)
    files = sorted(folder.glob("*.safetensors")) if folder else []
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in sorted(handle.keys()):
                piece = handle.get_slice(key)
                shape = piece.get_shape()
                values = handle.get_tensor(key).flatten()[:256] if not shape or shape[0] <= 1 else piece[:1].flatten()[:256]
                digest.update(f"{key}{shape}{piece.get_dtype()}".encode())
                digest.update(values.float().numpy().tobytes())
    return digest.hexdigest()


def _revision(model_path: str) -> str | None:
    """The Hub commit of a model loaded through the Hub cache (…/snapshots/<commit>/), else None."""
    folder = local_folder(model_path)
    parts = folder.parts if folder else ()
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts) else None


def train_command(config: dict) -> str:
    """`adapterlab train ...` with every setting that differs from its default."""
    from adapterlab.train.config import ADAPTER_OPTIONS, RunConfig, option_of, unused_settings

    defaults = RunConfig.defaults()
    unused = unused_settings(config.get("method", "adapter"), bool(config.get("tapt")))  # train refuses them
    words = ["adapterlab", "train"]
    for key, value in config.items():
        if key in _COMMAND_SKIP or key in unused or value is None or (key in defaults and defaults[key] == value):
            continue
        if key in ("train", "dev", "test", "model") and Path(str(value)).exists():
            value = str(Path(str(value)).resolve())  # runnable from any folder
        try:
            option = option_of(key)
        except KeyError:
            continue  # a recorded key that is no setting of this version: no option gives it
        if isinstance(value, bool):  # differs from its default: a default-true setting's option turns it off
            words.append(option)
        else:
            words += [option, str(value)]
    for key, value in (config.get("adapter") or {}).items():
        if config.get("method") == "adapter" and key in ADAPTER_OPTIONS and value != _adapter_default(key):
            words += [option_of(f"adapter.{key}"), str(value)]
    if config.get("columns"):
        words += ["--columns", ",".join(f"{k}={v}" for k, v in config["columns"].items())]
    for key in ("lora_targets", "ia3_feedforward"):  # a YAML list in a spec is a comma-separated option
        value = config.get(key)
        if value and config.get("method") in PEFT_METHODS:
            words += [option_of(key), value if isinstance(value, str) else ",".join(value)]
    words += ["--out", "NEW_RUN_FOLDER"]  # a new folder: the original one holds the finished run
    return " ".join(shlex.quote(w) for w in words if w)


def _adapter_default(key: str):
    from adapterlab.adapters.config import AdapterConfig

    return getattr(AdapterConfig(), key, None)


def provenance_of(config: dict, result: dict) -> Provenance:
    """The provenance of a finished run from its config.json and result."""
    model_path = str(Path(config["model_path"]).resolve()) if Path(config["model_path"]).exists() else config["model_path"]
    files = str(local_folder(config["model_path"]) or config["model_path"])  # one Hub-cache lookup for the three below
    return Provenance(
        base_model=config.get("model"), base_model_path=model_path, base_config_sha256=config_sha256(files),
        revision=_revision(files), method=config["method"], task=config["task"], kind=config.get("kind", ""),
        labels=list(config.get("labels") or []), metric=config.get("metric", ""), validation=result.get("best_validation"),
        test=result.get("test"), data_format=config.get("data_format", "auto"), columns=dict(config.get("columns") or {}),
        encoding=config.get("encoding", "utf-8"), max_length=int(config.get("max_length_used") or config.get("max_length") or 128),
        command=train_command(config), versions=dict(result.get("versions") or {}), base_weights_fingerprint=weights_fingerprint(files))


def write_provenance(pack: Path, config: dict, result: dict) -> Provenance:
    """provenance.json and README.md (the model card) into a pack folder, each written atomically."""
    return save_provenance(pack, provenance_of(config, result), result)


def save_provenance(pack: Path, provenance: Provenance, result: dict) -> Provenance:
    """Write `provenance` and the model card made from it (and the run's `result`) into `pack`."""
    write_json_atomic(pack / PROVENANCE_FILE, provenance.to_dict())
    tmp = pack / f".{CARD_FILE}.tmp"
    tmp.write_text(model_card(provenance, result))
    tmp.replace(pack / CARD_FILE)
    return provenance


# provenance.json's fields and the JSON type each must have: (types, may be null)
_PROVENANCE_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "base_model": ((str,), True), "base_model_path": ((str,), False), "base_config_sha256": ((str,), True), "revision": ((str,), True),
    "method": ((str,), False), "task": ((str,), False), "kind": ((str,), False), "labels": ((list,), False), "metric": ((str,), False),
    "validation": ((dict,), True), "test": ((dict,), True), "data_format": ((str,), False), "columns": ((dict,), False),
    "encoding": ((str,), False), "max_length": ((int,), False), "command": ((str,), False), "versions": ((dict,), False),
    "base_weights_fingerprint": ((str,), True),
}


def read_provenance(pack: str | Path) -> Provenance | None:
    """A pack's provenance, or None for a pack saved without one (by save_adapter alone, or older).
    Checked field by field: a damaged file is one AdapterlabError naming the file and the field."""
    path = Path(pack) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AdapterlabError(f"{path}: cannot be read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise AdapterlabError(f"{path}: not a provenance record of adapterlab (not valid JSON: {str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if not isinstance(values, dict):
        raise AdapterlabError(f"{path}: not a provenance record of adapterlab (expected a JSON object, got {describe_value(values)})")
    unknown = sorted(set(values) - set(_PROVENANCE_TYPES))
    if unknown:
        raise AdapterlabError(f"{path}: not a provenance record of adapterlab (unknown field {unknown[0]!r})")
    for key, (types, nullable) in _PROVENANCE_TYPES.items():
        value = values.get(key)
        if key not in values and nullable and key == "base_weights_fingerprint":
            continue  # packs from before the weights fingerprint
        if value is None and nullable:
            continue
        good = isinstance(value, types) and not isinstance(value, bool)
        if good and key == "labels":
            good = all(isinstance(label, str) for label in value)
        elif good and key == "columns":
            good = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        elif good and key == "max_length":
            good = value >= 1
        if not good:
            allowed = {"labels": "a list of label names", "columns": "an object of names", "max_length": "a positive integer",
                       "validation": "an object of metrics or null", "test": "an object of metrics or null", "versions": "an object"}.get(
                key, "a string or null" if nullable else "a string")
            raise AdapterlabError(f"{path}: field {key!r} is {describe_value(value)}; expected {allowed}")
    return Provenance(**values)


def check_base(provenance: Provenance | None, model_path: str, pack: str | Path) -> None:
    """Warn when a pack goes onto a backbone whose config or weights differ from the one it was
    trained on (same shapes, which loading checks, but other weights: another checkpoint)."""
    if provenance is None:
        return
    base = provenance.base_model or provenance.base_model_path
    ours = config_sha256(model_path) if provenance.base_config_sha256 else None
    if ours is not None and ours != provenance.base_config_sha256:
        logger.warning("%s was trained on %s (config sha256 %s…); this backbone's config differs (%s…): the pack loads, "
                       "but its results hold for its own base model", pack, base, provenance.base_config_sha256[:12], ours[:12])
        return
    weights = weights_fingerprint(model_path) if provenance.base_weights_fingerprint else None
    if weights is not None and weights != provenance.base_weights_fingerprint:
        logger.warning("%s was trained on %s; this backbone has the same shapes but other weights (fingerprint %s…, the pack's %s…): "
                       "the pack loads, but its results hold for its own base model", pack, base, weights[:12],
                       provenance.base_weights_fingerprint[:12])


def hub_base_model(p: Provenance) -> str | None:
    """The base model's Hub id for the card's `base_model:` metadata, or None when the pack was
    trained on a local folder (the Hub accepts only repo ids there, and a local path says nothing
    to anyone else; the card's text names the folder and its config hash instead)."""
    if not p.base_model:
        return EMBEDDED_HUB_ID
    if Path(p.base_model).exists() or not HUB_ID.match(p.base_model):
        return None
    return p.base_model


def _peft_usage(p: Provenance, hub_id: str | None) -> list[str]:
    """A PEFT pack is in PEFT's own layout (head and LayerNorms as modules_to_save): PEFT alone loads it."""
    auto = "AutoModelForTokenClassification" if p.kind == "token" else "AutoModelForSequenceClassification"
    # float32 as adapterlab computes: a half-precision checkpoint would otherwise stay in half
    return ["Or with PEFT alone (the same logits):", "", "```python", "import torch", "from peft import PeftModel",
            f"from transformers import {auto}", "",
            f"base = {auto}.from_pretrained({hub_id or 'BASE_MODEL_FOLDER'!r}, num_labels={len(p.labels) or 1}, dtype=torch.float32)",
            'model = PeftModel.from_pretrained(base, "THIS_FOLDER")', "```", ""]


def model_card(p: Provenance, result: dict) -> str:
    """The pack's README.md: YAML front matter the Hub reads, then what it is and how to use it."""
    hub_id = hub_base_model(p)
    base = f"`{hub_id}`" if hub_id else f"a local folder, {Path(p.base_model_path).name}"
    method = {"adapter": "Houlsby bottleneck adapters (He et al. 2021)", **{m: f"{TITLES[m]}, through PEFT" for m in PEFT_METHODS}}.get(p.method, p.method)

    def metrics(values: dict | None) -> str:
        def shown(key: str, value: float) -> str:  # counts (words, examples) are stored as floats beside the metrics
            return f"{key} {int(value)}" if key in _COUNTS and float(value).is_integer() else f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}"

        return ", ".join(shown(k, v) for k, v in (values or {}).items() if isinstance(v, (int, float)) and k != "count") or "none"

    front = ["---", "library_name: adapterlab", *([f"base_model: {hub_id}"] if hub_id else []), "tags:", "- adapterlab", *(["- peft"] if p.method in PEFT_METHODS else []), f"- {p.method}", f"- {p.task}", "---", ""]
    body = [
        f"# {p.task} task pack ({p.method})", "",
        f"{method} for **{p.task}** ({p.kind}) on top of {base}. The pack holds only what the method trains (the "
        "added weights, the LayerNorms and the task head); the base model is loaded separately.", "",
        "## Labels", "", ", ".join(f"`{label}`" for label in p.labels) or "(regression: one output)", "",
        "## Results", "", f"- metric: {p.metric}", f"- validation (best checkpoint): {metrics(p.validation)}", f"- test: {metrics(p.test)}",
        f"- trainable parameters: {result.get('trainable_params')} ({(result.get('trainable_percent') or 0):.2f}% of the model)", "",
        "## How it was made", "", "```bash", p.command, "```", "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in p.versions.items() if v)}.", "",
        "## How to use it", "", "```bash", "adapterlab predict THIS_FOLDER --data texts.txt --format lines --out predictions.jsonl",
        "adapterlab evaluate THIS_FOLDER --data labelled.tsv", "```", "",
        *(_peft_usage(p, hub_id) if p.method in PEFT_METHODS else []),
        f"Base model config sha256: `{p.base_config_sha256}`" + (f", revision `{p.revision}`" if p.revision else "") + ".", "",
    ]
    return "\n".join(front + body)
