"""What each stored analysis row was computed from, so `study analyze` recomputes only what changed.

A study's run records resume on other machines without their weights: packs and fine-tuned
models are too large to commit, so `docs/results/<spec>/study/` holds config, metrics and result
files only. An RSA or cross-lingual row computed while a run's weights were there stays valid as
long as the run's result.json and the analysis settings are the ones it was computed from.
`study analyze` keeps such rows and computes only new or changed runs, so finishing a study on
another machine never loses (nor silently keeps stale) the analysis of its earlier runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runs import RESULT_FILE

INPUTS_FILE = "inputs.json"  # beside rsa.csv
INPUTS_KEY = "inputs"  # in a cross-lingual result file


@dataclass(frozen=True)
class AnalysisInputs:
    """settings: the analysis block's values and the fingerprints of the files it reads;
    runs: study-relative run folder -> sha256 of the result.json its rows were computed from."""

    settings: dict
    runs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"settings": self.settings, "runs": dict(sorted(self.runs.items()))}

    @classmethod
    def from_dict(cls, raw: object) -> AnalysisInputs | None:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("settings"), dict)
            or not isinstance(raw.get("runs"), dict)
        ):
            return None
        return cls(raw["settings"], {str(k): str(v) for k, v in raw["runs"].items()})


def result_digest(run_dir: Path) -> str:
    """sha256 of a run's result.json as canonical JSON (sorted keys, so line endings or indentation
    a checkout changed do not count): a rerun (new result) invalidates the run's analysis rows."""
    canonical = json.dumps(json.loads((run_dir / RESULT_FILE).read_text()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def has_weights(run_dir: Path) -> bool:
    """Whether a finished run still holds what an analysis loads: its pack (adapter, LoRA, ...)
    or its saved model (fine-tuning with save_model)."""
    return (run_dir / "pack").is_dir() or (run_dir / "model" / "config.json").is_file()


def planned_folder(run_path: str, planned: list[str]) -> str | None:
    """The planned run folder (study-relative) that a row's `run` path names: rows store either
    that relative folder or a path ending in it (older analyses stored the study's own path)."""
    parts = Path(run_path).parts
    for folder in planned:
        own = Path(folder).parts
        if parts[-len(own) :] == own:
            return folder
    return None


@dataclass
class Reuse:
    """kept: planned folder -> its stored rows, still valid; todo: folders to compute;
    adopted: folders whose rows came from an analysis that predates recorded inputs;
    digests: every finished folder -> the result_digest the rows written now are computed from."""

    kept: dict[str, list[dict]]
    todo: list[str]
    adopted: list[str]
    digests: dict[str, str] = field(default_factory=dict)
    unweighted: list[str] = field(default_factory=list)  # left out: no weights and no valid stored rows

    def inputs(self, settings: dict, only: set[str] | None = None) -> AnalysisInputs:
        """The record to store beside the rows written now: `settings` and each run's digest (of
        the runs in `only`, when an unfinished analysis stores the rows it has so far)."""
        return AnalysisInputs(settings, {f: d for f, d in self.digests.items() if only is None or f in only})

    def file_fresh_rows(self, out: Path, fresh: list[dict]) -> dict[str, list[dict]]:
        """kept rows plus freshly computed ones, by study-relative folder; fresh rows name their
        run by the path they were computed from (below `out`) and are stored relative to it."""
        by_run = {folder: list(rows) for folder, rows in self.kept.items()}
        for row in fresh:
            folder = str(Path(row["run"]).relative_to(out))
            by_run.setdefault(folder, []).append({**row, "run": folder})
        return by_run


def plan_reuse(
    out: Path,
    finished: list[str],
    rows: list[dict],
    inputs: AnalysisInputs | None,
    settings: dict,
    legacy_row_ok: Callable[[dict], bool],
    skip_unweighted: bool = False,
) -> Reuse:
    """Split the finished runs (study-relative folders) into rows to keep and runs to compute.

    A stored row is kept when its run's result.json and the settings are those recorded in
    `inputs`. Rows written before inputs were recorded are kept only for runs whose weights are
    gone (nothing else could recompute them) and only if `legacy_row_ok` accepts every one of
    them (e.g. RSA rows on the same number of tokens); runs with weights are recomputed.
    Raises AdapterlabError when a run to compute has no weights, naming it and the way out;
    with skip_unweighted (the policy's look before it adds seeds), such runs are left out
    instead (Reuse.unweighted names them)."""
    by_run: dict[str, list[dict]] = {}
    for row in rows:
        folder = planned_folder(str(row.get("run", "")), finished)
        if folder is not None:
            by_run.setdefault(folder, []).append({**row, "run": folder})
    kept, todo, adopted = {}, [], []
    digests = {folder: result_digest(out / folder) for folder in finished}
    for folder in finished:
        stored = by_run.get(folder)
        if stored and inputs is not None and inputs.settings == settings and inputs.runs.get(folder) == digests[folder]:
            kept[folder] = stored
        elif stored and inputs is None and not has_weights(out / folder) and all(legacy_row_ok(r) for r in stored):
            kept[folder] = stored
            adopted.append(folder)
        else:
            todo.append(folder)
    gone = [folder for folder in todo if not has_weights(out / folder)]
    if gone and skip_unweighted:
        return Reuse(kept, [f for f in todo if f not in gone], adopted, digests, unweighted=gone)
    if gone:
        if inputs is not None and inputs.settings != settings:
            why = "the analysis settings changed since its rows were computed (restore them, or"
        elif inputs is None and by_run.get(gone[0]):
            why = "its stored rows predate recorded inputs and do not match the analysis settings (restore them, or"
        else:
            why = "no stored row was computed from its current result ("
        raise AdapterlabError(
            f"{out / gone[0]}: no weights to analyze (no pack/ or model/; run records are kept without them) and {why}"
            f" delete its {RESULT_FILE} and `study run` the spec again to retrain it with its weights)"
            f"{f'; {len(gone)} runs like it' if len(gone) > 1 else ''}"
        )
    return Reuse(kept, todo, adopted, digests)
