"""The `policy:` block of a study spec: how the runner makes its own evidence valid (policy/).

```yaml
policy:
  convergence: {patience: 3, min_delta: 0.001, min_epochs: 3}   # epochs is a ceiling: each run stops when validation stops improving
  bracket:                                       # grow a grid whose validation-selected value sits at its edge
    lr: {factor: 3, max_points: 6}               #   next rate = edge x 3 (or / 3), at most 6 rates on a line
    adapter_size: {values: [16, 32, 64, 128, 256, 512], max_points: 4}   # or walk a ladder of values
  seeds: {min: 5, max: 20}                       # add seeds to a comparison only while it is undecided
  budget: 2h                                     # the study's wall time over all its sittings (study/sittings.py)
```

Every field is checked with the rest of the spec (check_policy); `PolicyOptions.from_raw` reads a
checked block. What each part does is in policy/run.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from adapterlab.errors import AdapterlabError

# How a run can be made to stop when validation stops improving: the run settings it sets.
CONVERGENCE_FIELDS = ("patience", "min_delta", "min_epochs")
BRACKET_FIELDS = ("factor", "values", "max_points")
SEEDS_FIELDS = ("min", "max")
POLICY_FIELDS = ("convergence", "bracket", "seeds", "budget")
DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


@dataclass(frozen=True)
class Convergence:
    """Stop a run after `patience` evaluations without an improvement larger than `min_delta`
    (the metric's units), but not before `min_epochs` epochs (a slow start, flat for its first
    evaluations, is not convergence); `epochs` is then a ceiling."""

    patience: int = 3
    min_delta: float = 0.001
    min_epochs: int = 3


@dataclass(frozen=True)
class Bracket:
    """Grow `axis` while the selected value is at an edge: the next value beyond it is the edge x
    factor (or / factor below), or the next value of the `values` ladder; at most `max_points`
    values on one line of the grid."""

    axis: str
    factor: float | None = None
    values: tuple | None = None
    max_points: int = 6

    def next_value(self, edge: Any, upward: bool) -> Any:
        """The value beyond `edge` in the given direction, or None when the ladder ends."""
        if self.values is not None:
            ladder = sorted(self.values)
            beyond = [v for v in ladder if (v > edge if upward else v < edge)]
            return (beyond[0] if upward else beyond[-1]) if beyond else None
        value = edge * self.factor if upward else edge / self.factor
        return int(round(value)) if isinstance(edge, int) else float(f"{value:.6g}")


@dataclass(frozen=True)
class SeedPolicy:
    """Seeds 0..min-1 for every run; then, per undecided comparison, one more seed at a time up to max."""

    min: int = 5
    max: int = 20


@dataclass(frozen=True)
class PolicyOptions:
    convergence: Convergence | None = None
    bracket: tuple[Bracket, ...] = ()
    seeds: SeedPolicy | None = None
    budget: float | None = None  # seconds of wall time over all the study's sittings

    @classmethod
    def from_raw(cls, raw: object) -> PolicyOptions:
        """From a checked block (check_policy); None gives no policy."""
        if not isinstance(raw, dict):
            return cls()
        convergence = Convergence(**raw["convergence"]) if isinstance(raw.get("convergence"), dict) else None
        brackets = tuple(
            Bracket(axis, **{**entry, **({"values": tuple(entry["values"])} if "values" in entry else {})})
            for axis, entry in (raw.get("bracket") or {}).items()
        )
        seeds = SeedPolicy(**raw["seeds"]) if isinstance(raw.get("seeds"), dict) else None
        budget = parse_duration(raw["budget"]) if raw.get("budget") is not None else None
        return cls(convergence, brackets, seeds, budget)

    def to_dict(self) -> dict:
        """What study.json stores."""
        return {
            "convergence": None if self.convergence is None else vars(self.convergence),
            "bracket": {
                b.axis: {"factor": b.factor, "values": list(b.values) if b.values else None, "max_points": b.max_points}
                for b in self.bracket
            },
            "seeds": None if self.seeds is None else vars(self.seeds),
            "budget": self.budget,
        }

    @property
    def sequential(self) -> bool:
        return self.seeds is not None and self.seeds.max > self.seeds.min

    def run_settings(self) -> dict:
        """The run settings the policy gives every run (convergence stopping)."""
        if self.convergence is None:
            return {}
        return {
            "early_stop": self.convergence.patience,
            "early_stop_min_delta": self.convergence.min_delta,
            "early_stop_min_epochs": self.convergence.min_epochs,
        }


def parse_duration(value: object) -> float:
    """Seconds of a duration: a number of seconds, or text such as "2h", "30m", "1h30m", "90s".
    Raises AdapterlabError naming the value."""
    number = float(value) if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value) else value
    # ("90" from the command line is seconds, as 90 in a spec is)
    if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
        if number <= 0:
            raise AdapterlabError(f"budget {value!r}: must be longer than 0 seconds")
        return float(number)
    match = DURATION.match(value) if isinstance(value, str) and value.strip() else None
    if match is None or not any(match.groups()):
        raise AdapterlabError(
            f"budget {value!r}: expected a duration such as 30m, 2h, 1h30m or 90s (or a number of seconds)"
        )
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise AdapterlabError(f"budget {value!r}: must be longer than 0 seconds")
    return total


def _positive_int(value: object, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def check_policy(
    raw: object,
    source: str,
    select: tuple[str, ...] = (),
    grid: dict | None = None,
    by_method: dict | None = None,
    base: dict | None = None,
) -> list[str]:
    """One error line per problem of the policy block. `select` (report.select), `grid`,
    `by_method` and `base`: a bracketed axis must be tuned on validation and varied by the grid,
    policy.seeds decides the seeds, and convergence decides early stopping."""
    if raw in (None, {}):
        return []
    where = f"{source}: policy"
    if not isinstance(raw, dict):
        return [f"{where}: must be a mapping with keys {', '.join(POLICY_FIELDS)}"]
    errors = [
        f"{where}.{key}: unknown field; allowed: {', '.join(POLICY_FIELDS)}" for key in raw if key not in POLICY_FIELDS
    ]
    grid, by_method, base = grid or {}, by_method or {}, base or {}
    if raw.get("convergence") is not None:
        errors += _check_convergence(raw["convergence"], f"{where}.convergence", by_method, base)
    brackets = raw.get("bracket")
    if brackets is not None:
        if not isinstance(brackets, dict) or not brackets:
            errors.append(
                f"{where}.bracket: must map grid axes to {{factor: 3}} or {{values: [...]}}, e.g. {{lr: {{factor: 3}}}}"
            )
        else:
            for axis, entry in brackets.items():
                errors += _check_bracket(axis, entry, f"{where}.bracket.{axis}", select, grid, by_method)
    if raw.get("seeds") is not None:
        errors += _check_seeds(raw["seeds"], f"{where}.seeds", grid, base)
    if raw.get("budget") is not None:
        try:
            parse_duration(raw["budget"])
        except AdapterlabError as err:
            errors.append(f"{where}.{err}")
    return errors


def _check_convergence(convergence: object, where: str, by_method: dict, base: dict) -> list[str]:
    """policy.convergence: its fields, and that nothing else in the spec sets early stopping."""
    if not isinstance(convergence, dict):
        return [f"{where}: must be a mapping such as {{patience: 3, min_delta: 0.001}}"]
    errors = [
        f"{where}.{key}: unknown field; allowed: {', '.join(CONVERGENCE_FIELDS)}"
        for key in convergence
        if key not in CONVERGENCE_FIELDS
    ]
    if "patience" in convergence and not _positive_int(convergence["patience"]):
        errors.append(f"{where}.patience={convergence['patience']!r}: must be an integer >= 1 (evaluations)")
    if "min_epochs" in convergence and not _positive_int(convergence["min_epochs"], 0):
        errors.append(f"{where}.min_epochs={convergence['min_epochs']!r}: must be an integer >= 0 (epochs)")
    delta = convergence.get("min_delta", 0.0)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
        errors.append(f"{where}.min_delta={delta!r}: must be a number >= 0 (the metric's units)")
    keys = ("early_stop", "early_stop_min_delta", "early_stop_min_epochs")
    setters = ["base"] if any(k in base for k in keys) else []
    setters += [f"by_method.{m}" for m, v in by_method.items() if isinstance(v, dict) and any(k in v for k in keys)]
    if setters:
        errors.append(f"{where} sets early stopping for every run, and so does the spec's {setters[0]}: keep one")
    return errors


def _check_seeds(seeds: object, where: str, grid: dict, base: dict) -> list[str]:
    """policy.seeds: min >= 3, max >= min, and no seeds of the spec's own."""
    if not isinstance(seeds, dict):
        return [f"{where}: must be a mapping such as {{min: 5, max: 20}}"]
    errors = [
        f"{where}.{key}: unknown field; allowed: {', '.join(SEEDS_FIELDS)}" for key in seeds if key not in SEEDS_FIELDS
    ]
    low, high = seeds.get("min", SeedPolicy.min), seeds.get("max", SeedPolicy.max)
    if not _positive_int(low, 3):
        errors.append(f"{where}.min={low!r}: must be an integer >= 3 (no verdict rests on fewer seeds)")
    elif not _positive_int(high, 3) or high < low:
        errors.append(f"{where}.max={high!r}: must be an integer >= seeds.min ({low})")
    if "seed" in grid or "seed" in base:
        errors.append(
            f"{where} decides the seeds (0..min-1, then more while undecided): drop the spec's "
            f"{'grid.seed' if 'seed' in grid else 'base.seed'}"
        )
    return errors


def _check_bracket(
    axis: str, entry: object, where: str, select: tuple[str, ...], grid: dict, by_method: dict
) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: must be a mapping such as {{factor: 3, max_points: 6}} or {{values: [16, 32, 64]}}"]
    errors = [
        f"{where}.{key}: unknown field; allowed: {', '.join(BRACKET_FIELDS)}"
        for key in entry
        if key not in BRACKET_FIELDS
    ]
    if axis not in select:
        errors.append(
            f"{where}: {axis} is not chosen on validation; add it to report.select (the runner grows what the report selects)"
        )
    lists = [grid.get(axis)] + [values.get(axis) for values in by_method.values() if isinstance(values, dict)]
    lists = [v for v in lists if isinstance(v, list)]
    if not lists:
        errors.append(f"{where}: no grid varies {axis}; give it as a list in grid or by_method (at least one value)")
    has_factor, has_values = entry.get("factor") is not None, entry.get("values") is not None
    if has_factor == has_values:
        errors.append(f"{where}: give exactly one of factor (numeric axes) or values (a ladder)")
    if has_factor:
        factor = entry["factor"]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 1:
            errors.append(f"{where}.factor={factor!r}: must be a number > 1")
        numeric = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for values in lists for v in values
        )
        if lists and not numeric:
            errors.append(f"{where}.factor: {axis} has values that are not positive numbers; use values: [...] instead")
    if has_values:
        ladder = entry["values"]
        if (
            not isinstance(ladder, list)
            or len(ladder) < 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ladder)
        ):
            errors.append(f"{where}.values: must be a list of at least two numbers")
        else:
            missing = sorted({v for values in lists for v in values} - set(ladder))
            if missing:
                errors.append(f"{where}.values: the grid's {axis} {missing[0]!r} is not on the ladder {ladder}")
    points = entry.get("max_points", Bracket.max_points)
    if not _positive_int(points, 2):
        errors.append(f"{where}.max_points={points!r}: must be an integer >= 2")
    return errors
