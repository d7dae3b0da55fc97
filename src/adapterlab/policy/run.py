"""`adapterlab study run` under a study's policy: the runner produces evidence that can pass the
validity gates (report/gates.py) by itself, instead of finding out after the runs.

- convergence: every run stops when validation stops improving (spec.py gives each run the
  policy's early stopping; `epochs` is the ceiling and the run records why it stopped);
- bracket: when the value selected on validation sits at the edge of its grid, the grid grows
  (policy/bracketing.py) and the study runs the new point for every seed, then selects again;
- seeds: after the minimum, seeds are added one at a time to each comparison that is still
  undecided (policy/sequential.py), with anytime-valid tests;
- budget: no run starts that would not finish in time (policy/budget.py); what is left stays
  pending, and running the same command again resumes. The spec's policy.budget bounds the whole
  study over all its sittings (study/sittings.py records each invocation's wall time); `--budget`
  bounds this sitting alone, in place of what is left of the spec's.

Every decision is a pure function of finished run records and is recorded with its reason in
DIR/extensions.json before the runs it adds start, so a killed study, resumed, plans the same runs
and runs nothing twice.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.policy.bracketing import bracket_extensions
from adapterlab.policy.budget import run_estimates
from adapterlab.policy.sequential import Target, seed_extensions
from adapterlab.report.build import StudyTables, assemble
from adapterlab.study.analyze import analyze_study
from adapterlab.study.claims_spec import resolve_claims
from adapterlab.study.executor import RUNNERS, RunLimits, check_study_start, run_states, run_study, select_runs
from adapterlab.study.extensions import Extension, add_extensions, load_extensions
from adapterlab.study.folder import RunState, write_plan
from adapterlab.study.sittings import BudgetUse, load_ledger, sitting
from adapterlab.study.spec import StudySpec, with_extensions

logger = logging.getLogger(__name__)
WAIT_SECONDS = 10.0  # how often to look again while another invocation runs runs this one's decisions wait for


@dataclass
class PolicyOutcome:
    """What `study run` did under the policy."""

    states: list[RunState]
    extensions: list[Extension] = field(default_factory=list)  # every extension of the study (earlier ones too)
    added: list[Extension] = field(default_factory=list)  # those this invocation decided
    budget_left: list[str] = field(default_factory=list)  # runs left pending because they would not finish in time
    spec: StudySpec | None = None  # the study with its extensions
    budget: BudgetUse | None = None  # the limit this sitting ran under and what it left unstarted


def run_policy_study(
    spec: StudySpec,
    out: str | Path,
    workers: int = 1,
    command: list[str] | None = None,
    progress: Callable[[str, str], None] | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
    isolation: str = "process",
    only: dict[str, str] | None = None,
    budget: float | None = None,
    say: Callable[[str], None] | None = None,
    wait: float = WAIT_SECONDS,
    probes: dict | None = None,
    on_worker_death: Callable | None = None,
    seed_targets: Callable[[StudyTables], list[Target]] | None = None,
) -> PolicyOutcome:
    """Run the study, then grow it as its policy asks, until nothing is left to decide, the
    maximum is reached or the budget is spent: `budget` (seconds) for this sitting, else what is
    left of the spec's policy.budget after the study's earlier sittings (DIR/sittings/). `say` gets one line per decision (the CLI prints them). `probes`: step timings the caller
    already has (probe_key_with_length -> ProbeResult), for the budget's estimates. on_worker_death: as run_study's.
    seed_targets: the undecided comparisons that seeds are added for (policy/sequential.py's
    default: the claims', or the main table's)."""
    out = Path(out)
    say = say or (lambda line: logger.info("%s", line))
    _prepare(spec, out, workers, rerun_changed, isolation, only, command)
    source, budget = _sitting_budget(spec, out, budget)
    deadline = time.time() + budget if budget is not None else None
    probes = dict(probes or {})
    added: list[Extension] = []

    def outcome(states: list[RunState], full: StudySpec, left: list[str], estimates: dict | None) -> PolicyOutcome:
        use = _budget_use(source, budget, left, estimates)
        return PolicyOutcome(states, load_extensions(out), added, left, full, use)

    if source == "spec" and budget <= 0:  # spent: nothing can start, so nothing is timed or recorded
        full = with_extensions(spec, load_extensions(out))
        states = run_states(full, out)
        return outcome(states, full, [s.run.relative_dir for s in states if s.state == "pending"], None)
    options = {"workers": workers, "command": command, "progress": progress, "retry_failed": retry_failed}
    options |= {"rerun_changed": rerun_changed, "isolation": isolation, "only": only}
    run = functools.partial(run_study, on_worker_death=on_worker_death, **options)
    with sitting(out, workers, budget, source):  # this invocation's wall time, for the spec's budget
        while True:
            full = with_extensions(spec, load_extensions(out))
            limits = (
                RunLimits(deadline, run_estimates(full, out, probes, progress=say)) if deadline is not None else None
            )
            states = run(full, out, limits=limits)
            left = [s.run.relative_dir for s in states if s.state == "pending"]
            if limits is not None and left and time.time() + min(limits.estimates.get(d, 0.0) for d in left) > deadline:
                return outcome(states, full, left, limits.estimates)
            if left or only or not (spec.policy.bracket or spec.policy.sequential) or _failed(states, say):
                return outcome(states, full, [], None)
            if not _others_running(states, say, wait):
                fresh = _record(out, _decide(out, spec, seed_targets, say), say)
                if not fresh:
                    return outcome(states, full, [], None)
                added += fresh


def _others_running(states: list[RunState], say: Callable[[str], None], wait: float) -> bool:
    """Whether another invocation runs part of this study (said, after a wait): its results
    decide what grows, so nothing is decided before they are in."""
    running = [s for s in states if s.state == "running"]
    if running:
        say(f"waiting for {len(running)} run(s) another `study run` holds, before deciding what to add")
        time.sleep(wait)
    return bool(running)


def _prepare(spec, out: Path, workers: int, rerun_changed: bool, isolation: str, only, command) -> None:
    """Everything checked before anything is written, then the plan, which marks the folder ours
    before the sitting's record goes into it."""
    check_study_start(spec, out, workers, rerun_changed)
    if isolation not in RUNNERS:
        raise AdapterlabError(f"isolation={isolation!r}: allowed: {', '.join(RUNNERS)}")
    select_runs(spec, only)  # a bad --only is refused here
    write_plan(with_extensions(spec, load_extensions(out)), out, command or [])


def _sitting_budget(spec: StudySpec, out: Path, budget: float | None) -> tuple[str | None, float | None]:
    """(where this sitting's limit comes from, the limit in seconds): --budget as given, else what
    is left of the spec's policy.budget after the study's recorded sittings, else none."""
    if budget is not None:
        return "--budget", budget
    if spec.policy.budget:
        return "spec", max(spec.policy.budget - load_ledger(out).seconds, 0.0)
    return None, None


def _budget_use(source, budget, left: list[str], estimates: dict | None) -> BudgetUse | None:
    if source is None or budget is None:
        return None
    known = [estimates[d] for d in left if estimates and d in estimates]
    return BudgetUse(source, budget, min(known, default=None), sum(known) if known else None)


def _failed(states: list, say: Callable[[str], None]) -> bool:
    """Whether runs of the study have failed (said): a grid with holes decides nothing, since an
    edge or an undecided comparison read from it could be wrong."""
    failed = [s.run.relative_dir for s in states if s.state == "failed"]
    if failed:
        say(
            f"{len(failed)} run(s) failed ({failed[0]}{', ...' if len(failed) > 1 else ''}): nothing is added "
            "until they finish; `study run --retry-failed` reruns them"
        )
    return bool(failed)


def _record(out: Path, new: list[Extension], say: Callable[[str], None]) -> list[Extension]:
    """Record the extensions decided in extensions.json (before the runs they add start) and say
    each that was not recorded yet, with its reason; returns those."""
    if not new:
        return []
    before = {(e.kind, e.labels, e.seeds) for e in load_extensions(out)}
    add_extensions(out, new)
    fresh = [e for e in new if (e.kind, e.labels, e.seeds) not in before]
    # one line per decision: the two cells of one comparison each get a seed, for the same reason
    for line in dict.fromkeys(f"{extension.kind}: {extension.reason}" for extension in fresh):
        say(line)
    return fresh


def _decide(out: Path, spec: StudySpec, seed_targets=None, say: Callable[[str], None] = print) -> list[Extension]:
    """What to add now, from the finished records: grid points first (the comparison is made at
    the optimum), then seeds. Before seeds, the spec's analyses run over the runs finished since
    the last look, when a claim is measured on their tables (C1 on RSA, C4 on the cross-lingual
    tables): without them such a claim has no row, gets no seeds, and the claims it would share a
    family with are decided in a smaller family than the report's."""
    tables = assemble(out)
    if spec.policy.bracket:
        grown = bracket_extensions(tables.main, spec.policy)
        if grown:
            return grown
    if not spec.policy.sequential:
        return []
    if _claims_on_analyses(spec):
        analyze_study(out, progress=False, say=say, skip_unweighted=True)  # the runs finished since
        _release_accelerator_memory()  # the runs that follow train in processes of their own
        tables = assemble(out)
    return seed_extensions(tables, spec.policy, seed_targets)


def _release_accelerator_memory() -> None:
    """The analysis evaluated models in this process: give their cached GPU memory back."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _claims_on_analyses(spec: StudySpec) -> bool:
    """Whether a claim the study tests is measured on a table `study analyze` makes."""
    tested = [c for c in resolve_claims(spec.claims) if not c.not_tested]
    return any(c.table == "rsa" or c.table.startswith("crosslingual:") for c in tested)
