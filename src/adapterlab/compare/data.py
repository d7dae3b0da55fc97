"""The data of `adapterlab compare`: one labelled file (or a folder per class, or a Hugging Face
dataset name) as users have it, split once into train / validation / test pools, stratified by
label, with the split seed and sizes recorded; or the user's own three files. Sampling to a
budget happens later (compare/plan.py) and is recorded the same way.

Everything is written to DIR/data/ as JSON lines ({text, [text_pair], label}) with split.json
beside them, so the study reads fixed files and a rerun reuses the same split.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adapterlab.data.example import Example
from adapterlab.data.readers import read_examples, read_hub
from adapterlab.data.tasks import get_task
from adapterlab.errors import AdapterlabError
from adapterlab.fingerprint import fingerprint
from adapterlab.package_data import is_package_path, resolve_package_path
from adapterlab.runs import write_json_atomic

SPLIT_FILE = "split.json"
SPLIT_SEED = 1234  # the one split of a compare folder; recorded, and never drawn again
TEST_SHARE, VALIDATION_SHARE = 0.2, 0.1  # of one file: the test and validation pools (the rest trains)
GENERIC_NAMES = {"data", "train", "dataset", "all"}  # a file or folder named so is named after its parent folder
REGRESSION_MIN_VALUES = 20  # numeric labels with at least this many distinct values are a regression target

HUB_PREFIX = "hub:"  # DATA that names a Hugging Face dataset (`compare --hub NAME`), not a file


@dataclass(frozen=True)
class ComparisonData:
    """The pools a comparison draws from, and how they were made (split.json)."""

    name: str  # the task's name in the study (the file's stem)
    kind: str  # "classification" or "regression"
    pair: bool
    source: str  # what the user gave
    fingerprint: str  # of the source's content
    seed: int
    pools: dict[str, int]  # split -> examples
    labels: dict[str, int] = field(default_factory=dict)  # classification: label -> count in the whole data
    # how the user's files are read (data_format, columns, encoding as given): DIR/best/ reads new
    # files this way, not as the JSON lines compare writes its samples in
    reading: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        return {("classification", False): "classification", ("classification", True): "pair-classification"}.get(
            (self.kind, self.pair), "regression"
        )


def _kind(examples: list[Example]) -> str:
    """classification unless every label is a number and there are many distinct values."""
    values = []
    for example in examples:
        try:
            values.append(float(example.label))
        except (TypeError, ValueError):
            return "classification"
    distinct = set(values)
    return (
        "regression"
        if len(distinct) >= REGRESSION_MIN_VALUES or any(v != int(v) for v in distinct if math.isfinite(v))
        else "classification"
    )


def source_name(source: str) -> str:
    """What a comparison of `source` is called: the file's stem (its folder's name for a generic
    stem such as train), or a Hub dataset's last name part (hub:glue/sst2: sst2)."""
    if source.startswith(HUB_PREFIX):
        return source[len(HUB_PREFIX) :].rstrip("/").split("/")[-1] or "data"
    path = Path(source.rstrip("/"))
    return (path.parent.name if path.stem.lower() in GENERIC_NAMES else path.stem) or "data"


def read_user_data(
    path: str, columns: dict[str, str], fmt: str = "auto", encoding: str = "utf-8"
) -> tuple[list[Example], str, bool]:
    """Every example of the user's file or folder (or, named `hub:NAME`, the train split of a
    Hugging Face dataset), its kind, and whether it is a pair task. Read first as text
    classification (labels as written, class-label ids as their names); a numeric target is then
    a regression."""
    if path.startswith(HUB_PREFIX):
        examples = read_hub(path[len(HUB_PREFIX) :], "train", columns or None)
        pair = any(e.text_pair is not None for e in examples)  # the dataset's own pair columns count too
        if not examples:
            raise AdapterlabError(f"dataset {path[len(HUB_PREFIX) :]!r}: its train split has no labelled example")
    else:
        pair = "text_pair" in columns
        examples = read_examples(
            path, get_task("pair-classification" if pair else "classification"), fmt, columns, encoding=encoding
        )
    kind = _kind(examples)
    if kind == "regression":
        _check_target([float(e.label) for e in examples], path)
    if kind == "classification":
        counts = Counter(str(e.label) for e in examples)
        if len(counts) < 2:
            only = next(iter(counts))
            raise AdapterlabError(
                f"{path}: every example has the label {only!r}; a comparison needs at least two classes "
                "(or numeric labels for regression); check --columns label=..."
            )
        rare = [label for label, count in counts.items() if count < 3]
        if rare:
            raise AdapterlabError(
                f"{path}: label {rare[0]!r} has {counts[rare[0]]} example(s); a stratified train / validation / test "
                "split needs at least 3 of each class"
            )
    return examples, kind, pair


def _check_target(values: list[float], path: str) -> None:
    """A regression target that can be compared on: finite, and not one value everywhere."""
    bad = next((v for v in values if not math.isfinite(v)), None)
    if bad is not None:
        raise AdapterlabError(f"{path}: a numeric label is {bad}; every label must be a finite number")
    if len(set(values)) < 2:
        raise AdapterlabError(
            f"{path}: every example has the label {values[0]:g}; a regression needs a target that varies"
        )


def stratified_split(
    examples: list[Example], shares: dict[str, float], seed: int, stratify: bool
) -> dict[str, list[Example]]:
    """Split `examples` into parts of the given shares (the last part takes the rest), the same
    share of every label in every part when `stratify`; deterministic for a seed."""
    rng = random.Random(seed)
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(str(example.label) if stratify else "", []).append(example)
    parts: dict[str, list[Example]] = {name: [] for name in shares}
    names = list(shares)
    for key in sorted(groups):
        members = list(groups[key])
        rng.shuffle(members)
        start = 0
        for name in names[:-1]:
            count = max(1, round(shares[name] * len(members))) if stratify else round(shares[name] * len(members))
            parts[name] += members[start : start + count]
            start += count
        parts[names[-1]] += members[start:]
    for name in names:
        rng.shuffle(parts[name])
    return parts


def sample(examples: list[Example], size: int, seed: int, stratify: bool) -> list[Example]:
    """Exactly `size` examples, each label in proportion (at least one of each when it fits): the
    per-label shares are rounded, so what rounding leaves short is drawn from the rest at random
    (BBC News at k=50 gave 49)."""
    if size >= len(examples):
        return list(examples)
    parts = stratified_split(examples, {"kept": size / len(examples), "rest": 1.0}, seed, stratify)
    rest = list(parts["rest"])
    random.Random(seed).shuffle(rest)
    return (parts["kept"] + rest)[:size]


def _record(example: Example, pair: bool, kind: str) -> dict:
    record = {"text": example.text, "label": float(example.label) if kind == "regression" else str(example.label)}
    if pair:
        record["text_pair"] = example.text_pair
    return record


def write_split(folder: Path, parts: dict[str, list[Example]], pair: bool, kind: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, examples in parts.items():
        path = folder / f"{name}.jsonl"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(json.dumps(_record(e, pair, kind), ensure_ascii=False) + "\n" for e in examples))
        tmp.replace(path)


def prepare_pools(
    source: str,
    columns: dict[str, str],
    fmt: str = "auto",
    encoding: str = "utf-8",
    files: dict[str, str] | None = None,
) -> tuple[ComparisonData, dict[str, list[Example]]]:
    """Read the user's data and split it once into train / validation / test pools (or take the
    user's own three files), stratified by label; write nothing yet (the caller writes the
    sampled files and split.json once the plan is known)."""
    if files:
        parts, kinds, pair = {}, set(), False
        for split, path in files.items():  # --train/--dev/--test: the pools train, validation and test
            examples, kind, pair = read_user_data(path, columns, fmt, encoding)
            parts[{"dev": "validation"}.get(split, split)] = examples
            kinds.add(kind)
        kind = "classification" if "classification" in kinds else "regression"
        every = [e for part in parts.values() for e in part]
        train = Path(files["train"])
        name = train.parent.name if train.stem.lower() in GENERIC_NAMES else train.stem
        print_source = " ".join(f"--{k} {v}" for k, v in files.items())
        digest = fingerprint(list(files.values()))
    else:
        if is_package_path(source):  # data that ships in a Python package, e.g. the quickstart's BBC News
            source = str(resolve_package_path(source))
        every, kind, pair = read_user_data(source, columns, fmt, encoding)
        parts = stratified_split(
            every,
            {"test": TEST_SHARE, "validation": VALIDATION_SHARE, "train": 1.0},
            SPLIT_SEED,
            kind == "classification",
        )
        name = source_name(source)
        print_source = source
        digest = fingerprint([source])
    labels = dict(sorted(Counter(str(e.label) for e in every).items())) if kind == "classification" else {}
    if kind == "classification":
        unseen = sorted(
            {str(e.label) for split in ("validation", "test") for e in parts.get(split, [])}
            - {str(e.label) for e in parts["train"]}
        )
        if unseen:
            raise AdapterlabError(f"label {unseen[0]!r} is in the validation or test data but not in the training data")
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name).lstrip("_-") or "data"
    data = ComparisonData(
        safe,
        kind,
        pair,
        print_source,
        digest,
        SPLIT_SEED,
        {k: len(v) for k, v in parts.items()},
        labels,
        {"data_format": fmt, "columns": dict(columns), "encoding": encoding},
    )
    return data, parts


def save_data_record(folder: Path, data: ComparisonData, sizes: dict[str, int]) -> None:
    write_json_atomic(folder / SPLIT_FILE, {**asdict(data), "sampled": sizes})


def load_data_record(folder: Path) -> dict | None:
    try:
        values = json.loads((folder / SPLIT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return values if isinstance(values, dict) else None
