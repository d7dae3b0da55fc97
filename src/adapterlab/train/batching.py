"""Batches that give every number of processes the same schedule.

A global batch is drawn by `LengthGroupedBatches` exactly as one process would draw it, then cut
into contiguous, near-equal shares, one per process. So N processes make the same optimizer steps
over the same examples as one (an odd batch size or a last batch smaller than N included). A
process whose share is empty runs one placeholder example with weight 0, because data-parallel
training needs every process in every backward pass. Evaluation gives each process every N-th
example and gathers the per-example outputs, so no example is dropped or counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from adapterlab.data.features import LengthGroupedBatches


def share(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's contiguous part of a global batch (sizes differ by at most one)."""
    count = len(indices)
    return list(indices[rank * count // world : (rank + 1) * count // world])


@dataclass
class TrainBatch:
    inputs: dict[str, torch.Tensor]  # collated, on the device
    weight: float  # 1.0, or 0.0 for the placeholder of an empty share
    size: int  # examples of the global batch (all processes)


class ShardedBatches:
    """Iterates over this process's share of each global training batch, reshuffled per epoch."""

    def __init__(self, features: list[dict], collator, batch_size: int, seed: int, accelerator):
        self.features = features
        self.collator = collator
        self.sampler = LengthGroupedBatches([len(f["input_ids"]) for f in features], batch_size, seed, shuffle=True)
        self.accelerator = accelerator

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[TrainBatch]:
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        for indices in self.sampler:
            mine = share(indices, rank, world)
            weight = 1.0 if mine else 0.0
            batch = self.collator([self.features[i] for i in (mine or indices[:1])])
            yield TrainBatch(to_device(batch, self.accelerator.device), weight, len(indices))


def evaluation_batches(features: list[dict], collator, batch_size: int, accelerator) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """(feature indices, collated batch on the device) over this process's every-N-th features,
    longest first so that padding stays small."""
    mine = list(range(accelerator.process_index, len(features), accelerator.num_processes))
    order = sorted(mine, key=lambda i: -len(features[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, to_device(collator([features[i] for i in indices]), accelerator.device)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}
