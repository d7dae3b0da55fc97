"""`adapterlab train` (its options come from RunConfig: train/options.py) and `adapterlab tasks`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from pathlib import Path

from adapterlab.train.options import add_train_arguments, config_from_args

EXAMPLES = """examples:
  # adapters (m=64) on SST-2, the paper's low-resource protocol: k=1000 from train,
  # 1k validation from the rest of train, the original dev set as test
  adapterlab train --task sst2 --data path/to/glue/SST-2 --train-size 1000 --method adapter --out runs/sst2-adapter

  # full fine-tuning with the same data, seed and schedule
  adapterlab train --task sst2 --data path/to/glue/SST-2 --train-size 1000 --method finetune --out runs/sst2-ft

  # your own CSV with columns "review" and "stars"; plain protocol with train/dev/test files
  adapterlab train --task classification --train tr.csv --dev dev.csv --test te.csv --columns text=review,label=stars --out runs/mine

  # a hub dataset (needs network access), a hub backbone, and TAPT first
  adapterlab train --task rte --hub glue/rte --model roberta-base --tapt --out runs/rte
"""


def add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train one adapter (or fine-tune) on one task and report test metrics",
        description="Train one run: adapter tuning or full fine-tuning, with the same data, seed, schedule, "
        "checkpoint selection (best validation metric) and metrics.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(train)
    train.set_defaults(run=cmd_train)


def add_tasks(commands) -> None:
    tasks = commands.add_parser("tasks", help="list the known tasks with their kind, metric and labels")
    tasks.set_defaults(run=cmd_tasks)


def cmd_train(args: argparse.Namespace) -> int:
    from adapterlab.report.console import train_summary_lines
    from adapterlab.study.claimed_run import train_claimed

    config = config_from_args(args)
    with _info_logs():  # the summary before training, early stopping, resumption: train says what it does
        result = train_claimed(config, Path(args.out), overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) == 0:  # one report per launch, from rank 0
        for line in train_summary_lines(result, args.out):
            print(line)
    return 0 if result.status == "ok" else 3


def cmd_tasks(args: argparse.Namespace) -> int:
    from adapterlab.report.console import task_lines

    for line in task_lines():
        print(line)
    return 0


@contextlib.contextmanager
def _info_logs():
    """The training recipe's INFO messages shown for the length of one command (then WARNING again)."""
    package = logging.getLogger("adapterlab.train")
    level = package.level
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.setLevel(level)
