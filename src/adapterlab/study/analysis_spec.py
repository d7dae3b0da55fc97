"""The `analysis:` block of a study spec, checked with the rest of the spec before any run starts.

A mistake here would otherwise surface only in `study analyze`, after every run has trained:
the check covers names, types and files, and reads the first language file of each
cross-lingual entry with the reader the analysis will use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from adapterlab.analysis.rsa_run import DEFAULT_MAX_LENGTH, DEFAULT_TOKENS
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError


@dataclass(frozen=True)
class RsaAnalysis:
    """RSA per layer of every finished run of `task` against its base (He et al. 2021 §2.2, Fig. 2)."""

    task: str  # a study task; its runs are compared
    data: str  # the file tokens are sampled from (read with the task's reader)
    n: int = DEFAULT_TOKENS
    seed: int = 0
    max_length: int = DEFAULT_MAX_LENGTH
    base: str | None = None  # None: the runs' own backbone


@dataclass(frozen=True)
class CrosslingualAnalysis:
    """Zero-shot evaluation of every finished run of a task on each language (Tables 3 and 4)."""

    pattern: str  # a path with {lang}
    languages: list[str]
    task: str | None = None  # the files' reader task when it differs (xnli for an MNLI-trained run)
    max_examples: int | None = None


@dataclass(frozen=True)
class AnalysisOptions:
    """The spec's analysis block, typed once it is checked (see check_analysis)."""

    rsa: RsaAnalysis | None = None
    crosslingual: dict[str, CrosslingualAnalysis] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: object) -> AnalysisOptions:
        if not isinstance(raw, dict):
            return cls()
        rsa = RsaAnalysis(**raw["rsa"]) if isinstance(raw.get("rsa"), dict) else None
        return cls(
            rsa, {task: CrosslingualAnalysis(**entry) for task, entry in (raw.get("crosslingual") or {}).items()}
        )

    def to_dict(self) -> dict:
        """What study.json stores: only the analyses the spec asked for."""
        values: dict = {}
        if self.rsa is not None:
            values["rsa"] = dataclasses.asdict(self.rsa)
        if self.crosslingual:
            values["crosslingual"] = {task: dataclasses.asdict(entry) for task, entry in self.crosslingual.items()}
        return values


ANALYSES = tuple(f.name for f in dataclasses.fields(AnalysisOptions))
RSA_FIELDS = {f.name for f in dataclasses.fields(RsaAnalysis)}
CROSSLINGUAL_FIELDS = {f.name for f in dataclasses.fields(CrosslingualAnalysis)}


def check_analysis(analysis: object, study_tasks: dict[str, str], check_files: bool, source: str) -> list[str]:
    """One error line per problem. `study_tasks` maps each study task name to its registry task."""
    if analysis in (None, {}):
        return []
    if not isinstance(analysis, dict):
        return [f"{source}: analysis must be a mapping with keys {', '.join(ANALYSES)}"]
    errors = [
        f"{source}: analysis.{key}: unknown analysis; allowed: {', '.join(ANALYSES)}"
        for key in analysis
        if key not in ANALYSES
    ]
    if "rsa" in analysis:
        errors.extend(_check_rsa(analysis["rsa"], study_tasks, check_files, f"{source}: analysis.rsa"))
    entries = analysis.get("crosslingual") or {}
    if not isinstance(entries, dict):
        return errors + [f"{source}: analysis.crosslingual must map study tasks to {{pattern, languages}}"]
    for task, settings in entries.items():
        errors.extend(
            _check_crosslingual(task, settings, study_tasks, check_files, f"{source}: analysis.crosslingual.{task}")
        )
    return errors


def analysed_tasks(raw: object) -> dict[str, str]:
    """{study task: the analysis that reads its trained weights ("rsa", "crosslingual.TASK")} of an
    analysis block as written, read even when other fields of the block have problems, so that
    check_saved_weights reports in the same pass as they are (spec_blocks.parse_blocks)."""
    if not isinstance(raw, dict):
        return {}
    rsa, crosslingual = raw.get("rsa"), raw.get("crosslingual")
    analysed = {rsa["task"]: "rsa"} if isinstance(rsa, dict) and isinstance(rsa.get("task"), str) else {}
    if isinstance(crosslingual, dict):
        analysed.update({str(task): f"crosslingual.{task}" for task in crosslingual})
    return analysed


def check_saved_weights(analysed: dict[str, str], runs: list, source: str) -> list[str]:
    """Fine-tuning runs of an analysed task must keep their weights: adapter runs always keep their
    pack, but a fine-tuned model is saved only on request, and without it the analysis fails
    after every run has trained. analysed: SpecBlocks.analysed (analysed_tasks)."""
    unsaved = {run.labels["task"] for run in runs if run.config.method == "finetune" and not run.config.save_model}
    return [
        f"{source}: analysis.{where} evaluates the fine-tuning runs of task {task!r}, which do not save their weights; "
        f"set by_method.finetune.save_model: true"
        for task, where in analysed.items()
        if task in unsaved
    ]


def _check_rsa(settings: object, study_tasks: dict[str, str], check_files: bool, where: str) -> list[str]:
    if not isinstance(settings, dict):
        return [f"{where}: must be a mapping with task and data"]
    errors = _unknown_and_missing(settings, RSA_FIELDS, ("task", "data"), where)
    task = settings.get("task")
    if task is not None and task not in study_tasks:
        errors.append(f"{where}.task: {task!r} is not a task of this study ({', '.join(study_tasks)})")
    for key in ("n", "max_length"):
        if key in settings and not _positive_int(settings[key]):
            errors.append(f"{where}.{key}={settings[key]!r}: must be an integer >= 1")
    if check_files and isinstance(settings.get("data"), str) and task in study_tasks:
        errors.extend(_readable(Path(settings["data"]), study_tasks[task], f"{where}.data"))
    return errors


def _check_crosslingual(
    task: str, settings: object, study_tasks: dict[str, str], check_files: bool, where: str
) -> list[str]:
    if task not in study_tasks:
        return [f"{where}: {task!r} is not a task of this study ({', '.join(study_tasks)})"]
    if not isinstance(settings, dict):
        return [f"{where}: must be a mapping with pattern and languages"]
    errors = _unknown_and_missing(settings, CROSSLINGUAL_FIELDS, ("pattern", "languages"), where)
    pattern, languages = settings.get("pattern"), settings.get("languages")
    if pattern is not None and (not isinstance(pattern, str) or "{lang}" not in pattern):
        errors.append(f"{where}.pattern={pattern!r}: must be a path containing {{lang}}")
    if languages is not None and (
        not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages)
    ):
        errors.append(f"{where}.languages: must be a non-empty list of language codes")
    if "max_examples" in settings and not _positive_int(settings["max_examples"]):
        errors.append(f"{where}.max_examples={settings['max_examples']!r}: must be an integer >= 1")
    reader_task = settings.get("task", study_tasks[task])
    try:
        get_task(reader_task)
    except AdapterlabError as err:
        return errors + [f"{where}.task: {err}"]
    files_given = isinstance(pattern, str) and "{lang}" in pattern and isinstance(languages, list) and languages
    if not check_files or not files_given:
        return errors
    files = [Path(pattern.format(lang=lang)) for lang in languages]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return errors + [f"{where}: language file not found: {missing[0]} ({len(missing)} of {len(files)} missing)"]
    return errors + _readable(
        files[0], reader_task, f"{where} (read as task {reader_task!r}; set 'task' to the files' format)"
    )


def _readable(path: Path, task: str, where: str) -> list[str]:
    from adapterlab.data.readers import read_examples

    if not path.is_file():
        return [f"{where}: file not found: {path}"]
    try:
        read_examples(path, get_task(task))
    except AdapterlabError as err:
        return [f"{where}: {err}"]
    return []


def _unknown_and_missing(settings: dict, allowed: set[str], required: tuple[str, ...], where: str) -> list[str]:
    errors = [
        f"{where}.{key}: unknown field; allowed: {', '.join(sorted(allowed))}" for key in settings if key not in allowed
    ]
    errors.extend(f"{where}: missing field {key!r}" for key in required if key not in settings)
    return errors


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
