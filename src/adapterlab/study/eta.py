"""`study status`'s ETA: the run time left, from the pace of this study's own runs.

Runs of one setting apart from its learning rate and seed (task, method, k, adapter size, TAPT,
grid axes) share a pace and a ceiling: a learning rate changes neither. The pace is a finished
run's wall time (model loading, evaluations, test and saving included; its process start-up and
file reading are not, and are added back per run to start as STARTUP_SECONDS) over the optimizer steps its
last process took (pace_of). Each run left is priced at its ceiling, since convergence stopping
may or may not cut it: the ETA is what the runs left take if none stops early. Beside that bound
it gives an estimate: each run left stopping at the mean share of its ceiling that its setting's
finished runs took (convergence stopping cut ChemProt's adapter runs to about 60%). A setting with no
pace yet is said to be unpriced instead of being priced at another method's pace (ChemProt's
fine-tuning steps take 3 times an adapter's: an ETA from the adapters said 96 min where 5 hours
were left).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runs import RunResult
from adapterlab.study.folder import RunState
from adapterlab.study.plan import STARTUP_SECONDS
from adapterlab.study.progress import running_progress
from adapterlab.train.config import RunConfig


@dataclass(frozen=True)
class Eta:
    seconds: float  # run time left, one run after another, every run left at its ceiling
    runs: int  # the runs left that are priced (pending or training)
    training: int  # runs training now (the workers in use)
    unpriced: tuple[str, ...]  # settings of runs left that no pace covers yet, e.g. "k=1000 finetune on chemprot"
    unpriced_runs: int
    # the same runs if each stops at the share of its ceiling that its setting's finished runs took
    # on average (the ceiling where none has finished): an estimate, where `seconds` is a bound
    expected_seconds: float = 0.0

    @property
    def parallel_seconds(self) -> float:
        """The time left when as many runs train at once as do now (at least one)."""
        return self.seconds / max(self.training, 1)


def pace_of(result: RunResult) -> float | None:
    """Seconds of wall time per optimizer step of a finished run, over the steps its last process
    took (a resumed run's wall time covers only those), TAPT's steps counted with the task's where
    that process ran them; None for a run that did not finish ok (a diverged run stops after a few
    steps, so its start-up would read as a slow pace) or that records no steps. Used by the ETA and
    the time budget (policy/budget.py)."""
    if result.status != "ok" or not result.wall_seconds or not result.steps:
        return None
    steps = result.steps - int((result.resumed_from or {}).get("step") or 0)
    tapt = result.tapt if isinstance(result.tapt, dict) else {}
    # TAPT's steps count where this process ran them: not after a resume in the task phase, nor
    # when a finished TAPT phase was reused (train/tapt.py marks it)
    if isinstance(tapt.get("steps"), int) and not result.resumed_from and not tapt.get("reused"):
        steps += tapt["steps"] - int((tapt.get("resumed_from") or {}).get("step") or 0)
    return result.wall_seconds / steps if steps > 0 else None


def _ceiling_of(result: RunResult) -> int | None:
    """The steps a finished run's epochs allow, TAPT's included, as its record says: its
    ceiling_steps, or its steps where it ran to the ceiling (records before ceiling_steps)."""
    ran_out = result.stop_reason == "ceiling" or (result.stop_reason is None and not result.stopped_early)
    task = result.ceiling_steps or (result.steps if ran_out else None)
    tapt = result.tapt if isinstance(result.tapt, dict) else {}
    return task + int(tapt.get("steps") or 0) if task else None


def _group(state: RunState) -> tuple:
    labels = state.run.labels
    return tuple(sorted((key, str(value)) for key, value in labels.items() if key not in ("lr", "seed")))


def _group_name(state: RunState) -> str:
    """The setting without its learning rate, e.g. "k=1000 finetune on chemprot"."""
    setting = state.run.setting
    return f"{setting.column.without('lr').name} on {setting.task}"


def planned_ceilings(configs: Mapping[str, dict | None]) -> dict[str, int]:
    """{relative run folder: the optimizer steps its config's epochs allow, TAPT's included}, for
    the runs with a k (train_size; study/plan.py steps_of_config). A run on its whole training
    file is left to the records: counting the file would read it on every `study status` (9 s for
    a 49 MB TSV), and a file not found here would fall back to the published dataset's size."""
    from adapterlab.study.plan import steps_of_config

    ceilings: dict[str, int] = {}
    sizes: dict = {}
    for folder, values in configs.items():
        if not values or values.get("train_size") is None:
            continue
        try:
            ceilings[folder] = steps_of_config(RunConfig.from_dict(values or {}), sizes)
        except (AdapterlabError, KeyError, TypeError, ValueError, OSError):
            continue  # no config (a plan of an older version), or data not on this machine: the records say
    return ceilings


def remaining_time(
    states: Sequence[RunState],
    out: Path,
    ceilings: Mapping[str, int] | None = None,
    fallback_pace: Callable[[RunState], float | None] | None = None,
) -> Eta | None:
    """The ETA of the runs of `states` (a study folder `out`'s) that are pending, training or died;
    `ceilings` (planned_ceilings, by relative folder) where the plan gives them, else the
    records'. `fallback_pace(state)` prices a setting no run has a pace for yet (`compare`'s
    probe of each method, compare/plan.py), scaled by finished runs' pace over their own probe;
    else it is unpriced. None when no run is left."""
    ceilings = dict(ceilings or {})
    paces: dict[tuple, list[float]] = {}
    recorded: dict[tuple, int] = {}
    for state in states:
        if state.state == "ok" and state.result is not None:
            group, pace, ceiling = _group(state), pace_of(state.result), _ceiling_of(state.result)
            if pace:
                paces.setdefault(group, []).append(pace)
            if ceiling:
                recorded[group] = max(recorded.get(group, 0), ceiling)
    shares, task_shares = _stop_shares(states, ceilings, recorded)
    running = [s for s in states if s.state == "running"]  # holding a live claim: a dead worker's is stale
    training, live_paces = _training_now(running, out, recorded)
    left = [
        state for state in states if state.state in ("pending", "running") or state.died
    ]  # a died run reruns on resume
    if not left:
        return None
    scale = _probe_scale(states, paces, fallback_pace) if fallback_pace is not None else 1.0
    seconds, expected, priced, unpriced, unpriced_runs = 0.0, 0.0, 0, [], 0
    for state in left:
        group = _group(state)
        pace = paces.get(group) or live_paces.get(group)
        if not pace and fallback_pace is not None and (probed := fallback_pace(state)):
            pace = [probed * scale]
        now = training.get(state.run.relative_dir)
        steps = (now.steps - now.step) if now is not None else ceilings.get(state.run.relative_dir, recorded.get(group))
        if not pace or steps is None:
            unpriced_runs += 1
            if _group_name(state) not in unpriced:
                unpriced.append(_group_name(state))
            continue
        if now is not None:  # training: its task phase's share, since its progress counts task steps only
            likely = max(now.steps * statistics.mean(task_shares.get(group, [1.0])) - now.step, 0.0)
        else:
            likely = steps * statistics.mean(shares.get(group, [1.0]))
        # a run to start also takes its process start-up and file reading, which its wall time leaves out
        start = STARTUP_SECONDS if now is None else 0.0
        seconds += statistics.mean(pace) * steps + start
        expected += statistics.mean(pace) * likely + start
        priced += 1
    return Eta(seconds, priced, len(running), tuple(unpriced), unpriced_runs, expected)


def _training_now(running: Sequence[RunState], out: Path, recorded: dict[tuple, int]) -> tuple[dict, dict]:
    """({folder: its progress} of the runs in their task phase now, {setting: their paces}), and
    each such setting's ceiling into `recorded` where no finished run gave one (its progress file
    names it, task steps only). A run starting or in TAPT has no progress yet (it counts at its
    ceiling); a dead worker's leftover progress file is no run training."""
    live = {r.relative_dir: r for r in running_progress(out)}
    training = {s.run.relative_dir: live[s.run.relative_dir] for s in running if s.run.relative_dir in live}
    live_paces: dict[tuple, list[float]] = {}
    for state in running:
        now = training.get(state.run.relative_dir)
        if now is not None:
            recorded.setdefault(_group(state), now.steps)
            if now.seconds_per_step:
                live_paces.setdefault(_group(state), []).append(now.seconds_per_step)
    return training, live_paces


def _stop_shares(
    states: Sequence[RunState], ceilings: Mapping[str, int], recorded: Mapping[tuple, int]
) -> tuple[dict[tuple, list[float]], dict[tuple, list[float]]]:
    """For each setting, the share of its ceiling each finished run took: TAPT's steps included
    (for a run left to start), and of its task phase alone (for a run training now). The ceiling
    is the plan's, else the record's, else the setting's largest (records before ceiling_steps
    give none for a run stopped early)."""
    shares: dict[tuple, list[float]] = {}
    task_shares: dict[tuple, list[float]] = {}
    for state in states:
        if state.state != "ok" or state.result is None or not state.result.steps:
            continue
        group = _group(state)
        ceiling = ceilings.get(state.run.relative_dir) or _ceiling_of(state.result) or recorded.get(group)
        if not ceiling:
            continue
        tapt = state.result.tapt if isinstance(state.result.tapt, dict) else {}
        tapt_steps = int(tapt.get("steps") or 0)
        shares.setdefault(group, []).append(min((state.result.steps + tapt_steps) / ceiling, 1.0))
        if ceiling > tapt_steps:
            task_shares.setdefault(group, []).append(min(state.result.steps / (ceiling - tapt_steps), 1.0))
    return shares, task_shares


def _probe_scale(
    states: Sequence[RunState], paces: Mapping[tuple, list[float]], fallback_pace: Callable[[RunState], float | None]
) -> float:
    """A probe times optimizer steps alone: the factor a finished setting's pace took over its own
    probe (start-up, evaluations, this machine's load), the median over settings, one each; 1
    where none has finished."""
    ratios: dict[tuple, float] = {}
    for state in states:
        group = _group(state)
        if group in paces and group not in ratios and (probed := fallback_pace(state)):
            ratios[group] = statistics.mean(paces[group]) / probed
    return statistics.median(ratios.values()) if ratios else 1.0


def shows_estimate(eta: Eta) -> bool:
    """Whether the estimate is worth saying beside the bound: convergence stopping has cut this
    study's runs by more than 5%."""
    return eta.expected_seconds < 0.95 * eta.seconds
