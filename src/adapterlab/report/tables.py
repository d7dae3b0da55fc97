"""Aggregation over seeds and the paper-shaped tables: mean ± std per cell, averages across tasks,
the best-adapter-size row, reference numbers, and adapter-vs-fine-tune significance."""

from __future__ import annotations

import csv
import dataclasses
import io
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from adapterlab.setting import Column

BOOTSTRAP_SAMPLES = 10_000


@dataclass(frozen=True)
class Cell:
    """One table cell: a setting's test metric over seeds (in percent)."""

    values: tuple[float, ...]
    validation: tuple[float, ...] = ()
    reference: float | None = None
    diverged: int = 0
    failed: int = 0

    @property
    def mean(self) -> float:
        return statistics.mean(self.values) if self.values else float("nan")

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


@dataclass(frozen=True)
class Observation:
    """One run's number for one table cell. `row` is what the table's rows are (a task, a
    language, a layer); values are fractions (tables show ×100)."""

    row: Any
    column: Column
    metric: str
    test: float | None
    validation: float | None = None
    status: str = "ok"


def observations_of(records) -> list[Observation]:
    """The main table's observations: one per run record, its task as the row."""
    return [Observation(r.setting.task, r.setting.column, r.result.metric or "", r.result.test_metric, r.result.validation_metric,
                        r.result.status) for r in records]


@dataclass(frozen=True)
class Table:
    """Rows are tasks (plus 'average'), languages, or layers; columns are settings (typed
    Columns); a cell holds one setting's values over seeds."""

    title: str
    metric_by_row: dict[Any, str]
    columns: list[Column]
    cells: dict[tuple[Any, Column], Cell]
    significance: list[dict] = field(default_factory=list)
    row_header: str = "task"
    caption: str = "test metric ×100, mean<sub>std</sub> over seeds; (paper's number) where the spec has one"
    layout: str = "paper"  # one of study.report_spec.LAYOUTS; see _grid

    @property
    def rows(self) -> list[Any]:
        return list(self.metric_by_row)

    def cell(self, row: Any, column: Column | str) -> Cell | None:
        """The cell of `row` and `column` (a Column, or its display name)."""
        if isinstance(column, str):
            column = next((c for c in self.columns if c.name == column), None)
        return self.cells.get((row, column))

    def row_name(self, row: Any) -> str:
        return f"layer {row}" if self.row_header == "layer" and isinstance(row, int) else str(row)


def percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def build_table(title: str, observations: list[Observation], reference: list[dict] | None = None, average_row: bool = True,
                **shape) -> Table:
    """Seeds of one setting form one cell (mean ± std); then the best-adapter-size columns, the
    average row (average_row: off where rows are not tasks) and adapter-vs-fine-tuning tests.
    reference: the spec's entries, each naming a row by its `task` key and a column by its
    labels. shape: the Table's row_header, caption and layout."""
    groups: dict[tuple[Any, Column], list[Observation]] = {}
    metric_by_row: dict[Any, str] = {}
    columns: list[Column] = []
    for item in observations:
        metric_by_row.setdefault(item.row, item.metric or "")
        if item.column not in columns:
            columns.append(item.column)
        groups.setdefault((item.row, item.column), []).append(item)
    cells = {}
    for (row, column), items in groups.items():
        ok = [o for o in items if o.status in ("ok", "diverged") and o.test is not None]
        cells[(row, column)] = Cell(
            values=tuple(percent(o.test) for o in ok),
            validation=tuple(percent(o.validation) for o in ok if o.validation is not None),
            reference=_reference_for(reference or [], row, column),
            diverged=sum(o.status == "diverged" for o in items),
            failed=sum(o.status == "failed" for o in items),
        )
    columns.sort(key=lambda column: column.sort_key)
    table = Table(title, metric_by_row, columns, cells, row_header=shape.get("row_header", "task"))
    table = add_best_adapter_size(table, reference)
    if average_row:
        table = add_average_row(table)
    return Table(table.title, table.metric_by_row, table.columns, table.cells, significance_tests(table), **shape)


def _reference_for(reference: list[dict], row: Any, column: Column) -> float | None:
    for item in reference:
        labels = {k: v for k, v in item.items() if k not in ("value", "std", "note")}
        if labels.get("task") == row and Column.from_labels(labels) == column:
            return float(item["value"])
    return None


def add_best_adapter_size(table: Table, reference: list[dict] | None = None) -> Table:
    """For each (k, lr, ...) group with several adapter sizes: a 'best m' column, the size chosen
    per task by mean validation metric (never by test). Its reference is the spec's entry for
    adapter_size: best where there is one, else the chosen size's."""
    groups: dict[Column, list[Column]] = {}
    for column in table.columns:
        best = column.best_size()
        if best is not None:
            groups.setdefault(best, []).append(column)
    cells = dict(table.cells)
    columns = list(table.columns)
    for best_column, sized in groups.items():
        if len(sized) < 2:
            continue
        for row in table.rows:
            candidates = [(statistics.mean(cells[(row, c)].validation), c.name, c) for c in sized
                          if (row, c) in cells and cells[(row, c)].validation]
            if candidates:
                chosen = max(candidates, key=lambda item: (item[0], item[1]))[2]
                own = _reference_for(reference or [], row, best_column)
                cells[(row, best_column)] = dataclasses.replace(cells[(row, chosen)], reference=own) if own is not None else cells[(row, chosen)]
        if any((row, best_column) in cells for row in table.rows):  # no validation metric, no choice to show
            columns.insert(max(columns.index(c) for c in sized) + 1, best_column)
    return Table(table.title, table.metric_by_row, columns, cells, row_header=table.row_header)


def add_average_row(table: Table) -> Table:
    if len(table.rows) < 2:
        return table
    cells = dict(table.cells)
    for column in table.columns:
        present = [cells[(row, column)] for row in table.rows if (row, column) in cells and cells[(row, column)].values]
        if len(present) == len(table.rows):
            # the average over tasks, seed by seed where seeds line up, so its std means something
            seeds = min(len(c.values) for c in present)
            per_seed = tuple(statistics.mean(c.values[i] for c in present) for i in range(seeds))
            refs = [c.reference for c in present]
            cells[("average", column)] = Cell(per_seed, reference=statistics.mean(refs) if all(r is not None for r in refs) else None)
    return Table(table.title, {**table.metric_by_row, "average": "mean over tasks"}, table.columns, cells, row_header=table.row_header)


def significance_tests(table: Table, seed: int = 0) -> list[dict]:
    """Welch's t-test and a bootstrap 95% CI of mean(adapter) - mean(finetune) for every
    adapter column that has a fine-tuning column with the same other settings."""
    tests = []
    rng = np.random.default_rng(seed)
    for column in table.columns:
        partner = column.partner()
        if partner is None or partner not in table.columns:
            continue
        for row in table.rows:
            a, f = table.cells.get((row, column)), table.cells.get((row, partner))
            if not a or not f or len(a.values) < 2 or len(f.values) < 2:
                continue
            x, y = np.array(a.values), np.array(f.values)
            with warnings.catch_warnings():
                # identical seeds (e.g. one accuracy on a small test set) make scipy warn of cancellation; p is still reported
                warnings.simplefilter("ignore", RuntimeWarning)
                t = stats.ttest_ind(x, y, equal_var=False)
            boot = rng.choice(x, (BOOTSTRAP_SAMPLES, len(x))).mean(1) - rng.choice(y, (BOOTSTRAP_SAMPLES, len(y))).mean(1)
            low, high = np.percentile(boot, [2.5, 97.5])
            tests.append({"task": table.row_name(row), "adapter": column.name, "finetune": partner.name, "difference": float(x.mean() - y.mean()),
                          "t": float(t.statistic) if np.isfinite(t.statistic) else None, "p": float(t.pvalue) if np.isfinite(t.pvalue) else None,
                          "ci_low": float(low), "ci_high": float(high), "n_adapter": len(x), "n_finetune": len(y)})
    return tests


def _fmt_cell(cell: Cell | None, style: str) -> str:
    if cell is None or not cell.values:
        return "–" if style != "latex" else "--"
    mean, std = f"{cell.mean:.1f}", f"{cell.std:.1f}"
    if len(cell.values) == 1:  # one seed has no spread; a 0.0 subscript would claim one
        text = mean
    else:
        text = {"markdown": f"{mean}<sub>{std}</sub>", "latex": f"{mean}$_{{{std}}}$", "html": f"{mean}<sub>{std}</sub>"}[style]
    if cell.reference is not None:
        text += f" ({cell.reference:.1f})" if style != "latex" else f" ({cell.reference:.1f})"
    if cell.diverged:
        text += f" [{cell.diverged} div]"
    return text


def _uniform_metric(table: Table) -> str | None:
    metrics = {table.metric_by_row[row] for row in table.rows if row != "average"}
    return metrics.pop() if len(metrics) == 1 else None


def _caption(table: Table) -> str:
    metric = _uniform_metric(table)
    return f"{metric}; {table.caption}" if table.layout == "paper" and metric else table.caption


def _grid(table: Table) -> tuple[list[str], list[list], int]:
    """The header, the body rows (labels, then cells) and how many leading label columns, in the
    table's layout. "paper": a row per setting and a column per task (then the average), as He et
    al. (2021) print their tables; "tasks-as-rows": the transpose, with a metric column."""
    if table.layout == "paper":
        uniform = _uniform_metric(table) is not None
        header = ["setting"] + [table.row_name(row) if uniform or row == "average" else f"{table.row_name(row)} ({table.metric_by_row[row]})"
                                for row in table.rows]
        return header, [[column.name] + [table.cells.get((row, column)) for row in table.rows] for column in table.columns], 1
    header = [table.row_header, "metric", *(column.name for column in table.columns)]
    return header, [[table.row_name(row), table.metric_by_row[row]] + [table.cells.get((row, column)) for column in table.columns]
                    for row in table.rows], 2


def to_markdown(table: Table) -> str:
    header, body, labels = _grid(table)
    lines = [f"**{table.title}** — {_caption(table)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for items in body:
        lines.append("| " + " | ".join([*items[:labels], *(_fmt_cell(c, "markdown") for c in items[labels:])]) + " |")
    if table.significance:
        lines += ["", f"| {table.row_header} | adapter column | vs | mean difference | Welch t | p | bootstrap 95% CI |", "|---|---|---|---|---|---|---|"]
        for s in table.significance:
            p = "n/a" if s["p"] is None else f"{s['p']:.3f}"
            t = "n/a" if s["t"] is None else f"{s['t']:.2f}"
            lines.append(f"| {s['task']} | {s['adapter']} | {s['finetune']} | {s['difference']:+.2f} | {t} | {p} | [{s['ci_low']:+.2f}, {s['ci_high']:+.2f}] |")
    return "\n".join(lines) + "\n"


def to_latex(table: Table) -> str:
    header, body, labels = _grid(table)
    escape = lambda text: str(text).replace("_", r"\_")  # noqa: E731
    lines = [r"\begin{tabular}{" + "l" * labels + "c" * (len(header) - labels) + "}", r"\toprule",
             " & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
    for items in body:
        if table.layout != "paper" and items[0] == "average":
            lines.append(r"\midrule")
        lines.append(" & ".join([*(escape(x) for x in items[:labels]), *(_fmt_cell(c, "latex") for c in items[labels:])]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([table.row_header, "metric", "setting", "mean", "std", "n", "diverged", "failed", "reference", "values"])
    for row in table.rows:
        for column in table.columns:
            cell = table.cells.get((row, column))
            if cell is None:
                continue
            writer.writerow([table.row_name(row), table.metric_by_row[row], column.name, f"{cell.mean:.4f}" if cell.values else "", f"{cell.std:.4f}" if cell.values else "",
                             len(cell.values), cell.diverged, cell.failed, "" if cell.reference is None else cell.reference,
                             " ".join(f"{v:.4f}" for v in cell.values)])
    return buffer.getvalue()


def to_html(table: Table) -> str:
    header, body, labels = _grid(table)
    head = "".join(f"<th>{h}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{x}</td>" for x in items[:labels]) + "".join(f"<td>{_fmt_cell(c, 'html')}</td>" for c in items[labels:]) + "</tr>"
                   for items in body)
    html = f"<h3>{table.title}</h3><p>{_caption(table)}</p><table><tr>{head}</tr>{rows}</table>"
    if table.significance:
        rows = "".join(
            f"<tr><td>{s['task']}</td><td>{s['adapter']}</td><td>{s['difference']:+.2f}</td><td>{'n/a' if s['p'] is None else format(s['p'], '.3f')}</td>"
            f"<td>[{s['ci_low']:+.2f}, {s['ci_high']:+.2f}]</td></tr>" for s in table.significance
        )
        html += f"<h4>Adapter vs fine-tuning</h4><table><tr><th>{table.row_header}</th><th>adapter</th><th>difference</th><th>Welch p</th><th>bootstrap 95% CI</th></tr>{rows}</table>"
    return html
