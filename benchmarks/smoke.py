"""`--smoke`: what every benchmark here runs in CI so that none rots (tests/test_benchmarks_smoke.py).

A smoke run takes a step or two on a tiny random BERT (hidden 32, 2 layers, a WordPiece
vocabulary of the toy task's words) and a toy sentiment task written here, needs no ../shared
data and no download, and prints the same lines as a real run: its numbers measure nothing.
"""

from __future__ import annotations

import argparse
import atexit
import random
import shutil
import tempfile
from pathlib import Path

WORDS = (
    "the a film movie great good bad awful plot actor story fun dull best worst love hate is was and but not very "
    "boring brilliant slow music scene ending cast script"
).split()


def add_smoke_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a step or two on a tiny random model and toy data, for CI: checks that the script runs, measures nothing",
    )


def committed_records(description: str, results: Path) -> bool:
    """The arguments of a benchmark that reads committed records only (its --smoke is the same
    run): whether `results` is here to read; where it is not, says it was skipped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="the same run (it reads committed records only)")
    parser.parse_args()
    if not results.is_dir():
        print(f"skipped: {results} is absent")
        return False
    return True


def tiny_backbone(folder: Path) -> Path:
    """A random BERT with a WordPiece vocabulary that covers the toy task's words."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = list(
        dict.fromkeys(
            [
                "[PAD]",
                "[UNK]",
                "[CLS]",
                "[SEP]",
                "[MASK]",
                *WORDS,
                *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"],
                *"abcdefghijklmnopqrstuvwxyz.,!?",
            ]
        )
    )
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    transformers.BertTokenizerFast.from_pretrained(folder, do_lower_case=True).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def toy_task(folder: Path, train: int = 80, dev: int = 30) -> Path:
    """train.tsv and dev.tsv in GLUE SST-2's layout: one cue word decides the label."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train.tsv", train), ("dev.tsv", dev)):
        rows = ["sentence\tlabel"]
        for _ in range(count):
            label = rng.choice("01")
            cue = rng.choice(["great", "good", "best", "fun"] if label == "1" else ["bad", "awful", "dull", "worst"])
            rows.append(
                " ".join(rng.sample(["the", "film", "plot", "was", "very", "story", "cast"], 4) + [cue]) + f"\t{label}"
            )
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


def smoke_folder() -> Path:
    """A temporary folder removed when the process exits (after the children it started)."""
    folder = Path(tempfile.mkdtemp(prefix="adapterlab-smoke-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def apply_smoke(args: argparse.Namespace, **settings: object) -> Path | None:
    """With --smoke: the tiny backbone as args.model and the given settings on args; returns the
    smoke run's temporary folder (None without --smoke). A child process started with --model keeps it."""
    if not args.smoke:
        return None
    folder = smoke_folder()
    if getattr(args, "model", None) is None:
        args.model = str(tiny_backbone(folder / "tiny-bert"))
    for key, value in settings.items():
        setattr(args, key, value)
    return folder
