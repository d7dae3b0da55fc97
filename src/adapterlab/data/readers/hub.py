"""Hugging Face `datasets` datasets (the optional `datasets` package, imported on use)."""

from __future__ import annotations

from adapterlab.data.example import Example
from adapterlab.data.readers.base import to_example
from adapterlab.data.readers.tables import default_columns
from adapterlab.errors import AdapterlabError


def read_hub(
    name: str, split: str, columns: dict[str, str] | None = None, data_files: dict[str, str] | None = None
) -> list[Example]:
    """A Hugging Face `datasets` dataset: a hub name such as "glue/rte", or a builder ("csv",
    "json") with local data_files. Class-label integers become their names."""
    try:
        import datasets
    except ImportError:
        raise AdapterlabError("hub datasets need the `datasets` package: pip install 'adapterlab[hub]'") from None
    builder, _, config = name.partition("/")
    try:
        dataset = datasets.load_dataset(builder, config or None, split=split, data_files=data_files)
    except Exception as err:  # datasets raises many types; the user needs one line
        raise AdapterlabError(
            f"dataset {name!r} split {split!r} could not be loaded: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from None
    mapping = dict(columns or {}) or default_columns(dataset.column_names)
    for column in mapping.values():
        if column not in dataset.column_names:
            raise AdapterlabError(
                f"dataset {name!r}: no column {column!r}; columns are {', '.join(dataset.column_names)}"
            )
    label_feature = dataset.features.get(mapping.get("label", ""))
    names_of = getattr(label_feature, "names", None)
    examples = []
    for index, record in enumerate(dataset):
        values = {field: record[column] for field, column in mapping.items()}
        if names_of is not None and isinstance(values.get("label"), int):
            if values["label"] < 0:
                continue  # GLUE test splits carry -1: no label
            values["label"] = names_of[values["label"]]
        examples.append(to_example(values, f"{name}[{split}]:{index}"))
    return examples
