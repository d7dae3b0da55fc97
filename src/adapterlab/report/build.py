"""`adapterlab study report DIR`: tables (Markdown, LaTeX, CSV), significance, figures and one
self-contained report.html, every format from the same Grids."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapterlab.errors import AdapterlabError
from adapterlab.names import COMPLETE_STATUSES
from adapterlab.recorded_config import config_differences, load_config
from adapterlab.report import figures
from adapterlab.report.analysis_tables import crosslingual_tables, rsa_records, rsa_table
from adapterlab.report.claims import ClaimResult, claims_grid, claims_json, evaluate_claims
from adapterlab.report.cost import cost_grid
from adapterlab.report.gates import GateContext, RunEvidence, fall_after_best, gate_significance, run_evidence
from adapterlab.report.grid import Entry, Grid, label, number, to_csv, to_latex, to_markdown
from adapterlab.report.page import Figure, Section, render_page
from adapterlab.report.tables import Observation, Table, build_table, observations_of
from adapterlab.report.views import Marks, significance_grid, table_grids, values_grid
from adapterlab.runs import METRICS_FILE, RunRecord, load_result
from adapterlab.setting import Setting
from adapterlab.study.claims_spec import resolve_claims
from adapterlab.study.folder import StudyPlan, load_plan
from adapterlab.study.gates_spec import GateOptions
from adapterlab.study.report_spec import DEFAULT_SELECT
from adapterlab.train.config import RunConfig

FIGURE_FILES = {"fig2_rsa.png", "fig3_train_size.png", "fig4_lr_boxes.png", "fig5_overfitting.png", "adapter_size.png"}


@dataclass(frozen=True)
class Report:
    folder: Path
    files: list[Path]
    runs_done: int
    runs_planned: int
    stale: list[str] = dataclasses.field(default_factory=list)  # runs recorded with other settings, left out


def collect(out: Path) -> tuple[StudyPlan, list[RunRecord], list[str]]:
    """The study plan, one typed record per run with a result, and the runs left out because
    they were recorded with other settings than the plan's (a cell never mixes configs:
    `study run --rerun-changed` brings them up to date)."""
    plan = load_plan(out)
    records, stale = [], []
    for run in plan.runs:
        result = load_result(out / run.dir)
        if result is None:
            continue
        stored = load_config(out / run.dir)
        if (
            run.config is not None
            and stored is not None
            and config_differences(run.config, stored, defaults=RunConfig.defaults())
        ):
            stale.append(run.dir)
            continue
        records.append(RunRecord(run.setting, result, out / run.dir, run.seed))
    return plan, records, stale


@dataclass(frozen=True)
class Curve:
    """A run's validation curve (Fig. 5): metrics.jsonl's validation rows, per step when the run
    evaluated every N steps, else per epoch; and what the whole curve says for the validity gates."""

    setting: Setting
    metric: str
    rows: list[dict[str, Any]]
    seed: int | None = None
    validation: float | None = (
        None  # the run's best validation metric: a selected column picks the run the main table picks
    )
    evidence: RunEvidence | None = None
    folder: Path | None = None


def read_validation_rows(path: Path) -> list[dict[str, Any]]:
    """The validation rows of a run's metrics.jsonl, in the order written. A line that is not
    JSON is one error naming the file and line."""
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise AdapterlabError(
                f"{path}:{line_number}: not a JSON line (a truncated write?); run this run again"
            ) from None
    return [r for r in rows if isinstance(r, dict) and r.get("split") == "validation" and r.get("loss") is not None]


def _curves(records: list[RunRecord]) -> list[Curve]:
    curves = []
    for record in records:
        path = record.folder / METRICS_FILE
        if not path.exists() or record.result.status not in COMPLETE_STATUSES:
            continue  # a failed (e.g. killed) run's partial curve is not a curve of its setting
        every = read_validation_rows(path)
        rows = [r for r in every if r.get("at") == "step"] if any(r.get("at") == "step" for r in every) else every
        curves.append(
            Curve(
                record.setting,
                record.result.metric or "",
                rows,
                record.seed,
                record.result.validation_metric,
                run_evidence(record.result, every, record.seed),
                record.folder,
            )
        )
    return curves


def overfitting_tables(
    curves: list[Curve], title: str, select: tuple[str, ...] = DEFAULT_SELECT, anytime: bool = False
) -> list[Table]:
    """Table 6: the mean and the best validation metric over all of a run's evaluations, as two
    tables shaped like the main one (mean ± std over seeds, adapter vs fine-tuning tested); a
    selected column holds the runs the main table selects (by their best validation metric)."""
    by_statistic: dict[str, list[Observation]] = {"mean": [], "best": []}
    for curve in curves:
        values = [r[curve.metric] for r in curve.rows if r.get(curve.metric) is not None]
        if not values:
            continue
        for statistic, value in (("mean", sum(values) / len(values)), ("best", max(values))):
            by_statistic[statistic].append(
                Observation(
                    curve.setting.task,
                    curve.setting.column,
                    curve.metric,
                    value,
                    curve.validation,
                    seed=curve.seed,
                    folder=curve.folder,
                )
            )
    caption = "validation metric ×100 {} over all of a run's evaluations, mean<sub>std</sub> over seeds"
    return [
        build_table(
            f"{title}: {statistic} validation metric over evaluations (Table 6)",
            observations,
            anytime=anytime,
            caption=caption.format("averaged" if statistic == "mean" else "at its best"),
            select=select,
        )
        for statistic, observations in by_statistic.items()
        if observations
    ]


def overfitting_gap_table(
    curves: list[Curve], select: tuple[str, ...] = DEFAULT_SELECT, window: int = GateOptions.tail, anytime: bool = False
) -> Table | None:
    """Claim C6's quantity per run: its best validation metric minus the mean of the next `window`
    evaluations (gates.fall_after_best): how far it falls once past its best. Table 6's own
    numbers (best and mean over ALL evaluations) mix the rise before the best into the mean, so
    with few evaluations they measure how fast a method learns, not how much it overfits (dropping
    the first of three evaluations flipped C6's sign); over the paper's 500 to 3,000 evaluations
    per run the two agree. A selected column holds the runs the main table selects."""
    observations = []
    for curve in curves:
        fall = fall_after_best(curve.evidence, window) if curve.evidence is not None else None
        if fall is not None:
            observations.append(
                Observation(
                    curve.setting.task,
                    curve.setting.column,
                    curve.metric,
                    fall / 100.0,
                    curve.validation,
                    seed=curve.seed,
                    evidence=curve.evidence,
                    folder=curve.folder,
                )
            )
    title = f"fall of the validation metric after its best (best minus the mean of the next {window} evaluations)"
    return build_table(title, observations, select=select, anytime=anytime) if observations else None


@dataclass(frozen=True)
class StudyTables:
    """Everything a study's report is made of, before anything is written."""

    plan: StudyPlan
    records: list[RunRecord]
    stale: list[str]
    main: Table
    transfer: dict[str, Table]  # task -> its cross-lingual table
    similarity: list[Observation]  # RSA per layer and run
    curves: list[Curve]
    overfitting: list[Table]
    claims: list[ClaimResult]
    context: GateContext = GateContext()

    def by_name(self) -> dict[str, Table]:
        """The tables a claim can name: main, rsa, overfitting_gap, crosslingual:<task>; each
        table's tests gated (report/gates.py)."""
        named = {"main": self.main, **{f"crosslingual:{task}": t for task, t in self.transfer.items()}}
        select = self.plan.report.select
        rsa = rsa_table(self.similarity, select, self.context.sequential)
        if rsa is not None:
            named["rsa"] = rsa
        gap = overfitting_gap_table(self.curves, select, self.context.options.tail, self.context.sequential)
        if gap is not None:
            named["overfitting_gap"] = gap
        return {name: gate_significance(table, name, self.context) for name, table in named.items()}


def assemble(out: Path) -> StudyTables:
    """Read a study folder and build its tables and claims."""
    plan, records, stale = collect(out)
    if not records:
        raise AdapterlabError(f"{out}: no finished runs yet ({len(plan.runs)} planned); nothing to report")
    title = out.name if plan.name is None else plan.name
    select = plan.report.select  # the axes chosen on validation; every table selects the same way
    curves = _curves(records)
    evidence = {curve.folder: curve.evidence for curve in curves}
    sequential = plan.sequential
    main = build_table(
        title, observations_of(records, evidence), list(plan.reference), select=select, anytime=sequential
    )
    rsa = plan.analysis.rsa
    context = GateContext(main, plan.gates, rsa.task if rsa is not None else None, select, sequential)
    # Tables 3 and 4: the zero-shot results of `study analyze`, when it has run
    transfer = {
        task: gate_significance(t, f"crosslingual:{task}", context)
        for task, t in crosslingual_tables(out, plan).items()
    }
    similarity = rsa_records(out, plan)  # Fig. 2, when `study analyze` has run RSA
    overfitting = [gate_significance(t, "main", context) for t in overfitting_tables(curves, title, select, sequential)]
    tables = StudyTables(
        plan,
        records,
        stale,
        gate_significance(main, "main", context),
        transfer,
        similarity,
        curves,
        overfitting,
        [],
        context,
    )
    try:
        claims = resolve_claims(plan.claims)
    except (KeyError, TypeError) as err:
        raise AdapterlabError(
            f"{out / 'study.json'}: field 'claims' is not a checked claims block ({err!r}); run `study run` again"
        ) from None
    evaluated = evaluate_claims(claims, tables.by_name(), title, plan.base_settings(), context)
    return dataclasses.replace(tables, claims=[dataclasses.replace(r, setup=plan.description) for r in evaluated])


def build_report(out: str | Path) -> Report:
    """Write DIR/report/: table.md, table.tex, table.csv (and a CSV per cross-lingual table,
    significance.csv, cost.csv, claims.csv), significance.json, claims.json, the figures and
    report.html, every table from the same Grids (report/views.py). Returns what was written."""
    out = Path(out)
    assembled = assemble(out)
    plan, records, stale = assembled.plan, assembled.records, assembled.stale
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    layout = plan.report.layout
    named = assembled.by_name()
    context = assembled.context
    # (table, its name for the gates): the main table, Tables 3/4, Fig. 2's numbers, Table 6
    shown = [
        (assembled.main, "main"),
        *((t, f"crosslingual:{task}") for task, t in assembled.transfer.items()),
        *(((named["rsa"], "rsa"),) if "rsa" in named else ()),
        *((t, "main") for t in assembled.overfitting),
    ]
    shown = [(dataclasses.replace(t, layout=layout), name) for t, name in shown]
    keys = [
        "main",
        *(f"crosslingual-{task}" for task in assembled.transfer),
        *(["rsa"] if "rsa" in named else []),
        *("table6-mean" if ": mean validation metric" in t.title else "table6-best" for t in assembled.overfitting),
    ]
    grids = {key: table_grids(table, key, Marks(context, name), folder) for key, (table, name) in zip(keys, shown)}
    claims = claims_grid(assembled.claims) if assembled.claims else None
    cost = cost_grid(records)
    files = []
    if assembled.claims:
        (folder / "claims.json").write_text(json.dumps(claims_json(assembled.claims), indent=2) + "\n")
        files.append(folder / "claims.json")
    # every format: the claims first, then the main table with its cost beside it and its comparisons, then the rest
    grids["main"][1:1] = [cost] if cost else []
    ordered = [*([claims] if claims else []), *(g for key in keys for g in grids[key])]
    significance = significance_grid([table for table, _ in shown])
    csvs = {
        "table.csv": values_grid(shown[0][0], "main", Marks(context), folder, layout="tasks-as-rows", tidy=True),
        **{
            f"crosslingual_{task}.csv": values_grid(
                table, task, Marks(context, name), folder, layout="tasks-as-rows", tidy=True
            )
            for (table, name), task in zip(shown[1:], assembled.transfer)
        },
        **({"significance.csv": significance} if significance else {}),
        **({"cost.csv": cost} if cost else {}),
        **({"claims.csv": claims} if claims else {}),
    }
    texts = {
        "table.md": "\n".join(map(to_markdown, ordered)),
        "table.tex": "\n".join(map(to_latex, ordered)),
        **{name: to_csv(grid) for name, grid in csvs.items()},
    }
    for name in OPTIONAL_FILES - set(texts):
        (folder / name).unlink(missing_ok=True)  # from an earlier report of this study
    for name, text in texts.items():
        (folder / name).write_text(text)
        files.append(folder / name)
    tests = [test.to_json() for test in assembled.main.significance]
    tests += [{"table": t.title, **test.to_json()} for t, _ in shown[1:] for test in t.significance]
    (folder / "significance.json").write_text(json.dumps(tests, indent=2) + "\n")
    files.append(folder / "significance.json")
    plots = _plots(assembled, folder)
    files.extend(plots.values())
    sections = _sections(assembled, grids, keys, claims, plots, folder)
    page = render_page(
        "study" if plan.name is None else plan.name,
        plan.description,
        _status(plan, records, stale),
        sections,
        _steps(plan, out, assembled),
        _versions(records),
    )
    (folder / "report.html").write_text(page)
    files.append(folder / "report.html")
    return Report(folder, files, len(records), len(plan.runs), stale)


# report files that only some studies get: removed when a rebuilt report no longer has them
OPTIONAL_FILES = {"significance.csv", "cost.csv", "claims.csv"}


def _plots(assembled: StudyTables, folder: Path) -> dict[str, Path]:
    """{title: PNG} of the figures this study's grid makes; figures of an earlier grid are removed."""
    records = assembled.records
    candidates = {
        "Representational similarity to the base model per layer (Fig. 2)": figures.plot_rsa(
            assembled.similarity, folder / "fig2_rsa.png"
        ),
        "Training-size curve (Fig. 3)": figures.plot_train_size(records, folder / "fig3_train_size.png")
        if len({r.setting.column.train_size for r in records}) > 1
        else None,
        "Learning-rate robustness (Fig. 4)": figures.plot_lr_boxes(records, folder / "fig4_lr_boxes.png")
        if len({r.setting.column.lr for r in records}) > 1
        else None,
        "Validation loss and metric vs steps (Fig. 5)": figures.plot_overfitting(
            assembled.curves, folder / "fig5_overfitting.png"
        ),
        "Test metric by method and adapter size (Table 5)": figures.plot_adapter_size(
            records, folder / "adapter_size.png"
        ),
    }
    plots = {k: v for k, v in candidates.items() if v is not None}
    for old_figure in FIGURE_FILES - {path.name for path in plots.values()}:
        (folder / old_figure).unlink(missing_ok=True)  # from an earlier report of a different grid
    return plots


def _sections(
    assembled: StudyTables,
    grids: dict[str, list[Grid]],
    keys: list[str],
    claims: Grid | None,
    plots: dict[str, Path],
    folder: Path,
) -> list[Section]:
    sections = [Section("claims-section", "Claims", [claims])] if claims else []
    sections.append(Section("results", "Results", grids["main"]))  # the main table, its cost, its comparisons
    titles = {
        "crosslingual": "Zero-shot cross-lingual transfer",
        "rsa": "Representational similarity (Fig. 2)",
        "table6": "Validation metric over training (Table 6)",
    }
    for prefix, title in titles.items():
        members = [g for key in keys if key.split("-")[0] == prefix for g in grids[key]]
        if members:
            sections.append(Section(prefix, title, members))
    if plots:
        sections.append(
            Section(
                "figures",
                "Figures",
                figures=[Figure(path.stem.replace("_", "-"), title, path) for title, path in plots.items()],
            )
        )
    sections.append(
        Section(
            "runs",
            "Runs",
            text=f"{len(assembled.records)} finished runs, each linked to its folder.",
            details=runs_grid(assembled.records, folder),
        )
    )
    return sections


def runs_grid(records: list[RunRecord], folder: Path) -> Grid:
    """Every finished run: its task, setting, seed, status and test metric, linked to its folder."""
    rows = []
    for record in records:
        test = record.result.test_metric
        link = Path(os.path.relpath(record.folder, folder)).as_posix() + "/"
        rows.append(
            (
                label(record.setting.task),
                Entry(record.setting.column.name, link=link),
                number(str(record.seed), record.seed),
                label(record.result.status),
                number("–" if test is None else f"{100 * test:.1f}", None if test is None else 100 * test),
                label(record.result.metric or "–"),
            )
        )
    return Grid(
        "runs-list",
        "every run",
        "",
        ("task", "setting", "seed", "status", "test ×100", "metric"),
        tuple(rows),
        labels=2,
        level=3,
    )


def _status(plan: StudyPlan, records: list[RunRecord], stale: list[str]) -> str:
    text = f"{len(records)} of {len(plan.runs)} planned runs finished."
    if stale:
        text += (
            f" {len(stale)} finished run(s) were recorded with other settings than the plan's and are left out (e.g. {stale[0]}); "
            "`adapterlab study run --rerun-changed` reruns them."
        )
    return text


def _steps(plan: StudyPlan, out: Path, assembled: StudyTables) -> list[str]:
    steps = [" ".join(plan.command) or "(the run command was not recorded)"]
    if assembled.transfer or assembled.similarity:
        steps.append(f"adapterlab study analyze {out}")
    steps.append(f"adapterlab study report {out}")
    return steps


def _versions(records: list[RunRecord]) -> str:
    import torch
    import transformers

    from adapterlab._version import __version__

    run_versions = sorted(
        {", ".join(f"{k} {v}" for k, v in (r.result.versions or {}).items() if k != "git_sha" and v) for r in records}
        - {""}
    )
    return (
        f"runs: {'; '.join(run_versions) or 'not recorded'}. Report built with adapterlab {__version__}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}"
    )
