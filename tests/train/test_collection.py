"""The training loop's collections scan only what training made (train/collection.py)."""

import gc
import weakref

import pytest
import torch

from adapterlab.train.collection import collect_new_objects_only


class _Holder:
    def __init__(self):
        self.tensor = torch.zeros(4)
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_garbage_from_before_is_freed_at_the_start_and_new_cycles_within():
    before = weakref.ref(_Holder())  # garbage already, held by its cycle
    gc.disable()  # the count-based collector must not free it first (a flaky pass)
    try:
        assert before() is not None
        with collect_new_objects_only():
            assert before() is None
            assert gc.get_freeze_count() > 0
            inside = weakref.ref(_Holder())
            assert inside() is not None
            gc.collect()
            assert inside() is None
    finally:
        gc.enable()


def test_what_was_alive_is_handed_back_on_exit_even_after_an_error():
    with pytest.raises(RuntimeError), collect_new_objects_only():
        raise RuntimeError("diverged")
    assert gc.get_freeze_count() == 0
    kept = _Holder()
    with collect_new_objects_only():
        pass
    ref = weakref.ref(kept)
    del kept
    gc.collect()  # frozen during the block, collectable again after it
    assert ref() is None
