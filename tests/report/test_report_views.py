"""What a reader sees: every format built from one Grid per table names both sides and the
family of each comparison, marks cells whose runs did not learn, carries the cost table; the
HTML page is one offline file whose contents, anchors and run links resolve; figures keep one
metric per panel and wrap into rows; `study validate` refuses claims the grid cannot evaluate."""

import json
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest
from studyworld import spec_errors, tiny_spec, write_spec

from adapterlab.cli import main
from adapterlab.methods import get_method
from adapterlab.report import figures, grid
from adapterlab.report.build import build_report
from adapterlab.report.curves import Curve
from adapterlab.report.gates import RunEvidence
from adapterlab.report.page import Section, render_page
from adapterlab.report.tables import Observation, build_table
from adapterlab.report.views import Marks, table_grids, values_grid
from adapterlab.runs import RunRecord, RunResult, save_result
from adapterlab.setting import Column, Setting
from adapterlab.study.spec import expand_spec


def _evidence(seed, chance, best=60.0):
    return RunEvidence(
        seed,
        evaluations=4,
        best_is_last=False,
        tail_gain=0.0,
        stop="converged",
        chance=chance,
        chance_name="MCC",
        best=best,
        after_best=(best - 1,),
    )


def _world():
    """sst2 learned by both methods; cola stuck at a constant predictor (MCC 0) for LoRA only.
    No fine-tuning: LoRA is compared with adapters."""
    observations = []
    for seed in range(3):
        for method, labels in (("adapter", {"adapter_size": 64}), ("lora", {"lora_r": 4})):
            column = Column.from_labels({"method": method, **labels})
            for task, score, chance in (
                ("sst2", 0.80 + 0.01 * seed + (0.02 if method == "lora" else 0), 55.0),
                ("cola", 0.30 + 0.01 * seed if method == "adapter" else 0.0, 30.0 if method == "adapter" else 0.0),
            ):
                observations.append(
                    Observation(
                        task,
                        column,
                        "accuracy" if task == "sst2" else "mcc",
                        score,
                        score,
                        seed=seed,
                        evidence=_evidence(seed, chance),
                        folder=Path(f"study/{task}/{method}/seed={seed}"),
                    )
                )
    return build_table("tiny", observations, select=("adapter_size",))


class _Page(HTMLParser):
    """The page's tables (header and rows of cell texts, with each cell's class and link), ids,
    hrefs and resource attributes."""

    def __init__(self):
        super().__init__()
        self.tables, self.ids, self.hrefs, self.resources, self.tags = [], set(), [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.hrefs.append(attrs.get("href", ""))
            if self._cell is not None:
                self._cell["link"] = attrs.get("href")
        if tag in ("img", "script", "link", "iframe") and ("src" in attrs or "href" in attrs):
            self.resources.append(attrs.get("src") or attrs.get("href"))
        if tag == "table":
            self.tables.append({"header": [], "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = {"text": "", "class": attrs.get("class", ""), "link": None, "th": tag == "th"}

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            cell, self._cell = self._cell, None
            if cell["th"]:
                self.tables[-1]["header"].append(cell["text"].strip())
            else:
                self.tables[-1]["rows"][-1].append(cell)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    for table in parser.tables:
        table["rows"] = [row for row in table["rows"] if row]
    return parser


def test_every_format_names_both_sides_and_family_and_marks_the_constant_predictor():
    table = _world()
    grids = table_grids(table, "main", Marks(), links_from=Path("study/report"))
    values, comparisons = grids
    # the comparisons: LoRA - adapter (no fine-tuning in this study), both sides and the family in every format
    assert comparisons.title.endswith("(LoRA − adapter)") and "fine-tuning" not in comparisons.title
    header = list(comparisons.header)
    for row in comparisons.rows:
        cells = dict(zip(header, (e.text for e in row)))
        assert (
            cells["method column"].startswith("lora")
            and cells["vs"].startswith("adapter")
            and cells["family"] in ("per setting vs adapter", "average vs adapter")
        )
    markdown = grid.to_markdown(comparisons)
    latex = grid.to_latex(comparisons)
    csv_text = grid.to_csv(comparisons)
    assert "| task | method column | vs | n | difference |" in markdown and "| family |" in markdown
    assert r"task & method column & vs & n & difference" in latex and "per setting vs adapter" in latex
    assert (
        csv_text.splitlines()[0].startswith("task,method column,vs,n,difference")
        and "per setting vs adapter" in csv_text
    )
    # the degenerate mark: LoRA's cola cell (MCC 0 in every seed), nowhere else, with a legend line in every format
    marked = {
        (row[0].text, header_name)
        for row in values.rows
        for header_name, entry in zip(values.header, row)
        if entry.mark
    }
    assert marked == {("lora lora_r=4", "cola (mcc)")}
    assert "| lora lora_r=4 | 83.0<sub>1.0</sub> | 0.0<sub>0.0</sub> † |" in grid.to_markdown(values)
    assert "0.0$_{0.0}$$^\\dagger$" in grid.to_latex(
        values
    ) and "did not learn: the runs behind the cell" in grid.to_latex(values)
    assert "did not learn: the runs behind the cell score within 5 points of 0" in grid.to_markdown(values)
    tidy = grid.to_csv(values_grid(table, "main", Marks(), layout="tasks-as-rows", tidy=True)).splitlines()
    assert tidy[0] == "task,metric,setting,mean,std,n,diverged,failed,reference,values,chosen,mark,runs"
    cola_lora = next(line for line in tidy if line.startswith("cola,mcc,lora"))
    assert "did not learn: cola: lora lora_r=4: test MCC ×100 0.0 over 3 seeds" in cola_lora
    assert not any("did not learn" in line for line in tidy if not line.startswith("cola,mcc,lora"))
    # HTML (the template): the marked cell has the class and a tooltip, links point to the settings folder
    page = _parse(render_page("t", "", "", [Section("results", "Results", grids)], [], ""))
    values_table = page.tables[0]
    cola = values_table["header"].index("cola (mcc)")
    lora = next(row for row in values_table["rows"] if row[0]["text"] == "lora lora_r=4")
    assert "degenerate" in lora[cola]["class"] and "†" in lora[cola]["text"] and lora[cola]["link"] == "../cola/lora/"
    assert not any(
        "degenerate" in cell["class"] for row in values_table["rows"] for cell in row if cell is not lora[cola]
    )
    html_comparisons = page.tables[1]
    assert html_comparisons["header"][:3] == ["task", "method column", "vs"] and "family" in html_comparisons["header"]
    assert all(row[1]["text"] and row[2]["text"].startswith("adapter") for row in html_comparisons["rows"])


def _fake_study(root: Path) -> Path:
    """A study folder of records only (no training): adapter m=64 and LoRA r=4 on sst2 and cola,
    3 seeds; cola's LoRA runs predict one class (MCC 0). Its spec claims C2, which needs fine-tuning."""
    out = root / "study"
    runs = []
    for task, metric in (("sst2", "accuracy"), ("cola", "mcc")):
        for method, labels in (("adapter", {"adapter_size": 64}), ("lora", {"lora_r": 4})):
            for seed in range(3):
                folder = f"{task}/{method}-lr0.001/seed={seed}"
                (out / folder).mkdir(parents=True)
                score = 0.0 if (task, method) == ("cola", "lora") else 0.3 + 0.5 * (task == "sst2") + 0.01 * seed
                test = {metric: score, "mcc": score if task == "cola" else score - 0.3}
                save_result(
                    out / folder,
                    RunResult(
                        "ok",
                        task,
                        method,
                        seed,
                        metric,
                        validation_metric=score,
                        test_metric=score,
                        test=test,
                        best_epoch=2,
                        best_step=20,
                        wall_seconds=60.0 + seed,
                        train_seconds=40.0,
                        trainable_params=1000 if method == "lora" else 3000,
                        pack_bytes=4000 if method == "lora" else 12000,
                    ),
                )
                rows = [
                    {
                        "split": "validation",
                        "epoch": e,
                        "step": 10 * e,
                        "loss": 0.7 - 0.05 * e,
                        metric: score - 0.01 * (3 - e),
                    }
                    for e in (1, 2, 3)
                ]
                (out / folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
                runs.append({"dir": folder, "seed": seed, "labels": {"task": task, "method": method, **labels}})
    plan = {
        "name": "adapter vs LoRA",
        "description": "no fine-tuning",
        "runs": runs,
        "claims": ["C2"],
        "command": ["adapterlab", "study", "run"],
    }
    (out / "study.json").write_text(json.dumps(plan))
    return out


def test_the_page_of_a_study_without_fine_tuning(tmp_path):
    out = _fake_study(tmp_path)
    report = build_report(out)
    folder = out / "report"
    assert {p.name for p in report.files} >= {
        "table.md",
        "table.tex",
        "table.csv",
        "significance.csv",
        "cost.csv",
        "claims.csv",
        "report.html",
        "claims.json",
        "significance.json",
    }
    text = (folder / "report.html").read_text()
    page = _parse(text)
    # one offline file: no external resource, figures inline
    assert all(source.startswith("data:image/png;base64,") for source in page.resources) and page.resources
    assert "http://" not in text and "https://" not in text and "link" not in page.tags
    # every entry of the contents resolves to an anchor; the claims come first
    anchors = [href[1:] for href in page.hrefs if href.startswith("#")]
    assert anchors and all(anchor in page.ids for anchor in anchors) and anchors[0] == "claims-section"
    claims = page.tables[0]
    assert claims["header"][0] == "claim" and claims["rows"][0][8]["text"] == "not applicable"
    detail = claims["rows"][0][10]["text"]
    assert "b={method: finetune}: no column has method=finetune" in detail and "where" not in detail
    # every comparison names both sides (no fine-tuning: LoRA vs adapter) and its family
    comparisons = [t for t in page.tables if t["header"][1:3] == ["method column", "vs"]]
    assert comparisons and all(
        row[1]["text"].startswith("lora")
        and row[2]["text"].startswith("adapter")
        and row[8]["text"].endswith("vs adapter")
        for t in comparisons
        for row in t["rows"]
    )
    assert "Adapter vs fine-tuning" not in text
    # the cost table, beside the main table
    cost = next(t for t in page.tables if "wall time per run" in t["header"])
    assert [row[0]["text"] for row in cost["rows"]] == ["adapter", "LoRA", "all methods"] and cost["rows"][1][7][
        "text"
    ] == "0.00 MB pack"
    # the constant predictor's cell is marked, with its legend
    main = page.tables[1]
    lora = next(row for row in main["rows"] if row[0]["text"] == "lora lora_r=4")
    assert (
        "degenerate" in lora[main["header"].index("cola (mcc)")]["class"]
        and "did not learn: the runs behind the cell" in text
    )
    # value links are relative and reach the settings folder of their runs
    links = [cell["link"] for t in page.tables for row in t["rows"] for cell in row if cell["link"]]
    assert links and all(not link.startswith(("/", "file:")) and (folder / link).is_dir() for link in links)
    # the text formats carry the same comparisons and marks
    latex = (folder / "table.tex").read_text()
    assert "method column & vs" in latex and "per setting vs adapter" in latex and r"$^\dagger$" in latex
    assert "wall time per run" in (folder / "table.md").read_text() and "†" in (folder / "table.md").read_text()


def test_validate_refuses_the_claims_the_grid_cannot_evaluate(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    spec = tiny_spec(root, model, seeds=(0,), extra_base={"epochs": 2})
    spec["claims"] = ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    errors = [line.split(": ", 1)[1] for line in spec_errors(spec)]
    assert errors == [
        "claims[0] C1: is measured on the RSA table (table: rsa), which needs an analysis: {rsa: ...} block",
        "claims[2] C3: needs two values of train_size for a={method: adapter} and b={method: finetune}; train_size is not an axis of the grid",
        "claims[3] C4: is measured on zero-shot cross-lingual tables (table: crosslingual:*), which need a crosslingual: block in analysis:",
        "claims[4] C5: needs two values of lr for a={method: adapter} and b={method: finetune}; lr is not an axis of the grid",
        "claims[5] C6: measures the fall of the validation metric over the 3 evaluations after the best (gates.tail), but "
        "sst2/adapter-m8-lr0.001-k20 evaluates 2 time(s) (epochs 2, no eval_every): set eval_every, or epochs of at least 4",
        "claims[6] C7: a={method: adapter, tapt: true}: the grid does not vary tapt for {method: adapter}; add a tapt axis (grid, or by_method for one method)",
    ]
    # a claim the design cannot reach, with the reason it is not tested, validates
    spec["claims"] = [{"id": "C3", "not_tested": "needs k=3000"}, {"id": "C7", "not_tested": "no MLM head"}]
    assert [c["id"] for c in expand_spec(spec).claims] == ["C3", "C7"]
    # a study without fine-tuning cannot test C2; an ambiguous side is told which where: narrows it, and then validates
    spec = tiny_spec(root, model, seeds=(0,))
    spec["grid"]["method"] = ["adapter"]
    spec["claims"] = ["C2"]
    assert spec_errors(spec)[0].endswith(
        "claims[0] C2: b={method: finetune}: no column has method=finetune (the grid has method adapter)"
    )
    spec = tiny_spec(root, model, seeds=(0,))
    spec["by_method"]["adapter"]["tapt"] = [False, True]
    spec["claims"] = ["C2"]
    (error,) = spec_errors(spec)
    assert (
        "a={method: adapter} matches 2 columns (adapter m=8 tapt=False; adapter m=8 tapt=True), which differ in tapt: narrow it with where: {tapt: ...}"
        in error
    )
    spec["claims"] = [{"id": "C2", "where": {"tapt": False}}]
    path = write_spec(tmp_path / "ok.yaml", spec)
    assert main(["study", "validate", str(path)]) == 0
    path = write_spec(tmp_path / "bad.yaml", {**spec, "claims": ["C3"]})
    capsys.readouterr()
    assert main(["study", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "claims[0] C3: needs two values of train_size" in err


def _records(tasks, rates=(1e-4, 1e-3)):
    records = []
    for task in tasks:
        for lr in rates:
            for method in ("adapter", "finetune"):
                for seed in range(2):
                    labels = {
                        "task": task,
                        "method": method,
                        "lr": lr,
                        **({"adapter_size": 64} if method == "adapter" else {}),
                    }
                    result = RunResult(
                        "ok",
                        metric="accuracy",
                        test_metric=0.5 + 0.1 * seed + (0.1 if method == "adapter" else 0),
                        validation_metric=0.5,
                    )
                    records.append(RunRecord(Setting.from_labels(labels), result, Path("."), seed))
    return records


def test_figures_keep_one_metric_per_panel_and_wrap_into_rows(tmp_path):
    # Fig. 4 at 12 tasks: rows of 3 panels, each about 480 pixels wide, the legend below
    path = figures.plot_lr_boxes(_records([f"task{i}" for i in range(12)]), tmp_path / "fig4.png")
    height, width = matplotlib.image.imread(path).shape[:2]
    assert 1300 < width < 1700 and height > 4 * 300, (width, height)
    one = figures.plot_lr_boxes(_records(["sst2"]), tmp_path / "one.png")
    assert matplotlib.image.imread(one).shape[1] < 700  # one panel is not stretched to the width of twelve
    # Fig. 5: a panel per task and quantity, never SST-2 accuracy and CoLA MCC on one axis
    curves = []
    for task, metric in (("sst2", "accuracy"), ("cola", "mcc")):
        for method in ("adapter", "finetune"):
            for seed in range(2):
                setting = Setting(task, Column.from_labels({"method": method, "lr": 1e-3}))
                rows = [
                    {"split": "validation", "step": s, "loss": 1.0 / s, metric: 0.1 * s + 0.01 * seed}
                    for s in (1, 2, 3)
                ]
                curves.append(Curve(setting, metric, rows, seed))
    panels = figures.overfitting_panels(curves)
    assert list(panels) == [
        ("sst2", "validation loss"),
        ("sst2", "validation accuracy ×100"),
        ("cola", "validation loss"),
        ("cola", "validation mcc ×100"),
    ]
    assert panels[("cola", "validation mcc ×100")]["adapter lr=0.001"] == {
        1: pytest.approx([10.0, 11.0]),
        2: pytest.approx([20.0, 21.0]),
        3: pytest.approx([30.0, 31.0]),
    }  # both seeds: the band
    assert figures.plot_overfitting(curves, tmp_path / "fig5.png").read_bytes()[:4] == b"\x89PNG"
    # two series of one method never share a colour
    colors = figures.shades(["lora lora_r=4", "lora lora_r=16", "adapter m=64"])
    assert len(set(colors.values())) == 3 and colors["adapter m=64"] == get_method("adapter").color


def test_the_ceiling_of_a_run_recorded_before_it_was_recorded(tmp_path):
    """Records from before 2026-12-07 lack ceiling_steps: a run that ran to its ceiling took it;
    a stopped one: epochs x the steps of its first epoch, read from its validation rows (17, not
    ceil(500 / 32) = 16: length-grouped batching made the first suite's epochs a batch longer)."""
    import json

    from adapterlab.report.cost import ceiling_steps
    from adapterlab.runs import RunRecord, RunResult

    def record(epochs: int, evaluated: list[tuple[int, int]], **result) -> RunRecord:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"epochs": epochs, "train_size": 500, "batch_size": 32}))
        rows = [{"split": "validation", "epoch": e, "step": s, "loss": 0.5} for e, s in evaluated]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return RunRecord(None, RunResult(status="ok", steps=evaluated[-1][1], **result), folder)

    stopped = {"stop_reason": "converged"}
    assert ceiling_steps(record(10, [(1, 8), (1, 17), (2, 25), (2, 34)], **stopped)) == 170
    assert ceiling_steps(record(10, [(1, 8), (1, 17), (2, 34)], ceiling_steps=160, **stopped)) == 160
    assert ceiling_steps(record(4, [(1, 17), (2, 34), (3, 51), (4, 68)], stop_reason="ceiling")) == 68
    assert ceiling_steps(record(10, [(1, 8), (1, 16)], **stopped)) is None  # stopped in its first epoch


def test_intervals_print_infinite_ends_and_no_nan():
    from adapterlab.report.grid import interval_text

    assert interval_text(-1.2, 3.4) == "[-1.20, +3.40]"
    assert interval_text(float("-inf"), float("inf")) == "[-inf, +inf]"  # anytime-valid at few seeds: the whole line
    assert interval_text(float("nan"), float("nan")) == "n/a" and interval_text(None, 1.0) == "n/a"


def test_report_json_is_strict_json_in_every_committed_report():
    """NaN and Infinity are not JSON (a browser's JSON.parse refuses them): claims.json and
    significance.json wrote them (an anytime-valid interval at 2 seeds, a bootstrap left out)."""
    import json
    from pathlib import Path

    from adapterlab.runs import strict_json

    results = Path(__file__).resolve().parents[2] / "docs" / "results"

    def refuse(constant):
        raise ValueError(constant)

    assert json.loads(strict_json({"a": float("nan"), "b": [float("inf"), 1.5]})) == {"a": None, "b": [None, 1.5]}
    # a claims row keeps what null hides: an unbounded interval is not a missing one
    rows = [row for path in sorted(results.glob("**/*claims.json")) for row in json.loads(path.read_text())]
    for row in rows:
        if row["ci_low"] is None and row["value"] is not None and row["n"] >= 3 and row.get("sequential"):
            assert row["interval"] in ("[-inf, +inf]", "n/a"), row["interval"]
    files = sorted(results.rglob("report/*.json")) + sorted(results.glob("**/*claims.json"))
    for path in files:
        json.loads(path.read_text(), parse_constant=refuse)  # raises on NaN / Infinity
    assert files or not results.exists()
