"""What the study commands print: run counts and failures (`study status`, `study run`), the
runs that did not finish with the command that reruns them, the cost table of `study plan` and
the summary above `study report`'s table. Functions return lines; the CLI prints them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.names import RUN_STATES
from adapterlab.study.claims_spec import extended_cells
from adapterlab.study.contention import Contention
from adapterlab.study.eta import Eta, planned_ceilings, remaining_time, shows_estimate
from adapterlab.study.extensions import load_extensions
from adapterlab.study.folder import load_plan, status_of_folder, why_changed


def status_lines(states: Sequence[Any], eta: Eta | None = None, show_failed: bool = True) -> list[str]:
    """Runs by state ("12 runs: 10 done, ..."), the `eta` (study/eta.py) when given, the failed
    runs and the changed ones."""
    lines = []
    counts: dict[str, int] = {}
    for state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
    lines.append(
        f"{len(states)} runs: " + ", ".join(f"{counts.get(k, 0)} {'done' if k == 'ok' else k}" for k in RUN_STATES)
    )
    if eta is not None:
        lines.append(eta_line(eta))
    for state in states if show_failed else ():
        if state.state == "failed" and state.result:
            how = "died; reruns on resume" if state.result.reason == "died" else "error; reruns with --retry-failed"
            lines.append(f"failed ({how}): {state.run.relative_dir}: {state.result.error or ''}")
    changed = [state for state in states if state.state == "changed"]
    if changed and show_failed:
        lines.append(
            f"changed: {len(changed)} finished run(s) no longer match the plan (e.g. {changed[0].run.relative_dir}: "
            f"{why_changed(changed[0])}); `study run --rerun-changed` runs them again"
        )
    damaged = [state for state in states if state.damage]
    if damaged and show_failed:
        lines.append(
            f"damaged: {len(damaged)} run(s) have a result.json that is no record (e.g. {damaged[0].run.relative_dir}: "
            f"{damaged[0].damage}); they count as pending, and `study run` runs them again"
        )
    return lines


def eta_line(eta: Eta) -> str:
    """`study status`'s ETA in one line: run time left at the ceiling, in parallel as now, and the
    runs no pace covers yet."""
    parts = []
    if eta.runs:
        parallel = (
            f"; about {duration(eta.parallel_seconds)} with {eta.training} runs training at once as now"
            if eta.training > 1
            else ""
        )
        parts.append(
            f"ETA: {duration(eta.seconds)} of run time for {eta.runs} run(s) left if none stops before its ceiling{parallel}"
        )
        if shows_estimate(eta):
            at_once = f" ({duration(eta.expected_seconds / eta.training)} at once)" if eta.training > 1 else ""
            parts.append(
                f"about {duration(eta.expected_seconds)}{at_once} if each stops where its setting's finished runs did on average"
            )
    if eta.unpriced_runs:
        parts.append(
            f"{eta.unpriced_runs} run(s) not priced: {'; '.join(eta.unpriced)} "
            f"{'has' if len(eta.unpriced) == 1 else 'have'} no recorded pace yet"
        )
    return "; ".join(parts)


def folder_status_lines(out: Path) -> list[str]:
    """`study status`: the folder's runs with an ETA, and what its policy added."""
    states = status_of_folder(out)
    plan = load_plan(out)
    ceilings = planned_ceilings({entry.dir: entry.config for entry in plan.runs})
    lines = status_lines(states, remaining_time(states, out, ceilings))
    lines += sittings_lines(out, plan.policy.budget, sum(s.result is not None for s in states))
    extensions = load_extensions(out)
    if extensions:
        lines.append(f"added by the study's policy ({len(extensions)}):")
        lines += [f"  {extension.kind}: {extension.reason}" for extension in extensions]
    return lines


def validation_line(path: str, spec: Any) -> str:
    """`study validate`'s answer: the study's name, runs, settings and tasks."""
    tasks = sorted({r.labels["task"] for r in spec.runs})
    settings = sorted({r.key for r in spec.runs})
    return f"ok: {path}: study {spec.name!r}, {len(spec.runs)} runs = {len(settings)} settings x seeds, tasks: {', '.join(tasks)}"


def report_summary_lines(report: Any, out: str) -> list[str]:
    """What `study report` says above the table: the runs it covers, the planned runs that did
    not finish, stale runs left out, and the files written."""
    lines = [f"report of {report.runs_done}/{report.runs_planned} runs in {report.folder}/:"]
    unfinished = [s for s in status_of_folder(Path(out)) if s.state not in ("ok", "diverged")]
    if unfinished:  # the table's cells then average over fewer seeds than planned: said above the table
        damaged = [s for s in unfinished if s.damage]
        # the example is an undamaged run where there is one: a damaged run is named once, below
        example = next((s for s in unfinished if not s.damage), unfinished[0])
        lines.append(
            f"INCOMPLETE: {len(unfinished)} planned run(s) did not finish ({example.run.relative_dir}: "
            f"{example.state}{' ...' if len(unfinished) > 1 else ''})"
            + (
                f", {len(damaged)} of them with a damaged result.json ({damaged[0].run.relative_dir}: {damaged[0].damage})"
                if damaged
                else ""
            )
            + f", so some cells average over fewer seeds than planned (`adapterlab study status {out}` counts them "
            "by state; `study run` lists them when it stops)"
        )
    if report.stale:
        lines.append(
            f"left out: {len(report.stale)} run(s) recorded with other settings than the plan's (e.g. {report.stale[0]}); "
            "`study run --rerun-changed` reruns them"
        )
    lines += [f"  {path.name}" for path in report.files]
    return lines


def sittings_lines(out: Path, spec_budget: float | None, finished: int) -> list[str]:
    """`study status`'s line on the wall time the study's sittings used (study/sittings.py),
    against the spec's policy.budget where it has one (with what is left, or that it is spent)."""
    from adapterlab.study.sittings import load_ledger

    try:
        ledger = load_ledger(out)
    except AdapterlabError as err:
        return [f"budget: {err}"]
    if not ledger.sittings:
        if spec_budget and finished:
            return [
                f"budget: no sitting recorded (an older adapterlab, or a copy of the folder without sittings/); "
                f"the spec's policy.budget of {duration(spec_budget)} counts from the next `study run`"
            ]
        return []
    first = time.strftime("%Y-%m-%d %H:%M", time.localtime(min(s.started for s in ledger.sittings)))
    older = (
        f"; sittings before {first} are not recorded here (an older adapterlab, or a copy of the folder without sittings/)"
        if ledger.unrecorded_before
        else ""
    )
    used, count = ledger.seconds, f"in {len(ledger.sittings)} sitting(s)"
    if not spec_budget:
        return [f"wall time: {duration(used)} {count}{older}"]
    left = f"{duration(spec_budget - used)} left" if used < spec_budget else "spent"
    return [
        f"budget: {duration(used)} of the spec's policy.budget of {duration(spec_budget)} used {count} ({left}){older}"
    ]


def budget_line(left: list[str], budget: Any, spec_budget: float | None, out: Path) -> str:
    """`study run`'s line on the runs its budget (study/sittings.py BudgetUse) left unstarted,
    and how to go on: running again goes on only while the spec's policy.budget, which bounds all
    sittings together, has room for a run."""
    line = f"budget: {len(left)} run(s) would not finish in the time left and did not start (e.g. {left[0]})"
    if budget is None or budget.source != "spec" or not spec_budget:
        return f"{line}; run the same command again to go on"
    from adapterlab.study.sittings import SITTINGS_DIR, load_ledger

    ledger = load_ledger(out)
    used = (
        f"{duration(ledger.seconds)} of the spec's policy.budget of {duration(spec_budget)} is used over "
        f"{len(ledger.sittings)} sitting(s) ({out / SITTINGS_DIR}/)"
    )
    if not budget.no_room:
        return f"{line}: {used}; run the same command again to go on with what is left of it"
    why = (
        "it is spent"
        if budget.seconds <= 0
        else f"the shortest run left needs about {duration(budget.shortest_left)}, more than the "
        f"{duration(budget.seconds)} left of it"
    )
    return f"{line}: {used}; {why}: pass --budget to give a further sitting its own limit, or raise policy.budget"


def step_time(seconds: float) -> str:
    """Seconds per optimizer step, readable at any speed: a small model's (or a GPU's) few
    milliseconds keep two significant digits instead of printing as 0.00."""
    return f"{seconds:.2f}" if seconds >= 0.1 else f"{seconds:.2g}"


def duration(seconds: float) -> str:
    """Seconds in words, precise enough that two durations on one line never round to the same
    words in the wrong order: 75 -> "75 s", 100 -> "1.7 min", 1500 -> "25 min", 7200 -> "2.0 h"."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def plan_lines(plan: Any, cpus: int | None) -> list[str]:
    """`study plan`'s table for one spec: a row per setting (runs, steps, time, memory), the total,
    the range its policy allows, and its budget. plan: a policy.planning.SpecPlan."""
    spec, costs = plan.spec, plan.costs
    devices = sorted({c.probe.device for c in costs if not c.probe.error}) or ["this machine"]
    where = f"{', '.join(devices)} ({cpus} cores)" if devices == ["cpu"] else ", ".join(devices)
    lines = [
        f"{spec.name}: {len(spec.runs)} run{'s' if len(spec.runs) != 1 else ''}, timed on {where} (training steps at the probe's rate, "
        f"evaluations and start-up estimated from it)",
        "| backbone | setting | batch x length | runs | steps per run | s/step | per run | all runs | peak memory of the steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        padded = (
            " (timed at max_length: no local data or backbone to read, or TAPT)"
            if c.batch_length is None
            else f" (padded to {c.batch_length} on average)"
            if c.batch_length < c.max_length
            else ""
        )
        steps = sorted(set(c.steps_per_run))
        shown = str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
        if c.probe.error:
            lines.append(
                f"| {c.model} | {c.setting} | {c.batch_size} x {c.max_length}{padded} | {c.runs} | {shown} | - | - | - | "
                f"does not fit: {c.probe.error} |"
            )
            continue
        lines.append(
            f"| {c.model} | {c.setting} | {c.batch_size} x {c.max_length}{padded} | {c.runs} | {shown} | {step_time(c.probe.seconds_per_step)} | "
            f"{duration(c.seconds / c.runs)} | {duration(c.seconds)} | {c.probe.peak_memory_mb:.0f} MB |"
        )
    lines.append(f"total: {duration(plan.total)} with one worker ({plan.total / 3600:.1f} h)")
    lines.append(
        "peak memory of the steps: the probe's process (the model, its optimizer and one batch at max_length); a run "
        "holds more (the loaded weights, evaluation, its best checkpoint's copy): its result.json records its own peak"
    )
    busy = [c for c in costs if not c.probe.error and c.probe.others_cpu_share is not None]
    worst = max(busy, key=lambda c: c.probe.others_cpu_share or 0.0, default=None)
    warning = Contention(worst.probe.others_cpu_share).warning("the steps were") if worst else None
    if warning:
        lines.append(warning)
    if plan.cost_range is not None:
        lines.append(policy_range_line(spec, plan.cost_range))
    if spec.policy.budget:
        lines.append(f"budget: {duration(spec.policy.budget)}; runs that would not finish in it do not start")
    lines.append("")
    return lines


def policy_range_line(spec: Any, cost_range: tuple[float, float | None, int, int | None]) -> str:
    """The range of cost a spec's policy allows (policy/budget.py cost_range), in words."""
    low, high, low_runs, high_runs = cost_range
    extended = (
        {
            "every cell": ", and every cell at the maximum seeds, as a claim compares more than each method's choice",
            "chosen points": ", and each selected group's chosen point at the maximum seeds",
            "none": ", and no seeds added, as the spec tests none of its claims",
        }[extended_cells(spec.claims, spec.report.select)]
        if spec.policy.sequential
        else ""  # no seeds policy: no seeds are added
    )
    most = (
        f"to {high_runs} runs, {duration(high)} (every bracketed grid grown to its maximum{extended})"
        if high is not None
        else "with no fixed most (two bracketed axes: a value grown on one starts lines of its own on the other)"
    )
    return (
        f"under its policy: from {low_runs} runs, {duration(low)} (the least growth: every comparison decided at the minimum seeds, and a bracketed line of fewer than 3 values grown once) "
        f"{most}, with one worker; convergence stopping can only shorten runs"
    )


def plans_total_lines(plans: Sequence[Any]) -> list[str]:
    """Below the tables of `study plan`: all specs together, and the runs that do not fit."""
    lines = []
    grand_total = sum(plan.total for plan in plans)
    if len(plans) > 1:
        lines.append(
            f"all {len(plans)} specs: {sum(len(p.spec.runs) for p in plans)} runs, {duration(grand_total)} with one worker "
            f"({grand_total / 3600:.1f} h)"
        )
    not_fitting = sum(c.runs for plan in plans for c in plan.costs if c.probe.error)
    if not_fitting:
        lines.append(f"not counted: {not_fitting} run(s) whose setting does not fit this machine")
    return lines
