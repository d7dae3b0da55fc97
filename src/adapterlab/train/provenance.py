"""What a task pack records about where it came from (provenance.json), written when its run
finishes with the model card made from it (train/pack_files.py, train/model_card.py; issues #18, #31).

PEFT's save_pretrained folders record `base_model_name_or_path` and `revision`; a pack records
those, a hash of the base model's config.json and a fingerprint of its weights (so a backbone
with the same shapes but other weights is told apart), the versions, the task, its labels and metric, the run's validation and
test results, and the command that reproduces it.

Nothing in a pack names a place on this machine: a pack is made to be shared (`adapterlab push`).
A local base model or data file is written relative to the folder the run was started in when it
lies inside it, else by its name (portable_path); a run's own config.json keeps the full paths, so
a pack inside its run folder still finds its base (base_model_here).
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.methods import find_method, own_axes_of
from adapterlab.package_data import PACKAGE_PREFIX
from adapterlab.runs import describe_value
from adapterlab.train.base_files import (  # noqa: F401  re-exported: where a pack's base model is
    BASES_FILE,
    HUB_ID,
    config_sha256,
    local_folder,
    portable_base,
    portable_path,
    remembered_base,
    revision_of,
    weights_fingerprint,
)

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
# the run settings a command line needs to reproduce a run; the rest are defaults or derived
_COMMAND_SKIP = {
    "learning_rate",
    "model_path",
    "max_length_used",
    "protocol",
    "split_sizes",
    "labels",
    "metric",
    "kind",
    "fingerprints",
    "progress",
    "lora_targets",
    "ia3_feedforward",
    "columns",
    "adapter",
}


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
    base_local: bool = False  # the base was a local folder (base_model is then its portable path), not a Hub id
    dataset: str | None = None  # the Hugging Face datasets name the run read (--hub), when it read one

    def to_dict(self) -> dict:
        return asdict(self)


def portable(p: Provenance) -> Provenance:
    """`p` with no absolute path in it: a local base model's folder as portable_path gives it."""
    local = p.base_local or (
        p.base_model is not None and (Path(p.base_model).exists() or not HUB_ID.match(p.base_model))
    )
    base = portable_path(p.base_model) if local and p.base_model is not None else p.base_model
    path = p.base_model_path if not Path(p.base_model_path).is_absolute() else portable_path(p.base_model_path)
    return replace(p, base_model=base, base_model_path=path, base_local=local)


def base_model_here(p: Provenance, pack: Path) -> str:
    """The base model to load a pack onto, on this machine: the full path its run recorded (a pack
    inside its run folder), the embedded backbone, a local folder that is where the pack says, its
    Hub id, or the folder this machine remembered for its weights (a pack made here and copied).
    Raises AdapterlabError, one line, for a local base that is not here."""
    from adapterlab.backbone import resolve_backbone
    from adapterlab.runs import CONFIG_FILE, is_run_folder

    run = Path(pack).parent
    if is_run_folder(run) and (run / CONFIG_FILE).is_file():
        try:
            recorded = json.loads((run / CONFIG_FILE).read_text()).get("model_path")
        except (OSError, json.JSONDecodeError, AttributeError):
            recorded = None
        if recorded and Path(recorded).exists():
            return str(recorded)
    if p.base_model is None:
        return resolve_backbone(None)
    for candidate in (p.base_model_path, p.base_model):
        if candidate and candidate.startswith(PACKAGE_PREFIX):
            from adapterlab.package_data import resolve_package_path

            try:
                candidate = str(resolve_package_path(candidate))
            except AdapterlabError:
                continue
        if candidate and Path(candidate).exists():
            return str(candidate)
    if not p.base_local and HUB_ID.match(p.base_model):
        return p.base_model  # from the Hub, or its local cache
    remembered = remembered_base(
        p.base_weights_fingerprint
    )  # the machine that made the pack: wherever it was copied to
    if remembered:
        return remembered
    sha = f" (config sha256 {p.base_config_sha256[:12]}…)" if p.base_config_sha256 else ""
    raise AdapterlabError(
        f"{pack}: its base model, the local folder {p.base_model!r}{sha}, is not here; pass --model with a copy of it"
    )


def train_command(config: dict) -> str:
    """`adapterlab train ...` with every setting that differs from its default; local paths as
    portable_path writes them (relative to the folder the run was started in, or the name)."""
    from adapterlab.train.config import ADAPTER_OPTIONS, RunConfig
    from adapterlab.train.options import option_of, unused_settings

    defaults = RunConfig.defaults()
    unused = unused_settings(config.get("method", "adapter"), bool(config.get("tapt")))  # train refuses them
    words = ["adapterlab", "train"]
    for key, value in config.items():
        if key in _COMMAND_SKIP or key in unused or value is None or (key in defaults and defaults[key] == value):
            continue
        if key in ("train", "dev", "test", "model") and (Path(str(value)).exists() or Path(str(value)).is_absolute()):
            value = portable_path(str(value))  # no place on this machine in a shared pack
        try:
            option = option_of(key)
        except KeyError:
            continue  # a recorded key that is no setting of this version: no option gives it
        if isinstance(value, bool):  # differs from its default: a default-true setting's option turns it off
            words.append(option)
        else:
            words += [option, str(value)]
    for key, value in (config.get("adapter") or {}).items():
        if (
            _nested_settings(config.get("method")) == "adapter"
            and key in ADAPTER_OPTIONS
            and value != _adapter_default(key)
        ):
            words += [option_of(f"adapter.{key}"), str(value)]
    if config.get("columns"):
        words += ["--columns", ",".join(f"{k}={v}" for k, v in config["columns"].items())]
    for key in ("lora_targets", "ia3_feedforward"):  # a YAML list in a spec is a comma-separated option
        value = config.get(key)
        if value and key in own_axes_of(config.get("method")):
            words += [option_of(key), value if isinstance(value, str) else ",".join(value)]
    words += ["--out", "NEW_RUN_FOLDER"]  # a new folder: the original one holds the finished run
    return " ".join(shlex.quote(w) for w in words if w)


def _nested_settings(method: str | None) -> str | None:
    found = find_method(method)
    return found.nested_settings if found else None


def _adapter_default(key: str):
    from adapterlab.adapters.config import AdapterConfig

    return getattr(AdapterConfig(), key, None)


def provenance_of(config: dict, result: dict) -> Provenance:
    """The provenance of a finished run from its config.json and result."""
    model_path = (
        str(Path(config["model_path"]).resolve()) if Path(config["model_path"]).exists() else config["model_path"]
    )
    files = str(local_folder(config["model_path"]) or config["model_path"])  # one Hub-cache lookup for the three below
    return Provenance(
        base_model=config.get("model"),
        base_model_path=model_path,
        base_config_sha256=config_sha256(files),
        revision=revision_of(files),
        method=config["method"],
        task=config["task"],
        kind=config.get("kind", ""),
        labels=list(config.get("labels") or []),
        metric=config.get("metric", ""),
        validation=result.get("best_validation"),
        test=result.get("test"),
        data_format=config.get("data_format", "auto"),
        columns=dict(config.get("columns") or {}),
        encoding=config.get("encoding", "utf-8"),
        max_length=int(config.get("max_length_used") or config.get("max_length") or 128),
        command=train_command(config),
        versions=dict(result.get("versions") or {}),
        base_weights_fingerprint=weights_fingerprint(files),
        dataset=config.get("hub"),
    )


# provenance.json's fields and the JSON type each must have: (types, may be null)
_PROVENANCE_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "base_model": ((str,), True),
    "base_model_path": ((str,), False),
    "base_config_sha256": ((str,), True),
    "revision": ((str,), True),
    "method": ((str,), False),
    "task": ((str,), False),
    "kind": ((str,), False),
    "labels": ((list,), False),
    "metric": ((str,), False),
    "validation": ((dict,), True),
    "test": ((dict,), True),
    "data_format": ((str,), False),
    "columns": ((dict,), False),
    "encoding": ((str,), False),
    "max_length": ((int,), False),
    "command": ((str,), False),
    "versions": ((dict,), False),
    "base_weights_fingerprint": ((str,), True),
    "base_local": ((bool,), False),
    "dataset": ((str,), True),
}
# fields a pack from an earlier version may lack: the dataclass's defaults stand in
_OPTIONAL_FIELDS = frozenset({"base_weights_fingerprint", "base_local", "dataset"})


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
        raise AdapterlabError(
            f"{path}: not a provenance record of adapterlab (not valid JSON: {str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    if not isinstance(values, dict):
        raise AdapterlabError(
            f"{path}: not a provenance record of adapterlab (expected a JSON object, got {describe_value(values)})"
        )
    unknown = sorted(set(values) - set(_PROVENANCE_TYPES))
    if unknown:
        raise AdapterlabError(f"{path}: not a provenance record of adapterlab (unknown field {unknown[0]!r})")
    for key, (types, nullable) in _PROVENANCE_TYPES.items():
        value = values.get(key)
        if key not in values and key in _OPTIONAL_FIELDS:
            continue  # a pack from before this field
        if value is None and nullable:
            continue
        good = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if good and key == "labels":
            good = all(isinstance(label, str) for label in value)
        elif good and key == "columns":
            good = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        elif good and key == "max_length":
            good = value >= 1
        if not good:
            allowed = {
                "labels": "a list of label names",
                "columns": "an object of names",
                "max_length": "a positive integer",
                "validation": "an object of metrics or null",
                "test": "an object of metrics or null",
                "versions": "an object",
                "base_local": "true or false",
            }.get(key, "a string or null" if nullable else "a string")
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
        logger.warning(
            "%s was trained on %s (config sha256 %s…); this backbone's config differs (%s…): the pack loads, "
            "but its results hold for its own base model",
            pack,
            base,
            provenance.base_config_sha256[:12],
            ours[:12],
        )
        return
    weights = weights_fingerprint(model_path) if provenance.base_weights_fingerprint else None
    if weights is not None and weights != provenance.base_weights_fingerprint:
        logger.warning(
            "%s was trained on %s; this backbone has the same shapes but other weights (fingerprint %s…, the pack's %s…): "
            "the pack loads, but its results hold for its own base model",
            pack,
            base,
            weights[:12],
            provenance.base_weights_fingerprint[:12],
        )
