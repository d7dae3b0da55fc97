"""The `gates:` block of a study spec: the validity gates its verdicts must pass (report/gates.py
computes them from the run records).

```yaml
gates: {tolerance: 0.5, share: 0.5, margin: 5, tail: 3}   # the defaults
gates: {edge: false}                                      # off: every table that would use it says so
```
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from adapterlab.data.tasks import CHANCE_MARGIN


@dataclass(frozen=True)
class GateOptions:
    """The gates of a study (its spec's `gates:` block). Points are on the tables' ×100 scale."""

    edge: bool = True  # gate a selected cell whose choice is at the end of its grid
    not_converged: bool = True  # gate a cell whose runs were still improving when they stopped
    did_not_learn: bool = True  # gate a cell no better than a constant predictor
    tolerance: float = 0.5  # points: a rise over the last epoch above this is still learning
    share: float = 0.5  # a cell trips a per-run gate when MORE than this share of its seeds do
    margin: float = (
        100 * CHANCE_MARGIN
    )  # 5 points of the chance-corrected score (MCC ×100, ...) within which a cell did not learn
    tail: int = 3  # C6: evaluations after the best over which the fall from the best is measured

    @classmethod
    def from_raw(cls, raw: object) -> GateOptions:
        """From a checked block (check_gates); None or {} gives the defaults."""
        return cls(**raw) if isinstance(raw, dict) else cls()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def switched_off(self) -> list[str]:
        """The gates this study does not apply, by name (said in every table that would use them)."""
        return [
            name
            for name, on in (
                ("edge", self.edge),
                ("not converged", self.not_converged),
                ("did not learn", self.did_not_learn),
            )
            if not on
        ]


def check_gates(raw: object, source: str) -> list[str]:
    """One error line per problem of a spec's `gates:` block."""
    if raw in (None, {}):
        return []
    if not isinstance(raw, dict):
        return [f"{source}: gates must be a mapping such as {{tolerance: 0.5, margin: 5}}"]
    fields = {f.name: f for f in dataclasses.fields(GateOptions)}
    errors = []
    for key, value in raw.items():
        if key not in fields:
            errors.append(f"{source}: gates.{key}: unknown field; allowed: {', '.join(fields)}")
        elif fields[key].type == "bool" and not isinstance(value, bool):
            errors.append(f"{source}: gates.{key}={value!r}: must be true or false")
        elif fields[key].type == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            errors.append(f"{source}: gates.{key}={value!r}: must be an integer >= 1")
        elif fields[key].type == "float" and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or (key == "share" and value >= 1)
        ):
            allowed = "a number in [0, 1)" if key == "share" else "a number >= 0"
            errors.append(f"{source}: gates.{key}={value!r}: must be {allowed}")
    return errors
