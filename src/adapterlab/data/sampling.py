"""The paper's low-resource protocol (§3.2) and the plain train/dev/test protocol."""

from __future__ import annotations

import random

from adapterlab.data.example import Example, Splits
from adapterlab.errors import AdapterlabError

# Held-out splits (a test set carved from a single pool) use this fixed seed, so every run seed
# of a study is tested on the same examples.
HOLDOUT_SEED = 20210801


def sample_low_resource(
    pool: list[Example], k: int, validation_size: int, seed: int, source: str
) -> tuple[list[Example], list[Example]]:
    """k training examples and a disjoint validation set, both drawn from `pool` with `seed`."""
    if k < 1 or validation_size < 1:
        raise AdapterlabError(f"train size k={k} and validation size {validation_size} must both be >= 1")
    needed = k + validation_size
    if needed > len(pool):
        raise AdapterlabError(
            f"{source}: k={k} training plus {validation_size} validation examples need {needed}, but only {len(pool)} are available; "
            "use a smaller k (the paper omits MRPC and RTE at 5k for this reason)"
        )
    order = random.Random(seed).sample(range(len(pool)), needed)
    return [pool[i] for i in order[:k]], [pool[i] for i in order[k:]]


def held_out_count(size: int, fraction: float) -> int:
    """How many of `size` examples hold_out sets aside."""
    return max(1, round(size * fraction))


def hold_out(pool: list[Example], fraction: float, source: str) -> tuple[list[Example], list[Example]]:
    """(rest, held-out) with a fixed seed: the same held-out examples for every run."""
    if not 0 < fraction < 1:
        raise AdapterlabError(f"held-out fraction {fraction} must be between 0 and 1")
    count = held_out_count(len(pool), fraction)
    if count >= len(pool):
        raise AdapterlabError(f"{source}: {len(pool)} examples are too few to hold out {fraction:.0%}")
    order = random.Random(HOLDOUT_SEED).sample(range(len(pool)), len(pool))
    held = set(order[:count])
    return [e for i, e in enumerate(pool) if i not in held], [pool[i] for i in sorted(held)]


def build_splits(
    train: list[Example],
    dev: list[Example] | None,
    test: list[Example] | None,
    *,
    train_size: int | None,
    validation_size: int,
    seed: int,
    test_fraction: float = 0.2,
    source: str = "training data",
) -> Splits:
    """Low-resource (train_size=k): k from train, a validation set from the rest of train, and the
    original dev set as test (held out from train when there is none). Plain: choose on dev,
    report test; with no test file dev becomes the test set and validation is held out from
    train; with neither, both are held out."""
    if train_size is not None:
        if dev is None and test is None:
            train, test = hold_out(train, test_fraction, source)
        sampled, validation = sample_low_resource(train, train_size, validation_size, seed, source)
        return Splits(sampled, validation, dev if dev is not None else test, "low-resource")
    if test is None and dev is None:
        train, test = hold_out(train, test_fraction, source)
    elif test is None:
        # only train and dev: report on dev, as GLUE papers do, and pick checkpoints on a
        # validation set held out from train so that the reported number is not chosen on itself
        test, dev = dev, None
    if dev is None:
        fraction = min(0.5, validation_size / len(train))
        train, dev = hold_out(train, fraction, source)
    return Splits(train, dev, test, "plain")
