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

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
ADAPTERLAB = [sys.executable, "-m", "adapterlab"]


def differences(study: Path, scratch: Path) -> list[str]:
    copy = scratch / "study"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("report"))
    done = subprocess.run([*ADAPTERLAB, "study", "report", str(copy)], capture_output=True, text=True)
    if done.returncode != 0:
        return [
            f"study report failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        ]
    ours, theirs = copy / "report", study / "report"
    names = sorted(
        {p.relative_to(ours) for p in ours.rglob("*") if p.is_file()}
        | {p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file()}
    )
    found = []
    for name in names:
        a, b = ours / name, theirs / name
        if not a.is_file() or not b.is_file():
            found.append(f"{name}: {'not rebuilt' if b.is_file() else 'not committed'}")
        elif name.suffix == ".html":
            if a.read_text().replace(str(copy), str(study.relative_to(REPO))) != b.read_text():
                found.append(f"{name}: differs")
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
        return table.read_text(), [line for line in done.stdout.splitlines() if line.startswith("|")]


def table_span(page: list[str], heading: str) -> tuple[int, int] | None:
    """The lines of the first table under `heading` on the page: [start, end)."""
    section = next((i for i, line in enumerate(page) if line.startswith(heading)), None)
    if section is None:
        return None
    start = next((i for i, line in enumerate(page) if i > section and line.startswith("| claim |")), None)
    if start is None:
        return None
    return start, next((i for i in range(start, len(page)) if not page[i].startswith("|")), len(page))


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
    return same, bool(rows) and span is not None and page[span[0] : span[1]] == rows


def write() -> None:
    """Rebuild every committed report in place and write each claims table's JSON and page rows
    (the rows only: the page's prose is written by hand and must be read again)."""
    for study in sorted(p for p in RESULTS.rglob("study") if (p / "study.json").is_file()):
        shutil.rmtree(study / "report", ignore_errors=True)
        subprocess.run(
            [*ADAPTERLAB, "study", "report", str(study.relative_to(REPO))], cwd=REPO, check=True, capture_output=True
        )
        print(f"rebuilt {study.relative_to(REPO)}/report")
    page_file = RESULTS / "README.md"
    page = page_file.read_text().splitlines()
    for pattern, json_name, heading in TABLES:
        found = computed(pattern)
        if not found or not found[0]:
            continue
        text, rows = found
        (RESULTS / json_name).write_text(text)
        print(f"wrote docs/results/{json_name}")
        if heading is None:
            continue
        span = table_span(page, heading)
        if span is None:
            raise SystemExit(f"docs/results/README.md: no claims table under '{heading}'")
        page[span[0] : span[1]] = rows
        print(f"wrote its table under '{heading}' in docs/results/README.md")
    page_file.write_text("\n".join(page) + "\n")


def main() -> int:
    if sys.argv[1:] == ["--write"]:
        write()
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
