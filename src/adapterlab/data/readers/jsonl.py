"""JSON lines: one JSON object per line, its keys mapped to an example's fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers.base import ReadOptions, to_example
from adapterlab.data.readers.text import read_lines
from adapterlab.errors import AdapterlabError


def json_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, object]]:
    for number, line in read_lines(path, encoding):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise AdapterlabError(f"{path}:{number}: not valid JSON ({err.msg})") from None


def first_key(record: object, keys: tuple[str, ...], path: Path, where: str):
    if isinstance(record, dict):
        for key in keys:
            if key in record:
                return record[key]
    raise AdapterlabError(f"{path}:{where}: missing field, expected one of {', '.join(keys)}")


def read_jsonl(path: Path, options: ReadOptions) -> list[Example]:
    """JSON lines, by default {text, label} (the TAE tasks); `options.columns` maps our fields to keys."""
    mapping = {"text": "text", "label": "label", **options.columns}
    examples = []
    for number, record in json_lines(path, options.encoding):
        if not isinstance(record, dict):
            raise AdapterlabError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        values = {}
        for name, key in mapping.items():
            if key not in record:
                if name == "label" and options.labels_optional:  # text to predict: no label to read
                    continue
                raise AdapterlabError(f"{path}:{number}: missing field {key!r} (mapped to {name})")
            values[name] = record[key]
        examples.append(to_example(values, f"{path}:{number}"))
    return examples
