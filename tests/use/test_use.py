"""Using what was trained (issue #18): `adapterlab predict` and `adapterlab evaluate` on run
folders and task packs of every method, provenance and the model card, bad input."""

import dataclasses
import json
import logging
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))

from tiny import save_tiny_backbone, write_sentiment_tsv  # noqa: E402

from adapterlab.cli import main  # noqa: E402
from adapterlab.train.model_card import hub_base_model  # noqa: E402
from adapterlab.train.provenance import read_provenance  # noqa: E402

PANX = [
    "john\tB-PER\nvisited\tO\nlondon\tB-LOC\n",
    "mary\tB-PER\nworks\tO\nat\tO\nacme\tB-ORG\ncorp\tI-ORG\n",
    "paris\tB-LOC\nis\tO\ngreat\tO\n",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An adapter run, a LoRA run (when peft is installed), a fine-tuning run with --save-model and a token-task run."""
    root = tmp_path_factory.mktemp("use")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    write_sentiment_tsv(root / "train.tsv", 80, seed=0)
    write_sentiment_tsv(root / "test.tsv", 30, seed=1)
    (root / "panx").mkdir()
    (root / "panx" / "train-en.tsv").write_text("\n".join(PANX * 12))
    (root / "panx" / "dev-en.tsv").write_text("\n".join(PANX * 3))
    common = [
        "train",
        "--model",
        str(model),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        "--no-progress",
    ]
    sst = [
        "--task",
        "sst2",
        "--train",
        str(root / "train.tsv"),
        "--dev",
        str(root / "test.tsv"),
        "--train-size",
        "40",
        "--validation-size",
        "20",
    ]
    runs = {}
    methods = [("adapter", ["--adapter-size", "8", "--lr", "1e-2"]), ("finetune", ["--lr", "1e-3", "--save-model"])]
    try:
        import peft  # noqa: F401

        methods.append(("lora", ["--lora-r", "4", "--lr", "1e-2"]))
    except ImportError:
        pass
    for method, extra in methods:
        assert main([*common, *sst, "--method", method, *extra, "--out", str(root / method)]) == 0
        runs[method] = root / method
    assert (
        main(
            [
                *common,
                "--task",
                "panx",
                "--train",
                str(root / "panx" / "train-en.tsv"),
                "--dev",
                str(root / "panx" / "dev-en.tsv"),
                "--test",
                str(root / "panx" / "dev-en.tsv"),
                "--lr",
                "1e-2",
                "--out",
                str(root / "panx-run"),
            ]
        )
        == 0
    )
    runs["panx"] = root / "panx-run"
    return root, model, runs


def _result(run):
    return json.loads((run / "result.json").read_text())


@pytest.mark.parametrize("method", ["adapter", "finetune", "lora"])
def test_evaluate_reproduces_the_runs_own_test_metric(trained, tmp_path, method, capsys):
    root, _, runs = trained
    if method not in runs:
        pytest.skip("peft is not installed")
    sources = [runs[method]] + ([runs[method] / "pack"] if method != "finetune" else [])
    for source in sources:
        out = tmp_path / f"{source.name}.json"
        assert main(["evaluate", str(source), "--data", str(root / "test.tsv"), "--out", str(out)]) == 0
        evaluation = json.loads(out.read_text())
        assert evaluation["value"] == pytest.approx(_result(runs[method])["test_metric"], abs=1e-9)
        assert evaluation["examples"] == 30 and evaluation["metrics"]["loss"] == pytest.approx(
            _result(runs[method])["test"]["loss"], rel=1e-5
        )
        line = capsys.readouterr().out.strip()
        assert (
            line.startswith(f"sst2 ({method}) on ")
            and "accuracy" in line
            and str(out) in line
            and len(line.splitlines()) == 1
        )


def test_evaluate_default_names_differ_per_run_and_never_overwrite(trained, tmp_path, monkeypatch, capsys):
    root, _, runs = trained
    monkeypatch.chdir(tmp_path)
    for source in (runs["adapter"] / "pack", runs["finetune"]):  # two runs' packs were both named pack/ before
        assert main(["evaluate", str(source), "--data", str(root / "test.tsv"), "--no-progress"]) == 0
    written = sorted(path.name for path in tmp_path.glob("*.eval.json"))
    assert len(written) == 2 and all(name.startswith("test.") and ".pack." not in name for name in written), written
    assert capsys.readouterr().err == ""  # --no-progress: no bar
    assert main(["evaluate", str(runs["adapter"] / "pack"), "--data", str(root / "test.tsv"), "--no-progress"]) == 2
    assert "exists (an earlier evaluation)" in capsys.readouterr().err


def test_predict_writes_null_for_non_finite_outputs_and_says_so(trained, tmp_path, caplog, capsys):
    """A diverged run's NaN weights give NaN logits: never a NaN token in the JSONL (invalid JSON)."""
    from safetensors.torch import load_file, save_file

    root, _, runs = trained
    pack = tmp_path / "nanpack"
    shutil.copytree(runs["adapter"] / "pack", pack)
    tensors = load_file(str(pack / "adapter_pack.safetensors"))
    head = next(k for k in tensors if k.startswith("heads.") and k.endswith("weight"))
    tensors[head] = torch.full_like(tensors[head], float("nan"))
    save_file(tensors, str(pack / "adapter_pack.safetensors"))
    texts = tmp_path / "texts.txt"
    texts.write_text("great fun film\nawful plot\n")
    for suffix in (".jsonl", ".csv"):
        with caplog.at_level(logging.WARNING):
            assert (
                main(
                    [
                        "predict",
                        str(pack),
                        "--data",
                        str(texts),
                        "--format",
                        "lines",
                        "--out",
                        str(tmp_path / f"p{suffix}"),
                        "--no-progress",
                    ]
                )
                == 0
            )
    rows = [
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the JSONL"))
        for line in (tmp_path / "p.jsonl").read_text().splitlines()
    ]
    assert [r["sst2"] for r in rows] == [{"label": None, "probabilities": {"0": None, "1": None}}] * 2
    assert "2 of 2 inputs gave non-finite outputs" in caplog.text
    assert "nan" not in (tmp_path / "p.csv").read_text().lower()
    # evaluate: argmax over NaN is class 0, which would pass for a majority-class score; no metric instead
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(pack),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(tmp_path / "e.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    evaluation = json.loads((tmp_path / "e.json").read_text())
    assert (
        evaluation["value"] is None
        and evaluation["metrics"]["accuracy"] is None
        and evaluation["metrics"]["nonfinite"] == 30
    )
    line = capsys.readouterr().out
    assert "accuracy n/a" in line and "did the run diverge?" in line and len(line.strip().splitlines()) == 1


def test_predict_one_and_several_tasks_jsonl_and_csv(trained, tmp_path):
    root, _, runs = trained
    texts = tmp_path / "texts.txt"
    texts.write_bytes(
        "\ufeffgreat fun film\r\n\r\nawful boring plot\r\nthe music\r\n".encode()
    )  # BOM, CRLF, a blank line
    out = tmp_path / "one.jsonl"
    assert (
        main(
            [
                "predict",
                str(runs["adapter"] / "pack"),
                "--data",
                str(texts),
                "--format",
                "lines",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["great fun film", "awful boring plot", "the music"]
    assert [r["line"] for r in rows] == [1, 3, 4]  # the blank line 2 is skipped; each row still names its input line
    for row in rows:
        probabilities = row["sst2"]["probabilities"]
        assert sum(probabilities.values()) == pytest.approx(1.0) and row["sst2"]["label"] == max(
            probabilities, key=probabilities.get
        )
    several = [str(runs[m]) for m in ("adapter", "finetune", "lora") if m in runs]
    out_csv = tmp_path / "several.csv"
    assert main(["predict", *several, "--data", str(root / "test.tsv"), "--out", str(out_csv), "--no-progress"]) == 0
    header = out_csv.read_text().splitlines()[0].split(",")
    assert header[:3] == ["index", "line", "text"] and sum(h.endswith(":label") for h in header) == len(several)
    assert len(out_csv.read_text().splitlines()) == 31
    # the adapter's predictions are the same alone and with the others
    # two packs both in folders named pack/, and one source twice: every source keeps its own key
    both = tmp_path / "both.jsonl"
    assert (
        main(
            [
                "predict",
                str(runs["adapter"] / "pack"),
                str(runs["adapter"] / "pack"),
                "--data",
                str(texts),
                "--format",
                "lines",
                "--out",
                str(both),
                "--no-progress",
            ]
        )
        == 0
    )
    keys = [k for k in json.loads(both.read_text().splitlines()[0]) if k.startswith("sst2")]
    assert len(keys) == 2 and len(set(keys)) == 2
    # a run's pack/ is keyed by its run folder, not by "pack"
    pair = tmp_path / "pair.jsonl"
    assert (
        main(
            [
                "predict",
                str(runs["adapter"] / "pack"),
                str(runs["finetune"]),
                "--data",
                str(texts),
                "--format",
                "lines",
                "--out",
                str(pair),
                "--no-progress",
            ]
        )
        == 0
    )
    keys = [k for k in json.loads(pair.read_text().splitlines()[0]) if k.startswith("sst2")]
    assert keys == [f"sst2@{runs['adapter'].name}", f"sst2@{runs['finetune'].name}"]
    # a folder with one subfolder per class, as the training readers read it: each row names its file
    folder = tmp_path / "by_class"
    for label, text in (("neg", "awful boring plot"), ("pos", "great fun film")):
        (folder / label).mkdir(parents=True)
        (folder / label / "a.txt").write_text(text + "\n")
    assert (
        main(
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(folder),
                "--out",
                str(tmp_path / "folder.jsonl"),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "folder.jsonl").read_text().splitlines()]
    assert [(r["file"], r["text"]) for r in rows] == [
        ("neg/a.txt", "awful boring plot"),
        ("pos/a.txt", "great fun film"),
    ]


def _perturbed_copy(pack: Path, out: Path) -> Path:
    """The pack with its adapters' weights scaled: another task for the same backbone and head shape."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(pack, out)
    weights = load_file(str(out / "adapter_pack.safetensors"))
    save_file(
        {k: (v * 3 + 0.05 if ".up." in k or ".down." in k else v) for k, v in weights.items()},
        str(out / "adapter_pack.safetensors"),
    )
    return out


def test_several_adapter_packs_run_in_one_backbone_pass_and_match_each_alone(trained, tmp_path):
    """Adapter packs on the same base share one model and one pass per batch (rows routed per task);
    every task's probabilities equal those of predicting it alone."""
    from adapterlab.use.load import load_tasks
    from adapterlab.use.predict import _groups

    root, _, runs = trained
    first = runs["adapter"] / "pack"
    second = _perturbed_copy(first, tmp_path / "other" / "pack")
    sources = [first, second] + ([runs["lora"]] if "lora" in runs else [])
    tasks = load_tasks(sources)
    assert tasks[0].model is tasks[1].model and tasks[0].adapter != tasks[1].adapter  # the backbone is loaded once
    assert [len(g) for g in _groups(tasks)] == [2] + ([1] if "lora" in runs else [])
    together = tmp_path / "together.jsonl"
    assert (
        main(
            [
                "predict",
                *map(str, sources),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(together),
                "--batch-size",
                "7",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in together.read_text().splitlines()]
    keys = [k for k in rows[0] if k.startswith("sst2")]
    assert len(keys) == len(sources)
    differ = 0
    for key, source in zip(keys, sources):
        alone_file = tmp_path / f"alone{keys.index(key)}.jsonl"
        assert (
            main(["predict", str(source), "--data", str(root / "test.tsv"), "--out", str(alone_file), "--no-progress"])
            == 0
        )
        alone = [json.loads(line)["sst2"] for line in alone_file.read_text().splitlines()]
        for row, single in zip(rows, alone):
            assert row[key]["label"] == single["label"]
            assert row[key]["probabilities"] == pytest.approx(single["probabilities"], abs=1e-5)
    differ = sum(abs(r[keys[0]]["probabilities"]["1"] - r[keys[1]]["probabilities"]["1"]) > 1e-4 for r in rows)
    assert differ > len(rows) // 2  # the two adapter tasks really differ, so the routing was tested


def test_predict_a_token_task_gives_one_tag_per_word(trained, tmp_path):
    _, _, runs = trained
    lines = tmp_path / "sentences.txt"
    lines.write_text("john visited paris\nmary works at acme corp today\n")
    out = tmp_path / "tags.jsonl"
    assert (
        main(
            [
                "predict",
                str(runs["panx"]),
                "--data",
                str(lines),
                "--format",
                "lines",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["panx"]["tags"]) for r in rows] == [3, 6] and all(
        isinstance(t, str) for r in rows for t in r["panx"]["tags"]
    )
    assert rows[0]["tokens"] == ["john", "visited", "paris"]


def test_provenance_and_card_match_the_run(trained, tmp_path, monkeypatch):
    root, model, runs = trained
    pack = runs["adapter"] / "pack"
    provenance = json.loads((pack / "provenance.json").read_text())
    result, config = _result(runs["adapter"]), json.loads((runs["adapter"] / "config.json").read_text())
    assert (
        provenance["task"] == "sst2" and provenance["labels"] == config["labels"] and provenance["metric"] == "accuracy"
    )
    # no place on this machine in a pack: the base folder (outside the working folder) by its name; the run's config keeps the path
    assert (
        provenance["test"] == result["test"]
        and provenance["base_model_path"] == Path(config["model_path"]).name == "model"
    )
    assert provenance["base_local"] and config["model_path"] == str(model.resolve())
    assert (
        provenance["versions"]["transformers"] == result["versions"]["transformers"]
        and len(provenance["base_config_sha256"]) == 64
    )
    card = (pack / "README.md").read_text()
    assert card.startswith("---\n") and "\nlibrary_name: adapterlab\n" in card.split("---")[1]
    assert provenance["command"] in card and "`0`, `1`" in card
    # a local base model is no Hub id: the card's metadata leaves base_model out and its text names the folder
    assert "base_model:" not in card.split("---")[1] and f"a local folder, {Path(config['model_path']).name}" in card
    recorded = read_provenance(pack)
    assert [
        hub_base_model(dataclasses.replace(recorded, base_model=name, base_local=False))
        for name in (
            None,
            "default",
            "minilm",
            "roberta-base",
            "FacebookAI/xlm-roberta-large",
            str(model),
            "../my models/x",
        )
    ] == [*["sentence-transformers/all-MiniLM-L6-v2"] * 3, "roberta-base", "FacebookAI/xlm-roberta-large", None, None]
    # the recorded command reproduces the run, from the folder that holds its files (named without their place)
    assert provenance["command"].endswith("--out NEW_RUN_FOLDER") and "--train train.tsv" in provenance["command"]
    monkeypatch.chdir(root)
    command = provenance["command"].split()[1:-1] + [str(tmp_path / "again"), "--no-progress"]
    assert main(command) == 0
    assert _result(tmp_path / "again")["test_metric"] == result["test_metric"]


def test_a_backbone_with_other_weights_warns_and_a_wrong_shape_fails(trained, tmp_path, caplog, capsys):
    root, model, runs = trained
    other = tmp_path / "other"
    shutil.copytree(model, other)
    config = json.loads((other / "config.json").read_text())
    config["initializer_range"] = 0.03  # the same shapes, another checkpoint
    (other / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        assert (
            main(
                [
                    "evaluate",
                    str(runs["adapter"] / "pack"),
                    "--data",
                    str(root / "test.tsv"),
                    "--model",
                    str(other),
                    "--out",
                    str(tmp_path / "e.json"),
                ]
            )
            == 0
        )
    assert "this backbone's config differs" in caplog.text
    import transformers

    # the same config, other weights (another seed of the same architecture): warns too
    reseeded = tmp_path / "reseeded"
    save_tiny_backbone(reseeded, dropout=0.0, seed=7)
    shutil.copy(model / "config.json", reseeded / "config.json")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert (
            main(
                [
                    "evaluate",
                    str(runs["adapter"] / "pack"),
                    "--data",
                    str(root / "test.tsv"),
                    "--model",
                    str(reseeded),
                    "--out",
                    str(tmp_path / "r.json"),
                ]
            )
            == 0
        )
    assert "same shapes but other weights" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # its own base: no warning
        assert (
            main(
                [
                    "evaluate",
                    str(runs["adapter"] / "pack"),
                    "--data",
                    str(root / "test.tsv"),
                    "--out",
                    str(tmp_path / "own.json"),
                ]
            )
            == 0
        )
    assert "other weights" not in caplog.text and "differs" not in caplog.text

    wider = tmp_path / "wider"
    shutil.copytree(model, wider)
    config = transformers.AutoConfig.from_pretrained(wider)
    config.hidden_size = 48  # a backbone of another width: the adapters cannot fit
    transformers.BertModel(config).save_pretrained(wider, safe_serialization=True)
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(runs["adapter"] / "pack"),
                "--data",
                str(root / "test.tsv"),
                "--model",
                str(wider),
                "--out",
                str(tmp_path / "wider.json"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_and_write_nothing(trained, tmp_path, capsys):
    root, _, runs = trained
    unlabelled = tmp_path / "test.tsv"
    unlabelled.write_text("index\tsentence\n0\tgreat film\n1\tawful plot\n")  # GLUE's test files have no labels
    cases = [
        (
            ["evaluate", str(runs["adapter"]), "--data", str(unlabelled), "--out", str(tmp_path / "x.json")],
            "GLUE's test files are unlabeled",
        ),
        (
            ["predict", str(runs["adapter"]), "--data", str(root / "test.tsv"), "--out", str(tmp_path / "x.txt")],
            "must end in .jsonl or .csv",
        ),
        (
            ["evaluate", str(runs["adapter"]), "--data", str(root / "test.tsv"), "--out", str(tmp_path / "x.txt")],
            "must end in .json",
        ),
        (
            [
                "predict",
                str(tmp_path / "nothing"),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(tmp_path / "x.jsonl"),
            ],
            "not a folder",
        ),
        (
            ["predict", str(root), "--data", str(root / "test.tsv"), "--out", str(tmp_path / "x.jsonl")],
            "neither a finished run folder",
        ),
        (
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(tmp_path / "missing.tsv"),
                "--out",
                str(tmp_path / "x.jsonl"),
            ],
            "file not found",
        ),
        (
            [
                "predict",
                str(runs["adapter"]),
                str(runs["panx"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(tmp_path / "x.jsonl"),
            ],
            "different inputs",
        ),
    ]
    cases.append(
        (
            [
                "predict",
                str(runs["finetune"]),
                "--data",
                str(root / "test.tsv"),
                "--model",
                str(root / "model"),
                "--out",
                str(tmp_path / "x.jsonl"),
            ],
            "--model applies to adapter and PEFT runs",
        )
    )
    cases.append(
        (
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(tmp_path / "x.jsonl"),
                "--batch-size",
                "0",
            ],
            "must be an integer >= 1",
        )
    )
    cases.append(
        (
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--format",
                "lines",
                "--encoding",
                "bogus",
                "--out",
                str(tmp_path / "x.jsonl"),
            ],
            "--encoding 'bogus': not a known text encoding",
        )
    )
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder is needed")
    cases.append(
        (
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(blocked / "x.jsonl"),
                "--no-progress",
            ],
            f"--out {blocked / 'x.jsonl'}: {blocked} is a file, where a folder is needed",
        )
    )
    cases.append(
        (
            ["evaluate", str(runs["adapter"]), "--data", str(root / "test.tsv"), "--out", str(blocked / "x.json")],
            f"--out {blocked / 'x.json'}: {blocked} is a file, where a folder is needed",
        )
    )
    same = tmp_path / "same.csv"
    same.write_text("text,label\ngreat film,1\n")
    cases.append(
        (
            ["predict", str(runs["adapter"]), "--data", str(same), "--format", "csv", "--out", str(same)],
            "is the input file",
        )
    )
    cases.append(
        (
            ["evaluate", str(runs["adapter"]), "--data", str(root / "test.tsv"), "--out", str(root / "test.tsv")],
            "must end in .json",
        )
    )
    cases.append(
        (["evaluate", str(runs["adapter"]), "--data", str(root / "test.tsv"), "--out", ""], "must end in .json")
    )
    # a run's or pack's own files are never replaced by an output
    cases.append(
        (
            [
                "evaluate",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(runs["adapter"] / "result.json"),
            ],
            "inside the run folder",
        )
    )
    cases.append(
        (
            [
                "evaluate",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(runs["adapter"] / "pack" / "provenance.json"),
            ],
            "inside the task pack",
        )
    )
    cases.append(
        (
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(root / "test.tsv"),
                "--out",
                str(runs["adapter"] / "metrics.jsonl"),
            ],
            "inside the run folder",
        )
    )
    for args, message in cases:
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exit:  # argparse's own checks exit from inside main
            code = exit.code
        assert code == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("x.*"))
    # a pair task's line holds exactly two texts: a third is not silently glued onto the second
    from adapterlab.errors import AdapterlabError
    from adapterlab.use.predict import read_lines

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a premise\ta hypothesis\na\tb\tc\n")
    with pytest.raises(
        AdapterlabError, match=r"pairs.txt:2: a pair task needs two texts separated by one tab \(found 2\)"
    ):
        read_lines(pairs, pair=True, token=False, encoding="utf-8")
    # predicting an unlabelled GLUE test file works
    assert (
        main(
            [
                "predict",
                str(runs["adapter"]),
                "--data",
                str(unlabelled),
                "--out",
                str(tmp_path / "ok.jsonl"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert len((tmp_path / "ok.jsonl").read_text().splitlines()) == 2


def test_report_to_tensorboard_logs_every_metrics_row(tmp_path, capsys):
    """--report-to tensorboard: the settings as hyperparameters and each metrics.jsonl row as
    scalars, read back from the event file offline; metrics.jsonl is unchanged."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    write_sentiment_tsv(tmp_path / "train.tsv", 60, seed=0)
    write_sentiment_tsv(tmp_path / "dev.tsv", 20, seed=1)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--model",
                str(model),
                "--task",
                "sst2",
                "--train",
                str(tmp_path / "train.tsv"),
                "--dev",
                str(tmp_path / "dev.tsv"),
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
                "--eval-every",
                "2",
                "--no-progress",
                "--report-to",
                "tensorboard",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    events = list((out / "trackers").rglob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    validation = [r for r in rows if r["split"] == "validation"]
    assert (
        "validation/accuracy" in tags and "test/accuracy" not in tags
    )  # the test metrics are the run's summary (test_trackers.py)
    logged = accumulator.Scalars("validation/accuracy")
    assert [round(e.value, 6) for e in logged] == [round(r["accuracy"], 6) for r in validation]
    assert [e.step for e in logged] == [r["step"] for r in validation]
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "--model",
                str(model),
                "--task",
                "sst2",
                "--train",
                str(tmp_path / "train.tsv"),
                "--report-to",
                "neptune",
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )
    assert "report_to='neptune': not a tracker" in capsys.readouterr().err


def test_push_and_load_a_pack_through_the_hub(trained, tmp_path, monkeypatch, capsys):
    """The network is mocked (huggingface_hub's HfApi and snapshot_download), not the files: push
    uploads the pack folder as it is, and hf://OWNER/NAME loads what the Hub would hand back."""
    import huggingface_hub
    from huggingface_hub import errors

    root, _, runs = trained
    pack = runs["adapter"] / "pack"
    calls = []

    class FakeCommit:
        commit_url = "https://huggingface.co/me/sst2-adapter/commit/abc"

    monkeypatch.setattr(
        huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw))
    )
    monkeypatch.setattr(
        huggingface_hub.HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw)) or FakeCommit()
    )
    assert main(["push", str(pack), "me/sst2-adapter"]) == 0
    assert "hf://me/sst2-adapter" in capsys.readouterr().out
    upload = next(c[1] for c in calls if c[0] == "upload")
    assert upload["repo_id"] == "me/sst2-adapter" and Path(upload["folder_path"]) == pack
    uploaded = {p.name for p in pack.iterdir() if any(Path(p.name).match(g) for g in upload["allow_patterns"])}
    assert {"README.md", "provenance.json", "adapter_pack.json", "adapter_pack.safetensors"} <= uploaded

    hub_copy = tmp_path / "hub-cache" / "snapshot"
    shutil.copytree(pack, hub_copy)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, revision=None, **kw: str(hub_copy))
    out = tmp_path / "hub.json"
    assert main(["evaluate", "hf://me/sst2-adapter@main", "--data", str(root / "test.tsv"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["value"] == pytest.approx(_result(runs["adapter"])["test_metric"], abs=1e-9)

    def offline(repo_id, **kw):
        raise errors.OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    capsys.readouterr()
    assert (
        main(["predict", "hf://me/sst2-adapter", "--data", str(root / "test.tsv"), "--out", str(tmp_path / "p.jsonl")])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "hf://me/sst2-adapter: offline" in err
        and len(err.strip().splitlines()) == 1
        and not (tmp_path / "p.jsonl").exists()
    )
    for bad, message in (("hf://nobody", "a Hub pack is hf://OWNER/NAME"),):
        assert main(["predict", bad, "--data", str(root / "test.tsv"), "--out", str(tmp_path / "p.jsonl")]) == 2
        assert message in capsys.readouterr().err
    assert main(["push", str(root), "me/x"]) == 2
    assert "not a task pack with provenance" in capsys.readouterr().err
    assert main(["push", str(pack), "no-owner"]) == 2
    assert "repo id 'no-owner': give OWNER/NAME" in capsys.readouterr().err
    assert main(["push", str(pack), "hf://me/sst2-adapter"]) == 0  # the hf:// form of the name is fine too
    assert "hf://hf://" not in capsys.readouterr().out


def test_a_hub_id_backbone_records_its_cached_snapshots_hash_and_revision(tmp_path, monkeypatch):
    """A run given a Hub id loads it from the local Hub cache (…/snapshots/<commit>/): provenance
    reads the config hash, the weights fingerprint and the commit from that snapshot."""
    import hashlib

    import huggingface_hub.constants

    from adapterlab.train.provenance import config_sha256, local_folder, provenance_of, weights_fingerprint

    model = save_tiny_backbone(tmp_path / "model")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-bert"
    shutil.copytree(model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    assert local_folder("someone/tiny-bert") == repo / "snapshots" / commit
    assert config_sha256("someone/tiny-bert") == hashlib.sha256((Path(model) / "config.json").read_bytes()).hexdigest()
    assert weights_fingerprint("someone/tiny-bert") == weights_fingerprint(str(model)) is not None
    record = provenance_of(
        {"model": "someone/tiny-bert", "model_path": "someone/tiny-bert", "method": "adapter", "task": "sst2"}, {}
    )
    assert record.revision == commit and record.base_config_sha256 == config_sha256(str(model))
    assert local_folder("someone/not-cached") is None and config_sha256("someone/not-cached") is None


def test_every_provenance_field_is_type_checked_on_read():
    """A field added to Provenance must be known to read_provenance: a pack written by this version
    is otherwise refused as 'unknown field' by the same version (it happened once, with base_local)."""
    import dataclasses

    from adapterlab.train import provenance

    assert {f.name for f in dataclasses.fields(provenance.Provenance)} == set(provenance._PROVENANCE_TYPES)
