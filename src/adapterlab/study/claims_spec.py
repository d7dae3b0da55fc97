"""The `claims:` block of a study spec: the paper's claims (adapterlab/specs/paper_claims.yaml,
C1 to C7) or claims of one's own, each a predicate over the report's tables; which columns a
claim compares (the rule the report applies too), and whether a study's grid can evaluate it.

```yaml
claims:
  - C2                                          # a paper claim, on every cell it can name
  - {id: C2, where: {train_size: 1000}}         # narrowed to some cells
  - {id: my-claim, text: "...", kind: difference, table: main, a: {method: adapter}, b: {method: finetune}}
```
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, get_args

import yaml

from adapterlab.setting import BEST, Column
from adapterlab.study.report_spec import selection_groups

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
    # why this study does not test the claim and what a test would need: the claims table shows the
    # row as `not applicable` with these words (a claim the design cannot reach, said where it is read)
    not_tested: str = ""

    @classmethod
    def from_dict(cls, values: dict) -> Claim:
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
        for key in ("text", "paper", "why", "id", "not_tested"):
            if key in merged and not isinstance(merged[key], str):
                errors.append(f"{where}.{key}: must be a string")
        if "not_tested" in entry and isinstance(entry["not_tested"], str) and not entry["not_tested"].strip():
            errors.append(f"{where}.not_tested: must say why the study does not test the claim (it is empty)")
        rows = merged.get("rows")
        if rows is not None and rows != ENCODER_LAYERS and not isinstance(rows, list):
            errors.append(f"{where}.rows={rows!r}: must be a list of table rows or {ENCODER_LAYERS!r}")
        for key in ("paper_value", "margin"):
            value = merged.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or (key == "margin" and value <= 0)
            ):
                errors.append(f"{where}.{key}={value!r}: must be a number{' > 0' if key == 'margin' else ''}")
    return errors


def column_matches(column: Column, labels: dict) -> bool:
    """The column carries every one of `labels` with its value."""
    own = column.labels()
    return all(key in own and own[key] == value for key, value in labels.items())


def column_narrowed(column: Column, where: dict) -> bool:
    """`where` holds for the column; a key the column does not carry is an axis its method does not
    vary (by_method: {adapter: {tapt: [false, true]}}), so it does not exclude the column."""
    own = column.labels()
    return all(own[key] == value for key, value in where.items() if key in own)


def pick_columns(columns: list[Column], labels: dict, where: dict) -> list[Column]:
    """The columns a claim's side (`labels`) compares: the column selected on validation (`best`)
    of its group where there is one, else the matching columns."""
    found = [c for c in columns if column_matches(c, labels) and column_narrowed(c, where)]
    selected = [c for c in found if BEST in c.labels().values()]
    return selected or [c for c in found if BEST not in c.labels().values()]


def axis_columns(columns: list[Column], labels: dict, where: dict, axis: str) -> dict[Any, Column]:
    """{value of `axis`: its column} for a spread claim's side: the per-setting columns (none
    selected on validation) that match `labels` and `where` and carry the axis."""
    found = [
        c
        for c in columns
        if column_matches(c, labels) and column_narrowed(c, where) and c.labels().get(axis) not in (None, BEST)
    ]
    return {c.labels()[axis]: c for c in found if BEST not in c.labels().values()}


def _text(labels: dict) -> str:
    return "{" + ", ".join(f"{key}: {_value(value)}" for key, value in labels.items()) + "}"


def _value(value: Any) -> str:
    return (
        ("true" if value else "false")
        if isinstance(value, bool)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def _values(values) -> str:
    return ", ".join(
        _value(v) for v in sorted(values, key=lambda v: (isinstance(v, str), str(v) if isinstance(v, str) else v))
    )


def _no_column(columns: list[Column], side: str, labels: dict, where: dict) -> str:
    """Why no column matches one side of a claim: the first of its labels the grid lacks."""
    candidates = [c for c in columns if column_narrowed(c, where)]
    chosen: dict = {}
    for key, value in labels.items():
        of = f" for {_text(chosen)}" if chosen else ""
        present = {c.labels()[key] for c in candidates if key in c.labels()}
        if not present:
            return f"{side}={_text(labels)}: the grid does not vary {key}{of}; add a {key} axis (grid, or by_method for one method)"
        if value not in present:
            return f"{side}={_text(labels)}: no column has {key}={_value(value)}{of} (the grid has {key} {_values(present)})"
        chosen[key] = value
        candidates = [c for c in candidates if c.labels().get(key) == value]
    return f"{side}={_text(labels)}: no column matches it with where={_text(where)}"


def _side_problem(columns: list[Column], side: str, labels: dict, where: dict) -> str | None:
    found = pick_columns(columns, labels, where)
    if not found:
        return _no_column(columns, side, labels, where)
    if len(found) > 1:
        differing = [
            key
            for key in dict.fromkeys(k for c in found for k in c.labels())
            if len({c.labels().get(key) for c in found}) > 1 and key not in labels
        ]
        hint = (
            f"narrow it with where: {{{differing[0]}: ...}}" if differing else "name the column's labels in the claim"
        )
        return (
            f"{side}={_text(labels)} matches {len(found)} columns ({'; '.join(c.name for c in found)}), which differ in "
            f"{', '.join(differing) or 'their labels'}: {hint}"
        )
    return None


def claim_problem(claim: Claim, columns: list[Column]) -> str | None:
    """Why `claim` cannot be evaluated on a table with these columns, naming what is missing; None
    when it can. The claim's `where` holds grid labels only (see fixed_where)."""
    if claim.kind in ("difference", "every_row"):
        return _side_problem(columns, "a", claim.a, claim.where) or _side_problem(columns, "b", claim.b, claim.where)
    axis = str(claim.axis)
    present = {c.labels()[axis] for c in columns if c.labels().get(axis) not in (None, BEST)}
    if len(present) < 2:
        has = f"the grid has only {axis}={_values(present)}" if present else f"{axis} is not an axis of the grid"
        return f"needs two values of {axis} for a={_text(claim.a)} and b={_text(claim.b)}; {has}"
    if claim.kind == "trend":
        pairs = [
            v
            for v in present
            if len(pick_columns(columns, {**claim.a, axis: v}, claim.where)) == 1
            and len(pick_columns(columns, {**claim.b, axis: v}, claim.where)) == 1
        ]
        if len(pairs) < 2:
            return (
                f"needs one column of a={_text(claim.a)} and one of b={_text(claim.b)} at two values of {axis} "
                f"(the grid has {axis} {_values(present)}; both sides at: {_values(pairs) or 'none'})"
            )
        return None
    for side, labels in (("a", claim.a), ("b", claim.b)):
        found = axis_columns(columns, labels, claim.where, axis)
        if len(found) < 2:
            return f"needs two values of {axis} for {side}={_text(labels)}; its columns have {axis} {_values(found) or 'none'}"
    return None


def fixed_where(claim: Claim, label_keys: set[str], constants: dict) -> tuple[Claim, str | None]:
    """The claim with its `where` reduced to grid labels, and why it cannot hold: a `where` key
    that is no grid label must equal the setting every run shares (train_size: 1000 of a study
    whose base has k=1000)."""
    fixed = {key: value for key, value in claim.where.items() if key not in label_keys}
    for key, value in fixed.items():
        if constants.get(key, object()) != value:
            have = constants.get(key, "a value that varies")
            return claim, f"where {key}={value!r}: the study runs {key}={have!r}"
    return dataclasses.replace(claim, where={k: v for k, v in claim.where.items() if k not in fixed}), None


def planned_columns(settings: list, select: tuple[str, ...]) -> list[Column]:
    """The main table's columns for these settings (study.spec's PlannedRun.setting): every
    setting's column and the columns selected on validation (report/tables.py makes the same)."""
    columns = list(dict.fromkeys(setting.column for setting in settings))
    return columns + list(selection_groups(columns, select))


def check_claims_fit(
    claims: Sequence[Claim], runs: list, analysis: Any, select: tuple[str, ...], tail: int, source: str
) -> list[str]:
    """One error line per claim that the study cannot evaluate, naming what is missing: the table
    it is measured on (rsa: an analysis rsa block; crosslingual: its crosslingual block; the fall
    after the best: curves of more than `tail` evaluations), or the columns it compares (a side no
    column matches, two columns where one is meant, a trend or spread axis with one value).
    claims: the spec's, resolved (resolve_claims); runs: study.spec's PlannedRun (setting, config);
    analysis: its AnalysisOptions."""
    if not runs:
        return []
    constants = {
        key: value
        for key, value in runs[0].config.to_dict().items()
        if all(r.config.to_dict().get(key) == value for r in runs[1:])
    }
    errors = []
    for index, claim in enumerate(claims):
        if claim.not_tested:
            continue  # the study says why it does not test it: nothing of it has to fit
        where = f"{source}: claims[{index}] {claim.id}"
        tasks = None  # the tasks whose runs the claim's table holds (None: every task)
        if claim.table == "rsa":
            if analysis.rsa is None:
                errors.append(
                    f"{where}: is measured on the RSA table (table: rsa), which needs an analysis: {{rsa: ...}} block"
                )
                continue
            tasks = {analysis.rsa.task}
        elif claim.table.startswith("crosslingual:"):
            task = claim.table.split(":", 1)[1]
            tasks = set(analysis.crosslingual) if task == "*" else {task} & set(analysis.crosslingual)
            if not tasks:
                block = "a crosslingual: block" if task == "*" else f"a crosslingual: {{{task}: ...}} entry"
                errors.append(
                    f"{where}: is measured on zero-shot cross-lingual tables (table: {claim.table}), which need {block} in analysis:"
                )
                continue
        elif claim.table == "overfitting_gap":
            short = next((r for r in runs if not r.config.eval_every and r.config.epochs < tail + 1), None)
            if short is not None:
                errors.append(
                    f"{where}: measures the fall of the validation metric over the {tail} evaluations after the best "
                    f"(gates.tail), but {short.key} evaluates {short.config.epochs} time(s) (epochs {short.config.epochs}, "
                    f"no eval_every): set eval_every, or epochs of at least {tail + 1}"
                )
                continue
        settings = [r.setting for r in runs if tasks is None or r.setting.task in tasks]
        columns = planned_columns(settings, select)
        claim, problem = fixed_where(claim, {key for c in columns for key in c.labels()}, constants)
        problem = problem or claim_problem(claim, columns)
        if problem:
            errors.append(f"{where}: {problem}")
    return errors


def extended_cells(claims: object, select: tuple[str, ...] | list[str]) -> str:
    """Which cells the sequential rule (policy/sequential.py) may give more seeds: "every cell"
    when a tested claim compares cells other than each selected group's choice (C5's spread over
    every learning rate, a claim naming a value of an axis the report selects in a, b or where, or a
    trend along such an axis), "none" when the
    spec has claims and tests none of them, else "chosen points" (one per selected group: C2's
    and C4's comparisons of each method at its best, and the main table's tests without claims)."""
    if not claims:
        return "chosen points"
    tested = [claim for claim in resolve_claims(claims) if not claim.not_tested]
    if not tested:
        return "none"

    def beyond_choice(claim: Claim) -> bool:  # a value of a selected axis, named or swept
        named = set(claim.a) | set(claim.b) | set(claim.where)
        return claim.kind == "spread" or bool(set(select) & named) or claim.axis in set(select)

    if any(beyond_choice(claim) for claim in tested):
        return "every cell"
    return "chosen points"


def claim_order(claim_id: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key reading the numbers in a claim id as numbers: C2 before C10."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", claim_id) if part
    )
