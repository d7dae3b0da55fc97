"""The report's statistics against scipy, hand computation and textbook power tables."""

import numpy as np
import pytest
from scipy import stats

from adapterlab.report.statistics import MAX_SEEDS, fdr_adjust, paired_comparison, seeds_needed, welch_comparison


def test_paired_comparison_against_scipy():
    adapter, finetune = [81.0, 83.5, 80.2, 84.1, 82.0], [79.0, 82.0, 80.5, 81.0, 80.0]
    result = paired_comparison(adapter, finetune)
    d = np.subtract(adapter, finetune)
    assert (
        result.paired
        and result.n == 5
        and result.difference == pytest.approx(d.mean())
        and result.sd == pytest.approx(d.std(ddof=1))
    )
    assert result.p == pytest.approx(stats.ttest_rel(adapter, finetune).pvalue)
    assert result.p_wilcoxon == pytest.approx(stats.wilcoxon(d).pvalue)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(len(d)))
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))  # the t-test's own interval
    assert result.boot_low < d.mean() < result.boot_high and result.boot_low >= d.min() and result.boot_high <= d.max()


def test_welch_comparison_against_scipy():
    adapter, finetune = [81.0, 83.5, 80.2], [79.0, 82.0, 80.5, 81.0]
    result = welch_comparison(adapter, finetune)
    assert not result.paired and result.p == pytest.approx(stats.ttest_ind(adapter, finetune, equal_var=False).pvalue)
    assert result.difference == pytest.approx(np.mean(adapter) - np.mean(finetune)) and result.p_wilcoxon is None


def test_identical_differences_have_no_wilcoxon_p_and_no_crash():
    result = paired_comparison([50.0, 50.0, 50.0], [50.0, 50.0, 50.0])
    assert result.p_wilcoxon is None and result.seeds_needed is None and result.difference == 0


def test_seeds_needed_matches_the_textbook_power_tables():
    # Cohen (1988) / G*Power, two-sided alpha 0.05, power 0.80: paired dz=0.5 -> 34, dz=1.0 -> 10;
    # two independent groups d=0.5 -> 64 per group, d=0.8 -> 26 per group
    assert seeds_needed(0.5, 1.0, paired=True) == 34
    assert seeds_needed(1.0, 1.0, paired=True) == 10
    assert seeds_needed(0.5, 1.0, paired=False) == 64
    assert seeds_needed(0.8, 1.0, paired=False) == 26
    assert seeds_needed(0.0, 1.0) is None and seeds_needed(1.0, 0.0) == 2
    assert seeds_needed(0.001, 10.0) == MAX_SEEDS + 1


def test_benjamini_hochberg_by_hand():
    # sorted p: 0.01, 0.03, 0.04, 0.2 -> p*m/rank: 0.04, 0.06, 0.0533, 0.2 -> monotone from the top
    assert fdr_adjust([0.01, 0.04, 0.03, 0.2, None]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2, None])


def test_an_anytime_valid_row_names_its_test_and_has_no_fixed_n_interval():
    """A sequential study's comparisons are anytime-valid: the significance table names that test
    (not "paired t") and shows n/a where a fixed-n bootstrap interval would not hold."""
    from adapterlab.report.statistics import SignificanceTest
    from adapterlab.report.views import significance_entries
    from adapterlab.setting import Column

    adapter, finetune = [0.80, 0.82, 0.85, 0.81, 0.83, 0.84], [0.79, 0.80, 0.82, 0.80, 0.81, 0.80]

    def shown(anytime):
        comparison = paired_comparison(adapter, finetune, anytime=anytime)
        test = SignificanceTest("sst2", Column(method="adapter"), Column(method="finetune"), comparison, 6, 6, "", "")
        return [entry.text for entry in significance_entries(test)]

    sequential, fixed = shown(True), shown(False)
    assert "anytime-valid paired" in sequential and "paired t" not in sequential and "n/a" in sequential
    assert "paired t" in fixed and not any("nan" in text for text in fixed)


def test_identical_differences_decide_only_with_enough_seeds():
    """Every seed giving the same difference (likely on a small test set) has no spread: a t-test
    then says p = 0 at any n, which made 3 seeds a decisive verdict. The exact sign test decides
    instead: nothing at 3 seeds, a difference or an equivalence at 6, in every test adapterlab uses."""
    from adapterlab.report.statistics import anytime_paired, equivalence_p

    for n, decided in ((3, False), (6, True)):
        assert (paired_comparison([0.5] * n, [0.0] * n).p < 0.05) is decided
        assert (anytime_paired([0.5] * n)[0] < 0.05) is decided
        assert (equivalence_p([0.0] * n, 1.0) < 0.05) is decided
        assert (anytime_paired([0.0] * n, margin=1.0)[3] < 0.05) is decided
    assert paired_comparison([0.2, 0.2, 0.2], [0.2, 0.2, 0.2]).p is None  # no difference at all: no test
