"""How long each run of a study should take, for a time budget (policy.budget, `study run
--budget`): measured from the study's finished runs of the same setting where there are any,
else from `study plan`'s probe of a few optimizer steps plus the evaluations and start-up."""

from __future__ import annotations

from pathlib import Path

from adapterlab.backbone import backbone_label
from adapterlab.runs import load_result
from adapterlab.study.claims_spec import extended_cells
from adapterlab.study.eta import pace_of
from adapterlab.study.plan import STARTUP_SECONDS, evaluation_seconds, steps_of
from adapterlab.study.probe import probe_key_with_length, run_probe
from adapterlab.study.spec import StudySpec


def run_estimates(spec: StudySpec, out: Path, probes: dict, progress=None) -> dict[str, float]:
    """{relative run folder: seconds} for every run of `spec` at its ceiling (epochs), so a run
    started within the budget ends within it even when convergence stopping does not cut it.
    `probes` (probe_key_with_length -> ProbeResult) is kept by the caller across rounds."""
    from adapterlab.data.tasks import get_task

    sizes: dict = {}
    steps = {run.relative_dir: steps_of(run, sizes) for run in spec.runs}
    measured: dict[tuple, float] = {}  # seconds per ceiling step, the slowest finished run of the setting
    for run in spec.runs:
        result = load_result(Path(out) / run.relative_dir)
        pace = pace_of(result) if result is not None else None
        if pace:
            key = probe_key_with_length(run.config)
            measured[key] = max(measured.get(key, 0.0), pace)
    estimates = {}
    for run in spec.runs:
        key = probe_key_with_length(run.config)
        if key in measured:
            # a run's wall time starts after its process start-up and file reading: added back
            estimates[run.relative_dir] = STARTUP_SECONDS + measured[key] * steps[run.relative_dir]
            continue
        if key not in probes:
            if progress:
                progress(
                    f"timing a few steps of {run.config.method} on {backbone_label(run.config.model)} for the budget"
                )
            probes[key] = run_probe(run.config, get_task(run.config.task).kind, 2, key[-1])
        per_step = probes[key].seconds_per_step
        estimates[run.relative_dir] = (
            STARTUP_SECONDS
            + per_step * steps[run.relative_dir]
            + evaluation_seconds(run.config, steps[run.relative_dir], per_step)
        )
    return estimates


def cost_range(spec: StudySpec, seconds: dict[str, float]) -> tuple[float, float | None, int, int | None]:
    """(fewest seconds, most seconds, fewest runs, most runs) of a study under its policy, from
    each planned run's estimate (`seconds`, by relative folder). Fewest: the spec's grid at the
    minimum seeds, every comparison decided at once, and only the growth no choice escapes: a
    bracketed line of 1 or 2 values has no interior, so it grows once (a line of 1, both ways). Most: every bracketed line grown
    to max_points (each new point at the cost of the line's dearest run, for the grid's seeds), then
    every cell the sequential rule may extend run up to seeds.max (extended_cells: every cell,
    grown points included, or each selected group's chosen point, or none).
    A line of one value is both its top and its bottom, so it grows both ways at once: to 3 values
    even where max_points is 2. With two bracketed axes there is no fixed most (None, None): a value
    grown on one axis starts lines of its own on the other."""
    low = sum(seconds.values())
    low_runs = len(spec.runs)
    if len(spec.policy.bracket) > 1:
        return low, None, low_runs, None
    seeds = len({run.seed for run in spec.runs}) or 1
    cells: dict[tuple, float] = {}  # labels without the seed -> the dearest run's seconds
    for run in spec.runs:
        key = _labels_key(run, exclude=())
        cells[key] = max(cells.get(key, 0.0), seconds.get(run.relative_dir, 0.0))
    grown: list[tuple[tuple, float]] = []  # (the new point's labels, its cost per seed)
    for bracket in spec.policy.bracket:
        lines: dict[tuple, dict] = {}
        for run in spec.runs:
            labels = {"task": run.setting.task, **run.labels}
            if bracket.axis not in labels:
                continue
            line = lines.setdefault(_labels_key(run, exclude=(bracket.axis,)), {"values": set(), "cost": 0.0})
            line["values"].add(labels[bracket.axis])
            line["cost"] = max(line["cost"], seconds.get(run.relative_dir, 0.0))
        for key, line in lines.items():
            count = len(line["values"])
            most = max(bracket.max_points, 3) if count == 1 else bracket.max_points
            for point in range(max(0, most - count)):
                grown.append((key + ((bracket.axis, f"grown {point}"),), line["cost"]))
            # a line of 1 or 2 values has no interior: its choice is at an end, so it grows at
            # least once (a line of 1 both ways), where max_points allows
            forced = (2 if count == 1 else 1 if count == 2 else 0) if count < bracket.max_points else 0
            low += seeds * forced * line["cost"]
            low_runs += seeds * forced
    high = sum(seconds.values()) + seeds * sum(cost for _, cost in grown)
    high_runs = len(spec.runs) + seeds * len(grown)
    if spec.policy.sequential and spec.policy.seeds is not None:
        extra = spec.policy.seeds.max - spec.policy.seeds.min
        reach = extended_cells(spec.claims, spec.report.select)
        if reach == "none":
            extended = []
        elif reach == "every cell":
            extended = list(cells.values()) + [cost for _, cost in grown]
        else:
            groups: dict[tuple, float] = {}  # one chosen point per task and method (what report.select tunes)
            for key, cost in list(cells.items()) + grown:
                group = tuple((k, v) for k, v in key if k not in spec.report.select)
                groups[group] = max(groups.get(group, 0.0), cost)
            extended = list(groups.values())
        high += extra * sum(extended)
        high_runs += extra * len(extended)
    return low, high, low_runs, high_runs


def _labels_key(run, exclude: tuple[str, ...]) -> tuple:
    labels = {"task": run.setting.task, **run.labels}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in exclude))
