"""Data given in memory (a `datasets.Dataset`, or a list of dicts) as a file the readers read,
for the Python training API. Each split is written once into a folder, named by the sha256 of
its content, so the same data is the same file: a killed run resumes, a study compares data by
content, and nothing is written twice. Sentence tasks become JSON lines ({text, text_pair,
label}), token tasks `token<TAB>tag` lines (the XTREME reader's)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from adapterlab.data.example import Example
from adapterlab.data.readers import check_labels, default_columns, to_example
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

TAG_COLUMNS = ("tags", "ner_tags", "pos_tags")  # a token dataset's tag column, by the names Hub datasets use


def in_memory(data: Any) -> bool:
    """Data given as a Dataset or a list of records rather than as a path."""
    return data is not None and not isinstance(data, (str, os.PathLike))


def write_split(
    data: Any, spec: TaskSpec, split: str, columns: dict[str, str], folder: Path
) -> tuple[Path, str, dict[str, str]]:
    """(file, its data format, its column mapping) of one split given in memory, checked first
    (every label in the task's set, texts are strings): an error names the split and the record."""
    examples = examples_of(data, spec, split, columns)
    check_labels(examples, spec)
    if spec.kind == "token":
        text = "".join("".join(f"{token}\t{tag}\n" for token, tag in zip(e.tokens, e.tags)) + "\n" for e in examples)
        suffix, fmt, mapping = ".tsv", "xtreme-tokens", {}
    else:
        pair = any(e.text_pair is not None for e in examples)
        text = "".join(
            json.dumps({"text": e.text, **({"text_pair": e.text_pair} if pair else {}), "label": e.label}) + "\n"
            for e in examples
        )
        suffix, fmt, mapping = ".jsonl", "jsonl", ({"text_pair": "text_pair"} if pair else {})
    path = Path(folder) / f"{split}-{hashlib.sha256(text.encode()).hexdigest()[:20]}{suffix}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    return path, fmt, mapping


def examples_of(data: Any, spec: TaskSpec, split: str, columns: dict[str, str]) -> list[Example]:
    """The examples of a `datasets.Dataset` or a list of dicts. Class-label integers of a Dataset
    become their names (as `--hub` reads them); rows whose label is -1 (GLUE's unlabelled test
    rows) are left out."""
    if hasattr(data, "column_names") and hasattr(data, "features"):
        names, features = list(data.column_names), data.features
    elif isinstance(data, (list, tuple)) and all(isinstance(row, dict) for row in data):
        names, features = list(dict.fromkeys(key for row in data for key in row)), {}
    else:
        raise AdapterlabError(
            f"{split}: expected a file or folder path, a datasets.Dataset or a list of dicts; got {type(data).__name__}"
        )
    if not len(data):
        raise AdapterlabError(f"{split}: no examples (empty split)")
    if spec.kind == "token":
        tokens = columns.get("text", "tokens")
        tags = columns.get("label") or next((c for c in TAG_COLUMNS if c in names), "tags")
        mapping = {"tokens": tokens, "tags": tags}
    else:
        mapping = dict(columns) or default_columns(names)
    missing = [column for column in mapping.values() if column not in names]
    if missing:
        raise AdapterlabError(
            f"{split}: no column {missing[0]!r} (columns: {', '.join(names)}); name the columns with "
            "columns={'text': ..., 'label': ...}"
        )
    label_names = _names(features.get(mapping.get("label") or mapping.get("tags", "")))
    examples = []
    for index, row in enumerate(data):
        where = f"{split}[{index}]"
        if spec.kind == "token":
            examples.append(_token_example(row[mapping["tokens"]], row[mapping["tags"]], label_names, where))
            continue
        values = {field: row[column] for field, column in mapping.items()}
        if label_names is not None and isinstance(values.get("label"), int):
            if values["label"] < 0:
                continue
            values["label"] = label_names[values["label"]]
        examples.append(to_example(values, where))
    return examples


def _names(feature) -> list[str] | None:
    """A ClassLabel's names, or those of a Sequence of ClassLabel (token tags)."""
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else None


def _token_example(tokens, tags, names: list[str] | None, where: str) -> Example:
    if (
        not isinstance(tokens, (list, tuple))
        or not isinstance(tags, (list, tuple))
        or len(tokens) != len(tags)
        or not tokens
    ):
        raise AdapterlabError(f"{where}: a token task needs equally long, non-empty lists of tokens and tags")
    tags = [names[t] if names is not None and isinstance(t, int) else str(t) for t in tags]
    for token in tokens:
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\t\n\r"):
            raise AdapterlabError(f"{where}: token {token!r}: tokens are non-empty strings without tabs or line breaks")
    return Example(tokens=tuple(tokens), tags=tuple(tags), source=where)
