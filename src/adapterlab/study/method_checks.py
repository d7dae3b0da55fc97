"""A spec's methods (and max_length, TAPT) checked against its backbones before any run starts.

Without this, a LoRA target the backbone lacks, or an adapter larger than it allows, would be
found by each run in turn, after `study run` had started: every run of that setting would fail
with the same line. The checks are the ones `train` makes before its run folder exists, on a
weightless copy of the model; backbones that are not on this machine (a Hub name not yet
downloaded) are left to the runs.
"""

from __future__ import annotations

from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.methods import methods_with_settings
from adapterlab.study.backbone_configs import SHIPPED_CONFIGS, backbone_config


def _offline_config(model: str | None):
    """The backbone's config if it can be read here (shipped config or local folder), else None."""
    import transformers

    from adapterlab.backbone import resolve_backbone

    if str(model or "default") in SHIPPED_CONFIGS:
        return backbone_config(model)
    path = resolve_backbone(model)  # a folder without config.json raises, one line
    if Path(path).is_dir():
        return transformers.AutoConfig.from_pretrained(path)
    if str(model).startswith(("/", "./", "../", "~")):  # written as a path, so no Hub name
        raise AdapterlabError(f"model folder {model} not found")
    return None


def _offline_tokenizer(model: str | None, model_config):
    """The backbone's tokenizer if it is in a folder here (the embedded default included), else
    None (a Hub name, a shipped config, or a folder whose tokenizer does not load: left to the runs)."""
    from adapterlab.backbone import resolve_backbone
    from adapterlab.train.model_setup import load_tokenizer

    path = resolve_backbone(model)
    if not Path(path).is_dir():
        return None
    try:
        return load_tokenizer(path, model_config)
    except AdapterlabError:  # the runs report it, each in its own record, as before these checks
        return None


def check_methods_fit(runs: list, source: str) -> list[str]:
    """One error line per distinct setting whose method, max_length or TAPT does not fit its
    backbone (and tokenizer, when it is here). runs: PlannedRun."""
    from adapterlab.backbone import DEFAULT_BACKBONE
    from adapterlab.data.tasks import get_task
    from adapterlab.train.method import check_method_fits
    from adapterlab.train.model_setup import check_backbone_fits, check_fits
    from adapterlab.train.options import in_spec_terms

    errors: list[str] = []
    checked: set = set()
    configs: dict = {}
    tokenizers: dict = {}
    for run in runs:
        config = run.config
        if config.model not in configs:  # once per backbone: a missing folder is one line, not one per setting
            try:
                configs[config.model] = _offline_config(config.model)
                tokenizers[config.model] = (
                    _offline_tokenizer(config.model, configs[config.model])
                    if configs[config.model] is not None
                    else None
                )
            except AdapterlabError as err:
                configs[config.model] = None
                errors.append(f"{source}: model {config.model!r}: {err}")
        if configs[config.model] is None:
            continue
        kind = get_task(config.task).kind
        key = (
            config.model,
            config.method,
            repr(config.adapter),
            repr(config.peft) if config.method not in methods_with_settings("adapter") else None,
            kind,
            config.max_length,
            config.tapt,
        )
        if key in checked:
            continue
        checked.add(key)
        name = config.model if config.model not in (None, "", "default") else DEFAULT_BACKBONE
        tokenizer = tokenizers.get(config.model)
        try:
            if tokenizer is not None:
                check_fits(config, configs[config.model], tokenizer, str(name))
            else:
                check_backbone_fits(config, configs[config.model], str(name))
            check_method_fits(config, configs[config.model], kind)
        except AdapterlabError as err:
            errors.append(f"{source}: run {run.key}: {in_spec_terms(str(err))}")  # a spec sets keys, not options
    return errors
