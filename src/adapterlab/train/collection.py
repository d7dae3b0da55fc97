"""The cyclic garbage collector during training: the loop collects after each evaluation and each
checkpoint (cycles there hold freed tensors: train/loop.py, train/checkpoint.py), and a full
collection scans every object the process tracks. After torch and transformers are imported that is
about half a million objects, 0.1-0.3 s per collection on our 2 cores, paid at every evaluation.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collect_new_objects_only() -> Iterator[None]:
    """Within the block, gc.collect() scans only the objects made after its start.

    What was alive at the start (modules, the model, the data) is set aside with gc.freeze() after
    one full collection, so garbage that existed already is freed first and none is held for the
    run. On exit gc.unfreeze() hands those objects back to the collector's oldest generation, so a
    process that trains several times (a notebook, a study run inline) keeps nothing for good.
    Nothing changes which objects are freed within the block: the cycles the loop collects are
    made during it. The freeze is process-wide: a block ending in one thread ends it for another
    thread's block too, which then collects fully again (slower, never less)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
