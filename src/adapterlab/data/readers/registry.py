"""The READERS table (one entry per --format name) and the entry every caller uses:
read_examples chooses a reader (`auto`: by task and extension), reads, and checks the labels."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers.base import FALLBACK_READER, FOLDER, Reader, ReadOptions, shorten
from adapterlab.data.readers.folders import read_class_folders, read_hyperpartisan
from adapterlab.data.readers.glue import read_glue, read_xnli
from adapterlab.data.readers.jsonl import read_jsonl
from adapterlab.data.readers.tables import read_csv, read_tsv
from adapterlab.data.readers.tokens import read_conllu, read_token_file
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in (
        Reader("glue", read_glue, "GLUE tsv in its task's layout, or MNLI JSON", task_layout=True),
        Reader("jsonl", read_jsonl, "JSON lines", suffixes=(".jsonl", ".json", ".txt")),
        Reader("tsv", read_tsv, "tab-separated", suffixes=(".tsv",), family="delimited"),
        Reader("csv", read_csv, "comma-separated", suffixes=(".csv",), family="delimited"),
        Reader("folder", read_class_folders, "one subfolder per label", suffixes=(FOLDER,), files=False, folders=True),
        Reader("hyperpartisan", read_hyperpartisan, "SemEval-2019 Task 4 XML", folders=True),
        Reader("xtreme-tokens", read_token_file, "token<TAB>tag lines"),
        Reader("conllu", read_conllu, "CoNLL-U", suffixes=(".conllu",)),
        Reader("xnli", read_xnli, "XNLI tsv"),
    )
}


def claimed_suffixes() -> tuple[str, ...]:
    """Every file extension a reader claims, the fallback reader's first (so a data folder's
    train.tsv is found before its train.jsonl)."""
    order = [READERS[FALLBACK_READER], *(r for r in READERS.values() if r.name != FALLBACK_READER)]
    return tuple(suffix for reader in order for suffix in reader.suffixes if suffix != FOLDER)


def choose_reader(path: Path, spec: TaskSpec, fmt: str = "auto", columns: Mapping[str, str] | None = None) -> Reader:
    """The reader `fmt` names. Under "auto": the task's own reader when it reads this kind of
    path (and no --columns mapping replaces a task's layout), unless a reader of its family
    claims the extension; otherwise the reader that claims the extension (or folders), and
    FALLBACK_READER when none does."""
    if fmt != "auto":
        if fmt not in READERS:
            raise AdapterlabError(f"data format {fmt!r} is not known; allowed: auto, {', '.join(READERS)}")
        return READERS[fmt]
    is_folder = path.is_dir()
    claim = FOLDER if is_folder else path.suffix.lower()
    by_suffix = next((r for r in READERS.values() if claim in r.suffixes), READERS[FALLBACK_READER])
    own = READERS.get(spec.reader)
    if own is None or not (own.folders if is_folder else own.files) or (columns and own.task_layout):
        return by_suffix
    if own.family is not None and own.family == by_suffix.family:
        return by_suffix
    return own


def read_examples(
    path: str | Path,
    spec: TaskSpec,
    fmt: str = "auto",
    columns: Mapping[str, str] | None = None,
    split: str | None = None,
    encoding: str = "utf-8",
    labels_optional: bool = False,
) -> list[Example]:
    """Read one split of task `spec` from `path` with reader `fmt` ("auto": see choose_reader),
    then check it is not empty and that every label is in the task's label set.
    labels_optional: tables may lack their label column (text to predict)."""
    path = Path(path)
    if not path.exists():
        raise AdapterlabError(f"{path}: file not found")
    reader = choose_reader(path, spec, fmt, columns)
    if path.is_dir() and not reader.folders:
        raise AdapterlabError(f"{path}: a folder; data format {reader.name!r} reads a file")
    if not path.is_dir() and not reader.files:
        raise AdapterlabError(f"{path}: a file; data format {reader.name!r} reads a folder ({reader.help})")
    examples = reader.read(
        path,
        ReadOptions(
            task=spec, columns=dict(columns or {}), encoding=encoding, split=split, labels_optional=labels_optional
        ),
    )
    if not examples:
        raise AdapterlabError(f"{path}: no examples (empty split)")
    check_labels(examples, spec, labels_optional)
    return examples


def check_labels(examples: list[Example], spec: TaskSpec, labels_optional: bool = False) -> None:
    """Every label must be in the task's label set (regression: a number); labels_optional: an
    example may have none (text to predict)."""
    if spec.kind == "mlm":
        return
    for example in examples:
        if labels_optional and example.label is None and example.tags is None:
            if (
                example.text is None
                and example.tokens is None
                or (spec.pair and example.tokens is None and example.text_pair is None)
            ):
                raise AdapterlabError(f"{example.source}: missing {'text' if example.text is None else 'text_pair'}")
            continue
        if spec.kind == "token":
            bad = [t for t in example.tags or () if spec.labels and t not in spec.labels]
            if bad:
                raise AdapterlabError(
                    f"{example.source}: tag {shorten(bad[0])} is not in the label set of {spec.name} ({', '.join(spec.labels)})"
                )
            continue
        if example.text is None or example.label is None or (spec.pair and example.text_pair is None):
            raise AdapterlabError(
                f"{example.source}: missing {'text' if example.text is None else 'label' if example.label is None else 'text_pair'}"
            )
        if spec.kind == "regression":
            try:
                value = float(example.label)
            except (TypeError, ValueError):
                raise AdapterlabError(
                    f"{example.source}: label {shorten(example.label)} is not a number ({spec.name} is a regression task)"
                ) from None
            if not math.isfinite(value):
                raise AdapterlabError(
                    f"{example.source}: label {shorten(example.label)} is not a finite number ({spec.name} is a regression task)"
                )
        elif spec.labels is not None and example.label not in spec.labels:
            raise AdapterlabError(
                f"{example.source}: label {shorten(example.label)} is not in the label set of {spec.name} ({', '.join(spec.labels)})"
            )
