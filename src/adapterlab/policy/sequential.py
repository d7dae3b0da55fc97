"""Seeds until decided (policy.seeds: {min, max}): after the minimum, one more seed at a time for
each comparison that is still undecided (inconclusive: its interval straddles both 0 and the
equivalence margin, and no validity gate tripped, since more seeds cannot fix a gate), up to the
maximum or the budget. The comparisons are the spec's claims, or without claims the method
comparisons of the main table (those selected on validation where the report selects).

Looking again after every seed would inflate a fixed-n test's false positives (the naive rule:
about 0.16 instead of 0.05 over looks at 5 to 20 seeds, benchmarks/sequential_error_rates.py);
a sequential study's tests are anytime-valid instead (report/statistics.anytime_paired)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapterlab.report.build import StudyTables
from adapterlab.study.extensions import Extension
from adapterlab.study.policy_spec import PolicyOptions

# (description, seeds so far, the compared (task, Column) cells) of one undecided comparison
Target = tuple[str, int, list[tuple[Any, Any]]]


def _targets(tables: StudyTables) -> list[Target]:
    """Every undecided comparison of the spec's claims, or else of the main table."""
    found = []
    if tables.claims:
        for r in tables.claims:
            if r.verdict == "inconclusive" and not r.gates.trips and r.compared:
                found.append((f"{r.claim.id} on {r.study}", r.n, list(r.compared)))
        return found
    main = tables.by_name()["main"]
    columns = {c.name: c for c in main.columns}
    tests = [t for t in main.significance if not t.average]
    selected = [t for t in tests if t.family.startswith("selected")]
    for test in selected or tests:
        if test.verdict == "inconclusive" and not test.gate:
            compared = [(test.task, columns[test.adapter]), (test.task, columns[test.finetune])]
            found.append((f"{test.task}: {test.adapter} vs {test.finetune}", test.comparison.n, compared))
    return found


def seed_extensions(
    tables: StudyTables, policy: PolicyOptions, targets: Callable[[StudyTables], list[Target]] | None = None
) -> list[Extension]:
    """One more seed for each compared cell of each undecided comparison below the maximum.
    targets: the comparisons the caller's answer makes (compare: each method against the best on
    validation), instead of the claims' or the main table's."""
    if policy.seeds is None:
        return []
    main = tables.main
    found: dict[tuple, Extension] = {}
    for description, n, compared in (targets or _targets)(tables):
        if n >= policy.seeds.max or n < policy.seeds.min:
            continue
        wanted = set(range(n + 1))
        for task, column in compared:
            cell = main.cells.get((task, column))
            if cell is None:
                continue
            point = cell.selection.chosen if cell.selection is not None else column
            missing = tuple(sorted(wanted - set(cell.by_seed())))
            if missing:
                labels = {"task": task, **point.labels()}
                key = (tuple(sorted(labels.items())), missing)
                found.setdefault(
                    key,
                    Extension.make(
                        "seeds",
                        labels,
                        missing,
                        f"{description}: undecided at {n} seeds, added seed {', '.join(map(str, missing))}",
                    ),
                )
    return list(found.values())
