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


def test_a_callers_own_freeze_is_left_as_it_was():
    """A process that froze its objects itself (a pre-fork server) keeps them frozen after training."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collect_new_objects_only():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_training_loop_collects_under_the_freeze(tmp_path, monkeypatch):
    """Every collection of a run's loop (after each validation and checkpoint) scans only what
    training made: the loop runs inside the block, and nothing stays frozen after the run."""
    import types

    from tiny import save_tiny_backbone, write_sentiment_tsv

    from adapterlab.train import checkpoint, loop
    from adapterlab.train.config import RunConfig
    from adapterlab.train.run import run_training

    seen = []
    spy = types.SimpleNamespace(collect=lambda *a: seen.append(gc.get_freeze_count()) or 0)
    monkeypatch.setattr(loop, "gc", spy)
    monkeypatch.setattr(checkpoint, "gc", spy)
    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    for name, count, seed in (("train", 16, 0), ("dev", 8, 1), ("test", 8, 2)):
        write_sentiment_tsv(tmp_path / f"{name}.tsv", count, seed)
    config = RunConfig(
        task="sst2",
        train=str(tmp_path / "train.tsv"),
        dev=str(tmp_path / "dev.tsv"),
        test=str(tmp_path / "test.tsv"),
        model=str(model),
        epochs=2,
        batch_size=8,
        max_length=16,
        progress=False,
    )
    assert run_training(config, tmp_path / "run").status == "ok"
    assert len(seen) >= 3 and all(count > 0 for count in seen)  # 2 validations and a checkpoint
    assert gc.get_freeze_count() == 0
