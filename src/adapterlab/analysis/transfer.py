"""`adapterlab crosslingual`: evaluate one finished run on every language's file."""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

import json
from pathlib import Path

import transformers

from adapterlab.adapters.io import load_adapter
from adapterlab.analysis.crosslingual import crosslingual_averages, language_files
from adapterlab.data.features import Collator, LabelMap, encode
from adapterlab.data.readers import read_examples
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.train.loop import evaluate
from adapterlab.train.run import CONFIG_FILE, build_accelerator, build_task_model, make_loader, read_result


def load_tuned_task_model(run_dir: Path):
    """(model, tokenizer, spec, labels, config) of a finished run, with its head."""
    result = read_result(run_dir)
    if result is None or not (run_dir / CONFIG_FILE).is_file():
        raise AdapterlabError(f"{run_dir}: not a finished run (no result.json and config.json)")
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    spec = get_task(config["task"])
    labels = LabelMap(tuple(config["labels"]))
    if result.get("pack"):
        model = build_task_model(config["model_path"], spec, labels)
        load_adapter(model, run_dir / "pack")
        tokenizer = transformers.AutoTokenizer.from_pretrained(config["model_path"])
    elif (run_dir / "model" / "config.json").is_file():
        auto = transformers.AutoModelForTokenClassification if spec.kind == "token" else transformers.AutoModelForSequenceClassification
        model = auto.from_pretrained(run_dir / "model")
        tokenizer = transformers.AutoTokenizer.from_pretrained(run_dir / "model")
    else:
        raise AdapterlabError(f"{run_dir}: a fine-tuning run needs its weights for evaluation; train it with --save-model")
    return model, tokenizer, spec, labels, config


def evaluate_languages(run_dir: str | Path, pattern: str, languages: list[str], task: str | None = None, max_examples: int | None = None,
                       batch_size: int = 64, on_language_done: Callable[[], object] | None = None) -> dict:
    """Per-language metrics of one run, plus the all / target / distant averages of its metric.
    on_language_done: called after each language (evaluate_runs' progress bar)."""
    run_dir = Path(run_dir)
    model, tokenizer, spec, labels, config = load_tuned_task_model(run_dir)
    eval_spec = get_task(task) if task else spec
    files = language_files(pattern, languages)
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise AdapterlabError(f"language file not found: {missing[0]} ({len(missing)} missing)")
    accelerator = build_accelerator("auto")
    model = accelerator.prepare(model)
    per_language = {}
    for lang, path in files.items():
        examples = read_examples(path, eval_spec)[: max_examples or None]
        features = encode(examples, spec, labels, tokenizer, config["max_length"])
        loader = accelerator.prepare(make_loader(features, Collator(tokenizer.pad_token_id), batch_size, 0, shuffle=False))
        per_language[lang] = evaluate(model, loader, spec, labels, accelerator)
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
