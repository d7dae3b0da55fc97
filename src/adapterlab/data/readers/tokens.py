"""Token-per-line files for tagging tasks: XTREME's token<TAB>tag files and CoNLL-U."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers.base import ReadOptions
from adapterlab.data.readers.text import read_lines
from adapterlab.errors import AdapterlabError


def _read_sentences(path: Path, encoding: str, parse: Callable[[int, str], tuple[str, str] | None]) -> list[Example]:
    """Token-per-line files with a blank line between sentences; `parse` turns a line into
    (token, tag), or None for a line to skip."""
    examples, tokens, tags, start = [], [], [], 1
    for number, line in itertools.chain(read_lines(path, encoding), [(-1, "")]):
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
