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
    if Path(path).is_dir():
        return transformers.AutoConfig.from_pretrained(path)
    if str(model).startswith(("/", "./", "../", "~")):  # written as a path, so no Hub name
        raise AdapterlabError(f"model folder {model} not found")
    return None


def check_methods_fit(runs: list, source: str) -> list[str]:
    """One error line per distinct setting whose method does not fit its backbone. runs: PlannedRun."""
    from adapterlab.backbone import DEFAULT_BACKBONE
    from adapterlab.data.tasks import get_task
    from adapterlab.train.config import in_spec_terms
    from adapterlab.train.method import check_method_fits
    from adapterlab.train.model_setup import check_backbone_fits

    errors: list[str] = []
    checked: set = set()
    configs: dict = {}
    for run in runs:
        config = run.config
        if config.model not in configs:  # once per backbone: a missing folder is one line, not one per setting
            try:
                configs[config.model] = _offline_config(config.model)
            except AdapterlabError as err:
                configs[config.model] = None
                errors.append(f"{source}: model {config.model!r}: {err}")
        if config.method == "finetune" or configs[config.model] is None:
            continue
        kind = get_task(config.task).kind
        key = (config.model, config.method, repr(config.adapter), repr(config.peft) if config.method != "adapter" else None, kind)
        if key in checked:
            continue
        checked.add(key)
        name = config.model if config.model not in (None, "", "default") else DEFAULT_BACKBONE
        try:
            check_backbone_fits(config, configs[config.model], str(name))
            check_method_fits(config, configs[config.model], kind)
        except AdapterlabError as err:
            errors.append(f"{source}: run {run.key}: {in_spec_terms(str(err))}")  # a spec sets keys, not options
    return errors
