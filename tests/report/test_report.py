"""The report: paper-shaped tables against hand computation, significance, figures, HTML, analyses."""

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from studyworld import tiny_spec
from tiny import write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.report import grid
from adapterlab.report.tables import build_table, observations_of
from adapterlab.report.views import table_grids, table_markdown, values_grid
from adapterlab.runs import RunRecord, RunResult
from adapterlab.setting import Setting
from adapterlab.study.claims_spec import claim_order
from adapterlab.study.executor import run_study
from adapterlab.study.spec import expand_spec

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def _record(task, method, seed, test, validation=None, size=None, k=1000, metric="accuracy", status="ok", lr=None):
    labels = {"task": task, "method": method, "train_size": k}
    if method == "adapter":
        labels["adapter_size"] = size or 64
    if lr is not None:
        labels["lr"] = lr
    result = RunResult(
        status=status, metric=metric, test_metric=test, validation_metric=validation if validation is not None else test
    )
    return RunRecord(Setting.from_labels(labels), result, Path("."), seed)


def to_markdown(table):
    return table_markdown(table)


def to_latex(table):
    return "\n".join(map(grid.to_latex, table_grids(table, "t")))


def to_csv(table):
    return grid.to_csv(values_grid(table, "t", layout="tasks-as-rows", tidy=True))


def _table(title, records, **kwargs):
    return build_table(title, observations_of(records), **kwargs)


def test_table_mean_std_average_and_best_size_against_hand_computation():
    records = [
        _record("cola", "finetune", 0, 0.30),
        _record("cola", "finetune", 1, 0.40),
        _record("cola", "adapter", 0, 0.50, 0.60, size=64),
        _record("cola", "adapter", 1, 0.70, 0.60, size=64),
        _record("cola", "adapter", 0, 0.10, 0.90, size=256),
        _record("cola", "adapter", 1, 0.20, 0.90, size=256),
        _record("sst2", "finetune", 0, 0.80),
        _record("sst2", "finetune", 1, 0.90),
        _record("sst2", "adapter", 0, 0.85, 0.5, size=64),
        _record("sst2", "adapter", 1, 0.95, 0.5, size=64),
        _record("sst2", "adapter", 0, 0.60, 0.2, size=256),
        _record("sst2", "adapter", 1, 0.62, 0.2, size=256),
    ]
    table = _table("t", records, reference=[{"task": "cola", "method": "finetune", "train_size": 1000, "value": 41.5}])
    ft = table.cell("cola", "k=1000 finetune")
    assert ft.mean == pytest.approx(35.0) and ft.std == pytest.approx(7.0710678, rel=1e-6) and ft.reference == 41.5
    # best size is chosen on validation: m=256 for cola (0.9 > 0.6), m=64 for sst2 (0.5 > 0.2)
    assert table.cell("cola", "k=1000 adapter m=best").mean == pytest.approx(15.0)
    assert table.cell("sst2", "k=1000 adapter m=best").mean == pytest.approx(90.0)
    # the average row averages tasks seed by seed: seeds (30+80)/2=55 and (40+90)/2=65
    average = table.cell("average", "k=1000 finetune")
    assert average.values == pytest.approx((55.0, 65.0)) and average.std == pytest.approx(7.0710678, rel=1e-6)
    markdown = to_markdown(table)
    # the paper's shape: a row per setting, a column per task and the average last
    assert "| setting | cola | sst2 | average |" in markdown
    assert "| k=1000 finetune | 35.0<sub>7.1</sub> (41.5) | 85.0<sub>7.1</sub> | 60.0<sub>7.1</sub> |" in markdown
    assert "| cola | accuracy | 35.0<sub>7.1</sub> (41.5) |" in to_markdown(
        dataclasses.replace(table, layout="tasks-as-rows")
    )
    assert "35.0$_{7.1}$" in to_latex(table)
    assert "cola,accuracy,k=1000 finetune,35.0000,7.0711,2" in to_csv(table)
    # a reference for the best size shows beside the best-size column, whichever size was chosen
    best_ref = _table(
        "t",
        records,
        reference=[{"task": "sst2", "method": "adapter", "adapter_size": "best", "train_size": 1000, "value": 91.0}],
    )
    assert (
        best_ref.cell("sst2", "k=1000 adapter m=best").reference == 91.0
        and best_ref.cell("sst2", "k=1000 adapter m=64").reference is None
    )
    # without validation metrics there is no best size to choose, and no empty column for it
    unvalidated = [
        dataclasses.replace(r, result=dataclasses.replace(r.result, validation_metric=None)) for r in records
    ]
    assert not any("m=best" in c.name for c in _table("t", unvalidated).columns)
    # one seed: the mean alone, no std subscript that would claim a spread of 0
    single = to_markdown(_table("t", [_record("cola", "finetune", 0, 0.30)]))
    assert "| k=1000 finetune | 30.0 |" in single


def test_significance_is_paired_on_shared_seeds_and_welch_otherwise():
    from scipy import stats

    finetune, adapter = [0.30, 0.35, 0.32, 0.28, 0.31], [0.40, 0.42, 0.39, 0.44, 0.41]
    records = [_record("cola", "finetune", s, v) for s, v in enumerate(finetune)]
    records += [_record("cola", "adapter", s, v) for s, v in enumerate(adapter)]
    (test,) = [s for s in _table("t", records).significance if s.task == "cola"]
    x, y = [100 * v for v in adapter], [100 * v for v in finetune]
    paired = stats.ttest_rel(x, y)
    assert test.comparison.paired and test.comparison.n == 5
    assert test.comparison.p == pytest.approx(paired.pvalue) and test.comparison.t == pytest.approx(paired.statistic)
    assert test.comparison.p_wilcoxon == pytest.approx(stats.wilcoxon([a - b for a, b in zip(x, y)]).pvalue)
    assert (
        test.comparison.difference == pytest.approx(41.2 - 31.2)
        and test.comparison.ci_low > 0
        and test.verdict == "adapter better"
    )
    # no shared seeds: the runs are not paired, so Welch's test
    unpaired = [_record("cola", "finetune", s, v) for s, v in enumerate(finetune)]
    unpaired += [_record("cola", "adapter", s + 10, v) for s, v in enumerate(adapter)]
    (test,) = [s for s in _table("t", unpaired).significance if s.task == "cola"]
    welch = stats.ttest_ind(x, y, equal_var=False)
    assert (
        not test.comparison.paired
        and test.comparison.p == pytest.approx(welch.pvalue)
        and test.comparison.p_wilcoxon is None
    )


def test_the_family_of_one_table_is_corrected_together():
    from adapterlab.report.statistics import fdr_adjust

    records = []
    for task, gap in (("cola", 0.10), ("sst2", 0.001), ("rte", -0.002)):
        records += [_record(task, "finetune", s, 0.5 + 0.01 * s) for s in range(4)]
        records += [_record(task, "adapter", s, 0.5 + 0.01 * s + gap + 0.003 * (s % 2)) for s in range(4)]
    tests = [t for t in _table("t", records).significance if t.task != "average"]
    family = [t for t in _table("t", records).significance if t.family == "per setting"]
    assert all(t.family_size == len(family) == 3 for t in family)  # the average row is a family of its own
    assert [t.q for t in family] == pytest.approx(fdr_adjust([t.comparison.p for t in family]))
    assert {t.task: t.verdict for t in tests}["cola"] == "adapter better"
    assert {t.task: t.verdict for t in tests}["sst2"] == "inconclusive"


def test_selection_follows_validation_not_test():
    # adapters at two learning rates: lr=1e-4 wins on validation but loses on test
    records = []
    for seed in range(3):
        records.append(_record("cola", "adapter", seed, 0.50, validation=0.80, lr=1e-4))
        records.append(_record("cola", "adapter", seed, 0.90, validation=0.60, lr=1e-3))
        records.append(_record("cola", "finetune", seed, 0.70, validation=0.70, lr=2e-5))
        records.append(_record("cola", "finetune", seed, 0.95, validation=0.65, lr=5e-5))
    table = _table("t", records, select=("lr", "adapter_size"))
    best_adapter = table.cell("cola", "k=1000 adapter m=best lr=best")
    best_finetune = table.cell("cola", "k=1000 finetune lr=best")
    assert best_adapter.mean == pytest.approx(50.0) and best_adapter.chosen == "m=64 lr=0.0001"
    assert best_finetune.mean == pytest.approx(70.0) and best_finetune.chosen == "lr=2e-05"
    # every setting keeps its own column
    assert {c.name for c in table.columns} >= {
        "k=1000 adapter m=64 lr=0.0001",
        "k=1000 adapter m=64 lr=0.001",
        "k=1000 finetune lr=2e-05",
    }
    # the selected columns are compared with each other, paired by seed
    (test,) = [t for t in table.significance if t.adapter == "k=1000 adapter m=best lr=best"]
    assert test.finetune == "k=1000 finetune lr=best" and test.comparison.difference == pytest.approx(-20.0)
    assert test.chosen_adapter == "m=64 lr=0.0001" and "[m=64 lr=0.0001]" in to_markdown(table)
    # a tie on validation goes to the first setting in column order (the smaller learning rate)
    tied = [
        _record("cola", "adapter", s, t, validation=0.7, lr=lr)
        for s in range(2)
        for lr, t in ((1e-3, 0.9), (1e-4, 0.4))
    ]
    assert _table("t", tied, select=("lr",)).cell("cola", "k=1000 adapter m=64 lr=best").chosen == "lr=0.0001"
    # settings without validation metrics are not candidates
    blind = [dataclasses.replace(r, result=dataclasses.replace(r.result, validation_metric=None)) for r in records]
    assert "k=1000 adapter m=best lr=best" not in {
        c.name for c in _table("t", blind, select=("lr", "adapter_size")).columns
    }


def test_report_writes_tables_figures_and_html(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model, extra_base={"eval_every": 2}, lr=[1e-3, 1e-2], train_size=[20, 30]))
    run_study(spec, tmp_path / "out", isolation="inline")
    folder = tmp_path / "out" / "report"
    folder.mkdir()
    (folder / "adapter_size.png").write_bytes(b"from an earlier grid")  # a figure this grid does not make goes
    assert main(["study", "report", str(tmp_path / "out")]) == 0
    for name in ("table.md", "table.tex", "table.csv", "significance.json", "report.html"):
        assert (folder / name).stat().st_size > 0
    pngs = sorted(p.name for p in folder.glob("*.png"))
    # one adapter size in this grid, so no adapter-size bars (test_figures_never_pool_settings draws them)
    assert pngs == ["fig3_train_size.png", "fig4_lr_boxes.png", "fig5_overfitting.png"]
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Reproduce" in page and "torch" in page
    # the cost of each method per run, from the records: 8 runs each, their mean wall time
    import json as _json
    import re
    import statistics

    cost = (folder / "table.md").read_text().split("**Cost, by method**")[1]
    walls = {
        m: [
            _json.loads(p.read_text())["wall_seconds"] for p in (tmp_path / "out").glob(f"sst2/{m}*/seed=*/result.json")
        ]
        for m in ("adapter", "finetune")
    }
    for method, word in (("adapter", "adapter"), ("finetune", "fine-tuning")):
        row = re.search(rf"\| {word} \| 8 \| (\d+) s", cost)
        assert row and int(row.group(1)) == round(statistics.mean(walls[method])), (cost, walls)
    # the study's run-hours, and every run at its ceiling (no convergence policy)
    hours = sum(walls["adapter"] + walls["finetune"]) / 3600
    assert re.search(rf"\| all methods \| 16 \| [^|]+\| [^|]+\| {hours:.2f} \| 100% of ", cost), cost
    assert main(["study", "status", str(tmp_path / "out")]) == 0
    assert "16 runs: 16 done" in capsys.readouterr().out


def test_figures_never_pool_settings(tmp_path):
    from adapterlab.report import figures
    from adapterlab.report.curves import Curve, overfitting_tables

    records = [
        _record("cola", "adapter", seed, 0.5 + 0.01 * seed, size=size, k=k, lr=1e-4)
        for seed in (0, 1)
        for size in (64, 256)
        for k in (1000, 5000)
    ]
    records += [_record("cola", "finetune", seed, 0.4, k=k, lr=2e-5) for seed in (0, 1) for k in (1000, 5000)]
    # a learning-rate figure gets one panel per task and training size, with each adapter size its own series
    panels = figures._panels(records, ("task", "lr", *figures.METHOD_KEYS))
    assert {title: len(runs) for title, runs in panels.items()} == {"cola k=1000": 6, "cola k=5000": 6}
    for path in (
        figures.plot_adapter_size(records, tmp_path / "sizes.png"),
        figures.plot_lr_boxes(records, tmp_path / "lr.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one_size = [r for r in records if r.setting.column.adapter_size in (None, 64)]
    assert figures.plot_adapter_size(one_size, tmp_path / "none.png") is None
    # Table 6: one row per setting, seeds pooled, training sizes apart
    curves = [
        Curve(
            r.setting,
            "accuracy",
            [{"step": 10, "loss": 1.0, "accuracy": r.result.test_metric}, {"step": 20, "loss": 0.9, "accuracy": 0.9}],
        )
        for r in one_size
    ]
    mean_table, best_table = overfitting_tables(curves, "t")
    assert [c.name for c in mean_table.columns] == [
        "k=1000 finetune lr=2e-05",
        "k=1000 adapter m=64 lr=0.0001",
        "k=5000 finetune lr=2e-05",
        "k=5000 adapter m=64 lr=0.0001",
    ]
    mean_cell, best_cell = (
        mean_table.cell("cola", "k=1000 adapter m=64 lr=0.0001"),
        best_table.cell("cola", "k=1000 adapter m=64 lr=0.0001"),
    )
    assert mean_cell.values == pytest.approx(((50 + 90) / 2, (51 + 90) / 2)) and best_cell.values == pytest.approx(
        (90.0, 90.0)
    )
    assert "(Table 6)" in to_markdown(mean_table) and best_table.cell(
        "cola", "k=5000 finetune lr=2e-05"
    ).values == pytest.approx((90.0, 90.0))


def test_report_with_a_malformed_analysis_file_is_a_one_line_error(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    out = tmp_path / "out"
    run_study(expand_spec(tiny_spec(root, model, seeds=(0,))), out, isolation="inline")
    (out / "analysis").mkdir()
    (out / "analysis" / "crosslingual_sst2.json").write_text(json.dumps({"metric": "accuracy", "runs": []}))  # no task
    assert main(["study", "report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "crosslingual_sst2.json: not an analysis result of `adapterlab study analyze`" in err
        and len(err.splitlines()) == 1
    )
    (out / "analysis" / "crosslingual_sst2.json").unlink()
    (out / "analysis" / "rsa").mkdir()
    (out / "analysis" / "rsa" / "rsa.csv").write_text("layer,rsa\n0,1.0\n")  # no run column
    assert main(["study", "report", str(out)]) == 2
    assert "rsa.csv: not an RSA table of `adapterlab study analyze`" in capsys.readouterr().err


def test_report_on_a_folder_that_is_not_a_study(tmp_path, capsys):
    assert main(["study", "report", str(tmp_path)]) == 2
    assert "not a study folder" in capsys.readouterr().err


def test_analyze_then_report_shows_rsa_and_crosslingual_tables(tiny_world, tmp_path, capsys, monkeypatch):
    root, model = tiny_world
    for lang, seed in (("en", 5), ("zh", 6)):
        write_sentiment_tsv(tmp_path / f"dev-{lang}.tsv", 20, seed)
    raw = tiny_spec(root, model, seeds=(0, 1))
    raw["by_method"]["finetune"]["save_model"] = True
    raw["analysis"] = {
        "rsa": {"task": "sst2", "data": str(root / "dev.tsv"), "n": 100, "max_length": 32},
        "crosslingual": {"sst2": {"pattern": str(tmp_path / "dev-{lang}.tsv"), "languages": ["en", "zh"]}},
    }
    raw["reference"] = [{"task": "sst2", "language": "all", "method": "finetune", "value": 50.0}]
    raw["report"] = {"layout": "tasks-as-rows"}  # a row per language and per layer, as the assertions below read them
    raw["claims"] = [{"id": "C4"}]
    out = tmp_path / "out"
    run_study(expand_spec(raw), out, isolation="inline")
    plan = json.loads((out / "study.json").read_text())
    assert main(["study", "analyze", str(out)]) == 0
    lines = (out / "analysis" / "rsa" / "rsa.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 * 3  # 2 methods x 2 seeds x (embeddings + 2 layers)
    assert main(["study", "report", str(out)]) == 0
    # Table 3 shape: a row per language and per average, a column per setting, mean over seeds
    analysis = json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())
    en_finetune = [100 * r["scores"]["en"] for r in analysis["runs"] if r["method"] == "finetune"]
    rows = list(csv.DictReader((out / "report" / "crosslingual_sst2.csv").read_text().splitlines()))
    assert [r["language"] for r in rows if r["setting"] == "finetune"] == ["en", "zh", "all", "target", "distant"]
    cell = next(r for r in rows if r["setting"] == "finetune" and r["language"] == "en")
    assert float(cell["mean"]) == pytest.approx(sum(en_finetune) / 2, abs=1e-3) and cell["n"] == "2"
    assert next(r for r in rows if r["setting"] == "finetune" and r["language"] == "all")["reference"] == "50.0"
    markdown = (out / "report" / "table.md").read_text()
    assert "Zero-shot cross-lingual transfer: sst2" in markdown and "| distant | accuracy |" in markdown
    significance = json.loads((out / "report" / "significance.json").read_text())
    assert {s["task"] for s in significance if s.get("table", "").startswith("Zero-shot")} == {
        "en",
        "zh",
        "all",
        "target",
        "distant",
    }
    assert (out / "report" / "fig2_rsa.png").read_bytes()[:4] == b"\x89PNG"
    # C4 (target languages) says the gap in English beside it: a method that learned English worse.
    # On a copy whose zero-shot scores differ by method, seed and language (the tiny runs all score alike)
    c4_study = tmp_path / "c4"
    shutil.copytree(out, c4_study)
    made = {("adapter", "en"): (0.60, 0.01), ("finetune", "en"): (0.50, 0.03), ("adapter", "zh"): (0.30, 0.02)}
    made[("finetune", "zh")] = (0.42, 0.0)
    for row in analysis["runs"]:
        method, seed = row["run"].split("/")[-2].split("-")[0], int(row["run"][-1])
        for lang in ("en", "zh"):
            base, step = made[(method, lang)]
            row["scores"][lang] = base + step * seed
        row["averages"] = {
            "all": sum(row["scores"].values()) / 2,
            "target": row["scores"]["zh"],
            "distant": row["scores"]["zh"],
        }
    (c4_study / "analysis" / "crosslingual_sst2.json").write_text(json.dumps(analysis))
    assert main(["claims", str(c4_study), "--json", str(tmp_path / "claims.json")]) == 0
    c4 = json.loads((tmp_path / "claims.json").read_text())[0]
    # adapters minus fine-tuning, x100: English (60 + s) - (50 + 3s) = +9.00 over seeds 0, 1; the target (zh) (30 + 2s) - 42 = -11.00
    assert c4["id"] == "C4" and c4["value"] == pytest.approx(-11.0)
    assert "in English, the training language: +9.00 over 2 seed(s)" in c4["detail"]
    # Fig. 2 as a table: a row per layer, RSA x100 averaged over the seeds of each setting
    rsa_rows = list(csv.DictReader(lines))
    top_finetune = [100 * float(r["rsa"]) for r in rsa_rows if r["method"] == "finetune" and r["layer"] == "2"]
    assert "Representational similarity to the base model (Fig. 2)" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| layer 2 | rsa |"))
    assert row.split(" | ")[2].startswith(f"{sum(top_finetune) / 2:.1f}")

    # records resumed elsewhere keep no weights: analyze again keeps every row it computed
    rsa_before = (out / "analysis" / "rsa" / "rsa.csv").read_text()
    transfer_before = json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())["runs"]
    weights = tmp_path / "weights"
    for run in plan["runs"]:
        for name in ("pack", "model"):
            if (out / run["dir"] / name).is_dir():
                shutil.move(out / run["dir"] / name, weights / run["dir"] / name)
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0
    assert (out / "analysis" / "rsa" / "rsa.csv").read_text() == rsa_before
    assert json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())["runs"] == transfer_before
    # a rerun (new result.json) must be analyzed again: without its weights that is one clear line
    rerun = out / plan["runs"][0]["dir"]
    result = json.loads((rerun / "result.json").read_text())
    (rerun / "result.json").write_text(json.dumps({**result, "test_metric": 0.123}))
    capsys.readouterr()
    assert main(["study", "analyze", "--no-progress", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        str(rerun) in err
        and "no weights to analyze" in err
        and "delete its result.json" in err
        and len(err.splitlines()) == 1
    )
    assert (out / "analysis" / "rsa" / "rsa.csv").read_text() == rsa_before  # nothing half-written
    shutil.move(weights / plan["runs"][0]["dir"] / "pack", rerun / "pack")
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0  # the rerun alone is computed
    rerun_rows = [
        r
        for r in csv.DictReader((out / "analysis" / "rsa" / "rsa.csv").read_text().splitlines())
        if r["run"] == plan["runs"][0]["dir"]
    ]
    assert len(rerun_rows) == 3 and all(r["test_metric"] == "0.123" for r in rerun_rows)
    # an analysis written before inputs were recorded: rows of runs without weights are adopted
    (out / "analysis" / "rsa" / "inputs.json").unlink()
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "RSA: 1 runs to compute, the rows of 3 analyzed before kept (3 of them from an analysis that predates recorded inputs"
        in printed
    )
    # older cross-lingual rows too, when they cover the same languages on as many examples
    transfer = out / "analysis" / "crosslingual_sst2.json"
    transfer.write_text(json.dumps({k: v for k, v in json.loads(transfer.read_text()).items() if k != "inputs"}))
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0
    assert (
        "cross-lingual sst2: 1 runs to compute, the rows of 3 analyzed before kept (3 of them"
        in capsys.readouterr().out
    )
    for run in plan["runs"]:
        for name in ("pack", "model"):
            if (weights / run["dir"] / name).is_dir():
                shutil.move(weights / run["dir"] / name, out / run["dir"] / name)

    # a failed run left no weights: the analysis skips it instead of stopping
    gone = out / next(r["dir"] for r in plan["runs"] if r["labels"]["method"] == "finetune")
    result = json.loads((gone / "result.json").read_text())
    (gone / "result.json").write_text(json.dumps({**result, "status": "failed"}))
    shutil.rmtree(gone / "model")
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0
    assert len(json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())["runs"]) == 3
    assert "(Fig. 2)" in (out / "report" / "report.html").read_text()

    # an analysis killed after its second run keeps those two: the next one computes only the third
    import adapterlab.analysis.rsa_run as rsa_run
    import adapterlab.analysis.transfer as transfer

    def kill_at_the_third_run(module, name):
        original, calls = getattr(module, name), []

        def killed(*args, **kwargs):
            calls.append(args)
            if len(calls) == 3:
                raise KeyboardInterrupt  # what SIGINT raises; SIGKILL leaves the same files behind
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, killed)

    shutil.rmtree(out / "analysis")
    for module, name, analysis, kept in (
        (rsa_run, "load_trained_run", "RSA", "cross-lingual sst2: 3 runs to compute, the rows of 0"),
        (transfer, "evaluate_languages", "cross-lingual sst2", "RSA: 0 runs to compute, the rows of 3"),
    ):
        (out / "analysis" / "crosslingual_sst2.json").unlink(missing_ok=True)  # RSA's rows are kept below
        kill_at_the_third_run(module, name)
        assert main(["study", "analyze", "--no-progress", str(out)]) == 130
        assert "interrupted; the rows of the runs analyzed so far are kept" in capsys.readouterr().err
        monkeypatch.undo()
        capsys.readouterr()
        assert main(["study", "analyze", "--no-progress", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"{analysis}: 1 runs to compute, the rows of 2 analyzed before" in printed and kept in printed
    assert len(list(csv.DictReader((out / "analysis" / "rsa" / "rsa.csv").read_text().splitlines()))) == 3 * 3
    assert len(json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())["runs"]) == 3
    # killed between the rows and the inputs that vouch for them: the rows are not trusted, the
    # runs are computed again (nothing stale is kept)
    import adapterlab.study.analyze as analyze

    shutil.rmtree(out / "analysis")
    real_write = analyze.write_json_atomic

    def killed_before_the_inputs(path, data):
        if path.name == "inputs.json":
            raise KeyboardInterrupt
        return real_write(path, data)

    monkeypatch.setattr(analyze, "write_json_atomic", killed_before_the_inputs)
    assert main(["study", "analyze", "--no-progress", str(out)]) == 130
    monkeypatch.undo()
    assert not (out / "analysis" / "rsa" / "inputs.json").exists() and (out / "analysis" / "rsa" / "rsa.csv").exists()
    capsys.readouterr()
    assert main(["study", "analyze", "--no-progress", str(out)]) == 0
    assert "RSA: 3 runs to compute, the rows of 0 analyzed before" in capsys.readouterr().out


def test_a_failed_runs_partial_curve_is_left_out(tmp_path):
    """A killed run (failed, died) leaves a metrics.jsonl without a metric name in its result: its
    partial curve belongs to no setting, and the Fig. 5 plot must not crash on it."""
    from adapterlab.report import figures
    from adapterlab.report.curves import read_curves

    ok, failed = tmp_path / "ok", tmp_path / "failed"
    for folder in (ok, failed):
        folder.mkdir()
        (folder / "metrics.jsonl").write_text(
            json.dumps({"split": "validation", "at": "step", "step": 5, "loss": 0.5, "accuracy": 0.8}) + "\n"
        )
    setting = Setting.from_labels({"task": "sst2", "method": "adapter", "adapter_size": 64})
    records = [
        RunRecord(setting, RunResult(status="ok", metric="accuracy", test_metric=0.8, validation_metric=0.8), ok, 0),
        RunRecord(setting, RunResult(status="failed"), failed, 1),
    ]
    curves = read_curves(records)
    assert [c.seed for c in curves] == [0]
    assert figures.plot_overfitting(curves, tmp_path / "fig5.png").read_bytes()[:4] == b"\x89PNG"


def test_a_method_with_one_candidate_still_gets_its_selected_column():
    """Adapters try two learning rates, fine-tuning one: fine-tuning's only rate is its selected
    column, so the selected adapter column has a partner to be tested against."""
    from adapterlab.report.tables import significance_tests

    records = []
    for seed in range(3):
        records += [
            _record("sst2", "adapter", seed, 0.80 + 0.01 * seed, lr=1e-4),
            _record("sst2", "adapter", seed, 0.85 + 0.01 * seed, lr=1e-3),
            _record("sst2", "finetune", seed, 0.82 + 0.01 * seed, lr=2e-5),
        ]
    table = _table("t", records, select=("lr", "adapter_size"))
    names = [c.name for c in table.columns]
    assert "k=1000 finetune lr=best" in names and "k=1000 adapter m=best lr=best" in names
    assert table.cell("sst2", "k=1000 finetune lr=best").chosen == "lr=2e-05"
    selected = [t for t in significance_tests(table) if t.family == "selected"]
    assert [(t.adapter, t.finetune) for t in selected] == [("k=1000 adapter m=best lr=best", "k=1000 finetune lr=best")]
    assert selected[0].comparison.difference == pytest.approx(3.0)


def test_claims_command_over_study_folders_names_each_studys_setup(tiny_world, tmp_path, capsys):
    """`adapterlab claims DIR...`: one row per claim and study, with the spec's description as the
    row's setup (what the verdict rests on), in Markdown and JSON; a folder without claims is refused."""
    root, model = tiny_world
    raw = {**tiny_spec(root, model, seeds=(0, 1, 2)), "claims": ["C2"], "description": "tiny BERT, k=20, 3 seeds"}
    out = tmp_path / "out"
    run_study(expand_spec(raw), out, isolation="inline")
    capsys.readouterr()
    assert main(["claims", str(out), "--json", str(tmp_path / "claims.json")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| C2:"))
    assert row.split(" | ")[1:3] == ["tiny", "tiny BERT, k=20, 3 seeds"]
    (result,) = json.loads((tmp_path / "claims.json").read_text())
    assert (
        result["setup"] == "tiny BERT, k=20, 3 seeds"
        and result["n"] == 3
        and result["verdict"] in ("supported", "contradicted", "equivalent", "inconclusive", "no verdict")
        and "q" in result
        and "gate" in result
    )
    # one study given twice, or a copy of it, would count its rows twice in the family
    import shutil

    shutil.copytree(out, tmp_path / "copy")
    for twice in ([str(out), f"{out}/"], [str(out), str(tmp_path / "copy")]):
        assert main(["claims", *twice]) == 2
        assert "give each study once" in capsys.readouterr().err
    plain = tmp_path / "plain"
    run_study(expand_spec(tiny_spec(root, model, seeds=(0,))), plain, isolation="inline")
    assert main(["claims", str(plain)]) == 2
    assert "none of" in capsys.readouterr().err


def test_the_committed_replication_table_is_what_the_committed_records_give(tmp_path, monkeypatch, capsys):
    """docs/results/README.md's claims tables are `adapterlab claims` over the committed run records
    (the first design of the replication suite here): recomputed, it must equal the committed JSON,
    so no verdict on the page can drift from its evidence. (scripts/check_committed_reports.py
    checks every table and rebuilds every committed report.)"""
    repo = Path(__file__).resolve().parents[2]
    studies = sorted(str(p.relative_to(repo)) for p in (repo / "docs" / "results" / "rep_v1").glob("*/study"))
    assert studies, "docs/results/rep_v1 holds the first replication suite's studies"
    monkeypatch.chdir(repo)
    assert main(["claims", *studies, "--json", str(tmp_path / "claims.json")]) == 0
    assert (tmp_path / "claims.json").read_text() == (repo / "docs" / "results" / "rep_v1" / "claims.json").read_text()
    ids = [row["id"] for row in json.loads((tmp_path / "claims.json").read_text())]
    assert len(set(ids)) > 3 and ids == sorted(ids, key=claim_order)


def test_claims_over_several_studies_read_by_claim():
    """C2 before C10, whatever order the specs (and folders) give them in."""
    assert sorted(["C10", "C2", "C1", "extra", "C2b"], key=claim_order) == ["C1", "C2", "C2b", "C10", "extra"]
