"""Readers from every supported file format into Examples, registered in one table.

Every reader is `(path, ReadOptions) -> list[Example]` and declares the file extensions it
claims, so `auto` chooses one from data; malformed input raises AdapterlabError naming the file
and line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal, Mapping

from adapterlab.data.example import Example
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

FIELDS = ("text", "text_pair", "label")

# Python's csv refuses fields over 131,072 characters, and one long document is one field.
# 2**31 - 1 is the largest limit that every platform's C long holds.
csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))

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
    family: str | None = None  # a task's default gives way to a reader of its family that claims the extension (tsv/csv)
    task_layout: bool = False  # its columns come from the task; under `auto` a --columns mapping means another layout


@dataclass(frozen=True)
class TableLayout:
    """Where each field sits in a table: under a header name, or at a column index when the first
    row is data. The one rule behind the GLUE, generic delimited and XNLI readers."""

    names: Mapping[str, str]  # field -> header name ({}: the file has no header)
    indices: Mapping[str, int] | None = None  # field -> column index when the first row is data; None: a header is required
    width: int | None = None  # columns per row without a header; None: as many as the first row has
    # the first row is a header when it holds "any" or "all" of `names`, or "always"; "pair": when it
    # holds any of them, and in a two-column header naming one field the other column is the other
    # field (SST-2's `sentence<TAB>label`: a header row must never be read as an example)
    header: Literal["any", "all", "always", "pair"] = "any"
    where: str = ""  # after a missing column's name in messages, e.g. " for GLUE rte"
    unlabeled: str = ""  # advice when only the label column is missing ("": the general message)


def _glue(text: str, text_pair: str | None, label: str, indices: tuple[int, int | None, int] | None = None, width: int | None = None) -> TableLayout:
    """A GLUE task's layout: header names, and (text, pair, label) indices for its files without one."""
    names = {"text": text, "text_pair": text_pair, "label": label}
    by_index = None if indices is None else {k: i for k, i in zip(names, indices) if i is not None}
    return TableLayout({k: v for k, v in names.items() if v is not None}, indices=by_index, width=width, header="any",
                       unlabeled="GLUE's test files are unlabeled: train and evaluate on train.tsv and dev.tsv")


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


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The decoded text of a file, line breaks untouched; a UTF-8 BOM is dropped, a bad byte
    names its line and column."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AdapterlabError(f"{path}: cannot read ({err.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode(encoding)
    except LookupError:
        raise AdapterlabError(f"encoding {encoding!r} is not known; pass a Python codec name such as utf-8 or latin-1") from None
    except UnicodeDecodeError as err:
        number = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise AdapterlabError(f"{path}:{number}: undecodable byte 0x{data[err.start]:02x} at column {column} for encoding {encoding}; pass --encoding (e.g. latin-1)") from None


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, text) of a text file, split on LF with a trailing CR dropped (CRLF files)."""
    for number, line in enumerate(read_text(path, encoding).split("\n"), start=1):
        yield number, line.rstrip("\r")


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    return "\n".join(line for _, line in read_lines(path, encoding))


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
    hint = "; a quoted field there holds a line break: is a quote unbalanced?" if any("\n" in field for field in row) else ""
    return AdapterlabError(f"{path}:{number}: wrong column count: {len(row)} columns, expected {width}{hint}")


def _short(value: object, limit: int = 60) -> str:
    """repr of a value for a one-line message, cut to `limit` characters (a field can be 1 MB)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(str(value))} characters)"


def read_table(path: Path, layout: TableLayout, encoding: str = "utf-8", delimiter: str = "\t", labels_optional: bool = False) -> list[Example]:
    """Examples from a CSV (`delimiter` ",") or TSV file laid out as `layout` says; every row must
    have as many columns as the header (or the first row, or `layout.width`). labels_optional: a
    header without the label column (GLUE's test files) gives unlabelled examples."""
    rows = _csv_rows(path, encoding) if delimiter == "," else _tsv_rows(path, encoding)
    first = next(rows, None)
    if first is None:
        raise AdapterlabError(f"{path}: empty file")
    number, head = first
    names = [name.strip() for name in head]
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
        layout = dataclasses.replace(layout, names={k: (other if v not in names else v) for k, v in layout.names.items()})
        wanted = list(layout.names.values())
    if is_header:
        missing = [c for c in wanted if c not in names]
        if labels_optional and missing == [layout.names.get("label")]:
            layout = dataclasses.replace(layout, names={k: v for k, v in layout.names.items() if k != "label"})
            missing = []
        if missing and layout.unlabeled and missing == [layout.names.get("label")]:
            raise AdapterlabError(f"{path}:{number}: no label column {missing[0]!r} (columns are {_short(', '.join(names))}); {layout.unlabeled}")
        if missing:
            raise AdapterlabError(f"{path}:{number}: header has no column {_short(missing[0])}{layout.where}; columns are {_short(', '.join(names))}")
        index = {name: names.index(column) for name, column in layout.names.items()}
        width = len(names)
        body = rows
    elif layout.indices is not None:
        index = dict(layout.indices)
        width = layout.width if layout.width is not None else len(head)
        name, column = max(index.items(), key=lambda item: item[1])
        if column >= width:
            kind = "comma" if delimiter == "," else "tab"
            raise AdapterlabError(f"{path}:{number}: {width} column(s) ({kind}-separated), but {name} is read from column {column} (counting from 0); "
                                  f"check the delimiter or the column mapping")
        body = _chain([first], rows)
    else:
        raise AdapterlabError(f"{path}:{number}: expected a header with columns {', '.join(wanted)}{layout.where}")
    examples = []
    for number, row in body:
        if len(row) != width:
            raise _column_count_error(path, number, row, width)
        examples.append(_example({name: row[i] for name, i in index.items()}, f"{path}:{number}"))
    return examples


def read_glue(path: Path, options: ReadOptions) -> list[Example]:
    """GLUE tsv in its column layouts (header or not, BOM or not), plus MNLI's JSON variants.

    A header is recognised by any of the task's column names; GLUE's test files have one
    without the label column, and are refused (they cannot train or score)."""
    task = options.task
    if task is None or task.name not in GLUE_LAYOUTS:
        raise AdapterlabError(f"data format 'glue' needs a GLUE task; {getattr(task, 'name', None)!r} is not one of {', '.join(GLUE_LAYOUTS)}")
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
        records = [(str(number), record) for number, record in _json_lines(path, encoding)]
    examples = []
    for where, record in records:
        text = _first_key(record, ("premise", "text_a", "sentence1"), path, where)
        pair = _first_key(record, ("hypothesis", "text_b", "sentence2"), path, where)
        label = None if labels_optional and isinstance(record, dict) and not {"label", "gold_label"} & set(record) else \
            _first_key(record, ("label", "gold_label"), path, where)
        examples.append(_example({"text": text, "text_pair": pair, "label": label}, f"{path}:{where}"))
    return examples


def _first_key(record: object, keys: tuple[str, ...], path: Path, where: str):
    if isinstance(record, dict):
        for key in keys:
            if key in record:
                return record[key]
    raise AdapterlabError(f"{path}:{where}: missing field, expected one of {', '.join(keys)}")


def _json_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, object]]:
    for number, line in read_lines(path, encoding):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise AdapterlabError(f"{path}:{number}: not valid JSON ({err.msg})") from None


def read_jsonl(path: Path, options: ReadOptions) -> list[Example]:
    """JSON lines, by default {text, label} (the TAE tasks); `options.columns` maps our fields to keys."""
    mapping = {"text": "text", "label": "label", **options.columns}
    examples = []
    for number, record in _json_lines(path, options.encoding):
        if not isinstance(record, dict):
            raise AdapterlabError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        values = {}
        for name, key in mapping.items():
            if key not in record:
                if name == "label" and options.labels_optional:  # text to predict: no label to read
                    continue
                raise AdapterlabError(f"{path}:{number}: missing field {key!r} (mapped to {name})")
            values[name] = record[key]
        examples.append(_example(values, f"{path}:{number}"))
    return examples


def read_csv(path: Path, options: ReadOptions) -> list[Example]:
    """Comma-separated values, whatever the file's extension (see _delimited_layout). Parsed as
    RFC 4180 over the whole file, so a quoted field may hold commas, quotes and line breaks."""
    return read_table(path, _delimited_layout(options.columns), options.encoding, delimiter=",", labels_optional=options.labels_optional)


def read_tsv(path: Path, options: ReadOptions) -> list[Example]:
    """Tab-separated values, whatever the file's extension (see _delimited_layout). One record
    per line split on tabs only, quotes being ordinary text (a stray quote in a sentence is
    common, quoted TSV is rare)."""
    return read_table(path, _delimited_layout(options.columns), options.encoding, delimiter="\t", labels_optional=options.labels_optional)


def _delimited_layout(columns: Mapping[str, str]) -> TableLayout:
    """With a header, `columns` maps our fields to column names (default text, label); without
    one (integer mapping, or no 'text' and 'label' header), columns are indices, by default
    text=0 and label=1."""
    if not columns:
        return TableLayout({"text": "text", "label": "label"}, indices={"text": 0, "label": 1}, header="pair",
                           where=" (give --columns text=COLUMN,label=COLUMN)")
    if all(str(column).isdigit() for column in columns.values()):
        return TableLayout({}, indices={name: int(column) for name, column in columns.items()})
    return TableLayout(dict(columns), header="always")


def _example(values: dict, source: str) -> Example:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise AdapterlabError(f"column mapping: unknown field {sorted(unknown)[0]!r}; allowed: {', '.join(FIELDS)}")
    for name in ("text", "text_pair"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise AdapterlabError(f"{source}: {name} is a {type(value).__name__} ({_short(value)}); expected a string")
    label = values.get("label")
    if label is not None and not isinstance(label, (str, int, float)):
        raise AdapterlabError(f"{source}: label is a {type(label).__name__} ({_short(label)}); expected a class name or a number")
    return Example(text=values.get("text"), text_pair=values.get("text_pair"), label=None if label is None else _label_text(label), source=source)


def _label_text(label) -> str | float:
    if isinstance(label, bool):
        return str(label).lower()
    if isinstance(label, float):
        return label
    return str(label).strip()


def read_class_folders(path: Path, options: ReadOptions) -> list[Example]:
    """A folder with one subfolder per class, one text file per example (e.g. BBC News)."""
    encoding = options.encoding
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not classes:
        files = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        # a data folder of split files (train.tsv, dev.tsv, ...) where one file is expected: name them
        hint = f"; it holds files ({', '.join(files[:4])}{', ...' if len(files) > 4 else ''}): give one of them" if files else ""
        raise AdapterlabError(f"{path}: no class subfolders; expected one file, or a folder with one subfolder per label holding text files{hint}")
    examples = []
    for folder in classes:
        for file in sorted(folder.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                examples.append(Example(text=read_text_file(file, encoding).strip(), label=folder.name, source=str(file)))
    return examples


def read_folder(path: Path, encoding: str = "utf-8") -> list[Example]:
    """read_class_folders for callers that have only an encoding."""
    return read_class_folders(path, ReadOptions(encoding=encoding))


def read_hyperpartisan(path: Path, options: ReadOptions) -> list[Example]:
    """SemEval-2019 Task 4 by-article XML: the articles file and its ground-truth file, found in
    one folder; with `options.split`, only the ids that hp-splits.json in that folder gives for it."""
    split, encoding = options.split, options.encoding
    folder = path if path.is_dir() else path.parent
    articles = _one(folder, "articles-*.xml")
    truth = _one(folder, "ground-truth-*.xml")
    labels = {a.get("id"): a.get("hyperpartisan") for a in _parse_xml(truth, encoding).iter("article")}
    keep = None
    if split is not None:
        splits_file = folder / "hp-splits.json"
        try:
            splits = json.loads(read_text_file(splits_file, encoding))
        except json.JSONDecodeError as err:
            raise AdapterlabError(f"{splits_file}:{err.lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(splits, dict) or not all(isinstance(ids, list) for ids in splits.values()):
            raise AdapterlabError(f"{splits_file}: expected a JSON object of split name -> list of article ids")
        if split not in splits:
            raise AdapterlabError(f"{splits_file}: no split {split!r}; it has {', '.join(splits)}")
        keep = {_article_number(i, splits_file) for i in splits[split]}
    examples = []
    for article in _parse_xml(articles, encoding).iter("article"):
        article_id = article.get("id")
        if keep is not None and _article_number(article_id, articles) not in keep:
            continue
        if article_id not in labels:
            raise AdapterlabError(f"{truth}: no label for article id {article_id}")
        text = " ".join(" ".join(article.itertext()).split())
        title = article.get("title") or ""
        examples.append(Example(text=f"{title}. {text}" if title else text, label=labels[article_id], source=f"{articles}:id={article_id}"))
    return examples


def _article_number(article_id: object, where: Path) -> int:
    if isinstance(article_id, bool) or not isinstance(article_id, (int, str)) or not str(article_id).strip().isdigit():
        raise AdapterlabError(f"{where}: article id {_short(article_id)} is not a number; ids are digits such as 0000005")
    return int(article_id)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise AdapterlabError(f"{folder}: expected exactly one file matching {pattern}, found {len(found)}")
    return found[0]


def _parse_xml(path: Path, encoding: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(read_text_file(path, encoding))
    except ElementTree.ParseError as err:
        raise AdapterlabError(f"{path}:{err.position[0]}: not well-formed XML ({err})") from None


def _read_sentences(path: Path, encoding: str, parse: Callable[[int, str], tuple[str, str] | None]) -> list[Example]:
    """Token-per-line files with a blank line between sentences; `parse` turns a line into
    (token, tag), or None for a line to skip."""
    examples, tokens, tags, start = [], [], [], 1
    for number, line in _chain(read_lines(path, encoding), [(-1, "")]):
        if not line.strip():
            if tokens:
                examples.append(Example(tokens=tuple(tokens), tags=tuple(tags), source=f"{path}:{start}"))
            tokens, tags, start = [], [], number + 1
            continue
        pair = parse(number, line)
        if pair is not None:
            tokens.append(pair[0])
            tags.append(pair[1])
    return examples


def read_token_file(path: Path, options: ReadOptions) -> list[Example]:
    """XTREME token files (UD-POS, PAN-X): `token<TAB>tag` per line, a blank line between sentences."""

    def parse(number: int, line: str) -> tuple[str, str]:
        parts = line.split("\t")
        if len(parts) != 2:
            raise AdapterlabError(f"{path}:{number}: wrong column count: {len(parts)} columns, expected 2 (token, tag)")
        return parts[0], parts[1].strip()

    return _read_sentences(path, options.encoding, parse)


def read_conllu(path: Path, options: ReadOptions) -> list[Example]:
    """CoNLL-U: FORM (column 2) and UPOS (column 4) of every syntactic word; comments,
    multi-word token ranges (1-2) and empty nodes (1.1) are skipped."""

    def parse(number: int, line: str) -> tuple[str, str] | None:
        if line.startswith("#"):
            return None
        parts = line.split("\t")
        if len(parts) != 10:
            raise AdapterlabError(f"{path}:{number}: wrong column count: {len(parts)} columns, expected 10 (CoNLL-U)")
        if "-" in parts[0] or "." in parts[0]:
            return None
        return parts[1], parts[3]

    return _read_sentences(path, options.encoding, parse)


def read_xnli(path: Path, options: ReadOptions) -> list[Example]:
    """XNLI tsv: XTREME's `premise<TAB>hypothesis<TAB>label`, or XNLI 1.0 with a header
    (sentence1, sentence2, gold_label)."""
    layout = TableLayout({"text": "sentence1", "text_pair": "sentence2", "label": "gold_label"},
                         indices={"text": 0, "text_pair": 1, "label": 2}, width=3, header="all")
    return read_table(path, layout, options.encoding, labels_optional=options.labels_optional)


def read_hub(name: str, split: str, columns: dict[str, str] | None = None, data_files: dict[str, str] | None = None) -> list[Example]:
    """A Hugging Face `datasets` dataset: a hub name such as "glue/rte", or a builder ("csv",
    "json") with local data_files. Class-label integers become their names."""
    try:
        import datasets
    except ImportError:
        raise AdapterlabError("hub datasets need the `datasets` package: pip install 'adapterlab[hub]'") from None
    builder, _, config = name.partition("/")
    try:
        dataset = datasets.load_dataset(builder, config or None, split=split, data_files=data_files)
    except Exception as err:  # datasets raises many types; the user needs one line
        raise AdapterlabError(f"dataset {name!r} split {split!r} could not be loaded: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    mapping = dict(columns or {}) or default_columns(dataset.column_names)
    for column in mapping.values():
        if column not in dataset.column_names:
            raise AdapterlabError(f"dataset {name!r}: no column {column!r}; columns are {', '.join(dataset.column_names)}")
    label_feature = dataset.features.get(mapping.get("label", ""))
    names_of = getattr(label_feature, "names", None)
    examples = []
    for index, record in enumerate(dataset):
        values = {field: record[column] for field, column in mapping.items()}
        if names_of is not None and isinstance(values.get("label"), int):
            if values["label"] < 0:
                continue  # GLUE test splits carry -1: no label
            values["label"] = names_of[values["label"]]
        examples.append(_example(values, f"{name}[{split}]:{index}"))
    return examples


def default_columns(names) -> dict[str, str]:
    """{field: column} of a table whose columns are `names`, by the names GLUE and other Hub
    datasets use: a known pair of text columns, else sentence or text; and label."""
    names = set(names)
    pairs = [("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"), ("question", "sentence")]
    pair = next((p for p in pairs if set(p) <= names), None)
    mapping = {"text": pair[0] if pair else ("sentence" if "sentence" in names else "text"), "label": "label"}
    if pair:
        mapping["text_pair"] = pair[1]
    return mapping


def _chain(*parts):
    for part in parts:
        yield from part


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


def read_examples(path: str | Path, spec: TaskSpec, fmt: str = "auto", columns: Mapping[str, str] | None = None, split: str | None = None,
                  encoding: str = "utf-8", labels_optional: bool = False) -> list[Example]:
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
    examples = reader.read(path, ReadOptions(task=spec, columns=dict(columns or {}), encoding=encoding, split=split, labels_optional=labels_optional))
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
            if example.text is None and example.tokens is None or (spec.pair and example.tokens is None and example.text_pair is None):
                raise AdapterlabError(f"{example.source}: missing {'text' if example.text is None else 'text_pair'}")
            continue
        if spec.kind == "token":
            bad = [t for t in example.tags or () if spec.labels and t not in spec.labels]
            if bad:
                raise AdapterlabError(f"{example.source}: tag {_short(bad[0])} is not in the label set of {spec.name} ({', '.join(spec.labels)})")
            continue
        if example.text is None or example.label is None or (spec.pair and example.text_pair is None):
            raise AdapterlabError(f"{example.source}: missing {'text' if example.text is None else 'label' if example.label is None else 'text_pair'}")
        if spec.kind == "regression":
            try:
                value = float(example.label)
            except (TypeError, ValueError):
                raise AdapterlabError(f"{example.source}: label {_short(example.label)} is not a number ({spec.name} is a regression task)") from None
            if not math.isfinite(value):
                raise AdapterlabError(f"{example.source}: label {_short(example.label)} is not a finite number ({spec.name} is a regression task)")
        elif spec.labels is not None and example.label not in spec.labels:
            raise AdapterlabError(f"{example.source}: label {_short(example.label)} is not in the label set of {spec.name} ({', '.join(spec.labels)})")
