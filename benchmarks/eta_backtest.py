"""How close is the time-left estimate to the run time that was really left? Read from the
committed records.

For every committed study folder under docs/results, the runs are taken in the plan's order
(study.json, extensions last: the order the runner starts them in). At 25%, 50% and 75% of the
way, the runs before that point count as finished and the rest as pending, and three predictions
of the rest's run time (one run after another) are set against the sum of their recorded
wall_seconds:
  - mean so far (before): runs left x the mean wall time of the finished runs; `compare`'s
    per-run line until 2026-12-08;
  - bound (now): study/eta.py remaining_time's `seconds`, every run left at its ceiling at its
    setting's pace;
  - estimate (now): its `expected_seconds`, each run left stopping at the mean share of its
    ceiling that its setting's finished runs took.
A point where some run left has no finished run of its setting (unpriced without `compare`'s probe,
which the records do not keep) is left out of the three-way table; the mean so far, which prices it
anyway, is scored there on its own: that is where it goes wrong, since the runs left are of another
kind than the runs done. Each row prints prediction / actual; the summary the median of
|log2(prediction / actual)| (0 is exact, 1 is off by 2x) and how often each was within 25%.

    .venv/bin/python benchmarks/eta_backtest.py     # table + summary
    (--smoke: the same; it reads committed records only and takes seconds)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
from pathlib import Path

from adapterlab.study.eta import planned_ceilings, remaining_time
from adapterlab.study.folder import load_plan, status_of_folder

sys.path.insert(0, str(Path(__file__).parent))
from smoke import committed_records  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
POINTS = (0.25, 0.5, 0.75)


def backtest(study: Path) -> tuple[list[tuple[str, float, float, float, float]], list[float]]:
    """([(point, actual s, mean-so-far, bound, estimate)], [mean-so-far / actual at the points
    with an unpriced setting left]) for one study folder."""
    states = [s for s in status_of_folder(study) if s.state in ("ok", "diverged") and s.result is not None]
    if len(states) < 8 or any(not s.result.wall_seconds for s in states):
        return [], []
    ceilings = planned_ceilings({entry.dir: entry.config for entry in load_plan(study).runs})
    rows, unpriced = [], []
    for point in POINTS:
        cut = int(len(states) * point)
        finished, left = states[:cut], states[cut:]
        pending = [dataclasses.replace(s, state="pending", result=None) for s in left]
        eta = remaining_time(finished + pending, study / "no-progress-files-here", ceilings)
        actual = sum(s.result.wall_seconds for s in left)
        mean_so_far = statistics.mean(s.result.wall_seconds for s in finished) * len(left)
        if eta is None or eta.unpriced_runs:
            unpriced.append(mean_so_far / actual)
            continue
        rows.append((f"{point:.0%}", actual, mean_so_far, eta.seconds, eta.expected_seconds))
    return rows, unpriced


def main() -> int:
    if not committed_records((__doc__ or "").splitlines()[0], RESULTS):
        return 0
    names = ("mean so far (before)", "bound (now)", "estimate (now)")
    errors: dict[str, list[float]] = {name: [] for name in names}
    unpriced_all: list[float] = []
    print("study | point | actual h | " + " | ".join(f"{name} / actual" for name in names))
    for plan in sorted(RESULTS.rglob("study.json")):
        study = plan.parent
        rows, unpriced = backtest(study)
        unpriced_all += unpriced
        for point, actual, *predicted in rows:
            ratios = [p / actual for p in predicted]
            for name, ratio in zip(names, ratios):
                errors[name].append(abs(math.log2(ratio)))
            shown = " | ".join(f"{r:.2f}" for r in ratios)
            print(f"{study.relative_to(RESULTS)} | {point} | {actual / 3600:.2f} | {shown}")
    count = len(errors[names[0]])
    print(f"\n{count} points from the committed studies where every run left is priced:")
    for name in names:
        within = sum(e <= math.log2(1.25) for e in errors[name])
        median = statistics.median(errors[name]) if errors[name] else float("nan")
        print(f"{name}: median |log2(prediction / actual)| {median:.2f}; within 25% at {within} of {count} points")
    if unpriced_all:
        logs = [abs(math.log2(r)) for r in unpriced_all]
        within = sum(e <= math.log2(1.25) for e in logs)
        print(
            f"{len(unpriced_all)} points with a setting left that no finished run priced: mean so far (before): "
            f"median |log2(prediction / actual)| {statistics.median(logs):.2f}, within 25% at {within}, "
            f"from {min(unpriced_all):.2f}x to {max(unpriced_all):.2f}x the time left (now: that setting is "
            "unpriced in `study status`, at its probe in `compare`)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
