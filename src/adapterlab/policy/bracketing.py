"""Grid bracketing: a selected value at the edge of its grid is no optimum until the value beyond
it has been tried. For each axis the policy brackets, the runner adds the next value beyond the
edge (policy_spec.Bracket.next_value) on the chosen point's line of the grid (the chosen column's
other settings), for every seed the line's points share, and selects again; it stops when the
choice is interior or the line holds max_points values (then the report's edge gate stays)."""

from __future__ import annotations

from typing import Any

from adapterlab.report.tables import Table
from adapterlab.study.extensions import Extension
from adapterlab.study.policy_spec import PolicyOptions


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bracket_extensions(main: Table, policy: PolicyOptions) -> list[Extension]:
    """The grid points to add now: one beyond each edge choice of a bracketed axis."""
    found: list[Extension] = []
    for (row, column), cell in main.cells.items():
        selection = cell.selection
        if selection is None or row == "average":
            continue
        chosen = selection.chosen.labels()
        shared = (
            set.intersection(*(set(main.cells[(row, c)].by_seed()) for c in selection.candidates))
            if selection.candidates
            else set()
        )
        seeds = tuple(sorted(shared, key=str)) or tuple(sorted(cell.by_seed(), key=str))
        for bracket in policy.bracket:
            value = chosen.get(bracket.axis)
            if not _number(value):
                continue
            others = {k: v for k, v in chosen.items() if k != bracket.axis}
            line = sorted(
                {
                    c.labels()[bracket.axis]
                    for c in selection.candidates
                    if _number(c.labels().get(bracket.axis))
                    and {k: v for k, v in c.labels().items() if k != bracket.axis} == others
                }
            )
            if len(line) >= bracket.max_points:
                continue  # the line is as long as the policy allows: the edge gate speaks for it
            directions = ([True] if value == line[-1] else []) + ([False] if value == line[0] else [])
            for upward in directions:
                beyond = bracket.next_value(value, upward)
                if beyond is None or beyond in line:
                    continue
                grid = ", ".join(map(_fmt, line))
                reason = (
                    f"{row}: {column.name} chose {bracket.axis} {_fmt(value)}, the {'top' if upward else 'bottom'} of {{{grid}}}: "
                    f"added {_fmt(beyond)} ({len(line) + 1} of at most {bracket.max_points} values)"
                )
                found.append(Extension.make("bracket", {"task": row, **others, bracket.axis: beyond}, seeds, reason))
    return found
