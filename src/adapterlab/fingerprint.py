"""Content fingerprints of data and backbone files: what makes a finished run's recorded inputs
comparable with a plan's (recorded_config.py), and a cache key for derived files."""

from __future__ import annotations

import hashlib
from pathlib import Path


def fingerprint(paths: list[str | None], large_by_size: bool = False) -> str:
    """sha256 over the files behind `paths` (a folder: every file below it, by relative name).
    Hub names and absent paths enter by name, so a hub dataset or model is identified by name.
    large_by_size: files over 16 MB enter by size only (model weights: cheap, and a changed
    backbone also changes its config.json or its sizes in practice)."""
    digest = hashlib.sha256()
    for value in paths:
        path = Path(str(value)).expanduser() if value else None
        if path is None or not path.exists():
            digest.update(b"\0name:" + str(value).encode())
            continue
        digest.update(b"\0path")
        files = (
            [path]
            if path.is_file()
            else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        )
        for file in files:
            digest.update(str(file.relative_to(path) if file != path else file.name).encode())
            if large_by_size and file.stat().st_size > 16 << 20:
                digest.update(str(file.stat().st_size).encode())
                continue
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()
