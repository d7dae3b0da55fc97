"""`adapterlab rsa`: layer-wise RSA (and linear CKA) of tuned models against their base (Fig. 2)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import transformers
from tqdm.auto import tqdm

from adapterlab.analysis.similarity import layer_states, linear_cka, rsa, sample_token_positions
from adapterlab.backbone import resolve_backbone
from adapterlab.data.features import Collator, LabelMap, encode
from adapterlab.data.readers import read_examples
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.methods import find_method
from adapterlab.runs import (
    CONFIG_FILE,
    check_analysis_output,
    load_run_config,
    mark_analysis_folder,
    write_text_atomic,
)
from adapterlab.train.model_setup import effective_max_length, load_model_config, load_tokenizer
from adapterlab.train.trained import load_trained_run

# The defaults of every RSA entry point (the CLI, the spec's analysis block, this function).
DEFAULT_TOKENS = 5000  # tokens sampled from the data file (special tokens never)
DEFAULT_MAX_LENGTH = 128


def rsa_curves(
    base: str | None,
    runs: list[str],
    data: str,
    task: str,
    count: int = DEFAULT_TOKENS,
    seed: int = 0,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = 32,
    progress: bool = False,
    on_run: Callable[[list[dict]], object] | None = None,
) -> list[dict]:
    """Rows {run, method, layer, rsa, cka} for every layer of every run, on the same N tokens.
    progress: a bar over the runs on stderr; on_run: called with each run's rows as they are
    computed (`study analyze` stores them, so a killed analysis keeps the runs it finished)."""
    run_dirs = [Path(r) for r in runs]
    if base is None:
        paths = {load_run_config(d).get("model_path") for d in run_dirs if (d / CONFIG_FILE).is_file()}
        base = paths.pop() if len(paths) == 1 else None
    base_path = resolve_backbone(base)
    model_config = load_model_config(base_path)
    tokenizer = load_tokenizer(base_path, model_config)
    max_length = effective_max_length(max_length, model_config, base_path)
    spec = get_task(task)
    examples = read_examples(data, spec)
    features = encode(examples, spec, LabelMap.for_task(spec, examples), tokenizer, max_length)
    special = set(tokenizer.all_special_ids)
    try:
        positions = sample_token_positions([f["input_ids"] for f in features], special, count, seed)
    except ValueError as err:
        raise AdapterlabError(f"{data}: {err}") from None
    collate = Collator(tokenizer.pad_token_id)
    batches = [
        collate([{k: v for k, v in f.items() if k != "labels"} for f in features[i : i + batch_size]])
        for i in range(0, len(features), batch_size)
    ]
    reference = layer_states(
        transformers.AutoModel.from_pretrained(base_path, use_safetensors=True), batches, positions, batch_size
    )
    rows = []
    for run_dir in tqdm(run_dirs, desc="rsa", unit="run", disable=not progress, dynamic_ncols=True):
        trained = load_trained_run(run_dir, with_head=False, base=base_path, merge=True, purpose="RSA")
        model, result = trained.model, trained.result
        states = layer_states(model, batches, positions, batch_size)
        run_rows = [
            {
                "run": str(run_dir),
                "method": result.get("method"),
                "layer": layer,
                "rsa": rsa(ours, theirs),
                "cka": linear_cka(ours, theirs),
                "tokens": count,
                "test_metric": result.get("test_metric"),
            }
            for layer, (ours, theirs) in enumerate(zip(states, reference))
        ]
        rows += run_rows
        if on_run is not None:
            on_run(run_rows)
    return rows


def write_rsa_csv(rows: list[dict], out: Path) -> Path:
    """out/rsa.csv, whole or not at all (a killed analysis leaves the previous file)."""
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "rsa.csv", text.getvalue())
    return out / "rsa.csv"


def write_rsa(rows: list[dict], out: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv_path, png_path = write_rsa_csv(rows, out), out / "rsa.png"
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for run in dict.fromkeys(r["run"] for r in rows):
        points = [r for r in rows if r["run"] == run]
        label = f"{points[0]['method']} vs base ({Path(run).name})"
        ax.plot(
            [p["layer"] for p in points],
            [p["rsa"] for p in points],
            marker="o",
            label=label,
            color=_color(points[0]["method"]),
        )
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("RSA similarity to the base model")
    if len({r["run"] for r in rows}) <= 12:  # a legend of a whole study's runs would not fit the figure
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return csv_path, png_path


def _color(method: str | None) -> str | None:
    """The method's colour, as in the report's figures; matplotlib's own for a method not registered."""
    found = find_method(method)
    return found.color if found else None


def run_rsa(
    base: str | None,
    runs: list[str],
    data: str,
    task: str,
    count: int,
    seed: int,
    max_length: int,
    out: Path,
    progress: bool = True,
) -> tuple[list[dict], Path, Path]:
    """`adapterlab rsa`: the curves of `runs` written to rsa.csv and rsa.png in the folder `out`
    (checked before any work, never a folder adapterlab did not write); (rows, csv, png)."""
    check_analysis_output(out, folder=True)
    rows = rsa_curves(base, runs, data, task, count, seed, max_length, progress=progress)
    mark_analysis_folder(out)
    csv_path, png_path = write_rsa(rows, out)
    return rows, csv_path, png_path
