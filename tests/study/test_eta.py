"""`study status`'s ETA: each run left priced at its own setting's pace and ceiling, never at
another method's; running runs by their steps left; settings with no pace said to be unpriced."""

import json

import pytest

from adapterlab.report.study_console import eta_line
from adapterlab.runs import RunResult
from adapterlab.setting import Setting
from adapterlab.study import eta as eta_module
from adapterlab.study.eta import remaining_time
from adapterlab.study.folder import RunState
from adapterlab.study.progress import RunProgress
from adapterlab.study.spec import PlannedRun


@pytest.fixture(autouse=True)
def no_startup(monkeypatch):
    """The pace arithmetic alone; the start-up allowance has a test of its own."""
    monkeypatch.setattr(eta_module, "STARTUP_SECONDS", 0.0)


def state(method, lr, seed, status="pending", seconds=None, steps=None, ceiling=None, stop="ceiling", **fields):
    setting = Setting.from_labels({"task": "chemprot", "method": method, "lr": lr})
    run = PlannedRun(setting, seed, None, setting.folder_name(lr, 1000))
    result = None
    if status in ("ok", "diverged", "failed"):
        result = RunResult(status, wall_seconds=seconds, steps=steps, ceiling_steps=ceiling, stop_reason=stop, **fields)
    return RunState(run, status, result)


def test_each_run_left_is_priced_at_its_own_settings_pace_not_the_studys_mean(tmp_path, monkeypatch):
    """Adapters at 1 s/step and fine-tuning at 3 s/step (ChemProt on 2 cores): a pending
    fine-tuning run costs 3 s per ceiling step whatever the learning rate, a running one its steps
    left at its own pace. The old ETA (runs left x mean run time) said 96 min where 5 h were left."""
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [RunProgress("chemprot/finetune-lr0.0001-k1000/seed=1", 100, 640, 3.5)],
    )
    states = [
        state("adapter", 1e-3, 0, "ok", seconds=640.0, steps=640, ceiling=640),
        state(
            "adapter", 1e-3, 1, "ok", seconds=300.0, steps=300, ceiling=640, stop="converged"
        ),  # stopped early: its ceiling still counts
        state("finetune", 1e-4, 0, "ok", seconds=1920.0, steps=640, ceiling=640),
        state("finetune", 1e-4, 1, "running"),
        state("finetune", 3e-4, 0, "pending"),  # another rate: the same pace and ceiling
        state("adapter", 3e-3, 0, "pending"),
    ]
    eta = remaining_time(states, tmp_path)
    assert eta.runs == 3 and eta.training == 1 and eta.unpriced_runs == 0
    assert eta.seconds == pytest.approx((640 - 100) * 3.0 + 640 * 3.0 + 640 * 1.0)
    assert eta_line(eta).startswith("ETA: 70 min of run time for 3 run(s) left if none stops before its ceiling")


def test_a_setting_with_no_pace_is_unpriced_and_a_running_runs_own_pace_prices_it(tmp_path, monkeypatch):
    states = [state("adapter", 1e-3, 0, "ok", seconds=640.0, steps=640, ceiling=640)]
    states += [state("finetune", 1e-4, seed, "running") for seed in (0, 1)] + [state("finetune", 1e-4, 2)]
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [
            RunProgress("chemprot/finetune-lr0.0001-k1000/seed=0", 200, 640, None),  # an older writer: no pace
            RunProgress("chemprot/finetune-lr0.0001-k1000/seed=1", 200, 640, None),
        ],
    )
    eta = remaining_time(states, tmp_path)
    assert (eta.runs, eta.unpriced_runs, eta.unpriced) == (0, 3, ("finetune on chemprot",))
    assert eta_line(eta) == "3 run(s) not priced: finetune on chemprot has no recorded pace yet"
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [
            RunProgress("chemprot/finetune-lr0.0001-k1000/seed=0", 200, 640, 3.0),
            RunProgress("chemprot/finetune-lr0.0001-k1000/seed=1", 100, 640, 3.2),
        ],
    )
    eta = remaining_time(states, tmp_path)
    pace = (3.0 + 3.2) / 2
    assert eta.unpriced_runs == 0 and eta.seconds == pytest.approx(440 * pace + 540 * pace + 640 * pace)
    assert "with 2 runs training at once as now" in eta_line(eta)
    assert remaining_time(states[:1], tmp_path) is None  # nothing left


def test_the_progress_file_carries_this_processs_pace(tmp_path, monkeypatch):
    """Counted from this process's first step, so a resumed run's earlier steps do not make it
    look fast."""
    from adapterlab.train import run as run_module

    clock = iter([100.0, 101.0, 130.0])
    monkeypatch.setattr(run_module.time, "monotonic", lambda: next(clock))
    write = run_module._progress_writer(tmp_path, every=2.0)
    write(300, 640)  # resumed at step 300: no pace yet
    assert json.loads((tmp_path / "progress.json").read_text()) == {"step": 300, "steps": 640, "seconds_per_step": None}
    write(301, 640)  # within `every`: not written
    write(310, 640)
    assert json.loads((tmp_path / "progress.json").read_text())["seconds_per_step"] == pytest.approx(3.0)


def test_the_pace_counts_only_the_steps_the_last_process_took_and_only_runs_that_finished_ok():
    """A resumed run's wall time covers the steps after its checkpoint (a run resumed at step 256
    of 272 read as 0.38 s/step against 3.08); a diverged run stops after a few steps, so its
    start-up would read as a slow pace; TAPT's steps count with the task's."""
    from adapterlab.study.eta import pace_of

    assert pace_of(RunResult("ok", wall_seconds=48.0, steps=272, resumed_from={"epoch": 8, "step": 256})) == 3.0
    assert pace_of(RunResult("diverged", wall_seconds=45.0, steps=5)) is None
    assert pace_of(RunResult("ok", wall_seconds=1150.0, steps=128, tapt={"steps": 128})) == pytest.approx(1150 / 256)
    # resumed in its task phase, or starting from a TAPT phase an earlier process finished: TAPT's
    # steps took no time here (rep_v1 tae_tapt seed 4 read 0.72 s/step against 2.9-7.8)
    resumed = RunResult("ok", wall_seconds=114.7, steps=128, resumed_from={"step": 96}, tapt={"steps": 128})
    assert pace_of(resumed) == pytest.approx(114.7 / 32)
    reused = RunResult("ok", wall_seconds=500.0, steps=500, tapt={"steps": 300, "reused": True})
    assert pace_of(reused) == pytest.approx(1.0)


def test_old_records_and_the_plan_give_ceilings_and_dead_or_died_runs_are_counted_right(tmp_path, monkeypatch):
    """Records before ceiling_steps: a run without an early stop ran to its ceiling. The plan's
    ceiling wins where it is known. A dead worker's leftover progress file is no run training; a
    died run reruns on resume, so it is left."""
    old = RunResult("ok", wall_seconds=100.0, steps=50)  # no stop_reason, no ceiling_steps, no early stop
    states = [state("adapter", 1e-3, 0, "ok", seconds=100.0, steps=50, stop=None)]
    states[0] = RunState(states[0].run, "ok", old)
    states += [state("adapter", 1e-3, 1), state("adapter", 1e-3, 2, "failed", reason="died")]
    monkeypatch.setattr(
        eta_module, "running_progress", lambda out: [RunProgress("chemprot/adapter-lr0.001-k1000/seed=1", 10, 50, 9.0)]
    )
    eta = remaining_time(states, tmp_path)  # seed 1's progress file is a dead worker's: it is pending
    assert (eta.runs, eta.training, eta.seconds) == (2, 0, pytest.approx(2 * 50 * 2.0))
    eta = remaining_time(states, tmp_path, {"chemprot/adapter-lr0.001-k1000/seed=1": 80})
    assert eta.seconds == pytest.approx(80 * 2.0 + 50 * 2.0)


def test_planned_ceilings_come_from_each_runs_k_and_never_read_a_training_file(tmp_path):
    """A run on its whole training file is left to the records: a file not here would read as the
    published dataset's size (SST-2: 6315 steps where the runs took 40), and one that is here
    would be read on every `study status`."""
    from adapterlab.study.eta import planned_ceilings

    config = {"task": "sst2", "train": str(tmp_path / "absent.tsv"), "train_size": 100, "batch_size": 32, "epochs": 3}
    whole_file = {**config, "train_size": None}
    ceilings = planned_ceilings(
        {
            "sst2/a/seed=0": config,
            "sst2/a/seed=1": None,
            "sst2/b/seed=0": {**config, "tapt": True, "tapt_epochs": 2},
            "sst2/c/seed=0": whole_file,
        }
    )
    assert ceilings == {"sst2/a/seed=0": 4 * 3, "sst2/b/seed=0": 4 * 3 + 4 * 2}


def test_a_run_starting_or_in_tapt_counts_as_training_at_its_ceiling(tmp_path, monkeypatch):
    """A run holding its claim but with no progress file yet (start-up, TAPT) is one of the runs
    training at once, priced at its ceiling."""
    states = [state("adapter", 1e-3, 0, "ok", seconds=640.0, steps=640, ceiling=640)]
    states += [state("adapter", 1e-3, 1, "running"), state("adapter", 1e-3, 2, "running")]
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [RunProgress("chemprot/adapter-lr0.001-k1000/seed=1", 600, 640, 1.0)],
    )
    eta = remaining_time(states, tmp_path)
    assert eta.training == 2 and eta.seconds == pytest.approx(40 * 1.0 + 640 * 1.0)


def test_the_estimate_stops_each_run_where_its_settings_finished_runs_did(tmp_path, monkeypatch):
    """Beside the bound at the ceiling: adapters that stopped at 50% and 100% of their ceiling
    (mean 75%) price a pending adapter run at 75% of its ceiling, a running one at 75% of its
    ceiling less its steps so far (never below zero); a setting with no finished run stays at its
    ceiling. The estimate is said only where it is under the bound."""
    states = [
        state("adapter", 1e-3, 0, "ok", seconds=320.0, steps=320, ceiling=640, stop="converged"),
        state("adapter", 1e-3, 1, "ok", seconds=640.0, steps=640, ceiling=640),
        state("adapter", 3e-3, 0, "running"),
        state("adapter", 3e-3, 1, "running"),
        state("adapter", 3e-3, 2, "pending"),
    ]
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [
            RunProgress("chemprot/adapter-lr0.003-k1000/seed=0", 100, 640, 1.0),
            RunProgress("chemprot/adapter-lr0.003-k1000/seed=1", 600, 640, 1.0),  # past its expected stop
        ],
    )
    eta = remaining_time(states, tmp_path)
    assert eta.seconds == pytest.approx(540 + 40 + 640)
    assert eta.expected_seconds == pytest.approx((0.75 * 640 - 100) + 0 + 0.75 * 640)
    line = eta_line(eta)
    assert "; about 14 min (7.2 min at once) if each stops where its setting's finished runs did on average" in line, (
        line
    )
    at_ceiling = [state("finetune", 1e-4, 0, "ok", seconds=640.0, steps=640, ceiling=640), state("finetune", 1e-4, 1)]
    eta = remaining_time(at_ceiling, tmp_path)
    assert eta.expected_seconds == eta.seconds and "if each stops" not in eta_line(eta)


def test_a_fallback_pace_prices_a_setting_with_no_run_of_its_own_yet(tmp_path):
    """`compare` passes its probe of each method: fine-tuning is then priced at its probe (3 s/step)
    before its first run finishes, scaled by what the adapters took over their own probe (a probe
    times steps alone, a run's pace has its start-up and evaluations), never at the adapters' pace;
    without a fallback it is unpriced."""
    states = [
        state("adapter", 1e-3, 0, "ok", seconds=640.0, steps=640, ceiling=640),
        state("finetune", 1e-4, 0),
    ]
    ceilings = {"chemprot/finetune-lr0.0001-k1000/seed=0": 640}
    assert remaining_time(states, tmp_path, ceilings).unpriced_runs == 1
    probe = {"finetune": 3.0, "adapter": 0.5}  # the adapters took 1 s/step against a probe of 0.5: x2
    eta = remaining_time(states, tmp_path, ceilings, fallback_pace=lambda s: probe[s.run.labels["method"]])
    assert (eta.runs, eta.unpriced_runs, eta.seconds) == (1, 0, pytest.approx(640 * 3.0 * 2))
    eta = remaining_time(states[1:], tmp_path, ceilings, fallback_pace=lambda s: probe[s.run.labels["method"]])
    assert eta.seconds == pytest.approx(640 * 3.0)  # nothing finished: the probe as it is


def test_a_tapt_run_training_now_is_estimated_on_its_task_phase_alone(tmp_path, monkeypatch):
    """TAPT 1000 steps + task ceiling 1000; finished runs stopped at task step 500. A pending run
    is expected at 1500 of its 2000 steps; one training at task step 100 (its progress counts
    task steps only) has 400 left, not 650."""
    tapt = {"steps": 1000}
    states = [state("adapter", 1e-3, 0, "ok", seconds=1500.0, steps=500, ceiling=1000, stop="converged", tapt=tapt)]
    states += [state("adapter", 1e-3, 1, "running"), state("adapter", 1e-3, 2)]
    monkeypatch.setattr(
        eta_module,
        "running_progress",
        lambda out: [RunProgress("chemprot/adapter-lr0.001-k1000/seed=1", 100, 1000, 1.0)],
    )
    eta = remaining_time(states, tmp_path)
    assert eta.expected_seconds == pytest.approx(400 * 1.0 + 1500 * 1.0)


def test_the_probe_scale_is_one_ratio_per_setting_not_per_run(tmp_path):
    """One setting at 2x its probe with many runs and one at 1x with few: the median over the two
    settings (1.5), not over their runs."""
    states = [state("adapter", 1e-3, seed, "ok", seconds=200.0, steps=100, ceiling=100) for seed in range(9)]
    states += [state("lora", 1e-3, 0, "ok", seconds=100.0, steps=100, ceiling=100)]
    states += [state("finetune", 1e-4, 0)]
    probe = {"adapter": 1.0, "lora": 1.0, "finetune": 3.0}
    eta = remaining_time(
        states, tmp_path, {"chemprot/finetune-lr0.0001-k1000/seed=0": 100}, lambda s: probe[s.run.labels["method"]]
    )
    assert eta.seconds == pytest.approx(100 * 3.0 * 1.5)


def test_an_old_record_stopped_early_on_a_whole_file_takes_its_settings_ceiling(tmp_path):
    """Records before ceiling_steps give no ceiling for a run that stopped early, and a run on its
    whole file has no planned one: the setting's ceiling from a run that ran to it stands in, so
    the estimate still sees the early stop."""
    full = RunResult("ok", wall_seconds=100.0, steps=100)  # ran to its ceiling (no early stop recorded)
    early = RunResult("ok", wall_seconds=50.0, steps=50, stopped_early={"epoch": 2})
    states = [state("adapter", 1e-3, 0), state("adapter", 1e-3, 1), state("adapter", 1e-3, 2)]
    states[0], states[1] = RunState(states[0].run, "ok", full), RunState(states[1].run, "ok", early)
    eta = remaining_time(states, tmp_path)
    assert eta.seconds == pytest.approx(100.0) and eta.expected_seconds == pytest.approx(75.0)


def test_each_run_to_start_gets_its_start_up_that_its_wall_time_leaves_out(tmp_path, monkeypatch):
    """A run's wall time starts after its process start-up and file reading (about 5 s of a tiny
    run's 6: an ETA of 2 s for 5 runs that took 30): each run to start gets STARTUP_SECONDS back,
    a run training now none."""
    monkeypatch.setattr(eta_module, "STARTUP_SECONDS", 10.0)
    monkeypatch.setattr(
        eta_module, "running_progress", lambda out: [RunProgress("chemprot/adapter-lr0.001-k1000/seed=1", 50, 100, 1.0)]
    )
    states = [state("adapter", 1e-3, 0, "ok", seconds=100.0, steps=100, ceiling=100)]
    states += [state("adapter", 1e-3, 1, "running"), state("adapter", 1e-3, 2), state("adapter", 1e-3, 3)]
    eta = remaining_time(states, tmp_path)
    assert eta.seconds == pytest.approx(50 + 2 * (100 + 10))
