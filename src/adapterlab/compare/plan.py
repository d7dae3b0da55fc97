"""The plan of `adapterlab compare`: a design that fits the time budget, chosen from a short probe
of each method's optimizer step on this machine (study/probe.py, the same as `study plan`).

The design a comparison needs to pass the validity gates: each method's learning rate from a
three-point grid around a rate suited to short CPU schedules, bracketed (x3) when the choice is at
an edge; an epoch ceiling with convergence stopping; at least 3 seeds (5 when the budget allows),
then sequential seeds up to 10 while a comparison is undecided and the budget has room; the largest training sample k (the low-resource protocol's sizes)
and evaluation sets that fit. The plan is priced at the ceiling (a run that converges early only
leaves time over) and keeps a share of the budget for the grid's growth.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method
from adapterlab.study.plan import FORWARD_SHARE

# Each method's rate grid for 10-epoch CPU schedules is centred on its Method's compare_lr (the
# paper's 20-epoch rates are smaller: Method.default_lr): centre x {1/3, 1, 3}, bracketed beyond.
TRAIN_SIZES = (5000, 2000, 1000, 500, 200, 100, 50)  # k, as in the low-resource protocol; the whole pool first
VALIDATION_SIZES = (1000, 500, 200, 100)
TEST_SIZES = (2000, 1000, 500, 200)
GROWTH_RESERVE = 0.3  # share of the budget left for bracketed points and added seeds
EPOCHS = 10  # the ceiling; convergence stopping ends most runs earlier
# lower ceilings, tried only when nothing fits at EPOCHS: convergence stopping needs at least 3
# epochs (min_epochs) and 2 of patience, so a run that has not settled by a low ceiling trips the
# `not converged` gate and its comparison says "no verdict", never a verdict on undertrained runs
LOWER_CEILINGS = (6, 4)
BATCH = 16
SEEDS_MAX = 10  # seeds per chosen setting that sequential testing may reach while a comparison is undecided
INLINE_STARTUP = 2.0  # seconds a run starts in (runs are inline: no child process to import)


@dataclass(frozen=True)
class ComparePlan:
    """The design of one comparison, recorded in DIR/plan.json (a rerun reuses it)."""

    methods: tuple[str, ...]
    lrs: dict[str, list[float]]
    epochs: int
    batch_size: int
    max_length: int
    train_size: int
    validation_size: int
    test_size: int
    seeds_min: int
    seeds_max: int
    seconds_per_step: dict[str, float]
    estimate_seconds: float  # the design at its minimum seeds, at the ceiling
    budget_seconds: float
    model: str | None = None
    notes: list[str] = field(default_factory=list)  # what a larger budget would add; a timing that shared the CPUs
    batch_length: int | None = None  # the length the probes timed: the mean of batches padded to their longest

    @property
    def sequential(self) -> bool:
        return self.seeds_max > self.seeds_min

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> ComparePlan:
        return cls(**{**values, "methods": tuple(values["methods"])})


def probe_methods(
    methods: list[str], task: str, kind: str, model: str | None, max_length: int, length: int | None = None
) -> dict[str, float]:
    """Seconds per optimizer step of each method at batch BATCH, its batches `length` tokens long
    (None: max_length), in one fresh process."""
    from adapterlab.runtime import keep_freed_memory
    from adapterlab.study.probe import probe_in_process
    from adapterlab.train.config import RunConfig

    configs = [
        RunConfig(task=task, train="unused", method=m, model=model, batch_size=BATCH, max_length=max_length)
        for m in methods
    ]
    # the probe times the allocator the runs use (the CLI's and the study children's setting)
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=keep_freed_memory
    ) as pool:
        results = [pool.submit(probe_in_process, config, kind, 2, length) for config in configs]
        found = {m: r.result() for m, r in zip(methods, results)}
    failed = {m: r.error for m, r in found.items() if r.error}
    if failed:
        method, why = next(iter(failed.items()))
        raise AdapterlabError(
            f"method {method} does not fit this machine at batch {BATCH} x {max_length} tokens: {why}"
        )
    return {m: r.seconds_per_step for m, r in found.items()}


def run_seconds(per_step: float, train: int, validation: int, test: int, epochs: int = EPOCHS) -> float:
    """One run at its ceiling: start-up, the training steps, validation every epoch, test once."""
    steps = math.ceil(train / BATCH) * epochs
    forward = per_step / BATCH * FORWARD_SHARE
    return INLINE_STARTUP + steps * per_step + (epochs * validation + test) * forward


def design_seconds(
    per_step: dict[str, float], train: int, validation: int, test: int, seeds: int, epochs: int = EPOCHS
) -> float:
    """The whole design at `seeds` seeds: three rates per method."""
    return sum(3 * seeds * run_seconds(s, train, validation, test, epochs) for s in per_step.values())


def choose_design(
    per_step: dict[str, float],
    pools: dict[str, int],
    budget: float,
    train_size: int | None = None,
    seeds: int | None = None,
) -> dict:
    """The largest design that fits (1 - GROWTH_RESERVE) of the budget, in this order of what
    matters: the full epoch ceiling (a lower one only when nothing fits at it), at least 3 seeds, a
    training sample of at least 50 (or the user's --train-size), 5 seeds with room for 5 more, 5
    seeds, then the largest k, then evaluation sets. Without the user's --seeds the design is
    sequential (seeds_max SEEDS_MAX): what the budget has left after the design goes to seeds for
    undecided comparisons, with anytime-valid tests. Raises BudgetTooSmall (an AdapterlabError)
    when not even the smallest design fits, naming what it would need."""
    room = budget * (1 - GROWTH_RESERVE)
    train_sizes = (
        [train_size]
        if train_size
        else sorted({min(pools["train"], k) for k in (pools["train"], *TRAIN_SIZES)}, reverse=True)
    )
    validations = sorted({min(pools["validation"], v) for v in VALIDATION_SIZES}, reverse=True)
    tests = sorted({min(pools["test"], t) for t in TEST_SIZES}, reverse=True)
    adequate = [
        (v, t)
        for v, t in _evaluation_sets(validations, tests)
        if v >= min(200, pools["validation"]) and t >= min(500, pools["test"])
    ]
    for epochs in (EPOCHS, *LOWER_CEILINGS):
        for sets in (adequate, _evaluation_sets(validations, tests)):  # evaluation sets large enough for a CI first
            for count, sequential in ((seeds, False),) if seeds else ((5, True), (5, False), (3, False)):
                for train in train_sizes:
                    for validation, test in sets:
                        cost = design_seconds(per_step, train, validation, test, count, epochs)
                        # sequential seeds need room for up to 5 more seeds of each method's chosen point
                        extra = (
                            sum(5 * run_seconds(s, train, validation, test, epochs) for s in per_step.values())
                            if sequential
                            else 0.0
                        )
                        if cost + extra <= room:
                            return {
                                "train_size": train,
                                "validation_size": validation,
                                "test_size": test,
                                "seeds_min": count,
                                # seeds are added while a comparison is undecided and the budget holds
                                # another run (policy/budget.py): the design only prices the minimum
                                "seeds_max": count if seeds else SEEDS_MAX,
                                "estimate_seconds": cost,
                                "epochs": epochs,
                            }
    raise _too_small(per_step, budget, (train_sizes[-1], validations[-1], tests[-1]), seeds or 3)


def _too_small(per_step: dict[str, float], budget: float, smallest: tuple[int, int, int], seeds: int) -> BudgetTooSmall:
    """The refusal when not even the smallest design fits: (k, validation, test) at the lowest
    ceiling, with what it would need."""
    lowest = LOWER_CEILINGS[-1]
    needed = design_seconds(per_step, *smallest, seeds, lowest) / (1 - GROWTH_RESERVE)
    fewer = ", or fewer --methods" if len(per_step) > 2 else ""
    return BudgetTooSmall(
        f"budget {budget / 60:.0f} min is too small for the smallest valid comparison on this machine: "
        f"{len(per_step)} methods x 3 learning rates x {seeds} seeds at k={smallest[0]}, {lowest}-epoch ceiling, takes "
        f"about {needed / 60:.0f} min with room to grow the grid; give --budget "
        f"{math.ceil(needed / 60)}m or more{fewer}",
        needed,
        fewer,
    )


class BudgetTooSmall(AdapterlabError):
    """choose_design's refusal; needed: the seconds of runs the smallest valid design wants."""

    def __init__(self, message: str, needed: float, fewer: str = "") -> None:
        super().__init__(message)
        self.needed, self.fewer = needed, fewer


def _evaluation_sets(validations: list[int], tests: list[int]) -> list[tuple[int, int]]:
    """(validation, test) sizes from largest to smallest, the test set shrinking last."""
    pairs = [(v, t) for t in tests for v in validations]
    return sorted(pairs, key=lambda p: (-min(p[0] * 2, p[1]), -p[1], -p[0]))


def larger_budget_note(per_step: dict[str, float], pools: dict[str, int], plan: dict, budget: float) -> list[str]:
    """What twice the budget would add to this design, in words."""
    try:
        bigger = choose_design(per_step, pools, budget * 2)
    except AdapterlabError:
        return []
    changes = []
    if bigger["epochs"] > plan["epochs"]:
        changes.append(f"a {bigger['epochs']}-epoch ceiling instead of {plan['epochs']}")
    if bigger["train_size"] > plan["train_size"]:
        changes.append(f"k={bigger['train_size']} training examples instead of {plan['train_size']}")
    if bigger["seeds_min"] > plan["seeds_min"]:  # both sequential: more seeds at the start, the same ceiling
        changes.append(f"{bigger['seeds_min']} seeds at the start instead of {plan['seeds_min']}")
    if bigger["test_size"] > plan["test_size"]:
        changes.append(f"a test set of {bigger['test_size']} instead of {plan['test_size']}")
    notes = [f"twice the budget ({2 * budget / 60:.0f} min) would allow {', '.join(changes)}"] if changes else []
    whole = _budget_for_whole_pool(per_step, pools, budget) if plan["train_size"] < pools["train"] else None
    if whole is not None:
        notes.append(f"all {pools['train']} training examples would need a budget of about {_duration(whole)}")
    return notes


def _budget_for_whole_pool(per_step: dict[str, float], pools: dict[str, int], budget: float) -> float | None:
    """The smallest budget (to a minute) at which choose_design trains on the whole pool; None
    beyond 1000 times this budget. Searched, not derived, so that it is the planner's own answer."""

    def whole(seconds: float) -> bool:
        try:
            return choose_design(per_step, pools, seconds)["train_size"] >= pools["train"]
        except AdapterlabError:
            return False

    low, high = budget, budget * 1000
    if not whole(high):
        return None
    while high - low > 60:
        middle = (low + high) / 2
        low, high = (low, middle) if whole(middle) else (middle, high)
    return high


def _duration(seconds: float) -> str:
    """A budget as `compare --budget` takes it: whole minutes, or hours from 2 h up."""
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{math.ceil(minutes / 6) / 10:.1f} h"


def make_plan(
    methods: list[str],
    per_step: dict[str, float],
    pools: dict[str, int],
    budget: float,
    max_length: int,
    model: str | None,
    train_size: int | None = None,
    seeds: int | None = None,
) -> ComparePlan:
    design = choose_design(per_step, pools, budget, train_size, seeds)
    lrs = {m: [float(f"{get_method(m).compare_lr * f:.3g}") for f in (1 / 3, 1.0, 3.0)] for m in methods}
    return ComparePlan(
        tuple(methods),
        lrs,
        design["epochs"],
        BATCH,
        max_length,
        design["train_size"],
        design["validation_size"],
        design["test_size"],
        design["seeds_min"],
        design["seeds_max"],
        per_step,
        design["estimate_seconds"],
        budget,
        model,
        larger_budget_note(per_step, pools, design, budget) if not (train_size or seeds) else [],
    )


def study_spec(plan: ComparePlan, name: str, task: str, files: dict[str, str], pair: bool) -> dict:
    """The study spec a plan runs (the same study runner, report and gates as `study run`)."""
    columns = {"text": "text", "label": "label", **({"text_pair": "text_pair"} if pair else {})}
    by_method: dict = {m: {"lr": list(plan.lrs[m]), **get_method(m).compare_defaults()} for m in plan.methods}
    policy: dict = {
        "convergence": {"patience": 2, "min_delta": 0.002, "min_epochs": 3},
        "bracket": {"lr": {"factor": 3, "max_points": 5}},
    }
    if plan.sequential:
        policy["seeds"] = {"min": plan.seeds_min, "max": plan.seeds_max}
    raw = {
        "name": f"compare_{name}",
        "description": f"{name}: {', '.join(plan.methods)}; k={plan.train_size}, {plan.validation_size} validation, "
        f"{plan.test_size} test; {plan.epochs}-epoch ceiling with convergence stopping; "
        f"{plan.seeds_min}{'-' + str(plan.seeds_max) if plan.sequential else ''} seeds",
        "base": {
            "epochs": plan.epochs,
            "batch_size": plan.batch_size,
            "max_length": plan.max_length,
            "progress": False,
            **({"model": plan.model} if plan.model else {}),
        },
        "tasks": {name: {"task": task, "data_format": "jsonl", "columns": columns, **files}},
        "grid": {"method": list(plan.methods), **({} if plan.sequential else {"seed": list(range(plan.seeds_min))})},
        "by_method": by_method,
        "report": {"select": ["lr", "adapter_size"]},
        "policy": policy,
    }
    return raw
