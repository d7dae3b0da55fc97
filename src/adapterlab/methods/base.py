"""What a training method is: one `Method` object that says everything adapterlab needs to know
about it (its name, default learning rate, own grid axes, how it is applied to a task model,
saved and loaded back, handed over after TAPT, and how reports name and colour it).

A method is registered once (registry.py) and everything that used to branch on its name reads
it from there. The built-in methods are adapter.py (Houlsby adapters), finetune.py and peft.py
(LoRA, LoHa, IA3); a new one subclasses Method, overrides what differs, and calls `register`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from adapterlab.adapters.config import AdapterConfig
from adapterlab.adapters.freezing import ParamCounts, parameter_roles
from adapterlab.adapters.peft_methods import PeftSettings
from adapterlab.runs import TAPT_ENCODER_FILE

# A transformers PreTrainedModel (a task model, or a bare encoder): its base_model, config and
# save_pretrained are what a method uses beyond nn.Module, and transformers does not type them.
Model = Any


class RunSettings(Protocol):
    """What a method reads of a run's settings (train.config.RunConfig has them all)."""

    method: str
    model: str | None
    adapter: AdapterConfig
    pack_dtype: str
    save_model: bool

    @property
    def peft(self) -> PeftSettings: ...


@dataclass
class TaptOutcome:
    """What TAPT hands the task run: a pack (adapters), or encoder tensors (fine-tuning: the
    whole encoder; PEFT methods: what they trained), and a summary for the result."""

    summary: dict[str, Any]
    pack: Path | None = None
    encoder_state: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class PackLabels:
    """What a pack's own manifest says about its head: the file, its outputs and label names."""

    manifest: Path
    num_labels: Any
    labels: Any


@dataclass(frozen=True)
class Method:
    """A training method. The fields are data; the methods below are its behaviour, each with the
    default that fits a method that trains some of the backbone's own weights and saves nothing.

    name: the `--method` value. title: how a model card names it. words: how a report's prose
    names it ("fine-tuning", "LoRA"). color: its colour in figures. default_lr: the paper's rate
    (when --lr is not given). compare_lr: the centre of `adapterlab compare`'s rate grid.
    own_axes: the RunConfig settings that are this method's own (another method refuses them; a
    report's column keeps them in the method's name and drops them for its fine-tuning partner).
    references: the methods a report tests it against. artifact: the folder its run saves
    ("pack", "model") or None. role: the params_by_role key of its own weights. library: the
    model card's library_name. shares_backbone: several of its packs can share one model (one
    backbone pass for many tasks). mergeable: its update folds into the backbone's weights.
    nested_settings: the RunConfig field that holds its own settings block, if any."""

    name: str
    title: str
    words: str
    color: str
    default_lr: float
    compare_lr: float
    own_axes: tuple[str, ...] = ()
    references: tuple[str, ...] = ("finetune",)
    artifact: str | None = "pack"
    role: str = "adapter"
    library: str = "adapterlab"
    shares_backbone: bool = False
    mergeable: bool = False
    nested_settings: str | None = None
    tags: tuple[str, ...] = field(default=())  # the model card's tags besides adapterlab, the method and the task

    # ----------------------------------------------------------------- settings and checks

    def cost_settings(self, run: RunSettings) -> object:
        """The method's own settings in `run` that change a training step's cost (the plan's probe
        shares one probe among runs that agree on them); by default none."""
        return None

    def cost_words(self, run: RunSettings) -> str:
        """The method and its settings in `cost_settings`, in words for the plan ("adapter m=64")."""
        return self.name

    def compare_defaults(self) -> dict[str, Any]:
        """The settings `adapterlab compare` gives every run of the method, besides its rates."""
        return {}

    def problems(self, run: RunSettings) -> list[str]:
        """What is wrong with this method's own settings in `run` (one line each)."""
        return []

    def check_backbone(self, run: RunSettings, model_config: Any, model_path: str) -> None:
        """What the backbone's config alone rules out (raises AdapterlabError, one line)."""

    def check_fits(self, run: RunSettings, model_config: Any, kind: str) -> None:
        """What applying the method to this backbone would refuse, found before the run folder
        exists (raises AdapterlabError, one line)."""

    # ----------------------------------------------------------------- training

    def apply(self, model: Model, run: RunSettings, name: str, tapt: TaptOutcome | None) -> ParamCounts:
        """Add the method's weights to the task model in place, start from TAPT's outcome when
        there is one, and freeze the rest by the method's policy. Returns trainable counts."""
        raise NotImplementedError(f"method {self.name}: apply")

    def parameter_roles(self, model: Model) -> list[tuple[nn.Parameter, str, bool]]:
        """Each parameter with its role ("adapter" for the method's own weights)."""
        return parameter_roles(model)

    def prepare_tapt(self, model: Model, run: RunSettings, name: str) -> None:
        """Ready the masked-LM model for TAPT (the method's weights in, its freeze policy); by
        default every weight trains."""

    def hand_over(self, model: Model, run_dir: Path, name: str, main_process: bool) -> TaptOutcome:
        """What TAPT hands the task run from the trained masked-LM model: by default the
        encoder's trained tensors, keyed as in the task model's encoder."""
        kept = {n for n, p in model.base_model.named_parameters() if p.requires_grad}
        state = {k: v.detach().cpu().clone() for k, v in model.base_model.state_dict().items() if k in kept}
        return TaptOutcome({}, encoder_state=state)

    def resume_tapt(self, run_dir: Path, summary: dict[str, Any]) -> TaptOutcome | None:
        """The outcome of a TAPT phase this run folder finished before it was stopped, or None."""
        encoder = run_dir / TAPT_ENCODER_FILE
        return TaptOutcome(summary, encoder_state=load_file(str(encoder))) if encoder.is_file() else None

    def tapt_weights(self, run_dir: Path) -> Path:
        """The file that holds TAPT's outcome in `run_dir`."""
        return run_dir / TAPT_ENCODER_FILE

    def open_tapt_weights(self, run_dir: Path) -> None:
        """Read TAPT's outcome enough to know it is whole; raises when it is cut short."""
        with safe_open(str(self.tapt_weights(run_dir)), framework="pt") as handle:
            handle.keys()

    def save(
        self,
        model: Model,
        run: RunSettings,
        name: str,
        labels: list[str] | None,
        tokenizer: Any,
        run_dir: Path,
        base_model: str | None,
    ) -> dict[str, Any]:
        """Write what the run keeps (its pack, or its model) into `run_dir`; returns the result's
        fields about it ({"pack": ..., "pack_bytes": ...}). base_model: the backbone as a pack
        may name it elsewhere (provenance.portable_base)."""
        return {}

    # ----------------------------------------------------------------- packs

    def is_pack(self, path: Path) -> bool:
        """Whether the folder `path` is a pack of this method."""
        return False

    def load_pack(self, model: Model, path: Path, with_head: bool = True, merge: bool = False) -> Model:
        """Load the pack at `path` onto `model` (a task model, or a bare encoder with
        with_head=False); merge: fold the method into plain weights where it can. Returns it."""
        raise NotImplementedError(f"method {self.name}: load_pack")

    def add_shared(self, model: Model, path: Path, name: str) -> str:
        """Load the pack as a named task onto a model other tasks share (shares_backbone)."""
        raise NotImplementedError(f"method {self.name}: add_shared")

    def pack_labels(self, path: Path) -> PackLabels:
        """What the pack's own manifest says about its head."""
        raise NotImplementedError(f"method {self.name}: pack_labels")

    def merged(self, model: Model) -> Model:
        """The model with the method folded into plain weights (mergeable methods)."""
        return model


def shape_model(model_config: Any, kind: str) -> Model:
    """A task model of the backbone's shapes with random weights (no checkpoint read): a token
    head for token tasks, one output for regression, two classes otherwise. For shape-only work:
    the plan's probe and the checks before a run."""
    shape = copy.deepcopy(model_config)
    shape.num_labels = 1 if kind == "regression" else 2
    auto = (
        transformers.AutoModelForTokenClassification
        if kind == "token"
        else transformers.AutoModelForSequenceClassification
    )
    return auto.from_config(shape)  # type: ignore[no-untyped-call]
