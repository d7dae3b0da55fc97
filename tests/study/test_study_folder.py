"""The study folder's typed records: study.json (StudyPlan), config.json (RecordedConfig) and a
table's significance tests (SignificanceTest), each read back from what it writes and from the
folders earlier versions wrote (the committed studies)."""

import json
from pathlib import Path

import pytest

from adapterlab.recorded_config import RecordedConfig
from adapterlab.report.statistics import Comparison, SignificanceTest
from adapterlab.setting import Column
from adapterlab.study.folder import PLAN_FILE, StudyPlan, load_plan

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
COMMITTED = sorted(p.parent for p in RESULTS.rglob(PLAN_FILE))


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_committed_plan_loads_typed(folder):
    plan = load_plan(folder)
    values = json.loads((folder / PLAN_FILE).read_text())
    assert [r.dir for r in plan.runs] == [r["dir"] for r in values["runs"]]
    assert plan.report.select == tuple((values.get("report") or {}).get("select", ("adapter_size",)))
    assert all(r.setting.task == r.labels["task"] for r in plan.runs)


def test_a_written_plan_reads_back_the_same(tmp_path):
    folder = COMMITTED[0]
    values = json.loads((folder / PLAN_FILE).read_text())
    plan = StudyPlan.from_json(values, folder / PLAN_FILE)
    again = StudyPlan.from_json(json.loads(json.dumps(plan.to_json())), tmp_path / PLAN_FILE)
    assert again == plan


def test_a_plan_of_an_older_version_gets_the_defaults(tmp_path):
    run = {
        "dir": "sst2/adapter-m64/seed=0",
        "seed": 0,
        "labels": {"task": "sst2", "method": "adapter", "adapter_size": 64},
    }
    (tmp_path / PLAN_FILE).write_text(json.dumps({"runs": [run]}))
    plan = load_plan(tmp_path)
    assert plan.name is None and plan.description == "" and plan.command == () and not plan.sequential
    assert plan.report.layout == "paper" and plan.report.select == ("adapter_size",) and plan.runs[0].config is None


def test_every_committed_config_reads_back_as_written():
    paths = sorted(RESULTS.rglob("config.json"))
    assert paths
    for path in paths:
        values = json.loads(path.read_text())
        recorded = RecordedConfig.from_json(values)
        assert recorded.to_json() == values and list(recorded.to_json()) == list(values), path
        assert "labels" not in recorded.settings and recorded.settings.get("task") == values.get("task")


def _test(column: str, partner: str, row="sst2"):
    comparison = Comparison(True, 3, 1.0, 0.5, 2.0, 0.04, 0.2, 0.1, 1.9, 5)
    parse = lambda name: Column.from_labels(dict(part.split("=", 1) for part in name.split()))  # noqa: E731
    return SignificanceTest(row, parse(column), parse(partner), comparison, 3, 3, "", "", average=row == "average")


def test_the_family_of_a_test_is_decided_on_its_labels():
    assert _test("method=adapter lr=best", "method=finetune lr=best").family == "selected"
    assert _test("method=adapter lr=0.001", "method=finetune lr=0.001").family == "per setting"
    assert _test("method=adapter lr=0.001", "method=finetune lr=0.001", row="average").family == "average"
    assert _test("method=lora lr=0.001", "method=adapter lr=0.001").family == "per setting vs adapter"
    # a name that merely contains "=best" (in a value) selects nothing
    tested = _test("method=adapter note=x=best", "method=finetune note=x=best")
    assert "=best" in tested.adapter and tested.family == "per setting"
    assert list(_test("method=adapter lr=best", "method=finetune lr=best").to_json())[:5] == [
        "task",
        "adapter",
        "finetune",
        "method",
        "reference",
    ]
