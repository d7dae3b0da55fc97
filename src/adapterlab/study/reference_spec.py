"""The `reference:` block of a study spec: published numbers, each naming one cell of a report
table. Checked with the rest of the spec, so that a typo in a key or a value is an error now,
not a number that silently never appears beside ours.

```yaml
reference:
  - {task: cola, method: finetune, train_size: 1000, value: NN.N}     # a main-table cell
  - {task: cola, method: adapter, adapter_size: best, train_size: 1000, value: NN.N}
  - {task: xnli, language: all, method: adapter, value: NN.N}          # a cross-lingual table cell
```
Values are on the tables' scale (×100), like the paper's; `std` and `note` may go beside them.
"""

from __future__ import annotations

from adapterlab.setting import Column
from adapterlab.study.analysis_spec import AnalysisOptions

META_KEYS = ("value", "std", "note")
AVERAGE_ROWS = ("all", "target", "distant")


def check_reference(
    reference: object,
    runs: list,
    analysis: AnalysisOptions | None,
    source: str,
    select: tuple[str, ...] = ("adapter_size",),
) -> list[str]:
    """One error line per reference entry that names no cell of this study's tables. analysis: the
    spec's typed analysis block (its cross-lingual tasks' languages are cells too)."""
    if reference in (None, []):
        return []
    if not isinstance(reference, list):
        return [f"{source}: reference must be a list of mappings such as {{task: cola, method: finetune, value: NN.N}}"]
    columns = _columns_by_task(runs, select)
    label_keys = sorted(set().union(*(run.labels for run in runs)))
    crosslingual = analysis.crosslingual if analysis is not None else {}
    errors = []
    for index, item in enumerate(reference):
        errors += _check_entry(item, f"{source}: reference[{index}]", columns, label_keys, crosslingual)
    return errors


def _columns_by_task(runs: list, select: tuple[str, ...]) -> dict[str, set[Column]]:
    """{task: the columns of its main-table row}: every run's column, and the columns the report
    selects on validation (e.g. adapter_size: best) where they choose among more than one."""
    columns: dict[str, set[Column]] = {}
    for run in runs:
        columns.setdefault(run.setting.task, set()).add(run.setting.column)
    for names in columns.values():
        groups: dict[Column, int] = {}
        for column in names:
            selected = column.selected(select)
            if selected is not None:
                groups[selected] = groups.get(selected, 0) + 1
        names.update(best for best, count in groups.items() if count > 1)
    return columns


def _check_entry(
    item: object, where: str, columns: dict[str, set[Column]], label_keys: list[str], crosslingual: dict
) -> list[str]:
    """The errors of one reference entry: its keys, its numbers, and the cell it names."""
    if not isinstance(item, dict):
        return [f"{where}: must be a mapping: task, the grid labels of one table cell, and value"]
    unknown = [key for key in item if key not in label_keys and key not in META_KEYS and key != "language"]
    if unknown:
        return [f"{where}.{unknown[0]}: unknown key; allowed: {', '.join([*label_keys, 'language', *META_KEYS])}"]
    errors = []
    value = item.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        errors.append(f"{where}.value={value!r}: must be a number, on the tables' ×100 scale")
    std = item.get("std")
    if std is not None and (not isinstance(std, (int, float)) or isinstance(std, bool)):
        errors.append(f"{where}.std={std!r}: must be a number, on the tables' ×100 scale")
    if item.get("note") is not None and not isinstance(item["note"], str):
        errors.append(f"{where}.note: must be a string (free text), got {type(item['note']).__name__}")
    task = item.get("task")
    if task not in columns:
        return [*errors, f"{where}.task={task!r}: not a task of this study ({', '.join(columns)})"]
    if "language" in item:
        languages = [*crosslingual[task].languages, *AVERAGE_ROWS] if task in crosslingual else []
        if item["language"] not in languages:
            allowed = ", ".join(languages) if languages else f"none: the spec has no analysis.crosslingual.{task}"
            return [
                *errors,
                f"{where}.language={item['language']!r}: not a row of the {task} cross-lingual table ({allowed})",
            ]
    column = Column.from_labels({key: v for key, v in item.items() if key not in META_KEYS and key != "language"})
    if column not in columns[task]:
        names = sorted(c.name for c in columns[task])
        errors.append(
            f"{where}: names no column of the {task} table ({column.name!r}); its columns: {', '.join(names)}"
        )
    return errors
