"""`adapterlab crosslingual`: evaluate one finished run on every language's file."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from adapterlab.analysis.crosslingual import crosslingual_averages, language_files
from adapterlab.data.features import Collator, encode
from adapterlab.data.readers import read_examples
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.train.loop import evaluate
from adapterlab.train.accelerator import build_accelerator
from adapterlab.train.trained import load_trained_run


def evaluate_languages(run_dir: str | Path, pattern: str, languages: list[str], task: str | None = None, max_examples: int | None = None,
                       batch_size: int = 64, on_language_done: Callable[[], object] | None = None) -> dict:
    """Per-language metrics of one run, plus the all / target / distant averages of its metric.

    The language files are read as the run read its training data (its format, columns and
    encoding), unless `task` names another reader (e.g. xnli for an MNLI-trained run). A gold
    label the run never saw counts as a miss; `unknown_labels` in its metrics says how many.
    on_language_done: called after each language (evaluate_runs' progress bar)."""
    run_dir = Path(run_dir)
    trained = load_trained_run(run_dir)
    model, tokenizer, spec, labels, config = trained.model, trained.tokenizer, trained.spec, trained.labels, trained.config
    same_reader = task is None or get_task(task).name == spec.name
    eval_spec = dataclasses.replace(spec if same_reader else get_task(task), labels=None)  # unknown labels are misses, not errors
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
    return {"run": str(run_dir), "method": config["method"], "metric": spec.metric, "per_language": per_language, "scores": scores,
            "averages": crosslingual_averages(scores), "max_examples": max_examples}


def evaluate_runs(runs: list[str], pattern: str, languages: list[str], task: str | None = None, max_examples: int | None = None,
                  progress: bool = False, label: str = "crosslingual") -> list[dict]:
    """evaluate_languages for every run, with one progress bar over runs x languages on stderr."""
    with tqdm(total=len(runs) * len(languages), desc=label, unit="language", disable=not progress, dynamic_ncols=True) as bar:
        return [evaluate_languages(run, pattern, languages, task, max_examples, on_language_done=bar.update) for run in runs]
