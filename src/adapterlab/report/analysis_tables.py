"""What `adapterlab study analyze` found, shaped for the report: one zero-shot table per
cross-lingual task (He et al. 2021 Tables 3 and 4: a row per language, then the all / target /
distant averages; a column per setting, mean ± std over seeds, adapter vs fine-tuning tested per
row) and the per-layer RSA of Fig. 2 (a table and the records its figure is drawn from)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

from adapterlab.analysis.crosslingual import SOURCE_LANGUAGE
from adapterlab.errors import AdapterlabError
from adapterlab.report.tables import Observation, Table, build_table, seed_means
from adapterlab.runs import load_result
from adapterlab.setting import Column, Setting
from adapterlab.study.folder import ANALYSIS_FOLDER, StudyPlan
from adapterlab.study.report_spec import DEFAULT_SELECT

AVERAGES = ("all", "target", "distant")
CAPTION = (
    "zero-shot test metric ×100 per language, mean<sub>std</sub> over seeds; all = every language, target = all but English, "
    "distant = outside the Indo-European family; (paper's number) where the spec has one"
)


def source_gap(table: Table, adapter: Column, finetune: Column, seeds: set[Any]) -> str:
    """C4's companion number: adapters minus fine-tuning in English itself (the language both were
    trained in; Table 3's en column), mean over `seeds` (those the claim compares), ×100. A method
    that learned English worse is not read as transferring worse: the target-language gap is read
    beside it."""
    adapter_en, finetune_en = (seed_means(table, column, [SOURCE_LANGUAGE]) for column in (adapter, finetune))
    shared = [seed for seed in adapter_en if seed in finetune_en and seed in seeds]
    if not shared:
        return ""
    gap = statistics.mean(adapter_en[s] - finetune_en[s] for s in shared)
    return f"; in English, the training language: {gap:+.2f} over {len(shared)} seed(s)"


def _planned_run(run_path: str, plan: StudyPlan) -> tuple[Setting, str, int] | None:
    """(setting, folder, seed) of the planned run that an analysis row names by its folder."""
    parts = Path(run_path).parts
    for run in plan.runs:
        own = Path(run.dir).parts
        if parts[-len(own) :] == own:
            return run.setting, run.dir, run.seed
    return None


def crosslingual_tables(out: Path, plan: StudyPlan) -> dict[str, Table]:
    """{task: its zero-shot table} for every cross-lingual analysis result in DIR/analysis/."""
    tables = {}
    for path in sorted((out / ANALYSIS_FOLDER).glob("crosslingual_*.json")):
        try:
            analysis = json.loads(path.read_text())
            task, rows = analysis["task"], analysis["runs"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise AdapterlabError(
                f"{path}: not an analysis result of `adapterlab study analyze` ({err!r}); run it again"
            ) from None
        observations = []
        for row in rows:
            planned = _planned_run(row["run"], plan)
            if planned is None:
                continue  # a run no longer in the plan
            setting, folder, seed = planned
            # the run's own (English) validation metric, so a best-adapter-size column is chosen without test data
            result = load_result(out / folder)
            validation = result.validation_metric if result else None
            scores = {**row["scores"], **{name: row["averages"][name] for name in AVERAGES}}
            for language, score in scores.items():
                if score is not None:
                    observations.append(
                        Observation(
                            language, setting.column, row["metric"], score, validation, seed=seed, folder=out / folder
                        )
                    )
        if observations:
            reference = [
                {**{k: v for k, v in item.items() if k != "language"}, "task": item["language"]}
                for item in plan.reference
                if item.get("task") == task and "language" in item
            ]
            tables[task] = build_table(
                f"Zero-shot cross-lingual transfer: {task}",
                observations,
                reference,
                average_row=False,
                select=plan.report.select,
                anytime=plan.sequential,
                row_header="language",
                caption=CAPTION,
            )
    return tables


def rsa_records(out: Path, plan: StudyPlan) -> list[Observation]:
    """One observation per run and layer from DIR/analysis/rsa/rsa.csv: the row is the layer
    (0 = embeddings) and the value the layer's RSA with the base model."""
    path = out / ANALYSIS_FOLDER / "rsa" / "rsa.csv"
    if not path.is_file():
        return []
    observations = []
    with path.open(newline="") as handle:
        try:
            for row in csv.DictReader(handle):
                planned = _planned_run(row["run"], plan)
                if planned is not None:
                    # the run's validation metric, so a selected column holds the run the main table selects
                    result = load_result(out / planned[1])
                    observations.append(
                        Observation(
                            int(row["layer"]),
                            planned[0].column,
                            "rsa",
                            float(row["rsa"]),
                            result.validation_metric if result else None,
                            seed=planned[2],
                            folder=out / planned[1],
                        )
                    )
        except (KeyError, ValueError, TypeError) as err:
            raise AdapterlabError(
                f"{path}: not an RSA table of `adapterlab study analyze` ({err!r}); run it again"
            ) from None
    return observations


def rsa_table(
    observations: list[Observation], select: tuple[str, ...] = DEFAULT_SELECT, anytime: bool = False
) -> Table | None:
    """Fig. 2 as numbers: RSA per layer (rows) and setting (columns), adapter vs fine-tuning tested
    per layer; a selected column (select: the spec's report.select) holds the runs with the best
    validation metric, the choice the main table makes."""
    if not observations:
        return None
    return build_table(
        "Representational similarity to the base model (Fig. 2)",
        observations,
        average_row=False,
        row_header="layer",
        select=select,
        anytime=anytime,
        caption="RSA ×100 between each tuned encoder and its base on the same sampled tokens, mean<sub>std</sub> over seeds; "
        "layer 0 = embeddings",
    )
