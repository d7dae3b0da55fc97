"""A report table as data (Grid: a header and rows of Entry cells) and its text formats:
Markdown, LaTeX and CSV. Every table of a report is built once as a Grid; each format only
formats it (the HTML page formats the same Grids in templates/report.html.j2)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

DEGENERATE_MARK = "†"  # a cell whose runs did not learn (report/gates.py `did not learn`)


@dataclass(frozen=True)
class Entry:
    """One cell: its text and what a format may add to it.

    text: the value as printed ("76.5"); spread: a subscript (the std over seeds); note: text
    after it (" [lr=0.001] (88.0)"); mark: a legend symbol (DEGENERATE_MARK); why: what the mark
    means for this cell (the HTML tooltip, the CSV's mark column); link: a relative path to the
    cell's run folder (HTML links it, CSV lists it); sort: the number a sortable table sorts by;
    data: machine-readable fields, in order, for the tidy CSV of a values table; short: a
    summary of a long text, shown first where a format can fold (HTML)."""

    text: str
    spread: str = ""
    note: str = ""
    mark: str = ""
    why: str = ""
    link: str = ""
    sort: float | None = None
    data: tuple[tuple[str, object], ...] = ()
    short: str = ""  # a summary of a long text (HTML shows it and folds the text under it)


def label(text: object) -> Entry:
    """A label cell (a setting's or a task's name), or any plain text cell."""
    return Entry(str(text))


def number(text: str, value: float | None) -> Entry:
    """A cell shown as `text` that sorts by `value`."""
    return Entry(text, sort=value)


@dataclass(frozen=True)
class Grid:
    """One table of a report: `labels` leading label columns, then value columns.

    key: its anchor on the HTML page and its CSV name; tidy: its CSV has one line per value cell
    (row labels, column, the cell's data fields) instead of the grid itself; breaks: indexes of the
    rows before which LaTeX draws a rule (the average row)."""

    key: str
    title: str
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Entry, ...], ...]
    labels: int = 1
    legend: tuple[str, ...] = ()
    tidy: bool = False
    breaks: tuple[int, ...] = ()
    level: int = 3  # its heading level on the HTML page
    toc: str = ""  # its entry in the page's table of contents (default: the title)

    @property
    def marked(self) -> bool:
        """Some cell carries a mark (so the grid needs its legend)."""
        return any(entry.mark for row in self.rows for entry in row)

    @property
    def linked(self) -> bool:
        """Some cell links to its runs."""
        return any(entry.link for row in self.rows for entry in row)


def _markdown_entry(entry: Entry) -> str:
    text = f"{entry.text}<sub>{entry.spread}</sub>" if entry.spread else entry.text
    text = text + entry.note + (f" {entry.mark}" if entry.mark else "")
    # a user's words in a cell (a claim's not_tested reason) must not end the row or split it
    return " ".join(text.split("\n")).replace("|", "\\|")


def to_markdown(grid: Grid) -> str:
    """The grid as a Markdown table under a bold title and its caption, with its legend lines."""
    lines = [
        f"**{grid.title}** — {grid.caption}" if grid.caption else f"**{grid.title}**",
        "",
        "| " + " | ".join(grid.header) + " |",
        "|" + "---|" * len(grid.header),
    ]
    lines += ["| " + " | ".join(map(_markdown_entry, row)) + " |" for row in grid.rows]
    if grid.legend:
        lines += ["", *grid.legend]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    DEGENERATE_MARK: r"$^\dagger$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """Text with LaTeX's special characters escaped (the degenerate mark as a dagger)."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def _latex_entry(entry: Entry) -> str:
    text = (
        latex_escape(entry.text)
        + (f"$_{{{latex_escape(entry.spread)}}}$" if entry.spread else "")
        + latex_escape(entry.note)
    )
    return text + (latex_escape(entry.mark) if entry.mark else "")


def to_latex(grid: Grid) -> str:
    """The grid as a booktabs tabular, its title and caption as a comment above it and its
    legend as a footnote-size paragraph below it."""
    caption = latex_escape(grid.caption.replace("<sub>", " ± ").replace("</sub>", "")).replace("\n", " ")
    lines = [
        f"% {latex_escape(grid.title)}: {caption}",
        r"\begin{tabular}{" + "l" * grid.labels + "c" * (len(grid.header) - grid.labels) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in grid.header) + r" \\",
        r"\midrule",
    ]
    for index, row in enumerate(grid.rows):
        if index in grid.breaks:
            lines.append(r"\midrule")
        lines.append(" & ".join(map(_latex_entry, row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if grid.legend:
        lines.append(r"\par{\footnotesize " + r" \\ ".join(latex_escape(line) for line in grid.legend) + r"}\par")
    return "\n".join(lines) + "\n"


def to_csv(grid: Grid) -> str:
    """The grid as CSV. A tidy grid (a values table): one line per value cell, with its row's
    labels, its column's header, the cell's data fields, its mark and its runs' folder; any other
    grid: its header and rows as printed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not grid.tidy:
        writer.writerow(grid.header)
        for row in grid.rows:
            writer.writerow(
                [
                    entry.text
                    + (f" ± {entry.spread}" if entry.spread else "")
                    + entry.note
                    + (f" {entry.mark}" if entry.mark else "")
                    for entry in row
                ]
            )
        return buffer.getvalue()
    fields = next(
        (tuple(name for name, _ in entry.data) for row in grid.rows for entry in row[grid.labels :] if entry.data), ()
    )
    writer.writerow([*grid.header[: grid.labels], "setting", *fields, "mark", "runs"])
    for row in grid.rows:
        for column, entry in zip(grid.header[grid.labels :], row[grid.labels :]):
            if entry.data:
                writer.writerow(
                    [
                        *(e.text for e in row[: grid.labels]),
                        column,
                        *(value for _, value in entry.data),
                        entry.why,
                        entry.link,
                    ]
                )
    return buffer.getvalue()


def interval_text(low: float | None, high: float | None) -> str:
    """ "[-1.20, +3.40]"; an infinite end stays (an anytime-valid interval at few seeds is the whole
    line: nothing is excluded yet); "n/a" where there is none (None or NaN: too few seeds for it,
    or an interval left out, such as the bootstrap of an anytime-valid comparison)."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:+.2f}, {high:+.2f}]"
