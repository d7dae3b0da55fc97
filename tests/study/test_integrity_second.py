"""Integrity, second pass (issue #32): a dead worker's run never runs twice, old records are
never trusted blindly, a damaged run always recovers, and nothing adapterlab did not write is
overwritten. Each test names the item of the issue it covers."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny import save_tiny_backbone, write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.study.executor import claim_path, run_study, try_claim
from adapterlab.study.spec import expand_spec


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity2")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    sst = root / "sst"
    sst.mkdir()
    write_sentiment_tsv(sst / "train.tsv", 60, seed=0)
    write_sentiment_tsv(sst / "dev.tsv", 21, seed=1)
    write_sentiment_tsv(sst / "test.tsv", 17, seed=2)
    run = root / "run"
    assert (
        main(
            [
                "train",
                "--task",
                "sst2",
                "--data",
                str(sst),
                "--model",
                str(model),
                "--out",
                str(run),
                "--no-progress",
                "--batch-size",
                "8",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    return {"root": root, "model": str(model), "sst": sst, "run": run}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("adapterlab: error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def spec_of(world, **base) -> dict:
    return {
        "name": "second",
        "base": {
            "model": world["model"],
            "epochs": 1,
            "batch_size": 8,
            "max_length": 32,
            "train_size": 20,
            "validation_size": 10,
            "progress": False,
            **base,
        },
        "tasks": {"sst2": {"train": str(world["sst"] / "train.tsv"), "dev": str(world["sst"] / "dev.tsv")}},
        "grid": {"method": ["adapter"], "seed": [0]},
        "by_method": {"adapter": {"lr": 1e-3, "adapter": {"size": 8}}},
    }


def copy_run(world, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    return run


# --------------------------------------------------- 1. a dead worker's run never runs twice


HOLDER = """
import os, subprocess, sys, time
from pathlib import Path
from adapterlab.study.ownership import held_lock, try_claim
run_dir = Path(sys.argv[1])
assert try_claim(run_dir)
# a run child as run_one starts it: it inherits the run's lock; {child}
child = subprocess.Popen({argv}, pass_fds=(held_lock(run_dir),))
print(child.pid, flush=True)
time.sleep(120)
"""


def start_holder(run_dir: Path, argv: str) -> tuple[subprocess.Popen, int]:
    """A worker (this script) that claims `run_dir` and starts a child holding the run's lock."""
    script = HOLDER.format(child="", argv=argv)
    worker = subprocess.Popen([sys.executable, "-c", script, str(run_dir)], stdout=subprocess.PIPE, text=True)
    return worker, int(worker.stdout.readline())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_a_run_stays_owned_while_any_process_writing_it_lives(tmp_path):
    """Item 1. The worker is SIGKILLed, its run's child lives on (an orphan): the claim is NOT
    stale (before: the dead worker's pid made it stale, and a resume ran the run a second time
    beside the orphan). Only when the child is gone is the run taken over."""
    run_dir = tmp_path / "task" / "setting" / "seed=0"
    worker, child = start_holder(run_dir, '["sleep", "120"]')
    try:
        assert try_claim(run_dir) is None  # the worker lives
        worker.kill()
        worker.wait()
        assert alive(child)
        assert try_claim(run_dir) is None  # the orphan holds the run's lock: no second writer
        from adapterlab.study.executor import status_of_folder  # noqa: F401  (state_of is what status shows)
        from adapterlab.study.ownership import stale_key

        assert stale_key(claim_path(run_dir)) is None
    finally:
        os.kill(child, signal.SIGKILL)
    deadline = time.time() + 10
    while alive(child) and time.time() < deadline:
        time.sleep(0.05)
    token = try_claim(run_dir)
    assert token and json.loads(claim_path(run_dir).read_text())["token"] == token


def test_a_run_child_dies_with_its_worker(tmp_path):
    """Item 1. study/child.py arms the parent-death signal, so a child cannot outlive the worker
    that owns its run (and a resume can take the run over at once)."""
    run_dir = tmp_path / "task" / "setting" / "seed=0"
    # as run_one does, the worker names itself as the child's parent
    argv = (
        '[sys.executable, "-c", "import sys, time; from adapterlab.study.child import die_with_parent; '
        'die_with_parent(int(sys.argv[1])); time.sleep(120)", str(os.getpid())]'
    )
    worker, child = start_holder(run_dir, argv)
    time.sleep(0.2)
    assert alive(child)
    worker.kill()
    worker.wait()
    deadline = time.time() + 30  # the child may still be importing adapterlab when its worker dies
    while alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert try_claim(run_dir)


def test_a_killed_worker_is_reported_its_run_recorded_and_the_study_exits_non_zero(world, tmp_path):
    """Item 1 and 11. SIGKILL the worker that runs the study's run: the study names the worker and
    its run, last, and exits 3 (it exited 0); the run is recorded as died; a resume finishes it."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_of(world, epochs=20)))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "adapterlab",
        "study",
        "run",
        str(spec),
        "--out",
        str(out),
        "--workers",
        "2",
        "--inline",
        "--no-progress",
    ]
    study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline, victim = time.time() + 120, None
        while victim is None and time.time() < deadline:
            for claim in out.glob("sst2/*/seed=*.claim"):
                owner = json.loads(claim.read_text() or "{}")
                if (claim.parent / claim.name.removesuffix(".claim") / "config.json").exists():
                    victim = (owner["pid"], claim.parent / claim.name.removesuffix(".claim"))
            time.sleep(0.05)
        assert victim, "no worker started the run"
        os.kill(victim[0], signal.SIGKILL)
        stdout, stderr = study.communicate(timeout=120)
    finally:
        if study.poll() is None:
            os.killpg(study.pid, signal.SIGKILL)
    assert study.returncode == 3, (stdout, stderr)
    lines = stdout.strip().splitlines()
    where = str(victim[1].relative_to(out))
    assert lines[-4:] == [
        "not finished: 1 of 1 run(s); 1 worker process(es) died",
        f"  worker {lines[-3].split()[1]} (pid {victim[0]}) died (killed by signal 9) while it ran {where}",
        f"  {where}: died (its worker process (pid {victim[0]}) died (killed by signal 9)); the same command reruns it",
        f"to run them again: adapterlab study run {spec} --out {out} --workers 2 --inline",
    ], stdout
    assert "Traceback" not in stderr
    result = json.loads((victim[1] / "result.json").read_text())
    assert (result["status"], result["reason"], result["returncode"]) == ("failed", "died", -9)
    assert [s.state for s in run_study(expand_spec(spec_of(world, epochs=20)), out, isolation="inline")] == ["ok"]
    rows = [json.loads(line) for line in (victim[1] / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["split"] == "validation" for r in rows) == 20  # one attempt's rows, not two
    assert not list(out.glob("**/*.claim*")) and not list(out.glob("**/*.lock"))


# --------------------------------------------------- 2. a record without fingerprints is not trusted


def test_a_record_without_fingerprints_is_refused_unless_rerun(world, tmp_path):
    """Item 2. A finished run whose config.json has no fingerprints (an earlier adapterlab) stayed
    "done" whatever data the spec pointed at. Now it is a changed run: refused with one line, or
    rerun with rerun_changed; the report still judges it (it compares no fingerprints)."""
    from adapterlab.report.build import collect

    out = tmp_path / "study"
    spec = expand_spec(spec_of(world))
    assert [s.state for s in run_study(spec, out, isolation="inline")] == ["ok"]
    config_file = out / spec.runs[0].relative_dir / "config.json"
    old = {k: v for k, v in json.loads(config_file.read_text()).items() if k != "fingerprints"}
    config_file.write_text(json.dumps(old))
    with pytest.raises(
        AdapterlabError, match=r"data files: not fingerprinted .*model files: not fingerprinted.*--rerun-changed"
    ):
        run_study(spec, out, isolation="inline")
    # the spec's data moved elsewhere: the record's own paths already tell
    moved = tmp_path / "moved"
    shutil.copytree(world["sst"], moved)
    raw = spec_of(world)
    raw["tasks"]["sst2"] = {"train": str(moved / "train.tsv"), "dev": str(moved / "dev.tsv")}
    with pytest.raises(AdapterlabError, match=rf"train: '{world['sst']}/train.tsv' -> '{moved}/train.tsv'"):
        run_study(expand_spec(raw), out, isolation="inline")
    _, records, stale = collect(out)
    assert len(records) == 1 and stale == []
    assert [s.state for s in run_study(spec, out, isolation="inline", rerun_changed=True)] == ["ok"]
    assert set(json.loads(config_file.read_text())["fingerprints"]) == {"data", "model"}


# --------------------------------------------------- 3. a study folder is adapterlab's own


@pytest.mark.parametrize(
    "content, why",
    [
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"my": "notes"}', "field 'runs' is missing or null"),
        ("{}", "field 'runs' is missing or null"),
        ("not json", "not valid JSON"),
    ],
)
def test_a_users_study_json_is_never_overwritten(world, tmp_path, capsys, content, why):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_of(world)))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "study.json").write_text(content)
    assert main(["study", "run", str(spec), "--out", str(out), "--no-progress", "--inline"]) == 2
    err = one_line_error(capsys)
    assert f"{out / 'study.json'}: not a study plan written by adapterlab" in err and why in err
    assert [p.name for p in out.iterdir()] == ["study.json"] and (out / "study.json").read_text() == content


def test_study_folders_carry_a_marker_and_older_ones_are_recognised_by_their_plan(world, tmp_path):
    from adapterlab.study.executor import STUDY_MARKER, is_study_folder

    out = tmp_path / "study"
    spec = expand_spec(spec_of(world))
    run_study(spec, out, isolation="inline")
    assert (out / STUDY_MARKER).is_file() and is_study_folder(out)
    (out / STUDY_MARKER).unlink()  # a folder of an earlier version: its study.json is a plan
    assert is_study_folder(out)
    assert [s.state for s in run_study(spec, out, isolation="inline")] == ["ok"]
    committed = Path(__file__).resolve().parents[2] / "docs" / "results" / "cpu_scale" / "table1_tae" / "study"
    if committed.is_dir():
        assert is_study_folder(committed)


# --------------------------------------------------- 4. one truth for labels


@pytest.mark.parametrize(
    "labels, message",
    [
        (["1", "0"], "names the labels ['1', '0'] but"),
        (["0", "1", "2"], "names the labels ['0', '1', '2'] but"),
    ],
)
def test_a_pack_whose_files_disagree_about_labels_is_refused(world, tmp_path, capsys, labels, message):
    run = copy_run(world, tmp_path)
    provenance = run / "pack" / "provenance.json"
    provenance.write_text(json.dumps({**json.loads(provenance.read_text()), "labels": labels}))
    (tmp_path / "in.txt").write_text("a great film\n")
    for source in (run, run / "pack"):
        assert (
            main(
                [
                    "predict",
                    str(source),
                    "--data",
                    str(tmp_path / "in.txt"),
                    "--format",
                    "lines",
                    "--out",
                    str(tmp_path / "p.jsonl"),
                    "--no-progress",
                ]
            )
            == 2
        )
        err = one_line_error(capsys)
        assert message in err and str(provenance) in err and "adapter_pack.json" in err
    assert (
        main(
            [
                "evaluate",
                str(run / "pack"),
                "--data",
                str(world["sst"] / "dev.tsv"),
                "--out",
                str(tmp_path / "e.json"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert message in one_line_error(capsys)
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "e.json").exists()


# --------------------------------------------------- 5. a takeover cut short blocks nothing


def test_a_takeover_file_left_by_a_killed_worker_is_cleared(world, tmp_path, capsys):
    """Item 5. A worker killed between creating the takeover file and removing it left the run
    pending forever ("1 pending", exit 3). Now the next claimer clears it and runs the run."""
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_of(world)))
    out = tmp_path / "out"
    spec = expand_spec(spec_of(world))
    run_dir = out / spec.runs[0].relative_dir
    run_dir.parent.mkdir(parents=True)
    (out / ".adapterlab-study").touch()  # the study folder of the invocation whose worker was killed
    dead = subprocess.Popen(["true"])
    dead.wait()
    claim_path(run_dir).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": time.time(), "token": "t-dead"})
    )
    gate = claim_path(run_dir).with_name(claim_path(run_dir).name + ".takeover-t-dead")
    gate.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": time.time()}))
    assert main(["study", "run", str(spec_file), "--out", str(out), "--no-progress", "--inline"]) == 0, (
        capsys.readouterr()
    )
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok" and not gate.exists()


def test_a_pending_run_says_which_and_why(world, tmp_path):
    """Item 5. What `study run` prints last for a run left pending: the run, its claim and owner."""
    from adapterlab.report.unfinished import unfinished_lines
    from adapterlab.study.executor import RunState

    spec = expand_spec(spec_of(world))
    run = spec.runs[0]
    out = tmp_path / "out"
    (out / run.relative_dir).parent.mkdir(parents=True)
    claim_path(out / run.relative_dir).write_text(json.dumps({"pid": 4242, "host": "node-7", "since": 0, "token": "x"}))
    lines = unfinished_lines([RunState(run, "pending", None)], out)
    assert lines == [
        f"{run.relative_dir}: pending: its claim {claim_path(out / run.relative_dir)} names pid 4242 on node-7, which no "
        "longer runs it; the same command takes it over"
    ]


# --------------------------------------------------- 6. every damaged resume state recovers


def train_args(world, out, *extra):
    return [
        "train",
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--max-length",
        "32",
        *extra,
    ]


@pytest.fixture(scope="module")
def killed_run(world, tmp_path_factory):
    """A run killed after its last checkpoint: its checkpoint kept, its result gone."""
    out = tmp_path_factory.mktemp("killed") / "run"
    assert main(train_args(world, out, "--keep-checkpoint")) == 0
    (out / "result.json").unlink()
    return out


@pytest.mark.parametrize("damage", ["empty", "foreign", "truncated"])
def test_a_damaged_checkpoint_is_set_aside_and_the_run_starts_over(world, killed_run, tmp_path, capsys, caplog, damage):
    import torch

    out = tmp_path / "run"
    shutil.copytree(killed_run, out)
    state = out / "checkpoint" / "state.pt"
    if damage == "empty":
        state.write_bytes(b"")
    elif damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, state)
    else:
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    assert main(train_args(world, out, "--keep-checkpoint")) == 0
    assert "Traceback" not in capsys.readouterr().err
    aside = [p.name for p in out.iterdir() if p.name.startswith("checkpoint.damaged-")]
    assert len(aside) == 1 and any(
        aside[0] in record.message and "checkpoint/state.pt is" in record.message for record in caplog.records
    )
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["resumed_from"] is None  # from scratch: nothing good was left
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["split"] == "validation"] == [1, 2]


def test_a_partial_metrics_line_is_set_aside_and_the_run_resumes(world, killed_run, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    shutil.copytree(killed_run, out)
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write('{"split": "validation", "ep')  # a kill in the middle of a write
    assert main(train_args(world, out, "--keep-checkpoint")) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert any(
        "metrics.jsonl line" in r.message and "set aside as metrics.jsonl.damaged-" in r.message for r in caplog.records
    )
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["resumed_from"] == {
        "epoch": 1,
        "step": 8,
    }  # the last checkpoint (epoch 1 of 2) was good
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["split"] == "validation"] == [1, 2] and sum(
        r["split"] == "test" for r in rows
    ) == 1


def test_a_truncated_tapt_outcome_is_set_aside_and_tapt_runs_again(world, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    args = train_args(
        world, out, "--method", "finetune", "--tapt", "--tapt-head", "fresh", "--tapt-epochs", "1", "--keep-checkpoint"
    )
    assert main(args) == 0
    (out / "result.json").unlink()
    shutil.rmtree(out / "checkpoint")  # killed after TAPT, before the task phase's first checkpoint
    encoder = out / "tapt_encoder.safetensors"
    encoder.write_bytes(encoder.read_bytes()[:1000])
    assert main(args) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert any("TAPT's outcome tapt_encoder.safetensors is unreadable" in r.message for r in caplog.records)
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["tapt"]["steps"] == 8  # TAPT again: 60 examples / 8
    assert len(list(out.glob("tapt_encoder.safetensors.damaged-*"))) == 1


# --------------------------------------------------- 7. a full disk is one line and a failed result


@pytest.mark.parametrize("error", ["oserror", "safetensors"])
def test_a_full_disk_while_writing_the_pack_is_one_line_and_a_failed_result(
    world, tmp_path, capsys, monkeypatch, error
):
    from safetensors import SafetensorError

    import adapterlab.adapters.io as io

    def full(*args, **kwargs):
        if error == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(io, "save_file", full)
    out = tmp_path / "run"
    assert main(train_args(world, out)) == 2
    err = one_line_error(capsys)
    assert err == f"adapterlab: error: {out / 'pack'}: cannot be written (No space left on device)"
    result = json.loads((out / "result.json").read_text())
    assert (
        result["status"] == "failed"
        and result["error"] == f"{out / 'pack'}: cannot be written (No space left on device)"
    )
    assert not (out / "pack").exists() and not [p for p in out.iterdir() if p.name.startswith(".pack")]


def test_a_full_disk_while_writing_a_checkpoint_is_one_line(world, tmp_path, capsys, monkeypatch):
    import adapterlab.train.checkpoint as checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1324257152 vs 1324257104")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    # torch's message does not say the disk is full (a real one, PAN-X fine-tuning): the free space does
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100 << 30, 100 << 30, 3 << 20))
    out = tmp_path / "run"
    assert main(train_args(world, out)) == 2
    err = one_line_error(capsys)
    assert err == (
        f"adapterlab: error: {out / 'checkpoint'}: cannot be written ([enforce fail at inline_container.cc:672] . "
        "unexpected pos 1324257152 vs 1324257104; 3 MB free on its disk)"
    )
    assert json.loads((out / "result.json").read_text())["status"] == "failed"


# --------------------------------------------------- 8. damaged files in a run folder or pack


@pytest.mark.parametrize(
    "path, content, message",
    [
        ("config.json", '{"task": "sst2", "meth', "config.json: not valid JSON"),
        ("config.json", "[1, 2]", "config.json: expected a JSON object of run settings, got a list"),
        ("config.json", None, "config.json: field 'labels' is an object"),
        ("result.json", '{"status": "o', "result.json: not a readable run result"),
        ("pack/provenance.json", '{"task": ', "provenance.json: not a provenance record of adapterlab (not valid JSON"),
        (
            "pack/provenance.json",
            "labels",
            "provenance.json: field 'labels' is a string ('abc'); expected a list of label names",
        ),
        (
            "pack/provenance.json",
            "max_length",
            "provenance.json: field 'max_length' is a string ('64'); expected a positive integer",
        ),
        ("pack/adapter_pack.json", "[]", "adapter_pack.json: not an adapterlab task pack"),
    ],
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_damaged_file_in_a_run_or_pack_is_one_line(world, tmp_path, capsys, path, content, message, command):
    run = copy_run(world, tmp_path)
    target = run / path
    if content is None:
        target.write_text(json.dumps({**json.loads(target.read_text()), "labels": {"0": "neg"}}))
    elif content in ("labels", "max_length"):
        target.write_text(
            json.dumps({**json.loads(target.read_text()), content: "abc" if content == "labels" else "64"})
        )
    else:
        target.write_text(content)
    (tmp_path / "in.txt").write_text("a great film\n")
    out = tmp_path / ("p.jsonl" if command == "predict" else "e.json")
    data = (
        ["--data", str(tmp_path / "in.txt"), "--format", "lines"]
        if command == "predict"
        else ["--data", str(world["sst"] / "dev.tsv")]
    )
    assert main([command, str(run), *data, "--out", str(out), "--no-progress"]) == 2
    assert message in one_line_error(capsys) and not out.exists()


def test_rsa_and_crosslingual_read_a_damaged_config_in_one_line(world, tmp_path, capsys):
    run = copy_run(world, tmp_path)
    (run / "config.json").write_text('{"task": ')
    assert (
        main(
            [
                "rsa",
                "--runs",
                str(run),
                "--data",
                str(world["sst"] / "dev.tsv"),
                "--task",
                "sst2",
                "--n",
                "20",
                "--out",
                str(tmp_path / "rsa"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "config.json: not valid JSON" in one_line_error(capsys)
    (tmp_path / "dev-en.tsv").write_bytes((world["sst"] / "dev.tsv").read_bytes())
    assert (
        main(
            [
                "crosslingual",
                "--runs",
                str(run),
                "--pattern",
                str(tmp_path / "dev-{lang}.tsv"),
                "--languages",
                "en",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "config.json: not valid JSON" in one_line_error(capsys)


# --------------------------------------------------- 9. hostile YAML specs


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\ndescription: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32 levels"),
        (BOMB + "name: x\ndescription: *j\n", "once its aliases are expanded (an alias bomb?)"),
        (BOMB + "name: x\ngrid: {seed: *j}\n", "once its aliases are expanded (an alias bomb?)"),
        ("name: x\ndescription: &d [*d]\n", "refers to a node that contains it"),
        ("name: x\ndescription: '" + "x" * (1 << 20) + "'\n", "larger than 1024 KB"),
    ],
)
def test_a_hostile_spec_is_refused_fast_in_one_line(tmp_path, capsys, text, message):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    started = time.perf_counter()
    assert main(["study", "validate", str(spec)]) == 2
    assert time.perf_counter() - started < 5
    err = one_line_error(capsys)
    assert err.startswith(f"adapterlab: error: {spec}: refused, ") and message in err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"description": {"a": 1}}, "'description' must be a string (free text), got dict"),
        ({"name": {"a": 1}}, "'name' must be a non-empty string"),
        ({"tasks": {"sst2": ["train.tsv"]}}, "tasks.sst2: must be a mapping of data fields"),
        ({"tasks": {"sst2": {"task": {"a": 1}, "train": "x"}}}, "tasks.sst2.task: must be a string, got dict"),
        ({"tasks": {"sst2": {"train": {"a": 1}}}}, "tasks.sst2.train: must be a string, got dict"),
        ({"base": {"lora_targets": {"a": 1}}}, "lora_targets={'a': 1}: must name modules"),
        ({"claims": [{"id": "mine", "text": {"a": 1}, "kind": "difference"}]}, "claims[0].text: must be a string"),
        (
            {"reference": [{"task": "sst2", "method": "adapter", "value": 1.0, "note": {"a": 1}}]},
            "reference[0].note: must be a string",
        ),
    ],
)
def test_a_mapping_where_a_string_belongs_is_refused(world, change, message):
    raw = {**spec_of(world), **change}
    with pytest.raises(AdapterlabError) as err:
        expand_spec(raw, check_files=False)
    assert any(message in line for line in str(err.value).splitlines()), str(err.value)


# --------------------------------------------------- 10. --out never replaces a user's file


def test_predict_evaluate_and_claims_never_replace_a_users_file(world, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a great film\n")
    mine = {"notes.jsonl": '{"my": "notes"}\n', "notes.csv": "name,value\nx,1\n", "notes.json": '{"my": "notes"}\n'}
    for name, text in mine.items():
        (tmp_path / name).write_text(text)
    for name in ("notes.jsonl", "notes.csv"):
        assert (
            main(
                [
                    "predict",
                    str(world["run"]),
                    "--data",
                    str(tmp_path / "in.txt"),
                    "--format",
                    "lines",
                    "--out",
                    str(tmp_path / name),
                    "--no-progress",
                ]
            )
            == 2
        )
        assert "is not an earlier predictions file of adapterlab predict" in one_line_error(capsys)
    assert (
        main(
            [
                "evaluate",
                str(world["run"]),
                "--data",
                str(world["sst"] / "dev.tsv"),
                "--out",
                str(tmp_path / "notes.json"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "is not an earlier evaluation of adapterlab evaluate" in one_line_error(capsys)
    assert main(["claims", str(tmp_path), "--json", str(tmp_path / "notes.json")]) == 2
    assert "is not an earlier claims file of adapterlab claims" in one_line_error(capsys)
    assert {name: (tmp_path / name).read_text() for name in mine} == mine
    # adapterlab's own earlier output is replaced
    for name in ("p.jsonl", "p.csv"):
        for _ in range(2):
            assert (
                main(
                    [
                        "predict",
                        str(world["run"]),
                        "--data",
                        str(tmp_path / "in.txt"),
                        "--format",
                        "lines",
                        "--out",
                        str(tmp_path / name),
                        "--no-progress",
                    ]
                )
                == 0
            )
    assert json.loads((tmp_path / "p.jsonl").read_text())["index"] == 0 and (tmp_path / "p.csv").read_text().startswith(
        "index,"
    )
    for _ in range(2):
        assert (
            main(
                [
                    "evaluate",
                    str(world["run"]),
                    "--data",
                    str(world["sst"] / "dev.tsv"),
                    "--out",
                    str(tmp_path / "e.json"),
                    "--no-progress",
                ]
            )
            == 0
        )
    assert json.loads((tmp_path / "e.json").read_text())["examples"] == 21


# --------------------------------------------------- 11. a study that did not finish says so last


def test_a_study_with_a_failed_run_says_so_last_with_the_retry_command(world, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    broken = tmp_path / "no-weights"
    broken.mkdir()
    (broken / "config.json").write_bytes((Path(world["model"]) / "config.json").read_bytes())
    raw = spec_of(world)
    raw["grid"]["model"] = [world["model"], str(broken)]
    spec.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["study", "run", str(spec), "--out", str(out), "--no-progress", "--inline"]) == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-3] == "not finished: 1 of 2 run(s)"
    assert "no-weights" in lines[-2] and ": failed (" in lines[-2] and "--retry-failed reruns it" in lines[-2]
    assert lines[-1] == f"to run them again: adapterlab study run {spec} --out {out} --inline --retry-failed"
    assert main(["study", "report", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert (
        printed[1].startswith("INCOMPLETE: 1 planned run(s) did not finish (")
        and "fewer seeds than planned" in printed[1]
    )


def test_a_quickstart_with_a_died_run_says_so_last_and_exits_non_zero(world, tmp_path, capsys, monkeypatch):
    """Item 11. The quickstart (`adapterlab compare` on BBC News) ends with the runs that failed or
    died, the command that reruns them, and exit 3 (it exited 0)."""
    import adapterlab.quickstart as quickstart
    from adapterlab.runs import MARKER_FILE
    from adapterlab.study.executor import write_plan

    spec = expand_spec(spec_of(world))
    spec.runs.append(expand_spec({**spec_of(world), "grid": {"method": ["adapter"], "seed": [1]}}).runs[0])
    out = tmp_path / "quick"
    study = out / "study"
    write_plan(spec, study, [])
    for run, result in zip(
        spec.runs,
        (
            {"status": "failed", "reason": "died", "error": "killed by signal 9", "returncode": -9},
            {"status": "failed", "reason": "error", "error": "ValueError: bad"},
        ),
    ):
        (study / run.relative_dir).mkdir(parents=True)
        (study / run.relative_dir / MARKER_FILE).touch()
        (study / run.relative_dir / "result.json").write_text(json.dumps(result))
    monkeypatch.setattr(
        quickstart, "run_quickstart", lambda *args, **kwargs: None
    )  # the comparison itself is tested in test_compare
    assert main(["quickstart", "--out", str(out)]) == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-4:] == [
        "not finished: 2 of 2 run(s)",
        f"  {spec.runs[0].relative_dir}: died (killed by signal 9); the same command reruns it",
        f"  {spec.runs[1].relative_dir}: failed (ValueError: bad); --retry-failed reruns it",
        f"to run them again: adapterlab quickstart --out {out} --retry-failed",
    ]


def test_an_answer_over_fewer_seeds_than_planned_says_so_above_its_table():
    from adapterlab.compare.answer import Answer, MethodRow
    from adapterlab.compare.text import incomplete_line

    rows = [
        MethodRow("adapter", "m=64", 3, 90.0, 89.0, None, None, None, None, "pack", None, verdict="best"),
        MethodRow("finetune", "lr=5e-05", 2, 88.0, 87.0, None, None, None, None, "model", None),
    ]
    answer = Answer("bbc", "accuracy", "adapter", rows, False, {})
    assert incomplete_line(answer, 3) == (
        "\nINCOMPLETE: fine-tuning over 2 of 3 planned seeds (runs that failed, died or did not fit the budget)"
    )
    assert incomplete_line(answer, 2) == ""
