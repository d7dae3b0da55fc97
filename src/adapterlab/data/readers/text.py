"""Text files decoded once, the same way for every reader: a UTF-8 BOM dropped, CRLF or LF,
and a bad byte named by its line and column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from adapterlab.errors import AdapterlabError


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
        raise AdapterlabError(
            f"encoding {encoding!r} is not known; pass a Python codec name such as utf-8 or latin-1"
        ) from None
    except UnicodeDecodeError as err:
        number = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise AdapterlabError(
            f"{path}:{number}: undecodable byte 0x{data[err.start]:02x} at column {column} for encoding {encoding}; pass --encoding (e.g. latin-1)"
        ) from None


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, text) of a text file, split on LF with a trailing CR dropped (CRLF files)."""
    for number, line in enumerate(read_text(path, encoding).split("\n"), start=1):
        yield number, line.rstrip("\r")


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    return "\n".join(line for _, line in read_lines(path, encoding))
