"""YAML as a researcher writes it, read with limits a hostile file cannot get past.

`lr: 1e-3` is a number: PyYAML implements YAML 1.1, whose floats need a dot, so `1e-3` and `5E5`
would load as strings and a spec's learning rate would be refused as "not a number". YAML 1.2
(the current standard, and what most other tools read) makes them floats; SpecLoader adds that
one rule to PyYAML's safe loader.

Limits, checked while the document is composed, before any Python object is built: its size in
bytes, its nesting depth, and the number of nodes it stands for once every alias is expanded (an
"alias bomb" of a kilobyte stands for billions). Each is one SpecLimitError.
"""

from __future__ import annotations

import re

import yaml

MAX_BYTES = 1 << 20  # the largest shipped spec is 18 KB
MAX_DEPTH = 32  # nesting of mappings and lists; a spec needs about 6
MAX_NODES = 200_000  # scalars, lists and mappings, with every alias expanded; a spec needs a few thousand


class SpecLimitError(yaml.YAMLError):
    """A YAML document over one of the limits (size, depth, expanded size)."""


class SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader plus YAML 1.2's exponent floats without a dot (1e-3, 2E+5, 3.e4), with
    the limits above enforced during composition."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)  # the anchored node, shared
            if id(node) not in self._sizes:  # an alias inside its own anchor: a structure without end
                raise SpecLimitError(
                    f"line {event.start_mark.line + 1}: alias *{event.anchor} refers to a node that contains it"
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise SpecLimitError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1) for key, value in node.value)
        else:
            size = 1
        if size > MAX_NODES:
            raise SpecLimitError(
                f"line {node.start_mark.line + 1}: stands for more than {MAX_NODES:,} values once its aliases are "
                "expanded (an alias bomb?)"
            )
        self._sizes[id(node)] = size
        return node


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str):
    """yaml.safe_load with YAML 1.2 exponent floats and the limits above. Raises yaml.YAMLError
    as safe_load does (SpecLimitError for a limit)."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise SpecLimitError(f"larger than {MAX_BYTES // 1024} KB")
    loader = SpecLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
