"""Rebuild every committed study report and the replication claims table; fail on any difference.

    .venv/bin/python scripts/check_committed_reports.py           # check
    .venv/bin/python scripts/check_committed_reports.py --write   # rebuild them in place

For each docs/results/**/study folder: copy it to a temporary folder, run `adapterlab study report`
there and compare every file of the new report/ with the committed one (report.html's lines that
quote the study's own path are compared with that path put back). Then each committed claims table
(TABLES) must be what `adapterlab claims` computes from its folders, in its JSON and on the
results page under its heading. A study's records
are the truth: a report that no longer matches them is stale (issue #16: "rebuilds every
committed report identically"). About 6 s per study on one core.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
ADAPTERLAB = [sys.executable, "-m", "adapterlab"]


def rebuilt(study: Path, scratch: Path) -> tuple[Path | None, str]:
    """`study report` on a copy of `study` (without its report) in `scratch`: (the new report/
    folder, "") or (None, why it failed). report.html quotes its study's path: put back as the
    committed study's, relative to the repository."""
    copy = scratch / "study"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("report"))
    done = subprocess.run([*ADAPTERLAB, "study", "report", str(copy)], capture_output=True, text=True)
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    for html in (copy / "report").rglob("*.html"):
        html.write_text(html.read_text().replace(str(copy), str(study.relative_to(REPO))))
    return copy / "report", ""


def differences(study: Path, scratch: Path) -> list[str]:
    ours, why = rebuilt(study, scratch)
    if ours is None:
        return [f"study report failed: {why}"]
    theirs = study / "report"
    names = sorted(
        {p.relative_to(ours) for p in ours.rglob("*") if p.is_file()}
        | {p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file()}
    )
    found = []
    for name in names:
        a, b = ours / name, theirs / name
        if not a.is_file() or not b.is_file():
            found.append(f"{name}: {'not rebuilt' if b.is_file() else 'not committed'}")
        elif not filecmp.cmp(a, b, shallow=False):
            found.append(f"{name}: differs")
    return found


# Each committed claims table: the study folders it is computed from, its JSON, and the heading of
# the results page's section whose first table it is.
TABLES = (
    ("*/study", "replication_claims.json", "## The replication suite, second design"),
    ("rep_v1/*/study", "rep_v1/claims.json", "## The replication suite, first design"),
    ("cpu_scale/*/study", "cpu_scale/claims.json", "## Earlier CPU-scale studies"),
    ("peft/*/study", "peft/lora_claims.json", None),  # the page quotes its one row in prose
)


def computed(pattern: str) -> tuple[str, list[str]] | None:
    """`adapterlab claims` over the folders of `pattern`: its JSON text and its table's lines
    ("" and no lines when it fails; None when no folder matches)."""
    studies = sorted(str(p.relative_to(REPO)) for p in RESULTS.glob(pattern) if (p / "study.json").is_file())
    if not studies:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        table = Path(scratch) / "claims.json"
        done = subprocess.run(
            [*ADAPTERLAB, "claims", *studies, "--json", str(table)], capture_output=True, text=True, cwd=REPO
        )
        if done.returncode != 0:
            print(f"adapterlab claims {pattern}: {done.stderr.strip()}")
            return "", []
        lines = done.stdout.splitlines()
        caption = [line for line in lines if line.startswith(CAPTION)][:1]
        return table.read_text(), caption + [line for line in lines if line.startswith("|")]


CAPTION = "**Claims**"  # the first line `adapterlab claims` prints: what the columns mean, the family's size


def table_span(page: list[str], heading: str) -> tuple[int, int, int] | None:
    """The first claims table under `heading` on the page, within its section (up to the next
    `## ` heading): (its caption's line, its first line, the line after it)."""
    section = next((i for i, line in enumerate(page) if line.startswith(heading)), None)
    if section is None:
        return None
    end = next((i for i in range(section + 1, len(page)) if page[i].startswith("## ")), len(page))
    start = next((i for i in range(section + 1, end) if page[i].startswith("| claim |")), None)
    caption = next((i for i in range(start - 1, section, -1) if page[i].startswith(CAPTION)), None) if start else None
    if start is None or caption is None:
        return None
    return caption, start, next((i for i in range(start, len(page)) if not page[i].startswith("|")), len(page))


def check_table(pattern: str, json_name: str, heading: str | None, page: list[str]) -> tuple[bool, bool]:
    """(the JSON equals `adapterlab claims` over the folders, the page's table equals its rows)."""
    found = computed(pattern)
    if found is None:
        return not (RESULTS / json_name).exists(), True
    text, rows = found
    same = bool(text) and (RESULTS / json_name).read_text() == text
    if heading is None:
        return same, True
    span = table_span(page, heading)
    # the caption (it counts the family's rows) and the table's lines
    return same, len(rows) > 1 and span is not None and [page[span[0]], *page[span[1] : span[2]]] == rows


def write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def write() -> int:
    """Rebuild every committed report and write each claims table's JSON and page rows (the rows
    only: the page's prose is written by hand and must be read again). Each report is rebuilt
    beside the committed one and swapped in only when its build succeeds; the tables are all
    computed and placed before any is written. 1 on the first failure, with nothing of it written."""
    for study in sorted(p for p in RESULTS.rglob("study") if (p / "study.json").is_file()):
        with tempfile.TemporaryDirectory() as scratch:
            report, why = rebuilt(study, Path(scratch))
            if report is None:
                print(f"FAIL {study.relative_to(REPO)}: study report: {why}; nothing of it written")
                return 1
            shutil.rmtree(study / "report", ignore_errors=True)
            shutil.copytree(report, study / "report")
        print(f"rebuilt {study.relative_to(REPO)}/report")
    page_file = RESULTS / "README.md"
    page = page_file.read_text().splitlines()
    writes: list[tuple[str, str]] = []
    for pattern, json_name, heading in TABLES:
        found = computed(pattern)
        if found is None:
            continue
        text, rows = found
        if not text or (heading is not None and len(rows) < 2):
            print(f"FAIL adapterlab claims docs/results/{pattern}: no table; nothing written")
            return 1
        writes.append((json_name, text))
        if heading is not None:
            span = table_span(page, heading)
            if span is None:
                print(f"FAIL docs/results/README.md: no claims table under '{heading}'; nothing written")
                return 1
            caption, start, end = span
            page[start:end] = rows[1:]
            page[caption] = rows[0]
    for json_name, text in writes:
        write_atomic(RESULTS / json_name, text)
        print(f"wrote docs/results/{json_name}")
    write_atomic(page_file, "\n".join(page) + "\n")
    print("wrote the claims tables in docs/results/README.md")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rebuild the reports and tables in place, then check")
    if parser.parse_args().write and write() != 0:
        return 1
    studies = sorted(p for p in RESULTS.rglob("study") if (p / "study.json").is_file())
    failed = 0
    for study in studies:
        with tempfile.TemporaryDirectory() as scratch:
            found = differences(study, Path(scratch))
        print(f"{'ok  ' if not found else 'FAIL'} {study.relative_to(REPO)}{': ' + '; '.join(found) if found else ''}")
        failed += bool(found)
    page = (RESULTS / "README.md").read_text().splitlines()
    for pattern, json_name, heading in TABLES:
        same, on_page = check_table(pattern, json_name, heading, page)
        print(f"{'ok  ' if same else 'FAIL'} adapterlab claims docs/results/{pattern} == docs/results/{json_name}")
        if heading is not None:
            print(f"{'ok  ' if on_page else 'FAIL'} its table in docs/results/README.md under '{heading}'")
        failed += (not same) + (not on_page)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
