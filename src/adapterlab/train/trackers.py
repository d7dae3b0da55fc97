"""Experiment trackers through Accelerate (`--report-to tensorboard,wandb,...`, issues #18, #31):
the run's settings as hyperparameters, every row of metrics.jsonl as scalars keyed by split
(training rows every --logging-steps, validation rows), the test metrics as the run's summary,
and the run's name, group and tags from its folder (study, setting, seed). metrics.jsonl stays
the source of truth; a tracker is a view of it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Accelerate's tracker names (accelerate.tracking.LOGGER_TYPE_TO_CLASS) and the module each needs.
TRACKER_MODULES = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "comet_ml": "comet_ml",
    "aim": "aim",
    "clearml": "clearml",
    "dvclive": "dvclive",
    "swanlab": "swanlab",
    "trackio": "trackio",
}
TRACKER_DIR = "trackers"  # inside the run folder: TensorBoard event files and other local logs
PROJECT = "adapterlab"  # the default of --tracker-project


@dataclass(frozen=True)
class RunIdentity:
    """How trackers name a run. In a study (STUDY/task/setting/seed=N): name "task/setting/seed=N",
    group "STUDY/task/setting" (the seeds of one setting together), tags the study, task, method
    and seed. Alone: the run folder's name, no group."""

    name: str
    group: str | None
    tags: tuple[str, ...]
    study: dict  # {"study", "setting"} for the hyperparameters, or {}


def run_identity(run_dir: Path, task: str, method: str, seed: int) -> RunIdentity:
    study = study_tags(run_dir)
    base = (task, method, f"seed={seed}")
    if not study:
        return RunIdentity(Path(run_dir).resolve().name, None, base, {})
    return RunIdentity(
        f"{study['setting']}/seed={seed}", f"{study['study']}/{study['setting']}", (str(study["study"]), *base), study
    )


def study_tags(run_dir: Path) -> dict:
    """{"study", "setting"} when the run belongs to a study (STUDY/task/setting/seed=N), else {}."""
    run_dir = Path(run_dir).resolve()
    study = run_dir.parents[2] / "study.json" if len(run_dir.parents) > 2 else None
    if study is None or not study.is_file():
        return {}
    try:
        name = json.loads(study.read_text()).get("name")
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}
    return {"study": name, "setting": f"{run_dir.parent.parent.name}/{run_dir.parent.name}"} if name else {}


def init_kwargs(identity: RunIdentity) -> dict[str, dict]:
    """Accelerate's init_kwargs per tracker: the run's name, group and tags where the tracker has them."""
    tags = list(identity.tags)
    return {
        "wandb": {"name": identity.name, "tags": tags, **({"group": identity.group} if identity.group else {})},
        "mlflow": {"run_name": identity.name, "tags": {"group": identity.group or "", "tags": ",".join(tags)}},
        "clearml": {"task_name": identity.name, "tags": tags},
        "aim": {"experiment": identity.group or identity.name},
    }


def tracker_names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def tracker_problems(value: str | None) -> list[str]:
    """One line per unknown or not installed tracker."""
    found = []
    for name in tracker_names(value):
        if name not in TRACKER_MODULES:
            found.append(f"report_to={name!r}: not a tracker; allowed: {', '.join(TRACKER_MODULES)}")
        elif importlib.util.find_spec(TRACKER_MODULES[name]) is None:
            found.append(
                f"report_to={name!r}: the {TRACKER_MODULES[name]} package is not installed (pip install {TRACKER_MODULES[name]})"
            )
    return found


def hyperparameters(config: dict, run_dir: Path, tags: dict | None = None) -> dict:
    """The run's settings flattened to the scalars trackers accept (nested dicts as a.b), plus
    the run folder and the study tags (study name, setting) when a study runs it."""
    flat: dict = {"run_dir": str(run_dir), **(tags or {})}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        elif value is not None:
            flat[prefix] = str(value)

    walk("", config)
    return flat


def scalars(row: dict) -> dict[str, float]:
    """A metrics.jsonl row as tracker scalars: "validation/accuracy", "train/loss", ..."""
    split = str(row.get("split", "train"))
    return {
        f"{split}/{key}": float(value)
        for key, value in row.items()
        if key not in ("split", "at", "epoch", "step")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }


def log_summary(accelerator, trackers: list[str], metrics: dict[str, float]) -> None:
    """The test metrics as each tracker's summary of the run (a value beside the run, not a
    one-point chart): W&B's run summary, MLflow metrics without a step, Comet's "others",
    ClearML's single values, DVCLive's summary, Aim's run fields, a table in TensorBoard's text
    tab. A tracker without such a place gets them as scalars. A tracker that fails here only
    warns: the run and its metrics.jsonl are complete."""
    if not metrics or not accelerator.is_main_process:
        return
    table = "| metric | value |\n|---|---|\n" + "\n".join(f"| {key} | {value:.6g} |" for key, value in metrics.items())
    writers = {
        "wandb": lambda run: run.summary.update(metrics),
        "tensorboard": lambda writer: (writer.add_text("summary/test", table), writer.flush()),
        "mlflow": lambda _: importlib.import_module("mlflow").log_metrics(metrics),
        "comet_ml": lambda experiment: experiment.log_others(metrics),
        "clearml": lambda task: [task.get_logger().report_single_value(key, value) for key, value in metrics.items()],
        "dvclive": lambda live: live.summary.update(metrics),
        "aim": lambda run: [run.__setitem__(key, value) for key, value in metrics.items()],
    }
    for name in trackers:
        try:
            if name in writers:
                writers[name](accelerator.get_tracker(name, unwrap=True))
            else:
                accelerator.get_tracker(name).log(metrics)
        except Exception as err:  # noqa: BLE001 - a tracker's own failure must not fail a finished run
            logger.warning("tracker %s: the test summary was not logged (%s: %s)", name, type(err).__name__, err)
