"""`adapterlab study`: validate, run, plan, status, report and analyze a study spec."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from adapterlab.cli.arguments import only, overrides, positive

RETRY_HELP = "also rerun runs that failed with an error (runs whose process died always rerun)"


def add_study(commands) -> None:
    study = commands.add_parser("study", help="run the paper's experiments: validate, run, status, report a study spec")
    verbs = study.add_subparsers(dest="verb", required=True)
    validate = verbs.add_parser("validate", help="check a study spec and count its runs; nothing runs")
    validate.add_argument("spec", help="study YAML, e.g. configs/cpu/table2_glue_lowres.yaml")
    validate.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a base setting, e.g. --set epochs=3"
    )
    validate.add_argument(
        "--no-file-check", action="store_true", help="do not check that data files exist (specs for another machine)"
    )
    validate.set_defaults(run=cmd_study_validate)
    _add_run(verbs)
    plan = verbs.add_parser(
        "plan", help="what a study will cost: runs, steps per run and time, from a short probe on this machine"
    )
    plan.add_argument("spec", nargs="+", help="one or more study specs; a setting they share is probed once")
    plan.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base setting")
    plan.add_argument(
        "--probe-steps", type=positive, default=2, help="timed steps per probe (default 2, after one warm-up)"
    )
    plan.set_defaults(run=cmd_study_plan)
    status = verbs.add_parser("status", help="runs done, failed, diverged, running and pending, with an ETA")
    status.add_argument("out", help="a study folder: the --out of `study run` (it holds study.json)")
    status.set_defaults(run=cmd_study_status)
    report = verbs.add_parser("report", help="tables (Markdown, LaTeX, CSV), significance, figures and report.html")
    report.add_argument("out", help="a study folder; the report is written to OUT/report/")
    report.set_defaults(run=cmd_study_report)
    analyze = verbs.add_parser(
        "analyze", help="run the spec's analysis block (rsa, crosslingual) over the finished runs"
    )
    analyze.add_argument("out", help="a study folder; results go to OUT/analysis/")
    analyze.add_argument("--no-progress", action="store_true", help="no progress bar")
    analyze.set_defaults(run=cmd_study_analyze)


def _add_run(verbs) -> None:
    run = verbs.add_parser("run", help="run every pending run; re-running the same command resumes")
    run.add_argument("spec")
    run.add_argument("--out", required=True, help="study folder: one folder per setting, seed=N/ below it")
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument("--executor", choices=["local", "ray"], default="local")
    run.add_argument("--address", help="Ray cluster address (default: start or join a local Ray)")
    run.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray: CPUs per run")
    run.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPUs per run")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base setting")
    run.add_argument(
        "--inline",
        action="store_true",
        help="run each run in its worker process, not a child of its own: no ~3 s start-up per run, but a crash "
        "or out-of-memory kill takes the worker (and its run) with it",
    )
    run.add_argument("--retry-failed", action="store_true", help=RETRY_HELP)
    run.add_argument(
        "--only",
        action="append",
        metavar="LABEL=VALUE",
        help="run only the runs with this label (repeatable: all must match), e.g. train_size=1000; the rest stay pending",
    )
    run.add_argument(
        "--rerun-changed",
        action="store_true",
        help="rerun finished runs whose recorded settings differ from the spec's (otherwise such a study is refused)",
    )
    run.add_argument(
        "--budget",
        metavar="DURATION",
        help="start no run that would not finish within this time (e.g. 30m, 2h, 1h30m): this sitting's own limit, "
        "in place of what is left of the spec's policy.budget, which bounds all sittings together (DIR/sittings/); "
        "what is left stays pending for the next `study run`",
    )
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(run=cmd_study_run)


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def cmd_study_validate(args: argparse.Namespace) -> int:
    from adapterlab.report.study_console import validation_line
    from adapterlab.study.spec import load_spec

    spec = load_spec(args.spec, overrides(args.set), check_files=not args.no_file_check)
    print(validation_line(args.spec, spec))
    return 0


def cmd_study_run(args: argparse.Namespace) -> int:
    from adapterlab.policy.study_run import StudyRunOptions, run_study_command
    from adapterlab.report.study_console import budget_line, status_lines
    from adapterlab.report.unfinished import unfinished_report
    from adapterlab.study.policy_spec import parse_duration
    from adapterlab.study.spec import load_spec

    spec = load_spec(args.spec, overrides(args.set))
    budget = parse_duration(args.budget) if args.budget is not None else None
    options = StudyRunOptions(
        args.workers,
        args.executor,
        args.address,
        args.cpus_per_run,
        args.gpus_per_run,
        args.inline,
        args.retry_failed,
        args.rerun_changed,
        only(args.only),
        budget,
        progress=not args.no_progress,
    )
    out = Path(args.out)
    outcome = run_study_command(spec, out, options, ["adapterlab", *args.argv])
    _print(status_lines(outcome.states, show_failed=False))
    if outcome.budget_left:
        print(budget_line(outcome.budget_left, outcome.budget, spec.policy.budget, out))
    # like `train`: 3 when a run failed or was left pending, or a worker died (runs another
    # invocation is running are not ours to report); what did not finish is said last
    lines, code = unfinished_report(
        outcome.states, out, outcome.deaths, ["adapterlab", *args.argv], outcome.budget_left, outcome.budget
    )
    _print(lines)
    return code


def cmd_study_plan(args: argparse.Namespace) -> int:
    from adapterlab.policy.planning import load_plan_specs, plan_specs
    from adapterlab.report.study_console import plan_lines, plans_total_lines

    specs = load_plan_specs(args.spec, overrides(args.set))  # all checked before any probe
    plans = []
    for plan in plan_specs(specs, args.probe_steps, progress=lambda text: print(text, file=sys.stderr, flush=True)):
        _print(plan_lines(plan, os.cpu_count()))  # each spec as soon as its probes are done
        plans.append(plan)
    _print(plans_total_lines(plans))
    return 0


def cmd_study_status(args: argparse.Namespace) -> int:
    from adapterlab.report.study_console import folder_status_lines

    _print(folder_status_lines(Path(args.out)))
    return 0


def cmd_study_report(args: argparse.Namespace) -> int:
    from adapterlab.report.build import build_report
    from adapterlab.report.study_console import report_summary_lines

    report = build_report(args.out)
    _print(report_summary_lines(report, args.out))
    print((report.folder / "table.md").read_text())
    return 0


def cmd_study_analyze(args: argparse.Namespace) -> int:
    from adapterlab.study.analyze import analyze_study

    for path in analyze_study(args.out, progress=not args.no_progress):
        print(f"wrote {path}")
    return 0
