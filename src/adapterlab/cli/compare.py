"""`adapterlab compare` (methods on your own data, within a time budget) and `adapterlab quickstart`."""

from __future__ import annotations

import argparse
from pathlib import Path

from adapterlab.cli.arguments import parse_columns, positive

RETRY_HELP = "also rerun runs that failed with an error (runs whose process died always rerun)"


def add_compare(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="adapters vs LoRA vs fine-tuning on your own data: a decided comparison within a time budget",
        description="Split one labelled file (or take --train/--dev/--test), plan a design that fits the budget, "
        "run it with convergence stopping, bracketed learning rates and seeds until decided, and "
        "print which method to use, with the evidence. Running the same command again resumes.",
    )
    compare.add_argument(
        "data", nargs="?", help="a labelled CSV/TSV/JSON-lines file, or a folder with one subfolder per class"
    )
    compare.add_argument(
        "--columns",
        type=parse_columns,
        default={},
        help="FIELD=COLUMN pairs, e.g. text=review,label=stars (text_pair=... for sentence pairs)",
    )
    compare.add_argument("--methods", help="comma-separated methods to compare (default adapter,lora,finetune)")
    compare.add_argument("--model", help="backbone folder or hub name (default: the embedded MiniLM)")
    compare.add_argument(
        "--budget", default="30m", help="wall time for the whole comparison, e.g. 10m, 2h (default 30m)"
    )
    compare.add_argument("--out", help="folder of the comparison (default runs/compare-DATA); re-running resumes")
    compare.add_argument(
        "--hub",
        metavar="NAME",
        help="a Hugging Face dataset instead of DATA (its train split, split like a file), e.g. imdb or "
        "glue/sst2; needs the `datasets` package and the Hub or its cache",
    )
    compare.add_argument("--train", help="your own training file (with --dev and --test)")
    compare.add_argument("--dev", help="your own validation file (model selection)")
    compare.add_argument("--test", help="your own test file (the reported numbers)")
    compare.add_argument(
        "--train-size", type=int, help="train on this many examples (default: as many as the budget allows)"
    )
    compare.add_argument(
        "--seeds",
        type=int,
        choices=range(3, 21),
        metavar="N",
        help="exactly N seeds per setting, 3-20 (default: 5, or 3 where the budget is small, then up to 10 while "
        "a comparison is undecided and the budget has room)",
    )
    compare.add_argument(
        "--max-length", type=positive, help="tokens per example (default: the 95th percentile of the data, 32-256)"
    )
    compare.add_argument("--format", default="auto", help="reader of the data (default auto: by extension)")
    compare.add_argument("--encoding", default="utf-8", help="text encoding of the data (default utf-8)")
    compare.add_argument("--retry-failed", action="store_true", help=RETRY_HELP)
    compare.set_defaults(run=cmd_compare)


def add_quickstart(commands) -> None:
    quick = commands.add_parser(
        "quickstart",
        help="offline demo: `adapterlab compare` of adapters and fine-tuning on BBC News "
        "with the embedded MiniLM, within a 20-minute budget",
    )
    quick.add_argument(
        "--out",
        default="runs/quickstart",
        help="folder of the comparison (default runs/quickstart); re-running resumes",
    )
    quick.add_argument("--budget", default="20m", help="wall time (default 20m)")
    quick.add_argument(
        "--methods", help="comma-separated methods (default adapter,finetune; adapter,lora,finetune wants --budget 30m)"
    )
    quick.add_argument("--model", help="another backbone folder (default: the embedded MiniLM)")
    quick.add_argument(
        "--train-size", type=int, help="train on this many articles (default: as many as the budget allows)"
    )
    quick.add_argument("--retry-failed", action="store_true", help=RETRY_HELP)
    quick.add_argument(
        "--seeds",
        type=int,
        choices=range(3, 21),
        metavar="N",
        help="exactly N seeds per setting, 3-20 (default: as the budget allows)",
    )
    quick.set_defaults(run=cmd_quickstart)


def _methods(value: str | None) -> list[str] | None:
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


def cmd_quickstart(args: argparse.Namespace) -> int:
    from adapterlab.quickstart import run_quickstart
    from adapterlab.study.policy_spec import parse_duration

    run_quickstart(
        args.out,
        parse_duration(args.budget),
        _methods(args.methods),
        args.model,
        args.train_size,
        args.seeds,
        retry_failed=args.retry_failed,
    )
    return _unfinished(Path(args.out) / "study", ["adapterlab", *args.argv])


def cmd_compare(args: argparse.Namespace) -> int:
    from adapterlab.compare.data import HUB_PREFIX, source_name
    from adapterlab.compare.run import check_compare_request, run_compare
    from adapterlab.errors import AdapterlabError
    from adapterlab.study.policy_spec import parse_duration

    files = {key: getattr(args, key) for key in ("train", "dev", "test") if getattr(args, key)}
    if args.hub:
        if args.data:
            raise AdapterlabError(f"give DATA ({args.data}) or --hub {args.hub}, not both")
        args.data = HUB_PREFIX + args.hub
    check_compare_request(args.data, files, args.train_size)
    out = args.out or f"runs/compare-{source_name(args.data or args.train)}"
    run_compare(
        args.data,
        out,
        _methods(args.methods),
        args.columns,
        args.model,
        parse_duration(args.budget),
        args.train_size,
        files or None,
        args.format,
        args.encoding,
        args.max_length,
        args.seeds,
        retry_failed=args.retry_failed,
    )
    return _unfinished(Path(out) / "study", ["adapterlab", *args.argv])


def _unfinished(study: Path, command: list[str]) -> int:
    """After a comparison: its runs that failed or died, said last, and exit 3 when there are any."""
    from adapterlab.report.unfinished import unfinished_study_report

    lines, code = unfinished_study_report(study, command)
    for line in lines:
        print(line)
    return code
