"""Running a study on a Ray cluster: one Ray task per pending run, with its resources. The same
claims as the local executor (study/executor.py), so a Ray study and a local one never run the
same run; each task runs its run in a child process (study/attempt.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.study.attempt import WorkerDeath, needs_run, run_one
from adapterlab.study.folder import RunState, check_study_start, run_states, write_plan
from adapterlab.study.ownership import heartbeat, release, try_claim
from adapterlab.study.spec import PlannedRun, StudySpec

logger = logging.getLogger(__name__)


def run_study_ray(
    spec: StudySpec,
    out: str | Path,
    address: str | None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    command: list[str] | None = None,
    init_kwargs: dict | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
    on_worker_death: Callable[[WorkerDeath], None] | None = None,
) -> list[RunState]:
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
        return _claim_and_run(run, Path(out), retry_failed, rerun_changed, max(1, int(cpus_per_run)))

    prints: dict = {}
    pending = [
        run
        for run in spec.runs
        if needs_run(run, out / run.relative_dir, retry_failed, rerun_changed, prints) is not None
    ]
    tasks = [(run, execute.remote(run, str(out))) for run in pending]
    for number, (run, task) in enumerate(tasks, start=1):
        try:
            ray.get(task)
        except ray.exceptions.RayError as err:
            # its Ray worker died (a node lost, out of memory): the run reruns on resume
            _report_death(number, run, err, on_worker_death)
    return run_states(spec, out)


def _claim_and_run(run: PlannedRun, out: Path, retry_failed: bool, rerun_changed: bool, threads: int) -> str:
    """One Ray task: claim the run's folder, check again that it still needs running (another
    worker may have finished it meanwhile), run it in a child process, release the claim."""
    run_dir = out / run.relative_dir
    if needs_run(run, run_dir, retry_failed, rerun_changed, {}) is None:
        return "skipped"
    token = try_claim(run_dir)
    if not token:
        return "skipped"
    try:
        action = needs_run(run, run_dir, retry_failed, rerun_changed, {})
        if action is None:
            return "skipped"
        with heartbeat(run_dir, token):
            return run_one(run, out, threads, overwrite=action == "overwrite")
    finally:
        release(run_dir, token)


def _report_death(
    number: int, run: PlannedRun, err: Exception, on_worker_death: Callable[[WorkerDeath], None] | None
) -> None:
    """A Ray task whose worker died: logged as a WorkerDeath, and handed to on_worker_death."""
    death = WorkerDeath(
        number,
        0,
        -1,
        (run.relative_dir,),
        reason=f"its Ray task failed: {str(err).strip().splitlines()[0][:200]}",
    )
    logger.warning("%s", death.describe())
    if on_worker_death:
        on_worker_death(death)
