"""Error rates of adapterlab's verdict rules, by simulation (issues #26 and #27).

    .venv/bin/python benchmarks/sequential_error_rates.py [--comparisons 10000] [--seed 0] [--smoke]

Paired per-seed differences are drawn from a normal distribution with a known mean (the true
effect, in units of their standard deviation), so the right verdict is known. Measured, each
beside the naive rule from the same draws:

1. Seeds until decided (policy.seeds {min: 5, max: 20}): after 5 seeds, one more while the
   comparison is undecided. Under the null (effect 0): how often a difference is declared. Ours
   uses the anytime-valid test the runner and the report use (report.statistics.anytime_paired,
   Lindon et al. 2024 via savvi); the naive rule applies the fixed-n t-test at every look. Also:
   how often "equivalent" is declared when the true effect sits on the margin, the coverage of the
   interval at the stopping time, the power and the seeds used at real effects.
2. One claims table (fixed n = 5, 9 rows, every row null): how often any row gets a verdict with
   Benjamini-Hochberg over the table (report.claims.decide) against p < 0.05 per row.
3. Discrete scores (a small test set, converged models): each seed's accuracy is a whole number
   of test examples, so the per-seed differences are often the same value. Under the null (both
   methods alike), how often a difference is declared by adapterlab's fixed-n rule
   (report.statistics.paired_comparison: the exact sign test where the differences have no
   spread) against the plain paired t-test (p = 0 for identical non-zero differences).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import stats

from adapterlab.report.statistics import ALPHA, anytime_paired

MIN_SEEDS, MAX_SEEDS, MARGIN = 5, 20, 1.0


def sequential(d: np.ndarray, anytime: bool) -> tuple[str, int, float, float]:
    """(verdict, seeds used, CI low, CI high) of one comparison under the sequential rule."""
    for n in range(MIN_SEEDS, MAX_SEEDS + 1):
        x = d[:n]
        if anytime:
            p, low, high, p_equivalence = anytime_paired(list(x), ALPHA, MARGIN)
        else:
            test = stats.ttest_1samp(x, 0.0)
            p = float(test.pvalue)
            half = stats.t.ppf(1 - ALPHA / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
            low, high = x.mean() - half, x.mean() + half
            half90 = stats.t.ppf(1 - ALPHA, n - 1) * x.std(ddof=1) / np.sqrt(n)
            p_equivalence = 0.0 if (x.mean() - half90 > -MARGIN and x.mean() + half90 < MARGIN) else 1.0
        if p is not None and p < ALPHA:
            return "difference", n, low, high
        if p_equivalence is not None and p_equivalence < ALPHA:
            return "equivalent", n, low, high
    return "undecided", MAX_SEEDS, low, high


def simulate(effect: float, comparisons: int, rng: np.random.Generator) -> dict:
    draws = rng.normal(effect, 1.0, (comparisons, MAX_SEEDS))
    out = {}
    for name, anytime in (("anytime-valid (ours)", True), ("naive t-test at every look", False)):
        verdicts, seeds, covered = [], [], 0
        for d in draws:
            verdict, n, low, high = sequential(d, anytime)
            verdicts.append(verdict)
            seeds.append(n)
            covered += low <= effect <= high
        verdicts = np.array(verdicts)
        out[name] = {
            "difference": float(np.mean(verdicts == "difference")),
            "equivalent": float(np.mean(verdicts == "equivalent")),
            "seeds": float(np.mean(seeds)),
            "coverage": covered / comparisons,
        }
    return out


def family_rates(tables: int, rng: np.random.Generator) -> tuple[float, float]:
    """Share of 9-row null tables (5 seeds each) with any verdict: BH over the table, vs p < 0.05 per row."""
    from statsmodels.stats.multitest import multipletests

    any_bh = any_raw = 0
    for _ in range(tables):
        p = np.array([stats.ttest_1samp(rng.normal(0, 1, 5), 0.0).pvalue for _ in range(9)])
        any_raw += bool(np.any(p < ALPHA))
        any_bh += bool(np.any(multipletests(p, ALPHA, method="fdr_bh")[0]))
    return any_bh / tables, any_raw / tables


def discrete_rates(comparisons: int, seeds: int, n_test: int, rng: np.random.Generator) -> tuple[float, float]:
    """(ours, naive) share of null comparisons declared a difference: accuracies (x100) of two
    alike methods on n_test examples, each seed within about half an example of the same count."""
    from adapterlab.report.statistics import paired_comparison

    ours = naive = 0
    for _ in range(comparisons):
        a, b = (np.round(rng.normal(0.9 * n_test, 0.6, seeds)) / n_test * 100 for _ in range(2))
        p = paired_comparison(list(a), list(b)).p
        ours += p is not None and p < ALPHA
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # identical differences: scipy warns of cancellation
            t = stats.ttest_rel(a, b).pvalue
        naive += bool(np.isfinite(t) and t < ALPHA)
    return ours / comparisons, naive / comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--smoke", action="store_true", help="40 comparisons, for CI: checks that the script runs, measures nothing"
    )
    args = parser.parse_args()
    if args.smoke:
        args.comparisons = 40
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(
        f"sequential rule: seeds {MIN_SEEDS} to {MAX_SEEDS}, one at a time while undecided; alpha {ALPHA}; margin {MARGIN} sd; "
        f"{args.comparisons} simulated comparisons per row"
    )
    print(
        "| true effect (sd) | rule | declared a difference | declared equivalent | mean seeds | CI covers the truth |"
    )
    print("|---|---|---|---|---|---|")
    for effect in (0.0, MARGIN, 0.5, 2.0):
        for name, rates in simulate(effect, args.comparisons, rng).items():
            print(
                f"| {effect:g} | {name} | {rates['difference']:.4f} | {rates['equivalent']:.4f} | {rates['seeds']:.1f} | {rates['coverage']:.4f} |"
            )
    bh, raw = family_rates(args.comparisons // 4, rng)
    print(
        f"\none claims table of 9 null rows at 5 seeds, {args.comparisons // 4} tables: any row with a verdict: "
        f"Benjamini-Hochberg over the table {bh:.4f} (ours), p < {ALPHA} per row {raw:.4f} (naive)"
    )
    print(f"\ndiscrete scores under the null (two alike methods), {args.comparisons // 5} comparisons per row:")
    print("| test examples | seeds | declared a difference: ours (sign test without spread) | plain paired t-test |")
    print("|---|---|---|---|")
    for n_test, seeds in ((50, 3), (50, 5), (200, 3), (200, 5)):
        ours, naive = discrete_rates(args.comparisons // 5, seeds, n_test, rng)
        print(f"| {n_test} | {seeds} | {ours:.4f} | {naive:.4f} |")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
