"""The `report:` block of a study spec: how `study report` lays out its tables.

```yaml
report: {layout: paper}     # a row per setting, a column per task (as the paper prints them)
report: {layout: tasks-as-rows}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Layout = Literal["paper", "tasks-as-rows"]
LAYOUTS: tuple[str, ...] = get_args(Layout)


@dataclass(frozen=True)
class ReportOptions:
    layout: str = "paper"  # one of LAYOUTS

    @classmethod
    def from_raw(cls, raw: object) -> "ReportOptions":
        """From a checked block (see check_report); an absent block gives the defaults."""
        return cls(**raw) if isinstance(raw, dict) else cls()


def check_report(report: object, source: str) -> list[str]:
    """One error line per problem of the report block."""
    if report in (None, {}):
        return []
    if not isinstance(report, dict):
        return [f"{source}: report must be a mapping such as {{layout: paper}}"]
    errors = [f"{source}: report.{key}: unknown field; allowed: layout" for key in report if key != "layout"]
    if "layout" in report and report["layout"] not in LAYOUTS:
        errors.append(f"{source}: report.layout={report['layout']!r}: allowed: {', '.join(LAYOUTS)}")
    return errors
