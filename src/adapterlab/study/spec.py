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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapterlab.adapters.config import AdapterConfig
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import methods_with_settings
from adapterlab.setting import Column, Setting
from adapterlab.study.analysis_spec import AnalysisOptions, check_saved_weights
from adapterlab.study.claims_spec import check_claims_fit
from adapterlab.study.extensions import Extension
from adapterlab.study.gates_spec import GateOptions
from adapterlab.study.method_checks import check_methods_fit
from adapterlab.study.policy_spec import PolicyOptions
from adapterlab.study.reference_spec import check_reference
from adapterlab.study.report_spec import ReportOptions
from adapterlab.study.spec_blocks import RUN_FIELDS, SpecBlocks, parse_blocks, resolve_path
from adapterlab.study.yaml_numbers import MAX_BYTES, SpecLimitError, load_yaml
from adapterlab.train.config import RunConfig


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


def expand_spec(
    raw: Any,
    source: str = "spec",
    base_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    check_files: bool = True,
    seeds: list[int] | None = None,
) -> StudySpec:
    """The study of a raw spec, every problem reported at once: the raw YAML is parsed into its
    typed blocks first (study/spec_blocks.py), then expanded into runs, then the runs are checked
    against the blocks and the backbones. `seeds` replaces the spec's seeds (the policy's added
    seeds, see with_extensions)."""
    errors: list[str] = []
    blocks = parse_blocks(raw, source, base_dir, overrides, check_files, errors)
    # go on: the runs' own settings are checked too, so that every problem is reported at once
    runs = _expand_runs(blocks, seeds, source, base_dir, errors)
    errors.extend(_runs_problems(blocks, runs, source, check_files, errors))
    if errors:
        raise AdapterlabError("\n".join(dict.fromkeys(errors)))
    keys = [r.relative_dir for r in runs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise AdapterlabError(f"{source}: two runs map to the same folder {duplicates[0]!r}; the grid repeats a value")
    errors = check_reference(blocks.reference, runs, blocks.analysis, source, blocks.select)
    if errors:
        raise AdapterlabError("\n".join(errors))
    expansion = {"raw": raw, "source": source, "base_dir": base_dir, "overrides": overrides}
    return StudySpec(
        blocks.name,
        blocks.description,
        runs,
        blocks.reference,
        blocks.report,
        blocks.analysis,
        source,
        blocks.claims,
        blocks.gates,
        blocks.policy,
        expansion,
    )


def _runs_problems(
    blocks: SpecBlocks, runs: list[PlannedRun], source: str, check_files: bool, found: list[str]
) -> list[str]:
    """What the expanded runs cannot do: keep the weights an analysis needs, evaluate the claims,
    fit their data (k) and their backbones (only once the spec itself is sound: `found` empty)."""
    errors = check_saved_weights(blocks.analysed, runs, source)
    if None not in (blocks.analysis, blocks.gates, blocks.report, blocks.resolved_claims):
        # a claim the grid cannot evaluate (a side no column matches, one value of a trend's axis, no table to measure it on)
        errors.extend(
            check_claims_fit(blocks.resolved_claims, runs, blocks.analysis, blocks.select, blocks.gates.tail, source)
        )
    if check_files and not (found or errors):
        errors.extend(_check_sizes(runs, source))
        errors.extend(check_methods_fit(runs, source))
    return errors


def _expand_runs(
    blocks: SpecBlocks, seeds: list[int] | None, source: str, base_dir: Path | None, errors: list[str]
) -> list[PlannedRun]:
    """Every run of the grid: task x method x the method's size x the other axes x seed."""
    axes = dict(blocks.axes)
    spec_seeds = axes.pop("seed", [blocks.base.get("seed", 0)])
    if seeds is None:
        seeds = list(range(blocks.policy.seeds.min)) if blocks.policy.seeds is not None else spec_seeds
    sizes = axes.pop("adapter_size", None)
    methods = axes.pop("method", [blocks.base.get("method", "adapter")])
    runs: list[PlannedRun] = []
    seen_problems: set[str] = set()
    for task in blocks.task_names:
        if task in blocks.unusable:
            continue
        try:
            data = {
                k: (str(resolve_path(v, base_dir)) if k in ("train", "dev", "test") else v)
                for k, v in (blocks.tasks.get(task) or {}).items()
            }
        except AdapterlabError:
            continue  # a missing package: reported by parse_blocks
        task_id = data.pop("task", task)
        for method in methods:
            own = blocks.by_method.get(method) if isinstance(blocks.by_method.get(method), dict) else {}
            method_axes = {
                key: value for key, value in own.items() if isinstance(value, list)
            }  # this method's own grid
            fixed = {key: value for key, value in own.items() if key not in method_axes}
            names = sorted({*axes, *method_axes})
            for size in sizes if _has_adapter(method) and sizes else [None]:
                for combo in itertools.product(*(method_axes.get(a, axes.get(a)) for a in names)):
                    values = dict(zip(names, combo))
                    for seed in seeds:
                        settings = {
                            **blocks.base,
                            **blocks.policy.run_settings(),
                            **fixed,
                            **data,
                            **values,
                            "task": task_id,
                            "method": method,
                            "seed": seed,
                        }
                        run = _planned_run(task, method, size, values, seed, settings, source, errors, seen_problems)
                        if run is not None:
                            runs.append(run)
    return runs


def _has_adapter(method: str) -> bool:
    """Whether the method reads the adapter's settings (its runs take the spec's adapter sizes)."""
    return method in methods_with_settings("adapter")


def _planned_run(
    task: str,
    method: str,
    size: Any,
    values: dict,
    seed: Any,
    settings: dict,
    source: str,
    errors: list[str],
    seen_problems: set[str],
) -> PlannedRun | None:
    """One run of the grid, or None with its problems in `errors` (each distinct problem once,
    naming the first run it was found in)."""
    settings = {k: v for k, v in settings.items() if k in RUN_FIELDS}  # unknown keys: reported by parse_blocks
    adapter = settings.pop("adapter", {}) or {}
    adapter = dict(adapter) if isinstance(adapter, dict) else {"size": adapter}  # a wrong type: AdapterConfig says so
    if size is not None:
        adapter["size"] = size
    setting = Setting(
        task,
        Column.from_labels(
            {"method": method, **values, **({"adapter_size": adapter.get("size", 64)} if _has_adapter(method) else {})}
        ),
    )
    try:
        config = RunConfig.from_dict(
            {**settings, "adapter": AdapterConfig.from_dict(adapter, source=f"{source}: adapter")}, source=f"{source}"
        )
    except AdapterlabError as err:
        problems = str(err).splitlines()
        try:  # the adapter's problems hide the run's: collect those too
            RunConfig.from_dict({**settings, "adapter": AdapterConfig()}, source=f"{source}")
        except AdapterlabError as run_err:
            problems += [p for p in str(run_err).splitlines() if p not in problems]
        for problem in problems:
            if problem not in seen_problems:
                seen_problems.add(problem)
                errors.append(
                    f"{source}: run {task}/{method}{' ' + str(values) if values else ''} seed {seed!r}: {problem}"
                )
        return None
    return PlannedRun(setting, seed, config, setting.folder_name(config.learning_rate, config.train_size))


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
        grown = expand_spec(
            raw,
            spec.expansion["source"],
            spec.expansion["base_dir"],
            spec.expansion["overrides"],
            check_files=False,
            seeds=list(extension.seeds),
        )
        for run in grown.runs:
            if (
                {"task": run.setting.task, **run.labels} == wanted
                and run.seed in extension.seeds
                and run.relative_dir not in known
            ):
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
        cache_key = (
            config.task,
            config.train,
            config.dev,
            config.test,
            config.data_format,
            config.encoding,
            config.test_fraction,
        )
        if cache_key not in counted:
            try:
                train, dev, test, _ = read_task_data(
                    get_task(config.task),
                    config.train,
                    config.dev,
                    config.test,
                    None,
                    config.data_format,
                    config.columns,
                    config.encoding,
                )
            except AdapterlabError as err:
                errors.append(f"{source}: {err}")
                counted[cache_key] = -1
                continue
            counted[cache_key] = training_pool_size(train, dev, test, config.test_fraction)
        available = counted[cache_key]
        if available >= 0 and config.train_size + config.validation_size > available:
            errors.append(
                f"{source}: {run.key}: k={config.train_size} plus {config.validation_size} validation examples exceed the "
                f"{available} training examples of {config.train}"
            )
    return list(dict.fromkeys(errors))
