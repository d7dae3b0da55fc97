"""Run folders: their file names, atomic JSON writes, reading a result, and ownership.

adapterlab writes only into folders it made: a run folder carries a marker file from the moment
it is created, and adapterlab removes only the entries it writes itself (OWN_ENTRIES), so a
user's folder, or a data folder passed as --out by mistake, is refused and never touched.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.names import COMPLETE_STATUSES, Method, Protocol, Status
from adapterlab.setting import Setting

RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
MARKER_FILE = ".adapterlab-run"  # "this folder was created by adapterlab for one run"
CHECKPOINT_DIR = "checkpoint"
TAPT_CHECKPOINT_DIR = "tapt_checkpoint"  # the TAPT phase's own checkpoint (train/tapt.py)
TAPT_DONE_FILE = (
    "tapt_done.json"  # TAPT finished: its summary; the task phase starts from tapt_pack or TAPT_ENCODER_FILE
)
TAPT_ENCODER_FILE = "tapt_encoder.safetensors"  # fine-tuning: the encoder TAPT left
PROGRESS_FILE = "progress.json"  # while a run trains: {"step", "steps"}, for `study run`'s bar; removed when it ends
# Everything a run writes into its folder; nothing else there is ever removed.
OWN_ENTRIES = (
    RESULT_FILE,
    METRICS_FILE,
    CONFIG_FILE,
    "pack",
    "model",
    "tapt_pack",
    CHECKPOINT_DIR,
    "trackers",
    TAPT_CHECKPOINT_DIR,
    TAPT_DONE_FILE,
    TAPT_ENCODER_FILE,
    PROGRESS_FILE,
)


def write_json_atomic(path: Path, data: dict[str, Any] | list[Any]) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are as readable as any file the user writes
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(strict_json(data))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """write_json_atomic for text: a temp file in the same folder, then a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cannot_write(path: Path, err: BaseException) -> AdapterlabError:
    """The one-line error for an output that could not be written (a full disk, a read-only
    folder): the path and the system's reason, whichever library (safetensors, torch) raised it."""
    reason = getattr(err, "strerror", None) or (str(err).splitlines()[0] if str(err) else type(err).__name__)
    if "No space left" in str(err) or getattr(err, "errno", None) == 28:
        reason = "No space left on device"
    elif not getattr(err, "errno", None):
        # torch's writer says only "unexpected pos X vs Y" when the disk fills: the free space does
        free = _free_mb(Path(path))
        reason += f"; {free:,} MB free on its disk" if free is not None else ""
    return AdapterlabError(f"{path}: cannot be written ({reason})")


def _free_mb(path: Path) -> int | None:
    """Free space (MiB) on the filesystem of `path` or of its nearest existing parent."""
    folder = next((f for f in (path, *path.parents) if f.exists()), None)
    try:
        return shutil.disk_usage(folder).free >> 20 if folder is not None else None
    except OSError:
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_default(value: object) -> str:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def strict_json(data: Any) -> str:
    """`data` as indented JSON text with a final newline; NaN and inf become null (finite), since
    JSON has neither and strict parsers (a browser's JSON.parse) refuse them."""
    return json.dumps(finite(data), indent=2, allow_nan=False, default=_json_default) + "\n"


def finite(value: Any) -> Any:
    """NaN and inf become null (JSON has neither), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


@dataclass(frozen=True)
class RunResult:
    """What one run produced, written once to result.json by `save_result` from every path: the
    trainer (ok, diverged, failed with the error), and the executor when a run's process died.
    Metrics are fractions; times in seconds; sizes in bytes; memory in MiB."""

    status: Status  # "failed" is not complete: resuming runs it again
    task: str | None = None
    method: Method | None = None
    seed: int | None = None
    metric: str | None = None  # the task's metric: checkpoint selection and the reported number
    error: str | None = None  # failed: what went wrong, one line
    reason: str | None = None  # failed: "error" (reruns with --retry-failed) or "died" (reruns on resume)
    returncode: int | None = None  # died: the child's exit code (negative: killed by that signal)
    protocol: Protocol | None = None  # "low-resource" or "plain"
    best_validation: dict[str, Any] | None = None  # every validation metric at the selected checkpoint
    best_epoch: int | None = None
    best_step: int | None = None
    test: dict[str, Any] | None = None  # every test metric of the selected checkpoint
    validation_metric: float | None = None
    test_metric: float | None = None
    steps: int | None = None
    ceiling_steps: int | None = None  # the optimizer steps `epochs` allows (absent before 2026-12-07)
    train_examples_per_second: float | None = None
    train_seconds: float | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    trainable_percent: float | None = None
    params_by_role: dict[str, Any] | None = None
    model_bytes_fp32: int | None = None
    max_length_used: int | None = None
    stopped_early: dict[str, Any] | None = None  # {"epoch", "step"} where --early-stop ended training
    stop_reason: str | None = None  # why training stopped: "converged", "ceiling" (the last epoch), "diverged"
    last_epoch_gain: float | None = None  # validation metric change over the last epoch (metric units, + = better)
    resumed_from: dict[str, Any] | None = None  # {"epoch", "step"}: a killed run continued from its checkpoint there
    tapt: dict[str, Any] | None = None
    pack: str | None = None  # adapter runs: the task pack folder
    pack_bytes: int | None = None
    model: str | None = None  # fine-tuning with save_model: the weights folder
    wall_seconds: float | None = None
    peak_memory_mb: float | None = None
    model_path: str | None = None
    num_processes: int | None = None
    malloc_mmap_threshold_mb: int | None = None  # set by the run's process (runtime.py); None: glibc's defaults
    versions: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other adapterlab versions, kept as read

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        # absent, not null: the keys of another method's artifacts, and of a failure that did not happen
        for key in ("error", "reason", "returncode", "pack", "pack_bytes", "model"):
            if values[key] is None:
                del values[key]
        return {**values, **self.extra}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunResult:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in values.items() if k in known}, extra={k: v for k, v in values.items() if k not in known}
        )


def save_result(run_dir: Path, result: RunResult) -> None:
    """The one writer of result.json (atomic)."""
    write_json_atomic(Path(run_dir) / RESULT_FILE, result.to_dict())


def load_result(run_dir: Path) -> RunResult | None:
    """The run's typed result, or None when the folder has none (missing or unreadable)."""
    values = read_result(run_dir)
    return None if values is None else RunResult.from_dict(values)


@dataclass(frozen=True)
class RunRecord:
    """A finished (or failed) run as the report reads it: its setting, result and folder."""

    setting: Setting
    result: RunResult
    folder: Path
    seed: int | None = None


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's result, or None when the folder has none (missing, unreadable, or damaged)."""
    return _parse_result(run_dir)[0]


def result_damage(run_dir: Path) -> str | None:
    """Why the run's result.json exists but is no record (read_result gives None for it), or None
    when it is readable or absent. adapterlab writes it atomically, so this is damage from outside
    (a full disk on a copy, a merge, an edit): said aloud rather than shown as a plain pending run."""
    return _parse_result(run_dir)[1]


def _parse_result(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    path = Path(run_dir) / RESULT_FILE
    try:
        values = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None, None
    except OSError as err:
        return None, f"unreadable ({err.strerror})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as err:
        return None, f"not valid JSON (line {err.lineno}: {err.msg})"
    if not isinstance(values, dict) or not isinstance(values.get("status"), str):
        return None, "not a run's record (no status string)"
    return values, None


def is_complete(result: dict[str, Any] | None) -> bool:
    """A finished run: ok or diverged (a result in itself). A failed run is not complete."""
    return result is not None and result.get("status") in COMPLETE_STATUSES


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved settings a run recorded (config.json) as written, or None; load_config types them."""
    try:
        config = json.loads((Path(run_dir) / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return config if isinstance(config, dict) else None


# What the commands that use a finished run (predict, evaluate, rsa, crosslingual) read from its
# config.json, and the JSON type each must have: key -> (types, allowed to be absent or null).
_RUN_CONFIG_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "task": ((str,), False),
    "method": ((str,), False),
    "labels": ((list,), False),
    "model_path": ((str,), False),
    "max_length": ((int,), False),
    "max_length_used": ((int,), True),
    "data_format": ((str,), True),
    "columns": ((dict,), True),
    "encoding": ((str,), True),
    "model": ((str,), True),
}


def load_run_config(run_dir: Path) -> dict[str, Any]:
    """The config.json of a finished run, checked: a JSON object whose fields the commands read
    have their types (labels: names; max_length: a positive integer; columns: names to names).
    Each problem is one AdapterlabError naming the file and the field."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterlabError(f"{path}: missing; the run folder is incomplete") from None
    except OSError as err:
        raise AdapterlabError(f"{path}: cannot be read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise AdapterlabError(
            f"{path}: not valid JSON ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
            "the run's settings are damaged: train it again into a new folder"
        ) from None
    if not isinstance(config, dict):
        raise AdapterlabError(f"{path}: expected a JSON object of run settings, got {describe_value(config)}")
    for key, (types, optional) in _RUN_CONFIG_FIELDS.items():
        value: Any = config.get(key)
        if value is None and optional:
            continue
        good = isinstance(value, types) and not isinstance(value, bool)
        if good and key == "labels":
            good = all(isinstance(label, str) for label in value)
        elif good and key == "columns":
            good = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        elif good and key in ("max_length", "max_length_used"):
            good = value >= 1
        if not good:
            allowed = {
                "labels": "a list of label names",
                "columns": "an object of names",
                "max_length": "a positive integer",
                "max_length_used": "a positive integer or null",
            }.get(key, "a string")
            raise AdapterlabError(f"{path}: field {key!r} is {describe_value(value)}; expected {allowed}")
    return config


def describe_value(value: object) -> str:
    """A value for a one-line message: missing, or its JSON-ish type and its repr when short."""
    if value is None:
        return "missing or null"
    text = repr(value)
    kind = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" + (f" ({text})" if len(text) <= 60 else "")


def is_run_folder(path: Path) -> bool:
    return (Path(path) / MARKER_FILE).is_file()


def check_run_folder(run_dir: Path) -> None:
    """Refuse a path adapterlab may not write a run into: a file, or an existing non-empty folder
    that it did not create. Reads only."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise AdapterlabError(f"{run_dir}: exists and is not a folder; give --out a new folder")
    if run_dir.is_dir() and not is_run_folder(run_dir) and any(run_dir.iterdir()):
        raise AdapterlabError(
            f"{run_dir}: exists, is not empty and is not an adapterlab run folder (no {MARKER_FILE}); "
            "adapterlab writes runs only into new, empty or its own run folders: choose another --out"
        )


def prepare_run_folder(run_dir: Path) -> None:
    """Make `run_dir` ready for a fresh attempt: create and mark it, or clear what an earlier
    attempt of ours wrote (OWN_ENTRIES only; anything else in it stays)."""
    run_dir = Path(run_dir)
    check_run_folder(run_dir)
    try:
        for name in OWN_ENTRIES:
            entry = run_dir / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / MARKER_FILE).touch()
        clean_temp_files(run_dir)
    except OSError as err:
        raise AdapterlabError(f"{err.filename or run_dir}: cannot write the run folder ({err.strerror})") from None


ANALYSIS_MARKER = ".adapterlab-analysis"


def file_in_the_way(path: str | Path) -> Path | None:
    """The file among `path` and its parents that keeps a folder from being made there."""
    return next((p for p in (Path(path), *Path(path).parents) if p.is_file()), None)


def refuse_output_below_a_file(path: str | Path, folder: bool = False) -> None:
    """An output whose folder cannot be made because a parent is a file (or, for a `folder`
    output, the path itself is one): refused before any work, with one line naming the file."""
    blocking = file_in_the_way(Path(path) if folder else Path(path).parent)
    if blocking is not None:
        raise AdapterlabError(f"--out {path}: {blocking} is a file, where a folder is needed")


def check_analysis_output(path: Path, folder: bool) -> None:
    """Refuse an analysis output that would overwrite what adapterlab did not write: a folder
    must be new, empty or marked by an earlier analysis; a file new, or an earlier JSON result
    of ours (an object with "runs"). Reads only; mark_analysis_folder marks a folder."""
    path = Path(path)
    refuse_output_below_a_file(path)
    if folder:
        if path.exists() and (not path.is_dir() or (not (path / ANALYSIS_MARKER).is_file() and any(path.iterdir()))):
            raise AdapterlabError(
                f"{path}: exists and is not an adapterlab analysis folder; give --out a new or empty folder"
            )
        return
    refuse_foreign_file(
        path,
        lambda text: isinstance(value := json_value(text), dict) and "runs" in value,
        "an earlier adapterlab result",
    )


def json_value(text: str) -> Any:
    """The JSON value of `text`, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def refuse_foreign_file(path: str | Path, ours: Callable[[str], object], what: str, option: str = "--out") -> None:
    """An existing `path` is replaced only when adapterlab wrote it, which `ours(text)` tells
    from the file's text (an unreadable file, or a folder, is not ours). Refused with one line
    naming the file and what it would have to be; reads only."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    try:
        mine = path.is_file() and bool(ours(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        mine = False
    if not mine:
        raise AdapterlabError(
            f"{path}: exists and is not {what}; adapterlab replaces only its own earlier output: give {option} a new file"
        )


def mark_analysis_folder(path: Path) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / ANALYSIS_MARKER).touch()


def clean_temp_files(folder: Path) -> int:
    """Remove the temp files an interrupted atomic write can leave in `folder` (".NAME.xxxx" of
    write_json_atomic and save_adapter). Returns how many were removed."""
    removed = 0
    for entry in Path(folder).glob(".*.*"):
        stem = entry.name[1:]
        if any(stem.startswith(own + ".") for own in OWN_ENTRIES) and entry.name != MARKER_FILE:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed
