"""The runs a study's policy added to its spec's grid (policy/run.py decides them): grid points
grown beyond an edge (`bracket`) and seeds added to an undecided comparison (`seeds`), each with
its reason, in DIR/extensions.json.

The file is the record that makes growth resumable: a killed study rereads it and plans the same
runs again, so nothing is decided twice and nothing runs twice. Writes are atomic and made under
an exclusive lock on DIR/.adapterlab-extensions.lock, so two `study run` invocations sharing a
folder never lose each other's additions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from adapterlab.errors import AdapterlabError
from adapterlab.runs import write_json_atomic

EXTENSIONS_FILE = "extensions.json"
LOCK_FILE = ".adapterlab-extensions.lock"
ExtensionKind = Literal["bracket", "seeds"]


@dataclass(frozen=True)
class Extension:
    """Runs added to a study: the grid point `labels` (task and column labels) for each of `seeds`."""

    kind: str  # one of ExtensionKind
    labels: tuple[tuple[str, Any], ...]  # sorted (name, value) pairs, the task included
    seeds: tuple[int, ...]
    reason: str

    @property
    def label_dict(self) -> dict[str, Any]:
        return dict(self.labels)

    def to_json(self) -> dict:
        return {"kind": self.kind, "labels": dict(self.labels), "seeds": list(self.seeds), "reason": self.reason}

    @classmethod
    def from_json(cls, values: dict, where: str) -> Extension:
        try:
            labels = values["labels"]
            if (
                values["kind"] not in ("bracket", "seeds")
                or not isinstance(labels, dict)
                or not isinstance(labels.get("task"), str)
            ):
                raise TypeError
            seeds = tuple(int(s) for s in values["seeds"] if not isinstance(s, bool))
            return cls(values["kind"], tuple(sorted(labels.items())), seeds, str(values.get("reason", "")))
        except (KeyError, TypeError, ValueError):
            raise AdapterlabError(
                f"{where}: not an extension written by adapterlab ({values!r:.80}); "
                f"remove {EXTENSIONS_FILE} to plan the study's grid again"
            ) from None

    @classmethod
    def make(cls, kind: str, labels: dict[str, Any], seeds, reason: str) -> Extension:
        return cls(kind, tuple(sorted(labels.items())), tuple(seeds), reason)


def load_extensions(out: Path) -> list[Extension]:
    """The study's extensions, in the order they were decided ([] when there are none)."""
    path = Path(out) / EXTENSIONS_FILE
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterlabError(f"{path}: not readable JSON ({err}); remove it to plan the study's grid again") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("extensions"), list):
        raise AdapterlabError(f"{path}: not an extensions file of adapterlab (no 'extensions' list)")
    return [
        Extension.from_json(entry, f"{path}: extensions[{i}]")
        for i, entry in enumerate(raw["extensions"])
        if isinstance(entry, dict)
    ]


@contextlib.contextmanager
def extensions_lock(out: Path):
    """An exclusive lock on the study's extensions, released by the kernel if the holder dies."""
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_extensions(out: Path, new: list[Extension]) -> list[Extension]:
    """Record `new` (those not recorded yet) and return every extension of the study."""
    with extensions_lock(out):
        known = load_extensions(out)
        seen = {(e.kind, e.labels, e.seeds) for e in known}
        fresh = [e for e in new if (e.kind, e.labels, e.seeds) not in seen]
        if fresh:
            write_json_atomic(Path(out) / EXTENSIONS_FILE, {"extensions": [e.to_json() for e in known + fresh]})
        return known + fresh
