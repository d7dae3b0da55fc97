"""What a run shows while it trains (issue #31): training rows every --logging-steps in
metrics.jsonl and in TensorBoard (read back from the event files), the test metrics as a
summary, the run's name, group and tags, the summary before training, evaluation bars and the
progress file a study's bar reads."""

import json
import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from tiny import save_tiny_backbone, write_sentiment_tsv  # noqa: E402

from adapterlab.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("trackers")
    save_tiny_backbone(root / "model", dropout=0.0)
    write_sentiment_tsv(root / "train.tsv", 60, seed=0)
    write_sentiment_tsv(root / "dev.tsv", 20, seed=1)
    return root


def _train(root: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "train",
            "--model",
            str(root / "model"),
            "--task",
            "sst2",
            "--train",
            str(root / "train.tsv"),
            "--dev",
            str(root / "dev.tsv"),
            "--train-size",
            "30",
            "--validation-size",
            "10",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--max-length",
            "32",
            "--lr",
            "1e-2",
            *extra,
            "--out",
            str(out),
        ]
    )


def _scalar_runs(folder: Path) -> dict:
    """{tag: [(step, value)]} over every TensorBoard event folder under `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict = {}
    for events in {path.parent for path in folder.rglob("events.out.tfevents.*")}:
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
        for tag in accumulator.Tags().get("tensors", []):
            found.setdefault(f"tensor:{tag}", []).append(accumulator.Tensors(tag))
    return found


def test_logging_steps_rows_reach_metrics_jsonl_and_tensorboard(world, capsys):
    pytest.importorskip("tensorboard")
    out = world / "logged"
    # 30 examples / batch 8 = 4 steps per epoch, 8 in all: a training row at steps 3 and 6
    assert (
        _train(
            world, out, "--logging-steps", "3", "--max-grad-norm", "0", "--report-to", "tensorboard", "--no-progress"
        )
        == 0
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert [(r["at"], r["step"], r["epoch"]) for r in train] == [("step", 3, 1), ("step", 6, 2)]
    for row in train:
        assert row["loss"] > 0 and row["grad_norm"] > 0  # clipping off: the norm is still measured
    # the linear schedule (no warm-up at 6% of 8 steps): step s uses lr 1e-2 * (8 - (s - 1)) / 8
    assert [r["learning_rate"] for r in train] == pytest.approx([1e-2 * 6 / 8, 1e-2 * 3 / 8])
    scalars = _scalar_runs(out / "trackers")
    for tag, key in (
        ("train/loss", "loss"),
        ("train/learning_rate", "learning_rate"),
        ("train/grad_norm", "grad_norm"),
    ):
        assert sorted(scalars[tag]) == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in train], tag
    # the test metrics are the run's summary (a text table), never a one-point chart
    assert not any(tag.startswith("test/") for tag in scalars)
    summary = [t for t in scalars if t.startswith("tensor:summary/test")]
    assert summary, sorted(scalars)
    text = scalars[summary[0]][0][0].tensor_proto.string_val[0].decode()
    test = next(r for r in rows if r["split"] == "test")
    assert f"| test/accuracy | {test['accuracy']:.6g} |" in text


def test_run_identity_and_init_kwargs_name_study_setting_and_seed(tmp_path):
    from adapterlab.train.trackers import init_kwargs, run_identity

    run = tmp_path / "mystudy" / "bbc" / "adapter-m64-lr0.001-k200" / "seed=2"
    run.mkdir(parents=True)
    (tmp_path / "mystudy" / "study.json").write_text(json.dumps({"name": "quick"}))
    identity = run_identity(run, "bbc", "adapter", 2)
    assert (
        identity.name == "bbc/adapter-m64-lr0.001-k200/seed=2"
        and identity.group == "quick/bbc/adapter-m64-lr0.001-k200"
    )
    assert identity.tags == ("quick", "bbc", "adapter", "seed=2")
    kwargs = init_kwargs(identity)
    assert kwargs["wandb"] == {"name": identity.name, "group": identity.group, "tags": list(identity.tags)}
    assert kwargs["mlflow"]["run_name"] == identity.name
    alone = run_identity(tmp_path / "single", "sst2", "lora", 0)
    assert alone.name == "single" and alone.group is None and "group" not in init_kwargs(alone)["wandb"]


def test_tracker_project_names_the_tensorboard_folder_and_bad_values_are_refused(world, capsys):
    pytest.importorskip("tensorboard")
    out = world / "project"
    assert _train(world, out, "--report-to", "tensorboard", "--tracker-project", "sentiment", "--no-progress") == 0
    assert list((out / "trackers" / "sentiment").glob("events.out.tfevents.*"))
    capsys.readouterr()
    for bad, message in (
        (["--logging-steps", "0"], "logging_steps=0: must be an integer >= 1"),
        (["--tracker-project", "a/b"], "tracker_project='a/b': must be a name"),
    ):
        assert _train(world, world / "bad", *bad) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (world / "bad").exists()


def test_summary_before_training_and_evaluation_bars(world, capsys, caplog):
    out = world / "shown"
    with caplog.at_level(logging.INFO, logger="adapterlab.train"):
        assert _train(world, out) == 0
    summary = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("training "))
    assert "examples: 30 train, 10 validation, 20 test" in summary
    assert "steps: 4 per epoch x 2 epochs = 8 (batch 8, lr 0.01)" in summary
    assert "trainable parameters: " in summary and "device: cpu" in summary
    err = capsys.readouterr().err
    assert "validation: " in err and "ex/s" in err and "test: " in err  # the bars, counted in examples
    assert not (out / "progress.json").exists()  # removed when the run ends
    assert logging.getLogger("adapterlab.train").level == logging.NOTSET  # the command's INFO level does not outlive it


def test_progress_file_follows_the_steps(tmp_path, monkeypatch):
    from adapterlab.train import run as run_module

    writes = []
    monkeypatch.setattr(run_module, "write_json_atomic", lambda path, data: writes.append((path.name, dict(data))))
    writer = run_module._progress_writer(tmp_path, every=3600)
    for step in range(1, 6):
        writer(step, 5)
    # the first step, then nothing for an hour, but always the last step
    assert [(name, data["step"], data["steps"]) for name, data in writes] == [
        ("progress.json", 1, 5),
        ("progress.json", 5, 5),
    ]
    assert writes[0][1]["seconds_per_step"] is None and writes[1][1]["seconds_per_step"] > 0  # a pace once steps passed


def test_study_bar_counts_the_running_runs_steps(tmp_path):
    """`study run`'s bar: finished runs plus the share of each running run's steps, read from the
    progress files of runs that hold a claim; a stale file of a killed run does not count."""
    from adapterlab.study.progress import StudyBar, running_progress

    running = tmp_path / "bbc" / "adapter-m64" / "seed=0"
    killed = tmp_path / "bbc" / "adapter-m64" / "seed=1"
    for run, step in ((running, 13), (killed, 5)):
        run.mkdir(parents=True)
        (run / "progress.json").write_text(json.dumps({"step": step, "steps": 26}))
    (running.parent / "seed=0.claim").write_text("token")
    assert [(r.relative_dir, r.step, r.steps) for r in running_progress(tmp_path)] == [
        ("bbc/adapter-m64/seed=0", 13, 26)
    ]
    bar = StudyBar(tmp_path, total=4, done=1, every=3600)
    try:
        bar.update(4, 1)
        assert bar.bar.n == 1.5 and "bbc/adapter-m64/seed=0 step 13/26" in str(bar.bar)
        (running / "progress.json").unlink()  # the run ended: its result counts instead
        bar.update(4, 2, "bbc/adapter-m64/seed=0", "ok")
        assert bar.bar.n == 2 and "seed=0: ok" in str(bar.bar)
    finally:
        bar.close()
