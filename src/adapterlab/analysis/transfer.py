"""`adapterlab crosslingual`: evaluate one finished run on every language's file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from adapterlab.analysis.crosslingual import LANGUAGE_FAMILIES, crosslingual_averages, language_files
from adapterlab.data.features import Collator, encode
from adapterlab.data.readers import read_examples
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.runs import check_analysis_output, write_json_atomic
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.evaluation import evaluate
from adapterlab.train.trained import load_trained_run


def evaluate_languages(
    run_dir: str | Path,
    pattern: str,
    languages: list[str],
    task: str | None = None,
    max_examples: int | None = None,
    batch_size: int = 64,
    on_language_done: Callable[[], object] | None = None,
) -> dict:
    """Per-language metrics of one run, plus the all / target / distant averages of its metric.

    The language files are read as the run read its training data (its format, columns and
    encoding), unless `task` names another reader (e.g. xnli for an MNLI-trained run). A gold
    label the run never saw counts as a miss; `unknown_labels` in its metrics says how many.
    on_language_done: called after each language (evaluate_runs' progress bar)."""
    run_dir = Path(run_dir)
    trained = load_trained_run(run_dir)
    model, tokenizer, spec, labels, config = (
        trained.model,
        trained.tokenizer,
        trained.spec,
        trained.labels,
        trained.config,
    )
    same_reader = task is None or get_task(task).name == spec.name
    eval_spec = dataclasses.replace(
        spec if same_reader else get_task(task), labels=None
    )  # unknown labels are misses, not errors
    fmt = config.get("data_format", "auto") if same_reader else "auto"
    columns = (config.get("columns") or {}) if same_reader else {}
    encoding = config.get("encoding", "utf-8")
    max_length = config.get("max_length_used", config["max_length"])
    files = language_files(pattern, languages)
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise AdapterlabError(f"language file not found: {missing[0]} ({len(missing)} missing)")
    accelerator = build_accelerator("auto")
    model = accelerator.prepare(model)
    collator = Collator(tokenizer.pad_token_id)
    per_language = {}
    for lang, path in files.items():
        examples = read_examples(path, eval_spec, fmt, columns, encoding=encoding)[: max_examples or None]
        with_unknown = labels.with_unknown(examples)
        features = encode(examples, spec, with_unknown, tokenizer, max_length)
        per_language[lang] = evaluate(model, features, collator, spec, with_unknown, accelerator, batch_size)
        if on_language_done:
            on_language_done()
    scores = {lang: m[spec.metric] for lang, m in per_language.items()}
    return {
        "run": str(run_dir),
        "method": config["method"],
        "metric": spec.metric,
        "per_language": per_language,
        "scores": scores,
        "averages": crosslingual_averages(scores),
        "max_examples": max_examples,
    }


def evaluate_runs(
    runs: list[str],
    pattern: str,
    languages: list[str],
    task: str | None = None,
    max_examples: int | None = None,
    progress: bool = False,
    label: str = "crosslingual",
    on_run: Callable[[dict], object] | None = None,
) -> list[dict]:
    """evaluate_languages for every run, with one progress bar over runs x languages on stderr;
    on_run: called with each run's row as it is computed (`study analyze` stores it)."""
    rows = []
    with tqdm(
        total=len(runs) * len(languages), desc=label, unit="language", disable=not progress, dynamic_ncols=True
    ) as bar:
        for run in runs:
            rows.append(evaluate_languages(run, pattern, languages, task, max_examples, on_language_done=bar.update))
            if on_run is not None:
                on_run(rows[-1])
    return rows


def check_transfer_request(pattern: str, languages: list[str], max_examples: int | None) -> None:
    """The inputs of `adapterlab crosslingual`, before any model loads: a pattern with {lang},
    languages of the family table (their averages need it), and a positive example cap."""
    if "{lang}" not in pattern:
        raise AdapterlabError(f"--pattern {pattern!r}: must contain {{lang}}, e.g. data/panx/dev-{{lang}}.tsv")
    unknown = [lang for lang in languages if lang not in LANGUAGE_FAMILIES]
    if unknown:
        raise AdapterlabError(
            f"--languages: {unknown[0]!r} is not an ISO code of the language family table "
            f"(analysis/crosslingual.py); known: {', '.join(sorted(LANGUAGE_FAMILIES))}"
        )
    if max_examples is not None and max_examples < 1:
        raise AdapterlabError(f"--max-examples {max_examples}: must be an integer >= 1")


def crosslingual_to_file(
    runs: list[str],
    pattern: str,
    languages: list[str],
    task: str | None = None,
    max_examples: int | None = None,
    out: Path | None = None,
    progress: bool = False,
) -> list[dict]:
    """`adapterlab crosslingual`: the inputs checked (and `out`, never a file adapterlab did not
    write), every run evaluated on every language, and with `out` the rows written there as JSON."""
    check_transfer_request(pattern, languages, max_examples)
    if out is not None:
        check_analysis_output(out, folder=False)
    rows = evaluate_runs(runs, pattern, languages, task, max_examples, progress=progress)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, {"metric": rows[0]["metric"], "languages": languages, "pattern": pattern, "runs": rows})
    return rows
