"""RSA, CKA, token sampling, cross-lingual averages, and the rsa / crosslingual commands."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import save_tiny_backbone, write_sentiment_tsv

from adapterlab.analysis.crosslingual import LANGUAGE_FAMILIES, crosslingual_averages, is_distant
from adapterlab.analysis.similarity import linear_cka, rsa, sample_token_positions
from adapterlab.cli import main

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def slow_rsa(a, b):
    """Reference: explicit loops over i < j, then numpy's Pearson."""

    def cos(x, i, j):
        return float(np.dot(x[i], x[j]) / (np.linalg.norm(x[i]) * np.linalg.norm(x[j])))

    n = len(a)
    xs = [cos(a, i, j) for i in range(n) for j in range(i + 1, n)]
    ys = [cos(b, i, j) for i in range(n) for j in range(i + 1, n)]
    return float(np.corrcoef(xs, ys)[0, 1])


def test_rsa_of_a_representation_with_itself_is_one():
    x = torch.randn(300, 16)
    assert rsa(x, x) == pytest.approx(1.0, abs=1e-9)


def test_rsa_is_invariant_to_global_scaling():
    a, b = torch.randn(200, 12), torch.randn(200, 12)
    assert rsa(a * 7.5, b * 0.01) == pytest.approx(rsa(a, b), abs=1e-6)


def test_rsa_matches_the_slow_reference():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(40, 8, generator=generator)
    b = a + 0.7 * torch.randn(40, 8, generator=generator)
    assert rsa(a, b) == pytest.approx(slow_rsa(a.numpy().astype(np.float64), b.numpy().astype(np.float64)), abs=1e-5)


def test_rsa_at_n_5000_uses_matrix_ops():
    a = torch.randn(5000, 32)
    value = rsa(a, a + 0.1 * torch.randn(5000, 32))
    assert 0.9 < value < 1.0


def test_cka_identity_and_orthogonal_invariance():
    x = torch.randn(100, 10, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(10, 10, dtype=torch.float64))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x @ q) == pytest.approx(1.0)
    y = torch.randn(100, 10, dtype=torch.float64)
    assert linear_cka(x, y @ q) == pytest.approx(linear_cka(x, y))
    assert linear_cka(x, y) < 0.5


def test_token_sampling_skips_special_tokens_and_is_seeded():
    ids = [[101, 5, 6, 102, 0, 0], [101, 7, 8, 9, 102, 0]]
    special = {101, 102, 0}
    positions = sample_token_positions(ids, special, 5, seed=3)
    assert len(positions) == 5 and all(ids[i][j] not in special for i, j in positions)
    assert positions == sample_token_positions(ids, special, 5, seed=3)
    with pytest.raises(ValueError, match="only 5 non-special tokens"):
        sample_token_positions(ids, special, 6, seed=0)


def test_crosslingual_averages_on_a_hand_made_table():
    scores = {"en": 90.0, "de": 80.0, "fr": 82.0, "zh": 60.0, "ar": 50.0}
    averages = crosslingual_averages(scores)
    assert averages["all"] == pytest.approx((90 + 80 + 82 + 60 + 50) / 5)
    assert averages["target"] == pytest.approx((80 + 82 + 60 + 50) / 4)
    assert averages["distant"] == pytest.approx((60 + 50) / 2)  # zh, ar are not Indo-European
    assert is_distant("fi") and is_distant("ja") and not is_distant("hi")


def test_language_family_table_covers_the_shipped_data():
    languages = {"en", "es", "fr", "zh", "ja", "ar", "hi", "fi", "tr", "de", "bg", "el", "ru", "sw", "th", "ur", "vi"}
    if SHARED.is_dir():
        for path in (SHARED / "xtreme").glob("*/*.tsv"):
            match = re.search(r"-([a-z]{2})\.tsv$", path.name)
            if match:
                languages.add(match.group(1))
    assert languages <= set(LANGUAGE_FAMILIES)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    data = root / "sst"
    data.mkdir()
    write_sentiment_tsv(data / "train.tsv", 60, seed=0)
    write_sentiment_tsv(data / "dev.tsv", 30, seed=1)
    common = [
        "train",
        "--task",
        "sst2",
        "--data",
        str(data),
        "--model",
        str(model),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--no-progress",
        "--lr",
        "1e-2",
    ]
    assert main([*common, "--method", "adapter", "--out", str(root / "adapter")]) == 0
    assert main([*common, "--method", "finetune", "--save-model", "--out", str(root / "finetune")]) == 0
    return root, data


def test_rsa_command_writes_csv_and_figure(two_runs, tmp_path, capsys):
    root, data = two_runs
    code = main(
        [
            "rsa",
            "--runs",
            str(root / "adapter"),
            str(root / "finetune"),
            "--data",
            str(data / "dev.tsv"),
            "--task",
            "sst2",
            "--n",
            "150",
            "--out",
            str(tmp_path / "rsa"),
        ]
    )
    assert code == 0
    lines = (tmp_path / "rsa" / "rsa.csv").read_text().splitlines()
    assert lines[0].startswith("run,method,layer,rsa,cka")
    assert len(lines) == 1 + 2 * 3  # 2 runs x (embeddings + 2 layers)
    rsa_by_layer = [float(line.split(",")[3]) for line in lines[1:]]
    assert all(-1.0 <= v <= 1.0 + 1e-9 for v in rsa_by_layer)
    assert rsa_by_layer[0] > 0.99  # adapter run: frozen embeddings, only the embedding LayerNorm trained
    assert (tmp_path / "rsa" / "rsa.png").read_bytes()[:4] == b"\x89PNG"
    assert "RSA on 150 tokens" in capsys.readouterr().out


def test_rsa_needs_saved_weights_for_finetuning(two_runs, tmp_path, capsys):
    root, data = two_runs
    import shutil

    shutil.copytree(root / "finetune", tmp_path / "ft")
    shutil.rmtree(tmp_path / "ft" / "model")
    assert (
        main(
            [
                "rsa",
                "--runs",
                str(tmp_path / "ft"),
                "--data",
                str(data / "dev.tsv"),
                "--task",
                "sst2",
                "--n",
                "50",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "train it with --save-model" in capsys.readouterr().err


def test_crosslingual_command_per_language_and_averages(two_runs, tmp_path, capsys):
    root, data = two_runs
    for lang, seed in (("en", 1), ("de", 2), ("zh", 3)):
        write_sentiment_tsv(tmp_path / f"dev-{lang}.tsv", 20, seed=seed)
    out = tmp_path / "xl.json"
    assert (
        main(
            [
                "crosslingual",
                "--runs",
                str(root / "adapter"),
                str(root / "finetune"),
                "--pattern",
                str(tmp_path / "dev-{lang}.tsv"),
                "--languages",
                "en,de,zh",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    import json

    report = json.loads(out.read_text())
    run = report["runs"][0]
    assert set(run["scores"]) == {"en", "de", "zh"}
    assert run["averages"]["distant"] == pytest.approx(run["scores"]["zh"])
    assert run["averages"]["target"] == pytest.approx((run["scores"]["de"] + run["scores"]["zh"]) / 2)
    assert run["per_language"]["de"]["count"] == 20
    assert "| all | target | distant |" in capsys.readouterr().out
    assert (
        main(
            [
                "crosslingual",
                "--runs",
                str(root / "adapter"),
                "--pattern",
                str(tmp_path / "nope-{lang}.tsv"),
                "--languages",
                "en",
            ]
        )
        == 2
    )


def test_forgetting_needs_a_pretrained_mlm_head_and_measures_the_increase(two_runs, tmp_path, capsys):
    import transformers

    root, data = two_runs
    text = tmp_path / "general.txt"
    text.write_text(
        "\n".join(
            ["the film was about london and paris", "john works at acme corp in berlin", "music and story and cast"]
            * 10
        )
    )
    # the tiny backbone has no MLM head: refused with a clear message
    assert main(["forgetting", "--runs", str(root / "adapter"), "--text", str(text)]) == 2
    assert "has no pretrained MLM head" in capsys.readouterr().err
    # give the same encoder an MLM head and save it as the base
    with_head = tmp_path / "mlm-base"
    model = transformers.AutoModelForMaskedLM.from_pretrained(root / "model")
    model.save_pretrained(with_head)
    transformers.AutoTokenizer.from_pretrained(root / "model").save_pretrained(with_head)
    assert (
        main(
            [
                "forgetting",
                "--base",
                str(with_head),
                "--runs",
                str(root / "adapter"),
                str(root / "finetune"),
                "--text",
                str(text),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "MLM loss" not in line]
    assert rows[0].startswith("| base | - |") and rows[0].endswith("+0.0000 |")
    assert len(rows) == 3
