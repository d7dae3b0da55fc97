"""Readers from every supported file format into Examples, registered in one table.

Every reader is `(path, ReadOptions) -> list[Example]` and declares the file extensions it
claims, so `auto` chooses one from data; malformed input raises AdapterlabError naming the file
and line. One module per concern:

- text.py: decoding (BOM, CRLF, a bad byte named by line and column), shared by every reader
- base.py: ReadOptions, the Reader entry, FIELDS, and how a row of values becomes an Example
- tables.py (CSV, TSV and their layouts), glue.py (GLUE, XNLI), jsonl.py, folders.py (class
  folders, hyperpartisan XML), tokens.py (XTREME token files, CoNLL-U), hub.py (HF datasets)
- registry.py: READERS, choosing a reader (`auto`), read_examples and the label check
"""

from adapterlab.data.readers.base import FALLBACK_READER, FIELDS, FOLDER, Reader, ReadOptions, to_example
from adapterlab.data.readers.folders import read_class_folders, read_folder, read_hyperpartisan
from adapterlab.data.readers.glue import GLUE_LAYOUTS, read_glue, read_xnli
from adapterlab.data.readers.hub import read_hub
from adapterlab.data.readers.jsonl import read_jsonl
from adapterlab.data.readers.registry import READERS, check_labels, choose_reader, claimed_suffixes, read_examples
from adapterlab.data.readers.tables import TableLayout, default_columns, read_csv, read_table, read_tsv
from adapterlab.data.readers.text import read_lines, read_text, read_text_file
from adapterlab.data.readers.tokens import read_conllu, read_token_file

__all__ = [
    "FALLBACK_READER",
    "FIELDS",
    "FOLDER",
    "GLUE_LAYOUTS",
    "READERS",
    "ReadOptions",
    "Reader",
    "TableLayout",
    "check_labels",
    "choose_reader",
    "claimed_suffixes",
    "default_columns",
    "read_class_folders",
    "read_conllu",
    "read_csv",
    "read_examples",
    "read_folder",
    "read_glue",
    "read_hub",
    "read_hyperpartisan",
    "read_jsonl",
    "read_lines",
    "read_table",
    "read_text",
    "read_text_file",
    "read_token_file",
    "read_tsv",
    "read_xnli",
    "to_example",
]
