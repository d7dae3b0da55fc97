"""A run's config.json as a record (`RecordedConfig`), and how a finished run's recorded settings
compare with the settings a plan asks for now (`config_differences`): what `study run` resumes,
reruns with --rerun-changed or leaves out of a report, and what a killed run resumes from."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from adapterlab.fingerprint import fingerprint
from adapterlab.runs import read_config

# Settings that do not change what a run computes.
NEUTRAL_SETTINGS = {
    "progress",
    "logging_steps",
    "report_to",
    "tracker_project",
}  # what is logged where: never a reason to rerun
# Paths are compared by what they point at (the fingerprints), not by how they are spelled, so a
# study folder resumes on another machine or from another working folder.
PATH_SETTINGS = {"train", "dev", "test", "model"}
FINGERPRINTED = {
    "data": ("train", "dev", "test"),
    "model": ("model",),
}  # run_fingerprints' keys -> the settings behind each


@dataclass(frozen=True)
class RecordedConfig:
    """A run's config.json: the settings it was made with and what it resolved from them before
    training. `settings` is RunConfig.to_dict() as the run's version wrote it (a run of an older
    version lacks newer settings, which config_differences counts as their defaults), so it stays
    a mapping; the rest is typed, None where a version did not record it."""

    settings: dict
    learning_rate: float | None = None  # the rate used (lr, or the method's default)
    model_path: str | None = None  # where the backbone was loaded from (a local folder: its absolute path)
    max_length_used: int | None = None
    protocol: str | None = None  # "low-resource" or "plain"
    split_sizes: dict | None = None  # {"train", "validation", "test"}: examples of each split
    labels: list | None = None  # the label names, in the head's order
    metric: str | None = None
    kind: str | None = None  # the task's kind
    fingerprints: dict | None = None  # {"data", "model"} (run_fingerprints); None: recorded before fingerprints

    def to_json(self) -> dict:
        facts = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "settings"}
        return {**self.settings, **{key: value for key, value in facts.items() if value is not None}}

    @classmethod
    def from_json(cls, values: dict) -> RecordedConfig:
        facts = {f.name for f in dataclasses.fields(cls)} - {"settings"}
        return cls({k: v for k, v in values.items() if k not in facts}, **{k: values.get(k) for k in facts})


def load_config(run_dir: Path) -> RecordedConfig | None:
    """The run's config.json as a RecordedConfig, or None when the folder has none (missing or unreadable)."""
    values = read_config(run_dir)
    return None if values is None else RecordedConfig.from_json(values)


def config_differences(
    planned: dict, stored: RecordedConfig, planned_fingerprints: dict | None = None, defaults: dict | None = None
) -> list[str]:
    """The settings in which a finished run (its config.json) differs from the planned config,
    as "key: stored -> planned". A setting the stored config lacks counts as its default
    (`defaults`: RunConfig.defaults()), which `planned` must then hold (older runs predate newer
    settings). With `planned_fingerprints` (run_fingerprints of the plan) the data and backbone
    are compared by content; a record without a fingerprint is never trusted: it differs in the
    paths it recorded, or else in the content it cannot vouch for."""
    defaults = defaults or {}
    differences = []
    for key, value in planned.items():
        if key in NEUTRAL_SETTINGS or key in PATH_SETTINGS:
            continue
        old = stored.settings.get(key, defaults.get(key))
        if _normal(old) != _normal(value):
            differences.append(f"{key}: {old!r} -> {value!r}")
    stored_prints = stored.fingerprints if isinstance(stored.fingerprints, dict) else {}
    for key, value in (planned_fingerprints or {}).items():
        if key not in stored_prints:
            # recorded by a version that did not fingerprint these files: what the record has (the
            # paths as written) is checked, and the content, which it cannot vouch for, counts as changed
            paths = [
                f"{name}: {stored.settings.get(name)!r} -> {planned.get(name)!r}"
                for name in FINGERPRINTED[key]
                if name in planned and _normal(stored.settings.get(name)) != _normal(planned.get(name))
            ]
            differences.extend(
                paths
                or [
                    f"{key} files: not fingerprinted (recorded by an earlier adapterlab), so their content cannot be checked"
                ]
            )
        elif stored_prints[key] != value:
            differences.append(f"{key} files: content differs")
    return differences


def _normal(value):
    return json.loads(json.dumps(value, default=str))


def run_fingerprints(config) -> dict[str, str]:  # config: a train.config.RunConfig
    """{"data": ..., "model": ...} of a RunConfig: what its data and backbone paths point at."""
    from adapterlab.backbone import resolve_backbone

    return {
        "data": fingerprint([config.train, config.dev, config.test, config.hub]),
        "model": fingerprint([resolve_backbone(config.model)], large_by_size=True),
    }
