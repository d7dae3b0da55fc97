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
from adapterlab.train.run import read_result, write_json_atomic

ANALYSIS_FOLDER = "analysis"


def analyze_study(out: str | Path, progress: bool = True) -> list[Path]:
    from adapterlab.analysis.rsa_run import rsa_curves, write_rsa
    from adapterlab.analysis.transfer import evaluate_runs

    out = Path(out)
    from adapterlab.study.executor import load_plan

    plan = load_plan(out)
    analysis = plan.get("analysis") or {}
    if not analysis:
        raise AdapterlabError(f"{out}: the study's spec has no 'analysis' block (rsa, crosslingual)")
    folder = out / ANALYSIS_FOLDER
    written: list[Path] = []

    def finished(task: str) -> list[str]:
        # a failed run left no weights to evaluate; a diverged one did, and counts as what it scores
        results = {r["dir"]: read_result(out / r["dir"]) for r in plan["runs"] if r["labels"]["task"] == task}
        return [str(out / d) for d, result in results.items() if result is not None and result.get("status") != "failed"]

    if "rsa" in analysis:
        settings = analysis["rsa"]
        runs = finished(settings["task"])
        if runs:
            rows = rsa_curves(settings.get("base"), runs, settings["data"], settings["task"], settings.get("n", 5000), settings.get("seed", 0),
                              settings.get("max_length", 128), progress=progress)
            written.extend(write_rsa(rows, folder / "rsa"))
    for task, settings in (analysis.get("crosslingual") or {}).items():
        runs = finished(task)
        if not runs:
            continue
        rows = evaluate_runs(runs, settings["pattern"], settings["languages"], settings.get("task"), settings.get("max_examples"),
                             progress=progress, label=f"crosslingual {task}")
        path = folder / f"crosslingual_{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"task": task, "languages": settings["languages"], "runs": rows})
        written.append(path)
    return written
