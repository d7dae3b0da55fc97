"""Claims as checks: each kind on a fixture where it is supported, one where it is contradicted
and one where it is inconclusive; the shipped paper claims validate; the CLI."""

import dataclasses
from pathlib import Path

import pytest

from adapterlab.report.claims import evaluate_claim
from adapterlab.report.tables import build_table, observations_of
from adapterlab.runs import RunRecord, RunResult
from adapterlab.setting import Setting
from adapterlab.study.claims_spec import Claim, check_claims, paper_claims, resolve_claims


def record(task, method, seed, test, **labels):
    full = {"task": task, "method": method, **({"adapter_size": 64} if method == "adapter" else {}), **labels}
    return RunRecord(Setting.from_labels(full), RunResult(status="ok", metric="accuracy", test_metric=test, validation_metric=test),
                     Path("."), seed)


def table_of(records, select=("adapter_size",)):
    return build_table("t", observations_of(records), select=select)


C2 = Claim.from_dict({"id": "C2", **paper_claims()["C2"]})


@pytest.mark.parametrize("gap, noise, verdict", [(0.03, 0.002, "supported"), (-0.03, 0.002, "contradicted"), (0.002, 0.02, "inconclusive")])
def test_difference_claim(gap, noise, verdict):
    records = []
    for task in ("chemprot", "sciie"):
        for seed in range(5):
            wobble = noise * ((seed * 7) % 5 - 2)
            records += [record(task, "finetune", seed, 0.70 + 0.01 * seed), record(task, "adapter", seed, 0.70 + 0.01 * seed + gap + wobble)]
    result = evaluate_claim(C2, table_of(records), "s")
    assert result.verdict == verdict and result.n == 5
    assert result.value == pytest.approx(100 * gap, abs=0.5)
    if verdict == "inconclusive":
        assert result.seeds_needed is not None and result.seeds_needed > 5


@pytest.mark.parametrize("small, large, verdict", [(0.05, 0.01, "supported"), (0.01, 0.05, "contradicted"), (0.02, 0.02, "inconclusive")])
def test_trend_claim(small, large, verdict):
    claim = Claim.from_dict({"id": "C3", **paper_claims()["C3"]})
    records = []
    for k, gap in ((1000, small), (5000, large)):
        for seed in range(5):
            base = 0.6 + 0.01 * seed + (0.1 if k == 5000 else 0)
            records += [record("sst2", "finetune", seed, base, train_size=k),
                        record("sst2", "adapter", seed, base + gap + 0.003 * ((seed * 3) % 4 - 1.5), train_size=k)]
    assert evaluate_claim(claim, table_of(records), "s").verdict == verdict


@pytest.mark.parametrize("spreads, verdict", [((0.002, 0.05), "supported"), ((0.05, 0.002), "contradicted"), ((0.02, 0.021), "inconclusive")])
def test_spread_claim(spreads, verdict):
    claim = Claim.from_dict({"id": "C5", **paper_claims()["C5"]})
    adapter_spread, finetune_spread = spreads
    records = []
    for seed in range(5):
        for i, lr in enumerate((1e-4, 3e-4, 1e-3)):
            wobble, other = 0.006 * ((seed + i) % 3 - 1), 0.006 * ((2 * seed + i * i) % 3 - 1)
            records += [record("sst2", "adapter", seed, 0.8 + adapter_spread * i + wobble, lr=lr),
                        record("sst2", "finetune", seed, 0.8 + finetune_spread * i + other, lr=lr * 0.1)]
    assert evaluate_claim(claim, table_of(records, select=()), "s").verdict == verdict


@pytest.mark.parametrize("gaps, verdict", [((0.05, 0.06, 0.07), "supported"), ((0.05, -0.06, 0.07), "contradicted"), ((0.05, 0.0005, 0.07), "inconclusive")])
def test_every_row_claim(gaps, verdict):
    claim = Claim.from_dict({"id": "C1", **paper_claims()["C1"]})
    records = []
    for layer, gap in enumerate(gaps):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            records += [record(f"layer{layer}", "finetune", seed, base), record(f"layer{layer}", "adapter", seed, base + gap + 0.002 * ((seed * 3) % 5 - 2))]
    claim = dataclasses.replace(claim, table="main")
    assert evaluate_claim(claim, table_of(records), "s").verdict == verdict


def test_a_claim_that_names_no_cells_is_not_applicable():
    claim = Claim.from_dict({"id": "C7", **paper_claims()["C7"]})
    records = [record("sst2", m, s, 0.5) for m in ("adapter", "finetune") for s in range(3)]
    result = evaluate_claim(claim, table_of(records), "s")
    assert result.verdict == "not applicable" and "0 column(s) match" in result.detail


def test_the_claims_block_is_checked():
    assert check_claims(["C1", "C2", {"id": "C2", "where": {"train_size": 1000}}], "s") == []
    errors = check_claims(["C9", {"id": "mine"}, {"id": "C2", "kind": "vibes"}, {"id": "C3", "axis": None}, {"id": "C2", "colour": 1}], "s")
    assert "claims[0]='C9': not a paper claim" in errors[0]
    assert "claim 'mine' is not a paper claim, so it needs text and kind" in errors[1]
    assert "claims[2].kind='vibes'" in errors[2] and "needs an axis" in errors[3] and "claims[4].colour: unknown field" in errors[4]
    assert [c.id for c in resolve_claims(["C1", {"id": "C2", "where": {"train_size": 1000}}])] == ["C1", "C2"]
    assert set(paper_claims()) == {f"C{i}" for i in range(1, 8)}


def test_where_reads_the_studys_fixed_settings_and_two_seeds_give_no_verdict():
    from adapterlab.report.claims import evaluate_claims

    records = [record("sst2", m, s, 0.5 + (0.05 if m == "adapter" else 0) + 0.001 * s) for m in ("adapter", "finetune") for s in range(5)]
    tables = {"main": table_of(records)}
    claim = Claim.from_dict({"id": "C2", **paper_claims()["C2"], "where": {"train_size": 1000}})
    (right,) = evaluate_claims([claim], tables, "s", constants={"train_size": 1000})  # k is in the base, not a grid label
    assert right.verdict == "supported"
    (wrong,) = evaluate_claims([claim], tables, "s", constants={"train_size": 5000})
    assert wrong.verdict == "not applicable" and "the study runs train_size=5000" in wrong.detail
    two = [r for r in records if r.seed < 2]
    (few,) = evaluate_claims([claim], {"main": table_of(two)}, "s", constants={"train_size": 1000})
    assert few.verdict == "inconclusive" and "2 seeds: no verdict below 3" in few.detail


def test_overfitting_and_rsa_tables_select_the_runs_the_main_table_selects():
    """With two learning rates per method, C6 (overfitting gap) and C1 (RSA) read the columns chosen
    on validation, the same runs as the main table's choice, not "2 columns match"."""
    from adapterlab.report.analysis_tables import rsa_table
    from adapterlab.report.build import Curve, overfitting_gap_table
    from adapterlab.report.claims import evaluate_claim
    from adapterlab.report.tables import Observation

    select = ("lr", "adapter_size")
    good = {"adapter": 1e-3, "finetune": 5e-5}  # the rate with the higher validation metric
    curves, layers = [], []
    for method, rates in (("adapter", (1e-4, 1e-3)), ("finetune", (2e-5, 5e-5))):
        for lr in rates:
            for seed in range(5):
                setting = Setting.from_labels({"task": "sst2", "method": method, "lr": lr, **({"adapter_size": 64} if method == "adapter" else {})})
                validation = 0.80 + (0.05 if lr == good[method] else 0.0) + 0.001 * seed
                # the chosen fine-tuning runs fall far from their best, the chosen adapter runs barely
                fall = {("adapter", True): 0.01, ("finetune", True): 0.08}.get((method, lr == good[method]), 0.30)
                rows = [{"step": 10, "accuracy": validation}, {"step": 20, "accuracy": validation - fall - 0.001 * seed}]
                curves.append(Curve(setting, "accuracy", rows, seed, validation))
                layers.append(Observation(1, setting.column, "rsa", (0.9 if method == "adapter" else 0.6) + (0.0 if lr == good[method] else -0.5)
                                          + 0.002 * seed, validation, seed=seed))
    gap = overfitting_gap_table(curves, select)
    chosen = gap.cell("sst2", "adapter m=best lr=best")
    assert chosen.values == gap.cell("sst2", "adapter m=64 lr=0.001").values
    c6 = evaluate_claim(Claim.from_dict({"id": "C6", **paper_claims()["C6"]}), gap, "s")
    assert c6.verdict == "supported" and c6.value == pytest.approx(100 * (0.08 - 0.01) / 2, abs=0.2), c6
    c1 = evaluate_claim(Claim.from_dict({"id": "C1", **paper_claims()["C1"]}), rsa_table(layers, select), "s")
    assert c1.verdict == "supported" and c1.value == pytest.approx(30, abs=1), c1


def test_where_on_an_axis_only_one_method_varies():
    """by_method: {adapter: {tapt: [false, true]}}: fine-tuning's columns carry no tapt label, and
    `where: {tapt: false}` keeps them (C2 of the TAE replication spec)."""
    claim = dataclasses.replace(C2, where={"tapt": False})
    records = []
    for seed in range(4):
        records += [record("chemprot", "finetune", seed, 0.60 + 0.01 * seed), record("chemprot", "adapter", seed, 0.70 + 0.01 * seed, tapt=False),
                    record("chemprot", "adapter", seed, 0.50 + 0.01 * seed, tapt=True)]
    result = evaluate_claim(claim, table_of(records), "s")
    assert result.verdict == "supported" and result.value == pytest.approx(10.0) and "tapt=False" in result.detail


def test_a_spread_claim_on_a_method_that_never_learned_is_not_applicable():
    """Adapters at MCC 0 for every learning rate and seed have no spread because they never left
    the majority class; C5 must not count that as robustness."""
    claim = Claim.from_dict({"id": "C5", **paper_claims()["C5"]})
    records = []
    for lr in (2e-5, 6e-5, 1e-4):
        for seed in range(5):
            records += [record("cola", "adapter", seed, 0.0, lr=lr), record("cola", "finetune", seed, 0.1 * (lr * 1e4) + 0.01 * seed, lr=lr)]
    result = evaluate_claim(claim, table_of(records), "s")
    assert result.verdict == "not applicable" and "did not learn" in result.detail, result
