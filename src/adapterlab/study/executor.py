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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from adapterlab.errors import AdapterlabError
from adapterlab.runs import (
    MARKER_FILE,
    RESULT_FILE,
    RunResult,
    config_differences,
    is_complete,
    is_run_folder,
    read_config,
    read_result,
    refuse_output_below_a_file,
    run_fingerprints,
    save_result,
    write_json_atomic,
)
from adapterlab.setting import Setting
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
from adapterlab.study.spec import PlannedRun, StudySpec
from adapterlab.train.config import RunConfig, in_spec_terms

logger = logging.getLogger(__name__)
PLAN_FILE = "study.json"
STUDY_MARKER = ".adapterlab-study"  # "this folder was created by adapterlab for a study"


@dataclass(frozen=True)
class RunLimits:
    """A time budget: no run starts unless it would finish by `deadline` (time.time()), judged by
    `estimates` (relative run folder -> seconds; a run without one is started)."""

    deadline: float
    estimates: dict = dataclasses.field(default_factory=dict)

    def allows(self, run: PlannedRun) -> bool:
        return time.time() + self.estimates.get(run.relative_dir, 0.0) <= self.deadline


@dataclass(frozen=True)
class RunState:
    run: PlannedRun
    state: str  # "ok", "diverged", "failed", "running", "pending", "changed" (finished with other settings)
    result: dict | None


# ------------------------------------------------------------------------------------ states


def state_of(run: PlannedRun, run_dir: Path, planned: dict | None) -> RunState:
    """The state of one run; `planned` (its config as a dict, None when unknown) marks a
    finished run recorded with other settings as "changed"."""
    result = read_result(run_dir)
    claim = claim_path(run_dir)
    if not is_complete(result) and claim.exists() and stale_key(claim) is None:
        return RunState(run, "running", result)
    if result is not None:
        stored = read_config(run_dir)
        if is_complete(result) and stored is not None and planned is not None and config_differences(planned, stored, defaults=RunConfig.defaults()):
            return RunState(run, "changed", result)
        return RunState(run, result["status"], result)
    return RunState(run, "pending", None)


def _planned(run: PlannedRun) -> dict:
    return run.config.to_dict()


def _differences(run: PlannedRun, stored: dict, prints: dict) -> list[str]:
    """How a finished run's recorded settings differ from the plan; `prints` caches the data and
    backbone fingerprints, which many runs of a study share."""
    config = run.config
    key = (config.train, config.dev, config.test, config.hub, config.model)
    if key not in prints:
        prints[key] = run_fingerprints(config)
    return config_differences(_planned(run), stored, prints[key], RunConfig.defaults())


def run_states(spec: StudySpec, out: Path) -> list[RunState]:
    return [state_of(run, out / run.relative_dir, _planned(run)) for run in spec.runs]


def changed_runs(spec: StudySpec, out: Path) -> list[tuple[PlannedRun, list[str]]]:
    """Finished runs whose recorded settings differ from the plan (data and backbone compared by
    content), with the differing settings."""
    prints: dict[tuple, dict] = {}
    changed = []
    for run in spec.runs:
        run_dir = out / run.relative_dir
        stored = read_config(run_dir)
        if stored is None or not is_complete(read_result(run_dir)):
            continue
        differences = _differences(run, stored, prints)
        if differences:
            changed.append((run, differences))
    return changed


# ------------------------------------------------------------------------------------- plan


def is_study_folder(out: Path) -> bool:
    """A folder adapterlab made for a study: it carries STUDY_MARKER (written with the plan), or,
    from versions before the marker, a study.json that is a study plan (load_plan accepts it)."""
    if (out / STUDY_MARKER).is_file():
        return True
    if not (out / PLAN_FILE).is_file():
        return False
    try:
        load_plan(out)
    except AdapterlabError:
        return False
    return True


def check_study_folder(out: Path, spec: StudySpec) -> None:
    """Refuse an --out that is a file, or an existing non-empty folder that is not a study
    folder (a study.json of the user's own included: never overwritten); and any run folder that
    would resolve outside `out`. Reads only."""
    if out.exists() and not out.is_dir():
        raise AdapterlabError(f"{out}: exists and is not a folder; give --out a new folder")
    if out.is_dir() and (out / PLAN_FILE).exists() and not is_study_folder(out):
        try:
            load_plan(out)
            why = "it is not a file"
        except AdapterlabError as err:
            why = str(err).split(": ", 1)[-1].split("; `adapterlab study run", 1)[0]
        raise AdapterlabError(f"{out / PLAN_FILE}: not a study plan written by adapterlab ({why}), so {out} is not a study folder; "
                              "adapterlab does not overwrite it: choose another --out")
    if out.is_dir() and not is_study_folder(out) and any(out.iterdir()):
        raise AdapterlabError(f"{out}: exists, is not empty and is not a study folder (no {STUDY_MARKER} or {PLAN_FILE}); "
                              "adapterlab writes a study only into a new, empty or its own study folder: choose another --out")
    if (out / PLAN_FILE).is_file():
        try:
            existing = json.loads((out / PLAN_FILE).read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            existing = None
        if isinstance(existing, str) and existing != spec.name:
            raise AdapterlabError(f"{out}: holds study {existing!r}, not {spec.name!r}; give --out a folder of its own")
    root = out.resolve()
    for run in spec.runs:
        target = (out / run.relative_dir).resolve()
        if root not in target.parents:
            raise AdapterlabError(f"{spec.source}: run folder {run.relative_dir!r} resolves outside {out}; task names and grid values "
                                  "must not contain '..' or start with '/'")


def write_plan(spec: StudySpec, out: Path, command: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plan = {"name": spec.name, "description": spec.description, "source": spec.source, "command": command,
            "runs": [{"dir": r.relative_dir, "labels": r.labels, "seed": r.seed, "config": r.config.to_dict()} for r in spec.runs],
            "reference": spec.reference, "report": dataclasses.asdict(spec.report), "analysis": spec.analysis.to_dict(),
            "claims": spec.claims, "gates": spec.gates.to_dict(), "policy": spec.policy.to_dict()}
    (out / STUDY_MARKER).touch()  # before the plan: a folder with our study.json is always marked as ours
    write_json_atomic(out / PLAN_FILE, plan)


# ------------------------------------------------------------------------------------- runs


def run_one(run: PlannedRun, out: Path, threads: int | None = None, overwrite: bool = False) -> str:
    """Run one planned run in a child process (isolation: a crash or OOM takes only this run).

    The config goes to the child on stdin, so nothing is left behind if either is killed.
    `threads` caps the child's intra-op threads, unless the user set OMP_NUM_THREADS.
    """
    run_dir = out / run.relative_dir
    previous = read_result(run_dir)
    if previous is not None and not is_complete(previous) and is_run_folder(run_dir):
        (run_dir / RESULT_FILE).unlink(missing_ok=True)  # this attempt's outcome replaces it
    # parent: the child dies with this process (study/child.py); the run's lock goes to the child
    # too, so that the run stays owned while any process that writes it lives
    payload = json.dumps({"config": run.config.to_dict(), "overwrite": overwrite, "parent": os.getpid()})
    command = [sys.executable, "-m", "adapterlab.study.child", str(run_dir)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)
    lock = held_lock(run_dir)
    completed = subprocess.run(command, env=env, input=payload, capture_output=True, text=True, pass_fds=() if lock is None else (lock,))
    result = read_result(run_dir)
    if result is None:
        _record_death(run, run_dir, completed)
        return "failed"
    return result["status"]


def run_inline(run: PlannedRun, out: Path, threads: int | None = None, overwrite: bool = False) -> str:
    """Run one planned run in this process: no child start-up (about 3 s per run on a CPU: the
    imports and the first model load), but a crash or out-of-memory kill takes the worker with it.
    For many short runs (tests, small GPU runs); `threads` is ignored."""
    from adapterlab.train.run import run_training

    run_dir = out / run.relative_dir
    previous = read_result(run_dir)
    if previous is not None and not is_complete(previous) and is_run_folder(run_dir):
        (run_dir / RESULT_FILE).unlink(missing_ok=True)
    config = dataclasses.replace(run.config, progress=False)
    try:
        return run_training(config, run_dir, overwrite=overwrite).status
    except AdapterlabError as err:
        if read_result(run_dir) is None:  # stopped before its folder existed: record it as the child would
            _record_death(run, run_dir, subprocess.CompletedProcess([], 2, "", f"adapterlab: error: {str(err).splitlines()[0]}"))
    except Exception:  # noqa: BLE001  run_training recorded the error in result.json; the study goes on
        logger.exception("%s: failed", run_dir)
    return "failed"


RUNNERS = {"process": run_one, "inline": run_inline}


def _record_death(run: PlannedRun, run_dir: Path, completed: subprocess.CompletedProcess) -> None:
    """The child ended without a result: record why, so the study goes on and resume knows.
    A child killed by a signal (the out-of-memory killer, a preempted node) "died" and reruns on
    resume; one that stopped on an error reruns with --retry-failed."""
    lines = (completed.stderr or "").strip().splitlines()
    errors = [line for line in lines if line.startswith("adapterlab: error:")]
    code = completed.returncode
    message = errors[-1][len("adapterlab: error: "):] if errors else (lines[-1] if lines and code >= 0 else f"killed by signal {-code}" if code < 0 else f"exit code {code}")
    message = in_spec_terms(message)  # the run's settings came from a spec: its keys, not train's options
    if run_dir.exists() and not is_run_folder(run_dir):
        logger.warning("%s: %s (not recorded: the folder is not an adapterlab run folder)", run_dir, message)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / MARKER_FILE).touch()
    # killed by a signal, or interrupted (130: the child got Ctrl-C): nothing wrong with the run itself
    died = code < 0 or code == 130
    save_result(run_dir, RunResult(status="failed", reason="died" if died else "error", error=message, task=run.config.task,
                                   method=run.config.method, seed=run.seed, returncode=code))


def _needs_run(run: PlannedRun, run_dir: Path, retry_failed: bool, rerun_changed: bool, prints: dict) -> str | None:
    """None (finished, or failed with an error and no retry), "run", or "overwrite" (finished
    with settings that changed, and rerun_changed)."""
    result = read_result(run_dir)
    if result is None:
        return "run"
    if not is_complete(result):
        died = result.get("reason") == "died" or (isinstance(result.get("returncode"), int) and result["returncode"] < 0)
        return "run" if died or retry_failed else None
    if rerun_changed:
        if _differences(run, read_config(run_dir) or {}, prints):
            return "overwrite"
    return None


def threads_per_worker(workers: int) -> int | None:
    """Split the cores among local workers: N workers each using every core oversubscribe them.
    Measured on 2 cores, two concurrent MiniLM adapter runs: 2.2 s/step each with 2 threads,
    1.2 s/step each with 1 thread. One worker keeps torch's own default."""
    if workers == 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def _run_pending(spec: StudySpec, out: Path, progress: Callable[[str, str], None] | None, threads: int | None = None,
                 retry_failed: bool = False, rerun_changed: bool = False, isolation: str = "process", limits: RunLimits | None = None) -> None:
    """Claim and run every run that needs it, one at a time. Ctrl-C (KeyboardInterrupt) kills the
    run in flight with its child process and releases its claim; the run has no result and reruns."""
    prints: dict = {}
    for run in spec.runs:
        run_dir = out / run.relative_dir
        if _needs_run(run, run_dir, retry_failed, rerun_changed, prints) is None:
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
            action = _needs_run(run, run_dir, retry_failed, rerun_changed, prints)  # again, under the claim
            if action is None:
                continue
            with heartbeat(run_dir, token):
                status = RUNNERS[isolation](run, out, threads, overwrite=action == "overwrite")
            if progress:
                progress(run.relative_dir, status)
        finally:
            release(run_dir, token)


def _worker(spec: StudySpec, out: Path, progress: Callable[[str, str], None] | None, threads: int | None = None,
            retry_failed: bool = False, rerun_changed: bool = False, isolation: str = "process", limits: RunLimits | None = None) -> None:
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
        raise AdapterlabError(f"--only {' '.join(f'{k}={v}' for k, v in only.items())}: matches none of the {len(spec.runs)} runs")
    return dataclasses.replace(spec, runs=runs)


def run_study(spec: StudySpec, out: str | Path, workers: int = 1, command: list[str] | None = None,
              progress: Callable[[str, str], None] | None = None, retry_failed: bool = False,
              rerun_changed: bool = False, isolation: str = "process", only: dict[str, str] | None = None,
              limits: RunLimits | None = None, on_worker_death: Callable[[WorkerDeath], None] | None = None) -> list[RunState]:
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
    with _sigterm_as_interrupt():  # a scheduler's SIGTERM (SLURM preemption, kill) stops the workers and runs as Ctrl-C does
        return _run_workers(chosen, out, workers, progress, retry_failed, rerun_changed, isolation, limits, on_worker_death)


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


def _run_workers(spec: StudySpec, out: Path, workers: int, progress, retry_failed: bool, rerun_changed: bool, isolation: str,
                 limits: RunLimits | None = None, on_worker_death: Callable[[WorkerDeath], None] | None = None) -> list[RunState]:
    if workers == 1:
        _run_pending(spec, out, progress, None, retry_failed, rerun_changed, isolation, limits)  # Ctrl-C reaches the caller
        return run_states(spec, out)
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    processes = [context.Process(target=_worker, args=(spec, out, None, threads, retry_failed, rerun_changed, isolation, limits), daemon=False)
                 for _ in range(workers)]
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
        how = self.reason or (f"killed by signal {-self.returncode}" if self.returncode < 0 else f"exit code {self.returncode}")
        held = f"while it ran {', '.join(self.runs)}" if self.runs else "between runs"
        return f"worker {self.worker} (pid {self.pid}) died ({how}) {held}"


def _record_worker_death(spec: StudySpec, out: Path, number: int, pid: int, returncode: int) -> WorkerDeath:
    """Find the runs a dead worker held (their claims name its pid) and record each as died,
    once the run's child is gone too (it dies with its worker; the run's lock says when)."""
    here = socket.gethostname()
    held = [run for run in spec.runs if (owner := read_claim(out / run.relative_dir) or {}).get("pid") == pid and owner.get("host") == here]
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
            if not is_complete(read_result(run_dir)) and is_run_folder(run_dir):
                how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
                save_result(run_dir, RunResult(status="failed", reason="died", error=f"its worker process (pid {pid}) died ({how})",
                                               task=run.config.task, method=run.config.method, seed=run.seed, returncode=returncode))
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


def check_study_start(spec: StudySpec, out: Path, workers: int, rerun_changed: bool) -> None:
    """What `study run` checks before it writes anything."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise AdapterlabError(f"workers={workers!r}: must be an integer >= 1")
    refuse_output_below_a_file(out, folder=True)  # before the progress bar: one line, nothing shown first
    check_study_folder(out, spec)
    changed = changed_runs(spec, out) if out.is_dir() else []
    if changed and not rerun_changed:
        run, differences = changed[0]
        raise AdapterlabError(f"{out / run.relative_dir}: finished with other settings ({'; '.join(differences)}); {len(changed)} finished "
                              "run(s) differ from the spec: pass --rerun-changed to run them again, or use a new --out")


def run_study_ray(spec: StudySpec, out: str | Path, address: str | None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                  command: list[str] | None = None, init_kwargs: dict | None = None, retry_failed: bool = False,
                  rerun_changed: bool = False, on_worker_death: Callable[[WorkerDeath], None] | None = None) -> list[RunState]:
    """Dispatch every pending run to a Ray cluster, one Ray task per run, with its resources.

    `out` must be on storage every node sees (a shared filesystem), as with any Ray job that
    writes files. Claims still apply, so a Ray study and a local one never run the same run.
    """
    try:
        import ray
    except ImportError:
        raise AdapterlabError("--executor ray needs Ray: pip install 'ray[default]'") from None
    out = Path(out).resolve()
    check_study_start(spec, out, 1, rerun_changed)
    write_plan(spec, out, command or [])
    if not ray.is_initialized():
        ray.init(address=address, **(init_kwargs or {}))

    @ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)
    def execute(run: PlannedRun, out: str) -> str:
        run_dir = Path(out) / run.relative_dir
        if _needs_run(run, run_dir, retry_failed, rerun_changed, {}) is None:
            return "skipped"
        token = try_claim(run_dir)
        if not token:
            return "skipped"
        try:
            action = _needs_run(run, run_dir, retry_failed, rerun_changed, {})
            if action is None:
                return "skipped"
            with heartbeat(run_dir, token):
                return run_one(run, Path(out), max(1, int(cpus_per_run)), overwrite=action == "overwrite")
        finally:
            release(run_dir, token)

    prints: dict = {}
    pending = [run for run in spec.runs if _needs_run(run, out / run.relative_dir, retry_failed, rerun_changed, prints) is not None]
    tasks = [(run, execute.remote(run, str(out))) for run in pending]
    for number, (run, task) in enumerate(tasks, start=1):
        try:
            ray.get(task)
        except ray.exceptions.RayError as err:  # its Ray worker died (a node lost, out of memory): the run reruns on resume
            death = WorkerDeath(number, 0, -1, (run.relative_dir,), reason=f"its Ray task failed: {str(err).strip().splitlines()[0][:200]}")
            logger.warning("%s", death.describe())
            if on_worker_death:
                on_worker_death(death)
    return run_states(spec, out)


def unfinished_lines(states: list[RunState], out: Path, budget_left: list[str] | tuple = ()) -> list[str]:
    """One line per run of `states` that did not finish (failed, died, pending, changed), saying
    why and what reruns it. Runs another live process is running are not ours to report.
    budget_left: runs not started because the time budget would not let them finish."""
    lines = []
    for state in states:
        where = state.run.relative_dir
        result = state.result or {}
        if state.state == "failed":
            died = result.get("reason") == "died" or (isinstance(result.get("returncode"), int) and result["returncode"] < 0)
            lines.append(f"{where}: died ({result.get('error') or 'no error recorded'}); the same command reruns it" if died else
                         f"{where}: failed ({result.get('error') or 'no error recorded'}); --retry-failed reruns it")
        elif state.state == "changed":
            lines.append(f"{where}: finished with other settings than the spec's; --rerun-changed reruns it")
        elif state.state == "pending":
            owner = read_claim(out / where)
            if where in budget_left:
                lines.append(f"{where}: pending: not started, as it would not finish within the time budget; the same command goes on")
            elif owner is not None:
                lines.append(f"{where}: pending: its claim {claim_path(out / where)} names pid {owner.get('pid')} on {owner.get('host')}, "
                             "which no longer runs it; the same command takes it over")
            else:
                lines.append(f"{where}: pending: no worker started it (stopped early, or skipped by its worker); the same command runs it")
    return lines


def load_plan(out: Path) -> dict:
    """The plan of study folder `out` (its study.json, as write_plan wrote it), checked: a JSON
    object whose runs are {dir, seed, labels}. Each problem is one error naming the file."""
    path = out / PLAN_FILE
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise AdapterlabError(f"{out}: not a study folder (no readable {PLAN_FILE}); run `adapterlab study run SPEC --out {out}` first") from None
    except json.JSONDecodeError as err:
        raise AdapterlabError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); `adapterlab study run` writes it again") from None
    except UnicodeDecodeError as err:
        raise AdapterlabError(f"{path}: not valid JSON (not UTF-8: {err.reason}); `adapterlab study run` writes it again") from None
    rewrite = "; `adapterlab study run SPEC --out DIR` writes it again"
    if not isinstance(plan, dict):
        raise AdapterlabError(f"{path}: expected a JSON object (a study plan), got a {type(plan).__name__}{rewrite}")
    runs = plan.get("runs")
    if not isinstance(runs, list):
        raise AdapterlabError(f"{path}: field 'runs' is {_plan_value(runs)}; expected a list of {{dir, seed, labels}}{rewrite}")
    for i, run in enumerate(runs):
        where = f"{path}: field 'runs[{i}]"
        if not isinstance(run, dict):
            raise AdapterlabError(f"{where}' is {_plan_value(run)}; expected an object {{dir, seed, labels}}{rewrite}")
        run_dir = run.get("dir")
        if not isinstance(run_dir, str) or not run_dir or Path(run_dir).is_absolute() or ".." in Path(run_dir).parts:
            raise AdapterlabError(f"{where}.dir' is {_plan_value(run_dir)}; expected a folder inside the study such as 'sst2/adapter-m64/seed=0'{rewrite}")
        seed = run.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise AdapterlabError(f"{where}.seed' is {_plan_value(seed)}; expected an integer{rewrite}")
        labels = run.get("labels")
        if not isinstance(labels, dict) or not all(isinstance(labels.get(key), str) for key in ("task", "method")):
            raise AdapterlabError(f"{where}.labels' is {_plan_value(labels)}; expected an object with 'task' and 'method' names{rewrite}")
    for key in ("name", "description", "source"):
        if key in plan and not isinstance(plan[key], str):
            raise AdapterlabError(f"{path}: field {key!r} is {_plan_value(plan[key])}; expected a string{rewrite}")
    for key, kind in (("command", list), ("reference", list), ("report", dict), ("analysis", dict)):
        if plan.get(key) is not None and not isinstance(plan[key], kind):
            expected = "a list" if kind is list else "an object"
            raise AdapterlabError(f"{path}: field {key!r} is {_plan_value(plan[key])}; expected {expected} or null{rewrite}")
    if not all(isinstance(part, str) for part in plan.get("command") or []):
        raise AdapterlabError(f"{path}: field 'command' must be a list of strings{rewrite}")
    if not all(isinstance(item, dict) for item in plan.get("reference") or []):
        raise AdapterlabError(f"{path}: field 'reference' must be a list of objects{rewrite}")
    return plan


def _plan_value(value: object) -> str:
    if value is None:
        return "missing or null"
    text = repr(value)
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" + (f" ({text})" if len(text) <= 60 else "")


def status_of_folder(out: Path) -> list[RunState]:
    """Run states from a study folder alone (its study.json), without the spec."""
    plan = load_plan(out)
    return [state_of(PlannedRun(Setting.from_labels(e["labels"]), e["seed"], None, e["dir"].rsplit("/seed=", 1)[0]), out / e["dir"],
                     e.get("config") if isinstance(e.get("config"), dict) else None) for e in plan["runs"]]
