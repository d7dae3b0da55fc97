"""The study executor: resume, failures, claims, concurrent workers and invocations, SIGKILL, Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from studyworld import GLIBC_THRESHOLD, tiny_spec, write_spec

from adapterlab.study.executor import run_study, status_of_folder, try_claim
from adapterlab.study.spec import expand_spec

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def test_run_then_resume_skips_finished_runs(tiny_world, tmp_path):
    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model))
    states = run_study(spec, tmp_path / "out", isolation="inline")
    assert [s.state for s in states] == ["ok"] * 4
    stamps = {
        s.run.relative_dir: (tmp_path / "out" / s.run.relative_dir / "result.json").stat().st_mtime_ns for s in states
    }
    run_study(spec, tmp_path / "out", isolation="inline")
    assert stamps == {
        s.run.relative_dir: (tmp_path / "out" / s.run.relative_dir / "result.json").stat().st_mtime_ns for s in states
    }
    assert [s.state for s in status_of_folder(tmp_path / "out")] == ["ok"] * 4


def test_failed_run_is_recorded_and_the_study_goes_on(tiny_world, tmp_path):
    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,))
    raw["tasks"]["rte"] = {"train": str(root / "train.tsv"), "dev": str(root / "dev.tsv")}  # sst2 layout: not RTE's
    spec = expand_spec(raw, check_files=False)
    states = run_study(
        spec, tmp_path / "out", isolation="inline"
    )  # a run's error is caught in-process too; no child needed
    by_task = {}
    for state in states:
        by_task.setdefault(state.run.labels["task"], []).append(state.state)
    assert by_task["sst2"] == ["ok", "ok"] and by_task["rte"] == ["failed", "failed"]
    failed = next(s for s in states if s.state == "failed")
    assert "header has no column" in failed.result.error and failed.result.reason == "error"


def test_a_run_refused_before_it_starts_records_the_spec_key_not_the_option(tiny_world, tmp_path):
    """The tiny backbone's tokenizer adds 2 special tokens, so max_length 2 leaves no room for text:
    train says --max-length; a study run's record says max_length, the key its spec set. (Study
    validation finds this before any run when the backbone is here; without the checks, as for a
    Hub backbone not yet downloaded, the run finds it.)"""
    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,), method=["finetune"])
    raw["base"]["max_length"] = 2
    states = run_study(expand_spec(raw, check_files=False), tmp_path / "out", isolation="inline")
    assert {s.state for s in states} == {"failed"}
    error = states[0].result.error
    assert error.startswith("max_length 2: the tokenizer of") and "--max-length" not in error


def test_claims_are_exclusive_and_stale_claims_are_taken_over(tmp_path):
    run_dir = tmp_path / "task" / "setting" / "seed=0"
    assert try_claim(run_dir)
    assert not try_claim(run_dir)  # held by this (live) process
    claim = run_dir.parent / "seed=0.claim"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": 0}))
    assert try_claim(run_dir)  # the owner is gone


def test_two_invocations_at_once_never_run_a_run_twice(tiny_world, tmp_path):
    root, model = tiny_world
    spec_path = write_spec(tmp_path / "s.yaml", tiny_spec(root, model, seeds=(0, 1, 2)))
    out = tmp_path / "out"
    # two study processes race for the same runs; each trains its runs in-process (--inline), which
    # keeps the race (claims between processes) and drops a child process per run
    command = [
        sys.executable,
        "-m",
        "adapterlab",
        "study",
        "run",
        str(spec_path),
        "--out",
        str(out),
        "--no-progress",
        "--inline",
    ]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert first.wait(timeout=600) == 0 and second.wait(timeout=600) == 0
    results = list(out.glob("*/*/seed=*/result.json"))
    assert len(results) == 6
    # every run trained exactly once: its metrics log has one validation row per epoch
    for result in results:
        rows = (result.parent / "metrics.jsonl").read_text().splitlines()
        assert sum('"split": "validation"' in row for row in rows) == 1
        # the study process (the CLI, training inline) applied the allocator setting (runtime.py)
        assert json.loads(result.read_text())["malloc_mmap_threshold_mb"] == GLIBC_THRESHOLD


def test_workers_share_the_runs(tiny_world, tmp_path):
    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model, seeds=(0, 1)))
    states = run_study(spec, tmp_path / "out", workers=2, isolation="inline")
    assert sorted(s.state for s in states) == ["ok"] * 4
    assert not list((tmp_path / "out").glob("**/*.claim"))
    # each spawned worker trained with the allocator setting a run's own process uses (runtime.py)
    for result in (tmp_path / "out").glob("*/*/seed=*/result.json"):
        assert json.loads(result.read_text())["malloc_mmap_threshold_mb"] == GLIBC_THRESHOLD


def test_sigkill_mid_study_then_rerun_gives_exactly_one_result_per_run(tiny_world, tmp_path):
    root, model = tiny_world
    spec_path = write_spec(tmp_path / "s.yaml", tiny_spec(root, model, seeds=(0, 1), extra_base={"epochs": 3}))
    out = tmp_path / "out"
    # --inline: the run trains inside the study process, so the SIGKILL lands mid-run in the one process
    command = [
        sys.executable,
        "-m",
        "adapterlab",
        "study",
        "run",
        str(spec_path),
        "--out",
        str(out),
        "--no-progress",
        "--inline",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("*/*/seed=*/result.json"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the study and the run it was in the middle of
    process.wait()
    finished_before = len(list(out.glob("*/*/seed=*/result.json")))
    assert 2 <= finished_before < 4
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    results = sorted(out.glob("*/*/seed=*/result.json"))
    assert len(results) == 4
    assert all(json.loads(p.read_text())["status"] == "ok" for p in results)
    assert not list(out.glob("**/*.claim"))
    for result in results:  # no run's log holds two runs' worth of rows
        rows = (result.parent / "metrics.jsonl").read_text().splitlines()
        assert sum('"split": "validation"' in row for row in rows) == 3


def test_ray_executor_on_a_local_instance(tiny_world, tmp_path):
    ray = pytest.importorskip("ray")
    from adapterlab.study.executor import run_study_ray

    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model, seeds=(0,)))
    try:
        states = run_study_ray(
            spec,
            tmp_path / "out",
            address=None,
            cpus_per_run=1,
            init_kwargs={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
        )
    finally:
        ray.shutdown()
    assert sorted(s.state for s in states) == ["ok", "ok"]


def test_local_workers_split_the_cores():
    from adapterlab.study.executor import threads_per_worker

    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) is None
    assert threads_per_worker(2) == max(1, cores // 2)
    assert threads_per_worker(cores * 4) == 1


def test_only_runs_a_subset_and_leaves_the_rest_pending(tiny_world, tmp_path, capsys):
    """`study run --only method=adapter`: the adapter runs run, fine-tuning stays pending and
    study.json still plans every run; a label no run has, or no match, is one line."""
    from studyworld import tiny_spec, write_spec

    from adapterlab.cli import main

    root, model = tiny_world
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(root, model, seeds=(0, 1)))
    out = tmp_path / "out"
    assert (
        main(
            [
                "study",
                "run",
                str(spec),
                "--out",
                str(out),
                "--inline",
                "--no-progress",
                "--only",
                "method=adapter",
                "--only",
                "seed=1",
            ]
        )
        == 0
    )
    plan = json.loads((out / "study.json").read_text())
    assert len(plan["runs"]) == 4
    done = sorted(str(p.parent.relative_to(out)) for p in out.rglob("result.json"))
    assert len(done) == 1 and done[0].startswith("sst2/adapter") and done[0].endswith("seed=1")
    capsys.readouterr()
    assert main(["study", "status", str(out)]) in (0, 3)
    assert "3 pending" in capsys.readouterr().out
    for only, message in (
        ("colour=red", "no run has that label"),
        ("method=lora", "matches none of the 4 runs"),
        ("method", "expected LABEL=VALUE"),
    ):
        assert main(["study", "run", str(spec), "--out", str(out), "--inline", "--no-progress", "--only", only]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
