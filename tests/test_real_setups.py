"""Two kinds of real setup (issue #32): a model and a tokenizer that disagree about token types
(every command that builds inputs), and Hugging Face model surgery after adapters are added
(each operation works, or is one AdapterlabError that says why), on BERT, RoBERTa and XLM-R."""

import json

import pytest
import torch
import transformers
from tiny import random_batch, save_tiny_backbone, tiny_model

import adapterlab as al
from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.train.model_setup import enable_gradient_checkpointing, gradient_checkpointing_on

# ------------------------------------------------------------------------------ token types


def backbone_with_other_model(folder, kind: str):
    """The tiny BERT tokenizer (it gives a pair's second text token type 1) on a model that has
    one token type (RoBERTa-like: type_vocab_size=1) or none (DistilBERT)."""
    save_tiny_backbone(folder, dropout=0.0)
    vocab = len((folder / "vocab.txt").read_text().split())
    sizes = {"vocab_size": vocab, "max_position_embeddings": 66}
    config = {
        "roberta-1-type": transformers.RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            type_vocab_size=1,
            pad_token_id=0,
            **sizes,
        ),
        "distilbert": transformers.DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=64, pad_token_id=0, **sizes
        ),
    }[kind]
    (folder / "model.safetensors").unlink()
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    return folder


def write_rte(folder, seed: int = 0):
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train.tsv", 24), ("dev.tsv", 8), ("test.tsv", 8)):
        rows = ["index\tsentence1\tsentence2\tlabel"]
        for i in range(count):
            label = rng.choice(["entailment", "not_entailment"])
            rows.append(
                f"{i}\tthe film was {'great' if i % 2 else 'bad'}\tthe film was {'great' if label == 'entailment' else 'dull'}\t{label}"
            )
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("kind", ["roberta-1-type", "distilbert"])
def test_a_tokenizer_with_more_token_types_than_the_model_trains_predicts_and_evaluates(tmp_path, capsys, kind):
    """The tokenizer gives the pair's second text type 1; the model has one type (or none). Before
    issue #32: an IndexError in the embeddings (a TypeError for DistilBERT) mid-run."""
    from adapterlab.train.model_setup import load_model_config, load_tokenizer

    model = backbone_with_other_model(tmp_path / "model", kind)
    tokenizer = load_tokenizer(str(model), load_model_config(str(model)))
    assert "token_type_ids" not in tokenizer("a film", "a plot")  # every token gets the model's one type
    data = write_rte(tmp_path / "rte")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--task",
                "rte",
                "--data",
                str(data),
                "--model",
                str(model),
                "--out",
                str(run),
                "--no-progress",
                "--epochs",
                "1",
                "--batch-size",
                "8",
            ]
        )
        == 0
    )
    assert json.loads((run / "result.json").read_text())["status"] == "ok"
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--data",
                str(data / "test.tsv"),
                "--out",
                str(tmp_path / "eval.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "eval.json").read_text())["examples"] == 8
    (tmp_path / "pairs.txt").write_text("the film was great\tthe film was dull\n")
    assert (
        main(
            [
                "predict",
                str(run),
                "--data",
                str(tmp_path / "pairs.txt"),
                "--format",
                "lines",
                "--out",
                str(tmp_path / "p.jsonl"),
                "--no-progress",
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "p.jsonl").read_text())
    assert row["rte"]["label"] in ("entailment", "not_entailment")
    assert "Traceback" not in capsys.readouterr().err


def test_tapt_rsa_and_crosslingual_on_a_one_type_model(tmp_path):
    from adapterlab.analysis.rsa_run import rsa_curves
    from adapterlab.analysis.transfer import evaluate_languages

    model = backbone_with_other_model(tmp_path / "model", "roberta-1-type")
    data = write_rte(tmp_path / "rte")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--task",
                "rte",
                "--data",
                str(data),
                "--model",
                str(model),
                "--out",
                str(run),
                "--no-progress",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--tapt",
                "--tapt-epochs",
                "1",
                "--tapt-head",
                "fresh",
            ]
        )
        == 0
    )
    assert json.loads((run / "result.json").read_text())["tapt"]["steps"] == 3
    rows = rsa_curves(None, [str(run)], str(data / "dev.tsv"), "rte", count=20)
    assert [r["layer"] for r in rows] == [0, 1, 2] and all(
        abs(r["rsa"]) <= 1 + 1e-6 for r in rows
    )  # embeddings + 2 layers
    (tmp_path / "dev-en.tsv").write_bytes((data / "dev.tsv").read_bytes())
    scores = evaluate_languages(run, str(tmp_path / "dev-{lang}.tsv"), ["en"])["scores"]
    assert 0.0 <= scores["en"] <= 1.0


def test_a_tokenizer_with_types_the_model_lacks_is_refused_before_the_run(tmp_path, capsys):
    """A model with 2 types whose tokenizer gives type 2: refused in one line, nothing written."""
    from adapterlab.train.model_setup import fit_token_types

    class ThreeTypes:
        model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

        def __call__(self, text, pair):
            return {"input_ids": [1, 2, 3], "token_type_ids": [0, 1, 2]}

    with pytest.raises(
        AdapterlabError, match=r"gives token type 2 to a pair of texts, but the model has type_vocab_size=2"
    ):
        fit_token_types(ThreeTypes(), transformers.BertConfig(type_vocab_size=2), "m")
    fit_token_types(ThreeTypes(), transformers.BertConfig(type_vocab_size=3), "m")  # fits: nothing to say


# ------------------------------------------------------------------------------ surgery

SURGERY_ARCHS = ["bert", "roberta", "xlm-roberta"]


def with_adapters(arch: str, task: str = "sequence"):
    model = tiny_model(arch, task)
    al.add_adapters(model, al.AdapterConfig(size=8, init="zero_up"), name="t")
    return model


@pytest.mark.parametrize("arch", SURGERY_ARCHS)
def test_resizing_and_retying_embeddings_of_a_task_model_with_adapters_works(arch):
    model = with_adapters(arch)
    batch = random_batch()
    before = model(**batch).logits
    model.resize_token_embeddings(120, mean_resizing=False)
    model.tie_weights()
    assert model.get_input_embeddings().weight.shape[0] == 120 and model.config.vocab_size == 120
    assert torch.allclose(model(**batch).logits, before, atol=1e-6)  # old tokens: the same outputs
    new_ids = {**batch, "input_ids": batch["input_ids"].clamp(max=99) + 20}
    assert model(**new_ids).logits.isfinite().all()  # the new rows are used
    # the adapters and their pack are untouched by the resize: a pack saves and loads
    assert al.adapter_names(model) == ["t"]


@pytest.mark.parametrize("arch", SURGERY_ARCHS)
def test_getting_and_setting_input_embeddings_with_adapters_works(arch):
    model = with_adapters(arch)
    batch = random_batch()
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, torch.nn.Embedding) and embeddings.weight.shape == (100, 32)
    replacement = torch.nn.Embedding(100, 32, padding_idx=embeddings.padding_idx)
    with torch.no_grad():
        replacement.weight.copy_(embeddings.weight * 2)
    before = model(**batch).logits
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement
    assert not torch.allclose(model(**batch).logits, before)  # the forward reads the new table
    # an MLM model's embeddings can be read and set as well
    mlm = with_adapters(arch, "mlm")
    assert mlm.get_input_embeddings().weight.shape == (100, 32) and mlm.get_output_embeddings() is not None


@pytest.mark.parametrize("arch", SURGERY_ARCHS)
def test_gradient_checkpointing_with_adapters_gives_the_same_gradients(arch):
    grads = []
    for checkpointing in (False, True):
        model = with_adapters(arch)
        al.set_trainable(model, "adapter")
        if checkpointing:
            enable_gradient_checkpointing(model)
            assert gradient_checkpointing_on(model)
        model.train()
        torch.manual_seed(3)
        model(**random_batch(), labels=torch.tensor([0, 1, 2, 0])).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and "adapters" in n})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 16
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])


@pytest.mark.parametrize("arch", SURGERY_ARCHS)
def test_save_pretrained_with_adapters_is_refused_and_works_after_remove_adapters(arch, tmp_path):
    """save_pretrained wrote wrapped names that from_pretrained does not know: the round trip gave
    random LayerNorms and head, silently. Now one error that says what to do instead."""
    model = with_adapters(arch)
    with pytest.raises(AdapterlabError, match=r"save_pretrained on a model with adapters: .*adapterlab.save_adapter"):
        model.save_pretrained(tmp_path / "saved")
    with pytest.raises(AdapterlabError, match="push_to_hub on a model with adapters"):
        model.push_to_hub("someone/else")
    assert not (tmp_path / "saved").exists()
    batch = random_batch()
    al.save_adapter(model, tmp_path / "pack", name="t")  # what to do instead
    al.remove_adapters(model)
    model.save_pretrained(tmp_path / "plain")  # the plain model round-trips again
    again = type(model).from_pretrained(tmp_path / "plain").eval()
    assert torch.allclose(again(**batch).logits, model(**batch).logits, atol=1e-6)
    al.load_adapter(again, tmp_path / "pack")
    assert al.adapter_names(again) == ["t"]


@pytest.mark.parametrize("arch", SURGERY_ARCHS)
def test_resizing_or_retying_an_mlm_head_with_adapters_is_one_clear_error(arch):
    """transformers raised a ValueError about tie_weights_keys from inside; now adapterlab says why."""
    model = with_adapters(arch, "mlm")
    for operation in (lambda: model.resize_token_embeddings(120), model.tie_weights):
        with pytest.raises(
            AdapterlabError, match=r"(resize_token_embeddings|tie_weights) on a model with adapters: its head decodes "
        ):
            operation()
    assert model.get_input_embeddings().weight.shape[0] == 100  # nothing changed
    al.remove_adapters(model)
    model.resize_token_embeddings(120)  # the way round the error works
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    assert model.get_output_embeddings().weight.shape[0] == 120
