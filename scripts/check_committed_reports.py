"""Rebuild every committed study report and the replication claims table; fail on any difference.

    .venv/bin/python scripts/check_committed_reports.py

For each docs/results/**/study folder: copy it to a temporary folder, run `adapterlab study report`
there and compare every file of the new report/ with the committed one (report.html's lines that
quote the study's own path are compared with that path put back). Then `adapterlab claims
docs/results/*/study --json` must give docs/results/replication_claims.json, and its table must be
the one atop docs/results/README.md. A study's records
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
        return [f"study report failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"]
    ours, theirs = copy / "report", study / "report"
    names = sorted({p.relative_to(ours) for p in ours.rglob("*") if p.is_file()} | {p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file()})
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


def main() -> int:
    studies = sorted(p for p in RESULTS.rglob("study") if (p / "study.json").is_file())
    failed = 0
    for study in studies:
        with tempfile.TemporaryDirectory() as scratch:
            found = differences(study, Path(scratch))
        print(f"{'ok  ' if not found else 'FAIL'} {study.relative_to(REPO)}{': ' + '; '.join(found) if found else ''}")
        failed += bool(found)
    with tempfile.TemporaryDirectory() as scratch:
        table = Path(scratch) / "claims.json"
        suite = sorted(str(p.relative_to(REPO)) for p in RESULTS.glob("*/study"))
        done = subprocess.run([*ADAPTERLAB, "claims", *suite, "--json", str(table)], capture_output=True, text=True, cwd=REPO)
        same = done.returncode == 0 and table.read_bytes() == (RESULTS / "replication_claims.json").read_bytes()
    print(f"{'ok  ' if same else 'FAIL'} adapterlab claims docs/results/*/study == docs/results/replication_claims.json")
    # the page opens with the same table: its rows must be the command's, in the same order
    printed = [line for line in done.stdout.splitlines() if line.startswith("|")]
    page = (RESULTS / "README.md").read_text().splitlines()
    start = next((i for i, line in enumerate(page) if line.startswith("| claim |")), None)
    shown = page[start:start + len(printed)] if start is not None else []
    after = page[start + len(printed):start + len(printed) + 1] if start is not None else []
    on_page = bool(printed) and shown == printed and not (after and after[0].startswith("|"))  # no extra rows either
    print(f"{'ok  ' if on_page else 'FAIL'} adapterlab claims docs/results/*/study == the table atop docs/results/README.md")
    return 1 if failed or not same or not on_page else 0


if __name__ == "__main__":
    sys.exit(main())
