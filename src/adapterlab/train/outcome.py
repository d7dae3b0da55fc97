"""A run's outcome as result.json records it: the fields training's outcome gives (the best
checkpoint, its test metrics, speed, why training stopped), and the last step of the recipe
(train/run.py), which adds what the run cost and ran on, and writes the typed result once."""

from __future__ import annotations

import dataclasses
import json
import platform
import resource
import subprocess
import time
from pathlib import Path

import torch
import transformers
from accelerate import Accelerator

from adapterlab._version import __version__
from adapterlab.runs import (
    METRICS_FILE,
    PROGRESS_FILE,
    RunResult,
    cannot_write,
    read_config,
    save_result,
)
from adapterlab.runtime import mmap_threshold_mb
from adapterlab.train.loop import LoopResult
from adapterlab.train.pack_files import write_provenance


def outcome_fields(outcome: LoopResult, test_metrics: dict | None, metric: str) -> dict:
    """The result's fields about training's outcome: the best checkpoint, its test metrics, speed."""
    return {
        "best_validation": outcome.best_validation,
        "best_epoch": outcome.best_epoch,
        "best_step": outcome.best_step,
        "test": test_metrics,
        "validation_metric": (outcome.best_validation or {}).get(metric),
        "test_metric": (test_metrics or {}).get(metric),
        "steps": outcome.steps,
        "ceiling_steps": outcome.ceiling_steps or None,
        "train_examples_per_second": outcome.train_examples / outcome.train_seconds if outcome.train_seconds else None,
        "train_seconds": outcome.train_seconds,
    }


def stop_reason(outcome: LoopResult) -> str:
    """Why training ended: it diverged, early stopping saw it converge, or it reached its epochs."""
    return "diverged" if outcome.status == "diverged" else "converged" if outcome.stopped_early else "ceiling"


def validation_rows(run_dir: Path) -> list[dict]:
    """The validation rows metrics.jsonl holds so far (a resumed run's earlier ones too)."""
    rows = []
    for line in (run_dir / METRICS_FILE).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line of a killed attempt: not an evaluation this run can use
        if isinstance(row, dict) and row.get("split") == "validation":
            rows.append(row)
    return rows


def finish_run(result: dict, run_dir: Path, started: float, accelerator: Accelerator, model_path: str) -> RunResult:
    """`result` with what the run cost and ran on, as the typed record result.json holds, written
    by the main process (the pack's provenance first); a write that fails records the run as failed."""
    typed = RunResult.from_dict(
        {
            **result,
            "wall_seconds": time.perf_counter() - started,
            "peak_memory_mb": _peak_memory_mb(),
            "model_path": model_path,
            "num_processes": accelerator.num_processes,
            "malloc_mmap_threshold_mb": mmap_threshold_mb(),  # set by adapterlab's entry points (runtime.py)
            "versions": {
                "adapterlab": __version__,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "python": platform.python_version(),
                "git_sha": _git_sha(),
            },
        }
    )
    if accelerator.is_main_process:
        # before the result: a finished run's pack always says where it came from
        if typed.pack and Path(typed.pack).is_dir():
            try:
                write_provenance(Path(typed.pack), read_config(run_dir) or {}, typed.to_dict())
            except OSError as err:  # a full disk: the run is recorded as failed, and says why in one line
                error = cannot_write(Path(typed.pack), err)
                save_result(run_dir, dataclasses.replace(typed, status="failed", reason="error", error=str(error)))
                raise error from None
        save_result(run_dir, typed)
        (run_dir / PROGRESS_FILE).unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    return typed


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    # peak RSS of the process so far (Linux reports KiB): per run when each run has its own process
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
