"""Using trained tasks: `predict`, `evaluate`, `push`, `export` and `import-adapterhub`."""

from __future__ import annotations

import argparse

from adapterlab.cli.arguments import parse_columns, positive
from adapterlab.names import EXPORT_FORMATS


def add_use(commands) -> None:
    """predict, evaluate, push, export and import-adapterhub, in the order --help lists them."""
    for verb, helptext in (
        ("predict", "label new text with one or several trained tasks (run folders or task packs)"),
        ("evaluate", "score a finished run or task pack on a labelled file with the task's metric"),
    ):
        _add_predict_or_evaluate(commands, verb, helptext)
    push = commands.add_parser(
        "push", help="upload a task pack (weights, provenance, model card) to a Hugging Face Hub repo"
    )
    push.add_argument("pack", help="a task pack folder with provenance.json (a run's pack/)")
    push.add_argument("repo_id", help="OWNER/NAME; predict and evaluate then take hf://OWNER/NAME")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.set_defaults(run=cmd_push)
    export = commands.add_parser(
        "export", help="a task pack as plain transformers weights (merged) or ONNX, checked against the pack"
    )
    export.add_argument("pack", help="a run folder, a task pack (with provenance.json), or hf://OWNER/NAME")
    export.add_argument(
        "--format",
        required=True,
        choices=EXPORT_FORMATS,
        help="merged: LoRA, LoHa, IA3 (and fine-tuning) folded into the weights, for AutoModelFor...Classification "
        "(Houlsby adapters are nonlinear and cannot merge); onnx: every pack, as model.onnx",
    )
    export.add_argument("--out", required=True, help="a new folder for the export")
    export.add_argument("--model", help="the base model (default: the one the pack records)")
    export.set_defaults(run=cmd_export)
    hub = commands.add_parser(
        "import-adapterhub",
        help="convert an AdapterHub double_seq_bn (Houlsby) adapter, with its head, into a task pack",
    )
    hub.add_argument(
        "folder", help="the folder AdapterHub's save_adapter wrote (adapter_config.json, weights, head_config.json)"
    )
    hub.add_argument("--out", required=True, help="the new task pack folder")
    hub.add_argument(
        "--model", help="the base model the adapter was trained on (default: the embedded all-MiniLM-L6-v2)"
    )
    hub.add_argument(
        "--task", help="adapterlab task of the head (default: classification, or token for a tagging head)"
    )
    hub.add_argument(
        "--max-length", type=positive, default=128, help="max length predict and evaluate use with the pack"
    )
    hub.set_defaults(run=cmd_import_adapterhub)


def _add_predict_or_evaluate(commands, verb: str, helptext: str) -> None:
    use = commands.add_parser(verb, help=helptext)
    if verb == "predict":
        use.add_argument(
            "sources", nargs="+", help="run folders or task packs (with provenance.json), or hf://OWNER/NAME packs"
        )
        use.add_argument("--out", required=True, help="predictions file: .jsonl or .csv")
    else:
        use.add_argument("source", help="a finished run folder, a task pack (with provenance.json), or hf://OWNER/NAME")
        use.add_argument(
            "--out",
            help="the evaluation JSON (default: DATA-STEM.SOURCE.eval.json here, SOURCE from the run folder's path; "
            "never overwritten)",
        )
        use.add_argument(
            "--task", help="read the file as this task (e.g. xnli for an MNLI run; default: the run's task)"
        )
    use.add_argument(
        "--data",
        required=True,
        help="input file"
        + (": any format the training readers read, or plain text lines" if verb == "predict" else " with labels"),
    )
    use.add_argument(
        "--format",
        help="reader (default: the run's own)"
        + ("; lines: one text per line, a tab between the texts of a pair" if verb == "predict" else ""),
    )
    use.add_argument(
        "--columns", type=parse_columns, help="FIELD=COLUMN pairs for generic files (default: the run's own)"
    )
    use.add_argument("--encoding", help="text encoding (default: the run's own)")
    use.add_argument("--model", help="the base model (default: the one the run or pack records)")
    use.add_argument("--batch-size", type=positive, default=64)
    use.add_argument("--no-progress", action="store_true", help="no progress bar")
    use.set_defaults(run=cmd_predict if verb == "predict" else cmd_evaluate)


def cmd_predict(args: argparse.Namespace) -> int:
    from adapterlab.use.predict import predict

    out = predict(
        args.sources,
        args.data,
        args.out,
        args.format,
        args.columns,
        args.encoding,
        args.model,
        args.batch_size,
        progress=not args.no_progress,
    )
    print(f"predictions of {len(args.sources)} task(s) for {args.data}: {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from adapterlab.report.console import evaluation_line
    from adapterlab.use.evaluate import evaluate_to_file

    evaluation, out = evaluate_to_file(
        args.source,
        args.data,
        args.out,
        args.format,
        args.task,
        args.columns,
        args.encoding,
        args.model,
        args.batch_size,
        progress=not args.no_progress,
    )
    print(evaluation_line(evaluation, args.data, out))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from adapterlab.use.hub import push_pack

    repo_id = args.repo_id.removeprefix("hf://")
    url = push_pack(args.pack, repo_id, private=args.private)
    print(f"pushed {args.pack} to {repo_id}: {url}; load it anywhere as hf://{repo_id}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from adapterlab.report.console import export_line
    from adapterlab.use.export import export_pack

    print(export_line(export_pack(args.pack, args.format, args.out, args.model)))
    return 0


def cmd_import_adapterhub(args: argparse.Namespace) -> int:
    from adapterlab.report.console import import_line
    from adapterlab.use.adapterhub import import_adapterhub_folder

    hub, pack = import_adapterhub_folder(args.folder, args.out, args.model, args.task, args.max_length)
    print(import_line(hub, pack))
    return 0
