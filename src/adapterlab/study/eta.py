"""`study status`'s ETA: the run time left, from the pace of this study's own runs.

Runs of one setting apart from its learning rate and seed (task, method, k, adapter size, grid
axes) share a pace (seconds per optimizer step, evaluations included) and a ceiling (the steps
their epochs allow): a learning rate changes neither. Each run left is priced at its ceiling,
since convergence stopping may or may not cut it: the ETA is what the runs left take if none
stops early. A setting none of whose runs has trained yet has no pace and is said to be unpriced
instead of being priced at another method's pace (ChemProt's fine-tuning steps take 3 times an
adapter's: an ETA from the adapters said 96 min where 5 hours were left).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adapterlab.study.folder import RunState
from adapterlab.study.progress import running_progress


@dataclass(frozen=True)
class Eta:
    seconds: float  # run time left, one run after another, every run left at its ceiling
    runs: int  # the runs left that are priced (pending or training)
    training: int  # runs training now (the workers in use)
    unpriced: tuple[str, ...]  # settings of runs left that no pace covers yet, e.g. "k=1000 finetune"
    unpriced_runs: int

    @property
    def parallel_seconds(self) -> float:
        """The time left when as many runs train at once as do now (at least one)."""
        return self.seconds / max(self.training, 1)


def _group(state: RunState) -> tuple:
    labels = state.run.labels
    return tuple(sorted((key, str(value)) for key, value in labels.items() if key not in ("lr", "seed")))


def _group_name(state: RunState) -> str:
    """ "k=1000 finetune on chemprot": the setting without its learning rate."""
    setting = state.run.setting
    return f"{setting.column.without('lr').name} on {setting.task}"


def remaining_time(states: Sequence[RunState], out: Path) -> Eta | None:
    """The ETA of the runs of `states` (a study folder `out`'s) that are pending or training; None
    when none is left."""
    paces: dict[tuple, list[float]] = {}
    ceilings: dict[tuple, int] = {}
    for state in states:
        result = state.result
        if state.state in ("ok", "diverged") and result and result.wall_seconds and result.steps:
            paces.setdefault(_group(state), []).append(result.wall_seconds / result.steps)
            ceiling = result.ceiling_steps or (result.steps if result.stop_reason == "ceiling" else None)
            if ceiling:
                ceilings[_group(state)] = max(ceilings.get(_group(state), 0), ceiling)
    running = {r.relative_dir: r for r in running_progress(out)}
    live_paces: dict[tuple, list[float]] = {}
    for state in states:
        now = running.get(state.run.relative_dir)
        if now is not None:
            ceilings.setdefault(_group(state), now.steps)
            if now.seconds_per_step:
                live_paces.setdefault(_group(state), []).append(now.seconds_per_step)
    left = [state for state in states if state.state in ("pending", "running")]
    if not left:
        return None
    seconds, priced, unpriced, unpriced_runs = 0.0, 0, [], 0
    for state in left:
        group = _group(state)
        pace = paces.get(group) or live_paces.get(group)
        now = running.get(state.run.relative_dir)
        steps = (now.steps - now.step) if now is not None else ceilings.get(group)
        if not pace or steps is None:
            unpriced_runs += 1
            if _group_name(state) not in unpriced:
                unpriced.append(_group_name(state))
            continue
        seconds += statistics.mean(pace) * steps
        priced += 1
    return Eta(seconds, priced, len(running), tuple(unpriced), unpriced_runs)
