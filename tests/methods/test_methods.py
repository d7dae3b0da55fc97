"""A method is one registered object (adapterlab.methods): the built-in ones are in the registry
with everything the rest of adapterlab reads from it, and a method registered here, in the test
alone, runs through train, its pack, load, predict and a study's report without another file
knowing its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny import save_tiny_backbone, write_sentiment_tsv
from torch import nn

import adapterlab
from adapterlab import names
from adapterlab.adapters.freezing import ParamCounts, count_parameters
from adapterlab.adapters.structure import head_paths
from adapterlab.errors import AdapterlabError
from adapterlab.methods import METHODS, Method, PackLabels, get_method, method_of_pack, register, unregister

MANIFEST = "bias_pack.json"
WEIGHTS = "bias_pack.safetensors"


class BiasOnly(Method):
    """BitFit (Ben Zaken et al. 2022): only the encoder's biases and the task head train. Its pack
    is a manifest and the trained tensors, keyed by parameter name."""

    def apply(self, model: nn.Module, run, name: str, tapt) -> ParamCounts:
        heads = tuple(head_paths(model))
        for key, param in model.named_parameters():
            param.requires_grad_(key.endswith(".bias") or key.startswith(tuple(h + "." for h in heads)))
        return count_parameters(model)

    def save(self, model: nn.Module, run, name: str, labels, tokenizer, run_dir: Path, base_model) -> dict:
        pack = run_dir / "pack"
        pack.mkdir(exist_ok=True)
        trained = {k: p.detach().cpu().contiguous() for k, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(pack / WEIGHTS))
        (pack / MANIFEST).write_text(json.dumps({"labels": labels, "num_labels": model.config.num_labels}))
        return {"pack": str(pack), "pack_bytes": sum(f.stat().st_size for f in pack.iterdir())}

    def is_pack(self, path: Path) -> bool:
        return (path / MANIFEST).is_file()

    def load_pack(self, model: nn.Module, path: Path, with_head: bool = True, merge: bool = False) -> nn.Module:
        heads = tuple(h + "." for h in head_paths(model))
        own = dict(model.named_parameters())
        with torch.no_grad():
            for key, tensor in load_file(str(path / WEIGHTS)).items():
                if with_head or not key.startswith(heads):
                    own[key].copy_(tensor)
        return model

    def pack_labels(self, path: Path) -> PackLabels:
        manifest = json.loads((path / MANIFEST).read_text())
        return PackLabels(path / MANIFEST, manifest["num_labels"], manifest["labels"])


@pytest.fixture
def bias_method():
    method = register(
        BiasOnly(
            name="bias",
            title="BitFit (Ben Zaken et al. 2022)",
            words="BitFit",
            color="#8c564b",
            default_lr=1e-3,
            compare_lr=1e-3,
        )
    )
    yield method
    unregister("bias")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    for name, count, seed in (("train", 80, 0), ("dev", 30, 1)):
        write_sentiment_tsv(root / f"{name}.tsv", count, seed)
    return root, model


def test_the_built_in_methods_are_registered_once_each():
    assert tuple(METHODS) == names.METHODS
    for method in METHODS.values():
        assert method.default_lr > 0 and method.compare_lr > 0 and method.words and method.color.startswith("#")
    assert get_method("finetune").references == () and all(
        "finetune" in m.references for m in METHODS.values() if m.name != "finetune"
    )
    with pytest.raises(AdapterlabError, match="already registered"):
        register(get_method("adapter"))
    with pytest.raises(AdapterlabError, match=r"method='nope': allowed: adapter, finetune"):
        get_method("nope")


def test_a_method_registered_in_a_test_trains_packs_loads_and_predicts(bias_method, world, tmp_path):
    from adapterlab.use.predict import predict

    root, model = world
    config = {
        "task": "sst2",
        "method": "bias",
        "model": str(model),
        "train": str(root / "train.tsv"),
        "dev": str(root / "dev.tsv"),
        "epochs": 1,
        "batch_size": 8,
        "max_length": 32,
        "validation_size": 10,
        "train_size": 20,
        "progress": False,
    }
    result = adapterlab.train(config, out=tmp_path / "run")
    assert result.status == "ok" and result.method == "bias" and result.pack == str(tmp_path / "run" / "pack")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["learning_rate"] == bias_method.default_lr
    assert method_of_pack(tmp_path / "run" / "pack") is bias_method
    assert json.loads((tmp_path / "run" / "pack" / "provenance.json").read_text())["method"] == "bias"
    assert "BitFit (Ben Zaken et al. 2022)" in (tmp_path / "run" / "pack" / "README.md").read_text()
    # only the biases and the head trained: the encoder's weights are the backbone's
    trained = load_file(str(tmp_path / "run" / "pack" / WEIGHTS))
    assert trained and all(k.endswith(".bias") or k.startswith(("classifier.", "bert.pooler.")) for k in trained)

    for source in (tmp_path / "run", tmp_path / "run" / "pack"):  # the run folder, and its pack on its own
        loaded, tokenizer, labels = adapterlab.load_pack(source)
        assert labels == ["0", "1"]
        with torch.inference_mode():
            logits = loaded(**tokenizer(["a great film"], return_tensors="pt")).logits
        assert logits.shape == (1, 2) and torch.isfinite(logits).all()
        assert torch.equal(
            loaded.bert.encoder.layer[0].output.dense.bias, trained["bert.encoder.layer.0.output.dense.bias"]
        )

    (tmp_path / "in.txt").write_text("a great film\nan awful plot\n")
    out = predict([tmp_path / "run"], tmp_path / "in.txt", tmp_path / "p.jsonl", data_format="lines", progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all(row["sst2"]["label"] in ("0", "1") for row in rows)


def test_a_registered_method_is_a_study_column_tested_against_fine_tuning(bias_method, world, tmp_path):
    from studyworld import tiny_spec

    from adapterlab.report.build import build_report
    from adapterlab.study.executor import run_study
    from adapterlab.study.spec import expand_spec

    root, model = world
    spec = tiny_spec(root, model, seeds=(0, 1))
    spec["grid"]["method"] = ["bias", "finetune"]
    spec["base"]["lr"] = 1e-3
    spec["by_method"] = {"finetune": {"lr": 1e-3}}
    run_study(expand_spec(spec), tmp_path / "out", isolation="inline")
    build_report(tmp_path / "out")
    table = (tmp_path / "out" / "report" / "table.md").read_text()
    assert "bias" in table and "finetune" in table
    significance = json.loads((tmp_path / "out" / "report" / "significance.json").read_text())
    tests = significance if isinstance(significance, list) else significance.get("tests", [])
    assert tests and all(t["method"] == "bias" and t["reference"] == "finetune" and t["n_adapter"] == 2 for t in tests)
    assert all(t["verdict"] in ("inconclusive", "no verdict", "BitFit better", "fine-tuning better") for t in tests)
    assert (tmp_path / "out" / "report" / "report.html").is_file()


def test_another_methods_settings_are_refused_for_a_registered_method(bias_method):
    from adapterlab.train.config import RunConfig
    from adapterlab.train.options import unused_settings

    assert {"lora_r", "ia3_feedforward", "save_model"} <= unused_settings("bias", tapt=False)
    assert RunConfig(task="sst2", train="t.tsv", method="bias").learning_rate == bias_method.default_lr
