"""Houlsby bottleneck adapters (Houlsby et al. 2019; He et al. 2021's setting) as a method: two
adapters per layer, per-task LayerNorm copies and head on a frozen backbone (adapters/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import safe_open

from adapterlab.adapters.freezing import ParamCounts, set_trainable
from adapterlab.adapters.injection import add_adapters
from adapterlab.adapters.io import MANIFEST_FILE, WEIGHTS_FILE, load_adapter, read_pack_info, save_adapter
from adapterlab.errors import AdapterlabError
from adapterlab.methods.base import Method, Model, PackLabels, RunSettings, TaptOutcome
from adapterlab.methods.registry import register

TAPT_PACK = "tapt_pack"  # TAPT's adapters, in the run folder, for the task run to start from


class AdapterMethod(Method):
    def check_backbone(self, run: RunSettings, model_config: Any, model_path: str) -> None:
        layers = getattr(model_config, "num_hidden_layers", None) or getattr(model_config, "n_layers", None)
        hidden = getattr(model_config, "hidden_size", None) or getattr(model_config, "dim", None)
        if isinstance(layers, int) and run.adapter.skip_layers >= layers:
            raise AdapterlabError(
                f"--skip-layers {run.adapter.skip_layers}: {model_path} has {layers} layers, so no adapter would be "
                f"left; use at most {layers - 1}"
            )
        if isinstance(hidden, int) and run.adapter.size > 4 * hidden:
            raise AdapterlabError(
                f"--adapter-size {run.adapter.size}: more than 4x the hidden size {hidden} of {model_path}; "
                "the paper uses 64 to 256"
            )

    def apply(self, model: Model, run: RunSettings, name: str, tapt: TaptOutcome | None) -> ParamCounts:
        if tapt and tapt.pack is not None:
            load_adapter(model, tapt.pack, name=name, with_head=False)
        else:
            add_adapters(model, run.adapter, name=name)
        return set_trainable(model, "adapter")

    def prepare_tapt(self, model: Model, run: RunSettings, name: str) -> None:
        add_adapters(model, run.adapter, name=name)
        set_trainable(model, "adapter")

    def hand_over(self, model: Model, run_dir: Path, name: str, main_process: bool) -> TaptOutcome:
        pack = run_dir / TAPT_PACK
        if main_process:
            save_adapter(model, pack, name=name)
        return TaptOutcome({"pack": str(pack)}, pack=pack)

    def resume_tapt(self, run_dir: Path, summary: dict[str, Any]) -> TaptOutcome | None:
        return TaptOutcome(summary, pack=run_dir / TAPT_PACK) if (run_dir / TAPT_PACK).is_dir() else None

    def tapt_weights(self, run_dir: Path) -> Path:
        return run_dir / TAPT_PACK / WEIGHTS_FILE

    def open_tapt_weights(self, run_dir: Path) -> None:
        read_pack_info(run_dir / TAPT_PACK)
        with safe_open(str(self.tapt_weights(run_dir)), framework="pt") as handle:
            handle.keys()

    def cost_settings(self, run: RunSettings) -> object:
        return (run.adapter.size, run.adapter.skip_layers)

    def cost_words(self, run: RunSettings) -> str:
        return f"{self.name} m={run.adapter.size}" + (
            f" skip {run.adapter.skip_layers}" if run.adapter.skip_layers else ""
        )

    def compare_defaults(self) -> dict[str, Any]:
        return {"adapter": {"size": 64}}

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
        saved = save_adapter(model, run_dir / "pack", name=name, labels=labels, dtype=run.pack_dtype)
        return {"pack": str(saved.path), "pack_bytes": saved.size_bytes}

    def is_pack(self, path: Path) -> bool:
        return (path / MANIFEST_FILE).is_file()

    def load_pack(self, model: Model, path: Path, with_head: bool = True, merge: bool = False) -> Model:
        load_adapter(model, path, with_head=with_head)
        return model

    def add_shared(self, model: Model, path: Path, name: str) -> str:
        return load_adapter(model, path, name=name)

    def pack_labels(self, path: Path) -> PackLabels:
        info = read_pack_info(path)
        return PackLabels(path / MANIFEST_FILE, info.num_labels, info.labels)


ADAPTER = register(
    AdapterMethod(
        name="adapter",
        title="Houlsby bottleneck adapters (He et al. 2021)",
        words="adapter",
        color="#1f77b4",
        default_lr=1e-4,  # the paper's appendix, Tables 10-11
        compare_lr=1e-3,
        shares_backbone=True,
        nested_settings="adapter",
    )
)
