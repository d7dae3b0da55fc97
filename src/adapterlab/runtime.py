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
# dynamic threshold. At 1 GB (before), the 384 MB blocks of a 250k-vocabulary embedding matrix
# (its gradient, Adam states, best-state copy) lived in the heap and fragmented it without bound.
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 31


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks for reuse instead of handing them back to the kernel.

    Why: a transformer step allocates and frees tensors of tens of MB. By default glibc maps
    large blocks fresh and unmaps them on free, so every step pays page faults to touch new
    memory again. Measured on MiniLM (2 CPU cores): fine-tuning steps 10% faster, adapter steps
    2-3% faster, mixed-task inference at batch 16-64 7-24% faster over two runs (none at
    batch 4); with the 32 MB threshold, fine-tuning 0.872 s/step against 0.959 with glibc's
    defaults and 0.905 with 1 GB, adapters 0.668 / 0.760 / 0.693 (MiniLM, batch 16, length
    128, one run each). Blocks above MMAP_THRESHOLD_BYTES (32 MB) still go back to the kernel: keeping
    those too made fine-tuning multilingual-e5-small on PAN-X grow from 3.9 to 15.7 GB in 118
    steps (OOM-killed in a study); with 32 MB the same run stays within 3.7-4.8 GB through step 201
    (benchmarks/train_memory.py). Returns False where there is no glibc (macOS, musl): nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    if not done:
        logger.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return done
