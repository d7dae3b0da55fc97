"""The checks of a RunConfig: every invalid setting, one line each (type, range and allowed
values), so a spec or a command line learns all of its mistakes at once. RunConfig calls
`config_problems` when it is made; the checks read its fields (`config` is a RunConfig, which
imports this module, so it is not named in the annotations)."""

from __future__ import annotations

import codecs
import math
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.data.readers import FIELDS, READERS
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method, method_names
from adapterlab.names import PACK_DTYPES, PRECISIONS, TAPT_HEADS
from adapterlab.train.trackers import tracker_problems

READER_NAMES = tuple(READERS)  # data_format's values besides auto
MAX_SEED = 2**32 - 1  # numpy's seed range (Accelerate's set_seed seeds numpy too)
# The settings that are PEFT's methods' own: a run of another method checks only their types.
PEFT_SETTINGS = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets", "ia3_feedforward")


def config_problems(config: Any) -> list[str]:
    """Every invalid setting of `config`: its data, its method, then the rest."""
    return (
        _data_problems(config)
        + _method_problems(config)
        + _choice_problems(config)
        + _count_problems(config)
        + _number_problems(config)
        + _switch_problems(config)
    )


def _data_problems(config: Any) -> list[str]:
    """The task and where its data comes from: files or hub, reader, columns, encoding."""
    found: list[str] = []
    add = found.append
    if not isinstance(config.task, str):
        add(f"task={config.task!r}: must be a task name (see `adapterlab tasks`)")
    else:
        try:
            if get_task(config.task).kind == "mlm":
                add(
                    f"task={config.task!r}: the masked-LM objective is for --tapt and `adapterlab forgetting`; "
                    "train a classification, regression or token task"
                )
        except AdapterlabError as err:
            add(str(err))
    for name in ("train", "dev", "test", "hub", "model"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value):
            add(f"{name}={value!r}: must be a path or name (a non-empty string)")
    if not config.train and not config.hub:
        add("no training data: give a training file or folder, or a hub dataset name")
    if config.data_format not in ("auto", *READER_NAMES):
        add(f"data_format={config.data_format!r}: allowed: auto, {', '.join(READER_NAMES)}")
    if not isinstance(config.columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.columns.items()
    ):
        add(f"columns={config.columns!r}: must map fields ({', '.join(FIELDS)}) to column names")
    elif set(config.columns) - set(FIELDS):
        add(f"columns: unknown field {sorted(set(config.columns) - set(FIELDS))[0]!r}; allowed: {', '.join(FIELDS)}")
    try:
        codecs.lookup(config.encoding)
    except (LookupError, TypeError):
        add(f"encoding={config.encoding!r}: not a known text encoding (e.g. utf-8, latin-1)")
    return found


def _method_problems(config: Any) -> list[str]:
    """The method's name, and its own settings as its registered Method checks them; another
    method's settings change nothing here, but a value of the wrong type is still refused."""
    found: list[str] = []
    if config.method not in method_names():
        found.append(f"method={config.method!r}: allowed: {', '.join(method_names())}")
    if not isinstance(config.adapter, AdapterConfig):
        found.append(f"adapter={config.adapter!r}: must be an AdapterConfig")
    own = get_method(config.method).own_axes if config.method in method_names() else ()
    if config.method in method_names():
        found.extend(get_method(config.method).problems(config))
    if not set(PEFT_SETTINGS) & set(own):
        found.extend(_peft_type_problems(config))
    return found


def _choice_problems(config: Any) -> list[str]:
    """The settings that name one of a fixed set: precision, trackers, TAPT head, pack dtype."""
    found: list[str] = []
    add = found.append
    if config.mixed_precision not in PRECISIONS:
        hint = (
            " (YAML reads a bare no as false: write 'no' in quotes)" if isinstance(config.mixed_precision, bool) else ""
        )
        add(f"mixed_precision={config.mixed_precision!r}: allowed: {', '.join(PRECISIONS)}{hint}")
    if (
        not isinstance(config.tracker_project, str)
        or not config.tracker_project.strip()
        or "/" in config.tracker_project
    ):
        add(f"tracker_project={config.tracker_project!r}: must be a name (non-empty, without /)")
    if config.report_to is not None:
        found.extend(
            tracker_problems(config.report_to)
            if isinstance(config.report_to, str)
            else [f"report_to={config.report_to!r}: must be tracker names, e.g. tensorboard"]
        )
    if config.tapt_head not in TAPT_HEADS:
        add(f"tapt_head={config.tapt_head!r}: allowed: {', '.join(TAPT_HEADS)}")
    if config.pack_dtype not in PACK_DTYPES:
        add(f"pack_dtype={config.pack_dtype!r}: allowed: {', '.join(PACK_DTYPES)}")
    return found


def _count_problems(config: Any) -> list[str]:
    """The integer settings: sizes, step counts and seeds."""
    found: list[str] = []
    for name in ("epochs", "batch_size", "max_length", "validation_size", "tapt_epochs"):
        _check_int(found, name, getattr(config, name), low=1)
    _check_int(found, "grad_accum", config.grad_accum, low=1)
    if (
        isinstance(config.grad_accum, int)
        and isinstance(config.batch_size, int)
        and config.grad_accum > config.batch_size >= 1
    ):
        found.append(
            f"grad_accum={config.grad_accum}: must not exceed batch_size={config.batch_size} (each micro-batch needs an example)"
        )
    for name in ("train_size", "eval_every", "early_stop", "logging_steps"):
        if getattr(config, name) is not None:
            _check_int(found, name, getattr(config, name), low=1)
    for name in ("seed", "data_seed"):
        if name == "seed" or config.data_seed is not None:
            _check_int(found, name, getattr(config, name), low=0, high=MAX_SEED, why="numpy's seed range")
    return found


def _number_problems(config: Any) -> list[str]:
    """The real-valued settings (rates and shares), and early stopping's tuning, which needs early_stop."""
    found: list[str] = []
    add = found.append
    for name in ("lr", "tapt_lr"):
        if getattr(config, name) is not None:
            _check_number(found, name, getattr(config, name), "> 0", lambda v: v > 0)
    _check_number(found, "warmup_ratio", config.warmup_ratio, "in [0, 1)", lambda v: 0 <= v < 1)
    _check_number(found, "early_stop_min_delta", config.early_stop_min_delta, ">= 0", lambda v: v >= 0)
    _check_int(found, "early_stop_min_epochs", config.early_stop_min_epochs, low=0)
    if isinstance(config.early_stop_min_epochs, int) and config.early_stop_min_epochs > 0 and config.early_stop is None:
        add(
            f"early_stop_min_epochs={config.early_stop_min_epochs!r} without early_stop: there is no early stopping to delay; set early_stop too"
        )
    if (
        isinstance(config.early_stop_min_delta, (int, float))
        and config.early_stop_min_delta > 0
        and config.early_stop is None
    ):
        add(
            f"early_stop_min_delta={config.early_stop_min_delta!r} without early_stop: there is no early stopping to tune; set early_stop too"
        )
    _check_number(found, "weight_decay", config.weight_decay, ">= 0", lambda v: v >= 0)
    _check_number(found, "max_grad_norm", config.max_grad_norm, ">= 0 (0 turns clipping off)", lambda v: v >= 0)
    _check_number(found, "test_fraction", config.test_fraction, "in (0, 1)", lambda v: 0 < v < 1)
    _check_number(found, "mlm_probability", config.mlm_probability, "in (0, 1)", lambda v: 0 < v < 1)
    return found


def _switch_problems(config: Any) -> list[str]:
    """The true-or-false settings, and the one pair of them that contradicts itself."""
    found: list[str] = []
    add = found.append
    if config.keep_checkpoint is True and config.checkpoint is False:
        add("keep_checkpoint=true with checkpoint=false: there is no checkpoint to keep")
    for name in (
        "tapt",
        "save_model",
        "fast_dropout",
        "lora_layernorm",
        "progress",
        "gradient_checkpointing",
        "checkpoint",
        "keep_checkpoint",
    ):
        if not isinstance(getattr(config, name), bool):
            add(f"{name}={getattr(config, name)!r}: must be true or false")
    return found


def _check_int(found: list[str], name: str, value, low: int, high: int | None = None, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = (
            f"an integer in [{low}, {high}]" + (f" ({why})" if why else "")
            if high is not None
            else f"an integer >= {low}"
        )
        found.append(f"{name}={value!r}: must be {bound}")


def _check_number(found: list[str], name: str, value, allowed: str, ok) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        found.append(f"{name}={value!r}: must be a finite number {allowed}")


def _peft_type_problems(config: Any) -> list[str]:
    """The PEFT settings' types, for a run of another method (PeftSettings.problems checks the rest)."""
    found = []
    number = (int, float)
    if not isinstance(config.lora_r, int) or isinstance(config.lora_r, bool):
        found.append(f"lora_r={config.lora_r!r}: must be an integer >= 1")
    for name in ("lora_alpha", "lora_dropout"):
        value = getattr(config, name)
        if not isinstance(value, number) or isinstance(value, bool):
            found.append(f"{name}={value!r}: must be a number")
    for name in ("lora_targets", "ia3_feedforward"):
        value = getattr(config, name)
        if (
            value is not None
            and not isinstance(value, str)
            and not (isinstance(value, list) and all(isinstance(t, str) for t in value))
        ):
            found.append(f"{name}={value!r}: must name modules (a list of names, or a comma-separated string)")
    return found
