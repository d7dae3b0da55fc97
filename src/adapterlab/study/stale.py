"""Finished runs whose stop the training loop no longer makes (train/loop.py, since 2026-12-07):
their records are stale, and their study reruns them as changed (study/folder.py)."""

from __future__ import annotations

from adapterlab.data.tasks import left_chance
from adapterlab.runs import RunResult

STOPPED_AT_CHANCE = (
    "stopped by convergence at a constant predictor's score (the majority class), a stop the training loop "
    "no longer makes"
)


def stopped_at_chance(result: RunResult) -> bool:
    """Stopped by convergence while its best validation was a constant predictor's (the majority
    class), or with no best at all (no finite validation metric): a stop the training loop no
    longer makes (train/loop.py, since 2026-12-07), so such a record is stale and its study
    reruns it as changed."""
    return result.status == "ok" and result.stop_reason == "converged" and not left_chance(result.best_validation)


NO_FINITE_METRIC = (
    "stopped by convergence with no finite validation metric (a NaN metric is never a best), a stop the training "
    "loop no longer makes"
)


def stale_stop(result: RunResult) -> str | None:
    """Why a finished run's stop is one the loop no longer makes (stopped_at_chance), or None."""
    if not stopped_at_chance(result):
        return None
    return NO_FINITE_METRIC if result.best_validation is None else STOPPED_AT_CHANCE
