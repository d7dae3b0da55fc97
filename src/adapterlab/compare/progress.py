"""`compare`'s line per finished run: runs done, time used against the budget, and the time the
runs left take, priced as `study status` prices them (study/eta.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from adapterlab.compare.plan import ComparePlan
from adapterlab.errors import AdapterlabError


def progress_line(
    spec, study: Path, started: float, budget: float, say: Callable[[str], None], retry_failed: bool, plan: ComparePlan
):
    """A line per finished run: runs done (not those this call reruns: study/progress.py
    FinishedRuns), time used against the budget, and the time the runs left take: each at its own
    method's pace (its finished runs', else the plan's probe) and its ceiling's steps, as
    `study status` prices them (study/eta.py); the estimate stops each where its method's
    finished runs stopped on average, the bound at its ceiling. The old line (runs left x the mean
    run so far) said "about 3 min" for BBC News's 17 runs left, since the faster adapter runs come
    first; they took 6."""
    from adapterlab.report.study_console import duration
    from adapterlab.study.eta import remaining_time, shows_estimate
    from adapterlab.study.extensions import load_extensions
    from adapterlab.study.folder import run_states
    from adapterlab.study.plan import steps_of_config
    from adapterlab.study.progress import FinishedRuns
    from adapterlab.study.spec import with_extensions

    counter = FinishedRuns(
        with_extensions(spec, load_extensions(study)) if study.is_dir() else spec, study, retry_failed, False
    )
    ceilings: dict[str, int] = {}
    sizes: dict = {}  # the sampled training file is read once: steps_of_config caches its size

    def probed(state) -> float | None:
        return plan.seconds_per_step.get(str(state.run.labels.get("method")))

    def progress(name: str, status: str) -> None:
        if not name:
            return
        now = time.time()
        current = with_extensions(spec, load_extensions(study))
        for run in current.runs:
            if run.relative_dir not in ceilings and run.config is not None:
                try:
                    ceilings[run.relative_dir] = steps_of_config(run.config, sizes)
                except (AdapterlabError, OSError, ValueError):
                    pass  # then the records' ceiling, as in `study status`
        states = run_states(current, study)
        done = counter.count(states)
        left = len(states) - done
        eta = remaining_time(states, study, ceilings, fallback_pace=probed)
        if eta is None or not eta.runs:
            time_left = ""
        else:
            of_them = f" for {eta.runs} of them" if eta.unpriced_runs else ""
            time_left = (
                f", about {duration(eta.expected_seconds)}{of_them} (up to {duration(eta.seconds)} at the epoch ceiling)"
                if shows_estimate(eta)
                else f", about {duration(eta.seconds)}{of_them} at the epoch ceiling"
            )
        say(
            f"[{done}/{len(states)} runs] {name}: {status}; {(now - started) / 60:.1f} of {budget / 60:.0f} min used"
            f"; {left} planned run(s) left{time_left}"
        )

    return progress
