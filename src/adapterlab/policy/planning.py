"""`study plan`: what one or more specs will cost on this machine, from short probes; a setting
the specs share is probed once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.policy.budget import cost_range
from adapterlab.study.plan import plan_study, steps_of_spec
from adapterlab.study.spec import StudySpec, load_spec


@dataclass(frozen=True)
class SpecPlan:
    """The cost of one spec: a row per setting, the total with one worker (settings that do not
    fit this machine left out), and under a policy the (low, high, low runs, high runs) it allows."""

    spec: StudySpec
    costs: list[Any]  # study.plan's GroupCost rows
    total: float  # seconds with one worker
    cost_range: tuple[float, float | None, int, int | None] | None = None


def load_plan_specs(paths: list[str], overrides: dict) -> list[StudySpec]:
    """Every spec loaded and its steps counted before the first (minutes-long) probe; a spec
    named twice is planned once."""
    paths = list(dict.fromkeys(paths))
    specs = [load_spec(path, overrides, check_files=False) for path in paths]
    for path, spec in zip(paths, specs):
        try:
            steps_of_spec(spec)
        except AdapterlabError as err:
            raise AdapterlabError(f"{path}: {err}") from None
    return specs


def plan_specs(specs: list[StudySpec], probe_steps: int, progress: Callable[[str], None]) -> Iterator[SpecPlan]:
    """Each spec's plan as soon as its probes are done (the CLI prints it before the next probes)."""
    probes: dict = {}
    for spec in specs:
        costs = plan_study(spec, probe_steps, progress=progress, probes=probes)
        total = sum(c.seconds for c in costs if not c.probe.error)
        policy_range = None
        if spec.policy.bracket or spec.policy.sequential:
            per_run = {d: t for c in costs if not c.probe.error for d, t in zip(c.dirs, c.run_seconds())}
            policy_range = cost_range(spec, per_run)
        yield SpecPlan(spec, costs, total, policy_range)
