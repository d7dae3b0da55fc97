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
    one full collection, so the garbage that existed then is freed first. On exit gc.unfreeze()
    hands those objects back to the collector's oldest generation, so a process that trains several
    times (a notebook, a study run inline) keeps nothing for good.
    What it changes: an object alive at the start that becomes cyclic garbage inside the block is
    freed after the block, not at the loop's collections. The loop makes no such object (its best
    state and a resumed checkpoint hold no cycles); the cycles it collects are made inside.
    Where objects are frozen already (the caller's own gc.freeze(), as pre-fork servers do, or an
    enclosing block), it does nothing, so it never unfreezes what it did not freeze. The freeze is
    process-wide: two blocks in two threads share it, and the first to end ends it for both (the
    other then collects fully again: slower, never less)."""
    if gc.get_freeze_count() > 0:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
