import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny import ARCHS, outputs, random_batch, tiny_model

import adapterlab as al
from adapterlab.adapters.io import MANIFEST_FILE, WEIGHTS_FILE


def _trained(arch="bert", task="sequence", name="sst2", seed=0):
    model = tiny_model(arch, task, seed=seed)
    al.add_adapters(model, al.AdapterConfig(size=8), name=name)
    al.set_trainable(model, "adapter")
    with torch.no_grad():  # move every per-task tensor away from its init, as training would
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.05)
    return model


@pytest.mark.parametrize("task", ["sequence", "token", "mlm", "base"])
@pytest.mark.parametrize("arch", ARCHS)
def test_save_then_load_on_a_fresh_backbone_gives_identical_outputs(tmp_path, arch, task):
    model = _trained(arch, task)
    batch = random_batch()
    with torch.no_grad():
        expected = outputs(model, batch)
    saved = al.save_adapter(model, tmp_path / "pack", name="sst2")
    assert saved.size_bytes > 0 and "MB" in str(saved)
    fresh = tiny_model(arch, task, seed=0)  # same pretrained weights, fresh head
    name = al.load_adapter(fresh, tmp_path / "pack")
    assert name == "sst2"
    with torch.no_grad():
        torch.testing.assert_close(outputs(fresh, batch), expected, rtol=0, atol=0)


def test_pack_contents(tmp_path):
    model = _trained()
    al.save_adapter(model, tmp_path / "pack", name="sst2", labels=["neg", "pos", "mixed"])
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == [MANIFEST_FILE, WEIGHTS_FILE]
    manifest = json.loads((tmp_path / "pack" / MANIFEST_FILE).read_text())
    assert manifest["backbone"] == {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 100}
    assert manifest["adapter_config"]["size"] == 8
    assert manifest["labels"] == ["neg", "pos", "mixed"]
    keys = load_file(str(tmp_path / "pack" / WEIGHTS_FILE)).keys()
    assert "adapters.encoder.layer.0.attention.output.dropout.down.weight" in keys
    assert "layernorms.embeddings.LayerNorm.weight" in keys
    assert "heads.classifier.weight" in keys and "heads.bert.pooler.dense.weight" in keys
    info = al.read_pack_info(tmp_path / "pack")
    assert info.name == "sst2" and info.num_labels == 3


def test_pack_with_another_label_count_loads_its_own_head(tmp_path):
    model = tiny_model("bert", "sequence", num_labels=3)
    al.add_adapters(model, al.AdapterConfig(size=8), name="binary", num_labels=2)
    batch = random_batch()
    with torch.no_grad():
        expected = outputs(model, batch)
    assert expected.shape[-1] == 2
    al.save_adapter(model, tmp_path / "pack", name="binary")
    fresh = tiny_model("bert", "sequence", num_labels=3)
    al.load_adapter(fresh, tmp_path / "pack")
    with torch.no_grad():
        torch.testing.assert_close(outputs(fresh, batch), expected, rtol=0, atol=0)


def test_adapters_of_a_classifier_pack_load_onto_a_bare_encoder(tmp_path):
    bare = copy.deepcopy(tiny_model("roberta", "sequence", seed=0).roberta)  # the same encoder weights
    model = _trained("roberta", "sequence")
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    with pytest.raises(
        al.AdapterlabError, match="tensor 'heads.classifier.dense.bias' has no place in this model .*with_head=False"
    ):
        al.load_adapter(bare, tmp_path / "pack")
    assert al.adapter_names(bare) == []  # a failed load leaves nothing behind
    al.load_adapter(bare, tmp_path / "pack", with_head=False)
    with torch.no_grad():
        expected = model.roberta(**random_batch()).last_hidden_state
        torch.testing.assert_close(outputs(bare, random_batch()), expected, rtol=0, atol=0)


def test_two_packs_on_one_backbone(tmp_path):
    a, b = _trained(name="a", seed=0), _trained(name="b", seed=0)
    with torch.no_grad():
        b_params = [p for p in b.parameters() if p.requires_grad]
        for p in b_params:
            p.add_(0.1)
    batch = random_batch()
    with torch.no_grad():
        expected_a, expected_b = outputs(a, batch), outputs(b, batch)
    al.save_adapter(a, tmp_path / "a", name="a")
    al.save_adapter(b, tmp_path / "b", name="b")
    fresh = tiny_model("bert", "sequence", seed=0)
    al.load_adapter(fresh, tmp_path / "a")
    al.load_adapter(fresh, tmp_path / "b")
    with torch.no_grad():
        al.activate(fresh, "a")
        torch.testing.assert_close(outputs(fresh, batch), expected_a, rtol=0, atol=0)
        al.activate(fresh, "b")
        torch.testing.assert_close(outputs(fresh, batch), expected_b, rtol=0, atol=0)


def test_save_overwrites_atomically_and_leaves_no_temp_folders(tmp_path):
    model = _trained()
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]
    assert (tmp_path / "pack").stat().st_mode & 0o777 == 0o755  # readable by others, as any folder (not mkdtemp's 0700)
    assert all(
        f.stat().st_mode & 0o777 == 0o644 for f in (tmp_path / "pack").iterdir()
    )  # safetensors writes 0600; a pack is shared


def _saved(tmp_path):
    al.save_adapter(_trained(), tmp_path / "pack", name="sst2")
    return tmp_path / "pack"


def test_pack_from_another_backbone_is_refused(tmp_path):
    pack = _saved(tmp_path)
    other = tiny_model("roberta", "sequence")
    with pytest.raises(
        al.AdapterlabError,
        match="saved from a backbone with model_type='bert', but this model has model_type='roberta'",
    ):
        al.load_adapter(other, pack)


def test_pack_from_another_hidden_size_is_refused(tmp_path):
    pack = _saved(tmp_path)
    manifest = json.loads((pack / MANIFEST_FILE).read_text())
    manifest["backbone"]["hidden_size"] = 64
    (pack / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(al.AdapterlabError, match="hidden_size=64, but this model has hidden_size=32"):
        al.load_adapter(tiny_model("bert", "sequence"), pack)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda pack: (pack / WEIGHTS_FILE).unlink(), f"missing {WEIGHTS_FILE}"),
        (lambda pack: (pack / MANIFEST_FILE).unlink(), f"missing {MANIFEST_FILE}"),
        (lambda pack: (pack / MANIFEST_FILE).write_text("{not json"), "not valid JSON"),
        (lambda pack: (pack / WEIGHTS_FILE).write_bytes(b"\x00garbage" * 10), "not a readable safetensors file"),
        (lambda pack: (pack / MANIFEST_FILE).write_text('{"format": "other"}'), "not an adapterlab task pack"),
    ],
)
def test_damaged_pack_gives_one_line_error(tmp_path, damage, message):
    pack = _saved(tmp_path)
    damage(pack)
    model = tiny_model("bert", "sequence")
    with pytest.raises(al.AdapterlabError) as err:
        al.load_adapter(model, pack)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert al.adapter_names(model) == []


def test_wrong_tensor_shape_is_named(tmp_path):
    pack = _saved(tmp_path)
    tensors = load_file(str(pack / WEIGHTS_FILE))
    key = "adapters.encoder.layer.1.output.dropout.up.weight"
    tensors[key] = torch.zeros(5, 5)
    save_file(tensors, str(pack / WEIGHTS_FILE))
    with pytest.raises(
        al.AdapterlabError, match=f"tensor '{key}' has shape \\(5, 5\\), this model expects \\(32, 8\\)"
    ):
        al.load_adapter(tiny_model("bert", "sequence"), pack)


def test_missing_tensor_is_named(tmp_path):
    pack = _saved(tmp_path)
    tensors = load_file(str(pack / WEIGHTS_FILE))
    del tensors["layernorms.embeddings.LayerNorm.bias"]
    save_file(tensors, str(pack / WEIGHTS_FILE))
    with pytest.raises(al.AdapterlabError, match="tensor 'layernorms.embeddings.LayerNorm.bias' is missing"):
        al.load_adapter(tiny_model("bert", "sequence"), pack)


def test_missing_folder_and_unknown_name(tmp_path):
    with pytest.raises(al.AdapterlabError, match="folder does not exist"):
        al.load_adapter(tiny_model(), tmp_path / "nope")
    with pytest.raises(al.AdapterlabError, match="no adapter named 'x'"):
        al.save_adapter(_trained(), tmp_path / "pack", name="x")
    assert not (tmp_path / "pack").exists()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_pack_is_half_the_size_and_close(tmp_path, dtype):
    model = _trained()
    batch = random_batch()
    with torch.no_grad():
        expected = model(**batch).logits
    full = al.save_adapter(model, tmp_path / "full", name="sst2")
    half = al.save_adapter(model, tmp_path / "half", name="sst2", dtype=dtype)
    weights = load_file(str(tmp_path / "half" / WEIGHTS_FILE))
    assert {t.dtype for t in weights.values()} == {getattr(torch, dtype)}
    assert json.loads((tmp_path / "half" / MANIFEST_FILE).read_text())["dtype"] == dtype
    full_weights = (tmp_path / "full" / WEIGHTS_FILE).stat().st_size
    assert (tmp_path / "half" / WEIGHTS_FILE).stat().st_size < 0.6 * full_weights
    assert half.size_bytes < full.size_bytes
    fresh = tiny_model("bert", seed=0)
    al.load_adapter(fresh, tmp_path / "half")
    assert next(fresh.parameters()).dtype == torch.float32
    with torch.no_grad():
        got = fresh(**batch).logits
    tolerance = 2e-2 if dtype == "bfloat16" else 2e-3  # the rounding of 8 / 11 significant bits
    torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)
    assert not torch.equal(got, expected)


def test_unknown_pack_dtype_is_refused(tmp_path):
    with pytest.raises(al.AdapterlabError, match="dtype 'int8' is not allowed; use float32, float16, bfloat16"):
        al.save_adapter(_trained(), tmp_path / "pack", name="sst2", dtype="int8")
    assert not (tmp_path / "pack").exists()


def _manifest_labels(pack):
    return json.loads((pack / MANIFEST_FILE).read_text())["labels"]


def _set_up_for(model, names):
    """A model configured for one task's labels, as from_pretrained(..., id2label=...) does."""
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}
    return model


def test_each_adapter_saves_its_own_label_names(tmp_path):
    model = _set_up_for(tiny_model("bert", "sequence", num_labels=2), ["neg", "pos"])
    al.add_adapters(model, al.AdapterConfig(size=8), name="sst2")  # takes the model's names
    al.add_adapters(model, al.AdapterConfig(size=8), name="rte")  # another 2-class task: none
    al.add_adapters(model, al.AdapterConfig(size=8), name="mrpc", labels=["no", "yes"])
    for name in ("rte", "mrpc", "sst2"):
        al.save_adapter(model, tmp_path / name, name=name)
    assert _manifest_labels(tmp_path / "sst2") == ["neg", "pos"]
    assert _manifest_labels(tmp_path / "rte") is None
    assert _manifest_labels(tmp_path / "mrpc") == ["no", "yes"]
    al.save_adapter(model, tmp_path / "rte", name="rte", labels=["entail", "not"])
    al.save_adapter(model, tmp_path / "rte2", name="rte")  # names given once are the adapter's
    assert _manifest_labels(tmp_path / "rte2") == ["entail", "not"]
    assert _manifest_labels(tmp_path / "sst2") == ["neg", "pos"]


def test_label_names_survive_load_then_save(tmp_path):
    source = _set_up_for(tiny_model("bert", "sequence", num_labels=2), ["neg", "pos"])
    al.add_adapters(source, al.AdapterConfig(size=8), name="sst2")
    al.add_adapters(source, al.AdapterConfig(size=8), name="rte", labels=["entail", "not"])
    al.add_adapters(source, al.AdapterConfig(size=8), name="qqp")
    for name in ("sst2", "rte", "qqp"):
        al.save_adapter(source, tmp_path / name, name=name)
    # a fresh backbone set up for yet another task: its names must not leak into any pack
    fresh = _set_up_for(tiny_model("bert", "sequence", num_labels=2), ["other", "names"])
    for name in ("qqp", "rte", "sst2"):
        al.load_adapter(fresh, tmp_path / name)
        al.save_adapter(fresh, tmp_path / f"{name}-again", name=name)
    assert _manifest_labels(tmp_path / "sst2-again") == ["neg", "pos"]
    assert _manifest_labels(tmp_path / "rte-again") == ["entail", "not"]
    assert _manifest_labels(tmp_path / "qqp-again") is None


def test_wrong_number_of_label_names_is_refused_and_nothing_is_written(tmp_path):
    model = _trained()  # 3 labels
    with pytest.raises(
        al.AdapterlabError, match=r"save_adapter: got 2 label names \['neg', 'pos'\] for a head with 3 outputs"
    ):
        al.save_adapter(model, tmp_path / "pack", name="sst2", labels=["neg", "pos"])
    assert not (tmp_path / "pack").exists()
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    assert _manifest_labels(tmp_path / "pack") is None  # the refused names were not kept


def test_save_never_deletes_a_folder_that_is_not_a_pack(tmp_path):
    model = _trained()
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("years of work")
    with pytest.raises(al.AdapterlabError, match="is not empty and is not a task pack"):
        al.save_adapter(model, project, name="sst2")
    assert sorted(p.name for p in project.iterdir()) == ["thesis.tex"]
    # over an earlier pack: its two files are replaced, anything else in the folder stays
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    (tmp_path / "pack" / "notes.md").write_text("mine")
    al.save_adapter(model, tmp_path / "pack", name="sst2")
    assert (tmp_path / "pack" / "notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "project"]
