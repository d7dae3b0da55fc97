"""A trained task, ready to run: from a finished run folder (any method) or a task pack with its
provenance.json, the model with its head, its tokenizer, task, labels and how its data is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapterlab.adapters.injection import activate, adapter_names
from adapterlab.data.features import LabelMap
from adapterlab.data.tasks import TaskSpec, get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import Method, get_method, method_names, method_of_pack, method_words
from adapterlab.runs import CONFIG_FILE, RESULT_FILE, load_run_config, read_result
from adapterlab.train.model_setup import build_task_model, load_model_config, load_tokenizer
from adapterlab.train.provenance import (
    PROVENANCE_FILE,
    Provenance,
    base_model_here,
    check_base,
    provenance_of,
    read_provenance,
)
from adapterlab.train.trained import load_trained_run, load_with_pack
from adapterlab.use.hub import fetch_pack, is_hub_source


@dataclass
class LoadedTask:
    """name: how outputs are keyed (the task, or the folder when two tasks share a name).
    max_length: the run's (tokens, special tokens included). data_format / columns / encoding:
    how the run read its data, the default for files read with it."""

    name: str
    source: Path
    model: object  # a transformers task model, in eval mode
    tokenizer: object
    spec: TaskSpec
    labels: LabelMap
    max_length: int
    data_format: str
    columns: dict
    encoding: str
    method: str
    adapter: str | None = None  # its adapter's name when the model holds several tasks' adapters (load_tasks)
    nonfinite: int = 0  # inputs whose outputs were NaN or inf (weights of a diverged run), counted by predict

    def activate(self) -> None:
        """Make this task's adapter the active one of a model shared with other tasks."""
        if self.adapter is not None:
            activate(self.model, self.adapter)


def load_tasks(sources: list[str | Path], model_path: str | None = None) -> list[LoadedTask]:
    """Every source as load_task does, with the adapter packs that share a base model (and a head
    kind: sequence or token) loaded as named adapters onto one model, so that one backbone pass
    can run them all (activate_per_example) and the backbone is in memory once."""
    shared: dict[tuple[str, bool], tuple[object, object]] = {}
    return [load_task(source, model_path, shared) for source in sources]


def load_task(source: str | Path, model_path: str | None = None, shared: dict | None = None) -> LoadedTask:
    """A run folder (result.json + config.json; adapter, a PEFT method, or fine-tuning with --save-model),
    a pack folder (an adapter or PEFT pack with provenance.json), or a pack on the Hub (hf://OWNER/NAME). model_path overrides the base model a pack
    records (a warning names a backbone whose config differs). shared: load_tasks's models by
    (base, token head), for adapter packs to join. Raises AdapterlabError, one line."""
    folder = fetch_pack(str(source)) if is_hub_source(source) else Path(source)
    shown = Path(str(source)[len("hf://") :].split("@")[0]) if is_hub_source(source) else folder  # how outputs name it
    if not folder.is_dir():
        raise AdapterlabError(f"{folder}: not a folder; give a finished run folder, a task pack, or hf://OWNER/NAME")
    if (folder / RESULT_FILE).is_file() and (folder / CONFIG_FILE).is_file():
        result, config = _finished_run(folder)
        if not result.get("pack"):
            return _fine_tuned(folder, config, model_path)
        described = _run_pack(folder, config, result)
    elif method_of_pack(folder) is not None:
        described = _pack(folder)
    else:
        raise AdapterlabError(
            f"{folder}: neither a finished run folder (result.json) nor a task pack of any method "
            f"({', '.join(method_words(m) for m in method_names())})"
        )
    return _load_pack(described, shown, model_path, shared)


@dataclass(frozen=True)
class DescribedPack:
    """A pack and the provenance that says what it is: its own provenance.json, or for a run's
    pack without one, the run's config.json (described_in: which file, for the errors)."""

    pack: Path
    provenance: Provenance
    described_in: Path


def _finished_run(folder: Path) -> tuple[dict, dict]:
    """(result.json, config.json) of a run that finished (ok, or diverged with its weights)."""
    result = read_result(folder)
    if result is None:
        raise AdapterlabError(
            f"{folder / RESULT_FILE}: not a readable run result (a JSON object with a 'status'); the run folder is damaged"
        )
    if result.get("status") not in ("ok", "diverged"):
        raise AdapterlabError(f"{folder}: the run did not finish (status {result.get('status')!r})")
    return result, load_run_config(folder)


def _run_pack(folder: Path, config: dict, result: dict) -> DescribedPack:
    """A run's pack/, described by its provenance.json, or by the run's config.json when it has none."""
    pack = folder / "pack"
    provenance = read_provenance(pack)
    if provenance is None:
        return DescribedPack(pack, provenance_of(config, result), folder / CONFIG_FILE)
    return DescribedPack(pack, provenance, pack / PROVENANCE_FILE)


def _pack(folder: Path) -> DescribedPack:
    """A pack folder with its provenance.json (without one, its task and base model are unknown)."""
    provenance = read_provenance(folder)
    if provenance is None and method_of_pack(folder).pack_labels(folder).num_labels is None:
        raise AdapterlabError(
            f"{folder}: the pack holds adapters without a task head (e.g. an AdapterHub adapter saved without "
            "its head), so it cannot label text; train a head on it in Python: "
            "adapterlab.load_adapter(model, PACK, with_head=False)"
        )
    if provenance is None:
        raise AdapterlabError(
            f"{folder}: the pack has no provenance.json (saved in Python by adapterlab.save_adapter, not by a "
            "run), so its task and base model are unknown; load it in Python with adapterlab.load_adapter"
        )
    return DescribedPack(folder, provenance, folder / PROVENANCE_FILE)


def _load_pack(described: DescribedPack, shown: Path, model_path: str | None, shared: dict | None) -> LoadedTask:
    """The pack on its base model (model_path, else the one it records): a model of its own, or
    (an adapter pack given load_tasks's `shared`) a named adapter on the model its base shares."""
    pack, provenance = described.pack, described.provenance
    # a Hub id (roberta-base, OWNER/NAME) loads from the Hub or its cache
    base = model_path or base_model_here(provenance, pack)
    spec = get_task(provenance.task)
    method = get_method(provenance.method)
    check_pack_labels(pack, provenance, described.described_in, method)
    labels = LabelMap(tuple(provenance.labels))
    # e.g. a PEFT method changes the encoder itself: a model of its own
    if not method.shares_backbone or shared is None:
        (model, tokenizer), adapter = load_with_pack(base, pack, spec, labels), None
    else:
        key = (str(Path(base).resolve()), spec.kind == "token")
        if key not in shared:
            shared[key] = (build_task_model(base, spec, labels), load_tokenizer(base, load_model_config(base)))
        model, tokenizer = shared[key]
        adapter = method.add_shared(model, pack, name=f"task{len(adapter_names(model))}")
    # after loading: another shape is the error alone, not a warning and then the error
    check_base(provenance, base, pack)
    return LoadedTask(
        provenance.task,
        shown,
        model.eval(),
        tokenizer,
        spec,
        labels,
        provenance.max_length,
        provenance.data_format,
        provenance.columns,
        provenance.encoding,
        provenance.method,
        adapter,
    )


def check_pack_labels(pack: Path, provenance: Provenance, described_in: Path, method: Method) -> None:
    """One truth for labels: the label names `described_in` (provenance.json, or a run's
    config.json) gives must be the ones the pack's manifest gives, and as many as its head has
    outputs (one for regression). Otherwise the pack is refused: one line naming both files."""
    own = method.pack_labels(pack)
    where, num_labels, names = own.manifest, own.num_labels, own.labels
    ours = list(provenance.labels)
    if names is not None and list(names) != ours:
        raise AdapterlabError(
            f"{described_in} names the labels {ours} but {where} names {list(names)}; the pack's files disagree, so its "
            "predictions cannot be named: re-save the pack (train it again) or correct the wrong file"
        )
    outputs = 1 if get_task(provenance.task).kind == "regression" else len(ours)
    if isinstance(num_labels, int) and not isinstance(num_labels, bool) and num_labels != outputs:
        raise AdapterlabError(
            f"{described_in} names {len(ours)} label(s) but the head in {where} has {num_labels} outputs; the pack's "
            "files disagree: re-save the pack (train it again) or correct the wrong file"
        )


def _fine_tuned(folder: Path, config: dict, model_path: str | None) -> LoadedTask:
    """A fine-tuning run: its whole model, saved in model/ when trained with --save-model."""
    if not (folder / "model" / "config.json").is_file():
        raise AdapterlabError(f"{folder}: a fine-tuning run keeps no weights unless trained with --save-model")
    if model_path is not None:  # its weights are all its own: another base model cannot apply
        raise AdapterlabError(
            f"{folder}: a fine-tuned run carries its whole model (in model/); --model applies to "
            "adapter and PEFT runs and packs only"
        )
    trained = load_trained_run(folder)  # the loader every analysis uses
    model, tokenizer, spec, labels = trained.model, trained.tokenizer, trained.spec, trained.labels
    return LoadedTask(
        config["task"],
        folder,
        model.eval(),
        tokenizer,
        spec,
        labels,
        int(config.get("max_length_used") or config["max_length"]),
        config.get("data_format", "auto"),
        dict(config.get("columns") or {}),
        config.get("encoding", "utf-8"),
        config["method"],
    )


def load_trained(source: str | Path, model: str | None = None) -> tuple[object, object, list[str]]:
    """Any trained task in one call: (model, tokenizer, labels) from a run folder, a task pack (an
    adapter or PEFT pack with its provenance.json) or a pack on the Hub, `hf://OWNER/NAME[@REVISION]`.
    The model is a transformers task model in eval mode whose config carries the label names
    (id2label), so `transformers.pipeline("text-classification", model=model, tokenizer=tokenizer)`
    prints them; labels are the names in output order ([] for a regression). model: another copy of
    the base model than the one the pack records. Raises AdapterlabError, one line."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "newly initialized" notices about the head, which the pack then fills
    try:
        task = load_task(source, model)
    finally:
        transformers.logging.set_verbosity(verbosity)
    return task.model, task.tokenizer, list(task.labels.names)
