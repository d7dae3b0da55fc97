"""`adapterlab study analyze DIR`: the analyses a spec asks for, over the study's finished runs.

```yaml
analysis:
  rsa: {task: sst2, data: ../shared/data/glue/SST-2/dev.tsv, n: 5000, max_length: 64}
  crosslingual:
    panx: {pattern: "xtreme/panx/dev-{lang}.tsv", languages: [en, de, zh], max_examples: 500}
```
RSA compares every finished run of the named task with its base (Fig. 2); cross-lingual evaluates
every finished run of each listed task on each language (Table 3). Results go to DIR/analysis/.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.fingerprint import fingerprint
from adapterlab.runs import load_result, write_json_atomic
from adapterlab.study.analysis_inputs import INPUTS_FILE, INPUTS_KEY, AnalysisInputs, plan_reuse
from adapterlab.study.analysis_spec import CrosslingualAnalysis, RsaAnalysis
from adapterlab.study.folder import ANALYSIS_FOLDER, load_plan


def analyze_study(
    out: str | Path, progress: bool = True, say: Callable[[str], object] = print, skip_unweighted: bool = False
) -> list[Path]:
    """Run the spec's analyses over the study's finished runs; returns the files written.
    say: gets one line per analysis (what was computed, what was kept); `study run`'s policy
    passes its own, so the lines do not break its progress bar. skip_unweighted: leave out (and
    say) the runs that have neither weights nor valid stored rows, instead of refusing (the policy
    decides seeds with what can be analyzed; `study analyze` itself refuses).

    Rows of runs analyzed before (same result.json, same settings) are kept, so only new or
    rerun runs need their weights (study/analysis_inputs.py). Raises AdapterlabError for a
    study without an analysis block, or a run to analyze whose weights are gone."""
    out = Path(out)
    plan = load_plan(out)
    analysis = plan.analysis
    if analysis.rsa is None and not analysis.crosslingual:
        raise AdapterlabError(f"{out}: the study's spec has no 'analysis' block (rsa, crosslingual)")
    folder = out / ANALYSIS_FOLDER

    def finished(task: str) -> list[str]:
        # a failed run left no weights to evaluate; a diverged one did, and counts as what it scores
        results = {r.dir: load_result(out / r.dir) for r in plan.runs if r.task == task}
        return [d for d, result in results.items() if result is not None and result.status != "failed"]

    written: list[Path] = []
    if analysis.rsa is not None:
        runs = finished(analysis.rsa.task)
        if runs:
            written.extend(_rsa(out, runs, analysis.rsa, folder / "rsa", progress, say, skip_unweighted))
    for task, settings in analysis.crosslingual.items():
        runs = finished(task)
        if runs:
            path = folder / f"crosslingual_{task}.json"
            written.append(_crosslingual(out, runs, task, settings, path, progress, say, skip_unweighted))
    return written


def _summary(what: str, reuse, say: Callable[[str], object]) -> None:
    """What an analysis computed and what it kept, so a resumed study says where its rows come from."""
    adopted = (
        f" ({len(reuse.adopted)} of them from an analysis that predates recorded inputs, their weights gone)"
        if reuse.adopted
        else ""
    )
    say(f"{what}: {len(reuse.todo)} runs to compute, the rows of {len(reuse.kept)} analyzed before kept{adopted}")
    if reuse.unweighted:
        say(
            f"{what}: left out {len(reuse.unweighted)} finished runs with neither weights nor rows computed from their "
            f"current result (e.g. {reuse.unweighted[0]}): the claims on its table are decided without them"
        )


def _rsa(
    out: Path,
    runs: list[str],
    rsa: RsaAnalysis,
    target: Path,
    progress: bool,
    say: Callable[[str], object],
    skip_unweighted: bool = False,
) -> list[Path]:
    from adapterlab.analysis.rsa_run import rsa_curves, write_rsa, write_rsa_csv

    settings = {
        **dataclasses.asdict(rsa),
        "data_files": fingerprint([rsa.data]),
        "base_files": fingerprint([rsa.base], large_by_size=True) if rsa.base else None,
    }
    stored: list[dict] = []
    if (target / "rsa.csv").is_file():
        with (target / "rsa.csv").open(newline="") as handle:
            stored = list(csv.DictReader(handle))
    inputs = _read_inputs(target / INPUTS_FILE)
    reuse = plan_reuse(
        out,
        runs,
        stored,
        inputs,
        settings,
        legacy_row_ok=lambda row: str(row.get("tokens")) == str(rsa.n),
        skip_unweighted=skip_unweighted,
    )
    _summary("RSA", reuse, say)
    fresh: list[dict] = []

    def store(run_rows: list[dict]) -> None:
        """Rows first, then the inputs that vouch for them: a kill between the two only costs
        the last run's recomputation; a kill later keeps every run finished so far."""
        fresh.extend(run_rows)
        by_run = reuse.file_fresh_rows(out, fresh)
        write_rsa_csv([row for d in runs for row in by_run.get(d, [])], target)
        write_json_atomic(target / INPUTS_FILE, reuse.inputs(settings, only=set(by_run)).to_dict())

    if reuse.todo:
        rsa_curves(
            rsa.base,
            [str(out / d) for d in reuse.todo],
            rsa.data,
            rsa.task,
            rsa.n,
            rsa.seed,
            rsa.max_length,
            progress=progress,
            on_run=store,
        )
    by_run = reuse.file_fresh_rows(out, fresh)
    rows = [row for d in runs for row in by_run.get(d, [])]
    if not rows:
        return []  # every run was left out (skip_unweighted): nothing to write
    paths = list(write_rsa(rows, target))
    write_json_atomic(target / INPUTS_FILE, reuse.inputs(settings, only=set(by_run)).to_dict())
    return paths + [target / INPUTS_FILE]


def _crosslingual(
    out: Path,
    runs: list[str],
    task: str,
    settings: CrosslingualAnalysis,
    path: Path,
    progress: bool,
    say: Callable[[str], object],
    skip_unweighted: bool = False,
) -> Path:
    from adapterlab.analysis.crosslingual import language_files
    from adapterlab.analysis.transfer import evaluate_runs

    values = {
        **dataclasses.asdict(settings),
        "language_files": fingerprint([str(p) for p in language_files(settings.pattern, settings.languages).values()]),
    }
    stored, inputs = _stored_crosslingual(path)

    def legacy_row_ok(row: dict) -> bool:  # an older row: these languages, on as many examples each
        return row.get("max_examples") == settings.max_examples and set(row.get("scores") or {}) == set(
            settings.languages
        )

    reuse = plan_reuse(out, runs, stored, inputs, values, legacy_row_ok, skip_unweighted=skip_unweighted)
    _summary(f"cross-lingual {task}", reuse, say)
    fresh: list[dict] = []
    path.parent.mkdir(parents=True, exist_ok=True)

    def store(row: dict | None) -> None:
        """The file with every run analyzed so far (one row per run) and the inputs of those
        runs, in one atomic write: a killed analysis keeps the runs it finished."""
        fresh.extend([row] if row else [])
        by_run = reuse.file_fresh_rows(out, fresh)
        if not by_run:
            return  # every run was left out (skip_unweighted): nothing to write
        write_json_atomic(
            path,
            {
                "task": task,
                "languages": settings.languages,
                "runs": [by_run[d][0] for d in runs if d in by_run],
                INPUTS_KEY: reuse.inputs(values, only=set(by_run)).to_dict(),
            },
        )

    if reuse.todo:
        evaluate_runs(
            [str(out / d) for d in reuse.todo],
            settings.pattern,
            settings.languages,
            settings.task,
            settings.max_examples,
            progress=progress,
            label=f"crosslingual {task}",
            on_run=store,
        )
    store(None)
    return path


def _stored_crosslingual(path: Path) -> tuple[list[dict], AnalysisInputs | None]:
    """The rows of an earlier cross-lingual file and the inputs they were computed from."""
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
            return list(previous.get("runs") or []), AnalysisInputs.from_dict(previous.get(INPUTS_KEY))
        except (OSError, json.JSONDecodeError, AttributeError):
            pass  # unreadable: computed again, and rewritten whole
    return [], None


def _read_inputs(path: Path) -> AnalysisInputs | None:
    try:
        return AnalysisInputs.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return None
