"""Running a study: every pending run once, resumable, with atomic claims so that workers (or two
invocations at once) never run the same run twice.

A run is done when its folder holds a valid result.json. A worker claims a run by creating
`<run>.claim` with O_EXCL; a claim whose process is gone (killed, rebooted) is stale and is taken
over. Runs execute in a fresh child process each, so a crash or a killed worker takes no other
run with it, and Ctrl-C stops cleanly: unfinished runs simply have no result.json.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from adapterlab.errors import AdapterlabError
from adapterlab.study.spec import PlannedRun, StudySpec
from adapterlab.train.run import read_result, write_json_atomic

logger = logging.getLogger(__name__)
PLAN_FILE = "study.json"


@dataclass(frozen=True)
class RunState:
    run: PlannedRun
    state: str  # "ok", "diverged", "failed", "running", "pending"
    result: dict | None


def claim_path(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}.claim"


def try_claim(run_dir: Path) -> bool:
    """Atomically claim a run; takes over a claim whose owner process no longer exists."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    claim = claim_path(run_dir)
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if not _claim_is_stale(claim):
                return False
            claim.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, handle)
        return True
    return False


def release(run_dir: Path) -> None:
    claim_path(run_dir).unlink(missing_ok=True)


def _claim_is_stale(claim: Path) -> bool:
    try:
        owner = json.loads(claim.read_text())
    except (OSError, json.JSONDecodeError):
        # a claim being written right now is not stale; one that stays unreadable is
        return time.time() - claim.stat().st_mtime > 60 if claim.exists() else True
    if owner.get("host") != socket.gethostname():
        return False  # another machine's claim: only that machine can tell
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError):
        return False
    return False


def state_of(run: PlannedRun, run_dir: Path) -> RunState:
    result = read_result(run_dir)
    if result is not None:
        return RunState(run, result["status"], result)
    if claim_path(run_dir).exists() and not _claim_is_stale(claim_path(run_dir)):
        return RunState(run, "running", None)
    return RunState(run, "pending", None)


def run_states(spec: StudySpec, out: Path) -> list[RunState]:
    return [state_of(run, out / run.relative_dir) for run in spec.runs]


def write_plan(spec: StudySpec, out: Path, command: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plan = {"name": spec.name, "description": spec.description, "source": spec.source, "command": command,
            "runs": [{"dir": r.relative_dir, "labels": r.labels, "seed": r.seed} for r in spec.runs],
            "reference": spec.reference, "report": spec.report, "analysis": spec.analysis}
    write_json_atomic(out / PLAN_FILE, plan)


def run_one(run: PlannedRun, out: Path, threads: int | None = None) -> str:
    """Run one planned run in a child process (isolation: a crash or OOM takes only this run).

    `threads` caps the child's intra-op threads, unless the user set OMP_NUM_THREADS.
    """
    run_dir = out / run.relative_dir
    config_file = run_dir.parent / f".{run_dir.name}.config.json"
    write_json_atomic(config_file, run.config.to_dict())
    command = [sys.executable, "-m", "adapterlab.study.child", str(config_file), str(run_dir)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
    finally:
        config_file.unlink(missing_ok=True)
    result = read_result(run_dir)
    if result is None:
        # the child died before it could record anything: record the failure so the study goes on
        tail = (completed.stderr or "").strip().splitlines()[-1:] or [f"exit code {completed.returncode}"]
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / "result.json", {"status": "failed", "error": tail[0], "task": run.config.task, "method": run.config.method,
                                                    "seed": run.seed, "metric": None, "returncode": completed.returncode})
        return "failed"
    return result["status"]


def threads_per_worker(workers: int) -> int | None:
    """Split the cores among local workers: N workers each using every core oversubscribe them.
    Measured on 2 cores, two concurrent MiniLM adapter runs: 2.2 s/step each with 2 threads,
    1.2 s/step each with 1 thread. One worker keeps torch's own default."""
    if workers == 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // workers)


def _worker(spec: StudySpec, out: Path, progress: Callable[[str, str], None] | None, threads: int | None = None) -> None:
    for run in spec.runs:
        run_dir = out / run.relative_dir
        if read_result(run_dir) is not None:
            claim = claim_path(run_dir)
            if claim.exists() and _claim_is_stale(claim):
                claim.unlink(missing_ok=True)  # its owner finished the run, then was killed
            continue
        if not try_claim(run_dir):
            continue
        try:
            if read_result(run_dir) is not None:  # finished by someone else between our checks
                continue
            status = run_one(run, out, threads)
            if progress:
                progress(run.relative_dir, status)
        finally:
            release(run_dir)


def run_study(spec: StudySpec, out: str | Path, workers: int = 1, command: list[str] | None = None,
              progress: Callable[[str, str], None] | None = None) -> list[RunState]:
    """Run every pending run of the study with `workers` local worker processes."""
    out = Path(out)
    write_plan(spec, out, command or [])
    if workers < 1:
        raise AdapterlabError(f"workers={workers}: must be >= 1")
    if workers == 1:
        _worker(spec, out, progress)
        return run_states(spec, out)
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    processes = [context.Process(target=_worker, args=(spec, out, None, threads), daemon=False) for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            time.sleep(0.5)
            if progress:
                progress("", "")
    except KeyboardInterrupt:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=30)
        raise
    return run_states(spec, out)


def run_study_ray(spec: StudySpec, out: str | Path, address: str | None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                  command: list[str] | None = None, init_kwargs: dict | None = None) -> list[RunState]:
    """Dispatch every pending run to a Ray cluster, one Ray task per run, with its resources.

    `out` must be on storage every node sees (a shared filesystem), as with any Ray job that
    writes files. Claims still apply, so a Ray study and a local one never run the same run.
    """
    try:
        import ray
    except ImportError:
        raise AdapterlabError("--executor ray needs Ray: pip install 'ray[default]'") from None
    out = Path(out).resolve()
    write_plan(spec, out, command or [])
    if not ray.is_initialized():
        ray.init(address=address, **(init_kwargs or {}))

    @ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)
    def execute(run: PlannedRun, out: str) -> str:
        run_dir = Path(out) / run.relative_dir
        if read_result(run_dir) is not None or not try_claim(run_dir):
            return "skipped"
        try:
            return run_one(run, Path(out), max(1, int(cpus_per_run)))
        finally:
            release(run_dir)

    pending = [run for run in spec.runs if read_result(out / run.relative_dir) is None]
    ray.get([execute.remote(run, str(out)) for run in pending])
    return run_states(spec, out)


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
    from adapterlab.train.config import RunConfig

    plan = load_plan(out)
    placeholder = RunConfig(task="classification", train="-")
    return [state_of(PlannedRun(e["dir"].rsplit("/seed=", 1)[0], e["seed"], placeholder, e["labels"]), out / e["dir"]) for e in plan["runs"]]
