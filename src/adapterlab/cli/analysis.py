"""Analyses of finished runs: `rsa`, `crosslingual`, `forgetting`, and `claims` over study folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from adapterlab.cli.arguments import positive, seed

RUNS_HELP = "finished run folders (fine-tuning runs need --save-model)"


def add_rsa(commands) -> None:
    from adapterlab.analysis.rsa_run import DEFAULT_MAX_LENGTH, DEFAULT_TOKENS

    rsa = commands.add_parser("rsa", help="layer-wise RSA and linear CKA of tuned models against their base (Fig. 2)")
    rsa.add_argument("--base", help="base model folder or hub name (default: the runs' own backbone)")
    rsa.add_argument("--runs", nargs="+", required=True, help=RUNS_HELP)
    rsa.add_argument("--data", required=True, help="the task's dev file: tokens are sampled from it")
    rsa.add_argument("--task", required=True, help="task of the data file (for its reader)")
    rsa.add_argument(
        "--n",
        type=positive,
        default=DEFAULT_TOKENS,
        help=f"tokens sampled (default {DEFAULT_TOKENS}; special tokens never)",
    )
    rsa.add_argument("--seed", type=seed, default=0)
    rsa.add_argument(
        "--max-length", type=positive, default=DEFAULT_MAX_LENGTH, help="capped at the model's position table"
    )
    rsa.add_argument("--out", required=True, help="folder for rsa.csv and rsa.png")
    rsa.add_argument("--no-progress", action="store_true", help="no progress bar")
    rsa.set_defaults(run=cmd_rsa)


def add_crosslingual(commands) -> None:
    cross = commands.add_parser(
        "crosslingual", help="zero-shot transfer: evaluate English-trained runs on every language"
    )
    cross.add_argument("--runs", nargs="+", required=True, help=RUNS_HELP)
    cross.add_argument(
        "--pattern", required=True, help="test file per language, with {lang}: e.g. data/xtreme/panx/dev-{lang}.tsv"
    )
    cross.add_argument("--languages", required=True, help="comma-separated ISO codes, e.g. en,de,es,zh")
    cross.add_argument(
        "--task", help="task of the language files when its reader differs (e.g. xnli for an mnli-trained run)"
    )
    cross.add_argument("--max-examples", type=positive, help="evaluate at most this many examples per language")
    cross.add_argument("--out", help="JSON file for the per-language metrics")
    cross.add_argument("--no-progress", action="store_true", help="no progress bar")
    cross.set_defaults(run=cmd_crosslingual)


def add_forgetting(commands) -> None:
    from adapterlab.analysis.rsa_run import DEFAULT_MAX_LENGTH

    forget = commands.add_parser(
        "forgetting", help="MLM loss of tuned models on held-out general text vs the base (needs an MLM head)"
    )
    forget.add_argument("--base", help="base model with a pretrained MLM head (default: the runs' backbone)")
    forget.add_argument("--runs", nargs="+", required=True, help=RUNS_HELP)
    forget.add_argument("--text", required=True, help="plain text file, one passage per line, not seen in training")
    forget.add_argument(
        "--max-length", type=positive, default=DEFAULT_MAX_LENGTH, help="capped at the model's position table"
    )
    forget.add_argument("--max-lines", type=positive, help="use at most this many lines")
    forget.add_argument("--seed", type=seed, default=0, help="seed of the masks (the same for every model)")
    forget.set_defaults(run=cmd_forgetting)


def add_claims(commands) -> None:
    claims = commands.add_parser(
        "claims", help="the paper's claims (and a spec's own) checked against one or more study folders"
    )
    claims.add_argument(
        "dirs", nargs="+", help="study folders (their specs' claims: blocks say which claims they test)"
    )
    claims.add_argument("--json", help="also write the results to this JSON file")
    claims.set_defaults(run=cmd_claims)


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def cmd_rsa(args: argparse.Namespace) -> int:
    from adapterlab.analysis.rsa_run import run_rsa
    from adapterlab.report.console import rsa_lines

    rows, csv_path, png_path = run_rsa(
        args.base,
        args.runs,
        args.data,
        args.task,
        args.n,
        args.seed,
        args.max_length,
        Path(args.out),
        progress=not args.no_progress,
    )
    _print(rsa_lines(rows, args.n, csv_path, png_path))
    return 0


def cmd_crosslingual(args: argparse.Namespace) -> int:
    from adapterlab.analysis.transfer import crosslingual_to_file
    from adapterlab.report.console import crosslingual_lines

    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    out = Path(args.out) if args.out else None
    rows = crosslingual_to_file(
        args.runs, args.pattern, languages, args.task, args.max_examples, out, progress=not args.no_progress
    )
    _print(crosslingual_lines(rows, languages))
    if out is not None:
        print(f"per-language metrics: {out}")
    return 0


def cmd_forgetting(args: argparse.Namespace) -> int:
    from adapterlab.analysis.forgetting import forgetting
    from adapterlab.report.console import forgetting_lines

    _print(forgetting_lines(forgetting(args.base, args.runs, args.text, args.max_length, args.seed, args.max_lines)))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from adapterlab.report.claims_file import claims_of_folders
    from adapterlab.report.claims_table import claims_markdown

    results = claims_of_folders(args.dirs, args.json)
    print(claims_markdown(results))
    if args.json:
        print(f"claims: {args.json}")
    return 0
