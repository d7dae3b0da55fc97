"""A spec's methods checked against its backbones before any run starts.

Without this, a LoRA target the backbone lacks, or an adapter larger than it allows, would be
found by each run in turn, after `study run` had started: every run of that setting would fail
with the same line. The checks are the ones `train` makes before its run folder exists, on a
weightless copy of the model; backbones that are not on this machine (a Hub name not yet
downloaded) are left to the runs.
"""

from __future__ import annotations

from pathlib import Path

from adapterlab.errors import AdapterlabError


def _offline_config(model: str | None):
    """The backbone's config if it can be read here (shipped config or local folder), else None."""
    import transformers

    from adapterlab.backbone import resolve_backbone
    from adapterlab.study.plan import SHIPPED_CONFIGS, backbone_config

    if str(model or "default") in SHIPPED_CONFIGS:
        return backbone_config(model)
    path = resolve_backbone(model)  # a folder without config.json raises, one line
    return transformers.AutoConfig.from_pretrained(path) if Path(path).is_dir() else None


def check_methods_fit(runs: list, source: str) -> list[str]:
    """One error line per distinct setting whose method does not fit its backbone. runs: PlannedRun."""
    from adapterlab.data.tasks import get_task
    from adapterlab.train.method import check_method_fits
    from adapterlab.train.model_setup import check_backbone_fits

    errors: list[str] = []
    checked: set = set()
    configs: dict = {}
    for run in runs:
        config = run.config
        if config.method == "finetune":
            continue
        kind = get_task(config.task).kind
        key = (config.model, config.method, repr(config.adapter), repr(config.peft) if config.method != "adapter" else None, kind)
        if key in checked:
            continue
        checked.add(key)
        try:
            if config.model not in configs:
                configs[config.model] = _offline_config(config.model)
            model_config = configs[config.model]
            if model_config is None:
                continue
            check_backbone_fits(config, model_config, str(config.model or "default"))
            check_method_fits(config, model_config, kind)
        except AdapterlabError as err:
            errors.append(f"{source}: run {run.key}: {err}")
    return errors
