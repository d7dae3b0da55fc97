"""What every reader shares: the fields an example has, a reader's options and its
registry entry, and the one way a row of values becomes an Example."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

FIELDS = ("text", "text_pair", "label")
FOLDER = "/"  # in Reader.suffixes: `auto` reads a folder with this reader
FALLBACK_READER = "tsv"  # `auto` reads a file whose extension no reader claims as tab-separated


@dataclass(frozen=True)
class ReadOptions:
    """Everything a reader may need besides the path; each reader uses the fields it needs."""

    task: TaskSpec | None = None  # the task being read (GLUE: which column layout)
    columns: Mapping[str, str] = field(default_factory=dict)  # our field -> key, header name or index (--columns)
    encoding: str = "utf-8"  # text encoding of the files
    split: str | None = None  # hyperpartisan: keep the ids hp-splits.json gives for this split
    labels_optional: bool = False  # a table without its label column is read as unlabelled text (`adapterlab predict`)


@dataclass(frozen=True)
class Reader:
    """One data format: its --format name, its function, and what `auto` chooses it for."""

    name: str
    read: Callable[[Path, ReadOptions], list[Example]]
    help: str  # a few words for --help
    suffixes: tuple[str, ...] = ()  # lower-case extensions `auto` reads with it; FOLDER claims folders
    files: bool = True  # it reads a file
    folders: bool = False  # it reads a folder
    family: str | None = (
        None  # a task's default gives way to a reader of its family that claims the extension (tsv/csv)
    )
    task_layout: bool = False  # its columns come from the task; under `auto` a --columns mapping means another layout


def to_example(values: dict, source: str) -> Example:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise AdapterlabError(f"column mapping: unknown field {sorted(unknown)[0]!r}; allowed: {', '.join(FIELDS)}")
    for name in ("text", "text_pair"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise AdapterlabError(f"{source}: {name} is a {type(value).__name__} ({shorten(value)}); expected a string")
    label = values.get("label")
    if label is not None and not isinstance(label, (str, int, float)):
        raise AdapterlabError(
            f"{source}: label is a {type(label).__name__} ({shorten(label)}); expected a class name or a number"
        )
    return Example(
        text=values.get("text"),
        text_pair=values.get("text_pair"),
        label=None if label is None else _label_text(label),
        source=source,
    )


def _label_text(label) -> str | float:
    if isinstance(label, bool):
        return str(label).lower()
    if isinstance(label, float):
        return label
    return str(label).strip()


def shorten(value: object, limit: int = 60) -> str:
    """repr of a value for a one-line message, cut to `limit` characters (a field can be 1 MB)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"
