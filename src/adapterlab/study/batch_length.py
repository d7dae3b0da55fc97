"""The length a run's training batches are padded to, on average: what a probe of `study plan`,
the budget and `compare` should time a step at.

A run pads each batch to its longest input (data/features.py, Collator) and groups inputs of
similar length into a batch (LengthGroupedBatches), so a step costs what its batch's length
costs, not what max_length would. Probing at max_length overestimated PAN-X runs about 5 times
(sentences of about 11 pieces against max_length 64).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Sequence

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
)
SAMPLE = 2000  # training inputs read for the estimate: enough for a stable mean, quick to tokenize


def mean_padded_length(lengths: Sequence[int], batch_size: int, seed: int = 0) -> int:
    """The mean over one epoch's training batches (LengthGroupedBatches with `seed`, epoch 0) of
    each batch's longest input, in tokens, rounded up. Raises ValueError for no lengths."""
    if not lengths:
        raise ValueError("no inputs to measure")
    batches = LengthGroupedBatches(lengths, batch_size, seed)
    return math.ceil(statistics.mean(max(lengths[i] for i in batch) for batch in batches))


def run_batch_length(config: RunConfig) -> int | None:
    """mean_padded_length of the run's own training inputs (up to SAMPLE of them), read and
    tokenized as the run reads them (train/run.py read_inputs: its sample, tokenizer and
    max_length); None when the data or the backbone cannot be read here (the probe then times
    max_length, an upper bound). Runs that differ only in seed share one estimate."""
    from adapterlab.train.run import read_inputs

    config = dataclasses.replace(config, seed=0)
    key = json.dumps([getattr(config, name) for name in DATA_FIELDS], sort_keys=True, default=str)
    if key not in _MEASURED:
        try:
            inputs = read_inputs(config)
        except (AdapterlabError, OSError, ValueError):
            _MEASURED[key] = None
            return None
        features = encode(
            list(inputs.splits.train)[:SAMPLE], inputs.spec, inputs.labels, inputs.tokenizer, inputs.max_length
        )
        lengths = [len(f["input_ids"]) for f in features]
        _MEASURED[key] = mean_padded_length(lengths, config.batch_size) if lengths else None
    return _MEASURED[key]


_MEASURED: dict[str, int | None] = {}  # per process: a study's rounds reuse it
