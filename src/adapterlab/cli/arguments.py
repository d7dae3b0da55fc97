"""argparse types shared by the commands: each turns a bad value into one line and exit 2, and
the parsing of repeated KEY=VALUE options (--set, --only)."""

from __future__ import annotations

import argparse

from adapterlab.errors import AdapterlabError
from adapterlab.train.options import parse_columns

__all__ = ["parse_columns", "positive", "seed", "overrides", "only"]


def positive(value: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into one line and exit 2)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer >= 1") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer >= 1")
    return number


def seed(value: str) -> int:
    """argparse type: numpy's seed range."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer in [0, 4294967295] (numpy's seed range)")
    return number


def overrides(values: list[str] | None) -> dict:
    """--set KEY=VALUE options as {key: value}, the value read as YAML (a number, a list, ...)."""
    from adapterlab.study.yaml_numbers import load_yaml

    found = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise AdapterlabError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=3")
        try:
            parsed = load_yaml(value)
        except Exception:  # noqa: BLE001 - yaml.YAMLError and its scanner errors: the value is a word
            parsed = value
        if isinstance(parsed, bool) and value.strip().lower() not in ("true", "false"):
            parsed = value  # YAML 1.1 reads no/yes/on/off as booleans; here they are words
        found[key.strip()] = parsed
    return found


def only(pairs: list[str] | None) -> dict[str, str]:
    """--only LABEL=VALUE options as {label: value}."""
    found = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise AdapterlabError(f"--only {pair!r}: expected LABEL=VALUE, e.g. train_size=1000 or task=sst2")
        found[key.strip()] = value.strip()
    return found
