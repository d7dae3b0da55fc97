"""Batches that give every number of processes the same schedule.

A global batch is drawn by `LengthGroupedBatches` exactly as one process would draw it, then cut
into contiguous, near-equal shares, one per process. So N processes make the same optimizer steps
over the same examples as one (an odd batch size or a last batch smaller than N included). A
process whose share is empty runs one placeholder example with weight 0, because data-parallel
training needs every process in every backward pass. Evaluation gives each process every N-th
example and gathers the per-example outputs, so no example is dropped or counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from adapterlab.data.features import IGNORE_INDEX, LengthGroupedBatches


def share(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's contiguous part of a global batch (sizes differ by at most one)."""
    count = len(indices)
    return list(indices[rank * count // world : (rank + 1) * count // world])


@dataclass
class TrainBatch:
    inputs: dict[str, torch.Tensor]  # collated, on the device
    weight: float  # 1.0, or 0.0 for the placeholder of an empty share


@dataclass
class TrainStep:
    """One optimizer step: this process's micro-batches of one global batch."""

    micro: list[TrainBatch]
    size: int  # examples of the global batch (all processes)

    def scored(self, accelerator) -> torch.Tensor:
        """Scored targets of the whole global batch (every process and micro-batch): the loss's
        denominator, so that any split gives the mean over the global batch. Counted from the
        labels, before any forward pass; one all-reduce per step."""
        local = sum(float(b.weight) * float(_scored_targets(b.inputs["labels"])) for b in self.micro)
        device = self.micro[0].inputs["labels"].device
        return accelerator.reduce(torch.tensor([local], device=device), reduction="sum").clamp_min(1).squeeze(0)


def _scored_targets(labels: torch.Tensor) -> int:
    return int(labels.ne(IGNORE_INDEX).sum()) if labels.dtype == torch.long and labels.dim() > 1 else labels.shape[0]


class ShardedBatches:
    """Iterates over the optimizer steps of an epoch (reshuffled per epoch): each global batch
    is cut into `grad_accum` contiguous micro-batches, and each micro-batch into this process's
    share."""

    def __init__(self, features: list[dict], collator, batch_size: int, seed: int, accelerator, grad_accum: int = 1):
        self.features = features
        self.collator = collator
        self.sampler = LengthGroupedBatches([len(f["input_ids"]) for f in features], batch_size, seed, shuffle=True)
        self.accelerator = accelerator
        self.grad_accum = grad_accum

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[TrainStep]:
        rank, world = self.accelerator.process_index, self.accelerator.num_processes
        for indices in self.sampler:
            micro = []
            for part in range(min(self.grad_accum, len(indices))):
                chunk = share(
                    indices, part, min(self.grad_accum, len(indices))
                )  # the same contiguous cut as across processes
                mine = share(chunk, rank, world)
                batch = self.collator([self.features[i] for i in (mine or chunk[:1])])
                micro.append(TrainBatch(to_device(batch, self.accelerator.device), 1.0 if mine else 0.0))
            yield TrainStep(micro, len(indices))


def evaluation_batches(
    features: list[dict], collator, batch_size: int, accelerator
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """(feature indices, collated batch on the device) over this process's every-N-th features,
    longest first so that padding stays small."""
    mine = list(range(accelerator.process_index, len(features), accelerator.num_processes))
    order = sorted(mine, key=lambda i: -len(features[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, to_device(collator([features[i] for i in indices]), accelerator.device)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}
