"""Running a study: every pending run once, resumable, with atomic claims so that workers (or two
invocations at once) never run the same run twice.

A run is done when its folder holds a complete result.json (ok or diverged) recorded with the
settings the plan asks for now. A run whose process died (killed, out of memory) is rerun by any
resume; one that failed with an error is rerun with retry_failed.

Claims (study/ownership.py): a worker claims a run with an O_EXCL claim file and a kernel lock
that the run's child process inherits, so a run is owned while any process that writes it lives;
a claim is taken over only when all of them are gone. Runs execute in a fresh child process each,
which dies with its worker, so a crash or a killed worker takes no other run with it; a worker
that dies is reported and its run recorded as died. Ctrl-C stops cleanly: unfinished runs simply
have no result.json.

This module is the local executor (worker processes on this machine). The folder it runs in
(study.json, run states) is study/folder.py, one attempt at one run study/attempt.py, the
claims study/ownership.py, and the Ray executor study/ray_executor.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runs import RunResult, is_run_folder, load_result, save_result
from adapterlab.runtime import keep_freed_memory
from adapterlab.study.attempt import RUNNERS, WorkerDeath, needs_run, run_inline, run_one  # noqa: F401  (also imported from here)
from adapterlab.study.folder import (  # noqa: F401  (the folder's API, also imported from here)
    PLAN_FILE,
    STUDY_MARKER,
    RunState,
    changed_runs,
    check_study_folder,
    check_study_start,
    is_study_folder,
    load_plan,
    run_states,
    state_of,
    status_of_folder,
    write_plan,
)
from adapterlab.study.ownership import (  # noqa: F401  (the claim API, also imported from here)
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    claim_path,
    heartbeat,
    held_lock,
    read_claim,
    release,
    renew,
    stale_key,
    try_claim,
)
from adapterlab.study.ray_executor import run_study_ray  # noqa: F401  (also imported from here)
from adapterlab.study.spec import PlannedRun, StudySpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunLimits:
    """A time budget: no run starts unless it would finish by `deadline` (time.time()), judged by
    `estimates` (relative run folder -> seconds; a run without one is started)."""

    deadline: float
    estimates: dict = dataclasses.field(default_factory=dict)

    def allows(self, run: PlannedRun) -> bool:
        return time.time() + self.estimates.get(run.relative_dir, 0.0) <= self.deadline


def threads_per_worker(workers: int) -> int | None:
    """Split the cores among local workers: N workers each using every core oversubscribe them.
    Measured on 2 cores, two concurrent MiniLM adapter runs: 2.2 s/step each with 2 threads,
    1.2 s/step each with 1 thread. One worker keeps torch's own default."""
    if workers == 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def _run_pending(
    spec: StudySpec,
    out: Path,
    progress: Callable[[str, str], None] | None,
    threads: int | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
    isolation: str = "process",
    limits: RunLimits | None = None,
) -> None:
    """Claim and run every run that needs it, one at a time. Ctrl-C (KeyboardInterrupt) kills the
    run in flight with its child process and releases its claim; the run has no result and reruns."""
    prints: dict = {}
    for run in spec.runs:
        run_dir = out / run.relative_dir
        if needs_run(run, run_dir, retry_failed, rerun_changed, prints) is None:
            claim = claim_path(run_dir)
            if claim.exists() and stale_key(claim) is not None:
                token = try_claim(run_dir)  # its owner finished the run, then was killed: tidy up
                release(run_dir, token) if token else None
            continue
        if limits is not None and not limits.allows(run):
            continue  # would not finish within the budget: left pending, for a later `study run`
        token = try_claim(run_dir)
        if not token:
            continue
        try:
            action = needs_run(run, run_dir, retry_failed, rerun_changed, prints)  # again, under the claim
            if action is None:
                continue
            with heartbeat(run_dir, token):
                status = RUNNERS[isolation](run, out, threads, overwrite=action == "overwrite")
            if progress:
                progress(run.relative_dir, status)
        finally:
            release(run_dir, token)


def _worker(
    spec: StudySpec,
    out: Path,
    progress: Callable[[str, str], None] | None,
    threads: int | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
    isolation: str = "process",
    limits: RunLimits | None = None,
) -> None:
    """A worker process of run_study. It starts with SIGINT ignored (so a Ctrl-C while it imports
    prints no traceback) and stops at the first SIGINT (the terminal's Ctrl-C) or SIGTERM (sent by
    the main process); the main process reports the interruption once."""
    interrupted = False

    def interrupt_once(signum, frame) -> None:
        # later signals do nothing, so that the cleanup (killing the run's child, releasing the
        # claim) is not interrupted into a traceback. Not SIG_IGN: a SIGTERM that arrived with the
        # SIGINT would then make Python print "Signal 15 ignored due to race condition".
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt_once)
    signal.signal(signal.SIGTERM, interrupt_once)
    keep_freed_memory()  # a spawned process: with isolation="inline" it trains here, like a run's child
    try:
        if isolation == "inline" and threads is not None:
            import torch

            torch.set_num_threads(threads)
        _run_pending(spec, out, progress, threads, retry_failed, rerun_changed, isolation, limits)
    except KeyboardInterrupt:
        return


def select_runs(spec: StudySpec, only: dict[str, str] | None) -> StudySpec:
    """The study with only the runs whose labels match every KEY=VALUE of `only` (numbers compare
    as numbers: lr=1e-4 matches 0.0001); the others stay pending. Raises AdapterlabError for a key
    no run has, or a selection that matches no run."""
    if not only:
        return spec
    keys = {key for run in spec.runs for key in {**run.labels, "seed": run.seed}}
    unknown = sorted(set(only) - keys)
    if unknown:
        raise AdapterlabError(f"--only {unknown[0]}=...: no run has that label; labels: {', '.join(sorted(keys))}")

    def same(have, want: str) -> bool:
        try:
            return float(have) == float(want)
        except (TypeError, ValueError):
            return str(have).lower() == want.lower()

    runs = [run for run in spec.runs if all(same({**run.labels, "seed": run.seed}.get(k), v) for k, v in only.items())]
    if not runs:
        raise AdapterlabError(
            f"--only {' '.join(f'{k}={v}' for k, v in only.items())}: matches none of the {len(spec.runs)} runs"
        )
    return dataclasses.replace(spec, runs=runs)


def run_study(
    spec: StudySpec,
    out: str | Path,
    workers: int = 1,
    command: list[str] | None = None,
    progress: Callable[[str, str], None] | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
    isolation: str = "process",
    only: dict[str, str] | None = None,
    limits: RunLimits | None = None,
    on_worker_death: Callable[[WorkerDeath], None] | None = None,
) -> list[RunState]:
    """Run every pending run of the study with `workers` local worker processes, each run in a
    child process of its own (isolation="process") or in the worker itself ("inline").
    on_worker_death: called for each worker process that died (killed, out of memory) while the
    study ran; the run it held is recorded as died (it reruns on resume, or at once by another worker).

    Everything is checked before anything is written: the worker count, the output folder, that
    every run folder lies inside it, and that finished runs were made with the settings the spec
    asks for now (else one error naming the run and the settings, unless rerun_changed).
    only: run just the runs with these labels (select_runs); study.json still plans them all.
    """
    out = Path(out)
    check_study_start(spec, out, workers, rerun_changed)
    if isolation not in RUNNERS:
        raise AdapterlabError(f"isolation={isolation!r}: allowed: {', '.join(RUNNERS)}")
    chosen = select_runs(spec, only)
    write_plan(spec, out, command or [])
    with (
        _sigterm_as_interrupt()
    ):  # a scheduler's SIGTERM (SLURM preemption, kill) stops the workers and runs as Ctrl-C does
        return _run_workers(
            chosen, out, workers, progress, retry_failed, rerun_changed, isolation, limits, on_worker_death
        )


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main process while a study runs, so the Ctrl-C
    cleanup (workers stopped, runs' children killed, claims released) runs instead of leaving
    orphan workers that go on claiming runs. Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_workers(
    spec: StudySpec,
    out: Path,
    workers: int,
    progress,
    retry_failed: bool,
    rerun_changed: bool,
    isolation: str,
    limits: RunLimits | None = None,
    on_worker_death: Callable[[WorkerDeath], None] | None = None,
) -> list[RunState]:
    if workers == 1:
        _run_pending(
            spec, out, progress, None, retry_failed, rerun_changed, isolation, limits
        )  # Ctrl-C reaches the caller
        return run_states(spec, out)
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    processes = [
        context.Process(
            target=_worker,
            args=(spec, out, None, threads, retry_failed, rerun_changed, isolation, limits),
            daemon=False,
        )
        for _ in range(workers)
    ]
    reported: set[int] = set()

    def report_deaths() -> None:
        for number, process in enumerate(processes, start=1):
            if number not in reported and process.exitcode not in (None, 0):
                reported.add(number)
                death = _record_worker_death(spec, out, number, process.pid, process.exitcode)
                if on_worker_death:
                    on_worker_death(death)

    try:
        with _sigint_ignored():  # inherited by the workers until they install their own handler
            for process in processes:
                process.start()
        while any(p.is_alive() for p in processes):
            time.sleep(0.5)
            report_deaths()  # at once: a worker still running may then rerun the dead one's run
            if progress:
                progress("", "")
        report_deaths()
    except KeyboardInterrupt:
        with _sigint_ignored():  # a second Ctrl-C does not cut the workers' cleanup short
            for process in processes:
                if process.pid is not None and process.is_alive():
                    # a worker still starting ends silently (default action); a running one stops its run
                    os.kill(process.pid, signal.SIGTERM)
            for process in processes:
                if process.pid is not None:
                    process.join(timeout=30)
        raise
    return run_states(spec, out)


def _record_worker_death(spec: StudySpec, out: Path, number: int, pid: int, returncode: int) -> WorkerDeath:
    """Find the runs a dead worker held (their claims name its pid) and record each as died,
    once the run's child is gone too (it dies with its worker; the run's lock says when)."""
    here = socket.gethostname()
    held = [
        run
        for run in spec.runs
        if (owner := read_claim(out / run.relative_dir) or {}).get("pid") == pid and owner.get("host") == here
    ]
    death = WorkerDeath(number, pid, returncode, tuple(run.relative_dir for run in held))
    logger.warning("%s", death.describe())
    for run in held:
        run_dir = out / run.relative_dir
        deadline = time.monotonic() + 10  # the child's exit (it is killed with its worker) frees the run's lock
        token = try_claim(run_dir)
        while token is None and time.monotonic() < deadline and (read_claim(run_dir) or {}).get("pid") == pid:
            time.sleep(0.1)
            token = try_claim(run_dir)
        if token is None:
            continue  # another process took it over meanwhile, or a child outlives its worker and still writes it
        try:
            result = load_result(run_dir)
            if (result is None or not result.complete) and is_run_folder(run_dir):
                how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
                save_result(
                    run_dir,
                    RunResult(
                        status="failed",
                        reason="died",
                        error=f"its worker process (pid {pid}) died ({how})",
                        task=run.config.task,
                        method=run.config.method,
                        seed=run.seed,
                        returncode=returncode,
                    ),
                )
        finally:
            release(run_dir, token)
    return death


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored inside, in this process and in the processes started there (a Ctrl-C in
    those milliseconds is lost). Outside the main thread, where signals cannot be set, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
