"""Claims as checks: each kind on a fixture where it is supported, contradicted, equivalent or
inconclusive; the validity gates (edge, not converged, did not learn, no tail) on fixtures with
the right answer; one family per claims table; the shipped paper claims validate; the CLI."""

import dataclasses

import pytest
from claims_worlds import PLATEAU, evidenced, pair_world, record, table_of

from adapterlab.report.claims import GateContext, decide, evaluate_claim, evaluate_claims, measure_claim
from adapterlab.report.gates import run_evidence
from adapterlab.report.tables import Observation, build_table
from adapterlab.runs import RunResult
from adapterlab.setting import Setting
from adapterlab.study.claims_spec import Claim, check_claims, paper_claims, resolve_claims
from adapterlab.study.gates_spec import GateOptions, check_gates

C2 = Claim.from_dict({"id": "C2", **paper_claims()["C2"]})


@pytest.mark.parametrize(
    "gap, noise, verdict",
    [
        (0.03, 0.002, "supported"),
        (-0.03, 0.002, "contradicted"),
        (0.001, 0.001, "equivalent"),
        (0.002, 0.02, "inconclusive"),
    ],
)
def test_difference_claim(gap, noise, verdict):
    result = evaluate_claim(C2, pair_world(gap, noise), "s")
    assert result.verdict == verdict and result.n == 5 and result.gate is None
    assert result.value == pytest.approx(100 * gap, abs=0.5)
    if verdict == "inconclusive":
        assert result.seeds_needed is not None and result.seeds_needed > 5
        assert result.seeds_needed_paper is not None  # at the paper's +1.9 with our spread
    if verdict == "equivalent":  # the 90% CI inside ±1 point: the two one-sided tests say so
        assert result.q_equivalence < 0.05 and result.p > 0.05


def test_a_best_checkpoint_at_the_last_evaluation_with_a_rising_tail_gets_no_verdict():
    rising = [0.60, 0.70, 0.78]  # still +8 points over the last epoch, best at the end
    result = evaluate_claim(C2, pair_world(0.03, 0.002, curves={"finetune": rising}), "s")
    assert result.verdict == "no verdict" and result.gate == ["not converged"]
    assert "best at the last evaluation in 5 of 5 seeds" in result.gates.text() and "+8.0 points" in result.gates.text()
    # a rise below the tolerance is a plateau reached at the end: converged enough
    flat = [0.60, 0.80, 0.802]
    assert evaluate_claim(C2, pair_world(0.03, 0.002, curves={"finetune": flat}), "s").verdict == "supported"
    # the run's own record says it converged (convergence stopping): no curve reading overrides it
    (rec, _), rows = evidenced(record("sst2", "finetune", 0, 0.7), rising), []
    stopped = run_evidence(dataclasses.replace(rec.result, extra={"stop_reason": "converged"}), rows)
    assert not stopped.not_converged(0.5)


def test_a_cell_at_the_majority_class_did_not_learn():
    result = evaluate_claim(C2, pair_world(-0.2, 0.002, mcc=(0.02, 0.6)), "s")
    assert result.verdict == "no verdict" and result.gate == ["did not learn"]
    assert "MCC ×100 2.0 over 5 seeds" in result.gates.text()


def test_a_grid_edge_selection_gets_no_verdict_and_an_interior_one_passes():
    select = ("lr", "adapter_size")
    edge = {"adapter": [(1e-4, 0.0), (1e-3, 0.05)], "finetune": [(2e-5, 0.0), (5e-5, 0.05)]}  # the top rate wins
    result = evaluate_claim(C2, pair_world(0.03, 0.002, rates=edge, select=select), "s")
    assert result.verdict == "no verdict" and result.gate == ["edge"]
    assert "lr 0.001 is the top of its grid {0.0001, 0.001}" in result.gates.text()
    assert "lr 5e-05 is the top of its grid {2e-05, 5e-05}" in result.gates.text()
    interior = {
        "adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.01)],
        "finetune": [(2e-5, 0.0), (5e-5, 0.05), (1e-4, 0.0)],
    }
    passed = evaluate_claim(C2, pair_world(0.03, 0.002, rates=interior, select=select), "s")
    assert passed.verdict == "supported" and passed.gate is None
    assert any("[m=64 lr=0.0003]" in cell for cell in passed.cells)  # the report names the compared cells
    off = GateContext(pair_world(0.03, 0.002, rates=edge, select=select), GateOptions(edge=False), select=select)
    (quiet,) = evaluate_claims([C2], {"main": off.main}, "s", context=off)
    assert quiet.verdict == "supported" and quiet.gates.off == ("edge",)  # switched off, and said so


def test_a_trend_claim_compares_the_selected_columns_at_each_size():
    """Two rates per method and size: the trend uses the validation-selected column at each k, not
    the last rate in column order (which would give the opposite sign here)."""
    claim = Claim.from_dict({"id": "C3", **paper_claims()["C3"]})
    records, evidence = [], {}
    for k, gap in ((1000, 0.05), (5000, 0.01)):
        for method in ("adapter", "finetune"):
            for lr, good in ((1e-4, True), (1e-3, False)) if method == "adapter" else ((2e-5, True), (5e-5, False)):
                for seed in range(5):
                    base = 0.6 + 0.01 * seed + (0.1 if k == 5000 else 0)
                    # the rejected (worse on validation) columns carry a reversed gap
                    test = (
                        base + (gap if good else 0.08 - gap) + 0.002 * ((seed * 3) % 4) if method == "adapter" else base
                    )
                    rec, ev = evidenced(
                        record("sst2", method, seed, test, train_size=k, lr=lr),
                        [v + (0.05 if good else 0) for v in PLATEAU],
                    )
                    records.append(rec)
                    evidence[rec.folder] = ev
    result = evaluate_claim(claim, table_of(records, ("lr", "adapter_size"), evidence), "s")
    assert (
        result.value == pytest.approx(4.0, abs=0.3) and result.verdict == "no verdict"
    )  # 2 rates: the chosen one is at an edge
    assert "k=1000 adapter m=best lr=best" in result.detail and "k=5000 finetune lr=best" in result.detail


@pytest.mark.parametrize(
    "small, large, verdict", [(0.05, 0.01, "supported"), (0.01, 0.05, "contradicted"), (0.02, 0.02, "equivalent")]
)
def test_trend_claim(small, large, verdict):
    claim = Claim.from_dict({"id": "C3", **paper_claims()["C3"]})
    records = []
    for k, gap in ((1000, small), (5000, large)):
        for seed in range(5):
            base = 0.6 + 0.01 * seed + (0.1 if k == 5000 else 0)
            records += [
                record("sst2", "finetune", seed, base, train_size=k),
                record("sst2", "adapter", seed, base + gap + 0.003 * ((seed * 3) % 4 - 1.5), train_size=k),
            ]
    assert evaluate_claim(claim, table_of(records), "s").verdict == verdict


@pytest.mark.parametrize(
    "spreads, verdict", [((0.002, 0.05), "supported"), ((0.05, 0.002), "contradicted"), ((0.02, 0.021), "equivalent")]
)
def test_spread_claim(spreads, verdict):
    claim = Claim.from_dict({"id": "C5", **paper_claims()["C5"]})
    adapter_spread, finetune_spread = spreads
    records = []
    for seed in range(5):
        for i, lr in enumerate((1e-4, 3e-4, 1e-3)):
            wobble, other = 0.006 * ((seed + i) % 3 - 1), 0.006 * ((2 * seed + i * i) % 3 - 1)
            records += [
                record("sst2", "adapter", seed, 0.8 + adapter_spread * i + wobble, lr=lr),
                record("sst2", "finetune", seed, 0.8 + finetune_spread * i + other, lr=lr * 0.1),
            ]
    assert evaluate_claim(claim, table_of(records, select=()), "s").verdict == verdict


def test_a_spread_claim_gates_undertrained_low_rates_but_scores_a_collapse_above_the_choice():
    claim = Claim.from_dict({"id": "C5", **paper_claims()["C5"]})

    def world(adapter_low_mcc, finetune_high_mcc):
        records, evidence = [], {}
        for method, rates in (("adapter", (3e-5, 3e-4, 1e-3)), ("finetune", (3e-5, 1e-4, 3e-4))):
            for i, lr in enumerate(rates):
                for seed in range(5):
                    mcc = (
                        adapter_low_mcc
                        if (method, i) == ("adapter", 0)
                        else finetune_high_mcc
                        if (method, i) == ("finetune", 2)
                        else 0.6
                    )
                    test = 0.5 if mcc < 0.05 else 0.8 + 0.002 * seed
                    rec, ev = evidenced(
                        record("sst2", method, seed, test, lr=lr), [v + (0.03 if i == 1 else 0) for v in PLATEAU], mcc
                    )
                    records.append(rec)
                    evidence[rec.folder] = ev
        table = table_of(records, ("lr", "adapter_size"), evidence)
        return evaluate_claims(
            [claim], {"main": table}, "s", context=GateContext(table, select=("lr", "adapter_size"))
        )[0]

    low = world(0.01, 0.6)  # adapters at 3e-5, below their chosen 3e-4, stay at the majority class
    assert low.verdict == "no verdict" and low.gate == ["did not learn"] and "adapter m=64 lr=3e-05" in low.gates.text()
    collapse = world(0.6, 0.01)  # fine-tuning collapses at 3e-4, above its chosen 1e-4: the claim's own phenomenon
    assert collapse.verdict == "supported" and collapse.gate is None


@pytest.mark.parametrize(
    "gaps, verdict",
    [((0.05, 0.06, 0.07), "supported"), ((0.05, -0.06, 0.07), "contradicted"), ((0.05, 0.0005, 0.07), "inconclusive")],
)
def test_every_row_claim_over_the_encoder_layers(gaps, verdict):
    """C1 tests layers 1..N; the embeddings row (layer 0, no difference at all) is not a row of the
    claim, so it cannot sink it."""
    claim = Claim.from_dict({"id": "C1", **paper_claims()["C1"]})
    observations = []
    for layer, gap in enumerate((0.0, *gaps)):
        for seed in range(5):
            base = 0.5 + 0.01 * seed
            for method, value in (
                ("finetune", base),
                ("adapter", base + gap + (0.002 * ((seed * 3) % 5 - 2) if layer else 0)),
            ):
                column = Setting.from_labels(
                    {"task": "sst2", "method": method, **({"adapter_size": 64} if method == "adapter" else {})}
                ).column
                observations.append(Observation(layer, column, "rsa", value, seed=seed))
    table = build_table("rsa", observations, average_row=False, row_header="layer")
    result = evaluate_claim(dataclasses.replace(claim, table="rsa"), table, "s")
    assert result.verdict == verdict and "layer 0" not in result.detail and "every one of 3 rows" in result.detail
    if verdict == "supported":  # the intersection-union p: the largest layer p
        assert result.p == pytest.approx(
            max(float(part.split("(p ")[1].rstrip(")")) for part in result.detail.split(": ")[-1].split(", ")), abs=1e-3
        )


def test_one_family_per_claims_table_with_q_beside_p():
    """Nine rows, one of them at p = 0.0497 on its own: over the table's family its q is above
    0.05, so it is not a verdict (the issue's XNLI row: q ≈ 0.11)."""
    rows = []
    for i, p in enumerate((0.0497, 0.30, 0.40, 0.5, 0.6, 0.7, 0.8, 0.9, 0.001)):
        rows.append(dataclasses.replace(measure_claim(C2, pair_world(0.03, 0.002), f"s{i}"), p=p, value=-1.0))
    decided = decide(rows)
    assert decided[0].q == pytest.approx(0.0497 * 9 / 2, rel=1e-6) and decided[0].verdict == "inconclusive"
    assert decided[-1].q == pytest.approx(0.009) and decided[-1].verdict == "contradicted"
    alone = decide(rows[:1])[0]
    assert alone.q == pytest.approx(0.0497) and alone.verdict == "contradicted"


def test_a_claim_that_names_no_cells_is_not_applicable():
    claim = Claim.from_dict({"id": "C7", **paper_claims()["C7"]})
    records = [record("sst2", m, s, 0.5) for m in ("adapter", "finetune") for s in range(3)]
    result = evaluate_claim(claim, table_of(records), "s")
    # it names what is missing, and advises no `where:` (none could make a tapt column)
    assert result.verdict == "not applicable" and "the grid does not vary tapt for {method: adapter}" in result.detail
    assert "where" not in result.detail


def test_the_claims_and_gates_blocks_are_checked():
    assert (
        check_claims(["C1", "C2", {"id": "C2", "where": {"train_size": 1000}}, {"id": "C2", "paper_value": 0.2}], "s")
        == []
    )
    errors = check_claims(
        [
            "C9",
            {"id": "mine"},
            {"id": "C2", "kind": "vibes"},
            {"id": "C3", "axis": None},
            {"id": "C2", "colour": 1},
            {"id": "C2", "margin": 0},
            {"id": "C2", "text": {"a": 1}},
        ],
        "s",
    )
    assert "claims[0]='C9': not a paper claim" in errors[0]
    assert "claim 'mine' is not a paper claim, so it needs text and kind" in errors[1]
    assert (
        "claims[2].kind='vibes'" in errors[2]
        and "needs an axis" in errors[3]
        and "claims[4].colour: unknown field" in errors[4]
    )
    assert "claims[5].margin=0: must be a number > 0" in errors[5] and "claims[6].text: must be a string" in errors[6]
    assert [c.id for c in resolve_claims(["C1", {"id": "C2", "where": {"train_size": 1000}}])] == ["C1", "C2"]
    assert set(paper_claims()) == {f"C{i}" for i in range(1, 8)}
    assert all(entry.get("why") for entry in paper_claims().values())  # pre-registered with a reason
    assert check_gates({"tolerance": 1, "edge": False, "tail": 2}, "s") == []
    assert check_gates({"edge": "no", "share": 1.5, "tail": 0, "colour": 1}, "s") == [
        "s: gates.edge='no': must be true or false",
        "s: gates.share=1.5: must be a number in [0, 1)",
        "s: gates.tail=0: must be an integer >= 1",
        "s: gates.colour: unknown field; allowed: edge, not_converged, did_not_learn, tolerance, share, margin, tail",
    ]


def test_where_reads_the_studys_fixed_settings_and_two_seeds_give_no_verdict():
    records = [
        record("sst2", m, s, 0.5 + (0.05 if m == "adapter" else 0) + 0.001 * s)
        for m in ("adapter", "finetune")
        for s in range(5)
    ]
    tables = {"main": table_of(records)}
    claim = Claim.from_dict({"id": "C2", **paper_claims()["C2"], "where": {"train_size": 1000}})
    (right,) = evaluate_claims(
        [claim], tables, "s", constants={"train_size": 1000}
    )  # k is in the base, not a grid label
    assert right.verdict == "supported"
    (wrong,) = evaluate_claims([claim], tables, "s", constants={"train_size": 5000})
    assert wrong.verdict == "not applicable" and "the study runs train_size=5000" in wrong.detail
    two = [r for r in records if r.seed < 2]
    (few,) = evaluate_claims([claim], {"main": table_of(two)}, "s", constants={"train_size": 1000})
    assert few.verdict == "inconclusive" and "2 seeds: no verdict below 3" in few.detail


def test_overfitting_and_rsa_tables_select_the_runs_the_main_table_selects():
    """With rates per method, C6 (the fall after the best) and C1 (RSA) read the columns chosen on
    validation, the same runs as the main table's choice, not "2 columns match"."""
    from adapterlab.report.analysis_tables import rsa_table
    from adapterlab.report.curves import Curve, overfitting_gap_table

    select = ("lr", "adapter_size")
    good = {"adapter": 1e-3, "finetune": 5e-5}  # the rate with the higher validation metric
    curves, layers = [], []
    for method, rates in (("adapter", (1e-4, 1e-3)), ("finetune", (2e-5, 5e-5))):
        for lr in rates:
            for seed in range(5):
                setting = Setting.from_labels(
                    {
                        "task": "sst2",
                        "method": method,
                        "lr": lr,
                        **({"adapter_size": 64} if method == "adapter" else {}),
                    }
                )
                validation = 0.80 + (0.05 if lr == good[method] else 0.0) + 0.001 * seed
                # after their best, the chosen fine-tuning runs fall far, the chosen adapter runs barely
                fall = {("adapter", True): 0.01, ("finetune", True): 0.08}.get((method, lr == good[method]), 0.30)
                accuracy = [validation - 0.1, validation, *(validation - fall - 0.001 * seed for _ in range(3))]
                rows = [
                    {"split": "validation", "epoch": i + 1, "step": 10 * (i + 1), "loss": 0.5, "accuracy": v}
                    for i, v in enumerate(accuracy)
                ]
                result = RunResult(
                    status="ok",
                    metric="accuracy",
                    best_epoch=2,
                    best_step=20,
                    validation_metric=validation,
                    test={"mcc": 0.5},
                )
                curves.append(Curve(setting, "accuracy", rows, seed, validation, run_evidence(result, rows, seed)))
                layers.append(
                    Observation(
                        1,
                        setting.column,
                        "rsa",
                        (0.9 if method == "adapter" else 0.6) + (0.0 if lr == good[method] else -0.5) + 0.002 * seed,
                        validation,
                        seed=seed,
                    )
                )
    gap = overfitting_gap_table(curves, select)
    chosen = gap.cell("sst2", "adapter m=best lr=best")
    assert chosen.values == gap.cell("sst2", "adapter m=64 lr=0.001").values
    c6 = evaluate_claim(
        Claim.from_dict({"id": "C6", **paper_claims()["C6"]}), gap, "s", GateContext(gap, select=select)
    )
    # the fall: best minus the mean of the next 3 evaluations; edge: 2 rates each, the top chosen
    assert c6.value == pytest.approx(100 * (0.08 - 0.01), abs=0.01) and c6.gate == ["edge"], c6
    c1 = evaluate_claim(Claim.from_dict({"id": "C1", **paper_claims()["C1"]}), rsa_table(layers, select), "s")
    assert c1.verdict == "supported" and c1.value == pytest.approx(30, abs=1), c1


def test_c6_needs_a_tail_after_the_best():
    from adapterlab.report.curves import Curve, overfitting_gap_table

    curves = []
    for method in ("adapter", "finetune"):
        for seed in range(5):
            setting = Setting.from_labels(
                {"task": "sst2", "method": method, **({"adapter_size": 64} if method == "adapter" else {})}
            )
            accuracy = [0.7, 0.8, 0.79 - 0.001 * seed]  # one evaluation after the best
            rows = [
                {"split": "validation", "epoch": i + 1, "step": i + 1, "loss": 0.5, "accuracy": v}
                for i, v in enumerate(accuracy)
            ]
            result = RunResult(
                status="ok", metric="accuracy", best_epoch=2, best_step=2, validation_metric=0.8, test={"mcc": 0.5}
            )
            curves.append(Curve(setting, "accuracy", rows, seed, 0.8, run_evidence(result, rows, seed)))
    gap = overfitting_gap_table(curves, ())
    c6 = evaluate_claim(Claim.from_dict({"id": "C6", **paper_claims()["C6"]}), gap, "s", GateContext(gap))
    assert (
        c6.verdict == "no verdict"
        and c6.gate == ["no tail"]
        and "fewer than 3 evaluations after the best in 5 of 5 seeds" in c6.gates.text()
    )


def test_c6_leaves_out_the_seeds_without_a_tail_instead_of_counting_no_fall():
    """A run that stopped at its best has no measured fall: counted as 0 it would credit its method
    with not overfitting. C6 is measured on the seeds where both runs have 3 evaluations after the
    best, and says how many it left out; below half of the seeds the gate does not trip."""
    from adapterlab.report.curves import Curve, overfitting_gap_table

    curves = []
    for method, fall in (("adapter", 0.01), ("finetune", 0.03)):
        for seed in range(6):
            setting = Setting.from_labels(
                {"task": "sst2", "method": method, **({"adapter_size": 64} if method == "adapter" else {})}
            )
            stopped_at_best = method == "finetune" and seed < 2
            accuracy = [0.7, 0.8] if stopped_at_best else [0.7, 0.8] + [0.8 - fall - 0.001 * seed] * 3
            rows = [
                {"split": "validation", "epoch": i + 1, "step": i + 1, "loss": 0.5, "accuracy": v}
                for i, v in enumerate(accuracy)
            ]
            result = RunResult(
                status="ok", metric="accuracy", best_epoch=2, best_step=2, validation_metric=0.8, test={"mcc": 0.5}
            )
            curves.append(Curve(setting, "accuracy", rows, seed, 0.8, run_evidence(result, rows, seed)))
    gap = overfitting_gap_table(curves, ())
    c6 = evaluate_claim(Claim.from_dict({"id": "C6", **paper_claims()["C6"]}), gap, "s", GateContext(gap))
    # fine-tuning falls 3 points, adapters 1, on the 4 seeds with a tail: +2 (counting 0 for the two
    # that stopped at their best would have given 4/6 * 2 - 2/6 * 1 = +1)
    assert c6.n == 4 and c6.value == pytest.approx(2.0, abs=0.01) and not c6.gates.trips, c6
    assert "left out 2 seed(s) without 3 evaluations after the best" in c6.detail


def test_where_on_an_axis_only_one_method_varies():
    """by_method: {adapter: {tapt: [false, true]}}: fine-tuning's columns carry no tapt label, and
    `where: {tapt: false}` keeps them (C2 of the TAE replication spec)."""
    claim = dataclasses.replace(C2, where={"tapt": False})
    records = []
    for seed in range(4):
        records += [
            record("chemprot", "finetune", seed, 0.60 + 0.01 * seed),
            record("chemprot", "adapter", seed, 0.70 + 0.012 * seed, tapt=False),  # differences with spread
            record("chemprot", "adapter", seed, 0.50 + 0.01 * seed, tapt=True),
        ]
    result = evaluate_claim(claim, table_of(records), "s")
    assert result.verdict == "supported" and result.value == pytest.approx(10.3) and "tapt=False" in result.detail


def test_a_spread_claim_on_a_method_that_never_learned_gets_no_verdict():
    """Adapters at MCC 0 for every learning rate and seed have no spread because they never left
    the majority class; C5 must not count that as robustness."""
    claim = Claim.from_dict({"id": "C5", **paper_claims()["C5"]})
    records = []
    for lr in (2e-5, 6e-5, 1e-4):
        for seed in range(5):
            records += [
                record("cola", "adapter", seed, 0.0, lr=lr),
                record("cola", "finetune", seed, 0.1 * (lr * 1e4) + 0.01 * seed, lr=lr),
            ]
    result = evaluate_claim(claim, table_of(records), "s")
    assert (
        result.verdict == "no verdict"
        and result.gate == ["did not learn"]
        and "0.00 at every lr and seed" in result.gates.text()
    ), result


def test_significance_tests_are_gated_like_claims():
    """A study report's own verdict column: the selected comparison (top of both grids) says no
    verdict with the edge gate; a comparison of two fixed settings has no selection to gate."""
    from adapterlab.report.gates import gate_significance
    from adapterlab.report.grid import to_latex
    from adapterlab.report.page import Section, render_page
    from adapterlab.report.views import table_grids, table_markdown

    select = ("lr", "adapter_size")
    edge = {"adapter": [(1e-4, 0.0), (1e-3, 0.05)], "finetune": [(1e-4, 0.0), (1e-3, 0.05)]}
    table = pair_world(0.03, 0.002, rates=edge, select=select)
    gated = gate_significance(table, "main", GateContext(table, select=select))
    by_family = {t.family: t for t in gated.significance if t.task == "sst2"}
    assert by_family["selected"].verdict == "no verdict" and by_family["selected"].gate == ["edge"]
    fixed = [t for t in gated.significance if t.family == "per setting"]
    assert fixed and all(t.gate is None and t.verdict == "adapter better" for t in fixed)
    page = render_page("t", "", "", [Section("results", "Results", table_grids(gated, "main"))], [], "")
    latex = "\n".join(map(to_latex, table_grids(gated, "main")))
    for text in (table_markdown(gated), page, latex.replace("\\_", "_")):  # every format names both sides and the gate
        assert "lr 0.001 is the top of its grid" in text and "k=1000" not in text and "adapter m=best lr=best" in text
        assert "finetune lr=best" in text


def test_a_claim_the_study_does_not_test_says_why_in_its_row():
    """C3 needs a second training size and C7 a pretrained MLM head; a spec that cannot reach them
    says so (not_tested) and the claims table shows that row as not applicable with the reason,
    while a spec without the reason is refused (the grid has one train_size)."""
    records = [record("sst2", m, s, 0.5) for m in ("adapter", "finetune") for s in range(3)]
    reason = "needs the same design at k=3000"
    claims = resolve_claims(["C2", {"id": "C3", "not_tested": reason}])
    assert check_claims(["C2", {"id": "C3", "not_tested": reason}], "s") == []
    assert check_claims([{"id": "C3", "not_tested": 3}], "s") == ["s: claims[0].not_tested: must be a string"]
    assert check_claims([{"id": "C3", "not_tested": "  "}], "s") == [
        "s: claims[0].not_tested: must say why the study does not test the claim (it is empty)"
    ]
    results = evaluate_claims(claims, {"main": table_of(records)}, "s")
    assert (
        results[1].verdict == "not applicable"
        and results[1].detail == f"not tested by this study: {reason}"
        and results[1].p is None
    )


def test_a_users_words_in_a_cell_keep_the_markdown_row_whole():
    """A not_tested reason with a pipe or a line break: one row, one cell, as written."""
    from adapterlab.report.grid import Entry, Grid, to_markdown

    table = to_markdown(Grid("k", "t", "", ("claim", "detail"), ((Entry("C3"), Entry("needs k=3000 | or\nmore")),)))
    assert table.splitlines()[-1] == "| C3 | needs k=3000 \\| or more |"


def test_each_selected_cell_is_shown_at_its_runner_up_beside_the_row():
    """The row's number with each method at the rate second on validation: adapters at 1e-3
    (validation 4 points below 3e-4, test 4 points lower) turn +3 into -1; fine-tuning at 2e-5
    (a tie with 1e-4 goes to the first in column order, as the selection's own tie rule) turns it
    into +8. The verdict stays the row's own."""
    from adapterlab.report.claims_table import claims_json, claims_markdown

    select = ("lr", "adapter_size")
    rates = {
        "adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.01)],
        "finetune": [(2e-5, 0.0), (5e-5, 0.05), (1e-4, 0.0)],
    }
    table = pair_world(0.03, 0.002, rates=rates, select=select)
    (result,) = evaluate_claims([C2], {"main": table}, "s", context=GateContext(table, select=select))
    assert result.verdict == "supported" and result.value == pytest.approx(3.0, abs=0.01)
    by_column = {u.column.split()[0]: u for u in result.runner_ups}
    adapter, finetune = by_column["adapter"], by_column["finetune"]
    assert (adapter.chosen, adapter.runner_up) == ("m=64 lr=0.0003", "m=64 lr=0.001")
    assert adapter.validation_gap == pytest.approx(4.0) and adapter.value == pytest.approx(-1.0, abs=0.01)
    assert adapter.n == 5 and adapter.ci_low < adapter.value < adapter.ci_high
    assert (finetune.chosen, finetune.runner_up) == ("lr=5e-05", "lr=2e-05")
    assert finetune.validation_gap == pytest.approx(5.0) and finetune.value == pytest.approx(8.0, abs=0.01)
    assert "adapter m=best lr=best at m=64 lr=0.001 (validation 4.00 ± 0.00 below m=64 lr=0.0003): -1.00" in (
        claims_markdown([result])
    )
    assert claims_json([result])[0]["runner_ups"][0]["runner_up"] in ("m=64 lr=0.001", "lr=2e-05")


def test_no_runner_up_without_a_choice_or_where_the_runner_up_has_no_cell():
    plain = pair_world(0.03, 0.002)  # one setting per method: nothing was chosen
    (result,) = evaluate_claims([C2], {"main": plain}, "s", context=GateContext(plain))
    assert result.verdict == "supported" and result.runner_ups == ()
    select = ("lr", "adapter_size")
    rates = {"adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.01)], "finetune": [(2e-5, 0.0), (5e-5, 0.05), (1e-4, 0.0)]}
    table = pair_world(0.03, 0.002, rates=rates, select=select)
    runner_up = next(c for c in table.columns if c.labels().get("lr") == 1e-3 and c.labels()["method"] == "adapter")
    missing = dataclasses.replace(table, cells={k: v for k, v in table.cells.items() if k[1] != runner_up})
    (result,) = evaluate_claims([C2], {"main": missing}, "s", context=GateContext(table, select=select))
    assert [u.column.split()[0] for u in result.runner_ups] == ["finetune"]


RATES = {"adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.01)], "finetune": [(2e-5, 0.0), (5e-5, 0.05), (1e-4, 0.0)]}


def test_rows_that_choose_alike_with_different_gaps_get_their_runner_up():
    """A claim over two tasks whose validation gaps differ (4 and 8 points for the adapters): each
    row's cell is replaced by that row's runner-up, and the gap shown is the mean over the rows."""
    select = ("lr", "adapter_size")
    table = pair_world(0.03, 0.002, rates=RATES, select=select, tasks=("sst2", "cola"))
    (result,) = evaluate_claims([C2], {"main": table}, "s", context=GateContext(table, select=select))
    adapter = next(u for u in result.runner_ups if u.column.startswith("adapter"))
    assert adapter.runner_up == "m=64 lr=0.001" and adapter.validation_gap == pytest.approx(6.0)
    assert adapter.gap_se is None  # a mean over rows: no one seed-level error
    # over both rows: adapter -3 -4 (sst2: bonus 0.01 for 0.05) and -6 -8 (cola) against +3 and +3
    assert adapter.value == pytest.approx(100 * 0.03 + 100 * ((0.01 - 0.05) + (0.02 - 0.10)) / 2, abs=0.01)


def test_a_runner_up_that_trips_a_gate_says_so_and_every_row_claims_name_their_weakest_row():
    select = ("lr", "adapter_size")
    rates = {**RATES, "adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.01, 0.01)]}  # 1e-3: MCC 0.01
    table = pair_world(0.03, 0.002, rates=rates, select=select, tasks=("sst2", "cola"))
    every = Claim.from_dict(
        {
            "id": "mine",
            "text": "a beats b in every row",
            "kind": "every_row",
            "a": {"method": "adapter"},
            "b": {"method": "finetune"},
        }
    )
    (result,) = evaluate_claims([every], {"main": table}, "s", context=GateContext(table, select=select))
    adapter = next(u for u in result.runner_ups if u.column.startswith("adapter"))
    assert adapter.gates == ("did not learn",) and "trips did not learn" in adapter.text()
    # sst2: +3 - 4 = -1, cola: +3 - 8 = -5 at the runner-up
    assert adapter.rows == "weakest cola -5.00, 0 of 2 rows above 0" and adapter.value == pytest.approx(-5.0, abs=0.01)
    finetune = next(u for u in result.runner_ups if u.column.startswith("finetune"))
    assert finetune.gates == () and finetune.rows == "weakest sst2 +8.00, 2 of 2 rows above 0"


def test_a_tie_on_validation_and_a_runner_up_without_two_shared_seeds():
    select = ("lr", "adapter_size")
    tied = {**RATES, "adapter": [(1e-4, 0.0), (3e-4, 0.05), (1e-3, 0.05)]}  # 1e-3 ties 3e-4: 3e-4 is first
    table = pair_world(0.03, 0.002, rates=tied, select=select)
    (result,) = evaluate_claims([C2], {"main": table}, "s", context=GateContext(table, select=select))
    adapter = next(u for u in result.runner_ups if u.column.startswith("adapter"))
    assert (adapter.chosen, adapter.runner_up, adapter.validation_gap) == ("m=64 lr=0.0003", "m=64 lr=0.001", 0)
    assert "tied on validation with m=64 lr=0.0003" in adapter.text()
    runner_up = next(c for c in table.columns if c.labels().get("lr") == 1e-3 and c.labels()["method"] == "adapter")
    cell = table.cells[("sst2", runner_up)]
    one_seed = dataclasses.replace(cell, values=cell.values[:1], seeds=cell.seeds[:1], validation=cell.validation[:1])
    thin = dataclasses.replace(table, cells={**table.cells, ("sst2", runner_up): one_seed})
    (result,) = evaluate_claims([C2], {"main": thin}, "s", context=GateContext(thin, select=select))
    assert [u.column.split()[0] for u in result.runner_ups] == ["finetune"]  # 1 shared seed: nothing to describe


def test_an_unfinished_study_says_not_finished_where_its_finished_runs_cannot_test_a_claim(tiny_world, tmp_path):
    """A claim whose b side has no finished run yet is `not finished` with the count, not `not
    applicable` (which says the study could never test it); a finished study keeps the latter."""
    import shutil

    from studyworld import tiny_spec

    from adapterlab.report.build import assemble
    from adapterlab.study.executor import run_study
    from adapterlab.study.spec import expand_spec

    root, model = tiny_world
    spec = expand_spec({**tiny_spec(root, model, seeds=(0,)), "claims": ["C2"]})
    out = tmp_path / "study"
    run_study(spec, out, isolation="inline")
    for folder in out.glob("sst2/finetune*"):
        shutil.rmtree(folder)  # as if fine-tuning had not run yet
    (row,) = assemble(out).claims
    assert row.verdict == "not finished" and row.detail.startswith("1 of 2 planned runs finished; ")
    assert decide([row])[0].verdict == "not finished"  # kept when decided again in a larger family
