"""Can a run sitting at a constant predictor's score be told, from its validation loss, to have
collapsed (and be stopped) rather than to be starting slowly? Read from the committed records.

For every run under docs/results whose best validation chance-corrected score (MCC, entity F1,
Spearman) stayed within CHANCE_MARGIN of 0 for at least 3 epoch-end evaluations, it counts the
longest streak of evaluations in which the validation loss did not fall 2% below its best so far
while at chance, and whether the run later left chance. A rule "stop at chance after P flat
evaluations" is safe only if no run that left chance had a streak of P or more.

    .venv/bin/python benchmarks/at_chance_plateaus.py            # table + summary
    (--smoke: the same; it reads committed records only and takes seconds)
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from adapterlab.data.tasks import CHANCE_MARGIN, chance_score

sys.path.insert(0, str(Path(__file__).parent))
from smoke import committed_records  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
FLAT = 0.02  # a fall of less than 2% of the best loss is "flat"


def plateau(run: Path) -> tuple[bool, int, int] | None:
    """(left chance, longest flat-loss streak while at chance, evaluations at chance), or None."""
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return None
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("split") == "validation" and r.get("at") == "epoch" and "loss" in r]
    scores = [chance_score(r) for r in rows]
    if len(rows) < 3 or scores[0] is None:
        return None
    best, at_chance = float("-inf"), []
    for score in scores:
        best = max(best, score if score == score else float("-inf"))
        at_chance.append(best <= CHANCE_MARGIN)
    if sum(at_chance) < 3:
        return None
    best_loss, streak, longest = float("inf"), 0, 0
    for row, at in zip(rows, at_chance):
        if not at:
            break
        if row["loss"] < best_loss * (1 - FLAT):
            best_loss, streak = row["loss"], 0
        else:
            streak += 1
        longest = max(longest, streak)
    return not all(at_chance), longest, sum(at_chance)


def main() -> int:
    if not committed_records((__doc__ or "").splitlines()[0], RESULTS):
        return 0
    found = {}
    for result in sorted(RESULTS.rglob("result.json")):
        measured = plateau(result.parent)
        if measured is not None:
            found[str(result.parent.relative_to(RESULTS))] = measured
    print("left chance | longest flat-loss streak at chance | evaluations at chance | run")
    for run, (left, longest, at) in sorted(found.items(), key=lambda kv: (not kv[1][0], kv[1][1])):
        print(f"{'yes' if left else 'no':>11} | {longest:>34} | {at:>21} | {run}")
    left_streaks = Counter(longest for left, longest, _ in found.values() if left)
    stayed = Counter(longest for left, longest, _ in found.values() if not left)
    print(f"\n{len(found)} runs at chance for >= 3 evaluations; {sum(left_streaks.values())} later left it")
    print(f"longest flat streak, runs that left chance: {dict(sorted(left_streaks.items()))}")
    print(f"longest flat streak, runs that never did:   {dict(sorted(stayed.items()))}")
    safe = max(left_streaks, default=-1) + 1
    print(
        f"a patience of {safe} flat evaluations would have stopped no run that left chance here; "
        f"runs that left chance were at chance for at most "
        f"{max((at for left, _, at in found.values() if left), default=0)} evaluations, so longer plateaus are untested"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
