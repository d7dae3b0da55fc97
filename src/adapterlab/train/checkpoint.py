"""Resume inside a run: at each epoch end, and at each step-level evaluation when --eval-every is
set, everything the loop needs to continue (trainable weights, optimizer, scheduler, random
states, the position in the schedule, the best checkpoint so far) is written atomically to the
run folder's checkpoint/. A killed run continues from there, and its result equals an
uninterrupted run's: the data order is seeded per epoch (so the steps already taken in an epoch
are skipped, not redrawn), and the random states (dropout masks) are restored.

The file is written and read by adapterlab only, with torch.load(weights_only=True): tensors,
numbers, strings, lists and dicts, nothing that runs code when it is loaded.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from adapterlab.runs import cannot_write

STATE_FILE = "state.pt"


@dataclass
class LoopState:
    """Where training stands: after epoch `epoch`, plus `into_epoch` steps of the next one (a
    step-level checkpoint); enough to continue as if never stopped."""

    epoch: int
    steps: int
    train_seconds: float
    train_examples: int
    best_value: float | None
    best_state: dict | None  # the best checkpoint's trainable weights
    best_validation: dict | None
    best_epoch: int | None
    best_step: int | None
    since_best: int
    into_epoch: int = 0


def save_checkpoint(folder: Path, model, optimizer, scheduler, state: LoopState) -> None:
    """Write the checkpoint atomically (a temp folder, then a rename over the old one)."""
    folder = Path(folder)
    trainable = {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}
    payload = {
        "loop": {**state.__dict__, "best_state": None},
        "best_state": state.best_state,
        "trainable": trainable,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": _python_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        torch.save(payload, tmp / STATE_FILE)
        del payload
        # torch.save makes a pickler class per call, and that class's reference cycle keeps every
        # storage it wrote alive until the cyclic collector runs, which counts objects, not bytes
        gc.collect()
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except (OSError, RuntimeError) as err:  # a full disk: torch's writer raises RuntimeError
        error = cannot_write(folder, err)  # before the cleanup: it reports the free space left
        shutil.rmtree(tmp, ignore_errors=True)
        raise error from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> LoopState | None:
    """Restore a checkpoint into the model, optimizer and scheduler (and the random states);
    None when there is none."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    payload = torch.load(path, weights_only=True)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in payload["trainable"]:
                param.copy_(payload["trainable"][name])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    rng = payload["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state(
        (
            rng["numpy"]["kind"],
            rng["numpy"]["keys"].numpy().astype(np.uint32),
            rng["numpy"]["pos"],
            rng["numpy"]["has_gauss"],
            rng["numpy"]["cached_gaussian"],
        )
    )
    random.setstate((rng["python"]["version"], tuple(rng["python"]["state"]), rng["python"]["gauss"]))
    return LoopState(**{**payload["loop"], "best_state": payload["best_state"]})


def checkpoint_problem(folder: Path) -> str | None:
    """What is wrong with the checkpoint in `folder` (empty, truncated, not adapterlab's), or
    None when it is readable or there is none. Memory-maps the file: no tensor is read."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        return "empty (0 bytes)"
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu", mmap=True)
    except Exception as err:  # noqa: BLE001  RuntimeError (a truncated zip), UnpicklingError (foreign objects), ...
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        return (
            "unreadable (not a torch checkpoint archive)"
            if "mmap can only be used" in text
            else f"unreadable ({text[:120]})"
        )
    if not isinstance(payload, dict) or not {"loop", "trainable", "optimizer", "scheduler", "rng", "best_state"} <= set(
        payload
    ):
        return "not a checkpoint of adapterlab (another file under its name)"
    loop, rng = payload["loop"], payload["rng"]
    fields = {f for f in LoopState.__dataclass_fields__ if f != "best_state"}
    if (
        not isinstance(loop, dict)
        or not fields - {"into_epoch"} <= set(loop)
        or not set(loop) <= fields | {"best_state"}
    ):
        return "not a checkpoint of adapterlab (its loop state has other fields)"
    if not all(
        isinstance(loop.get(k), int) and not isinstance(loop.get(k), bool) for k in ("epoch", "steps", "since_best")
    ):
        return "not a checkpoint of adapterlab (its position in training is not a number of epochs and steps)"
    if not isinstance(payload["trainable"], dict) or not all(
        isinstance(t, torch.Tensor) for t in payload["trainable"].values()
    ):
        return "not a checkpoint of adapterlab (its weights are not tensors)"
    if not isinstance(rng, dict) or not {"torch", "numpy", "python", "cuda"} <= set(rng):
        return "not a checkpoint of adapterlab (its random states are missing)"
    return None


def _numpy_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _python_state() -> dict:
    version, state, gauss = random.getstate()
    return {"version": version, "state": list(state), "gauss": gauss}
