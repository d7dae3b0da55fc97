"""RunConfig: every setting of one training run, validated once at the entry point."""

from __future__ import annotations

import codecs
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.io import PACK_DTYPES
from adapterlab.data.readers import FIELDS, READERS
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError, reject_unknown

METHODS = ("adapter", "finetune")
READER_NAMES = tuple(READERS)
MAX_SEED = 2**32 - 1  # numpy's seed range (Accelerate's set_seed seeds numpy too)
PRECISIONS = ("auto", "no", "bf16", "fp16")
# The paper's learning rates (its appendix, Tables 10-11): adapters 1e-4, fine-tuning 2e-5.
DEFAULT_LR = {"adapter": 1e-4, "finetune": 2e-5}


@dataclass(frozen=True)
class RunConfig:
    task: str  # a registered task name (see `adapterlab tasks`)
    train: str | None = None  # training file/folder (or the single pool to split)
    dev: str | None = None  # dev file: test set in the low-resource protocol, validation otherwise
    test: str | None = None  # test file (plain protocol)
    hub: str | None = None  # a `datasets` name such as "glue/rte", instead of files
    data_format: str = "auto"  # reader; "auto" picks the task's own or one by file extension
    columns: dict[str, str] = field(default_factory=dict)  # our field -> column, for generic files
    encoding: str = "utf-8"  # text encoding of the data files
    model: str | None = None  # backbone folder or hub name; None = the embedded MiniLM
    method: str = "adapter"
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    lr: float | None = None  # None = the paper's rate for the method
    epochs: int = 20
    batch_size: int = 16  # global batch, split across processes
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    data_seed: int | None = None  # seed of the k-sample; None = seed
    train_size: int | None = None  # k of the low-resource protocol; None = plain protocol
    validation_size: int = 1000  # low-resource validation set drawn from the rest of train
    test_fraction: float = 0.2  # held out as test when the data has no dev/test file
    eval_every: int | None = None  # also evaluate validation every N steps
    tapt: bool = False  # task-adaptive MLM pretraining on the training text first
    tapt_epochs: int = 10
    tapt_lr: float | None = None  # None = the method's lr
    mlm_probability: float = 0.15
    mixed_precision: str = "auto"  # auto: bf16 on a GPU that has it, fp32 on CPU
    save_model: bool = False  # fine-tuning: also save the full weights
    pack_dtype: str = "float32"  # storage of the task pack: float16/bfloat16 halve it (cast back on load)
    fast_dropout: bool = True  # CPU training: cheaper dropout masks and attention (train/fast_ops.py)
    progress: bool = True

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise AdapterlabError("\n".join(problems))

    def problems(self) -> list[str]:
        """Every invalid setting, one line each: type, range and allowed values, so a spec or a
        command line learns all of its mistakes at once."""
        found: list[str] = []
        add = found.append
        if not isinstance(self.task, str):
            add(f"task={self.task!r}: must be a task name (see `adapterlab tasks`)")
        else:
            try:
                get_task(self.task)
            except AdapterlabError as err:
                add(str(err))
        for name in ("train", "dev", "test", "hub", "model"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                add(f"{name}={value!r}: must be a path or name (a non-empty string)")
        if not self.train and not self.hub:
            add("no training data: give a training file or folder, or a hub dataset name")
        if self.data_format not in ("auto", *READER_NAMES):
            add(f"data_format={self.data_format!r}: allowed: auto, {', '.join(READER_NAMES)}")
        if not isinstance(self.columns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.columns.items()):
            add(f"columns={self.columns!r}: must map fields ({', '.join(FIELDS)}) to column names")
        elif set(self.columns) - set(FIELDS):
            add(f"columns: unknown field {sorted(set(self.columns) - set(FIELDS))[0]!r}; allowed: {', '.join(FIELDS)}")
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            add(f"encoding={self.encoding!r}: not a known text encoding (e.g. utf-8, latin-1)")
        if self.method not in METHODS:
            add(f"method={self.method!r}: allowed: {', '.join(METHODS)}")
        if not isinstance(self.adapter, AdapterConfig):
            add(f"adapter={self.adapter!r}: must be an AdapterConfig")
        if self.mixed_precision not in PRECISIONS:
            hint = " (YAML reads a bare no as false: write 'no' in quotes)" if isinstance(self.mixed_precision, bool) else ""
            add(f"mixed_precision={self.mixed_precision!r}: allowed: {', '.join(PRECISIONS)}{hint}")
        if self.pack_dtype not in PACK_DTYPES:
            add(f"pack_dtype={self.pack_dtype!r}: allowed: {', '.join(PACK_DTYPES)}")
        for name in ("epochs", "batch_size", "max_length", "validation_size", "tapt_epochs"):
            _check_int(found, name, getattr(self, name), low=1)
        for name in ("train_size", "eval_every"):
            if getattr(self, name) is not None:
                _check_int(found, name, getattr(self, name), low=1)
        for name in ("seed", "data_seed"):
            if name == "seed" or self.data_seed is not None:
                _check_int(found, name, getattr(self, name), low=0, high=MAX_SEED, why="numpy's seed range")
        for name in ("lr", "tapt_lr"):
            if getattr(self, name) is not None:
                _check_number(found, name, getattr(self, name), "> 0", lambda v: v > 0)
        _check_number(found, "warmup_ratio", self.warmup_ratio, "in [0, 1)", lambda v: 0 <= v < 1)
        _check_number(found, "weight_decay", self.weight_decay, ">= 0", lambda v: v >= 0)
        _check_number(found, "max_grad_norm", self.max_grad_norm, ">= 0 (0 turns clipping off)", lambda v: v >= 0)
        _check_number(found, "test_fraction", self.test_fraction, "in (0, 1)", lambda v: 0 < v < 1)
        _check_number(found, "mlm_probability", self.mlm_probability, "in (0, 1)", lambda v: 0 < v < 1)
        for name in ("tapt", "save_model", "fast_dropout", "progress"):
            if not isinstance(getattr(self, name), bool):
                add(f"{name}={getattr(self, name)!r}: must be true or false")
        return found

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """{setting: default} of every setting that has a plain default."""
        values = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
                values[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return values

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["adapter"] = self.adapter.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "run config") -> "RunConfig":
        reject_unknown(values, {f.name for f in dataclasses.fields(cls)}, source)
        values = dict(values)
        if isinstance(values.get("adapter"), dict):
            values["adapter"] = AdapterConfig.from_dict(values["adapter"], source=f"{source} adapter")
        if "task" not in values:
            raise AdapterlabError(f"{source}: missing setting 'task'")
        return cls(**values)


def _check_int(found: list[str], name: str, value, low: int, high: int | None = None, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"an integer in [{low}, {high}]" + (f" ({why})" if why else "") if high is not None else f"an integer >= {low}"
        found.append(f"{name}={value!r}: must be {bound}")


def _check_number(found: list[str], name: str, value, allowed: str, ok) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        found.append(f"{name}={value!r}: must be a finite number {allowed}")
