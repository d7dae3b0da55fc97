"""Interrupting a study: Ctrl-C stops it quietly (exit 130, one line), SIGKILLs of single run
children are recorded as "died", and a resume finishes every run exactly once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

INTERRUPTED = "adapterlab: interrupted; unfinished runs have no result.json and run again next time"


def write_spec(path: Path, root: Path, model: Path, epochs: int, seeds=(0,)) -> Path:
    """adapter and finetune x seeds on 20 training examples, `epochs` epochs each."""
    spec = {
        "name": "interrupts",
        "base": {
            "model": str(model),
            "epochs": epochs,
            "batch_size": 8,
            "max_length": 32,
            "validation_size": 10,
            "train_size": 20,
            "progress": False,
        },
        "tasks": {"sst2": {"train": str(root / "train.tsv"), "dev": str(root / "dev.tsv")}},
        "grid": {"method": ["adapter", "finetune"], "seed": list(seeds)},
        "by_method": {"adapter": {"lr": 1e-3, "adapter": {"size": 8}}, "finetune": {"lr": 1e-3}},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def study_command(spec: Path, out: Path, workers: int, progress: bool = False) -> list[str]:
    return [
        sys.executable,
        "-m",
        "adapterlab",
        "study",
        "run",
        str(spec),
        "--out",
        str(out),
        "--workers",
        str(workers),
        *([] if progress else ["--no-progress"]),
    ]


def as_in_a_terminal() -> None:
    """Popen's preexec_fn: SIGINT at its default, as in a terminal. A shell that starts a job in the
    background (`cmd &` without job control) ignores SIGINT for it, and Python then never raises
    KeyboardInterrupt; the Ctrl-C tests must not depend on how the suite itself was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_processes(group: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the live processes in process group `group`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == group and state != "Z" and argv[0]:
            found.append((int(entry.name), [a for a in argv if a]))
    return found


def run_children(group: int) -> dict[int, Path]:
    """pid -> run folder of every run child (`python -m adapterlab.study.child RUN_DIR`) in the group.
    A child's own fork (for `git rev-parse` when it records versions) shows the same command line
    until it execs: a process whose parent is a run child is not another run child."""
    children = {pid: Path(argv[-1]) for pid, argv in group_processes(group) if "adapterlab.study.child" in argv}
    return {pid: folder for pid, folder in children.items() if _parent(pid) not in children}


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_for(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def results(out: Path) -> dict[Path, dict]:
    return {p.parent: json.loads(p.read_text()) for p in out.glob("*/*/seed=*/result.json")}


def stderr_lines(text: str) -> list[str]:
    """The lines a terminal shows (a progress bar redrawn with \r stays one line)."""
    return [line for line in text.split("\n") if line.strip()]


# ------------------------------------------------------------------------------------ Ctrl-C


@pytest.mark.parametrize("workers", [2, 1])
def test_ctrl_c_mid_run_stops_quietly_and_leaves_its_runs_pending(tiny_world, tmp_path, workers):
    root, model = tiny_world
    spec = write_spec(tmp_path / "s.yaml", root, model, epochs=10)
    out = tmp_path / "out"
    command = study_command(spec, out, workers)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=as_in_a_terminal
    )
    try:
        # a run child is training: its claim exists and it has written its config
        wait_for(
            lambda: (
                list(out.glob("*/*/seed=*.claim"))
                and any((d / "config.json").exists() for d in run_children(process.pid).values())
            ),
            120,
            "a run child that trains",
        )
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        stdout, stderr = (stream.decode() for stream in process.communicate(timeout=60))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and stderr_lines(stderr) == [INTERRUPTED], stderr
    assert not group_processes(process.pid)  # no worker or run child left behind
    assert not list(out.glob("**/*.claim*"))
    assert not [d for d, r in results(out).items() if r["status"] != "ok"]  # the interrupted run left no result
    # what a resume runs: the interrupted runs are pending (no result, no claim), none is failed or
    # running (resuming itself is tested in test_study_executor and test_train_scale)
    from adapterlab.study.executor import status_of_folder

    states = [state.state for state in status_of_folder(out)]
    assert set(states) <= {"pending", "ok"} and "pending" in states, states


@pytest.mark.parametrize("workers", [2, 1])
def test_sigterm_to_the_study_stops_its_workers_and_runs(tiny_world, tmp_path, workers):
    """A scheduler (SLURM preemption, `kill PID`) sends SIGTERM to the study's main process only:
    its workers and run children must stop too, not go on claiming runs as orphans."""
    root, model = tiny_world
    spec = write_spec(tmp_path / "s.yaml", root, model, epochs=10)
    out = tmp_path / "out"
    process = subprocess.Popen(
        study_command(spec, out, workers),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )
    try:
        wait_for(
            lambda: any((d / "config.json").exists() for d in run_children(process.pid).values()),
            120,
            "a run child that trains",
        )
        process.send_signal(signal.SIGTERM)  # the main process alone, not the group
        stdout, stderr = (stream.decode() for stream in process.communicate(timeout=60))
        wait_for(lambda: not group_processes(process.pid), 30, "the workers and run children to stop")
    finally:
        if group_processes(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130 and "Traceback" not in stderr, (stdout, stderr)
    assert not list(out.glob("**/*.claim*"))


def test_ctrl_c_while_workers_start_prints_no_traceback(tiny_world, tmp_path):
    """The worker processes import torch for seconds after they are spawned; a Ctrl-C then used
    to print one traceback per worker (about 70 lines)."""
    root, model = tiny_world
    spec = write_spec(tmp_path / "s.yaml", root, model, epochs=10)
    out = tmp_path / "out"
    process = subprocess.Popen(
        study_command(spec, out, 2, progress=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )
    try:
        wait_for(
            lambda: len([a for _, a in group_processes(process.pid) if any("spawn_main" in part for part in a)]) == 2,
            120,
            "two worker processes",
        )
        assert not list(out.glob("*/*/seed=*.claim"))  # still starting up
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = (stream.decode() for stream in process.communicate(timeout=60))  # bytes: keep \r as it is
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, (stdout, stderr)
    lines = stderr_lines(stderr)
    assert "Traceback" not in stderr and len(lines) <= 2 and lines[-1] == INTERRUPTED, (
        stderr
    )  # the closed progress bar, the message
    assert not group_processes(process.pid)
    assert not results(out)


# ----------------------------------------------------------------------------- run children


def test_sigkill_of_single_run_children_loses_and_duplicates_no_run(tiny_world, tmp_path):
    """Kill single run children (as the out-of-memory killer would) while a 2-worker study goes
    on: each killed run is recorded as died and rerun (by a worker that reaches it later in the
    same invocation, else by the resume); no run is lost, runs twice at once, or ends with two
    attempts' rows in its log."""
    root, model = tiny_world
    epochs = 2
    spec = write_spec(tmp_path / "s.yaml", root, model, epochs=epochs, seeds=(0, 1))
    out = tmp_path / "out"
    command = study_command(spec, out, 2)
    planned = 4
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_in_a_terminal,
    )
    killed: dict[Path, int] = {}  # run folder -> pid of the child killed
    concurrent = set()  # run folders seen with two live children at once
    try:
        while process.poll() is None and not killed:  # one kill: the suite's time budget; the rest is the same for two
            children = run_children(process.pid)
            folders = list(children.values())
            concurrent |= {d for d in folders if folders.count(d) > 1}
            for pid, run_dir in children.items():
                # mid-run (its config is written) and not killed before: each run is killed at most once
                if (
                    run_dir not in killed
                    and (run_dir / "config.json").exists()
                    and not (run_dir / "result.json").exists()
                ):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    killed[run_dir] = pid
                    break
            time.sleep(0.05)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode in (0, 3), stderr  # 3: a killed run is recorded as failed (died)
    after_first = results(out)
    # a killed run is recorded as died, unless the other worker already ran it again (a worker
    # reruns a died run it reaches later in the same invocation)
    recorded_died = {d for d in killed if after_first.get(d, {}).get("reason") == "died"}
    rerun_at_once = {d for d in killed if after_first.get(d, {}).get("status") == "ok"}
    unrecorded = set(killed) - recorded_died - rerun_at_once
    assert all(
        after_first[d]["status"] == "failed" and "killed by signal 9" in after_first[d]["error"] for d in recorded_died
    )

    invocations = 1
    while len([r for r in results(out).values() if r["status"] == "ok"]) < planned and invocations < 4:
        resumed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert resumed.returncode in (0, 3), resumed.stderr
        invocations += 1
    final = results(out)
    lost = planned - len([r for r in final.values() if r["status"] == "ok"])
    duplicated = set(concurrent)
    for run_dir in final:
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        if sum(r["split"] == "validation" for r in rows) != epochs or sum(r["split"] == "test" for r in rows) != 1:
            duplicated.add(run_dir)
    print(
        f"\nSIGKILL of run children: {len(killed)} kills ({len(recorded_died)} recorded as died, {len(rerun_at_once)} rerun in the "
        f"same invocation, {len(unrecorded)} unrecorded); {invocations} invocations; {lost} runs lost, {len(duplicated)} duplicated"
    )
    assert len(killed) == 1
    assert not unrecorded
    assert lost == 0 and len(final) == planned
    assert not duplicated
    assert not list(out.glob("**/*.claim*"))
