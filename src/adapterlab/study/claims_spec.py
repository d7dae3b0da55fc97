"""The `claims:` block of a study spec: the paper's claims (adapterlab/specs/paper_claims.yaml,
C1 to C7) or claims of one's own, each a predicate over the report's tables.

```yaml
claims:
  - C2                                          # a paper claim, on every cell it can name
  - {id: C2, where: {train_size: 1000}}         # narrowed to some cells
  - {id: my-claim, text: "...", kind: difference, table: main, a: {method: adapter}, b: {method: finetune}}
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, get_args

import yaml

ClaimKind = Literal["difference", "trend", "every_row", "spread"]
# `rows: encoder_layers`: the layers 1..N of an RSA table, not the embeddings (layer 0), which
# neither method moves measurably (He et al.'s Fig. 2 plots the transformer layers)
ENCODER_LAYERS = "encoder_layers"
DEFAULT_MARGIN = 1.0  # points (×100): "no difference larger than this" is an equivalence verdict
CLAIM_KINDS: tuple[str, ...] = get_args(ClaimKind)
TABLES = ("main", "rsa", "overfitting_gap", "crosslingual:*")  # or crosslingual:<task>


@dataclass(frozen=True)
class Claim:
    """A claim as a predicate: `a` minus `b` (the columns their labels pick), positive.

    difference: averaged over `rows` (default every row but the average), per seed.
    trend: that difference at the smallest value of `axis` minus at its largest.
    every_row: the difference in every row (each tested; Benjamini-Hochberg over the rows).
    spread: b's spread (std) across the values of `axis` minus a's, per seed.
    """

    id: str
    text: str
    kind: str  # one of CLAIM_KINDS
    table: str = "main"  # one of TABLES
    a: dict = field(default_factory=dict)
    b: dict = field(default_factory=dict)
    rows: tuple | str | None = None  # default: every row but the average; ENCODER_LAYERS: layers 1..N
    where: dict = field(default_factory=dict)  # labels every column used must have
    axis: str | None = None  # trend and spread
    paper: str = ""  # the paper's own number or finding, as printed
    paper_value: float | None = None  # the paper's effect on our scale: "seeds needed at the paper's effect"
    margin: float = DEFAULT_MARGIN  # points: within ±margin (two one-sided tests) the verdict is "equivalent"
    why: str = ""  # why the claim is defined this way (shown in the spec file, not in tables)

    @classmethod
    def from_dict(cls, values: dict) -> "Claim":
        values = dict(values)
        if values.get("rows") is not None and values["rows"] != ENCODER_LAYERS:
            values["rows"] = tuple(values["rows"])
        return cls(**values)


@lru_cache(maxsize=1)
def paper_claims() -> dict[str, dict[str, Any]]:
    """The shipped claims of He et al. (2021), by id."""
    return yaml.safe_load(resources.files("adapterlab").joinpath("specs", "paper_claims.yaml").read_text())


def resolve_claims(raw: object) -> list[Claim]:
    """The claims of a checked block (see check_claims)."""
    claims = []
    for entry in raw or []:
        if isinstance(entry, str):
            claims.append(Claim.from_dict({"id": entry, **paper_claims()[entry]}))
        else:
            base = paper_claims().get(entry.get("id"), {})
            claims.append(Claim.from_dict({**base, **entry}))
    return claims


def check_claims(raw: object, source: str) -> list[str]:
    """One error line per problem of the claims block."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        return [f"{source}: claims must be a list of claim ids (C1 to C7) or claim definitions"]
    known = paper_claims()
    fields = {f.name for f in dataclasses.fields(Claim)}
    errors = []
    for index, entry in enumerate(raw):
        where = f"{source}: claims[{index}]"
        if isinstance(entry, str):
            if entry not in known:
                errors.append(f"{where}={entry!r}: not a paper claim; known: {', '.join(known)}")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            errors.append(f"{where}: must be a claim id or a mapping with an 'id'")
            continue
        unknown = sorted(set(entry) - fields)
        if unknown:
            errors.append(f"{where}.{unknown[0]}: unknown field; allowed: {', '.join(sorted(fields))}")
            continue
        merged = {**known.get(entry["id"], {}), **entry}
        missing = [key for key in ("text", "kind") if key not in merged]
        if missing:
            errors.append(f"{where}: claim {entry['id']!r} is not a paper claim, so it needs {' and '.join(missing)}")
            continue
        if merged["kind"] not in CLAIM_KINDS:
            errors.append(f"{where}.kind={merged['kind']!r}: allowed: {', '.join(CLAIM_KINDS)}")
        table = merged.get("table", "main")
        if table not in TABLES and not str(table).startswith("crosslingual:"):
            errors.append(f"{where}.table={table!r}: allowed: {', '.join(TABLES)} or crosslingual:<task>")
        if merged["kind"] in ("trend", "spread") and not merged.get("axis"):
            errors.append(f"{where}: a {merged['kind']} claim needs an axis (e.g. train_size, lr)")
        for key in ("a", "b", "where"):
            if key in merged and not isinstance(merged[key], dict):
                errors.append(f"{where}.{key}: must be a mapping of grid labels, e.g. {{method: adapter}}")
        for key in ("text", "paper", "why", "id"):
            if key in merged and not isinstance(merged[key], str):
                errors.append(f"{where}.{key}: must be a string")
        rows = merged.get("rows")
        if rows is not None and rows != ENCODER_LAYERS and not isinstance(rows, list):
            errors.append(f"{where}.rows={rows!r}: must be a list of table rows or {ENCODER_LAYERS!r}")
        for key in ("paper_value", "margin"):
            value = merged.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or (key == "margin" and value <= 0)):
                errors.append(f"{where}.{key}={value!r}: must be a number{' > 0' if key == 'margin' else ''}")
    return errors
