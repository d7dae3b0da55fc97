"""GLUE's files in each task's column layout (and MNLI's JSON variants), and XNLI's tsv."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers.base import ReadOptions, to_example
from adapterlab.data.readers.jsonl import first_key, json_lines
from adapterlab.data.readers.tables import TableLayout, read_table
from adapterlab.data.readers.text import read_text_file
from adapterlab.errors import AdapterlabError


def _glue(
    text: str,
    text_pair: str | None,
    label: str,
    indices: tuple[int, int | None, int] | None = None,
    width: int | None = None,
) -> TableLayout:
    """A GLUE task's layout: header names, and (text, pair, label) indices for its files without one."""
    names = {"text": text, "text_pair": text_pair, "label": label}
    by_index = None if indices is None else {k: i for k, i in zip(names, indices) if i is not None}
    return TableLayout(
        {k: v for k, v in names.items() if v is not None},
        indices=by_index,
        width=width,
        header="any",
        unlabeled="GLUE's test files are unlabeled: train and evaluate on train.tsv and dev.tsv",
    )


GLUE_LAYOUTS = {
    "cola": _glue("sentence", None, "label", indices=(3, None, 1), width=4),
    "sst2": _glue("sentence", None, "label", indices=(0, None, 1), width=2),
    "mrpc": _glue("#1 String", "#2 String", "Quality", indices=(3, 4, 0), width=5),
    "stsb": _glue("sentence1", "sentence2", "score", indices=(7, 8, 9), width=10),
    "qqp": _glue("question1", "question2", "is_duplicate", indices=(3, 4, 5), width=6),
    "mnli": _glue("sentence1", "sentence2", "gold_label"),
    "qnli": _glue("question", "sentence", "label"),
    "rte": _glue("sentence1", "sentence2", "label"),
    "wnli": _glue("sentence1", "sentence2", "label"),
}


def read_glue(path: Path, options: ReadOptions) -> list[Example]:
    """GLUE tsv in its column layouts (header or not, BOM or not), plus MNLI's JSON variants.

    A header is recognised by any of the task's column names; GLUE's test files have one
    without the label column, and are refused (they cannot train or score)."""
    task = options.task
    if task is None or task.name not in GLUE_LAYOUTS:
        raise AdapterlabError(
            f"data format 'glue' needs a GLUE task; {getattr(task, 'name', None)!r} is not one of {', '.join(GLUE_LAYOUTS)}"
        )
    if path.suffix.lower() in (".jsonl", ".json"):
        return _read_glue_json(path, options.encoding, options.labels_optional)
    layout = dataclasses.replace(GLUE_LAYOUTS[task.name], where=f" for GLUE {task.name}")
    return read_table(path, layout, options.encoding, labels_optional=options.labels_optional)


def _read_glue_json(path: Path, encoding: str, labels_optional: bool = False) -> list[Example]:
    """MNLI as JSON lines {premise, hypothesis, label} or a JSON object id -> {text_a, text_b, label}."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(read_text_file(path, encoding))
        except json.JSONDecodeError as err:
            raise AdapterlabError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(data, dict):
            raise AdapterlabError(f"{path}: expected a JSON object of id -> {{text_a, text_b, label}}")
        records = [(f"id {key}", value) for key, value in data.items()]
    else:
        records = [(str(number), record) for number, record in json_lines(path, encoding)]
    examples = []
    for where, record in records:
        text = first_key(record, ("premise", "text_a", "sentence1"), path, where)
        pair = first_key(record, ("hypothesis", "text_b", "sentence2"), path, where)
        label = (
            None
            if labels_optional and isinstance(record, dict) and not {"label", "gold_label"} & set(record)
            else first_key(record, ("label", "gold_label"), path, where)
        )
        examples.append(to_example({"text": text, "text_pair": pair, "label": label}, f"{path}:{where}"))
    return examples


def read_xnli(path: Path, options: ReadOptions) -> list[Example]:
    """XNLI tsv: XTREME's `premise<TAB>hypothesis<TAB>label`, or XNLI 1.0 with a header
    (sentence1, sentence2, gold_label)."""
    layout = TableLayout(
        {"text": "sentence1", "text_pair": "sentence2", "label": "gold_label"},
        indices={"text": 0, "text_pair": 1, "label": 2},
        width=3,
        header="all",
    )
    return read_table(path, layout, options.encoding, labels_optional=options.labels_optional)
