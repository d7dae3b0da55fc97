"""`adapterlab claims`: the claims of one or more study folders decided as one family, and
optionally written as JSON."""

from __future__ import annotations

from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.report.build import assemble
from adapterlab.report.claims import ClaimResult, decide
from adapterlab.report.claims_table import claims_json
from adapterlab.runs import json_value, refuse_foreign_file, refuse_output_below_a_file, write_json_atomic


def claims_of_folders(dirs: list[str], json_out: str | None = None) -> list[ClaimResult]:
    """The claims every folder's spec tests, decided together (the rows of one claims table are
    one family, whatever study they come from); with json_out, also written there (checked
    before any work: never a file adapterlab did not write)."""
    if json_out:
        refuse_output_below_a_file(json_out)
        refuse_foreign_file(
            json_out,
            lambda text: (
                isinstance(value := json_value(text), list)
                and all(isinstance(row, dict) and "id" in row and "verdict" in row for row in value)
            ),
            "an earlier claims file of adapterlab claims",
            "--json",
        )
    seen: dict[Path, str] = {}
    for folder in dirs:  # one study given twice would count its rows twice in the family
        where = Path(folder).resolve()
        if where in seen:
            raise AdapterlabError(f"{folder}: the same folder as {seen[where]}; give each study once")
        seen[where] = folder
    results: list[ClaimResult] = []
    names: dict[str, str] = {}
    for folder in dirs:
        tables = assemble(Path(folder))
        name = tables.plan.name  # a spec's name (None for a study planned without one)
        if name is not None and name in names:
            raise AdapterlabError(
                f"{folder}: the same study ({name}) as {names[name]}, or a copy of it; give each study once"
            )
        if name is not None:
            names[name] = folder
        results.extend(tables.claims)
    results = decide(results)  # by claim, each claim's rows in the order of the folders given
    if not results:
        raise AdapterlabError(f"no claims: none of {', '.join(dirs)} has a claims block in its spec")
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(json_out), claims_json(results))
    return results
