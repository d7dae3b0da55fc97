"""The checks of study.json's object before it becomes a `StudyPlan` (study/folder.py): a JSON
object whose runs are {dir, seed, labels} inside the study, and whose other fields have the
types the plan's blocks read. Each problem is one error naming the file and the field, and
saying what writes the file again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError

_REWRITE = "; `adapterlab study run SPEC --out DIR` writes it again"


def check_plan_json(plan: Any, path: Path) -> None:
    """Raise one AdapterlabError naming the file and the field for the first problem of study.json's object."""
    if not isinstance(plan, dict):
        raise AdapterlabError(f"{path}: expected a JSON object (a study plan), got a {type(plan).__name__}{_REWRITE}")
    runs = plan.get("runs")
    if not isinstance(runs, list):
        raise AdapterlabError(
            f"{path}: field 'runs' is {_plan_value(runs)}; expected a list of {{dir, seed, labels}}{_REWRITE}"
        )
    for i, run in enumerate(runs):
        _check_entry(run, f"{path}: field 'runs[{i}]")
    for key in ("name", "description", "source"):
        if key in plan and not isinstance(plan[key], str):
            raise AdapterlabError(f"{path}: field {key!r} is {_plan_value(plan[key])}; expected a string{_REWRITE}")
    for key, kind in (("command", list), ("reference", list), ("report", dict), ("analysis", dict)):
        if plan.get(key) is not None and not isinstance(plan[key], kind):
            expected = "a list" if kind is list else "an object"
            raise AdapterlabError(
                f"{path}: field {key!r} is {_plan_value(plan[key])}; expected {expected} or null{_REWRITE}"
            )
    if not all(isinstance(part, str) for part in plan.get("command") or []):
        raise AdapterlabError(f"{path}: field 'command' must be a list of strings{_REWRITE}")
    if not all(isinstance(item, dict) for item in plan.get("reference") or []):
        raise AdapterlabError(f"{path}: field 'reference' must be a list of objects{_REWRITE}")


def _check_entry(run: Any, where: str) -> None:
    if not isinstance(run, dict):
        raise AdapterlabError(f"{where}' is {_plan_value(run)}; expected an object {{dir, seed, labels}}{_REWRITE}")
    run_dir = run.get("dir")
    if not isinstance(run_dir, str) or not run_dir or Path(run_dir).is_absolute() or ".." in Path(run_dir).parts:
        raise AdapterlabError(
            f"{where}.dir' is {_plan_value(run_dir)}; expected a folder inside the study such as 'sst2/adapter-m64/seed=0'{_REWRITE}"
        )
    seed = run.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AdapterlabError(f"{where}.seed' is {_plan_value(seed)}; expected an integer{_REWRITE}")
    labels = run.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(labels.get(key), str) for key in ("task", "method")):
        raise AdapterlabError(
            f"{where}.labels' is {_plan_value(labels)}; expected an object with 'task' and 'method' names{_REWRITE}"
        )


def _plan_value(value: object) -> str:
    if value is None:
        return "missing or null"
    text = repr(value)
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" + (f" ({text})" if len(text) <= 60 else "")
