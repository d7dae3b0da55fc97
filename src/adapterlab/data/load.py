"""From a run's data settings to checked splits: find the files, read them, apply the protocol."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from adapterlab.data.example import Example, Splits
from adapterlab.data.features import LabelMap
from adapterlab.data.readers import check_labels, claimed_suffixes, read_examples, read_hub
from adapterlab.data.sampling import build_splits
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

_SPLIT_STEMS = {"train": ("train",), "dev": ("dev", "validation", "val", "dev_matched"), "test": ("test",)}
_SUFFIXES = claimed_suffixes()  # .tsv, .jsonl, .json, .txt, .csv, .conllu: the readers' extensions


def find_split_file(folder: Path, split: str) -> Path | None:
    """train.tsv / dev.jsonl / test.txt ... in a data folder, or None."""
    for stem in _SPLIT_STEMS[split]:
        for suffix in _SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def read_task_data(
    spec: TaskSpec,
    train: str | None,
    dev: str | None,
    test: str | None,
    hub: str | None,
    fmt: str,
    columns: dict[str, str],
    encoding: str = "utf-8",
) -> tuple[list[Example], list[Example] | None, list[Example] | None, str]:
    """(train, dev or None, test or None, a name of the source for messages)."""
    if hub:
        train_examples = read_hub(hub, "train", columns)
        try:
            dev_examples = read_hub(hub, "validation", columns)
        except AdapterlabError:
            dev_examples = None
        for examples in (train_examples, dev_examples or []):
            check_labels(examples, spec)
        return train_examples, dev_examples, None, hub
    path = Path(train)
    if not path.exists():
        raise AdapterlabError(f"{path}: training data not found")
    if spec.reader == "hyperpartisan" and path.is_dir() and (path / "hp-splits.json").is_file() and not dev:
        read = lambda split: read_examples(path, spec, fmt, columns, split=split, encoding=encoding)  # noqa: E731
        return read("train"), read("dev"), read("test"), str(path)
    if path.is_dir():
        found = find_split_file(path, "train")
        if found is None:  # a single pool, e.g. one folder per class
            return (
                read_examples(path, spec, fmt, columns, encoding=encoding),
                _maybe(dev, spec, fmt, columns, encoding),
                _maybe(test, spec, fmt, columns, encoding),
                str(path),
            )
        dev = dev or _as_str(find_split_file(path, "dev"))
        test = test or _as_str(find_split_file(path, "test"))
        path = found
    return (
        read_examples(path, spec, fmt, columns, encoding=encoding),
        _maybe(dev, spec, fmt, columns, encoding),
        _maybe(test, spec, fmt, columns, encoding),
        str(path),
    )


def _maybe(path: str | None, spec: TaskSpec, fmt: str, columns: dict[str, str], encoding: str) -> list[Example] | None:
    return read_examples(path, spec, fmt, columns, encoding=encoding) if path else None


def _as_str(path: Path | None) -> str | None:
    return str(path) if path else None


def load_splits(
    spec: TaskSpec,
    *,
    train: str | None,
    dev: str | None = None,
    test: str | None = None,
    hub: str | None = None,
    fmt: str = "auto",
    columns: dict[str, str] | None = None,
    train_size: int | None = None,
    validation_size: int = 1000,
    seed: int = 0,
    test_fraction: float = 0.2,
    encoding: str = "utf-8",
) -> Splits:
    """Read a task's data and apply its protocol. The label set is decided here, once, from the
    whole training file (before k-sampling) and the task's declared labels; a label outside it in
    the dev or test file is an error naming the file, line and label."""
    train_examples, dev_examples, test_examples, source = read_task_data(
        spec, train, dev, test, hub, fmt, columns or {}, encoding
    )
    labels = LabelMap.for_task(spec, train_examples)
    where = f"{spec.name} (from the training file {source})" if spec.labels is None else spec.name
    for examples in (dev_examples, test_examples):
        labels.check(examples or [], where)
    splits = build_splits(
        train_examples,
        dev_examples,
        test_examples,
        train_size=train_size,
        validation_size=validation_size,
        seed=seed,
        test_fraction=test_fraction,
        source=source,
    )
    return dataclasses.replace(splits, labels=labels.names)


def training_pool_size(
    train: list[Example], dev: list[Example] | None, test: list[Example] | None, test_fraction: float
) -> int:
    """How many training examples the low-resource sampler can draw from: the whole training
    file, less the held-out test set when there is no dev or test file. The one count that both
    the sampler (through build_splits) and the study validator use."""
    from adapterlab.data.sampling import held_out_count

    if dev is not None or test is not None:
        return len(train)
    return len(train) - held_out_count(len(train), test_fraction)
