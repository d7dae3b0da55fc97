"""Experiment trackers through Accelerate (`--report-to tensorboard,wandb,...`, issue #18):
the run's settings as hyperparameters and every row of metrics.jsonl as scalars, keyed by split.
metrics.jsonl stays the source of truth; a tracker is a view of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# Accelerate's tracker names (accelerate.tracking.LOGGER_TYPE_TO_CLASS) and the module each needs.
TRACKER_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml", "aim": "aim",
                   "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab", "trackio": "trackio"}
TRACKER_DIR = "trackers"  # inside the run folder: TensorBoard event files and other local logs
PROJECT = "adapterlab"


def tracker_names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def tracker_problems(value: str | None) -> list[str]:
    """One line per unknown or not installed tracker."""
    found = []
    for name in tracker_names(value):
        if name not in TRACKER_MODULES:
            found.append(f"report_to={name!r}: not a tracker; allowed: {', '.join(TRACKER_MODULES)}")
        elif importlib.util.find_spec(TRACKER_MODULES[name]) is None:
            found.append(f"report_to={name!r}: the {TRACKER_MODULES[name]} package is not installed (pip install {TRACKER_MODULES[name]})")
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
    return {f"{split}/{key}": float(value) for key, value in row.items()
            if key not in ("split", "at", "epoch", "step") and isinstance(value, (int, float)) and not isinstance(value, bool)}
