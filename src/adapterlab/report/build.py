"""`adapterlab study report DIR`: tables (Markdown, LaTeX, CSV), significance, figures and one
self-contained report.html, every format from the same Grids."""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.recorded_config import config_differences, load_config
from adapterlab.report import figures
from adapterlab.report.analysis_tables import crosslingual_tables, rsa_records, rsa_table
from adapterlab.report.claims import ClaimResult, evaluate_claims
from adapterlab.report.claims_table import claims_grid, claims_json
from adapterlab.report.cost import cost_grid
from adapterlab.report.curves import Curve, overfitting_gap_table, overfitting_tables, read_curves
from adapterlab.report.gates import GateContext, gate_significance
from adapterlab.report.grid import Entry, Grid, label, number, to_csv, to_latex, to_markdown
from adapterlab.report.page import Figure, Section, render_page
from adapterlab.report.tables import Observation, Table, build_table, observations_of
from adapterlab.report.views import Marks, significance_grid, table_grids, values_grid
from adapterlab.runs import RunRecord, load_result, result_damage, strict_json
from adapterlab.study.claims_spec import resolve_claims
from adapterlab.study.folder import StudyPlan, load_plan
from adapterlab.study.stale import stopped_at_chance
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
    they were recorded with other settings than the plan's, or stopped where the loop no longer
    stops (study/stale.py stopped_at_chance): a cell never mixes configs or rules, and
    `study run --rerun-changed` brings them up to date."""
    plan = load_plan(out)
    records, stale = [], []
    for run in plan.runs:
        result = load_result(out / run.dir)
        if result is None:
            continue
        stored = load_config(out / run.dir)
        if stopped_at_chance(result) or (
            run.config is not None
            and stored is not None
            and config_differences(run.config, stored, defaults=RunConfig.defaults())
        ):
            stale.append(run.dir)
            continue
        records.append(RunRecord(run.setting, result, out / run.dir, run.seed))
    return plan, records, stale


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
        damaged = [(entry.dir, why) for entry in plan.runs if (why := result_damage(out / entry.dir))]
        raise AdapterlabError(
            f"{out}: no finished runs yet ({len(plan.runs)} planned); nothing to report"
            + (
                f"; {len(damaged)} run(s) have a damaged result.json (e.g. {damaged[0][0]}: {damaged[0][1]}), "
                "which `adapterlab study run` runs again"
                if damaged
                else ""
            )
        )
    title = out.name if plan.name is None else plan.name
    select = plan.report.select  # the axes chosen on validation; every table selects the same way
    curves = read_curves(records)
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
    if len(records) < len(plan.runs):  # a claim the finished runs cannot test yet: the study is not done
        evaluated = [_not_finished(r, len(records), len(plan.runs)) for r in evaluated]
    return dataclasses.replace(tables, claims=[dataclasses.replace(r, setup=plan.description) for r in evaluated])


def _not_finished(result: ClaimResult, finished: int, planned: int) -> ClaimResult:
    """A row the finished runs cannot test, in a study with runs still to come, is `not finished`
    (not `not applicable`, which says no run of this study could test it)."""
    if result.verdict != "not applicable" or result.claim.not_tested:
        return result
    why = f"{finished} of {planned} planned runs finished; {result.detail}"
    return dataclasses.replace(result, verdict="not finished", detail=why)


def build_report(out: str | Path) -> Report:
    """Write DIR/report/: table.md, table.tex, table.csv (and a CSV per cross-lingual table,
    significance.csv, cost.csv, claims.csv), significance.json, claims.json, the figures and
    report.html, every table from the same Grids (report/views.py). Returns what was written."""
    out = Path(out)
    assembled = assemble(out)
    plan, records, stale = assembled.plan, assembled.records, assembled.stale
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    shown = _shown_tables(assembled)
    grids = {s.key: table_grids(s.table, s.key, Marks(assembled.context, s.name), folder) for s in shown}
    claims = claims_grid(assembled.claims) if assembled.claims else None
    cost = cost_grid(records)
    files = []
    if assembled.claims:
        (folder / "claims.json").write_text(strict_json(claims_json(assembled.claims)))
        files.append(folder / "claims.json")
    grids["main"][1:1] = [cost] if cost else []  # the main table with its cost beside it and its comparisons
    files += _write_tables(folder, assembled, shown, grids, claims, cost)
    files.append(_write_significance(folder, assembled.main, shown))
    plots = _plots(assembled, folder)
    files.extend(plots.values())
    sections = _sections(assembled, grids, [s.key for s in shown], claims, plots, folder)
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


@dataclass(frozen=True)
class _Shown:
    """A table the report shows: its key (of its grids, and in the sections), the table in the
    study's layout, and its name for the gates."""

    key: str
    table: Table
    name: str


def _shown_tables(assembled: StudyTables) -> list[_Shown]:
    """The tables the report shows, in order: the main table, Tables 3/4, Fig. 2's numbers, Table 6."""
    named = assembled.by_name()
    shown = [
        _Shown("main", assembled.main, "main"),
        *(_Shown(f"crosslingual-{task}", t, f"crosslingual:{task}") for task, t in assembled.transfer.items()),
        *((_Shown("rsa", named["rsa"], "rsa"),) if "rsa" in named else ()),
        *(
            _Shown("table6-mean" if ": mean validation metric" in t.title else "table6-best", t, "main")
            for t in assembled.overfitting
        ),
    ]
    layout = assembled.plan.report.layout
    return [dataclasses.replace(s, table=dataclasses.replace(s.table, layout=layout)) for s in shown]


def _write_tables(
    folder: Path,
    assembled: StudyTables,
    shown: list[_Shown],
    grids: dict[str, list[Grid]],
    claims: Grid | None,
    cost: Grid | None,
) -> list[Path]:
    """table.md and table.tex (every format: the claims first, then the main table with its cost
    beside it and its comparisons, then the rest) and the CSVs. Returns the files written."""
    context = assembled.context
    ordered = [*([claims] if claims else []), *(g for s in shown for g in grids[s.key])]
    significance = significance_grid([s.table for s in shown])
    csvs = {
        "table.csv": values_grid(shown[0].table, "main", Marks(context), folder, layout="tasks-as-rows", tidy=True),
        **{
            f"crosslingual_{task}.csv": values_grid(
                s.table, task, Marks(context, s.name), folder, layout="tasks-as-rows", tidy=True
            )
            for s, task in zip(shown[1:], assembled.transfer)
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
    return [folder / name for name in texts]


def _write_significance(folder: Path, main: Table, shown: list[_Shown]) -> Path:
    """significance.json: the main table's tests, then every other shown table's, named by its title."""
    tests = [test.to_json() for test in main.significance]
    tests += [{"table": s.table.title, **test.to_json()} for s in shown[1:] for test in s.table.significance]
    (folder / "significance.json").write_text(strict_json(tests))
    return folder / "significance.json"


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
