"""The config of a backbone without its weights: a local folder's, the embedded default's, or one
of the configs shipped in specs/backbones/ (so that `study plan` and the spec's method checks work
offline for bert-base-uncased, roberta-base and xlm-roberta-large). A leaf of study/: the plan,
its probe and the method checks all read it, and it imports none of them."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from adapterlab.backbone import resolve_backbone
from adapterlab.errors import AdapterlabError

SHIPPED_CONFIGS = ("bert-base-uncased", "roberta-base", "xlm-roberta-large")


def backbone_config(model: str | None):
    """The config of a backbone: a local folder's, the embedded default's, or a shipped one."""
    import transformers  # here: a spec is read and checked without loading transformers

    name = str(model or "default")
    if name in SHIPPED_CONFIGS:
        values = json.loads(resources.files("adapterlab").joinpath("specs", "backbones", f"{name}.json").read_text())
        return transformers.AutoConfig.for_model(**values)
    path = resolve_backbone(model)
    if not Path(path).is_dir():
        raise AdapterlabError(
            f"model {name!r}: no local folder and no shipped config ({', '.join(SHIPPED_CONFIGS)}); "
            "study plan needs the backbone's config"
        )
    return transformers.AutoConfig.from_pretrained(path)
