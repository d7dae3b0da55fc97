"""Aggregation over seeds and the paper-shaped tables: mean ± std per cell, averages across tasks,
the best-adapter-size row, reference numbers, and adapter-vs-fine-tune significance."""

from __future__ import annotations

import csv
import dataclasses
import io
import statistics
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

BOOTSTRAP_SAMPLES = 10_000
LAYOUTS = ("paper", "tasks-as-rows")


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
class Table:
    """Rows are tasks (plus 'average'), or languages in a cross-lingual table; columns are
    settings such as 'k=1000 adapter m=64'."""

    title: str
    metric_by_row: dict[str, str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    significance: list[dict] = field(default_factory=list)
    row_header: str = "task"
    caption: str = "test metric ×100, mean<sub>std</sub> over seeds; (paper's number) where the spec has one"
    layout: str = "paper"  # or "tasks-as-rows"; see _grid

    @property
    def rows(self) -> list[str]:
        return list(self.metric_by_row)


def percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def column_name(labels: dict, skip: tuple[str, ...] = ("task",)) -> str:
    parts = []
    for key in ("train_size", "method", "adapter_size", "lr"):
        if key in labels and key not in skip:
            value = labels[key]
            parts.append({"train_size": f"k={value}", "method": str(value), "adapter_size": f"m={value}", "lr": f"lr={value:g}" if isinstance(value, float) else f"lr={value}"}[key])
    for key in sorted(labels):
        if key not in ("train_size", "method", "adapter_size", "lr", "task", "seed") and key not in skip:
            parts.append(f"{key}={labels[key]}")
    return " ".join(parts)


def build_table(title: str, records: list[dict], reference: list[dict] | None = None, average_row: bool = True, **shape) -> Table:
    """records: {"labels": {...}, "result": {...}} per run. Seeds of one setting form one cell.

    average_row: add the mean over rows (tasks); off where rows are not tasks. shape: the Table's
    row_header, caption and layout."""
    groups: dict[tuple[str, str], list[dict]] = {}
    metric_by_row: dict[str, str] = {}
    columns: list[str] = []
    for record in records:
        labels, result = record["labels"], record["result"]
        row, column = labels["task"], column_name(labels)
        metric_by_row.setdefault(row, result.get("metric") or "")
        if column not in columns:
            columns.append(column)
        groups.setdefault((row, column), []).append(result)
    cells = {}
    for (row, column), results in groups.items():
        ok = [r for r in results if r.get("status") in ("ok", "diverged") and r.get("test_metric") is not None]
        cells[(row, column)] = Cell(
            values=tuple(percent(r["test_metric"]) for r in ok),
            validation=tuple(percent(r["validation_metric"]) for r in ok if r.get("validation_metric") is not None),
            reference=_reference_for(reference or [], row, column),
            diverged=sum(r.get("status") == "diverged" for r in results),
            failed=sum(r.get("status") == "failed" for r in results),
        )
    columns.sort(key=_column_order)
    table = Table(title, metric_by_row, columns, cells)
    table = add_best_adapter_size(table, reference)
    if average_row:
        table = add_average_row(table)
    return Table(table.title, table.metric_by_row, table.columns, table.cells, significance_tests(table), **shape)


def _column_order(column: str):
    """k, then fine-tuning before adapters, then adapter size and learning rate as numbers."""
    parts = column.split()
    k = next((int(p[2:]) for p in parts if p.startswith("k=")), 0)
    method = 0 if "finetune" in parts else 1
    size = next((int(p[2:]) for p in parts if p.startswith("m=") and p[2:].isdigit()), 0)
    lr = next((float(p[3:]) for p in parts if p.startswith("lr=")), 0.0)
    rest = " ".join(p for p in parts if not p.startswith(("k=", "m=", "lr=")))
    return (k, method, "m=best" in parts, size, lr, rest)


def _reference_for(reference: list[dict], row: str, column: str) -> float | None:
    for item in reference:
        labels = {k: v for k, v in item.items() if k not in ("value", "std", "note")}
        if labels.get("task") == row and column_name(labels) == column:
            return float(item["value"])
    return None


def best_size_column(column: str, columns) -> str | None:
    """The 'best m' column that summarises this adapter column, if its group (same k, lr, ...)
    has several sizes; the m= part is replaced in place, so the name reads like column_name's."""
    parts = column.split()
    if "adapter" not in parts or not any(p.startswith("m=") and p != "m=best" for p in parts):
        return None
    base = [p for p in parts if not p.startswith("m=")]
    siblings = [c for c in columns if "m=best" not in c.split() and [p for p in c.split() if not p.startswith("m=")] == base and "adapter" in c.split()]
    return " ".join("m=best" if p.startswith("m=") else p for p in parts) if len(siblings) > 1 else None


def add_best_adapter_size(table: Table, reference: list[dict] | None = None) -> Table:
    """For each (k, lr, ...) group with several adapter sizes: a 'best m' column, the size chosen
    per task by mean validation metric (never by test). Its reference is the spec's entry for
    adapter_size: best where there is one, else the chosen size's."""
    groups: dict[str, list[str]] = {}
    for column in table.columns:
        best = best_size_column(column, table.columns)
        if best:
            groups.setdefault(best, []).append(column)
    cells = dict(table.cells)
    columns = list(table.columns)
    for best_column, sized in groups.items():
        for row in table.rows:
            candidates = [(statistics.mean(cells[(row, c)].validation), c) for c in sized if (row, c) in cells and cells[(row, c)].validation]
            if candidates:
                _, chosen = max(candidates)
                own = _reference_for(reference or [], row, best_column)
                cells[(row, best_column)] = dataclasses.replace(cells[(row, chosen)], reference=own) if own is not None else cells[(row, chosen)]
        if any((row, best_column) in cells for row in table.rows):  # no validation metric, no choice to show
            columns.insert(max(columns.index(c) for c in sized) + 1, best_column)
    return Table(table.title, table.metric_by_row, columns, cells)


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
    return Table(table.title, {**table.metric_by_row, "average": "mean over tasks"}, table.columns, cells)


def significance_tests(table: Table, seed: int = 0) -> list[dict]:
    """Welch's t-test and a bootstrap 95% CI of mean(adapter) - mean(finetune) for every
    adapter column that has a fine-tuning column with the same other settings."""
    tests = []
    rng = np.random.default_rng(seed)
    for column in table.columns:
        if "adapter" not in column.split():
            continue
        partner = " ".join("finetune" if p == "adapter" else p for p in column.split() if not p.startswith("m="))
        if partner not in table.columns:
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
            tests.append({"task": row, "adapter": column, "finetune": partner, "difference": float(x.mean() - y.mean()),
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
        header = ["setting"] + [row if uniform or row == "average" else f"{row} ({table.metric_by_row[row]})" for row in table.rows]
        return header, [[column] + [table.cells.get((row, column)) for row in table.rows] for column in table.columns], 1
    header = [table.row_header, "metric", *table.columns]
    return header, [[row, table.metric_by_row[row]] + [table.cells.get((row, column)) for column in table.columns] for row in table.rows], 2


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
            writer.writerow([row, table.metric_by_row[row], column, f"{cell.mean:.4f}" if cell.values else "", f"{cell.std:.4f}" if cell.values else "",
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
