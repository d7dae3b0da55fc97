"""The length a run's training batches are padded to, on average: what a probe of `study plan`,
the budget and `compare` should time a step at.

A run pads each batch to its longest input (data/features.py, Collator) and groups inputs of
similar length into a batch (LengthGroupedBatches), so a step costs what its batch's length
costs, not what max_length would: PAN-X's English sentences (about 14 pieces with the special
tokens) pad to 15-16 on average, against max_length 64 in the replication spec.

The estimate is the largest over the samples of a few seeds (a k-sample differs by seed: SST-2 at
k=100 pads to 13-20 across seeds), from local files and a local backbone only (a hub dataset or
model would mean a download just to plan). Where it cannot be made, or for TAPT runs (their
masked-LM steps cost more per token than the probe's task step), the probe times max_length as
before.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
from collections.abc import Sequence
from pathlib import Path

from adapterlab.data.features import LengthGroupedBatches, encode
from adapterlab.errors import AdapterlabError
from adapterlab.train.config import RunConfig

# what decides the inputs and their tokens (not the method, the rate or the seed)
DATA_FIELDS = (
    "task",
    "train",
    "dev",
    "test",
    "hub",
    "data_format",
    "columns",
    "encoding",
    "model",
    "max_length",
    "batch_size",
    "data_seed",
    "train_size",
    "validation_size",
    "test_fraction",
    "tapt",
)
SEEDS = 5  # k-samples whose padded length is measured; the estimate is the largest
WINDOWS = 4  # a larger training set is measured on a random sample of this many length-grouping windows


def mean_padded_length(lengths: Sequence[int], batch_size: int, seed: int = 0) -> int:
    """The mean over one epoch's training batches (LengthGroupedBatches with `seed`, epoch 0) of
    each batch's longest input, in tokens, rounded up. Raises ValueError for no lengths."""
    if not lengths:
        raise ValueError("no inputs to measure")
    batches = LengthGroupedBatches(lengths, batch_size, seed)
    return math.ceil(statistics.mean(max(lengths[i] for i in batch) for batch in batches))


def run_batch_length(config: RunConfig) -> int | None:
    """The padded length (tokens) of the run's training batches: mean_padded_length of its own
    inputs, read and tokenized as the run reads them (train/inputs.py read_data), the largest over
    SEEDS k-samples when the sample depends on the seed. None where it is not estimated (hub data
    or backbone, TAPT, data that cannot be read here): the probe then times max_length."""
    key = json.dumps([getattr(config, name) for name in DATA_FIELDS], sort_keys=True, default=str)
    if key not in _MEASURED:
        found = _measure(config)
        if found is None:
            return None  # not kept: a file that appears later is read then
        _MEASURED[key] = found
    return _MEASURED[key]


_MEASURED: dict[str, int] = {}  # per process: a study's rounds reuse it


def _measure(config: RunConfig) -> int | None:
    from adapterlab.backbone import resolve_backbone
    from adapterlab.train.inputs import read_data

    if config.hub or config.tapt:
        return None
    try:
        if not Path(resolve_backbone(config.model)).is_dir():
            return None
        seeds = range(SEEDS) if config.train_size and config.data_seed is None else [0]
        return max(_padded(read_data(dataclasses.replace(config, seed=seed)), config.batch_size) for seed in seeds)
    except (AdapterlabError, OSError, ValueError):
        return None


def _padded(inputs, batch_size: int) -> int:
    """The mean padded length of `inputs`' training split (train/inputs.py RunInputs)."""
    train = list(inputs.splits.train)
    cap = batch_size * LengthGroupedBatches.WINDOW * WINDOWS
    if len(train) > cap:  # a random sample of whole windows: the first inputs of a file need not be typical
        train = random.Random(0).sample(train, cap)
    features = encode(train, inputs.spec, inputs.labels, inputs.tokenizer, inputs.max_length)
    return mean_padded_length([len(f["input_ids"]) for f in features], batch_size)
