"""A killed run's folder, before the run starts again: whether its checkpoint can be resumed
(same settings), which damaged pieces of its resume state are set aside, and which rows of
metrics.jsonl the resumed run logs again (those after the checkpoint). A step of the recipe
(train/run.py), kept apart because it reads and repairs the folder, not the model."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch

from adapterlab.recorded_config import config_differences, load_config, run_fingerprints
from adapterlab.runs import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    TAPT_CHECKPOINT_DIR,
    TAPT_DONE_FILE,
    TAPT_ENCODER_FILE,
    is_run_folder,
    json_value,
    write_text_atomic,
)
from adapterlab.train.checkpoint import STATE_FILE, checkpoint_problem
from adapterlab.train.config import RunConfig
from adapterlab.train.tapt import tapt_outcome_problem

logger = logging.getLogger(__name__)


def can_resume(run_dir: Path, previous: dict | None, config: RunConfig) -> bool:
    """A killed run (our folder, no result) with a checkpoint made with these same settings: of the
    task phase, or of a TAPT run's TAPT phase (its checkpoint, or its finished outcome)."""
    if not config.checkpoint or previous is not None or not is_run_folder(run_dir):
        return False
    marks = [run_dir / CHECKPOINT_DIR / STATE_FILE] + (
        [run_dir / TAPT_CHECKPOINT_DIR / STATE_FILE, run_dir / TAPT_DONE_FILE] if config.tapt else []
    )
    if not any(mark.is_file() for mark in marks):
        return False
    stored = load_config(run_dir)
    differences = (
        config_differences(config.to_dict(), stored, run_fingerprints(config), RunConfig.defaults())
        if stored
        else ["no config.json"]
    )
    if differences:
        logger.warning(
            "%s: checkpoint/ ignored, the run starts over: the killed run had other settings (%s)",
            run_dir,
            "; ".join(differences),
        )
    return not differences


def set_aside_damaged_state(run_dir: Path, config: RunConfig) -> list[Path]:
    """Every damaged piece of a killed run's resume state is renamed NAME.damaged-TIME (kept for
    a look, never read again) with one warning line each, so the run restarts from its last good
    state: the task checkpoint or TAPT checkpoint when readable, TAPT's finished outcome, or from
    scratch. A metrics.jsonl with a broken line (a kill mid-write) is set aside and its good rows
    written back. Returns the paths set aside."""
    aside = []
    for folder in (CHECKPOINT_DIR, TAPT_CHECKPOINT_DIR):
        problem = checkpoint_problem(run_dir / folder)
        if problem:
            aside.append(_set_aside(run_dir / folder, f"{folder}/{STATE_FILE} is {problem}"))
    problem = tapt_outcome_problem(run_dir, config)
    if problem:
        for name in (TAPT_DONE_FILE, TAPT_ENCODER_FILE, "tapt_pack"):
            if (run_dir / name).exists():
                aside.append(_set_aside(run_dir / name, problem))
    path = run_dir / METRICS_FILE
    if path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        rows = [json_value(line) if line.strip() else {} for line in lines]
        broken = [number for number, row in enumerate(rows, start=1) if not isinstance(row, dict)]
        if broken:
            kept = [line for line, row in zip(lines, rows) if isinstance(row, dict) and line.strip()]
            aside.append(_set_aside(path, f"{METRICS_FILE} line {broken[0]} is not a JSON row (a write cut short)"))
            write_text_atomic(path, "".join(line + "\n" for line in kept))
    return aside


def _set_aside(path: Path, why: str) -> Path:
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    logger.warning("%s: %s; set aside as %s, the run goes on from its last good state", path.parent, why, target.name)
    return target


def drop_rows_after_checkpoint(run_dir: Path) -> None:
    """metrics.jsonl without the rows the killed attempt logged after its last checkpoint: in the
    task phase after its checkpoint; in a TAPT run, the TAPT rows after the TAPT checkpoint too
    (none when TAPT had finished) and every task row when the task phase had none."""

    def steps_of(folder: str) -> int | None:
        state = run_dir / folder / STATE_FILE
        return torch.load(state, weights_only=True, mmap=True)["loop"]["steps"] if state.is_file() else None

    task_steps, tapt_steps = steps_of(CHECKPOINT_DIR), steps_of(TAPT_CHECKPOINT_DIR)
    tapt_done = (run_dir / TAPT_DONE_FILE).is_file()

    def keep(row: dict) -> bool:
        if row.get("split", "").startswith("tapt-"):
            return tapt_done or (tapt_steps is not None and row.get("step", 0) <= tapt_steps)
        return task_steps is not None and row.get("step", 0) <= task_steps and row.get("split") != "test"

    path = run_dir / METRICS_FILE
    rows = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    kept = [line for line, row in zip(rows, map(json_value, rows)) if isinstance(row, dict) and keep(row)]
    write_text_atomic(path, "".join(line + "\n" for line in kept))
