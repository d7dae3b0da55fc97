"""The self-validating study (policy/): convergence stopping recorded per run, grid bracketing
that grows until the validation-selected rate is interior (and resumes after a kill without
running anything twice), seeds added while a comparison is undecided, a budget, and the plan's
range. The grid tests train a fake model whose validation metric is a known function of the
learning rate, so the right answer is known; the convergence test trains the tiny BERT."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
from studyworld import spec_errors, tiny_spec, write_spec

from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.policy.run import run_policy_study
from adapterlab.recorded_config import run_fingerprints
from adapterlab.runs import CONFIG_FILE, MARKER_FILE, METRICS_FILE, RunResult, save_result, write_json_atomic
from adapterlab.study.extensions import load_extensions
from adapterlab.study.policy_spec import parse_duration
from adapterlab.study.spec import expand_spec


def fake_trainer(calls: list, best_lr: dict, gap: float = 0.0, noise: float = 0.002, stop_after: int | None = None):
    """A run_training stand-in: validation accuracy peaks at best_lr[method] (log scale), test =
    validation + gap for adapters; records what a real run records."""

    def run_training(config, run_dir, overwrite=False):
        run_dir = Path(run_dir)
        if stop_after is not None and len(calls) >= stop_after:
            raise KeyboardInterrupt  # the study is killed here
        calls.append(str(run_dir))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / MARKER_FILE).touch()
        write_json_atomic(
            run_dir / CONFIG_FILE, {**config.to_dict(), "fingerprints": run_fingerprints(config)}
        )  # as a real run: trusted on resume
        peak = 0.9 - 0.05 * abs(math.log10(config.learning_rate) - math.log10(best_lr[config.method]))
        wobble = noise * ((config.seed * 7919) % 11 - 5) / 5
        validation = peak + wobble
        own = 3 if config.method == "adapter" else 0  # each method its own test-set wobble per seed
        test = (
            validation
            + (gap if config.method == "adapter" else 0.0)
            + noise * ((config.seed * 104729 + own) % 7 - 3) / 3
        )
        rows = [
            {"split": "validation", "at": "epoch", "epoch": e, "step": 10 * e, "loss": 0.5, "accuracy": v}
            for e, v in enumerate((validation - 0.1, validation, validation - 0.01, validation - 0.02), start=1)
        ]
        (run_dir / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
        result = RunResult(
            status="ok",
            task=config.task,
            method=config.method,
            seed=config.seed,
            metric="accuracy",
            best_epoch=2,
            best_step=20,
            validation_metric=validation,
            test_metric=test,
            test={"accuracy": test, "mcc": 0.6},
            best_validation={"accuracy": validation},
            steps=40,
            wall_seconds=1.0,
            stop_reason="converged",
        )
        save_result(run_dir, result)
        return result

    return run_training


def grid_spec(root, model, lrs=(1e-4, 3e-4), policy_seeds=None):
    """Both methods on the same learning-rate grid, bracketed; 3 seeds, or the policy's seeds."""
    raw = tiny_spec(root, model, seeds=(0, 1, 2))
    raw["grid"] = {"method": ["adapter", "finetune"], **({} if policy_seeds else {"seed": [0, 1, 2]})}
    raw["by_method"] = {"adapter": {"lr": list(lrs), "adapter": {"size": 8}}, "finetune": {"lr": list(lrs)}}
    raw["report"] = {"select": ["lr", "adapter_size"]}
    raw["policy"] = {
        "bracket": {"lr": {"factor": 3, "max_points": 6}},
        **({"seeds": policy_seeds} if policy_seeds else {}),
    }
    return raw


def test_a_grid_whose_optimum_is_outside_grows_until_the_choice_is_interior(tiny_world, tmp_path, monkeypatch):
    root, model = tiny_world
    calls: list = []
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer(calls, {"adapter": 3e-3, "finetune": 1e-4}))
    spec = expand_spec(grid_spec(root, model))
    outcome = run_policy_study(spec, tmp_path / "s", isolation="inline")
    grown = [e for e in outcome.extensions if e.kind == "bracket"]
    adapter_rates = sorted(dict(e.labels)["lr"] for e in grown if dict(e.labels)["method"] == "adapter")
    finetune_rates = sorted(dict(e.labels)["lr"] for e in grown if dict(e.labels)["method"] == "finetune")
    assert adapter_rates == [9e-4, 2.7e-3, 8.1e-3]  # up from 3e-4 until 2.7e-3 (nearest 3e-3) is interior
    assert finetune_rates == [3.33333e-05]  # 1e-4 at the bottom: one step down makes it interior
    assert all(e.seeds == (0, 1, 2) for e in grown)  # every grown point for every seed
    assert len(calls) == len(set(calls)) == 2 * 2 * 3 + 4 * 3  # each run once
    from adapterlab.report.build import assemble

    main_table = assemble(tmp_path / "s").main
    chosen = {c.method: main_table.cell("sst2", c).selection.chosen.lr for c in main_table.columns if c.lr == "best"}
    assert chosen == {"adapter": 2.7e-3, "finetune": 1e-4}
    claims = [t for t in main_table.significance if t.family == "selected"]
    assert claims and not any("edge" in (t.gate or []) for t in claims)  # the edge gate no longer trips


def test_a_bracket_that_reaches_its_maximum_keeps_the_edge_gate(tiny_world, tmp_path, monkeypatch):
    root, model = tiny_world
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer([], {"adapter": 1.0, "finetune": 1e-4}))
    raw = grid_spec(root, model)
    raw["policy"]["bracket"]["lr"]["max_points"] = 3
    outcome = run_policy_study(expand_spec(raw), tmp_path / "s", isolation="inline")
    assert [dict(e.labels)["lr"] for e in outcome.extensions if dict(e.labels)["method"] == "adapter"] == [9e-4]
    from adapterlab.report.build import assemble

    tables = assemble(tmp_path / "s")
    test = next(t for t in tables.by_name()["main"].significance if t.family == "selected")
    assert "edge" in test.gate and any(
        "0.0009 is the top of its grid {0.0001, 0.0003, 0.0009}" in d for d in test.gate_detail
    )


def test_killed_mid_growth_and_resumed_it_grows_the_same_points_and_runs_nothing_twice(
    tiny_world, tmp_path, monkeypatch
):
    root, model = tiny_world
    spec = expand_spec(grid_spec(root, model))
    calls: list = []
    monkeypatch.setattr(
        "adapterlab.train.run.run_training", fake_trainer(calls, {"adapter": 3e-3, "finetune": 1e-4}, stop_after=14)
    )
    with pytest.raises(KeyboardInterrupt):
        run_policy_study(spec, tmp_path / "s", isolation="inline")
    first = load_extensions(tmp_path / "s")
    assert first and len(calls) == 14  # growth was decided and partly run
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer(calls, {"adapter": 3e-3, "finetune": 1e-4}))
    outcome = run_policy_study(spec, tmp_path / "s", isolation="inline")
    assert outcome.extensions[: len(first)] == first
    assert len(calls) == len(set(calls)) == 24  # the uninterrupted study's runs, each once
    uninterrupted: list = []
    monkeypatch.setattr(
        "adapterlab.train.run.run_training", fake_trainer(uninterrupted, {"adapter": 3e-3, "finetune": 1e-4})
    )
    again = run_policy_study(spec, tmp_path / "fresh", isolation="inline")
    assert [e.labels for e in again.extensions] == [e.labels for e in outcome.extensions]


@pytest.mark.parametrize("gap, expected_seeds", [(0.05, 6), (0.0, 12)])
def test_seeds_are_added_only_while_the_comparison_is_undecided(tiny_world, tmp_path, monkeypatch, gap, expected_seeds):
    """A clear gap is decided after one added seed (the anytime-valid test cannot reject at 5
    seeds: its smallest p there is 0.068); no difference with a large spread stays undecided and
    gets seeds up to the maximum (an equivalence inside ±1 point would need far more)."""
    root, model = tiny_world
    calls: list = []
    monkeypatch.setattr(
        "adapterlab.train.run.run_training",
        fake_trainer(calls, {"adapter": 3e-4, "finetune": 3e-4}, gap=gap, noise=0.02 if gap == 0 else 0.002),
    )
    raw = grid_spec(root, model, lrs=(1e-4, 3e-4, 1e-3), policy_seeds={"min": 5, "max": 12})
    raw["claims"] = ["C2"]
    out = tmp_path / "s"
    outcome = run_policy_study(expand_spec(raw), out, isolation="inline")
    from adapterlab.report.build import assemble

    (c2,) = assemble(out).claims
    assert c2.n == expected_seeds and c2.sequential
    if gap:
        assert c2.verdict == "supported" and {s for e in outcome.extensions if e.kind == "seeds" for s in e.seeds} == {
            5
        }
    else:
        assert c2.verdict == "inconclusive"
        added = [e for e in outcome.extensions if e.kind == "seeds"]
        assert {dict(e.labels)["lr"] for e in added} == {3e-4}  # only the chosen points get seeds
        assert sorted({s for e in added for s in e.seeds}) == list(range(5, 12))
    # the table says the row was decided sequentially; its CI is the anytime-valid one, wider than the t interval
    assert main(["claims", str(out)]) == 0


def test_seeds_for_a_claim_on_an_analysis_table_are_decided_after_that_analysis(tiny_world, tmp_path, monkeypatch):
    """C1 (RSA) and C4 (cross-lingual) are measured on tables `study analyze` makes: the policy
    runs the analyses over the finished runs before it decides seeds, or such a claim would get
    none and its family would be smaller than the report's. A study without such claims does not."""
    root, model = tiny_world
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer([], {"adapter": 3e-4, "finetune": 3e-4}))
    analyzed: list = []
    monkeypatch.setattr(
        "adapterlab.policy.run.analyze_study",
        lambda out, progress, say, skip_unweighted: analyzed.append(len(list(out.rglob("result.json")))),
    )
    raw = grid_spec(root, model, lrs=(1e-4, 3e-4, 1e-3), policy_seeds={"min": 3, "max": 4})
    raw["by_method"]["finetune"]["save_model"] = True
    raw["analysis"] = {"rsa": {"task": "sst2", "data": str(root / "dev.tsv"), "n": 100, "max_length": 32}}
    raw["claims"] = ["C1", "C2"]
    run_policy_study(expand_spec(raw), tmp_path / "with", isolation="inline")
    # before each decision on seeds, over the runs finished by then (C2 got its 4th seed in between)
    assert analyzed == [2 * 3 * 3, 2 * 3 * 3 + 2]
    raw["claims"] = ["C2", {"id": "C1", "not_tested": "no RSA here"}]
    run_policy_study(expand_spec(raw), tmp_path / "without", isolation="inline")
    assert analyzed == [2 * 3 * 3, 2 * 3 * 3 + 2]
    # runs without weights (records resumed elsewhere; here the fake trainer saves none) are left
    # out of the policy's look and said, instead of stopping the study
    monkeypatch.undo()
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer([], {"adapter": 3e-4, "finetune": 3e-4}))
    raw["claims"] = ["C1", "C2"]
    said: list = []
    run_policy_study(expand_spec(raw), tmp_path / "unweighted", isolation="inline", say=said.append)
    assert any(line.startswith("RSA: left out 18 finished runs with neither weights nor rows") for line in said)
    assert not (tmp_path / "unweighted" / "analysis" / "rsa" / "rsa.csv").exists()


def test_a_budget_starts_no_run_that_would_not_finish(tiny_world, tmp_path, monkeypatch, capsys):
    root, model = tiny_world
    calls: list = []
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer(calls, {"adapter": 3e-4, "finetune": 3e-4}))
    monkeypatch.setattr(
        "adapterlab.policy.run.run_estimates",
        lambda spec, out, probes, progress=None: {r.relative_dir: 3600.0 for r in spec.runs},
    )
    path = write_spec(tmp_path / "spec.yaml", grid_spec(root, model))
    code = main(
        ["study", "run", str(path), "--out", str(tmp_path / "s"), "--inline", "--budget", "30m", "--no-progress"]
    )
    assert code == 3 and calls == []
    assert "budget: 12 run(s) would not finish in the time left and did not start" in capsys.readouterr().out
    assert parse_duration("1h30m") == 5400 and parse_duration(90) == 90
    assert parse_duration("90") == 90  # a plain number on the command line is seconds, as in a spec
    with pytest.raises(AdapterlabError, match="budget '0': must be longer than 0 seconds"):
        parse_duration("0")
    with pytest.raises(AdapterlabError, match="budget 'soon': expected a duration"):
        parse_duration("soon")


def test_the_specs_budget_bounds_all_sittings_together(tiny_world, tmp_path, monkeypatch, capsys):
    """policy.budget is the study's, not each sitting's (issue #28: "within a stated budget per
    spec"): DIR/sittings/ records each invocation's wall time. A study that has used 1.5 h of a 2 h
    budget starts no 1 h run and says that no run fits, with a command that goes on; one that has
    used all of it starts nothing, times nothing and records no sitting; --budget gives one
    sitting its own limit. A damaged record is named, never read as time unused."""
    import shutil
    import time

    from adapterlab.report.study_console import budget_line
    from adapterlab.study.sittings import SITTINGS_DIR, BudgetUse, load_ledger

    root, model = tiny_world
    calls: list = []
    timed: list = []
    monkeypatch.setattr("adapterlab.train.run.run_training", fake_trainer(calls, {"adapter": 3e-4, "finetune": 3e-4}))

    def estimates(spec, out, probes, progress=None):
        timed.append(len(spec.runs))
        return {r.relative_dir: 3600.0 for r in spec.runs}

    monkeypatch.setattr("adapterlab.policy.run.run_estimates", estimates)
    raw = grid_spec(root, model)
    raw["policy"]["budget"] = "2h"
    path = write_spec(tmp_path / "spec.yaml", raw)
    out = tmp_path / "s"
    command = ["study", "run", str(path), "--out", str(out), "--inline", "--no-progress"]

    def earlier_sitting(hours_used: float) -> None:  # an earlier sitting of the study, ended 10 min ago
        shutil.rmtree(out / SITTINGS_DIR, ignore_errors=True)
        (out / SITTINGS_DIR).mkdir()
        end = time.time() - 600
        record = {"started": end - hours_used * 3600, "last": end, "workers": 2, "budget_seconds": 7200.0}
        write_json_atomic(out / SITTINGS_DIR / "earlier.json", {**record, "budget_from": "spec"})

    assert main([*command, "--budget", "1s"]) == 3 and calls == []  # the study folder, no run yet
    capsys.readouterr()
    earlier_sitting(1.5)
    assert main(command) == 3 and calls == []
    printed = capsys.readouterr().out
    assert "budget: 12 run(s) would not finish in the time left and did not start" in printed, printed
    assert ": 1.5 h of the spec's policy.budget of 2.0 h is used over 2 sitting(s)" in printed, printed
    assert "the shortest run left needs about 60 min, more than the 30 min left of it: pass --budget" in printed
    assert "the spec's policy.budget has no room for it: --budget gives a sitting its own limit" in printed
    assert printed.rstrip().endswith("--inline --budget 12h"), printed  # 12 runs left at 1 h each
    ledger = load_ledger(out)
    assert len(ledger.sittings) == 2 and ledger.sittings[1].budget_from == "spec"
    assert ledger.sittings[1].budget_seconds == pytest.approx(1800, abs=60)  # what was left of the 2 h
    # where a run fits in what is left, running again goes on
    room = budget_line(["t/a/seed=0"], BudgetUse("spec", 1800.0, 1200.0, 2400.0), 7200.0, out)
    assert room.endswith("run the same command again to go on with what is left of it"), room
    earlier_sitting(2.5)
    timed.clear()
    assert main(command) == 3 and calls == [] and timed == []  # spent: nothing timed
    printed = capsys.readouterr().out
    assert "; it is spent: pass --budget to give a further sitting its own limit" in printed, printed
    assert len(load_ledger(out).sittings) == 1  # and no sitting recorded for it
    assert main([*command, "--budget", "24h"]) == 0 and len(calls) >= 12  # its own limit, not the spec's
    assert load_ledger(out).sittings[-1].budget_from == "--budget"
    assert main(["study", "status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "budget: 2.5 h of the spec's policy.budget of 2.0 h used in 2 sitting(s) (spent)" in shown, shown
    (out / SITTINGS_DIR / "earlier.json").write_text('{"started": ')  # damaged: named, never read as unused
    assert main(command) == 2
    assert f"{out / SITTINGS_DIR / 'earlier.json'}: not a sitting's record" in capsys.readouterr().err


@pytest.mark.parametrize(
    "record, why",
    [
        ({"started": True, "last": 1e9}, "must be Unix times (numbers)"),
        ({"started": 0, "last": float("inf")}, "are not an interval of Unix times"),
        ({"started": 10**400, "last": 10**400}, "not numbers that large"),
        ({"started": 100.0, "last": 50.0}, "are not an interval of Unix times"),
        ({"started": 100.0, "last": 4e9}, "is in the future"),
        ({"started": 100.0}, "missing 1 required positional argument"),
        ([1, 2], "AttributeError"),
    ],
)
def test_a_sittings_record_that_is_no_interval_of_unix_times_is_named(tmp_path, record, why):
    """A record a person edited or a clock set wrong would spend or refund the budget for good:
    each is one error naming the file and why."""
    from adapterlab.study.sittings import SITTINGS_DIR, load_ledger

    (tmp_path / SITTINGS_DIR).mkdir()
    base = {"workers": 1, "budget_seconds": None, "budget_from": None}
    path = tmp_path / SITTINGS_DIR / "x.json"
    text = json.dumps({**base, **record} if isinstance(record, dict) else record)
    path.write_text(text.replace("Infinity", "1e400"))  # as a hand edit would write it
    with pytest.raises(AdapterlabError, match="not a sitting's record") as err:
        load_ledger(tmp_path)
    assert str(path) in str(err.value) and why in str(err.value), str(err.value)


def test_the_ledger_counts_overlaps_once_in_any_order_and_a_live_sitting_up_to_now():

    from adapterlab.study.sittings import Ledger, Sitting

    parts = [Sitting(200, 210, 1, None, None), Sitting(50, 150, 1, None, None), Sitting(0, 100, 1, None, None)]
    assert Ledger(tuple(parts)).seconds == 160  # unsorted, overlapping, with a gap
    assert Ledger((Sitting(0, 100, 1, None, None), Sitting(10, 20, 1, None, None))).seconds == 100  # nested


def test_a_concurrent_sitting_counts_a_live_one_up_to_now(tmp_path):
    """Two `study run` at once: the second counts the first's time up to now, not to its last
    heartbeat (up to 30 s earlier), while its process runs. A sitting that ended, was killed, ran
    on another machine, or whose pid now belongs to a later process (a copied record) counts to
    its last record, however recent (up to now, it charged a prompt rerun for the idle gap)."""
    import socket
    import subprocess
    import sys
    import time

    from adapterlab.study.sittings import SITTINGS_DIR, load_ledger

    (tmp_path / SITTINGS_DIR).mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # the other `study run`
    try:
        time.sleep(2.5)  # its sitting starts after its process
        started = time.time() - 0.5
        record = {"started": started, "last": started + 0.1, "workers": 1, "budget_seconds": None}
        here = {"budget_from": None, "pid": other.pid, "host": socket.gethostname()}
        write_json_atomic(tmp_path / SITTINGS_DIR / "live.json", {**record, **here})
        time.sleep(0.5)
        assert load_ledger(tmp_path).seconds == pytest.approx(time.time() - started, abs=0.3)  # alive: to now
        write_json_atomic(tmp_path / SITTINGS_DIR / "live.json", {**record, **here, "host": "elsewhere"})
        assert load_ledger(tmp_path).seconds == pytest.approx(0.1)  # another machine's: its last record
        copied = {**record, "started": started - 3600, "last": started - 3599.9}  # before this pid's process began
        write_json_atomic(tmp_path / SITTINGS_DIR / "live.json", {**copied, **here})
        assert load_ledger(tmp_path).seconds == pytest.approx(0.1)
    finally:
        other.kill()
        other.wait()
    write_json_atomic(tmp_path / SITTINGS_DIR / "live.json", {**record, **here})  # killed: its last heartbeat
    assert load_ledger(tmp_path).seconds == pytest.approx(0.1)
    write_json_atomic(tmp_path / SITTINGS_DIR / "live.json", {**record, **here, "pid": None})  # ended
    assert load_ledger(tmp_path).seconds == pytest.approx(0.1)


def test_status_says_wall_time_without_a_budget_and_an_older_folder_has_no_sittings(tiny_world, tmp_path, capsys):
    """A study without policy.budget (a `compare` study) shows its wall time, not a budget; a
    folder an older adapterlab ran says that the spec's budget counts from the next sitting."""
    from adapterlab.report.study_console import sittings_lines
    from adapterlab.study.sittings import SITTINGS_DIR

    (tmp_path / SITTINGS_DIR).mkdir()
    now = __import__("time").time()
    record = {
        "started": now - 900,
        "last": now - 300,
        "workers": 1,
        "budget_seconds": 1800.0,
        "budget_from": "--budget",
    }
    write_json_atomic(tmp_path / SITTINGS_DIR / "a.json", record)
    assert sittings_lines(tmp_path, None, 3) == ["wall time: 10 min in 1 sitting(s)"]
    assert sittings_lines(tmp_path, 3600.0, 3) == [
        "budget: 10 min of the spec's policy.budget of 60 min used in 1 sitting(s) (50 min left)"
    ]
    older = tmp_path / "older"
    older.mkdir()
    assert sittings_lines(older, 3600.0, 5)[0].startswith("budget: no sitting recorded (an older adapterlab, or a copy")
    assert sittings_lines(older, 3600.0, 0) == [] and sittings_lines(older, None, 5) == []


def test_a_sitting_is_counted_up_to_its_last_heartbeat_when_killed(tmp_path, monkeypatch):
    """A killed invocation cannot write its end: a heartbeat moves `last` while it runs, so the
    time it used is counted to within one heartbeat. Runs finished before the first recorded
    sitting (an older adapterlab) are said to be unrecorded."""
    import time

    from adapterlab.study import sittings as sittings_module

    monkeypatch.setattr(sittings_module, "HEARTBEAT_SECONDS", 0.05)
    out = tmp_path / "s"
    (out / "t" / "a" / "seed=0").mkdir(parents=True)
    (out / "t" / "a" / "seed=0" / "result.json").write_text("{}")
    with sittings_module.sitting(out, 1, None, None):
        time.sleep(0.4)
        inside = sittings_module.load_ledger(out)  # what a kill here would leave
    assert inside.seconds >= 0.25 and inside.unrecorded_before
    assert sittings_module.load_ledger(out).seconds >= 0.4
    with sittings_module.sitting(out, 1, None, None):  # a later sitting is not the first
        pass
    assert [s.unrecorded_before for s in sittings_module.load_ledger(out).sittings] == [True, False]


def test_the_policy_block_is_checked(tiny_world):
    root, model = tiny_world
    raw = grid_spec(root, model)
    raw["policy"] = {
        "bracket": {"lr": {"factor": 1}, "lora_r": {"values": [4]}},
        "seeds": {"min": 2, "max": 1},
        "convergence": {"patience": 0},
        "budget": "later",
        "colour": 1,
    }
    raw["report"] = {"select": ["adapter_size"]}
    errors = "\n".join(spec_errors(raw))
    for expected in (
        "policy.colour: unknown field",
        "policy.convergence.patience=0: must be an integer >= 1",
        "policy.bracket.lr: lr is not chosen on validation; add it to report.select",
        "policy.bracket.lr.factor=1: must be a number > 1",
        "policy.bracket.lora_r: no grid varies lora_r",
        "policy.bracket.lora_r.values: must be a list of at least two numbers",
        "policy.seeds.min=2: must be an integer >= 3",
        "policy.seeds decides the seeds",
        "policy.budget 'later'",
    ):
        assert expected in errors, expected


def test_convergence_stopping_is_a_study_policy_and_each_run_records_why_it_stopped(tiny_world, tmp_path, monkeypatch):
    """The tiny BERT: with patience 1 and a ceiling of 6 epochs a run stops when validation stops
    improving (converged); without the policy it runs to the ceiling and records its last epoch's gain."""
    from adapterlab.study.executor import run_study

    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,), extra_base={"epochs": 6})
    # the tiny BERT stays at the majority class on this toy sample, where convergence stopping
    # waits (tested with real runs in train/test_train_scale.py); here the policy's plumbing is tested
    monkeypatch.setattr("adapterlab.train.loop.left_chance", lambda metrics: True)
    monkeypatch.setattr("adapterlab.study.stale.left_chance", lambda metrics: True)  # nor are its records stale
    # no accuracy gain can exceed 0.5: stops at the 2nd evaluation, or later when min_epochs says so
    raw["policy"] = {"convergence": {"patience": 1, "min_delta": 0.5, "min_epochs": 0}}
    spec = expand_spec(raw)
    assert {r.config.early_stop for r in spec.runs} == {1} and {r.config.early_stop_min_delta for r in spec.runs} == {
        0.5
    }
    run_study(spec, tmp_path / "s", isolation="inline")
    results = [json.loads(p.read_text()) for p in (tmp_path / "s").rglob("result.json")]
    assert {r["stop_reason"] for r in results} == {"converged"} and {r["stopped_early"]["epoch"] for r in results} == {
        2
    }
    # each run records the steps its ceiling allowed; the cost table says what stopping saved
    assert all(r["ceiling_steps"] == 3 * r["steps"] for r in results)
    from adapterlab.report.build import collect
    from adapterlab.report.cost import cost_grid

    cost = cost_grid(collect(tmp_path / "s")[1])
    share = cost.header.index("training steps of the ceiling")
    assert cost.rows[-1][0].text == "all methods" and cost.rows[-1][share].text.startswith("33% of ")
    raw["policy"]["convergence"]["min_epochs"] = 4  # a slow start is not convergence: no stop before epoch 4
    run_study(expand_spec(raw), tmp_path / "w", isolation="inline")
    results = [json.loads(p.read_text()) for p in (tmp_path / "w").rglob("result.json")]
    assert {r["stop_reason"] for r in results} == {"converged"} and {r["stopped_early"]["epoch"] for r in results} == {
        4
    }
    plain = expand_spec(tiny_spec(root, model, seeds=(0,), extra_base={"epochs": 2}))
    run_study(plain, tmp_path / "p", isolation="inline")
    results = [json.loads(p.read_text()) for p in (tmp_path / "p").rglob("result.json")]
    assert {r["stop_reason"] for r in results} == {"ceiling"} and all(
        isinstance(r["last_epoch_gain"], float) for r in results
    )


def test_study_plan_gives_the_range_of_a_bracketed_sequential_spec(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    raw = grid_spec(root, model, policy_seeds={"min": 3, "max": 6})
    raw["policy"]["budget"] = "2h"
    path = write_spec(tmp_path / "spec.yaml", raw)
    assert main(["study", "plan", str(path), "--probe-steps", "1"]) == 0
    out = capsys.readouterr().out
    # 12 runs at first, at least one more lr value per 2-rate line (18); at most 4 more lr values per
    # line (2 lines) for 3 seeds, and 3 more seeds for the 2 chosen points (42)
    assert "under its policy: from 18 runs" in out and "to 42 runs" in out and "budget: 2.0 h" in out
    assert "each selected group's chosen point at the maximum seeds" in out
    # without a seeds policy no seeds are added, whatever the claims compare
    from adapterlab.report.study_console import policy_range_line

    bracket_only = dataclasses.replace(expand_spec(grid_spec(root, model)), claims=["C5"])
    line = policy_range_line(bracket_only, (1.0, 2.0, 12, 20))
    assert "every bracketed grid grown to its maximum)" in line and "seeds" not in line.split("(")[2], line


def test_the_most_a_spec_with_claims_can_cost_grows_every_cell_to_the_maximum_seeds(tiny_world):
    """The sequential rule extends every cell an undecided claim compares, and C5 compares every
    rate of the grid (the SST-2 replication ran 80 runs where the bound once said 60): then the
    bound takes every cell, grown points included, to seeds.max; claims that compare each
    method's choice (C2) take the chosen points only."""
    import dataclasses

    from adapterlab.policy.budget import cost_range

    root, model = tiny_world
    spec = expand_spec(grid_spec(root, model, policy_seeds={"min": 3, "max": 6}))
    seconds = {run.relative_dir: (2.0 if run.config.method == "finetune" else 1.0) for run in spec.runs}
    # 4 cells x 3 seeds; 4 grown points per line x 3 seeds; 3 more seeds for the 2 chosen points
    # fewest: each 2-rate line has no interior, so it grows once (3 seeds: adapter 1 s, finetune 2 s)
    assert cost_range(spec, seconds) == (18.0 + 9.0, 18.0 + 36.0 + 9.0, 12 + 6, 12 + 24 + 6)
    with_claims = dataclasses.replace(spec, claims=["C5"])
    # 3 more seeds for all 12 cells (4 of the grid, 8 grown)
    assert cost_range(with_claims, seconds) == (27.0, 18.0 + 36.0 + 3 * 18.0, 18, 12 + 24 + 36)
    # C2 compares each method at its choice: the 2 chosen points only, as without claims
    chosen = dataclasses.replace(spec, claims=["C2"])
    assert cost_range(chosen, seconds) == cost_range(spec, seconds)
    # a claim naming a learning rate compares that cell, chosen or not: every cell
    named = dataclasses.replace(spec, claims=[{"id": "C2", "a": {"method": "adapter", "lr": 1e-3}}])
    assert cost_range(named, seconds) == cost_range(with_claims, seconds)
    # so does one restricted to a rate by `where`, beside C2 (two cells per method extended)
    low_rate = {
        "id": "C2-low",
        "text": "at 1e-4",
        "kind": "difference",
        "a": {"method": "adapter"},
        "b": {"method": "finetune"},
    }
    where = dataclasses.replace(spec, claims=["C2", {**low_rate, "where": {"lr": 1e-4}}])
    assert cost_range(where, seconds) == cost_range(with_claims, seconds)
    # claims none of which this study tests (C7 here): no seeds added at all
    untested = dataclasses.replace(spec, claims=[{"id": "C7", "not_tested": "no MLM head"}])
    assert cost_range(untested, seconds) == (27.0, 18.0 + 36.0, 18, 12 + 24)
    # a line of one rate is its own top and bottom: one step adds a rate each way, 3 even at max_points 2
    raw = grid_spec(root, model, lrs=(1e-4,), policy_seeds={"min": 3, "max": 3})
    raw["policy"]["bracket"]["lr"]["max_points"] = 2
    single = expand_spec(raw)
    # ... and it always does: its fewest is its most here
    assert cost_range(single, dict.fromkeys((r.relative_dir for r in single.runs), 1.0))[2:] == (
        6 + 2 * 2 * 3,
        6 + 2 * 2 * 3,
    )
    # two bracketed axes grow each other's lines: no fixed most
    raw = grid_spec(root, model, policy_seeds={"min": 3, "max": 6})
    raw["by_method"]["adapter"].pop("adapter")
    raw["grid"]["adapter_size"] = [8]
    raw["policy"]["bracket"]["adapter_size"] = {"values": [4, 8, 16], "max_points": 3}
    both = expand_spec(raw)
    assert cost_range(both, dict.fromkeys((r.relative_dir for r in both.runs), 1.0))[1::2] == (None, None)


def test_nothing_is_added_while_runs_of_the_grid_have_failed(tiny_world, tmp_path, monkeypatch):
    # PAN-X: fine-tuning at 3e-4 failed on a full disk, and bracketing read {3e-5, 1e-4} as the
    # whole grid: 1e-4 "at the top" and 3e-4 "added". A grid with holes decides nothing.
    root, model = tiny_world
    calls: list = []
    working = fake_trainer(calls, {"adapter": 3e-3, "finetune": 1e-4})

    def disk_full_at_3e4(config, run_dir, overwrite=False):
        if config.method == "finetune" and config.learning_rate == 3e-4:
            raise AdapterlabError(f"{run_dir}/checkpoint: cannot be written (No space left on device)")
        return working(config, run_dir, overwrite)

    monkeypatch.setattr("adapterlab.train.run.run_training", disk_full_at_3e4)
    spec = expand_spec(grid_spec(root, model))
    said: list = []
    outcome = run_policy_study(spec, tmp_path / "s", isolation="inline", say=said.append)
    assert outcome.extensions == [] and load_extensions(tmp_path / "s") == []
    assert any("3 run(s) failed" in line and "--retry-failed" in line for line in said), said
    # rerun: the grid is whole, and the policy grows it as it would have
    monkeypatch.setattr("adapterlab.train.run.run_training", working)
    outcome = run_policy_study(spec, tmp_path / "s", isolation="inline", retry_failed=True)
    grown = {(dict(e.labels)["method"], dict(e.labels)["lr"]) for e in outcome.extensions if e.kind == "bracket"}
    assert ("finetune", 3.33333e-05) in grown and ("finetune", 3e-4) not in grown


def test_ray_refuses_a_policy_it_does_not_carry_out(tiny_world, tmp_path, capsys):
    """On Ray no sitting is recorded and no budget kept: a spec with policy.budget (or a bracket)
    is refused in one line before anything runs, rather than run without it."""
    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,))
    raw["policy"] = {"budget": "1h"}
    path = write_spec(tmp_path / "spec.yaml", raw)
    assert main(["study", "run", str(path), "--out", str(tmp_path / "s"), "--executor", "ray", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "a spec's policy (bracket, seeds, budget) work with the local executor" in err, err
    assert not (tmp_path / "s" / "sittings").exists()
