"""Fine-tuning as a method: every weight trains; the run keeps its whole model only on request
(--save-model), in model/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapterlab.adapters.freezing import ParamCounts, set_trainable
from adapterlab.methods.base import Method, Model, RunSettings, TaptOutcome
from adapterlab.methods.registry import register


class FinetuneMethod(Method):
    def apply(self, model: Model, run: RunSettings, name: str, tapt: TaptOutcome | None) -> ParamCounts:
        if tapt and tapt.encoder_state is not None:  # the encoder as TAPT left it (the task model's pooler is its own)
            missing, unexpected = model.base_model.load_state_dict(tapt.encoder_state, strict=False)
            assert not unexpected and all("pooler" in k for k in missing), (missing, unexpected)
        return set_trainable(model, "finetune")

    def hand_over(self, model: Model, run_dir: Path, name: str, main_process: bool) -> TaptOutcome:
        state = {k: v.detach().cpu().clone() for k, v in model.base_model.state_dict().items()}  # the whole encoder
        return TaptOutcome({}, encoder_state=state)

    def compare_defaults(self) -> dict[str, Any]:
        return {"save_model": True}  # so that compare's chosen run can be handed over in DIR/best/

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
        if not run.save_model:
            return {}
        model.save_pretrained(run_dir / "model", safe_serialization=True)
        tokenizer.save_pretrained(run_dir / "model")
        return {"model": str(run_dir / "model")}


FINETUNE = register(
    FinetuneMethod(
        name="finetune",
        title="Fine-tuning",
        words="fine-tuning",
        color="#d62728",
        default_lr=2e-5,  # the paper's appendix, Tables 10-11
        compare_lr=5e-5,
        own_axes=("save_model",),
        references=(),
        artifact="model",
        mergeable=True,
    )
)
