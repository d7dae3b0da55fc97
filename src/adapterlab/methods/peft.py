"""PEFT's methods (LoRA, LoHa, IA3) as methods: PEFT injects their weights into the encoder's
linear layers (adapters/peft_methods.py); the head and the LayerNorms train as for adapters, and
the pack is in PEFT's own format (adapters/peft_packs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from adapterlab.adapters.freezing import ParamCounts, count_parameters
from adapterlab.adapters.io import PACK_DTYPES, backbone_identity
from adapterlab.adapters.peft_methods import add_peft, merge_peft, set_peft_trainable
from adapterlab.adapters.peft_packs import (
    MANIFEST_FILE,
    load_peft_pack,
    pack_method,
    read_peft_manifest,
    save_peft_pack,
)
from adapterlab.methods.base import Method, Model, PackLabels, RunSettings, TaptOutcome, shape_model
from adapterlab.methods.registry import register


class PeftMethod(Method):
    def cost_settings(self, run: RunSettings) -> object:
        return repr(run.peft)

    def cost_words(self, run: RunSettings) -> str:
        return f"{self.name} r={run.peft.r}" if "lora_r" in self.own_axes else self.name  # a ranked method: its rank

    def problems(self, run: RunSettings) -> list[str]:
        return run.peft.problems()

    def check_fits(self, run: RunSettings, model_config: Any, kind: str) -> None:
        """A target that names no module of this backbone, only the head, or a module the method
        cannot adapt (a LayerNorm, an embedding): tried on a weightless copy (device meta)."""
        with torch.device("meta"):
            model = shape_model(model_config, kind)
        add_peft(model, run.peft)

    def apply(self, model: Model, run: RunSettings, name: str, tapt: TaptOutcome | None) -> ParamCounts:
        add_peft(model, run.peft)
        set_peft_trainable(model)
        if (
            tapt and tapt.encoder_state is not None
        ):  # the method's weights and LayerNorms as TAPT left them (the same injection names them alike)
            _, unexpected = model.base_model.load_state_dict(tapt.encoder_state, strict=False)
            assert not unexpected, unexpected
        return count_parameters(model)

    def prepare_tapt(self, model: Model, run: RunSettings, name: str) -> None:
        add_peft(model, run.peft)
        set_peft_trainable(model)
        # the MLM decoder is tied to the input embeddings, which belong to the frozen encoder: only
        # the method's weights, the LayerNorms and the head's own weights train, as for adapters
        model.get_input_embeddings().weight.requires_grad_(False)

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
        size = save_peft_pack(
            model,
            run_dir / "pack",
            labels,
            backbone_identity(model),
            PACK_DTYPES[run.pack_dtype],
            base_model=base_model,
        )
        return {"pack": str(run_dir / "pack"), "pack_bytes": size}

    def is_pack(self, path: Path) -> bool:
        return pack_method(path) == self.name

    def load_pack(self, model: Model, path: Path, with_head: bool = True, merge: bool = False) -> Model:
        load_peft_pack(model, path, backbone_identity(model), with_head=with_head)
        return merge_peft(model) if merge else model

    def pack_labels(self, path: Path) -> PackLabels:
        manifest, _ = read_peft_manifest(path)
        return PackLabels(path / MANIFEST_FILE, manifest.get("num_labels"), manifest.get("labels"))

    def merged(self, model: Model) -> Model:
        return merge_peft(model)


LORA = register(
    PeftMethod(
        name="lora",
        title="LoRA (Hu et al. 2022), through PEFT",
        words="LoRA",
        color="#2ca02c",
        default_lr=5e-4,  # Hu et al. (2022) Table 9's rate for RoBERTa-base on most GLUE tasks
        compare_lr=1e-3,
        own_axes=("lora_r", "lora_alpha", "lora_dropout", "lora_targets", "lora_layernorm"),
        role="lora",
        references=("finetune", "adapter"),
        library="peft",
        tags=("peft",),
        mergeable=True,
    )
)
LOHA = register(
    PeftMethod(
        name="loha",
        title="LoHa (Hyeon-Woo et al. 2022), through PEFT",
        words="LoHa",
        color="#9467bd",
        default_lr=5e-4,  # no published encoder rate: LoRA's
        compare_lr=1e-3,
        own_axes=("lora_r", "lora_alpha", "lora_targets", "lora_layernorm"),
        role="loha",
        references=("finetune", "adapter"),
        library="peft",
        tags=("peft",),
        mergeable=True,
    )
)
IA3 = register(
    PeftMethod(
        name="ia3",
        title="IA3 (Liu et al. 2022), through PEFT",
        words="IA3",
        color="#ff7f0e",
        default_lr=3e-3,  # T-Few's (Liu et al. 2022 §3.3)
        compare_lr=3e-3,
        own_axes=("lora_targets", "ia3_feedforward", "lora_layernorm"),
        role="ia3",
        references=("finetune", "adapter"),
        library="peft",
        tags=("peft",),
        mergeable=True,
    )
)
