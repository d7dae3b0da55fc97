"""`adapterlab predict`: one or several trained tasks (run folders or task packs) on an input file
-> one JSONL or CSV row per example with each task's label and probabilities (classification), value
(regression) or one tag per word (token tasks) (issue #18).

The input is read once. Adapter tasks on the same base model share one model and one backbone
pass per batch (the mixed-task machinery: each task's rows go through its own adapters,
LayerNorms and head); other tasks run one after another. Everything runs batched under
torch.inference_mode with a progress bar. Input: any file the training readers read (labels, if
present, are ignored) or plain text lines (`--format lines`: one example per line, a tab between
the two texts of a pair task, words split on spaces for token tasks).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from tqdm.auto import tqdm

from adapterlab.adapters.injection import activate_per_example
from adapterlab.data.example import Example
from adapterlab.data.features import Collator, encode
from adapterlab.data.readers import read_examples
from adapterlab.errors import AdapterlabError
from adapterlab.runs import json_value, refuse_foreign_file, refuse_output_below_a_file
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.batching import evaluation_batches
from adapterlab.train.evaluation import model_inputs
from adapterlab.use.evaluate import refuse_inside_run_or_pack
from adapterlab.use.load import LoadedTask, load_tasks

logger = logging.getLogger(__name__)

LINES = "lines"
OUTPUT_SUFFIXES = (".jsonl", ".csv")


def read_lines(path: Path, pair: bool, token: bool, encoding: str) -> list[Example]:
    """Plain text: one example per non-empty line (utf-8-sig drops a BOM; CRLF is fine)."""
    try:
        lines = [
            line.rstrip("\r")
            for line in path.read_text(
                encoding="utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding
            ).split("\n")
        ]
    except LookupError:
        raise AdapterlabError(f"--encoding {encoding!r}: not a known text encoding (e.g. utf-8, latin-1)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AdapterlabError(f"{path}: cannot be read as {encoding} text ({err.__class__.__name__})") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if token:
            examples.append(Example(tokens=tuple(line.split()), source=f"{path}:{number}"))
        elif pair:
            if line.count("\t") != 1:
                raise AdapterlabError(
                    f"{path}:{number}: a pair task needs two texts separated by one tab (found {line.count(chr(9))})"
                )
            first, second = line.split("\t", 1)
            examples.append(Example(text=first, text_pair=second, source=f"{path}:{number}"))
        else:
            examples.append(Example(text=line, source=f"{path}:{number}"))
    if not examples:
        raise AdapterlabError(f"{path}: no text lines")
    return examples


def _read_input(
    task: LoadedTask, data: Path, data_format: str | None, columns: dict | None, encoding: str | None
) -> list[Example]:
    fmt = data_format or task.data_format
    if fmt == LINES:
        return read_lines(data, task.spec.pair, task.spec.kind == "token", encoding or "utf-8")
    spec = dataclasses.replace(task.spec, labels=None)
    return read_examples(
        data,
        spec,
        fmt,
        columns if columns is not None else task.columns,
        encoding=encoding or task.encoding,
        labels_optional=True,
    )


def _placeholder_labels(examples: list[Example], task: LoadedTask) -> list[Example]:
    """encode needs a gold label; predict ignores it, so every example gets the first label."""
    first = task.labels.names[0] if task.labels.names else "0"
    if task.spec.kind == "token":
        return [dataclasses.replace(e, tags=tuple(first for _ in e.tokens)) for e in examples]
    return [dataclasses.replace(e, label=0.0 if task.spec.kind == "regression" else first) for e in examples]


def _encode(task: LoadedTask, examples: list[Example]) -> list[dict]:
    from adapterlab.data.features import LabelMap

    return encode(
        _placeholder_labels(examples, task), task.spec, LabelMap(task.labels.names), task.tokenizer, task.max_length
    )


def _groups(tasks: list[LoadedTask]) -> list[list[LoadedTask]]:
    """Tasks that can share one backbone pass: adapters on the same model (load_tasks) that read
    the input the same way (the same max length); every other task is a group of its own."""
    groups: dict[tuple, list[LoadedTask]] = {}
    for task in tasks:
        key = (id(task.model), task.max_length) if task.adapter is not None else (id(task),)
        groups.setdefault(key, []).append(task)
    return list(groups.values())


@torch.inference_mode()
def _predict_group(
    group: list[LoadedTask], examples: list[Example], batch_size: int, bar: tqdm
) -> dict[str, list[dict]]:
    """Every task of `group` on every example. Two or more adapter tasks on one model run in one
    backbone pass per batch: the batch is repeated once per task and row block i is routed
    through task i's adapters, LayerNorms and head (activate_per_example); a batch then holds
    about batch_size rows in all."""
    first = group[0]
    features = _encode(first, examples)  # the same tokenizer and length for the whole group
    accelerator = build_accelerator("auto")
    model = accelerator.prepare(first.model)
    model.eval()
    outputs: dict[str, list[dict]] = {task.name: [{} for _ in examples] for task in group}
    words: dict[str, dict[int, dict[int, str]]] = {task.name: {} for task in group}
    if len(group) == 1:
        first.activate()
    per_pass = max(1, batch_size // len(group))
    for indices, batch in evaluation_batches(features, Collator(first.tokenizer.pad_token_id), per_pass, accelerator):
        inputs = model_inputs(batch)
        if len(group) > 1:
            inputs = {
                k: v.repeat(len(group), *([1] * (v.dim() - 1))) if isinstance(v, torch.Tensor) else v
                for k, v in inputs.items()
            }
            activate_per_example(first.model, [task.adapter for task in group for _ in indices])
        logits = model(**inputs).logits.float()
        for block, task in enumerate(group):
            part = logits[block * len(indices) : (block + 1) * len(indices)]
            _collect(task, part, indices, batch, features, outputs[task.name], words[task.name])
        bar.update(len(indices) * len(group))
    for task in group:
        if task.spec.kind == "token":
            found = words[task.name]
            outputs[task.name] = [
                {"tags": [found.get(i, {}).get(w) for w in range(len(e.tokens))]} for i, e in enumerate(examples)
            ]
    return outputs


def _collect(
    task: LoadedTask,
    logits: torch.Tensor,
    indices: list[int],
    batch: dict,
    features: list[dict],
    outputs: list[dict],
    words: dict[int, dict[int, str]],
) -> None:
    """One task's outputs for the rows of a batch. logits: [rows, classes] or [rows, length, classes];
    a mixed batch pads a smaller head's classes with -inf, so only the task's own columns are read."""
    names = task.labels.names
    if task.spec.kind != "regression":
        logits = logits[..., : len(names)]
    for row, index in enumerate(indices):
        feature = features[index]
        if not torch.isfinite(
            logits[row]
        ).all():  # NaN or inf weights (a diverged run): no prediction, and never a NaN in JSON
            task.nonfinite += 1
            if task.spec.kind == "regression":
                outputs[index] = {"value": None}
            elif task.spec.kind == "token":
                for word in feature["_words"]:
                    words.setdefault(feature["_example"], {})[word] = None
            else:
                outputs[index] = {"label": None, "probabilities": dict.fromkeys(names)}
        elif task.spec.kind == "regression":
            outputs[index] = {"value": logits[row, 0].item()}
        elif task.spec.kind == "token":
            scored = batch["labels"][row] != -100
            for word, label in zip(feature["_words"], logits[row][scored].argmax(-1).tolist()):
                words.setdefault(feature["_example"], {})[word] = names[label]
        else:
            probabilities = logits[row].softmax(-1).tolist()
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            outputs[index] = {"label": names[best], "probabilities": dict(zip(names, probabilities))}


def predict(
    sources: list[str | Path],
    data: str | Path,
    out: str | Path,
    data_format: str | None = None,
    columns: dict | None = None,
    encoding: str | None = None,
    model_path: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> Path:
    """Write predictions of every task in `sources` for every example of `data` to `out` (.jsonl:
    one object per example, {"index", "line" (of the input file; "file" for a folder of text files),
    "text"/"tokens", TASK: {...}}; .csv:
    one column per output).
    All tasks must read the input the same way (the same kind of input). Nothing is written
    unless every task succeeded; the file appears whole (written to a temp file, then renamed)."""
    out, data = Path(out), Path(data)
    _check_paths(sources, data, out)
    tasks = _load_same_input(sources, model_path)
    examples = _read_input(tasks[0], data, data_format, columns, encoding)
    results: dict[str, list[dict]] = {}
    with tqdm(
        total=len(examples) * len(tasks), desc="predict", unit="example", disable=not progress, dynamic_ncols=True
    ) as bar:
        for group in _groups(tasks):
            results.update(_predict_group(group, examples, batch_size, bar))
    results = {task.name: results[task.name] for task in tasks}  # the sources' order
    _warn_nonfinite(tasks, len(examples))
    _write(_rows(examples, data, results), out, [t.name for t in tasks])
    return out


def _check_paths(sources: list[str | Path], data: Path, out: Path) -> None:
    """The output path, refused before any work when it cannot be a predictions file of `data`."""
    if out.suffix not in OUTPUT_SUFFIXES:
        raise AdapterlabError(f"--out {out}: the file name must end in {' or '.join(OUTPUT_SUFFIXES)}")
    if not data.exists():  # a folder is read as the training readers read it (one subfolder per class)
        raise AdapterlabError(f"{data}: file not found")
    if any(Path(source).resolve() == data.resolve() or out.resolve() == data.resolve() for source in sources):
        raise AdapterlabError(f"--out {out} is the input file {data}; write the predictions elsewhere")
    refuse_inside_run_or_pack(out)
    refuse_output_below_a_file(out)
    refuse_foreign_file(
        out, lambda text: is_predictions_text(text, out.suffix), "an earlier predictions file of adapterlab predict"
    )


def _load_same_input(sources: list[str | Path], model_path: str | None) -> list[LoadedTask]:
    """Every task, each under its own output key; they must all read the same kind of input."""
    tasks = load_tasks(sources, model_path)
    _unique_names(tasks)
    kinds = {("token" if t.spec.kind == "token" else "pair" if t.spec.pair else "text") for t in tasks}
    if len(kinds) > 1:
        raise AdapterlabError(
            f"these tasks read different inputs ({', '.join(sorted(kinds))}); predict them in separate runs"
        )
    return tasks


def _warn_nonfinite(tasks: list[LoadedTask], examples: int) -> None:
    for task in tasks:
        if task.nonfinite:
            logger.warning(
                "%s: %d of %d inputs gave non-finite outputs (NaN or inf weights: did the run diverge? see its result.json); "
                "they are written as null",
                task.source,
                task.nonfinite,
                examples,
            )


def _rows(examples: list[Example], data: Path, results: dict[str, list[dict]]) -> list[dict]:
    """One row per example: where it came from, its text or tokens, and each task's outputs."""
    rows = []
    for index, example in enumerate(examples):
        row: dict = {"index": index}
        line = example.source.rpartition(":")[2]
        if data.is_dir():  # a folder of text files: the file each example came from
            row["file"] = str(Path(example.source).relative_to(data))
        elif line.isdigit():
            row["line"] = int(line)  # the input line: blank lines and headers are skipped, so index alone cannot say
        if example.tokens is not None:
            row["tokens"] = list(example.tokens)
        else:
            row["text"] = example.text
            if example.text_pair is not None:
                row["text_pair"] = example.text_pair
        for name in results:
            row[name] = results[name][index]
        rows.append(row)
    return rows


def is_predictions_text(text: str, suffix: str) -> bool:
    """Whether `text` is a predictions file predict wrote (and may replace): its first row is
    example 0 ({"index": 0, ...} in JSONL; a CSV header that starts with the index column)."""
    first = text.split("\n", 1)[0]
    if suffix == ".jsonl":
        row = json_value(first)
        return isinstance(row, dict) and row.get("index") == 0
    return first.split(",", 1)[0] == "index"


def _unique_names(tasks: list[LoadedTask]) -> None:
    """Each task's output key: its task name, then task@folder, then task@parent/folder, then a number,
    so that no two sources share a key (two runs of one task, or one source given twice); a folder
    named pack/ counts as its run folder (runs/a/pack -> task@a)."""
    for depth in range(3):
        counts: dict[str, int] = {}
        for task in tasks:
            counts[task.name] = counts.get(task.name, 0) + 1
        clashing = [t for t in tasks if counts[t.name] > 1]
        if not clashing:
            return
        for task in clashing:
            base = task.name.split("@", 1)[0]
            parts = task.source.resolve().parts
            parts = parts[:-1] if parts[-1:] == ("pack",) else parts  # a run's pack/ is named after its run
            task.name = (
                f"{base}@{'/'.join(parts[-(depth + 1) :])}" if depth < 2 else f"{task.name}#{tasks.index(task) + 1}"
            )


def _write(rows: list[dict], out: Path, names: list[str]) -> None:
    if out.suffix == ".jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        buffer = io.StringIO()
        header = [k for k in rows[0] if k not in names]
        flat = []
        for row in rows:
            record = {k: (" ".join(v) if isinstance(v, list) else v) for k, v in row.items() if k not in names}
            for name in names:
                for key, value in row[name].items():
                    if key == "probabilities":
                        record.update({f"{name}:p({label})": p for label, p in value.items()})
                    else:
                        record[f"{name}:{key}"] = " ".join(str(x) for x in value) if isinstance(value, list) else value
            flat.append(record)
        header += [k for k in flat[0] if k not in header]
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        text = buffer.getvalue()
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as err:  # a read-only folder, a full disk: name the file the user asked for, not the temp file
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise AdapterlabError(f"--out {out}: cannot be written ({err.strerror or type(err).__name__})") from None
