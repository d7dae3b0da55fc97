"""Study fixtures shared by the study and report tests: a tiny backbone, toy SST-2 files and a spec."""

import platform
import sys

import pytest
import yaml
from tiny import save_tiny_backbone, write_sentiment_tsv

from adapterlab.errors import AdapterlabError
from adapterlab.runtime import MMAP_THRESHOLD_BYTES
from adapterlab.study.spec import expand_spec

# the allocator threshold a run's process sets where it can (glibc's mallopt) and records (runtime.py)
GLIBC_THRESHOLD = (
    MMAP_THRESHOLD_BYTES >> 20 if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc" else None
)


def make_tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    for name, count, seed in (("train", 80, 0), ("dev", 30, 1)):
        write_sentiment_tsv(root / f"{name}.tsv", count, seed)
    return root, model


def tiny_spec(root, model, seeds=(0, 1), extra_base=None, **grid):
    spec = {
        "name": "tiny",
        "base": {
            "model": str(model),
            "epochs": 1,
            "batch_size": 8,
            "max_length": 32,
            "validation_size": 10,
            "train_size": 20,
            "progress": False,
            **(extra_base or {}),
        },
        "tasks": {"sst2": {"train": str(root / "train.tsv"), "dev": str(root / "dev.tsv")}},
        "grid": {"method": ["adapter", "finetune"], "seed": list(seeds), **grid},
        "by_method": {"adapter": {"lr": 1e-3, "adapter": {"size": 8}}, "finetune": {"lr": 1e-3}},
    }
    return spec


def spec_errors(spec):
    """The one-line errors that expanding this spec raises, all at once."""
    with pytest.raises(AdapterlabError) as err:
        expand_spec(spec)
    return str(err.value).splitlines()


def write_spec(path, spec):
    path.write_text(yaml.safe_dump(spec))
    return path
