"""The Accelerator every component runs under: training, TAPT, evaluation, prediction, the
analyses and `study plan`'s probe. A component, not the recipe: analysis/, use/ and study/ import
it from here, so that none of them imports the recipe of a run (train/run.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator

from adapterlab.train.trackers import TRACKER_DIR, tracker_names


def build_accelerator(mixed_precision: str, report_to: str | None = None, run_dir: Path | None = None) -> Accelerator:
    if mixed_precision == "auto":
        mixed_precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    if not torch.cuda.is_available():
        mixed_precision = "no"  # fp32 on CPU, as the paper's numbers assume
    # Batches are cut per process by train/batching.py (batch_size is the global batch), so no
    # data loader goes through Accelerate. cpu=True on a machine without GPUs lets a
    # multi-process launch use gloo (MULTI_CPU).
    trackers = tracker_names(report_to)
    return Accelerator(
        mixed_precision=mixed_precision,
        cpu=not torch.cuda.is_available(),
        log_with=trackers or None,
        project_dir=str(run_dir / TRACKER_DIR) if trackers and run_dir is not None else None,
    )
