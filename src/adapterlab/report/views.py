"""Each result table of a report as Grids (report/grid.py), the one source every format prints:
its values (mean ± std over seeds per cell, the cell chosen on validation, the paper's number,
a mark on cells whose runs did not learn, the cell's run folder) and its comparisons (each test
with both sides and its family)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from adapterlab.methods import method_words
from adapterlab.report.gates import GateContext, Trip, did_not_learn
from adapterlab.report.grid import DEGENERATE_MARK, Entry, Grid, interval_text, label, number, to_markdown
from adapterlab.report.statistics import ALPHA, MAX_SEEDS, MIN_SEEDS_FOR_VERDICT, SignificanceTest
from adapterlab.report.tables import Cell, Table
from adapterlab.study.gates_spec import GateOptions

SIGNIFICANCE_HEADER = (
    "method column",
    "vs",
    "n",
    "difference",
    "test",
    "p",
    "Wilcoxon p",
    "family",
    "q",
    "95% CI",
    "bootstrap CI",
    "verdict",
    "seeds for 80% power",
    "gates",
)
SIGNIFICANCE_CAPTION = (
    f"Each method column minus the column it is tested against (×100; the vs column names it): paired over shared seeds, else "
    f"Welch; 95% CI from the t distribution (bootstrap beside it); q = Benjamini-Hochberg within each family (per "
    f"setting, selected on validation, average rows; a comparison with adapters is a family of its own); a verdict "
    f"needs q < {ALPHA}, at least {MIN_SEEDS_FOR_VERDICT} seeds and both cells past the validity gates (edge of the "
    f"grid, not converged, did not learn: else no verdict, and the gates column says why); seeds for 80% power at "
    f"the observed effect"
)


def degenerate_legend(options: GateOptions = GateOptions()) -> str:
    """The legend line of the degenerate mark."""
    return (
        f"{DEGENERATE_MARK} did not learn: the runs behind the cell score within {options.margin:g} points of 0 on their task's "
        f"chance-corrected test metric (MCC, entity F1 or Spearman rho ×100), which every constant predictor (e.g. the majority "
        f"class) scores"
    )


class Marks:
    """Which cells of a table are degenerate: the `did not learn` rule of report/gates.py on the
    runs behind the cell (for a table whose rows are not tasks, the main-table cell of the same
    column on the task its runs trained on, as the gates read it)."""

    def __init__(self, context: GateContext | None = None, name: str = "main"):
        self.context, self.name = context, name

    @property
    def options(self) -> GateOptions:
        return self.context.options if self.context is not None else GateOptions()

    def trip(self, row: Any, column: Any, cell: Cell | None) -> Trip | None:
        """The `did not learn` trip of the runs behind the cell (None: they learned, or no evidence)."""
        if self.context is not None and self.context.main is not None:
            task, source = self.context.main_cell(self.name, row, column)
        else:
            task, source = row, cell
        if source is None or not source.evidence:
            return None
        return did_not_learn(source.evidence, f"{task}: {column.name}", self.options)


def _link(cell: Cell, start: Path | None) -> str:
    """The cell's runs as one folder relative to `start` (their settings folder: seed=N/ below it)."""
    if start is None or not cell.folders:
        return ""
    common = Path(os.path.commonpath([str(folder) for folder in cell.folders]))
    return Path(os.path.relpath(common, start)).as_posix() + "/"


def cell_entry(cell: Cell | None, trip: Trip | None = None, link: str = "") -> Entry:
    """A value cell: mean with the std over seeds as its spread (none for one seed: no spread to
    show), then the chosen setting, the paper's number and the diverged runs."""
    if cell is None:
        return Entry("–")
    note = (f" [{cell.chosen}]" if cell.chosen else "") + (
        f" ({cell.reference:.1f})" if cell.reference is not None else ""
    )
    note += f" [{cell.diverged} div]" if cell.diverged else ""
    data = (
        ("mean", f"{cell.mean:.4f}" if cell.values else ""),
        ("std", f"{cell.std:.4f}" if cell.values else ""),
        ("n", len(cell.values)),
        ("diverged", cell.diverged),
        ("failed", cell.failed),
        ("reference", "" if cell.reference is None else cell.reference),
        ("values", " ".join(f"{v:.4f}" for v in cell.values)),
        ("chosen", cell.chosen),
    )
    if not cell.values:
        return Entry("–", data=data, link=link)
    return Entry(
        f"{cell.mean:.1f}",
        spread=f"{cell.std:.1f}" if len(cell.values) > 1 else "",
        note=note,
        mark=DEGENERATE_MARK if trip else "",
        why=str(trip) if trip else "",
        link=link,
        sort=cell.mean,
        data=data,
    )


def _uniform_metric(table: Table) -> str | None:
    metrics = {table.metric_by_row[row] for row in table.rows if row != "average"}
    return metrics.pop() if len(metrics) == 1 else None


def values_grid(
    table: Table,
    key: str,
    marks: Marks | None = None,
    links_from: Path | None = None,
    layout: str | None = None,
    tidy: bool = False,
) -> Grid:
    """The table's values as a Grid, in its layout ("paper": a row per setting and a column per task,
    then the average, as He et al. (2021) print their tables; "tasks-as-rows": the transpose, with a
    metric column). links_from: the folder the run links are relative to (the report's)."""
    layout = layout or table.layout
    marks = marks or Marks()

    def entry(row: Any, column: Any) -> Entry:
        cell = table.cells.get((row, column))
        return cell_entry(
            cell, marks.trip(row, column, cell) if cell is not None else None, _link(cell, links_from) if cell else ""
        )

    metric = _uniform_metric(table)
    caption = f"{metric}; {table.caption}" if layout == "paper" and metric else table.caption
    breaks: tuple[int, ...]
    if layout == "paper":
        header = ["setting"] + [
            table.row_name(row) if metric or row == "average" else f"{table.row_name(row)} ({table.metric_by_row[row]})"
            for row in table.rows
        ]
        rows = [(label(column.name), *(entry(row, column) for row in table.rows)) for column in table.columns]
        labels, breaks = 1, ()
    else:
        header = [table.row_header, "metric", *(column.name for column in table.columns)]
        rows = [
            (
                label(table.row_name(row)),
                label(table.metric_by_row[row]),
                *(entry(row, column) for column in table.columns),
            )
            for row in table.rows
        ]
        labels, breaks = 2, tuple(i for i, row in enumerate(table.rows) if row == "average" and i)
    grid = Grid(key, table.title, caption, tuple(header), tuple(rows), labels, tidy=tidy, breaks=breaks)
    return dataclasses.replace(grid, legend=(degenerate_legend(marks.options),)) if grid.marked else grid


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _seeds(value: int | None) -> str:
    if value is None:
        return "– (no difference)"
    return f"> {MAX_SEEDS}" if value > MAX_SEEDS else str(value)


def significance_entries(s: SignificanceTest) -> tuple[Entry, ...]:
    """One significance test as the cells of its row: the row, both sides (the tested column and
    the column it is tested against), the test, its family, q and verdict, and the gates."""
    c = s.comparison
    return (
        label(s.task),
        label(s.adapter),
        label(s.finetune),
        number(str(c.n), c.n),
        number(f"{c.difference:+.2f}", c.difference),
        label(("anytime-valid paired" if c.anytime else "paired t") if c.paired else "Welch"),
        number(_p(c.p), c.p),
        number(_p(c.p_wilcoxon), c.p_wilcoxon),
        label(s.family),
        number(_p(s.q), s.q),
        label(interval_text(c.ci_low, c.ci_high)),
        # left out of anytime-valid comparisons (a fixed-n interval would not hold at a chosen stop)
        label(interval_text(c.boot_low, c.boot_high)),
        label(s.verdict),
        number(_seeds(c.seeds_needed), c.seeds_needed),
        gates_entry(s.gate or [], s.gate_detail or []),
    )


def gates_entry(names: list[str], trips: list[str]) -> Entry:
    """The gates that tripped: every trip with its numbers, summarised by the gates' names."""
    return Entry("; ".join(trips) or "–", short=", ".join(names) if trips else "")


def compared_pairs(tests: list[SignificanceTest]) -> list[str]:
    """The method pairs a table compares, in order: "LoRA − fine-tuning", "LoRA − adapter"."""
    pairs = dict.fromkeys((t.method or "adapter", t.reference or "finetune") for t in tests)
    return [f"{method_words(a)} − {method_words(b)}" for a, b in pairs]


def comparisons_grid(table: Table, key: str) -> Grid | None:
    """The table's significance tests as a Grid (None without tests), titled by the method pairs
    it compares, so that no comparison reads as another (LoRA − adapter is not LoRA − fine-tuning)."""
    if not table.significance:
        return None
    pairs = ", ".join(compared_pairs(table.significance))
    return Grid(
        key,
        f"{table.title}: comparisons ({pairs})",
        SIGNIFICANCE_CAPTION,
        (table.row_header, *SIGNIFICANCE_HEADER),
        tuple(significance_entries(s) for s in table.significance),
        labels=3,
        level=4,
        toc=f"comparisons: {pairs}",
    )


def significance_grid(tables: list[Table]) -> Grid | None:
    """Every comparison of these tables in one Grid, each row led by its table's title (the
    rows and columns of their comparisons grids); None without tests."""
    rows = tuple((label(table.title), *significance_entries(s)) for table in tables for s in table.significance)
    if not rows:
        return None
    return Grid(
        "significance",
        "Comparisons of every table",
        SIGNIFICANCE_CAPTION,
        ("table", "row", *SIGNIFICANCE_HEADER),
        rows,
        labels=4,
    )


def table_grids(table: Table, key: str, marks: Marks | None = None, links_from: Path | None = None) -> list[Grid]:
    """The values grid of a table and, when it has tests, its comparisons grid."""
    comparisons = comparisons_grid(table, f"{key}-comparisons")
    return [values_grid(table, key, marks, links_from), *([comparisons] if comparisons else [])]


def table_markdown(table: Table, marks: Marks | None = None) -> str:
    """A table and its comparisons in Markdown (what table.md holds for it)."""
    return "\n".join(map(to_markdown, table_grids(table, "table", marks)))
