"""Packs that work everywhere (issue #31): PEFT packs that peft's AutoPeftModel loads, label names
for pipelines, adapterlab.load_pack (folders and hf://), `adapterlab export` (merged weights and
ONNX, each checked against the pack's logits), a Hub-native model card, and no absolute local
path in any file of a pack."""

import json
import os
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))

from tiny import WORDS, save_tiny_backbone  # noqa: E402

import adapterlab  # noqa: E402
from adapterlab.cli import main  # noqa: E402

LABELS = ["neg", "neu", "pos"]
CUES = {"neg": ["bad", "awful", "dull"], "neu": ["plot", "actor", "story"], "pos": ["great", "good", "fun"]}
TEXTS = ["great fun film", "awful dull plot", "the story of an actor", "good movie but long"]


def _write_topics(path: Path, count: int, seed: int) -> None:
    """Three named classes, each told by a cue word: text<TAB>label with a header."""
    rng = random.Random(seed)
    neutral = [w for w in WORDS[:40] if not any(w in cues for cues in CUES.values())]
    lines = ["text\tlabel"]
    for _ in range(count):
        label = rng.choice(LABELS)
        words = [rng.choice(neutral) for _ in range(rng.randint(3, 8))] + [rng.choice(CUES[label])]
        rng.shuffle(words)
        lines.append(" ".join(words) + "\t" + label)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    """An adapter run and a LoRA run on a 3-label task, trained from their folder with a relative
    --model, as a user who keeps the base model beside the data does."""
    pytest.importorskip("peft")
    root = tmp_path_factory.mktemp("packs").resolve()
    save_tiny_backbone(root / "model", dropout=0.0)
    _write_topics(root / "train.tsv", 90, seed=0)
    _write_topics(root / "test.tsv", 30, seed=1)
    here = os.getcwd()
    os.chdir(root)
    try:
        common = [
            "train",
            "--task",
            "classification",
            "--train",
            "train.tsv",
            "--test",
            "test.tsv",
            "--model",
            "model",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--max-length",
            "32",
            "--no-progress",
        ]
        for method, extra in (
            ("adapter", ["--adapter-size", "8", "--lr", "1e-2"]),
            ("lora", ["--lora-r", "4", "--lr", "1e-2"]),
        ):
            assert main([*common, "--method", method, *extra, "--out", method]) == 0
    finally:
        os.chdir(here)
    return root


def _logits(model, tokenizer, texts=TEXTS) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(
            **{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        ).logits.float()


# PEFT's own loader (PeftModel.__init__) reads transformers' deprecated is_gradient_checkpointing: PEFT's to
# change, not adapterlab's, which never calls it on transformers 5
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_auto_peft_model_loads_a_lora_pack_with_its_labels(packs, monkeypatch):
    from peft import AutoPeftModelForSequenceClassification

    pack = packs / "lora" / "pack"
    config = json.loads((pack / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "model" and config["task_type"] == "SEQ_CLS"
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["id2label"] == {"0": "neg", "1": "neu", "2": "pos"} and manifest["label2id"] == {
        "neg": 0,
        "neu": 1,
        "pos": 2,
    }
    monkeypatch.chdir(packs)  # base_model_name_or_path is relative to where the run was started
    loaded = AutoPeftModelForSequenceClassification.from_pretrained(
        str(pack), id2label={int(k): v for k, v in manifest["id2label"].items()}, label2id=manifest["label2id"]
    ).eval()
    model, tokenizer, labels = adapterlab.load_pack(packs / "lora" / "pack")
    assert labels == LABELS and loaded.config.id2label == {0: "neg", 1: "neu", 2: "pos"}
    difference = (_logits(loaded, tokenizer) - _logits(model, tokenizer)).abs().max().item()
    assert difference < 1e-5, difference


@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_a_pipeline_prints_the_tasks_label_names(packs, method):
    from transformers import pipeline

    model, tokenizer, labels = adapterlab.load_pack(packs / method)  # a run folder works as well as its pack
    assert labels == LABELS and model.config.id2label == dict(enumerate(LABELS))
    outputs = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")(TEXTS)
    assert [o["label"] for o in outputs] == [LABELS[i] for i in _logits(model, tokenizer).argmax(-1).tolist()]


def test_load_pack_takes_a_hub_pack(packs, tmp_path, monkeypatch):
    """hf://OWNER/NAME through huggingface_hub (mocked, as the other Hub tests do): the downloaded
    pack finds its local base model where it says it is, relative to the working folder."""
    import huggingface_hub

    copy = tmp_path / "snapshot"
    shutil.copytree(packs / "adapter" / "pack", copy)
    asked = []
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda repo_id, revision=None, **kw: asked.append((repo_id, revision)) or str(copy),
    )
    monkeypatch.chdir(packs)
    model, tokenizer, labels = adapterlab.load_pack("hf://me/topics@v1")
    assert asked == [("me/topics", "v1")] and labels == LABELS
    local, _, _ = adapterlab.load_pack(packs / "adapter" / "pack")
    assert torch.equal(_logits(model, tokenizer), _logits(local, tokenizer))
    # a copy elsewhere on this machine finds the base through the adapterlab cache's note of local bases
    monkeypatch.chdir(tmp_path)
    elsewhere, _, _ = adapterlab.load_pack("hf://me/topics")
    assert torch.equal(_logits(elsewhere, tokenizer), _logits(local, tokenizer))
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "another-machine"))  # elsewhere: one line says what to do
    with pytest.raises(
        adapterlab.AdapterlabError, match=r"its base model, the local folder 'model' .* is not here; pass --model"
    ):
        adapterlab.load_pack("hf://me/topics")


def test_export_merged_lora_matches_the_pack_and_adapters_are_refused(packs, tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "merged"
    assert main(["export", str(packs / "lora"), "--format", "merged", "--out", str(out)]) == 0
    assert "max |logit difference| vs the pack" in capsys.readouterr().out
    merged = AutoModelForSequenceClassification.from_pretrained(
        out
    ).eval()  # transformers alone: no peft, no adapterlab
    assert not any("lora" in name for name, _ in merged.named_parameters())
    model, tokenizer, _ = adapterlab.load_pack(packs / "lora")
    assert (_logits(merged, tokenizer) - _logits(model, tokenizer)).abs().max().item() < 1e-5
    assert merged.config.id2label == dict(enumerate(LABELS))
    assert json.loads((out / "export.json").read_text())["max_abs_logit_difference"] < 1e-5

    refused = tmp_path / "refused"
    assert main(["export", str(packs / "adapter"), "--format", "merged", "--out", str(refused)]) == 2
    err = capsys.readouterr().err
    assert "adapter packs cannot be merged" in err and "--format onnx" in err and len(err.strip().splitlines()) == 1
    assert not refused.exists() and not list(tmp_path.glob(".refused*"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    assert main(["export", str(packs / "lora"), "--format", "onnx", "--out", str(tmp_path / "full")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err and os.listdir(tmp_path / "full") == ["x"]


@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_export_onnx_matches_the_pack(packs, tmp_path, method, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    assert main(["export", str(packs / method / "pack"), "--format", "onnx", "--out", str(out)]) == 0
    assert "onnxruntime" in capsys.readouterr().out
    model, tokenizer, _ = adapterlab.load_pack(packs / method)
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    batch = tokenizer(TEXTS, padding=True, return_tensors="np")  # another batch and length than the export's
    logits = session.run(["logits"], {name: batch[name] for name in names})[0]
    assert abs(torch.from_numpy(logits) - _logits(model, tokenizer)).max().item() < 1e-4
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}


def test_no_file_of_a_pack_names_a_place_on_this_machine(packs):
    """push uploads the pack folder: none of its files may hold an absolute local path (the base
    model, the data files, the training command)."""
    places = {str(packs), str(Path.home()), os.getcwd(), str(Path(adapterlab.__file__).resolve().parents[1])}
    for method in ("adapter", "lora"):
        files = sorted((packs / method / "pack").iterdir())
        assert {"provenance.json", "README.md"} <= {f.name for f in files}
        for file in files:
            data = file.read_bytes()
            found = [place for place in places if place.encode() in data]
            assert not found, (file, found)
        command = json.loads((packs / method / "pack" / "provenance.json").read_text())["command"]
        assert "--train train.tsv" in command and "--model model" in command
    # the run's own config.json keeps the full paths: a pack inside its run finds its base from anywhere
    assert json.loads((packs / "lora" / "config.json").read_text())["model_path"] == str(packs / "model")


def test_the_model_card_is_hub_metadata(packs):
    from huggingface_hub import ModelCard

    from adapterlab.train.model_card import model_card
    from adapterlab.train.provenance import read_provenance

    result = json.loads((packs / "lora" / "result.json").read_text())
    card = ModelCard.load(packs / "lora" / "pack" / "README.md")
    data = card.data.to_dict()
    assert (
        data["library_name"] == "peft" and data["pipeline_tag"] == "text-classification" and "base_model" not in data
    )  # a local base
    assert {"adapterlab", "peft", "lora", "classification"} <= set(data["tags"])
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "accuracy")] == pytest.approx(result["test"]["accuracy"], abs=1e-6)
    assert results[("validation", "accuracy")] == pytest.approx(result["best_validation"]["accuracy"], abs=1e-6)
    assert "AutoPeftModelForSequenceClassification.from_pretrained" in card.text and "adapterlab.load_pack" in card.text
    adapter = ModelCard.load(packs / "adapter" / "pack" / "README.md").data.to_dict()
    assert adapter["library_name"] == "adapterlab" and "peft" not in adapter["tags"]
    # a Hub base and a GLUE task: base_model and datasets are known
    provenance = read_provenance(packs / "lora" / "pack")
    import dataclasses

    glue = dataclasses.replace(provenance, base_model="roberta-base", base_local=False, task="sst2", labels=["0", "1"])
    data = ModelCard(model_card(glue, {**result, "protocol": "low-resource"})).data
    assert data.base_model == "roberta-base" and data.datasets == ["nyu-mll/glue"]
    assert {r.dataset_split for r in data.eval_results} == {
        "dev",
        "validation",
    }  # low-resource tests on the original dev set
    assert all(r.dataset_type == "nyu-mll/glue" and r.dataset_config == "sst2" for r in data.eval_results)
