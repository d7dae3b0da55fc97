"""`adapterlab import-adapterhub` (issue #18) on folders laid out as AdapterHub `adapters` 1.x's
save_adapter writes them (adapter_config.json, pytorch_adapter.bin or adapter.safetensors,
head_config.json, pytorch_model_head.bin): the imported pack gives the logits of the model the
weights came from, and other configurations or unsafe files are one-line errors. The same import
against the real library, with its own logits, is benchmarks/parity_adapterhub.py --import."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parents[1]))

from tiny import HIDDEN, random_batch, save_tiny_backbone  # noqa: E402

import adapterlab as al  # noqa: E402
from adapterlab.cli import main  # noqa: E402
from adapterlab.use.adapterhub import import_adapterhub  # noqa: E402
from adapterlab.use.adapterhub_folder import DOUBLE_SEQ_BN  # noqa: E402
from adapterlab.use.load import load_task  # noqa: E402

SIZE = 8
LABELS = {"neg": 0, "neu": 1, "pos": 2}


def _reference(model_path: Path, tanh: str = "tanh", pooler: bool = True):
    """A tiny BERT task model with adapters and a head of random weights: what AdapterHub would have
    trained. pooler=False keeps the backbone's pooler, as a model with its own head does."""
    import transformers

    torch.manual_seed(3)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=3)
    al.add_adapters(model, al.AdapterConfig(size=SIZE, nonlinearity=tanh), name="ref")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".adapters.ref." in name or (".heads.ref." in name and (pooler or "pooler" not in name)):
                param.copy_(torch.randn(param.shape) * 0.2)
    return model.eval()


def _write_adapterhub(
    model, folder: Path, safetensors: bool = False, config: dict | None = None, head: bool = True, static: bool = False
) -> Path:
    """The reference model's adapter and head under AdapterHub's file names and keys: a flexible
    head (heads.NAME.1 / .4), or static=True, the model's own head (config null, classifier.*)."""
    folder.mkdir(parents=True)
    params = dict(model.named_parameters())
    adapter = {}
    for name, tensor in params.items():
        if ".dropout.adapters.ref." in name:
            site, _, rest = name.partition(".dropout.adapters.ref.")
            part, leaf = rest.split(".")
            adapter[f"{site}.adapters.sentiment.{'adapter_down.0' if part == 'down' else 'adapter_up'}.{leaf}"] = (
                tensor.detach().clone()
            )
    settings = {
        **DOUBLE_SEQ_BN,
        "reduction_factor": HIDDEN / SIZE,
        "non_linearity": "tanh",
        "dropout": 0.0,
        "leave_out": [],
        "init_weights": "bert",
        "phm_dim": 4,
        **(config or {}),
    }
    (folder / "adapter_config.json").write_text(
        json.dumps(
            {
                "config": settings,
                "hidden_size": HIDDEN,
                "model_class": "BertAdapterModel",
                "model_name": "tiny-bert",
                "model_type": "bert",
                "name": "sentiment",
                "version": "adapters.1.3.0",
            }
        )
    )
    if safetensors:
        save_file(adapter, str(folder / "adapter.safetensors"))
    else:
        torch.save(adapter, folder / "pytorch_adapter.bin")
    if head and static:
        weights = {
            n.replace(".heads.ref.", "."): params[n].detach().clone()
            for n in params
            if n.startswith("classifier.heads.ref.")
        }
        (folder / "head_config.json").write_text(
            json.dumps(
                {
                    "config": None,
                    "hidden_size": HIDDEN,
                    "label2id": LABELS,
                    "model_class": "BertForSequenceClassification",
                    "model_name": "tiny-bert",
                    "model_type": "bert",
                    "name": None,
                    "num_labels": 3,
                    "version": "adapters.1.3.0",
                }
            )
        )
        torch.save(weights, folder / "pytorch_model_head.bin")
    elif head:
        pooler = [n for n in params if n.startswith("bert.pooler") and ".heads.ref." in n]
        classifier = [n for n in params if n.startswith("classifier") and ".heads.ref." in n]
        weights = {f"heads.sentiment.1.{n.rsplit('.', 1)[1]}": params[n].detach().clone() for n in pooler}
        weights.update({f"heads.sentiment.4.{n.rsplit('.', 1)[1]}": params[n].detach().clone() for n in classifier})
        assert len(weights) == 4, list(weights)
        (folder / "head_config.json").write_text(
            json.dumps(
                {
                    "config": {
                        "head_type": "classification",
                        "num_labels": 3,
                        "layers": 2,
                        "activation_function": "tanh",
                        "label2id": LABELS,
                        "use_pooler": False,
                        "bias": True,
                        "dropout_prob": None,
                    },
                    "hidden_size": HIDDEN,
                    "model_class": "BertAdapterModel",
                    "model_name": "tiny-bert",
                    "model_type": "bert",
                    "name": "sentiment",
                    "version": "adapters.1.3.0",
                }
            )
        )
        torch.save(weights, folder / "pytorch_model_head.bin")
    return folder


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return save_tiny_backbone(tmp_path_factory.mktemp("hub") / "model", dropout=0.0)


@pytest.mark.parametrize("safetensors, static", [(False, False), (True, False), (False, True)])
def test_an_imported_pack_gives_the_source_models_logits(backbone, tmp_path, safetensors, static, capsys):
    reference = _reference(backbone, pooler=not static)
    folder = _write_adapterhub(reference, tmp_path / "hub", safetensors=safetensors, static=static)
    assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 0
    line = capsys.readouterr().out.strip()
    assert "'sentiment'" in line and "m=8" in line and "classification head (3 labels)" in line
    task = load_task(tmp_path / "pack")
    assert task.labels.names == ("neg", "neu", "pos") and task.spec.name == "classification"
    batch = random_batch()
    with torch.no_grad():
        theirs = reference(**batch).logits
        ours = task.model(**batch).logits
    assert (ours - theirs).abs().max().item() < 1e-6
    assert (theirs - theirs.mean()).abs().max().item() > 1e-3  # the logits are not trivially equal
    card = (tmp_path / "pack" / "README.md").read_text()
    assert "import-adapterhub" in card
    # predict runs the imported pack like any other
    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\na dull film\n")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "pack"),
                "--data",
                str(texts),
                "--format",
                "lines",
                "--out",
                str(tmp_path / "p.jsonl"),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [set(r["classification"]["probabilities"]) for r in rows] == [set(LABELS)] * 2


def test_an_adapter_without_a_head_imports_adapters_only(backbone, tmp_path, capsys):
    from safetensors.torch import load_file

    folder = _write_adapterhub(_reference(backbone), tmp_path / "hub", head=False)
    assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 0
    keys = load_file(str(tmp_path / "pack" / "adapter_pack.safetensors")).keys()
    assert keys and not any(k.startswith("heads.") for k in keys)
    assert not (tmp_path / "pack" / "provenance.json").exists()
    manifest = json.loads((tmp_path / "pack" / "adapter_pack.json").read_text())
    assert (
        manifest["num_labels"] is None and manifest["labels"] is None
    )  # the manifest says what the weights hold: no head
    # predict says what the pack lacks (a head), not how it was saved
    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\n")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "pack"),
                "--data",
                str(texts),
                "--format",
                "lines",
                "--out",
                str(tmp_path / "p.jsonl"),
            ]
        )
        == 2
    )
    assert "adapters without a task head" in capsys.readouterr().err and not (tmp_path / "p.jsonl").exists()


def test_labels_task_and_base_model_follow_the_head(backbone, tmp_path, capsys, caplog):
    """AdapterHub's placeholder labels take the task's names by index; a label count the task does
    not have is refused; a 1-output head imports as regression; another recorded base model warns;
    --max-length is capped to the position table."""
    import logging

    reference = _reference(backbone)
    folder = _write_adapterhub(reference, tmp_path / "hub")
    head_config = json.loads((folder / "head_config.json").read_text())
    head_config["config"]["label2id"] = {f"LABEL_{i}": i for i in range(3)}
    (folder / "head_config.json").write_text(json.dumps(head_config))
    assert (
        main(
            [
                "import-adapterhub",
                str(folder),
                "--model",
                str(backbone),
                "--task",
                "mnli",
                "--max-length",
                "100000",
                "--out",
                str(tmp_path / "mnli"),
            ]
        )
        == 0
    )
    provenance = json.loads((tmp_path / "mnli" / "provenance.json").read_text())
    assert provenance["labels"] == ["entailment", "neutral", "contradiction"] and provenance["max_length"] == 64
    assert (
        main(
            [
                "import-adapterhub",
                str(folder),
                "--model",
                str(backbone),
                "--task",
                "sst2",
                "--out",
                str(tmp_path / "sst2"),
            ]
        )
        == 2
    )
    assert "the head has 3 labels, task sst2 has 2" in capsys.readouterr().err
    record = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**record, "model_name": "someone/another-minilm"}))
    caplog.clear()
    with caplog.at_level(logging.INFO):  # the user named the base: a note, not a warning to name it
        assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "other")]) == 0
    assert [r.levelno for r in caplog.records if "someone/another-minilm" in r.getMessage()] == [logging.INFO]
    assert "records base someone/another-minilm; importing it onto --model" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the default base: warn, and say how to name another
        import_adapterhub(folder, tmp_path / "default", str(backbone))
    assert (
        "was trained on someone/another-minilm; importing it onto the default" in caplog.text
        and "with --model" in caplog.text
    )
    # a one-output head: regression
    regression = tmp_path / "reg"
    shutil.copytree(folder, regression)
    head_config["config"].update(num_labels=1, label2id={"LABEL_0": 0})
    (regression / "head_config.json").write_text(json.dumps(head_config))
    weights = torch.load(regression / "pytorch_model_head.bin", weights_only=True)
    weights["heads.sentiment.4.weight"], weights["heads.sentiment.4.bias"] = (
        weights["heads.sentiment.4.weight"][:1],
        weights["heads.sentiment.4.bias"][:1],
    )
    torch.save(weights, regression / "pytorch_model_head.bin")
    assert (
        main(["import-adapterhub", str(regression), "--model", str(backbone), "--out", str(tmp_path / "regpack")]) == 0
    )
    assert json.loads((tmp_path / "regpack" / "provenance.json").read_text())["kind"] == "regression"


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"mh_adapter": False},
            "configuration seq_bn (Pfeiffer: one bottleneck per layer) (mh_adapter=False) is not supported",
        ),
        ({"is_parallel": True}, "configuration par_bn (parallel bottleneck)"),
        ({"architecture": "lora"}, "configuration lora (architecture='lora') is not supported"),
        ({"leave_out": [0]}, "leave_out=[0]"),
        ({"reduction_factor": 5}, "reduction_factor=5 does not divide the hidden size 32"),
        ({"non_linearity": "leakyrelu"}, "non_linearity='leakyrelu' has no adapterlab counterpart"),
        ({"architecture": "lora", "composition_mode": "scale"}, "configuration ia3"),
        ({"phm_layer": True}, "configuration compacter (PHM layers)"),
    ],
)
def test_other_configurations_are_one_line_errors(backbone, tmp_path, capsys, change, message):
    folder = _write_adapterhub(_reference(backbone), tmp_path / "hub", config=change)
    capsys.readouterr()  # building the reference loads a model outside main(), whose bars are not the CLI's
    assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 2
    err = capsys.readouterr().err
    assert (
        message in err
        and "adapter_config.json" in err
        and len(err.strip().splitlines()) == 1
        and "Traceback" not in err
    )
    assert not (tmp_path / "pack").exists()


class Payload:  # anything but tensors: torch.load(weights_only=True) must refuse to build it
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_unsafe_or_broken_files_are_refused_in_one_line(backbone, tmp_path, capsys):
    folder = _write_adapterhub(_reference(backbone), tmp_path / "hub")
    torch.save({"x": Payload()}, folder / "pytorch_adapter.bin")
    capsys.readouterr()  # building the reference loads a model outside main(), whose bars are not the CLI's
    assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 2
    captured = capsys.readouterr()
    assert (
        "pytorch_adapter.bin: not a readable adapter weights file (it holds objects other than tensors" in captured.err
    )
    assert (
        "unpickled!" not in captured.out
        and "weights_only set to False" not in captured.err
        and len(captured.err.strip().splitlines()) == 1
    )
    (folder / "pytorch_adapter.bin").unlink()
    assert main(["import-adapterhub", str(folder), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 2
    assert "no adapter weights (adapter.safetensors or pytorch_adapter.bin)" in capsys.readouterr().err
    assert main(["import-adapterhub", str(tmp_path / "nothing"), "--out", str(tmp_path / "pack")]) == 2
    assert "not a folder" in capsys.readouterr().err
    roberta = _write_adapterhub(_reference(backbone), tmp_path / "hub2")
    record = json.loads((roberta / "adapter_config.json").read_text())
    (roberta / "adapter_config.json").write_text(json.dumps({**record, "model_type": "roberta"}))
    assert main(["import-adapterhub", str(roberta), "--model", str(backbone), "--out", str(tmp_path / "pack")]) == 2
    assert "trained on a roberta model" in capsys.readouterr().err
    assert not (tmp_path / "pack").exists()
