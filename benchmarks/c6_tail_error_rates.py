"""Error rate of claim C6's rule for seeds without a tail, by simulation (issue #28).

    .venv/bin/python benchmarks/c6_tail_error_rates.py [--comparisons 1000] [--seed 0] [--smoke]

C6 compares how far each method's validation metric falls after its best: the best minus the
mean of the next 3 evaluations (report.gates.fall_after_best). A run that stops at its best, or
one or two evaluations after it, has no measured fall. Before, such a run counted as falling by
what it had (0 with nothing after the best); now the seed is left out of the comparison and the
`no tail` gate takes the verdict away when more than half of a cell's seeds lack the tail
(report.gates.seeds_with_tail, run_trips). Leaving seeds out by what their curves did is a
selection on the outcome, so its false-positive rate has to be measured, not argued.

Each simulated run is a validation curve with a known truth: a rise to a plateau
(top·(1 - exp(-t/tau)), t in evaluations), optionally a fall of `decline` points per evaluation
after its peak, plus AR(1) noise (the same validation set is scored by a slowly moving model),
rounded to whole validation examples (500). It is stopped as adapterlab's loop stops it
(train.loop: patience 4 evaluations without a gain above 0.2 points, never before epoch 3, two
evaluations per epoch, 12-epoch ceiling). The curves are invented, not fitted to the records: a
simulated run has about 19 evaluations, rep2_sst2's chosen cells 10-12. and the best checkpoint follows every gain. Its evidence
is a real gates.RunEvidence, gated by the real run_trips and compared with the real
report.statistics.paired_comparison at a fixed number of seeds.

Scenarios (adapters vs fine-tuning); every one but the last has the same true fall for both:
- same: identical curves.
- speed: adapters rise slower (tau 3 vs 1.5 evaluations), neither falls.
- speed+fall: as speed, and both fall 0.3 points per evaluation after their peak.
- noise: identical curves, fine-tuning's noise 1.5 times the adapters'. The measured fall of a noisier
  curve is larger (its best is further above its level): a bias of C6's quantity itself, under
  either rule, shown so that a C6 verdict is read with it.
- fall (power): fine-tuning falls 0.3 points per evaluation after its peak, adapters do not.
Printed per rule: the share of comparisons with a verdict of a difference (p < 0.05, no gate
tripped, at least 3 seeds), the share gated, and the mean seeds kept.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from adapterlab.report.gates import RunEvidence, fall_after_best, run_trips
from adapterlab.report.statistics import ALPHA, MIN_SEEDS_FOR_VERDICT, paired_comparison
from adapterlab.study.gates_spec import GateOptions

# near the replication specs: sst2.yaml warms up 4 epochs under a 12-epoch ceiling, panx.yaml 3 under 10
PER_EPOCH, CEILING_EPOCHS, MIN_EPOCHS, PATIENCE, MIN_DELTA = 2, 12, 3, 4, 0.2
VALIDATION = 500  # examples: scores are whole examples (×100 / 500 = 0.2-point steps)
OPTIONS = GateOptions()


@dataclass(frozen=True)
class Method:
    tau: float  # evaluations to reach 63% of the plateau
    decline: float = 0.0  # points per evaluation after the true peak
    noise: float = 1.0  # points: marginal sd of the AR(1) evaluation noise


SCENARIOS = {
    "same": (Method(3), Method(3)),
    "speed": (Method(3), Method(1.5)),
    "speed+fall": (Method(3, 0.3), Method(1.5, 0.3)),
    "noise": (Method(3), Method(3, noise=1.5)),
    "fall (power)": (Method(3), Method(3, 0.3)),
}


def curve(method: Method, rng: np.random.Generator, top: float = 85.0, rho: float = 0.6) -> np.ndarray:
    """The validation metric ×100 at each evaluation up to the ceiling, before stopping."""
    t = np.arange(1, PER_EPOCH * CEILING_EPOCHS + 1, dtype=float)
    level = top * (1 - np.exp(-t / method.tau))
    peak = min(len(t), int(np.ceil(5 * method.tau)))  # where the rise is within 1% of the plateau
    level -= method.decline * np.clip(t - peak, 0, None)
    noise = np.empty_like(t)
    noise[0] = rng.normal(0, method.noise)
    for i in range(1, len(t)):
        noise[i] = rho * noise[i - 1] + rng.normal(0, method.noise * np.sqrt(1 - rho**2))
    return np.round((level + noise) * VALIDATION / 100) * 100 / VALIDATION


def run(values: np.ndarray, seed: int) -> RunEvidence:
    """Stop the curve as train.loop does and describe it as gates.run_evidence would."""
    best, best_at, since = -np.inf, 0, 0
    stop, last = "ceiling", len(values) - 1
    for i, value in enumerate(values):
        improved = value > best + MIN_DELTA  # patience restarts only on a real gain; the best follows any gain
        if value > best:
            best, best_at = value, i
        since = 0 if improved else since + 1
        if since >= PATIENCE and i + 1 >= MIN_EPOCHS * PER_EPOCH:
            stop, last = "converged", i
            break
    seen = values[: last + 1]
    gain = float(seen[-1] - seen[-1 - PER_EPOCH]) if len(seen) > PER_EPOCH else None
    return RunEvidence(
        seed,
        len(seen),
        best_at == last,
        gain,
        stop,
        None,
        None,
        float(best),
        tuple(float(v) for v in seen[best_at + 1 :]),
    )


def verdict(adapters: list[RunEvidence], finetune: list[RunEvidence], leave_out: bool) -> tuple[str, int]:
    """('difference' / 'none' / 'gated', seeds compared) of one C6 comparison."""
    pairs = list(zip(adapters, finetune))
    if leave_out:
        pairs = [(a, b) for a, b in pairs if min(len(a.after_best), len(b.after_best)) >= OPTIONS.tail]
        trips = run_trips(tuple(adapters), "a", OPTIONS, learn=False, tail=True)
        trips += run_trips(tuple(finetune), "b", OPTIONS, learn=False, tail=True)
    else:  # the rule before: every seed, a run without a tail falls by what it has (0 with nothing)
        trips = run_trips(tuple(adapters), "a", OPTIONS, learn=False) + run_trips(
            tuple(finetune), "b", OPTIONS, learn=False
        )
    if trips:
        return "gated", len(pairs)
    if len(pairs) < MIN_SEEDS_FOR_VERDICT:
        return "none", len(pairs)
    falls = [(fall_after_best(a, OPTIONS.tail) or 0.0, fall_after_best(b, OPTIONS.tail) or 0.0) for a, b in pairs]
    # C6's order: fine-tuning's fall minus the adapters' (two-sided, so the rates do not depend on it)
    test = paired_comparison([y for _, y in falls], [x for x, _ in falls])  # every run has a best: never None
    return ("difference" if test.p is not None and test.p < ALPHA else "none"), len(pairs)


def simulate(
    scenario: tuple[Method, Method], seeds: int, comparisons: int, rng: np.random.Generator
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    draws = [
        (
            [run(curve(scenario[0], rng), s) for s in range(seeds)],
            [run(curve(scenario[1], rng), s) for s in range(seeds)],
        )
        for _ in range(comparisons)
    ]
    for name, leave_out in (("leave out (now)", True), ("0 without a tail (before)", False)):
        results = [verdict(a, b, leave_out) for a, b in draws]
        out[name] = {
            "difference": float(np.mean([v == "difference" for v, _ in results])),
            "gated": float(np.mean([v == "gated" for v, _ in results])),
            "seeds": float(np.mean([n for _, n in results])),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--comparisons", type=int, default=1000, help="simulated comparisons per scenario and seed count"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="4 comparisons per row: checks that it runs")
    args = parser.parse_args()
    comparisons = 4 if args.smoke else args.comparisons
    rng = np.random.default_rng(args.seed)
    start = time.time()
    print(f"C6 with seeds without a tail: {comparisons} comparisons per row, alpha {ALPHA}")
    print(f"{'scenario':<14} {'seeds':>5}  {'rule':<27} {'difference':>10} {'gated':>7} {'seeds kept':>10}")
    for label, scenario in SCENARIOS.items():
        for seeds in (5, 10):
            for rule, rates in simulate(scenario, seeds, comparisons, rng).items():
                print(
                    f"{label:<14} {seeds:>5}  {rule:<27} {rates['difference']:>10.3f} {rates['gated']:>7.3f} "
                    f"{rates['seeds']:>10.1f}"
                )
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
