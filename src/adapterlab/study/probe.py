"""One probe of `adapterlab study plan`: the time and peak memory of one optimizer step of a
run's exact setting, measured before the run exists.

What is the same as in a run: the backbone's shapes (random weights built from its config), the
task head's kind, the method and its settings (train.method.apply_method, the run's own code),
the global batch cut into `grad_accum` micro-batches, the length its training batches are padded
to on average (study/batch_length.py; max_length where it is not estimated), gradient
checkpointing, the precision (Accelerate's autocast on a GPU), the CPU fast path and gradient
clipping. What is not: the data (random token ids, every timed batch at that one length) and the
evaluations (estimated beside it). So the time is a run's typical step, not a bound: another
seed's sample can pad a little longer. The peak memory is a step at max_length (the warm-up),
which the run's longest batch reaches.

Each probe runs in a fresh process (spawned), so its peak memory is its own and not the maximum
of every probe before it, and so a probe that runs out of memory is reported as not fitting
instead of ending the plan. The peak is what the run's result records as `peak_memory_mb`:
`torch.cuda.max_memory_allocated` on a GPU, the process's peak RSS on a CPU.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from adapterlab.methods import find_method
from adapterlab.runtime import keep_freed_memory
from adapterlab.study.backbone_configs import backbone_config
from adapterlab.study.contention import measure_contention
from adapterlab.train.config import RunConfig


@dataclass(frozen=True)
class ProbeResult:
    """seconds_per_step: mean over the timed optimizer steps (s); peak_memory_mb: MiB; error: why
    the setting could not be probed (e.g. out of memory), with the two numbers then 0;
    others_cpu_share: the share of the CPUs' time other processes used meanwhile (0 to 1, None
    where unknown: study/contention.py)."""

    seconds_per_step: float
    peak_memory_mb: float
    device: str
    error: str | None = None
    others_cpu_share: float | None = None


def probe_key_with_length(config: RunConfig) -> tuple:
    """probe_key and the length the run's batches are padded to on average (None: max_length):
    the key of a probe that times the run's own data (study/batch_length.py)."""
    from adapterlab.study.batch_length import run_batch_length

    return (*probe_key(config), run_batch_length(config))


def probe_key(config: RunConfig) -> tuple:
    """What decides a step's cost: runs that share it share one probe. The task's kind is not
    part of it: a token head's cost beside the encoder's is a rounding error, so POS, NER and
    XNLI runs of one backbone share a probe (the probe uses the first run's kind)."""
    method = find_method(config.method)
    return (
        str(config.model or "default"),
        config.method,
        method.cost_settings(config) if method else None,
        config.batch_size,
        config.grad_accum,
        config.max_length,
        config.gradient_checkpointing,
        config.mixed_precision,
        config.fast_dropout,
    )


def micro_batch_sizes(batch_size: int, grad_accum: int) -> list[int]:
    """The global batch cut into grad_accum near-equal micro-batches, as train/batching.py cuts it."""
    share, extra = divmod(batch_size, grad_accum)
    return [share + (1 if index < extra else 0) for index in range(grad_accum)]


def run_probe(config: RunConfig, kind: str, steps: int, length: int | None = None) -> ProbeResult:
    """Time `steps` optimizer steps (after one warm-up step) of `config`'s setting, its batches
    `length` tokens long (None: max_length), in a fresh process. A process that dies (the
    kernel's out-of-memory kill) gives a result with `error`."""
    # the child keeps freed memory as a run's process does, so the step time is a run's
    with (
        measure_contention() as contention,
        ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=keep_freed_memory
        ) as pool,
    ):
        try:
            found = pool.submit(probe_in_process, config, kind, steps, length).result()
        except BrokenProcessPool:
            found = ProbeResult(0.0, 0.0, "", "the probe process died (out of memory?)")
    return dataclasses.replace(found, others_cpu_share=contention.others)


def probe_in_process(config: RunConfig, kind: str, steps: int, length: int | None = None) -> ProbeResult:
    """The probe itself, in this process (run_probe calls it in a child). Running out of memory
    (a GPU's, or an allocation the CPU allocator refuses) is a result: the setting does not fit."""
    import torch

    try:
        return _timed_steps(config, kind, steps, length)
    except torch.OutOfMemoryError:
        return ProbeResult(0.0, 0.0, "cuda", "out of memory")
    except RuntimeError as err:
        if "allocate" not in str(err):
            raise
        return ProbeResult(0.0, 0.0, "cpu", "out of memory (the CPU allocator refused an allocation)")


def _timed_steps(config: RunConfig, kind: str, steps: int, padded: int | None) -> ProbeResult:
    import torch

    from adapterlab.train.accelerator import build_accelerator
    from adapterlab.train.fast_ops import fast_training_ops
    from adapterlab.train.method import apply_method, task_model_from_config
    from adapterlab.train.model_setup import enable_gradient_checkpointing, position_limit

    model_config = backbone_config(config.model)
    torch.manual_seed(0)
    model = task_model_from_config(model_config, kind)
    apply_method(model, config, "probe")
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    accelerator = build_accelerator(config.mixed_precision)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    device = accelerator.device
    longest = min(config.max_length, position_limit(model_config) or config.max_length)
    length, vocab, cuda = min(padded or longest, longest), model_config.vocab_size, device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def micro_step(size: int, length: int) -> None:
        inputs = torch.randint(5, vocab, (size, length), device=device)
        mask = torch.ones(size, length, dtype=torch.long, device=device)
        with fast_training_ops(config.fast_dropout):
            logits = model(input_ids=inputs, attention_mask=mask).logits.float()
            if kind == "regression":
                loss = torch.nn.functional.mse_loss(logits.squeeze(-1), torch.zeros(size, device=device))
            else:
                labels = torch.randint(0, 2, logits.shape[:-1], device=device)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))
            accelerator.backward(loss)

    times = []
    # the first step warms up (allocator, kernels, lazy state) at max_length, the run's longest
    # batch: the peak memory and "does not fit" are its; the timed steps are at the padded length
    for index in range(steps + 1):
        if cuda:
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for size in micro_batch_sizes(config.batch_size, config.grad_accum):
            micro_step(size, length if index else longest)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
        if index:
            times.append(time.perf_counter() - started)
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return ProbeResult(math.fsum(times) / len(times), peak, torch.cuda.get_device_name(device) if cuda else "cpu")
