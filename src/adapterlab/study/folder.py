"""A study folder: its plan (study.json, a `StudyPlan`), its marker, the state of each planned run
(`RunState`, holding the run's typed `RunResult`) and its analysis folder.

```
DIR/.adapterlab-study     "adapterlab made this folder for a study" (written before the plan)
DIR/study.json            the plan: what the spec asked for, every run with its labels and config
DIR/TASK/SETTINGS/seed=N  one run folder per planned run (adapterlab.runs)
DIR/analysis/             `study analyze`'s results (study/analyze.py)
DIR/report/               `study report`'s tables and page (report/build.py)
```

Every reader of study.json goes through `load_plan`, which checks the file (study/plan_check.py)
and returns the typed plan; a folder of an older version (no marker, blocks it did not write)
loads with the defaults of what it lacks.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.recorded_config import RecordedConfig, config_differences, load_config, run_fingerprints
from adapterlab.runs import (
    RunResult,
    load_result,
    refuse_output_below_a_file,
    result_damage,
    write_json_atomic,
)
from adapterlab.setting import Setting
from adapterlab.study.analysis_spec import AnalysisOptions
from adapterlab.study.gates_spec import GateOptions
from adapterlab.study.ownership import claim_path, stale_key
from adapterlab.study.plan_check import check_plan_json
from adapterlab.study.policy_spec import Bracket, Convergence, PolicyOptions, SeedPolicy
from adapterlab.study.report_spec import ReportOptions
from adapterlab.study.spec import PlannedRun, StudySpec
from adapterlab.study.stale import stale_stop, stopped_at_chance
from adapterlab.train.config import RunConfig

PLAN_FILE = "study.json"
STUDY_MARKER = ".adapterlab-study"  # "this folder was created by adapterlab for a study"
ANALYSIS_FOLDER = "analysis"


# ------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanEntry:
    """One planned run as study.json records it: its folder, labels, seed and config."""

    dir: str  # e.g. "sst2/adapter-m64/seed=0"
    labels: dict
    seed: int
    config: dict | None = None  # RunConfig.to_dict() of the planned run; None in plans of older versions

    @property
    def setting(self) -> Setting:
        return Setting.from_labels(self.labels)

    @property
    def task(self) -> str:
        return self.labels["task"]

    def planned_run(self) -> PlannedRun:
        """The run as a PlannedRun without its config (the spec is not at hand)."""
        return PlannedRun(self.setting, self.seed, None, self.dir.rsplit("/seed=", 1)[0])

    def to_json(self) -> dict:
        return {"dir": self.dir, "labels": self.labels, "seed": self.seed, "config": self.config}


@dataclass(frozen=True)
class StudyPlan:
    """study.json: what a study's spec asked for, each block typed, and every planned run."""

    runs: tuple[PlanEntry, ...]
    name: str | None = None  # None only in hand-written plans; the report then names the study by its folder
    description: str = ""
    source: str = ""
    command: tuple[str, ...] = ()
    reference: tuple[dict, ...] = ()
    report: ReportOptions = field(default_factory=ReportOptions)
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    claims: tuple = ()  # the claims block as written (ids or definitions), resolved by report/claims
    gates: GateOptions = field(default_factory=GateOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)

    @classmethod
    def of_spec(cls, spec: StudySpec, command: list[str]) -> StudyPlan:
        runs = tuple(PlanEntry(r.relative_dir, r.labels, r.seed, r.config.to_dict()) for r in spec.runs)
        return cls(
            runs,
            spec.name,
            spec.description,
            spec.source,
            tuple(command),
            tuple(spec.reference),
            spec.report,
            spec.analysis,
            tuple(spec.claims),
            spec.gates,
            spec.policy,
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "command": list(self.command),
            "runs": [r.to_json() for r in self.runs],
            "reference": list(self.reference),
            "report": dataclasses.asdict(self.report),
            "analysis": self.analysis.to_dict(),
            "claims": list(self.claims),
            "gates": self.gates.to_dict(),
            "policy": self.policy.to_dict(),
        }

    @classmethod
    def from_json(cls, values: dict, path: Path) -> StudyPlan:
        """From study.json's object, checked by `check_plan_json`; blocks a version did not write get their defaults."""
        runs = tuple(
            PlanEntry(r["dir"], r["labels"], r["seed"], r.get("config") if isinstance(r.get("config"), dict) else None)
            for r in values["runs"]
        )
        report = values.get("report") or {}
        try:
            analysis = AnalysisOptions.from_raw(values.get("analysis"))
        except TypeError as err:
            raise AdapterlabError(
                f"{path}: field 'analysis' is not a checked analysis block ({err}); run `study run` again"
            ) from None
        return cls(
            runs,
            values.get("name"),
            values.get("description") or "",
            values.get("source") or "",
            tuple(values.get("command") or ()),
            tuple(values.get("reference") or ()),
            _report_options(report),
            analysis,
            tuple(values.get("claims") or ()),
            _gate_options(values.get("gates")),
            _policy_options(values.get("policy")),
        )

    @property
    def sequential(self) -> bool:
        """Seeds were added while comparisons were undecided (the spec's policy.seeds): its tests must be anytime-valid."""
        return self.policy.sequential

    def base_settings(self) -> dict:
        """The settings every planned run shares (the spec's base), from the runs' configs."""
        configs = [run.config for run in self.runs if run.config is not None]
        if not configs:
            return {}
        return {key: value for key, value in configs[0].items() if all(c.get(key) == value for c in configs[1:])}


def _report_options(raw: dict) -> ReportOptions:
    return ReportOptions(raw.get("layout", "paper"), tuple(raw.get("select", ReportOptions().select)))


def _gate_options(raw: object) -> GateOptions:
    """The study's validity gates (its spec's gates: block; the defaults for older study folders)."""
    if not isinstance(raw, dict):
        return GateOptions()
    return GateOptions.from_raw({k: v for k, v in raw.items() if k in GateOptions.__dataclass_fields__})


def _policy_options(raw: object) -> PolicyOptions:
    """The policy as PolicyOptions.to_dict stored it (budget in seconds); none for older study folders."""
    if not isinstance(raw, dict):
        return PolicyOptions()
    seeds = raw.get("seeds")
    bounded = isinstance(seeds, dict) and all(isinstance(seeds.get(k), int) for k in ("min", "max"))
    seeds = SeedPolicy(seeds["min"], seeds["max"]) if bounded else None
    convergence = Convergence(**raw["convergence"]) if isinstance(raw.get("convergence"), dict) else None
    brackets = tuple(
        Bracket(
            axis,
            entry.get("factor"),
            tuple(entry["values"]) if entry.get("values") else None,
            entry.get("max_points", 6),
        )
        for axis, entry in (raw.get("bracket") or {}).items()
    )
    budget = raw.get("budget") if isinstance(raw.get("budget"), (int, float)) else None
    return PolicyOptions(convergence, brackets, seeds, budget)


def write_plan(spec: StudySpec, out: Path, command: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / STUDY_MARKER).touch()  # before the plan: a folder with our study.json is always marked as ours
    write_json_atomic(out / PLAN_FILE, StudyPlan.of_spec(spec, command).to_json())


def _where_the_study_is(out: Path) -> str:
    """What to do instead, for a path that is no study folder: a spec file is run with --out; a
    folder holding one study folder (docs/results/X/study) is that folder."""
    if out.is_file():
        return f"that is a file: a study folder is the --out of `adapterlab study run {out} --out DIR`"
    inside = sorted(p.parent for p in out.glob(f"*/{PLAN_FILE}")) if out.is_dir() else []
    if len(inside) == 1:
        return f"the study folder inside it is {inside[0]}"
    if inside:
        return f"it holds {len(inside)} study folders: {', '.join(map(str, inside[:3]))}{', ...' if len(inside) > 3 else ''}"
    return f"run `adapterlab study run SPEC --out {out}` first"


def load_plan(out: Path) -> StudyPlan:
    """The plan of study folder `out` (its study.json, as write_plan wrote it), checked: a JSON
    object whose runs are {dir, seed, labels}. Each problem is one error naming the file."""
    path = out / PLAN_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise AdapterlabError(
            f"{out}: not a study folder (no readable {PLAN_FILE}); {_where_the_study_is(out)}"
        ) from None
    except json.JSONDecodeError as err:
        raise AdapterlabError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}); `adapterlab study run` writes it again"
        ) from None
    except UnicodeDecodeError as err:
        raise AdapterlabError(
            f"{path}: not valid JSON (not UTF-8: {err.reason}); `adapterlab study run` writes it again"
        ) from None
    check_plan_json(values, path)
    return StudyPlan.from_json(values, path)


# ----------------------------------------------------------------------------------- folder


def is_study_folder(out: Path) -> bool:
    """A folder adapterlab made for a study: it carries STUDY_MARKER (written with the plan), or,
    from versions before the marker, a study.json that is a study plan (load_plan accepts it)."""
    if (out / STUDY_MARKER).is_file():
        return True
    if not (out / PLAN_FILE).is_file():
        return False
    try:
        load_plan(out)
    except AdapterlabError:
        return False
    return True


def check_study_folder(out: Path, spec: StudySpec) -> None:
    """Refuse an --out that is a file, or an existing non-empty folder that is not a study
    folder (a study.json of the user's own included: never overwritten); and any run folder that
    would resolve outside `out`. Reads only."""
    if out.exists() and not out.is_dir():
        raise AdapterlabError(f"{out}: exists and is not a folder; give --out a new folder")
    if out.is_dir() and (out / PLAN_FILE).exists() and not is_study_folder(out):
        try:
            load_plan(out)
            why = "it is not a file"
        except AdapterlabError as err:
            why = str(err).split(": ", 1)[-1].split("; `adapterlab study run", 1)[0]
        raise AdapterlabError(
            f"{out / PLAN_FILE}: not a study plan written by adapterlab ({why}), so {out} is not a study folder; "
            "adapterlab does not overwrite it: choose another --out"
        )
    if out.is_dir() and not is_study_folder(out) and any(out.iterdir()):
        raise AdapterlabError(
            f"{out}: exists, is not empty and is not a study folder (no {STUDY_MARKER} or {PLAN_FILE}); "
            "adapterlab writes a study only into a new, empty or its own study folder: choose another --out"
        )
    if (out / PLAN_FILE).is_file():
        try:
            existing = json.loads((out / PLAN_FILE).read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            existing = None
        if isinstance(existing, str) and existing != spec.name:
            raise AdapterlabError(f"{out}: holds study {existing!r}, not {spec.name!r}; give --out a folder of its own")
    root = out.resolve()
    for run in spec.runs:
        target = (out / run.relative_dir).resolve()
        if root not in target.parents:
            raise AdapterlabError(
                f"{spec.source}: run folder {run.relative_dir!r} resolves outside {out}; task names and grid values "
                "must not contain '..' or start with '/'"
            )


def check_study_start(spec: StudySpec, out: Path, workers: int, rerun_changed: bool) -> None:
    """What `study run` checks before it writes anything."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise AdapterlabError(f"workers={workers!r}: must be an integer >= 1")
    refuse_output_below_a_file(out, folder=True)  # before the progress bar: one line, nothing shown first
    check_study_folder(out, spec)
    changed = changed_runs(spec, out) if out.is_dir() else []
    if changed and not rerun_changed:
        run, differences = changed[0]
        raise AdapterlabError(
            f"{out / run.relative_dir}: finished with other settings ({'; '.join(differences)}); {len(changed)} finished "
            "run(s) differ from the spec: pass --rerun-changed to run them again, or use a new --out"
        )


# ------------------------------------------------------------------------------------ states


@dataclass(frozen=True)
class RunState:
    run: PlannedRun
    state: str  # "ok", "diverged", "failed", "running", "pending", "changed" (finished with other settings)
    result: RunResult | None
    damage: str | None = None  # a pending run's result.json that exists but is no record: why (result_damage)

    @property
    def died(self) -> bool:
        """A failed run whose process died (killed, out of memory): resume reruns it."""
        return self.result is not None and died(self.result)


def died(result: RunResult) -> bool:
    """A failed run whose process died (killed, out of memory), not one that stopped on an error."""
    return result.reason == "died" or (isinstance(result.returncode, int) and result.returncode < 0)


def why_changed(state: RunState) -> str:
    """Why a "changed" run is no longer the plan's."""
    stop = stale_stop(state.result) if state.result is not None else None
    if stop:
        return stop
    return "finished with other settings than the spec's"


def state_of(run: PlannedRun, run_dir: Path, planned: dict | None) -> RunState:
    """The state of one run; `planned` (its config as a dict, None when unknown) marks a
    finished run recorded with other settings as "changed"."""
    result = load_result(run_dir)
    claim = claim_path(run_dir)
    if (result is None or not result.complete) and claim.exists() and stale_key(claim) is None:
        return RunState(run, "running", result)
    if result is not None:
        stored = load_config(run_dir)
        if stopped_at_chance(result) or (
            result.complete
            and stored is not None
            and planned is not None
            and config_differences(planned, stored, defaults=RunConfig.defaults())
        ):
            return RunState(run, "changed", result)
        return RunState(run, result.status, result)
    return RunState(run, "pending", None, result_damage(run_dir))


def planned_config(run: PlannedRun) -> dict:
    return run.config.to_dict()


def differences(run: PlannedRun, stored: RecordedConfig, prints: dict) -> list[str]:
    """How a finished run's recorded settings differ from the plan; `prints` caches the data and
    backbone fingerprints, which many runs of a study share."""
    config = run.config
    key = (config.train, config.dev, config.test, config.hub, config.model)
    if key not in prints:
        prints[key] = run_fingerprints(config)
    return config_differences(planned_config(run), stored, prints[key], RunConfig.defaults())


def stale_reasons(run: PlannedRun, result: RunResult, stored: RecordedConfig, prints: dict) -> list[str]:
    """Why a finished run (its `result` and recorded settings `stored`) no longer stands for the
    plan: its settings differ, or it stopped where the training loop no longer stops
    (stopped_at_chance)."""
    found = differences(run, stored, prints)
    stop = stale_stop(result)
    if stop:
        found.append(stop)
    return found


def run_states(spec: StudySpec, out: Path) -> list[RunState]:
    return [state_of(run, out / run.relative_dir, planned_config(run)) for run in spec.runs]


def changed_runs(spec: StudySpec, out: Path) -> list[tuple[PlannedRun, list[str]]]:
    """Finished runs whose recorded settings differ from the plan (data and backbone compared by
    content), with the differing settings."""
    prints: dict[tuple, dict] = {}
    changed = []
    for run in spec.runs:
        run_dir = out / run.relative_dir
        stored, result = load_config(run_dir), load_result(run_dir)
        if stored is None or result is None or not result.complete:
            continue
        found = stale_reasons(run, result, stored, prints)
        if found:
            changed.append((run, found))
    return changed


def status_of_folder(out: Path) -> list[RunState]:
    """Run states from a study folder alone (its study.json), without the spec."""
    return [state_of(entry.planned_run(), out / entry.dir, entry.config) for entry in load_plan(out).runs]
