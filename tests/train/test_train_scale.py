"""Training at scale (issue #15): gradient accumulation gives the same run as one big batch,
gradient checkpointing the same gradients, and early stopping is opt-in and recorded."""

import json

import pytest
import torch
from tiny import random_batch, save_tiny_backbone, tiny_model, write_sentiment_tsv

import adapterlab as al
from adapterlab.cli import main
from adapterlab.train.model_setup import enable_gradient_checkpointing


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    model = save_tiny_backbone(root / "model", dropout=0.0)  # no dropout: splits of a batch compute the same thing
    for name, count, seed in (("train", 70, 0), ("dev", 20, 1), ("test", 20, 2)):
        write_sentiment_tsv(root / f"{name}.tsv", count, seed)
    return root, model


def run(data, out, *extra):
    root, model = data
    args = [
        "train",
        "--task",
        "sst2",
        "--train",
        str(root / "train.tsv"),
        "--dev",
        str(root / "dev.tsv"),
        "--test",
        str(root / "test.tsv"),
        "--model",
        str(model),
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        *extra,
    ]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return json.loads((out / "result.json").read_text()), [r["loss"] for r in rows if r["split"] == "validation"]


@pytest.mark.parametrize("method", ["adapter", "finetune"])
def test_gradient_accumulation_matches_one_batch(data, tmp_path, method):
    whole, losses = run(data, tmp_path / "whole", "--method", method)
    split, split_losses = run(data, tmp_path / "split", "--method", method, "--grad-accum", "4")
    assert split["steps"] == whole["steps"] == 2 * 5  # ceil(70 / 16) optimizer steps per epoch either way
    assert split_losses == pytest.approx(losses, rel=1e-5, abs=1e-6)
    assert split["test"]["loss"] == pytest.approx(whole["test"]["loss"], rel=1e-5)


def test_grad_accum_larger_than_the_batch_is_refused(data, tmp_path, capsys):
    root, model = data
    assert (
        main(
            [
                "train",
                "--task",
                "sst2",
                "--data",
                str(root),
                "--model",
                str(model),
                "--out",
                str(tmp_path / "x"),
                "--batch-size",
                "4",
                "--grad-accum",
                "8",
            ]
        )
        == 2
    )
    assert "grad_accum=8: must not exceed batch_size=4" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
@pytest.mark.parametrize("method", ["adapter", "finetune"])
@pytest.mark.parametrize("fast", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(arch, method, fast):
    def gradients(checkpointing: bool) -> dict:
        model = tiny_model(arch, "sequence")
        for module in model.modules():  # dropout on: checkpointing must redraw the same masks
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.1
        if method == "adapter":
            al.add_adapters(model, al.AdapterConfig(size=8, init="zero_up"), name="t")
        al.set_trainable(model, method)
        if checkpointing:
            enable_gradient_checkpointing(model)
        model.train()
        torch.manual_seed(5)
        with al.fast_training_ops(fast):
            loss = model(**random_batch()).logits.square().mean()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, checkpointed = gradients(False), gradients(True)
    assert plain.keys() == checkpointed.keys() and plain
    for name in plain:
        assert torch.allclose(plain[name], checkpointed[name], atol=1e-6), name


def test_a_run_with_gradient_checkpointing(data, tmp_path):
    plain, losses = run(data, tmp_path / "plain")
    checkpointed, checkpointed_losses = run(data, tmp_path / "ckpt", "--gradient-checkpointing")
    assert checkpointed["status"] == "ok" and checkpointed_losses == pytest.approx(losses, rel=1e-5)


def test_early_stopping_is_opt_in_and_recorded(data, tmp_path):
    off, _ = run(data, tmp_path / "off", "--lr", "1e-12", "--epochs", "4")
    assert off["stopped_early"] is None and off["steps"] == 4 * 5
    learned, losses = run(
        data,
        tmp_path / "on",
        "--method",
        "finetune",
        "--lr",
        "3e-3",
        "--warmup-ratio",
        "0",
        "--epochs",
        "10",
        "--early-stop",
        "1",
    )
    # past a constant predictor's score, one evaluation without a gain stops training
    best = learned["best_validation"]
    assert learned["stop_reason"] == "converged" and best["mcc"] > 0.05, best
    stopped = learned["stopped_early"]
    assert (
        stopped == {"epoch": learned["best_epoch"] + 1, "step": 5 * stopped["epoch"]}
        and len(losses) == stopped["epoch"]
    )


def test_convergence_stopping_waits_while_validation_is_a_constant_predictors(data, tmp_path):
    """At lr 1e-12 the model never leaves its first predictions (MCC 0, one class): a plateau at a
    constant predictor's score is where a slow start waits (ChemProt fine-tuning sat at the majority
    class for 4 epochs in some seeds and left it by epoch 9 in others), so it runs to the ceiling."""
    flat, losses = run(data, tmp_path / "flat", "--lr", "1e-12", "--epochs", "4", "--early-stop", "1")
    assert abs(flat["best_validation"]["mcc"]) <= 0.05
    assert flat["stopped_early"] is None and flat["stop_reason"] == "ceiling" and flat["steps"] == 4 * 5
    assert len(losses) == 4


def test_patience_counts_from_the_first_best_that_leaves_a_constant_predictors_score(data, tmp_path, monkeypatch):
    """A first step off the majority class is often one validation example, below min_delta: it
    restarts patience, so the run does not stop at the very evaluation where it starts to learn.
    (ChemProt fine-tuning at 3e-5, seed 3, one example lower at epoch 4, stopped there, 19 points
    below where that seed got.)"""
    scripted = iter(
        [(0.40, 0.0)] * 3 + [(0.402, 0.12)] + [(0.402, 0.12)] * 6  # at chance for 3 epochs, then one example better
    )

    def evaluate(*args, **kwargs):
        accuracy, mcc = next(scripted)
        return {"loss": 0.7, "accuracy": accuracy, "mcc": mcc, "count": 20}

    monkeypatch.setattr("adapterlab.train.loop.evaluate", evaluate)
    result, _ = run(data, tmp_path / "r", "--epochs", "10", "--early-stop", "3", "--early-stop-min-delta", "0.002")
    # epochs 1-3 at chance (no stop however long), epoch 4 leaves it (patience restarts), 5-7 no gain
    assert result["stopped_early"]["epoch"] == 7 and result["best_epoch"] == 4, result["stopped_early"]


def test_a_run_with_no_finite_validation_metric_does_not_stop_as_converged(data, tmp_path, monkeypatch):
    """No evaluation with a finite metric (a NaN metric is never a best) is no best at all:
    nothing has converged, so the run goes to its ceiling."""

    def evaluate(*args, **kwargs):
        return {"loss": 0.7, "accuracy": float("nan"), "mcc": float("nan"), "count": 20}

    monkeypatch.setattr("adapterlab.train.loop.evaluate", evaluate)
    result, _ = run(data, tmp_path / "r", "--epochs", "6", "--early-stop", "2")
    assert result["stopped_early"] is None and result["stop_reason"] != "converged", result["stop_reason"]


def _train_command(root, model, out, *extra) -> list[str]:
    """`adapterlab train` on root's train/dev/test TSVs, batch 4, lr 1e-3, length 32, plus `extra`."""
    import sys

    return [
        sys.executable,
        "-m",
        "adapterlab",
        "train",
        "--task",
        "sst2",
        "--train",
        str(root / "train.tsv"),
        "--dev",
        str(root / "dev.tsv"),
        "--test",
        str(root / "test.tsv"),
        "--model",
        str(model),
        "--out",
        str(out),
        "--no-progress",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--max-length",
        "32",
        *extra,
    ]


# the epoch-end checkpoint of the task phase is resumed from in the TAPT test's task-phase case below
@pytest.mark.parametrize("extra, epochs, kill_after", [(["--eval-every", "25"], 2, 1)], ids=["mid-epoch"])
def test_a_killed_run_resumes_from_its_last_checkpoint_and_ends_as_if_never_stopped(
    tmp_path, extra, epochs, kill_after
):
    """Killed with SIGKILL after `kill_after` validations: from an epoch-end checkpoint, or with
    --eval-every from a step-level one inside an epoch (60 steps per epoch; evaluations at steps
    25, 50, 60, 85, ...). Either way the result equals the uninterrupted run's."""
    import os
    import signal
    import subprocess
    import time

    model = save_tiny_backbone(tmp_path / "model", dropout=0.1)  # dropout on: the random states must be restored too
    for name, count, seed in (("train", 240, 0), ("dev", 30, 1), ("test", 30, 2)):
        write_sentiment_tsv(tmp_path / f"{name}.tsv", count, seed)

    def command(out):
        return _train_command(tmp_path, model, out, "--epochs", str(epochs), *extra)

    whole = tmp_path / "whole"
    subprocess.run(command(whole), check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    log = killed / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not log.exists() or log.read_text().count('"validation"') < kill_after):
        time.sleep(0.05)
    validated = time.time()
    state = killed / "checkpoint" / "state.pt"  # the checkpoint that follows that validation
    while time.time() < deadline and (not state.is_file() or state.stat().st_mtime < validated - 0.05):
        time.sleep(0.02)
    time.sleep(0.3 if not extra else 0.05)  # a few steps past the checkpoint (inside epoch 1 for the mid-epoch case)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "result.json").exists() and (killed / "checkpoint" / "state.pt").is_file()
    subprocess.run(command(killed), check=True, capture_output=True, timeout=600)
    ours, theirs = json.loads((killed / "result.json").read_text()), json.loads((whole / "result.json").read_text())
    assert theirs["resumed_from"] is None and ours["resumed_from"]["step"] >= 25  # it continued, it did not start over
    if extra:  # resumed inside epoch 1, from a step-level checkpoint
        assert ours["resumed_from"]["epoch"] == 0 and ours["resumed_from"]["step"] in (25, 50)
    else:
        assert ours["resumed_from"]["epoch"] >= 2
    assert ours["steps"] == theirs["steps"] == epochs * 60 and ours["best_epoch"] == theirs["best_epoch"]
    assert ours["best_step"] == theirs["best_step"]
    assert ours["test"]["loss"] == pytest.approx(theirs["test"]["loss"], rel=1e-6)
    assert ours["validation_metric"] == pytest.approx(theirs["validation_metric"])
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    whole_rows = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    points = [(r["epoch"], r["step"], r["at"]) for r in rows if r["split"] == "validation"]
    assert points == [
        (r["epoch"], r["step"], r["at"]) for r in whole_rows if r["split"] == "validation"
    ]  # each once, none lost
    assert [r["loss"] for r in rows if r["split"] == "validation"] == pytest.approx(
        [r["loss"] for r in whole_rows if r["split"] == "validation"], rel=1e-5
    )
    assert not (killed / "checkpoint").exists()  # removed when the run finished


@pytest.mark.parametrize("phase, method", [("tapt", "adapter"), ("task", "finetune")])
def test_a_killed_tapt_run_resumes_in_its_phase_and_ends_as_if_never_stopped(tmp_path, phase, method):
    """Killed during TAPT: the TAPT phase continues from its own checkpoint. Killed in the task
    phase: TAPT's outcome (tapt_pack, or the fine-tuned encoder) stands and is not redone. Either
    way the result equals the uninterrupted run's, and the resume state is gone at the end."""
    import os
    import signal
    import subprocess
    import time

    model = save_tiny_backbone(tmp_path / "model", dropout=0.1)
    for name, count, seed in (("train", 80, 0), ("dev", 20, 1), ("test", 20, 2)):
        write_sentiment_tsv(tmp_path / f"{name}.tsv", count, seed)

    def command(out):
        return _train_command(
            tmp_path,
            model,
            out,
            "--epochs",
            "2",
            "--method",
            method,
            "--tapt",
            "--tapt-epochs",
            "3",
            "--tapt-head",
            "fresh",
        )

    whole = tmp_path / "whole"
    subprocess.run(command(whole), check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    log = killed / "metrics.jsonl"
    deadline = time.time() + 300
    if phase == "tapt":  # TAPT's first epoch checkpoint is written: kill inside its second epoch
        while time.time() < deadline and not (killed / "tapt_checkpoint" / "state.pt").exists():
            time.sleep(0.02)
    else:  # the task phase has trained and evaluated its first epoch
        while time.time() < deadline and (not log.exists() or '"split": "validation"' not in log.read_text()):
            time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "result.json").exists()
    assert (killed / ("tapt_checkpoint" if phase == "tapt" else "tapt_done.json")).exists()
    resumed = subprocess.run(command(killed), check=True, capture_output=True, text=True, timeout=600)
    if phase == "task":
        assert "TAPT finished before the run was stopped" in resumed.stderr
    ours, theirs = json.loads((killed / "result.json").read_text()), json.loads((whole / "result.json").read_text())
    assert ours["test"]["loss"] == pytest.approx(theirs["test"]["loss"], rel=1e-6)
    assert ours["tapt"]["mlm_loss_best"] == pytest.approx(theirs["tapt"]["mlm_loss_best"], rel=1e-6)
    assert ours["tapt"]["mlm_loss_start"] == pytest.approx(theirs["tapt"]["mlm_loss_start"], rel=1e-6)
    if phase == "tapt":
        assert ours["tapt"]["resumed_from"]["epoch"] >= 1
    # a reused TAPT phase says so: its steps took no time in this process (study/eta.py pace_of)
    assert ours["tapt"].get("reused", False) == (phase == "task") and "reused" not in theirs["tapt"]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    whole_rows = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["at"], r["step"]) for r in rows] == [
        (r["split"], r["at"], r["step"]) for r in whole_rows
    ]  # none twice, none lost
    assert not any(
        (killed / entry).exists()
        for entry in ("checkpoint", "tapt_checkpoint", "tapt_done.json", "tapt_encoder.safetensors")
    )
