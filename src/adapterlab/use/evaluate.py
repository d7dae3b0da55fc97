"""`adapterlab evaluate`: a finished run or task pack scored on a labelled file with the task's
own metric code (train/loop.py's evaluate, the code training used), so anyone can test a run on
data it never saw (issue #18)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

from tqdm.auto import tqdm

from adapterlab.data.example import Example
from adapterlab.data.features import Collator, encode
from adapterlab.data.readers import read_examples
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import method_of_pack
from adapterlab.runs import (
    is_run_folder,
    json_value,
    refuse_foreign_file,
    refuse_output_below_a_file,
    write_json_atomic,
)
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.evaluation import evaluate
from adapterlab.use.load import LoadedTask, load_task


def evaluate_file(
    source: str | Path,
    data: str | Path,
    data_format: str | None = None,
    task: str | None = None,
    columns: dict | None = None,
    encoding: str | None = None,
    model_path: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """{"source", "data", "task", "metric", "value", "examples", "metrics"} of one run or pack on
    one labelled file, read as the run read its data unless data_format / columns / encoding /
    task (another reader, e.g. xnli for an MNLI run) say otherwise. A gold label the run never
    saw counts as a miss (metrics' `unknown_labels`). Raises AdapterlabError on bad input."""
    loaded = load_task(source, model_path)
    examples = _read_labelled(loaded, data, data_format, task, columns, encoding)
    labels = loaded.labels.with_unknown(examples)
    features = encode(examples, loaded.spec, labels, loaded.tokenizer, loaded.max_length)
    accelerator = build_accelerator("auto")
    model = accelerator.prepare(loaded.model)
    started = time.perf_counter()
    with tqdm(total=len(features), desc="evaluate", unit="example", disable=not progress, dynamic_ncols=True) as bar:
        metrics = evaluate(
            model,
            features,
            Collator(loaded.tokenizer.pad_token_id),
            loaded.spec,
            labels,
            accelerator,
            batch_size,
            bar=bar,
        )
    seconds = time.perf_counter() - started
    if labels.unknown:
        metrics["unknown_labels"] = list(labels.unknown)
    return {
        "source": str(source),
        "data": str(data),
        "task": loaded.name,
        "method": loaded.method,
        "metric": loaded.spec.metric,
        "value": metrics.get(loaded.spec.metric),
        "examples": len(examples),
        "metrics": metrics,
        "seconds": seconds,
    }  # the scoring loop alone (tokenized inputs, batches of batch_size): examples / seconds is the throughput


def _read_labelled(
    loaded: LoadedTask,
    data: str | Path,
    data_format: str | None,
    task: str | None,
    columns: dict | None,
    encoding: str | None,
) -> list[Example]:
    """The labelled examples of `data`, read as the run read its data unless the arguments say
    otherwise (another task's reader forgets the run's format and columns); every one needs a label."""
    same_reader = task is None or get_task(task).name == loaded.spec.name
    read_spec = dataclasses.replace(loaded.spec if same_reader else get_task(task), labels=None)
    examples = read_examples(
        data,
        read_spec,
        data_format or (loaded.data_format if same_reader else "auto"),
        columns if columns is not None else (loaded.columns if same_reader else {}),
        encoding=encoding or loaded.encoding,
    )
    unlabelled = sum(1 for e in examples if (e.tags is None if e.tokens is not None else e.label is None))
    if unlabelled:
        raise AdapterlabError(
            f"{data}: {unlabelled} of {len(examples)} examples have no label; evaluate needs a labelled file "
            "(`adapterlab predict` labels unlabelled text)"
        )
    return examples


def source_label(source: str | Path) -> str:
    """A file-name label for a run or pack: the last three parts of its path without a trailing
    `pack` (runs/sst2/adapter/seed=0/pack -> sst2_adapter_seed=0), or the Hub repo for hf://, so
    that two runs of one study do not get the same default evaluation file."""
    text = str(source)
    if text.startswith("hf://"):
        parts = [text.removeprefix("hf://")]
    else:
        parts = list(Path(text).resolve().parts)
        if parts and parts[-1] == "pack":
            parts.pop()
        parts = parts[-3:]
    return re.sub(r"[^A-Za-z0-9_.=@-]+", "_", "_".join(parts)).strip("_.") or "run"


def refuse_inside_run_or_pack(path: Path) -> None:
    """An output file inside a run folder or a task pack would replace or shadow what adapterlab
    wrote there (result.json, provenance.json, metrics.jsonl): refused, one line."""
    for folder in path.resolve().parents:
        if is_run_folder(folder) or method_of_pack(folder) is not None:
            raise AdapterlabError(
                f"--out {path}: inside {'the run folder' if is_run_folder(folder) else 'the task pack'} {folder}, "
                "whose files adapterlab owns; write it elsewhere"
            )


def check_evaluation_out(out: str | Path, data: str | Path) -> Path:
    """The output path, refused before any work when it cannot be the evaluation's file."""
    path = Path(out)
    if path.suffix != ".json":
        raise AdapterlabError(f"--out {path}: the file name must end in .json")
    if path.resolve() == Path(data).resolve():
        raise AdapterlabError(f"--out {path} is the input file; write the evaluation elsewhere")
    if path.is_dir():
        raise AdapterlabError(f"--out {path}: a folder; give a .json file name")
    refuse_inside_run_or_pack(path)
    refuse_output_below_a_file(path)
    refuse_foreign_file(path, is_evaluation_text, "an earlier evaluation of adapterlab evaluate")
    existing = next((folder for folder in path.resolve().parents if folder.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        raise AdapterlabError(f"--out {path}: cannot be written ({existing} is not a writable folder)")
    return path


EVALUATION_KEYS = (
    "source",
    "data",
    "task",
    "metric",
    "examples",
    "metrics",
)  # what evaluate_file returns, and the file holds


def is_evaluation_text(text: str) -> bool:
    """Whether `text` is an evaluation file evaluate wrote (and may replace)."""
    value = json_value(text)
    return isinstance(value, dict) and all(key in value for key in EVALUATION_KEYS)


def write_evaluation(evaluation: dict, out: str | Path, data: str | Path) -> Path:
    path = check_evaluation_out(out, data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, evaluation)
    except OSError as err:  # a read-only folder: name the file asked for, not the temp file
        raise AdapterlabError(f"--out {path}: cannot be written ({err.strerror or type(err).__name__})") from None
    return path


def evaluate_to_file(
    source: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    data_format: str | None = None,
    task: str | None = None,
    columns: dict | None = None,
    encoding: str | None = None,
    model_path: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> tuple[dict, Path]:
    """`adapterlab evaluate`: evaluate_file, written to `out` (default DATA-STEM.SOURCE.eval.json
    here, which never replaces an earlier evaluation); the output is checked before any work.
    Returns (the evaluation, where it was written)."""
    default = Path(f"{Path(data).stem}.{source_label(source)}.eval.json")
    if out is None and default.exists():  # the default name never replaces an earlier evaluation silently
        raise AdapterlabError(f"{default} exists (an earlier evaluation); name the output with --out")
    out = default if out is None else out
    check_evaluation_out(out, data)
    evaluation = evaluate_file(
        source, data, data_format, task, columns, encoding, model_path, batch_size, progress=progress
    )
    return evaluation, write_evaluation(evaluation, out, data)
