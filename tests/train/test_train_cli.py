"""`adapterlab train` end to end on a tiny backbone, for every task kind, TAPT, divergence,
bad input and resume safety (2-process runs: test_multiprocess.py)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny import save_tiny_backbone, write_sentiment_tsv

import adapterlab as al
from adapterlab.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    sst = root / "sst"
    sst.mkdir()
    write_sentiment_tsv(sst / "train.tsv", 150, seed=0)
    write_sentiment_tsv(sst / "dev.tsv", 41, seed=1)  # odd sizes: gathering must not pad or drop
    write_sentiment_tsv(sst / "test.tsv", 37, seed=2)
    rte = root / "rte"
    rte.mkdir()
    pairs = ["index\tsentence1\tsentence2\tlabel"] + [
        f"{i}\tjohn visited london\t{'john visited london' if i % 2 else 'mary works at acme'}\t{'entailment' if i % 2 else 'not_entailment'}"
        for i in range(60)
    ]
    (rte / "train.tsv").write_text("\n".join(pairs) + "\n")
    (rte / "dev.tsv").write_text("\n".join(pairs[:21]) + "\n")
    stsb = root / "stsb"
    stsb.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    rows = [header] + [
        f"{i}\tm\tf\t2012\t{i}\tn\tn\tthe film was {'great' if i % 3 else 'bad'}\tthe movie is good\t{(i % 3) * 2.5:.3f}"
        for i in range(60)
    ]
    (stsb / "train.tsv").write_text("\n".join(rows) + "\n")
    (stsb / "dev.tsv").write_text("\n".join(rows[:25]) + "\n")
    panx = root / "panx"
    panx.mkdir()
    sentences = [
        "john\tB-PER\nvisited\tO\nlondon\tB-LOC\n",
        "mary\tB-PER\nworks\tO\nat\tO\nacme\tB-ORG\ncorp\tI-ORG\n",
        "paris\tB-LOC\nis\tO\ngreat\tO\n",
    ]
    (panx / "train-en.tsv").write_text("\n".join(sentences * 20))
    (panx / "dev-en.tsv").write_text("\n".join(sentences * 5))
    return {"root": root, "model": str(model), "sst": sst, "rte": rte, "stsb": stsb, "panx": panx}


def train(world, out, *extra):
    args = [
        "train",
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--batch-size",
        "8",
        "--epochs",
        "2",
        *extra,
    ]
    return main(args)


def result_of(out):
    return json.loads((Path(out) / "result.json").read_text())


def rows_of(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_classification_low_resource_adapter(world, tmp_path, capsys):
    out = tmp_path / "run"
    code = train(
        world,
        out,
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--train-size",
        "60",
        "--validation-size",
        "40",
        "--lr",
        "1e-2",
        "--epochs",
        "4",
    )
    assert code == 0
    result = result_of(out)
    assert result["status"] == "ok" and result["protocol"] == "low-resource"
    assert result["test"]["count"] == 41  # the original dev set is the test set
    assert result["best_validation"]["count"] == 40
    assert result["metric"] == "accuracy" and result["test_metric"] == result["test"]["accuracy"]
    assert result["params_by_role"]["adapter"] == 2 * 2 * (2 * 32 * 64 + 32 + 64)
    for key in (
        "wall_seconds",
        "train_examples_per_second",
        "peak_memory_mb",
        "versions",
        "trainable_params",
        "total_params",
    ):
        assert result[key] is not None
    assert set(result["versions"]) >= {"torch", "transformers", "adapterlab", "git_sha"}
    rows = rows_of(out)
    assert [r["epoch"] for r in rows if r["split"] == "validation"] == [1, 2, 3, 4]
    assert rows[-1]["split"] == "test"
    config = json.loads((out / "config.json").read_text())
    assert config["learning_rate"] == 0.01 and config["split_sizes"] == {"train": 60, "validation": 40, "test": 41}
    printed = capsys.readouterr().out
    assert "ok: sst2 adapter seed 0" in printed and "task pack:" in printed
    import transformers

    fresh = transformers.AutoModelForSequenceClassification.from_pretrained(world["model"], num_labels=2)
    assert al.load_adapter(fresh, out / "pack") == "sst2"
    assert al.read_pack_info(out / "pack").labels == ["0", "1"]


def test_finetuning_learns_the_toy_task(world, tmp_path):
    out = tmp_path / "learn"
    assert (
        train(
            world,
            out,
            "--task",
            "sst2",
            "--data",
            str(world["sst"]),
            "--method",
            "finetune",
            "--lr",
            "1e-3",
            "--epochs",
            "10",
            "--batch-size",
            "16",
            "--warmup-ratio",
            "0",
        )
        == 0
    )
    result = result_of(out)
    assert result["protocol"] == "plain" and result["test"]["count"] == 37
    assert result["test_metric"] > 0.9  # one cue word decides the label
    first = next(r for r in rows_of(out) if r["split"] == "validation")
    assert result["best_validation"]["loss"] < first["loss"]


def test_same_seed_reproduces_the_run(world, tmp_path):
    args = (
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--train-size",
        "40",
        "--validation-size",
        "20",
        "--lr",
        "1e-2",
    )
    train(world, tmp_path / "a", *args)
    train(world, tmp_path / "b", *args)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert strip(rows_of(tmp_path / "a")) == strip(rows_of(tmp_path / "b"))


def test_pair_classification_finetune_plain_protocol_saves_model(world, tmp_path):
    out = tmp_path / "rte"
    assert (
        train(
            world,
            out,
            "--task",
            "rte",
            "--train",
            str(world["rte"] / "train.tsv"),
            "--dev",
            str(world["rte"] / "dev.tsv"),
            "--test",
            str(world["rte"] / "dev.tsv"),
            "--method",
            "finetune",
            "--lr",
            "1e-3",
            "--save-model",
        )
        == 0
    )
    result = result_of(out)
    assert result["protocol"] == "plain" and result["trainable_percent"] == 100.0
    assert (out / "model" / "model.safetensors").is_file() and not (out / "pack").exists()


def test_regression_stsb(world, tmp_path):
    out = tmp_path / "stsb"
    assert train(world, out, "--task", "stsb", "--data", str(world["stsb"]), "--lr", "1e-2") == 0
    result = result_of(out)
    assert result["metric"] == "spearman" and set(result["test"]) >= {"pearson", "spearman", "loss"}


def test_token_classification_panx_with_step_evaluation(world, tmp_path):
    out = tmp_path / "panx"
    assert (
        train(
            world,
            out,
            "--task",
            "panx",
            "--train",
            str(world["panx"] / "train-en.tsv"),
            "--dev",
            str(world["panx"] / "dev-en.tsv"),
            "--test",
            str(world["panx"] / "dev-en.tsv"),
            "--lr",
            "1e-2",
            "--eval-every",
            "3",
        )
        == 0
    )
    result = result_of(out)
    assert result["metric"] == "entity_f1" and "accuracy" in result["test"]
    steps = [r["step"] for r in rows_of(out) if r.get("at") == "step"]
    assert steps and all(s % 3 == 0 for s in steps)


@pytest.mark.parametrize("method", ["adapter", "finetune"])
def test_tapt_then_task(world, tmp_path, capsys, method):
    out = tmp_path / f"tapt-{method}"
    assert (
        train(
            world,
            out,
            "--task",
            "sst2",
            "--data",
            str(world["sst"]),
            "--train-size",
            "40",
            "--validation-size",
            "20",
            "--method",
            method,
            "--tapt",
            "--tapt-epochs",
            "2",
            "--lr",
            "1e-3",
            "--tapt-head",
            "fresh",
        )
        == 0
    )
    result = result_of(out)
    assert result["tapt"]["head_fresh"] is True and "fresh initialization" in result["tapt"]["note"]
    assert result["tapt"]["head"] == {"source": "fresh"}
    assert result["tapt"]["mlm_loss_best"] <= result["tapt"]["mlm_loss_start"]
    assert any(r["split"].startswith("tapt-") for r in rows_of(out))
    assert "fresh initialization" in capsys.readouterr().out
    if method == "adapter":
        assert (out / "tapt_pack").is_dir()


def test_diverged_run_is_recorded_not_crashed(world, tmp_path, monkeypatch):
    import torch

    from adapterlab.train import loop

    real = loop.example_losses
    calls = {"n": 0}

    def explode_on_third_step(logits, labels, kind):
        losses, counts = real(logits, labels, kind)
        if not torch.is_grad_enabled():
            return losses, counts  # evaluation stays finite
        calls["n"] += 1
        return (losses * float("nan") if calls["n"] >= 3 else losses), counts

    monkeypatch.setattr(loop, "example_losses", explode_on_third_step)
    out = tmp_path / "diverged"
    code = train(
        world,
        out,
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--train-size",
        "40",
        "--validation-size",
        "20",
        "--method",
        "finetune",
        "--lr",
        "1e-3",
    )
    assert code == 3
    result = result_of(out)
    assert result["status"] == "diverged" and result["steps"] == 2
    assert result["test_metric"] is not None  # recorded with its metric
    assert torch.isfinite(torch.tensor(result["test"]["loss"]))


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--task", "sst3"), "task 'sst3' is not known"),
        (("--task", "rte", "--train-size", "5000"), "need 6000, but only 60 are available"),
        (("--task", "rte", "--format", "glorp"), "data_format='glorp': allowed: auto"),
        (("--task", "rte", "--epochs", "0"), "epochs=0: must be an integer >= 1"),
        (("--task", "rte", "--model", "/nonexistent/model-folder"), "could not be loaded"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(world, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    args = ["train", "--data", str(world["rte"]), "--model", world["model"], "--out", str(out), "--no-progress", *extra]
    if "--model" in extra:
        args = ["train", "--data", str(world["rte"]), "--out", str(out), "--no-progress", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("adapterlab: error:")
    assert not out.exists()


def test_out_below_a_file_names_the_file(world, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile" / "run", tmp_path / "afile" / "sub" / "run"):
        assert (
            main(
                [
                    "train",
                    "--task",
                    "rte",
                    "--data",
                    str(world["rte"]),
                    "--model",
                    world["model"],
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert (
            err
            == f"adapterlab: error: {tmp_path / 'afile'}: is a file, where a folder is needed (in an --out path, or above one)"
        )
    # study run, predict and rsa refuse it before any work (no source is even loaded here)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: s\ntasks:\n  sst2: {{train: {world['sst'] / 'train.tsv'}}}\ngrid: {{method: [adapter], seed: [0]}}\n"
        f"base: {{model: {world['model']}, train_size: 20, validation_size: 10}}\n"
    )
    for command in (
        ["study", "run", str(spec), "--out", str(tmp_path / "afile" / "study")],
        [
            "predict",
            str(tmp_path / "no-run"),
            "--data",
            str(world["sst"] / "dev.tsv"),
            "--out",
            str(tmp_path / "afile" / "p.csv"),
        ],
        [
            "rsa",
            "--runs",
            str(tmp_path / "no-run"),
            "--data",
            str(world["sst"] / "dev.tsv"),
            "--task",
            "sst2",
            "--out",
            str(tmp_path / "afile" / "rsa"),
        ],
    ):
        assert main(command) == 2
        assert f"{tmp_path / 'afile'} is a file, where a folder is needed" in capsys.readouterr().err


def test_bad_data_file_names_file_and_line(world, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(world["rte"] / "dev.tsv", bad / "dev.tsv")
    (bad / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n")
    assert (
        main(["train", "--task", "rte", "--data", str(bad), "--model", world["model"], "--out", str(tmp_path / "o")])
        == 2
    )
    assert "train.tsv:3: wrong column count: 3 columns, expected 4" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_completed_run_is_not_overwritten_by_accident(world, tmp_path, capsys):
    out = tmp_path / "done"
    args = (
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--train-size",
        "20",
        "--validation-size",
        "10",
        "--epochs",
        "1",
    )
    assert train(world, out, *args) == 0
    assert train(world, out, *args) == 2
    assert "already complete" in capsys.readouterr().err
    assert train(world, out, *args, "--overwrite") == 0


def _cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return [sys.executable, "-m", "adapterlab", *args], env


def test_killed_run_leaves_no_result_and_reruns_cleanly(world, tmp_path):
    out = tmp_path / "killed"
    args = [
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
        "--epochs",
        "400",
        "--batch-size",
        "8",
    ]
    command, env = _cli(*args)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (
        (out / "metrics.jsonl").exists() and (out / "metrics.jsonl").stat().st_size > 0
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "metrics.jsonl").exists(), "the run never got to its first evaluation"
    assert not (out / "result.json").exists()
    assert (out / ".adapterlab-run").is_file()  # the killed run's folder is ours, so the rerun may clear it
    assert main(args[:-4] + ["--epochs", "1", "--batch-size", "8"]) == 0
    assert result_of(out)["status"] == "ok"
    assert [r["epoch"] for r in rows_of(out) if r["split"] == "validation"] == [1]  # the stale log was cleared
