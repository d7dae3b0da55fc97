"""The one internal example format every reader produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled (or unlabelled) example.

    Sentence tasks fill `text` (and `text_pair` for pairs); `label` is a class name, or a float
    for regression. Token tasks fill `tokens` and one tag per token in `tags`.
    `source` is "file:line" so errors and audits can point at where the example came from.
    """

    text: str | None = None
    text_pair: str | None = None
    label: str | float | None = None
    tokens: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    source: str = ""


@dataclass(frozen=True)
class Splits:
    """Train / validation (checkpoint selection) / test (reported once, for the best checkpoint)."""

    train: list[Example]
    validation: list[Example]
    test: list[Example]
    protocol: str  # "low-resource" or "plain"
    labels: tuple[str, ...] = ()  # the label set, decided from the whole training file (empty: regression)
