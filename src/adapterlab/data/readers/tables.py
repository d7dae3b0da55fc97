"""Delimited tables (CSV, TSV) in a TableLayout: where each field sits, under a header name or
at a column index. The one rule behind the GLUE, generic delimited and XNLI readers."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapterlab.data.example import Example
from adapterlab.data.readers.base import ReadOptions, shorten, to_example
from adapterlab.data.readers.text import read_lines, read_text
from adapterlab.errors import AdapterlabError

# Python's csv refuses fields over 131,072 characters, and one long document is one field.
# 2**31 - 1 is the largest limit that every platform's C long holds.
csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))


@dataclass(frozen=True)
class TableLayout:
    """Where each field sits in a table: under a header name, or at a column index when the first
    row is data. The one rule behind the GLUE, generic delimited and XNLI readers."""

    names: Mapping[str, str]  # field -> header name ({}: the file has no header)
    indices: Mapping[str, int] | None = (
        None  # field -> column index when the first row is data; None: a header is required
    )
    width: int | None = None  # columns per row without a header; None: as many as the first row has
    # the first row is a header when it holds "any" or "all" of `names`, or "always"; "pair": when it
    # holds any of them, and in a two-column header naming one field the other column is the other
    # field (SST-2's `sentence<TAB>label`: a header row must never be read as an example)
    header: Literal["any", "all", "always", "pair"] = "any"
    where: str = ""  # after a missing column's name in messages, e.g. " for GLUE rte"
    # the default positional reading (text then label, no --columns) holds only for rows of this many
    # columns: in a wider table without a header, column 0 is as likely an id (CoLA's source code)
    guessed_width: int | None = None
    unlabeled: str = ""  # advice when only the label column is missing ("": the general message)


def _tsv_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """Non-blank lines split on tabs, and only on tabs: quotes are ordinary text. GLUE and XNLI
    files are unquoted and their sentences hold unbalanced quotes, so a TSV field can hold
    neither a tab nor a line break (use CSV for those)."""
    for number, line in read_lines(path, encoding):
        if line.strip():
            yield number, line.split("\t")


def _csv_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """Non-blank records of a CSV file (RFC 4180: a quoted field may hold commas, doubled quotes
    and line breaks), each with the line it starts on. CRLF or LF; the text is kept verbatim."""
    reader = csv.reader(io.StringIO(read_text(path, encoding), newline=""))
    start = 1
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as err:
        raise AdapterlabError(f"{path}:{start}: not valid CSV ({err})") from None


def _column_count_error(path: Path, number: int, row: list[str], width: int) -> AdapterlabError:
    hint = (
        "; a quoted field there holds a line break: is a quote unbalanced?"
        if any("\n" in field for field in row)
        else ""
    )
    return AdapterlabError(f"{path}:{number}: wrong column count: {len(row)} columns, expected {width}{hint}")


def read_table(
    path: Path, layout: TableLayout, encoding: str = "utf-8", delimiter: str = "\t", labels_optional: bool = False
) -> list[Example]:
    """Examples from a CSV (`delimiter` ",") or TSV file laid out as `layout` says; every row must
    have as many columns as the header (or the first row, or `layout.width`). labels_optional: a
    header without the label column (GLUE's test files) gives unlabelled examples."""
    rows = _csv_rows(path, encoding) if delimiter == "," else _tsv_rows(path, encoding)
    first = next(rows, None)
    if first is None:
        raise AdapterlabError(f"{path}: empty file")
    number, head = first
    if delimiter == "\t" and len(head) > 1 and all(len(f) > 1 and f[0] == f[-1] == '"' for f in map(str.strip, head)):
        raise AdapterlabError(
            f"{path}:{number}: every field is in double quotes, and a TSV is read as GLUE ships it, without "
            "quoting (a quote is part of the text): save the file as .csv (quoted fields are read there) or drop the quotes"
        )
    names = [name.strip() for name in head]
    layout, is_header = _header_layout(layout, names)
    if is_header:
        index, width = _header_index(path, number, names, layout, labels_optional), len(names)
        body = rows
    elif layout.indices is not None:
        index, width = _column_index(path, number, head, layout, delimiter)
        body = itertools.chain([first], rows)
    else:
        raise AdapterlabError(
            f"{path}:{number}: expected a header with columns {', '.join(layout.names.values())}{layout.where}"
        )
    examples = []
    for number, row in body:
        if len(row) != width:
            raise _column_count_error(path, number, row, width)
        examples.append(to_example({name: row[i] for name, i in index.items()}, f"{path}:{number}"))
    return examples


def _header_layout(layout: TableLayout, names: list[str]) -> tuple[TableLayout, bool]:
    """Whether the first row (its stripped `names`) is a header, as layout.header says, and the
    layout to read it with: in a "pair" header of two columns that names one field, the other
    column is the other field."""
    wanted = list(layout.names.values())
    present = [c for c in wanted if c in names]
    if layout.header == "always":
        is_header = bool(wanted)
    elif layout.header == "all":
        is_header = bool(wanted) and len(present) == len(wanted)
    else:
        is_header = bool(present)
    if is_header and layout.header == "pair" and len(wanted) == len(names) == 2 and len(present) == 1:
        other = next(name for name in names if name not in wanted)
        layout = dataclasses.replace(
            layout, names={k: (other if v not in names else v) for k, v in layout.names.items()}
        )
    return layout, is_header


def _header_index(
    path: Path, number: int, names: list[str], layout: TableLayout, labels_optional: bool
) -> dict[str, int]:
    """field -> column index under a header; a missing column is an error (the label column alone
    may be missing when labels_optional: unlabelled examples)."""
    missing = [c for c in layout.names.values() if c not in names]
    if labels_optional and missing == [layout.names.get("label")]:
        layout = dataclasses.replace(layout, names={k: v for k, v in layout.names.items() if k != "label"})
        missing = []
    if missing and layout.unlabeled and missing == [layout.names.get("label")]:
        raise AdapterlabError(
            f"{path}:{number}: no label column {missing[0]!r} (columns are {shorten(', '.join(names))}); {layout.unlabeled}"
        )
    if missing:
        raise AdapterlabError(
            f"{path}:{number}: header has no column {shorten(missing[0])}{layout.where}; columns are {shorten(', '.join(names))}"
        )
    return {name: names.index(column) for name, column in layout.names.items()}


def _column_index(
    path: Path, number: int, head: list[str], layout: TableLayout, delimiter: str
) -> tuple[dict[str, int], int]:
    """(field -> column index, columns per row) of a table without a header (layout.indices)."""
    index = dict(layout.indices or {})
    width = layout.width if layout.width is not None else len(head)
    if layout.guessed_width is not None and width > layout.guessed_width:
        kind = "comma" if delimiter == "," else "tab"
        raise AdapterlabError(
            f"{path}:{number}: {width} {kind}-separated columns and no header naming text and label (first row: "
            f"{shorten(', '.join(head))}); say which column is which: --columns text=COLUMN,label=COLUMN "
            "(header names, or column numbers counting from 0)"
        )
    name, column = max(index.items(), key=lambda item: item[1])
    if column >= width:
        kind = "comma" if delimiter == "," else "tab"
        raise AdapterlabError(
            f"{path}:{number}: {width} column(s) ({kind}-separated), but {name} is read from column {column} (counting from 0); "
            f"check the delimiter or the column mapping"
        )
    return index, width


def read_csv(path: Path, options: ReadOptions) -> list[Example]:
    """Comma-separated values, whatever the file's extension (see _delimited_layout). Parsed as
    RFC 4180 over the whole file, so a quoted field may hold commas, quotes and line breaks."""
    return read_table(
        path,
        _delimited_layout(options.columns),
        options.encoding,
        delimiter=",",
        labels_optional=options.labels_optional,
    )


def read_tsv(path: Path, options: ReadOptions) -> list[Example]:
    """Tab-separated values, whatever the file's extension (see _delimited_layout). One record
    per line split on tabs only, quotes being ordinary text (a stray quote in a sentence is
    common, quoted TSV is rare)."""
    return read_table(
        path,
        _delimited_layout(options.columns),
        options.encoding,
        delimiter="\t",
        labels_optional=options.labels_optional,
    )


def _delimited_layout(columns: Mapping[str, str]) -> TableLayout:
    """With a header, `columns` maps our fields to column names (default text, label); without
    one (integer mapping, or no 'text' and 'label' header), columns are indices, by default
    text=0 and label=1, and then only in a two-column table (a wider one must say which is which)."""
    if not columns:
        return TableLayout(
            {"text": "text", "label": "label"},
            indices={"text": 0, "label": 1},
            header="pair",
            where=" (give --columns text=COLUMN,label=COLUMN)",
            guessed_width=2,
        )
    if all(str(column).isdigit() for column in columns.values()):
        return TableLayout({}, indices={name: int(column) for name, column in columns.items()})
    return TableLayout(dict(columns), header="always")


def default_columns(names) -> dict[str, str]:
    """{field: column} of a table whose columns are `names`, by the names GLUE and other Hub
    datasets use: a known pair of text columns, else sentence or text; and label."""
    names = set(names)
    pairs = [
        ("sentence1", "sentence2"),
        ("premise", "hypothesis"),
        ("question1", "question2"),
        ("question", "sentence"),
    ]
    pair = next((p for p in pairs if set(p) <= names), None)
    mapping = {"text": pair[0] if pair else ("sentence" if "sentence" in names else "text"), "label": "label"}
    if pair:
        mapping["text_pair"] = pair[1]
    return mapping
