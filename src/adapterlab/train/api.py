"""The Python training API, `adapterlab.train(config, train=..., dev=..., out=...)`: one run, as
`adapterlab train` runs it, with data given as paths or in memory (a `datasets.Dataset`, or a
list of dicts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from adapterlab.data.memory import in_memory, write_split
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.runs import RunResult
from adapterlab.train.config import RunConfig
from adapterlab.train.mlm_head import cache_root


def train(
    config: RunConfig | dict,
    *,
    train: Any = None,
    dev: Any = None,
    test: Any = None,
    out: str | os.PathLike,
    overwrite: bool = False,
) -> RunResult:
    """Train one run into the folder `out` and return its RunResult (also in out/result.json, with
    metrics.jsonl, config.json and the task pack beside it, as `adapterlab train` writes them).

    config: a RunConfig, or a dict of its settings ({"task": "sst2", "method": "lora", "epochs": 3});
    its train/dev/test, when set, are paths. train, dev, test: each a file or folder path, a
    `datasets.Dataset` or a list of dicts ({"text": ..., "label": ...}, "text_pair" for a pair task;
    {"tokens": [...], "tags": [...]} for a token task; config's `columns` names other keys), which
    replace the config's. Data in memory is checked (an error names the split and the row), then
    written once under the adapterlab cache ($ADAPTERLAB_CACHE/data), named by its content, and read
    from there like any file; give every split in memory, or every split as a path.
    Raises AdapterlabError, one line per problem, before anything is written into `out`."""
    values = dict(config) if isinstance(config, dict) else config.to_dict() if isinstance(config, RunConfig) else None
    if values is None:
        raise AdapterlabError(f"config: expected a RunConfig or a dict of settings, got {type(config).__name__}")
    given = {split: data for split, data in (("train", train), ("dev", dev), ("test", test)) if data is not None}
    memory = {split for split, data in given.items() if in_memory(data)}
    if memory and memory != set(given):
        raise AdapterlabError(
            f"{', '.join(sorted(memory))} in memory and {', '.join(sorted(set(given) - memory))} as a path: give every "
            "split in memory (a Dataset or a list of dicts) or every split as a path"
        )
    if memory:
        if "task" not in values:
            raise AdapterlabError("config: missing setting 'task'")
        spec = get_task(values["task"])
        values.update(train=None, dev=None, test=None, hub=None)
        for split in sorted(memory):
            path, fmt, columns = write_split(
                given[split], spec, split, dict(values.get("columns") or {}), cache_root() / "data"
            )
            values.update({split: str(path), "data_format": fmt})
        values["columns"] = columns
    else:
        values.update({split: str(path) for split, path in given.items()})
    return _run(RunConfig.from_dict(values, source="config"), Path(out), overwrite)


def _run(config: RunConfig, out: Path, overwrite: bool) -> RunResult:
    import transformers

    from adapterlab.train.run import run_training

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "newly initialized head" notices are expected here, as in `adapterlab train`
    try:
        return run_training(config, out, overwrite=overwrite)
    finally:
        transformers.logging.set_verbosity(verbosity)
