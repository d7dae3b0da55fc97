"""`study run`: a study spec run into its folder with the local executor under the spec's
policy (or on Ray), with a progress bar over its runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.policy.run import run_policy_study
from adapterlab.study.executor import check_study_start, run_states, run_study_ray, select_runs
from adapterlab.study.extensions import load_extensions
from adapterlab.study.progress import FinishedRuns, StudyBar
from adapterlab.study.sittings import BudgetUse
from adapterlab.study.spec import StudySpec, with_extensions


@dataclass(frozen=True)
class StudyRunOptions:
    """How to run a study: `adapterlab study run`'s options."""

    workers: int = 1  # local worker processes
    executor: str = "local"  # local or ray
    address: str | None = None  # Ray cluster address
    cpus_per_run: float = 1.0  # Ray
    gpus_per_run: float = 0.0  # Ray
    inline: bool = False  # each run in its worker process, not a child of its own
    retry_failed: bool = False  # also rerun runs that failed with an error
    rerun_changed: bool = False  # rerun finished runs whose recorded settings differ from the spec's
    only: dict[str, str] = field(default_factory=dict)  # run only the runs with these labels
    budget: float | None = None  # seconds; start no run that would not finish within it
    progress: bool = True  # the progress bar


@dataclass(frozen=True)
class StudyRunOutcome:
    states: list[Any]  # every run's state at the end
    budget_left: list[str]  # runs not started because they would not finish within the budget
    deaths: list[Any]  # worker processes that died (WorkerDeath)
    budget: BudgetUse | None = None  # this sitting's limit and what it left unstarted


def run_study_command(spec: StudySpec, out: Path, options: StudyRunOptions, command: list[str]) -> StudyRunOutcome:
    """Run every pending run of `spec` into `out` (re-running resumes). Checked before the
    progress bar starts, so that a refused study shows and writes nothing."""
    check_study_start(spec, out, options.workers, options.rerun_changed)
    full = with_extensions(spec, load_extensions(out) if out.is_dir() else [])
    # with --only, the runs outside it are not rerun: they keep their state
    finished = FinishedRuns(select_runs(full, options.only), out, options.retry_failed, options.rerun_changed)
    bar = StudyBar(
        out, len(full.runs), finished.count(run_states(full, out)), disable=not options.progress
    )  # finished runs plus the running runs' steps

    def progress(name: str, status: str) -> None:
        current = with_extensions(spec, load_extensions(out))
        states = run_states(current, out)
        # the policy may grow the study
        bar.update(len(current.runs), finished.count(states), name, status)

    if options.executor == "ray" and (
        options.only or options.budget or spec.policy.bracket or spec.policy.sequential or spec.policy.budget
    ):
        raise AdapterlabError(
            "--only, --budget and a spec's policy (bracket, seeds, budget) work with the local executor (--executor local)"
        )
    deaths: list = []
    if options.executor == "ray":
        states = run_study_ray(
            spec,
            str(out),
            options.address,
            options.cpus_per_run,
            options.gpus_per_run,
            command,
            retry_failed=options.retry_failed,
            rerun_changed=options.rerun_changed,
            on_worker_death=deaths.append,
        )
        left: list[str] = []
        budget = None
    else:
        outcome = run_policy_study(
            spec,
            out,
            workers=options.workers,
            command=command,
            progress=progress,
            retry_failed=options.retry_failed,
            rerun_changed=options.rerun_changed,
            isolation="inline" if options.inline else "process",
            only=options.only,
            budget=options.budget,
            say=bar.write,
            on_worker_death=deaths.append,
        )
        states, left = outcome.states, outcome.budget_left
        budget = outcome.budget
    bar.close()
    return StudyRunOutcome(states, left, deaths, budget)
