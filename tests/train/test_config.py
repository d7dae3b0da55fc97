"""One source of truth: `adapterlab train` options come from RunConfig's (and AdapterConfig's)
fields, and each enumeration in adapterlab.names is the one the validation uses."""

import argparse
import dataclasses
import re

import pytest

from adapterlab import names
from adapterlab.adapters.config import AdapterConfig
from adapterlab.cli import Default, add_train_arguments, config_from_args, main
from adapterlab.errors import AdapterlabError
from adapterlab.train.config import RunConfig

CLI_ONLY = {"--data", "--out", "--overwrite", "-h"}


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser


def options() -> dict[str, argparse.Action]:
    """{dest: action} of the generated options."""
    return {a.dest: a for a in train_parser()._actions if not CLI_ONLY & set(a.option_strings)}


def setting_dests() -> dict[str, object]:
    """{dest: dataclass default} of every setting, in the generator's naming."""
    defaults = {}
    for f in dataclasses.fields(RunConfig):
        if f.name == "adapter":
            defaults.update({f"adapter_{a.name}": a.default for a in dataclasses.fields(AdapterConfig)})
        elif f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def allowed_in(message: str) -> tuple[str, ...]:
    """The listed values of a one-line 'allowed: a, b' or 'allowed values are a, b' message."""
    match = re.search(r"allowed(?: values are|:) (.+)$", message)
    assert match, message
    return tuple(match.group(1).split(", "))


def test_every_setting_has_help_and_a_group():
    for f in dataclasses.fields(RunConfig):
        assert f.metadata.get("help") and f.metadata.get("group"), f.name
        if f.default is None:
            assert f.metadata.get("unset"), f"{f.name}: say what None means"
    adapter_options = RunConfig.__dataclass_fields__["adapter"].metadata["fields"]
    assert set(adapter_options) == {a.name for a in dataclasses.fields(AdapterConfig)}
    for name, about in adapter_options.items():
        assert about["help"] and about["group"], name


def test_every_setting_has_an_option_and_nothing_else_does():
    assert set(options()) == set(setting_dests()) | {"task"}


def test_parser_defaults_are_the_dataclass_defaults():
    args = train_parser().parse_args(["--task", "sst2", "--out", "x", "--data", "folder"])
    for dest, default in setting_dests().items():  # wrapped: an option not given is told from one given at its default
        assert getattr(args, dest) == Default(default), dest
    config = config_from_args(args)
    expected = RunConfig(task="sst2", train="folder")
    for f in dataclasses.fields(RunConfig):
        assert getattr(config, f.name) == getattr(expected, f.name), f.name
    assert config == expected


@pytest.mark.parametrize(
    "options, refused",
    [
        (
            ["--lora-r", "8"],
            "--lora-r applies to methods lora, loha; this run's method is adapter",
        ),  # given at its default: still refused
        (
            ["--method", "lora", "--adapter-size", "64"],
            "--adapter-size applies to method adapter; this run's method is lora",
        ),
        (
            ["--method", "loha", "--lora-dropout", "0.1"],
            "--lora-dropout applies to method lora; this run's method is loha",
        ),
        (
            ["--tapt-epochs", "10"],
            "--tapt-epochs sets task-adaptive pretraining, which this run does not do: add --tapt",
        ),
        (
            ["--tapt-head", "warm", "--tapt-lr", "1e-4"],
            "--tapt-lr sets task-adaptive pretraining, which this run does not do (also --tapt-head)",
        ),
        (
            ["--mlm-probability", "0.15"],
            "--mlm-probability sets task-adaptive pretraining, which this run does not do: add --tapt",
        ),
    ],
)
def test_an_option_that_would_change_nothing_is_refused_even_at_its_default(options, refused):
    with pytest.raises(AdapterlabError, match=re.escape(refused)):
        config_from_args(train_parser().parse_args(["--task", "sst2", "--train", "t.csv", "--out", "x", *options]))


def test_both_kinds_of_unused_option_are_named_at_once():
    with pytest.raises(AdapterlabError) as caught:
        config_from_args(
            train_parser().parse_args(
                ["--task", "sst2", "--train", "t.csv", "--out", "x", "--tapt-head", "fresh", "--lora-r", "8"]
            )
        )
    assert str(caught.value).splitlines() == [
        "--tapt-head sets task-adaptive pretraining, which this run does not do: add --tapt, or drop it",
        "--lora-r applies to methods lora, loha; this run's method is adapter: drop it, or choose the method with --method",
    ]


def test_options_not_given_take_their_defaults():
    config = config_from_args(
        train_parser().parse_args(
            ["--task", "sst2", "--train", "t.csv", "--out", "x", "--method", "lora", "--tapt", "--tapt-epochs", "3"]
        )
    )
    assert config == RunConfig(task="sst2", train="t.csv", method="lora", tapt=True, tapt_epochs=3)


def test_every_option_reaches_its_setting():
    args = train_parser().parse_args(
        [
            "--task",
            "classification",
            "--train",
            "t.csv",
            "--data",
            "ignored",
            "--dev",
            "d.csv",
            "--test",
            "e.csv",
            "--hub",
            "glue/sst2",
            "--format",
            "csv",
            "--columns",
            "text=review,label=stars",
            "--encoding",
            "latin-1",
            "--data-seed",
            "3",
            "--train-size",
            "100",
            "--validation-size",
            "50",
            "--test-fraction",
            "0.3",
            "--model",
            "m",
            "--method",
            "finetune",
            "--adapter-size",
            "8",
            "--nonlinearity",
            "relu",
            "--adapter-init",
            "zero_up",
            "--adapter-init-std",
            "0.01",
            "--adapter-placement",
            "ffn",
            "--adapter-dropout",
            "0.1",
            "--skip-layers",
            "2",
            "--lr",
            "1e-3",
            "--epochs",
            "3",
            "--batch-size",
            "4",
            "--max-length",
            "64",
            "--warmup-ratio",
            "0.1",
            "--weight-decay",
            "0",
            "--max-grad-norm",
            "0",
            "--seed",
            "7",
            "--eval-every",
            "5",
            "--grad-accum",
            "2",
            "--gradient-checkpointing",
            "--early-stop",
            "3",
            "--early-stop-min-epochs",
            "2",
            "--early-stop-min-delta",
            "0.001",
            "--no-checkpoint",
            "--mixed-precision",
            "no",
            "--native-dropout",
            "--tapt",
            "--tapt-epochs",
            "2",
            "--tapt-lr",
            "1e-4",
            "--tapt-head",
            "fresh",
            "--mlm-probability",
            "0.2",
            "--save-model",
            "--pack-dtype",
            "float16",
            "--no-progress",
            "--report-to",
            "tensorboard",
            "--logging-steps",
            "10",
            "--tracker-project",
            "mine",
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--lora-dropout",
            "0.1",
            "--lora-targets",
            "query,key",
            "--lora-frozen-layernorm",
            "--ia3-feedforward",
            "key",
            "--out",
            "x",
            "--overwrite",
        ]
    )
    with pytest.raises(AdapterlabError, match="--lora-r applies to methods lora, loha; this run's method is finetune"):
        config_from_args(args)  # options of methods other than the run's are refused by default
    config = config_from_args(args, refuse_other_methods=False)
    assert config == RunConfig(
        task="classification",
        train="t.csv",
        dev="d.csv",
        test="e.csv",
        hub="glue/sst2",
        data_format="csv",
        columns={"text": "review", "label": "stars"},
        encoding="latin-1",
        data_seed=3,
        train_size=100,
        validation_size=50,
        test_fraction=0.3,
        model="m",
        method="finetune",
        adapter=AdapterConfig(
            size=8, nonlinearity="relu", init="zero_up", init_std=0.01, placement="ffn", dropout=0.1, skip_layers=2
        ),
        lr=1e-3,
        epochs=3,
        batch_size=4,
        max_length=64,
        warmup_ratio=0.1,
        weight_decay=0.0,
        max_grad_norm=0.0,
        seed=7,
        eval_every=5,
        grad_accum=2,
        gradient_checkpointing=True,
        early_stop=3,
        early_stop_min_epochs=2,
        early_stop_min_delta=0.001,
        checkpoint=False,
        mixed_precision="no",
        fast_dropout=False,
        tapt=True,
        tapt_epochs=2,
        tapt_lr=1e-4,
        tapt_head="fresh",
        mlm_probability=0.2,
        save_model=True,
        pack_dtype="float16",
        progress=False,
        report_to="tensorboard",
        lora_r=4,
        lora_alpha=8.0,
        lora_dropout=0.1,
        lora_targets="query,key",
        lora_layernorm=False,
        ia3_feedforward="key",
        logging_steps=10,
        tracker_project="mine",
    )
    assert args.out == "x" and args.overwrite
    for field in dataclasses.fields(RunConfig):  # the command above sets every setting away from its default
        if field.name != "keep_checkpoint":  # needs --checkpoint on, which the command turns off: checked below
            assert getattr(config, field.name) != getattr(RunConfig(task="sst2", train="folder"), field.name), (
                field.name
            )
    assert config_from_args(
        train_parser().parse_args(["--task", "sst2", "--data", "f", "--out", "x", "--keep-checkpoint"])
    ).keep_checkpoint
    assert (
        config_from_args(train_parser().parse_args(["--task", "sst2", "--data", "folder", "--out", "x"])).train
        == "folder"
    )


def test_help_runs_and_shows_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    defaults = setting_dests()
    for dest, action in options().items():
        option = action.option_strings[0]
        assert option in text, option
        if dest == "task":
            continue
        default = defaults[dest]
        if isinstance(default, bool):
            shown = "on" if default else "off"
        elif default is None:
            about = RunConfig.__dataclass_fields__[dest].metadata
            shown = about["unset"]
        elif default == {}:
            shown = "none"
        else:
            shown = str(default)
        assert f"(default: {shown})" in " ".join(action.help.split()), (option, action.help)
    for option in ("--data", "--out", "--overwrite"):
        assert option in text


@pytest.mark.parametrize(
    "setting, value, allowed",
    [
        ("method", "prefix", names.METHODS),
        ("mixed_precision", "fp8", names.PRECISIONS),
        ("pack_dtype", "int8", names.PACK_DTYPES),
    ],
)
def test_run_config_validates_with_the_names_enumerations(setting, value, allowed):
    with pytest.raises(AdapterlabError) as error:
        RunConfig(task="sst2", train="folder", **{setting: value})
    line = next(line for line in str(error.value).splitlines() if line.startswith(f"{setting}="))
    assert allowed_in(line) == allowed
    option = options()[setting]
    assert tuple(option.choices) == allowed


def test_every_method_has_the_papers_learning_rate():
    from adapterlab.train.config import DEFAULT_LR

    assert tuple(DEFAULT_LR) == names.METHODS


@pytest.mark.parametrize(
    "setting, allowed",
    [
        ("nonlinearity", names.NONLINEARITIES),
        ("init", names.INITS),
        ("placement", names.PLACEMENTS),
    ],
)
def test_adapter_config_validates_with_the_names_enumerations(setting, allowed):
    with pytest.raises(AdapterlabError) as error:
        AdapterConfig(**{setting: "nope"})
    assert allowed_in(str(error.value)) == allowed
    for value in allowed:
        AdapterConfig(**{setting: value})


def test_the_other_copies_of_the_enumerations_agree():
    # Until these modules import from adapterlab.names, their own copies must not drift.
    from adapterlab import runs
    from adapterlab.adapters import freezing, io, layer, peft_methods
    from adapterlab.data import tasks

    assert tuple(io.PACK_DTYPES) == names.PACK_DTYPES
    assert tuple(layer.ACTIVATIONS) == names.NONLINEARITIES
    assert tuple(freezing.MODES) == tuple(
        m for m in names.METHODS if m not in peft_methods.PEFT_METHODS
    )  # their freeze policy is adapters/peft_methods.py's
    assert {spec.kind for spec in tasks.TASKS.values()} <= set(names.TASK_KINDS)
    assert tuple(runs.COMPLETE_STATUSES) == names.COMPLETE_STATUSES
    assert names.STATUSES[: len(names.COMPLETE_STATUSES)] == names.COMPLETE_STATUSES


def test_the_reproduce_command_leaves_out_what_train_would_refuse():
    """A spec's base can hold settings some of its runs do not use (lora_r for the adapter runs,
    tapt_epochs for the runs without TAPT); each run's recorded command must still run."""
    from adapterlab.train.provenance import train_command

    base = {"task": "sst2", "train": "t.csv", "lora_r": 4, "tapt_epochs": 3, "mlm_probability": 0.2, "epochs": 2}
    adapter = train_command(RunConfig(**base).to_dict())
    assert (
        "--lora-r" not in adapter
        and "--tapt-epochs" not in adapter
        and "--mlm-probability" not in adapter
        and "--epochs 2" in adapter
    )
    config_from_args(train_parser().parse_args(adapter.split()[2:]))  # not refused
    lora = train_command(RunConfig(**base, method="lora", tapt=True).to_dict())
    assert "--lora-r 4" in lora and "--tapt-epochs 3" in lora and "--mlm-probability 0.2" in lora
    config_from_args(train_parser().parse_args(lora.split()[2:]))


def test_every_train_option_names_the_spec_key_it_sets():
    """`adapterlab train --help` and the spec keys are one mapping, both ways: errors found for a
    spec quote its keys, reproduce commands quote options."""
    from adapterlab.train.config import ADAPTER_OPTIONS
    from adapterlab.train.options import in_spec_terms, option_of, setting_of_option

    options = (
        {action.option_strings[0] for action in train_parser()._actions if action.option_strings}
        - CLI_ONLY
        - {"--help"}
    )
    settings = [f.name for f in dataclasses.fields(RunConfig) if f.name != "adapter"] + [
        f"adapter.{k}" for k in ADAPTER_OPTIONS
    ]
    assert {option_of(name) for name in settings} == options
    assert all(setting_of_option(option_of(name)) == name for name in settings)
    assert (
        option_of("checkpoint") == "--no-checkpoint"
        and option_of("data_format") == "--format"
        and option_of("adapter.size") == "--adapter-size"
    )
    assert setting_of_option("--out") is None
    # the Hugging Face Trainer's spellings are aliases of the same settings
    assert setting_of_option("--learning_rate") == "lr" and setting_of_option("--num_train_epochs") == "epochs"
    # only the opening option: later an option-like word may be part of a path
    assert (
        in_spec_terms("--skip-layers 12: /models/bert --max-length 6 has 6 layers")
        == "adapter.skip_layers 12: /models/bert --max-length 6 has 6 layers"
    )
    assert in_spec_terms("--out x: a file") == "--out x: a file"  # not a setting: left as it is
    with pytest.raises(KeyError):
        option_of("no_such_setting")
