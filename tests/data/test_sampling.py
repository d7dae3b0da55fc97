import pytest

from adapterlab.data.example import Example
from adapterlab.data.sampling import build_splits, hold_out, sample_low_resource
from adapterlab.errors import AdapterlabError

POOL = [Example(text=f"t{i}", label=str(i % 2), source=f"f:{i}") for i in range(3000)]


def test_low_resource_counts_no_overlap_and_seeded():
    train, validation = sample_low_resource(POOL, 1000, 1000, seed=3, source="pool")
    assert len(train) == 1000 and len(validation) == 1000
    assert not {e.source for e in train} & {e.source for e in validation}
    again, _ = sample_low_resource(POOL, 1000, 1000, seed=3, source="pool")
    other, _ = sample_low_resource(POOL, 1000, 1000, seed=4, source="pool")
    assert again == train and other != train


def test_not_enough_data_is_refused_with_the_papers_reason():
    with pytest.raises(
        AdapterlabError,
        match=r"rte/train.tsv: k=5000 training plus 1000 validation examples need 6000, but only 3000 are available.*MRPC and RTE at 5k",
    ):
        sample_low_resource(POOL, 5000, 1000, seed=0, source="rte/train.tsv")


def test_low_resource_uses_dev_as_test():
    dev = [Example(text="d", label="0")]
    splits = build_splits(POOL, dev, None, train_size=100, validation_size=50, seed=0)
    assert splits.protocol == "low-resource" and splits.test == dev
    assert len(splits.train) == 100 and len(splits.validation) == 50


def test_single_pool_holds_out_the_same_test_for_every_seed():
    a = build_splits(POOL, None, None, train_size=100, validation_size=50, seed=0, test_fraction=0.2)
    b = build_splits(POOL, None, None, train_size=100, validation_size=50, seed=1, test_fraction=0.2)
    assert a.test == b.test and len(a.test) == 600
    assert not {e.source for e in a.test} & ({e.source for e in a.train} | {e.source for e in a.validation})
    assert a.train != b.train


def test_plain_protocol():
    dev, test = [Example(text="d", label="0")], [Example(text="t", label="1")]
    splits = build_splits(POOL, dev, test, train_size=None, validation_size=1000, seed=0)
    assert (splits.protocol, len(splits.train), splits.validation, splits.test) == ("plain", 3000, dev, test)
    rest, held = hold_out(POOL, 0.1, "pool")
    assert len(held) == 300 and len(rest) == 2700
