"""Process-wide settings that adapterlab's own entry points (the CLI, study runs) apply.

Library functions never call these: a process that imports adapterlab keeps its own settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks above this are mapped fresh and unmapped on free. 32 MB is glibc's own ceiling for its
# dynamic threshold. At 1 GB (before), a fine-tuned multilingual-e5-small grew until it was killed;
# its 250k-vocabulary embedding makes 384 MB blocks (gradient, Adam states, best-state copy), the
# likely culprit in the heap (not isolated).
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 31


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks up to 32 MB for reuse instead of handing them back to the kernel.

    Why: a transformer step allocates and frees tensors of tens of MB. By default glibc maps
    large blocks fresh and unmaps them on free, so every step pays page faults to touch new
    memory again. Measured on MiniLM (2 CPU cores), first with a 1 GB threshold: fine-tuning
    steps 10% faster, adapter steps 2-3% faster, mixed-task inference at batch 16-64 7-24% faster
    over two runs (none at batch 4). With the 32 MB threshold (one run each, batch 16, length
    128, s/step): fine-tuning 0.872 against 0.905 at 1 GB and 0.959 with glibc's defaults,
    adapters 0.668 / 0.693 / 0.760; inference was not measured again (batch 64's attention scores,
    about 50 MB, are now mapped fresh). Why not 1 GB: fine-tuning multilingual-e5-small on PAN-X
    (lr 1e-4, seed 2) grew from 3.9 GB at step 4 to 15.7 GB at step 118 at 1 GB, and the study's
    runs were OOM-killed at 16 GB; at 32 MB the same command stayed within 3.7-4.8 GB through step
    201, with glibc's defaults within 3.2-4.3 GB through step 66 (one seed each; seed 1 did not grow
    at 1 GB).
    Returns False where there is no glibc (macOS, musl): nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    global _applied
    mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    _applied = _applied or mmap  # the threshold is set even if the trim threshold is refused
    done = mmap and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    if not done:
        logger.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return done


_applied = False  # whether this process applied keep_freed_memory (a run records it: its speed depends on it)


def mmap_threshold_mb() -> int | None:
    """The allocator's mmap threshold this process set (MB), None where it kept its defaults: a
    run's result records it (RunResult.malloc_mmap_threshold_mb), since step times depend on it
    (up to 10%)."""
    return MMAP_THRESHOLD_BYTES >> 20 if _applied else None
