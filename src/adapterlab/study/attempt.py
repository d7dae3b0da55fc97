"""One attempt at one planned run of a study, and how its outcome is recorded when its process
died: shared by the local executor (study/executor.py) and the Ray executor (study/ray_executor.py).

A run executes in a child process of its own (`python -m adapterlab.study.child`, which dies with
its worker) or, with isolation="inline", in the worker itself. Either way the run folder ends
with a result.json: the trainer's, or, when the process died, one written here saying why.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.recorded_config import RecordedConfig, load_config
from adapterlab.runs import MARKER_FILE, RESULT_FILE, RunResult, is_run_folder, load_result, save_result
from adapterlab.study.folder import died, stale_reasons
from adapterlab.study.ownership import held_lock
from adapterlab.study.spec import PlannedRun
from adapterlab.train.options import in_spec_terms

logger = logging.getLogger(__name__)


def run_one(run: PlannedRun, out: Path, threads: int | None = None, overwrite: bool = False) -> str:
    """Run one planned run in a child process (isolation: a crash or OOM takes only this run).

    The config goes to the child on stdin, so nothing is left behind if either is killed.
    `threads` caps the child's intra-op threads, unless the user set OMP_NUM_THREADS.
    """
    run_dir = out / run.relative_dir
    previous = load_result(run_dir)
    if previous is not None and not previous.complete and is_run_folder(run_dir):
        (run_dir / RESULT_FILE).unlink(missing_ok=True)  # this attempt's outcome replaces it
    # parent: the child dies with this process (study/child.py); the run's lock goes to the child
    # too, so that the run stays owned while any process that writes it lives
    payload = json.dumps({"config": run.config.to_dict(), "overwrite": overwrite, "parent": os.getpid()})
    command = [sys.executable, "-m", "adapterlab.study.child", str(run_dir)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)
    lock = held_lock(run_dir)
    completed = subprocess.run(
        command, env=env, input=payload, capture_output=True, text=True, pass_fds=() if lock is None else (lock,)
    )
    result = load_result(run_dir)
    if result is None:
        record_death(run, run_dir, completed)
        return "failed"
    return result.status


def run_inline(run: PlannedRun, out: Path, threads: int | None = None, overwrite: bool = False) -> str:
    """Run one planned run in this process: no child start-up (about 3 s per run on a CPU: the
    imports and the first model load), but a crash or out-of-memory kill takes the worker with it.
    For many short runs (tests, small GPU runs); `threads` is ignored."""
    from adapterlab.train.run import run_training

    run_dir = out / run.relative_dir
    previous = load_result(run_dir)
    if previous is not None and not previous.complete and is_run_folder(run_dir):
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
    config = dataclasses.replace(run.config, progress=False)
    try:
        return run_training(config, run_dir, overwrite=overwrite).status
    except AdapterlabError as err:
        if load_result(run_dir) is None:  # stopped before its folder existed: record it as the child would
            record_death(
                run, run_dir, subprocess.CompletedProcess([], 2, "", f"adapterlab: error: {str(err).splitlines()[0]}")
            )
    except Exception:  # noqa: BLE001  run_training recorded the error in result.json; the study goes on
        logger.exception("%s: failed", run_dir)
    return "failed"


RUNNERS = {"process": run_one, "inline": run_inline}


def record_death(run: PlannedRun, run_dir: Path, completed: subprocess.CompletedProcess) -> None:
    """The child ended without a result: record why, so the study goes on and resume knows.
    A child killed by a signal (the out-of-memory killer, a preempted node) "died" and reruns on
    resume; one that stopped on an error reruns with --retry-failed."""
    lines = (completed.stderr or "").strip().splitlines()
    errors = [line for line in lines if line.startswith("adapterlab: error:")]
    code = completed.returncode
    message = (
        errors[-1][len("adapterlab: error: ") :]
        if errors
        else (lines[-1] if lines and code >= 0 else f"killed by signal {-code}" if code < 0 else f"exit code {code}")
    )
    message = in_spec_terms(message)  # the run's settings came from a spec: its keys, not train's options
    if run_dir.exists() and not is_run_folder(run_dir):
        logger.warning("%s: %s (not recorded: the folder is not an adapterlab run folder)", run_dir, message)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / MARKER_FILE).touch()
    # killed by a signal, or interrupted (130: the child got Ctrl-C): nothing wrong with the run itself
    killed = code < 0 or code == 130
    save_result(
        run_dir,
        RunResult(
            status="failed",
            reason="died" if killed else "error",
            error=message,
            task=run.config.task,
            method=run.config.method,
            seed=run.seed,
            returncode=code,
        ),
    )


def needs_run(run: PlannedRun, run_dir: Path, retry_failed: bool, rerun_changed: bool, prints: dict) -> str | None:
    """None (finished, or failed with an error and no retry), "run", or "overwrite" (finished
    with settings that changed, and rerun_changed)."""
    result = load_result(run_dir)
    if result is None:
        return "run"
    if not result.complete:
        return "run" if died(result) or retry_failed else None
    if rerun_changed and stale_reasons(run, result, load_config(run_dir) or RecordedConfig({}), prints):
        return "overwrite"
    return None


@dataclass(frozen=True)
class WorkerDeath:
    """A worker process of a study that died while the study ran: its number (1..workers), pid,
    exit code (negative: killed by that signal) and the runs it held (recorded as died)."""

    worker: int
    pid: int
    returncode: int
    runs: tuple[str, ...]
    reason: str | None = None  # how it died, when no exit code says it (a Ray task's error)

    def describe(self) -> str:
        how = self.reason or (
            f"killed by signal {-self.returncode}" if self.returncode < 0 else f"exit code {self.returncode}"
        )
        held = f"while it ran {', '.join(self.runs)}" if self.runs else "between runs"
        return f"worker {self.worker} (pid {self.pid}) died ({how}) {held}"
