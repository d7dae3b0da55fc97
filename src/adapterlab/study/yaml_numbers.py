"""YAML as a researcher writes it: `lr: 1e-3` is a number.

PyYAML implements YAML 1.1, whose floats need a dot, so `1e-3` and `5E5` load as strings and a
spec's learning rate would be refused as "not a number". YAML 1.2 (the current standard, and
what most other tools read) makes them floats; this loader adds that one rule to PyYAML's safe
loader and changes nothing else.
"""

from __future__ import annotations

import re

import yaml


class SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader plus YAML 1.2's exponent floats without a dot (1e-3, 2E+5, 3.e4)."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str):
    """yaml.safe_load with YAML 1.2 exponent floats. Raises yaml.YAMLError as safe_load does."""
    return yaml.load(text, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader
