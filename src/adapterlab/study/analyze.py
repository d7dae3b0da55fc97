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

from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runs import read_result, write_json_atomic
from adapterlab.study.analysis_spec import AnalysisOptions

ANALYSIS_FOLDER = "analysis"


def analyze_study(out: str | Path, progress: bool = True) -> list[Path]:
    from adapterlab.analysis.rsa_run import rsa_curves, write_rsa
    from adapterlab.analysis.transfer import evaluate_runs

    out = Path(out)
    from adapterlab.study.executor import load_plan

    plan = load_plan(out)
    try:
        analysis = AnalysisOptions.from_raw(plan.get("analysis"))
    except TypeError as err:
        raise AdapterlabError(f"{out / 'study.json'}: field 'analysis' is not a checked analysis block ({err}); run `study run` again") from None
    if analysis.rsa is None and not analysis.crosslingual:
        raise AdapterlabError(f"{out}: the study's spec has no 'analysis' block (rsa, crosslingual)")
    folder = out / ANALYSIS_FOLDER
    written: list[Path] = []

    def finished(task: str) -> list[str]:
        # a failed run left no weights to evaluate; a diverged one did, and counts as what it scores
        results = {r["dir"]: read_result(out / r["dir"]) for r in plan["runs"] if r["labels"]["task"] == task}
        return [str(out / d) for d, result in results.items() if result is not None and result.get("status") != "failed"]

    rsa = analysis.rsa
    if rsa is not None:
        runs = finished(rsa.task)
        if runs:
            rows = rsa_curves(rsa.base, runs, rsa.data, rsa.task, rsa.n, rsa.seed, rsa.max_length, progress=progress)
            written.extend(write_rsa(rows, folder / "rsa"))
    for task, settings in analysis.crosslingual.items():
        runs = finished(task)
        if not runs:
            continue
        rows = evaluate_runs(runs, settings.pattern, settings.languages, settings.task, settings.max_examples,
                             progress=progress, label=f"crosslingual {task}")
        path = folder / f"crosslingual_{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"task": task, "languages": settings.languages, "runs": rows})
        written.append(path)
    return written
