"""Validation curves: each finished run's metrics.jsonl read back as a Curve (Fig. 5, the
validity gates), and the tables made of them: Table 6 (mean and best validation metric over a
run's evaluations) and claim C6's fall after the best."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.names import COMPLETE_STATUSES
from adapterlab.report.gates import RunEvidence, fall_after_best, run_evidence
from adapterlab.report.tables import Observation, Table, build_table
from adapterlab.runs import METRICS_FILE, RunRecord
from adapterlab.setting import Setting
from adapterlab.study.gates_spec import GateOptions
from adapterlab.study.report_spec import DEFAULT_SELECT


@dataclass(frozen=True)
class Curve:
    """A run's validation curve (Fig. 5): metrics.jsonl's validation rows, per step when the run
    evaluated every N steps, else per epoch; and what the whole curve says for the validity gates."""

    setting: Setting
    metric: str
    rows: list[dict[str, Any]]
    seed: int | None = None
    validation: float | None = (
        None  # the run's best validation metric: a selected column picks the run the main table picks
    )
    evidence: RunEvidence | None = None
    folder: Path | None = None


def read_validation_rows(path: Path) -> list[dict[str, Any]]:
    """The validation rows of a run's metrics.jsonl, in the order written. A line that is not
    JSON is one error naming the file and line."""
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise AdapterlabError(
                f"{path}:{line_number}: not a JSON line (a truncated write?); run this run again"
            ) from None
    return [r for r in rows if isinstance(r, dict) and r.get("split") == "validation" and r.get("loss") is not None]


def read_curves(records: list[RunRecord]) -> list[Curve]:
    """The validation curve of each finished run (a run evaluated every N steps: its step rows)."""
    curves = []
    for record in records:
        path = record.folder / METRICS_FILE
        if not path.exists() or record.result.status not in COMPLETE_STATUSES:
            continue  # a failed (e.g. killed) run's partial curve is not a curve of its setting
        every = read_validation_rows(path)
        rows = [r for r in every if r.get("at") == "step"] if any(r.get("at") == "step" for r in every) else every
        curves.append(
            Curve(
                record.setting,
                record.result.metric or "",
                rows,
                record.seed,
                record.result.validation_metric,
                run_evidence(record.result, every, record.seed),
                record.folder,
            )
        )
    return curves


def overfitting_tables(
    curves: list[Curve], title: str, select: tuple[str, ...] = DEFAULT_SELECT, anytime: bool = False
) -> list[Table]:
    """Table 6: the mean and the best validation metric over all of a run's evaluations, as two
    tables shaped like the main one (mean ± std over seeds, adapter vs fine-tuning tested); a
    selected column holds the runs the main table selects (by their best validation metric)."""
    by_statistic: dict[str, list[Observation]] = {"mean": [], "best": []}
    for curve in curves:
        values = [r[curve.metric] for r in curve.rows if r.get(curve.metric) is not None]
        if not values:
            continue
        for statistic, value in (("mean", sum(values) / len(values)), ("best", max(values))):
            by_statistic[statistic].append(
                Observation(
                    curve.setting.task,
                    curve.setting.column,
                    curve.metric,
                    value,
                    curve.validation,
                    seed=curve.seed,
                    folder=curve.folder,
                )
            )
    caption = "validation metric ×100 {} over all of a run's evaluations, mean<sub>std</sub> over seeds"
    return [
        build_table(
            f"{title}: {statistic} validation metric over evaluations (Table 6)",
            observations,
            anytime=anytime,
            caption=caption.format("averaged" if statistic == "mean" else "at its best"),
            select=select,
        )
        for statistic, observations in by_statistic.items()
        if observations
    ]


def overfitting_gap_table(
    curves: list[Curve], select: tuple[str, ...] = DEFAULT_SELECT, window: int = GateOptions.tail, anytime: bool = False
) -> Table | None:
    """Claim C6's quantity per run: its best validation metric minus the mean of the next `window`
    evaluations (gates.fall_after_best): how far it falls once past its best. Table 6's own
    numbers (best and mean over ALL evaluations) mix the rise before the best into the mean, so
    with few evaluations they measure how fast a method learns, not how much it overfits (dropping
    the first of three evaluations flipped C6's sign); over the paper's 500 to 3,000 evaluations
    per run the two agree. A selected column holds the runs the main table selects."""
    observations = []
    for curve in curves:
        fall = fall_after_best(curve.evidence, window) if curve.evidence is not None else None
        if fall is not None:
            observations.append(
                Observation(
                    curve.setting.task,
                    curve.setting.column,
                    curve.metric,
                    fall / 100.0,
                    curve.validation,
                    seed=curve.seed,
                    evidence=curve.evidence,
                    folder=curve.folder,
                )
            )
    title = f"fall of the validation metric after its best (best minus the mean of the next {window} evaluations)"
    return build_table(title, observations, select=select, anytime=anytime) if observations else None
