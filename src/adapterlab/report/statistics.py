"""Adapter-vs-fine-tuning statistics over seeds: paired tests where the design is paired, Welch's
test where it is not, bootstrap intervals, a false-discovery-rate correction over one table's
comparisons, and the number of seeds a comparison would need (scipy throughout).

Paired: runs with the same seed share the k-sample and the validation split (the low-resource
protocol draws both with the run's seed), so adapter run i and fine-tuning run i differ only by
the method. The differences d_i then carry the comparison, and a paired test has far more power
at 3-5 seeds than Welch's test on the two samples.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from adapterlab.setting import BEST, Column

ALPHA = 0.05  # the tables' significance level (two-sided)
POWER = 0.8  # the power "seeds needed" plans for
BOOTSTRAP_SAMPLES = 10_000
MAX_SEEDS = 1000  # beyond this, "seeds needed" says "more than 1000"


@dataclass(frozen=True)
class Comparison:
    """One adapter-vs-fine-tuning cell comparison, on the tables' ×100 scale."""

    paired: bool
    n: int  # pairs (paired) or the smaller sample (Welch)
    difference: float  # mean(adapter) - mean(fine-tuning), or the mean paired difference
    sd: float  # std of the paired differences (paired), or the pooled std (Welch)
    t: float | None
    p: float | None  # paired t-test, or Welch's t-test
    p_wilcoxon: float | None  # Wilcoxon signed-rank (paired only; None when every difference is 0)
    ci_low: float  # 95% confidence interval of the difference from the t distribution (the test's own)
    ci_high: float
    seeds_needed: int | None  # seeds for POWER at ALPHA with the observed effect; None: no effect to detect
    boot_low: float = float("nan")  # 95% bootstrap interval (pairs resampled when paired); with 2-4 seeds
    boot_high: float = float("nan")  # it is little more than the range of the differences
    anytime: bool = False  # p and CI are anytime-valid (seeds added while undecided): anytime_paired


@dataclass(frozen=True)
class SignificanceTest:
    """One comparison of a table, on one row: the tested column (an adapter, LoRA, ...) against
    the column it is tested against (fine-tuning; an adapter for a PEFT method), its family and
    the family's correction (q), its verdict and, once gated (report/gates.py), the gates that
    tripped. significance.json holds `to_json()` of each."""

    task: str  # the row's name
    column: Column  # the tested column
    partner: Column  # the column it is tested against
    comparison: Comparison
    n_adapter: int
    n_finetune: int
    chosen_adapter: str
    chosen_finetune: str
    average: bool = False  # the row of averages over tasks (a family of its own)
    q: float | None = None  # Benjamini-Hochberg within the family
    family_size: int | None = None
    verdict: str = "inconclusive"
    gate: list[str] | None = None  # the gates that tripped (None: none)
    gate_detail: list[str] | None = None  # every trip with its numbers; None until gated

    @property
    def adapter(self) -> str:
        return self.column.name

    @property
    def finetune(self) -> str:
        return self.partner.name

    @property
    def method(self) -> str | None:
        return self.column.method

    @property
    def reference(self) -> str | None:
        return self.partner.method

    @property
    def family(self) -> str:
        """Families, corrected apart, so that no comparison is counted twice: the per-setting rows;
        the rows of the columns selected on validation (which repeat a per-setting comparison);
        the average rows (which summarise the others). A comparison with another reference than
        fine-tuning (LoRA vs adapters) is a family of its own."""
        family = "average" if self.average else "selected" if BEST in self.column.labels().values() else "per setting"
        return family if self.reference == "finetune" else f"{family} vs {self.reference}"

    def to_json(self) -> dict[str, Any]:
        values = {
            "task": self.task,
            "adapter": self.adapter,
            "finetune": self.finetune,
            "method": self.method,
            "reference": self.reference,
            **dataclasses.asdict(self.comparison),
            "n_adapter": self.n_adapter,
            "n_finetune": self.n_finetune,
            "chosen_adapter": self.chosen_adapter,
            "chosen_finetune": self.chosen_finetune,
            "family": self.family,
            "q": self.q,
            "family_size": self.family_size,
            "verdict": self.verdict,
        }
        return values if self.gate_detail is None else {**values, "gate": self.gate, "gate_detail": self.gate_detail}


def _finite(value: float | int | str) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def paired_comparison(adapter: list[float], finetune: list[float], seed: int = 0, anytime: bool = False) -> Comparison:
    """Paired t-test, Wilcoxon signed-rank test and a paired bootstrap CI of adapter[i] - finetune[i].
    anytime: the seeds were added while the comparison was undecided, so p and the CI are the
    anytime-valid ones (anytime_paired) and the fixed-n Wilcoxon and bootstrap are left out."""
    if anytime:
        fixed = paired_comparison(adapter, finetune, seed)
        p, low, high, _ = anytime_paired([a - b for a, b in zip(adapter, finetune)])
        return dataclasses.replace(
            fixed,
            p=p,
            ci_low=low,
            ci_high=high,
            p_wilcoxon=None,
            boot_low=float("nan"),
            boot_high=float("nan"),
            anytime=True,
        )
    x, y = np.asarray(adapter, dtype=float), np.asarray(finetune, dtype=float)
    d = x - y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical differences: scipy warns of cancellation
        t = stats.ttest_rel(x, y)
    try:
        wilcoxon = stats.wilcoxon(d).pvalue if np.any(d != 0) else None
    except ValueError:
        wilcoxon = None
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, len(d), (BOOTSTRAP_SAMPLES, len(d)))].mean(1)
    low, high = np.percentile(boot, [2.5, 97.5])
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    half = stats.t.ppf(1 - ALPHA / 2, len(d) - 1) * sd / math.sqrt(len(d)) if len(d) > 1 else 0.0
    p = _finite(t.pvalue)
    if len(d) > 1 and sd == 0 and d.mean() != 0:  # every difference the same: the t-test says p 0 at any n
        p = sign_test_p(len(d))  # (all zero: the t-test has no p, as before: no test, no member of the family)
    return Comparison(
        True,
        len(d),
        float(d.mean()),
        sd,
        _finite(t.statistic),
        p,
        None if wilcoxon is None else _finite(wilcoxon),
        float(d.mean() - half),
        float(d.mean() + half),
        seeds_needed(float(d.mean()), sd, paired=True),
        float(low),
        float(high),
    )


def welch_comparison(adapter: list[float], finetune: list[float], seed: int = 0) -> Comparison:
    """Welch's t-test and a bootstrap CI of mean(adapter) - mean(finetune), for unpaired runs."""
    x, y = np.asarray(adapter, dtype=float), np.asarray(finetune, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_ind(x, y, equal_var=False)
    rng = np.random.default_rng(seed)
    boot = rng.choice(x, (BOOTSTRAP_SAMPLES, len(x))).mean(1) - rng.choice(y, (BOOTSTRAP_SAMPLES, len(y))).mean(1)
    low, high = np.percentile(boot, [2.5, 97.5])
    pooled = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2) if len(x) > 1 and len(y) > 1 else 0.0
    difference = float(x.mean() - y.mean())
    # Welch-Satterthwaite degrees of freedom for the interval, as the test uses
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)) if va + vb > 0 else 1.0
    half = stats.t.ppf(1 - ALPHA / 2, df) * math.sqrt(va + vb)
    return Comparison(
        False,
        min(len(x), len(y)),
        difference,
        pooled,
        _finite(t.statistic),
        _finite(t.pvalue),
        None,
        difference - half,
        difference + half,
        seeds_needed(difference, pooled, paired=False),
        float(low),
        float(high),
    )


def seeds_needed(
    difference: float, sd: float, paired: bool = True, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """The smallest number of seeds (pairs, or runs per method) at which a two-sided t-test at
    `alpha` detects `difference` with probability `power`, if the spread is `sd` (noncentral t).
    None when there is no difference to detect; MAX_SEEDS + 1 when even MAX_SEEDS would not do."""
    if difference == 0 or not math.isfinite(difference):
        return None
    if sd <= 0:
        return 2  # no spread: any two seeds show it
    for n in range(2, MAX_SEEDS + 1):
        df = n - 1 if paired else 2 * n - 2
        shift = abs(difference) / (sd * math.sqrt(1 / n if paired else 2 / n))
        critical = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= power:
            return n
    return MAX_SEEDS + 1


def fdr_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (q) over one family of comparisons; None stays None."""
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if present:
        for (i, _), q in zip(present, stats.false_discovery_control([p for _, p in present], method="bh")):
            adjusted[i] = float(q)
    return adjusted


MIN_SEEDS_FOR_VERDICT = 3  # below this a t-test's p rests on one or two differences: no verdict


def sign_test_p(n: int, equivalence: bool = False) -> float:
    """p of the exact sign test when all n paired differences are the same value (no spread, where
    a t-test's p is 0 whatever n is): two-sided that the differences are not centred on 0, 2 x 0.5^n;
    for equivalence, the larger of the two one-sided tests, 0.5^n. So 3 identical differences
    (p 0.25, equivalence 0.125) decide nothing, and 6 can."""
    return min(1.0, 0.5**n if equivalence else 2 * 0.5**n)


def equivalence_p(differences: list[float], margin: float) -> float | None:
    """p of the two one-sided paired t-tests (Schuirmann 1987, statsmodels' ttost_paired) that the
    mean difference lies inside (-margin, +margin); small p: "no difference larger than margin".
    None with fewer than two differences. With no spread, the sign test's (sign_test_p) when the
    difference is inside, else 1."""
    from statsmodels.stats.weightstats import ttost_paired

    d = np.asarray(differences, dtype=float)
    if len(d) < 2 or not np.all(np.isfinite(d)):
        return None
    if d.std(ddof=1) == 0:
        return sign_test_p(len(d), equivalence=True) if abs(d.mean()) < margin else 1.0
    p, _, _ = ttost_paired(d, np.zeros_like(d), -margin, margin)
    return float(p)


def anytime_paired(
    differences: list[float], alpha: float = ALPHA, margin: float | None = None
) -> tuple[float | None, float, float, float | None]:
    """Anytime-valid inference on the mean of paired differences, for comparisons whose seeds were
    added while they were undecided (policy.seeds): the p-value and the (1 - alpha) confidence
    sequence of the t-test of Lindon, Ham, Tingley and Bojinov (2024), "Anytime-valid linear models
    and regression adjusted causal inference" (savvi's LinearRegression on an intercept), valid at
    any data-dependent stopping time, unlike the fixed-n t-test. Returns (p, low, high,
    p_equivalence): p_equivalence rejects |mean| >= margin by the anytime p of each shifted
    null, taken only in the direction the data point (conservative: the two-sided p)."""
    from savvi.linear_regression import LinearRegression

    d = np.asarray(differences, dtype=float)
    if len(d) < 3 or not np.all(np.isfinite(d)):  # the intercept-only model needs 2 degrees of freedom
        return None, float("nan"), float("nan"), None

    def fit(values: np.ndarray, level: float) -> tuple[float, Any]:
        model = LinearRegression(level, 1)
        for value in values:
            model.update(np.array([value, 1.0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no spread: savvi divides by zero; handled below
            return float(model.calculate_p_value()[0]), model.calculate_conf_int()[0]

    if d.std(ddof=1) == 0:  # no spread: every difference the same value
        inside = margin is not None and abs(d.mean()) < margin
        return (  # the exact sign test's p (sign_test_p): a t statistic without spread has none to offer
            (sign_test_p(len(d)) if d.mean() != 0 else 1.0),
            float(d.mean()),
            float(d.mean()),
            (sign_test_p(len(d), equivalence=True) if inside else 1.0 if margin is not None else None),
        )
    p, (low, high) = fit(d, alpha)
    p_equivalence = None
    if margin is not None:
        upper = fit(d - margin, alpha)[0] if d.mean() < margin else 1.0
        lower = fit(d + margin, alpha)[0] if d.mean() > -margin else 1.0
        p_equivalence = max(upper, lower)
    return min(1.0, p), float(low), float(high), None if p_equivalence is None else min(1.0, p_equivalence)
