"""RunConfig: every setting of one training run, validated once at the entry point."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.io import PACK_DTYPES
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError, reject_unknown

METHODS = ("adapter", "finetune")
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
        get_task(self.task)  # raises for an unknown task
        if self.method not in METHODS:
            raise AdapterlabError(f"method {self.method!r} is not allowed; use adapter or finetune")
        if self.mixed_precision not in PRECISIONS:
            hint = " (YAML reads a bare no as false: write 'no' in quotes)" if isinstance(self.mixed_precision, bool) else ""
            raise AdapterlabError(f"mixed_precision {self.mixed_precision!r} is not allowed; use {', '.join(PRECISIONS)}{hint}")
        if self.pack_dtype not in PACK_DTYPES:
            raise AdapterlabError(f"pack_dtype {self.pack_dtype!r} is not allowed; use {', '.join(PACK_DTYPES)}")
        if not self.train and not self.hub:
            raise AdapterlabError("no training data: give a training file or folder, or a hub dataset name")
        for name in ("epochs", "batch_size", "max_length", "validation_size", "tapt_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AdapterlabError(f"{name}={value!r}: must be an integer >= 1")
        for name in ("train_size", "eval_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise AdapterlabError(f"{name}={value!r}: must be an integer >= 1")
        for name in ("lr", "tapt_lr"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise AdapterlabError(f"{name}={value!r}: must be a number > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise AdapterlabError(f"warmup_ratio={self.warmup_ratio!r}: must be in [0, 1)")
        if not 0 < self.mlm_probability < 1:
            raise AdapterlabError(f"mlm_probability={self.mlm_probability!r}: must be in (0, 1)")

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
        return cls(**values)
