"""What did not finish, and the command that goes on: `study run`'s closing block (each run that
failed, died, was left pending or changed, and why) and its exit status, and the same after
`compare`."""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapterlab.runs import RESULT_FILE
from adapterlab.study.folder import RunState, status_of_folder, why_changed
from adapterlab.study.ownership import claim_path, read_claim


def unfinished_lines(
    states: list[RunState], out: Path, budget_left: Sequence[str] = (), no_room: bool = False
) -> list[str]:
    """One line per run of `states` that did not finish (failed, died, pending, changed), saying
    why and what reruns it. Runs another live process is running are not ours to report.
    budget_left: runs not started because the time budget would not let them finish; no_room:
    the spec's policy.budget has room for none of them (running again starts none)."""
    lines = []
    for state in states:
        where = state.run.relative_dir
        error = (state.result.error if state.result else None) or "no error recorded"
        if state.state == "failed":
            lines.append(
                f"{where}: died ({error}); the same command reruns it"
                if state.died
                else f"{where}: failed ({error}); --retry-failed reruns it"
            )
        elif state.state == "changed":
            lines.append(f"{where}: {why_changed(state)}; --rerun-changed reruns it")
        elif state.state == "pending":
            owner = read_claim(out / where)
            if state.damage:
                lines.append(
                    f"{where}: pending: its {RESULT_FILE} is damaged ({state.damage}); the same command runs it again"
                )
            elif where in budget_left:
                lines.append(
                    f"{where}: pending: not started, as it would not finish within the time budget; "
                    + (
                        "the spec's policy.budget has no room for it: --budget gives a sitting its own limit"
                        if no_room
                        else "the same command goes on"
                    )
                )
            elif owner is not None:
                lines.append(
                    f"{where}: pending: its claim {claim_path(out / where)} names pid {owner.get('pid')} on {owner.get('host')}, "
                    "which no longer runs it; the same command takes it over"
                )
            else:
                lines.append(
                    f"{where}: pending: no worker started it (stopped early, or skipped by its worker); the same command runs it"
                )
    return lines


def unfinished_report(
    states: Sequence[Any],
    out: Path,
    deaths: Sequence[Any],
    command: list[str],
    budget_left: Sequence[str] = (),
    budget: Any = None,
) -> tuple[list[str], int]:
    """The runs that did not finish and the dead workers, with the command that reruns them, and
    the exit status: 3 when there are any, else 0. budget_left: runs not started because the
    budget would not let them finish; budget (study/sittings.py BudgetUse): where the spec's
    budget has no room for any of them, the command gets a --budget of its own."""
    no_room = bool(budget is not None and budget.no_room and budget_left)
    lines = unfinished_lines(list(states), out, list(budget_left), no_room)
    if not lines and not deaths:
        return [], 0
    shown = [
        f"\nnot finished: {len(lines)} of {len(states)} run(s)"
        + (f"; {len(deaths)} worker process(es) died" if deaths else "")
    ]
    shown += [f"  {death.describe()}" for death in deaths]
    shown += [f"  {line}" for line in lines]
    if not lines:
        return (
            shown,
            3,
        )  # a worker died, and another reran its run: every run is done, but the study did not go as planned
    retry = [word for word in command if word != "--no-progress"]
    if (
        any(s.state == "failed" and (s.result.reason if s.result else None) != "died" for s in states)
        and "--retry-failed" not in retry
    ):
        retry.append("--retry-failed")
    if any(s.state == "changed" for s in states) and "--rerun-changed" not in retry:
        retry.append("--rerun-changed")
    if no_room and "--budget" not in retry:  # the runs left one after another, at their ceiling
        retry += ["--budget", budget_argument(budget.left_total or 0.0)]
    shown.append(f"to run them again: {shlex.join(retry)}")
    return shown, 3


def unfinished_study_report(study: Path, command: list[str]) -> tuple[list[str], int]:
    """After a comparison: its runs that failed or died, with the command that reruns them, and
    exit 3; runs its budget left unstarted are in the answer's notes (a budget is a plan)."""
    if not (study / "study.json").is_file():
        return [], 0
    return unfinished_report(
        [s for s in status_of_folder(study) if s.state not in ("pending", "running")], study, [], command
    )


def budget_argument(seconds: float) -> str:
    """A --budget value of at least `seconds`, in whole half hours: 5400 -> "1h30m"."""
    halves = max(math.ceil(seconds / 1800), 1)
    hours, minutes = divmod(halves * 30, 60)
    return f"{hours}h{minutes}m" if hours and minutes else (f"{hours}h" if hours else f"{minutes}m")
