"""`adapterlab compare DATA`: from a labelled file to a decided comparison of adaptation methods,
in one command, within a time budget.

Steps (each recorded in DIR, so running the same command again resumes, and after the end
prints the same answer without training):
  data: read, check (two classes at least, columns that exist), split once, stratified (data.py)
  plan: probe each method's step on this machine, choose the design that fits (plan.py), print it
  run:  the study runner under a policy (convergence stopping, bracketed rates, seeds until
        decided, the budget), in DIR/study/
  answer: the decision table, one paragraph, compare.json, report.html and DIR/best/ (answer.py)
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from adapterlab.compare.answer import (
    Answer,
    answer_markdown,
    answer_summary,
    build_answer,
    paragraph,
    undecided_against_best,
)
from adapterlab.compare.data import (
    ComparisonData,
    load_data_record,
    prepare_pools,
    sample,
    save_data_record,
    write_split,
)
from adapterlab.compare.plan import BATCH, BudgetTooSmall, ComparePlan, make_plan, probe_methods, study_spec
from adapterlab.compare.progress import progress_line
from adapterlab.compare.text import incomplete_line, plan_text, where_line
from adapterlab.errors import AdapterlabError
from adapterlab.methods import get_method, method_names
from adapterlab.runs import CONFIG_FILE, write_json_atomic
from adapterlab.study.contention import measure_contention
from adapterlab.train.provenance import PROVENANCE_FILE

MARKER = ".adapterlab-compare"
PLAN_FILE = "plan.json"
ANSWER_FILE = "compare.json"
DEFAULT_METHODS = ("adapter", "lora", "finetune")
ANSWER_RESERVE = 60.0  # seconds kept from the budget for the answer: throughput, report, the best pack


def check_out(out: Path) -> None:
    """DIR is new, empty, or an earlier comparison of adapterlab's (its marker): never a user's folder."""
    if out.exists() and not out.is_dir():
        raise AdapterlabError(f"--out {out}: exists and is not a folder; give a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise AdapterlabError(
            f"--out {out}: exists, is not empty and is not an adapterlab comparison (no {MARKER}); choose another --out"
        )


def check_methods(methods: list[str]) -> list[str]:
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        raise AdapterlabError(f"--methods {unknown[0]!r}: not a method; allowed: {', '.join(method_names())}")
    if len(set(methods)) < 2:
        raise AdapterlabError(f"--methods {','.join(methods)}: a comparison needs at least two different methods")
    if any(get_method(m).library == "peft" for m in methods):
        try:
            import peft  # noqa: F401
        except ImportError:
            raise AdapterlabError(
                "--methods with lora, loha or ia3 needs PEFT: pip install 'adapterlab[peft]'"
            ) from None
    return list(dict.fromkeys(methods))


def choose_lengths(examples, pair: bool, model: str | None, max_length: int | None, cap: int = 256) -> tuple[int, int]:
    """(max_length, padded) from the tokenized lengths of up to 500 training examples.
    max_length (unless given): their 95th percentile rounded up to a multiple of 32, between 32 and
    `cap` (and the position limit): longer inputs are cut, and padding costs time. padded: the
    mean length of a run's batches of BATCH, each padded to its longest (study/batch_length.py),
    what the probes time a step at."""
    from adapterlab.backbone import resolve_backbone
    from adapterlab.study.batch_length import mean_padded_length
    from adapterlab.train.model_setup import load_model_config, load_tokenizer, position_limit

    path = resolve_backbone(model)
    tokenizer = load_tokenizer(path)
    lengths = sorted(
        len(tokenizer(e.text, e.text_pair if pair else None, truncation=False)["input_ids"]) for e in examples[:500]
    )
    if max_length is None:
        cap = min(cap, position_limit(load_model_config(path)) or cap)
        percentile = lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))]
        max_length = max(min(32, cap), min(cap, 32 * math.ceil(percentile / 32)))
    return max_length, mean_padded_length([min(n, max_length) for n in lengths], BATCH)


def check_compare_request(source: str | None, files: dict[str, str], train_size: int | None) -> None:
    """`adapterlab compare`'s data: one DATA file (or folder) to split, or the three files of your
    own split, not both; and at least two training examples."""
    if files and set(files) != {"train", "dev", "test"}:
        raise AdapterlabError("--train, --dev and --test go together (your own split); or give one DATA file to split")
    if files and source:
        raise AdapterlabError(f"give DATA ({source}) or --train/--dev/--test, not both")
    if not files and not source:
        raise AdapterlabError(
            "give DATA: a labelled file (CSV, TSV, JSON lines) or a folder with one subfolder per class"
        )
    if train_size is not None and train_size < 2:
        raise AdapterlabError(f"--train-size {train_size}: must be at least 2")


def run_compare(
    source: str | None,
    out: str | Path,
    methods: list[str] | None = None,
    columns: dict[str, str] | None = None,
    model: str | None = None,
    budget: float = 1800.0,
    train_size: int | None = None,
    files: dict[str, str] | None = None,
    fmt: str = "auto",
    encoding: str = "utf-8",
    max_length: int | None = None,
    seeds: int | None = None,
    say: Callable[[str], None] = print,
    retry_failed: bool = False,
) -> Answer:
    """Everything of `adapterlab compare`; every check before the first run. Returns the answer."""
    started = time.time()
    out = Path(out)
    methods = check_methods(list(methods or DEFAULT_METHODS))
    check_out(out)
    columns = dict(columns or {})
    data, pools = prepare_pools(source or "", columns, fmt, encoding, files)
    if train_size is not None and train_size > data.pools["train"]:
        raise AdapterlabError(
            f"--train-size {train_size}: the training pool has {data.pools['train']} examples; give at most that"
        )
    inputs = _inputs(data, methods, model, train_size, seeds, max_length)  # as asked (None: chosen from the data)
    plan_path = out / PLAN_FILE
    earlier = json.loads(plan_path.read_text()) if plan_path.is_file() else None
    if earlier is not None:
        plan = _same_inputs(earlier, inputs, out)
        say(
            f"resuming the comparison in {out} (its plan and split are kept; budget {budget / 60:.0f} min for what is left)"
        )
    else:
        max_length, padded = choose_lengths(pools["train"], data.pair, model, max_length)
        plan = _timed_plan(data, methods, model, (max_length, padded), train_size, seeds, budget, started, say)
        _start_folder(out, data, pools, plan, inputs)
    say(plan_text(plan, data))
    spec = _compare_spec(out, plan, data)
    if (out / ANSWER_FILE).is_file() and (out / "answer.md").is_file() and _all_done(spec, out / "study"):
        say("")
        say((out / "answer.md").read_text().rstrip())  # finished earlier: the same answer, nothing trained
        say(where_line(out))
        return Answer.from_json(json.loads((out / ANSWER_FILE).read_text())["answer"])
    return _run_and_answer(out, spec, plan, started, budget, say, retry_failed)


def _timed_plan(
    data: ComparisonData,
    methods: list[str],
    model: str | None,
    lengths: tuple[int, int],
    train_size: int | None,
    seeds: int | None,
    budget: float,
    started: float,
    say: Callable[[str], None],
) -> ComparePlan:
    """Each method's step timed on this machine (at the mean padded length of its batches, cut at
    max_length: `lengths`), then the design that fits what is left of the budget."""
    max_length, padded = lengths
    say(
        f"timing {', '.join(methods)} on this machine (batch {BATCH} x {padded} tokens, the mean length of "
        f"batches padded to their longest and cut at {max_length}) ..."
    )
    with measure_contention() as contention:
        per_step = probe_methods(methods, data.task, data.kind, model, max_length, padded)
    room = budget - (time.time() - started) - ANSWER_RESERVE
    try:
        plan = make_plan(methods, per_step, data.pools, room, max_length, model, train_size, seeds)
    except BudgetTooSmall as err:
        # the budget to give covers what the runs need and what is spent besides them
        whole = math.ceil((err.needed + (time.time() - started) + ANSWER_RESERVE) / 60)
        busy = contention.warning("the methods were")
        raise AdapterlabError(
            f"--budget {budget / 60:g} min: after timing the methods ({time.time() - started:.0f} s) and "
            f"{ANSWER_RESERVE:.0f} s kept for the answer, {max(room, 0) / 60:.1f} min are left for runs; "
            f"{str(err).split(': ', 1)[1].split('; give --budget')[0]}; give --budget {whole}m or more{err.fewer}"
            + (f" ({busy.removeprefix('warning: ')})" if busy else "")
        ) from None
    # the design was sized for the steps as timed: under load, smaller than a quiet machine allows
    warning = contention.warning("the methods were")
    busy = [f"{warning}, so the design is smaller than the budget would allow there"] if warning else []
    return dataclasses.replace(plan, batch_length=padded, notes=plan.notes + busy)


def _start_folder(out: Path, data: ComparisonData, pools: dict, plan: ComparePlan, inputs: dict) -> None:
    """DIR begins: the sampled split, the marker, and plan.json with the inputs it was made for."""
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()  # first: a kill while the data are written leaves a folder a rerun may take
    _write_data(out, data, pools, plan)
    write_json_atomic(out / PLAN_FILE, {"inputs": inputs, "plan": plan.to_json()})


def _compare_spec(out: Path, plan: ComparePlan, data: ComparisonData):
    """The plan as a study spec over the split in DIR/data."""
    from adapterlab.study.spec import expand_spec

    folder = out / "data"
    return expand_spec(
        study_spec(
            plan, data.name, data.task, {k: str(folder / f"{k}.jsonl") for k in ("train", "dev", "test")}, data.pair
        ),
        source=str(out / PLAN_FILE),
    )


def _run_and_answer(
    out: Path,
    spec,
    plan: ComparePlan,
    started: float,
    budget: float,
    say: Callable[[str], None],
    retry_failed: bool,
) -> Answer:
    """The study under the policy, in what is left of the budget, then the answer."""
    from adapterlab.policy.run import run_policy_study

    study = out / "study"
    finished = progress_line(spec, study, started, budget, say, retry_failed, plan)
    left = budget - (time.time() - started) - ANSWER_RESERVE
    outcome = run_policy_study(
        spec,
        study,
        isolation="inline",
        budget=max(left, 1.0),
        progress=finished,
        say=lambda line: say(f"  {line}"),
        command=["adapterlab", "compare", "..."],
        probes=_known_probes(spec, plan),
        retry_failed=retry_failed,
        seed_targets=undecided_against_best,
    )
    return finish(out, outcome.budget_left, say)


def _all_done(spec, study: Path) -> bool:
    from adapterlab.study.extensions import load_extensions
    from adapterlab.study.folder import run_states
    from adapterlab.study.spec import with_extensions

    return study.is_dir() and all(
        s.state in ("ok", "diverged") for s in run_states(with_extensions(spec, load_extensions(study)), study)
    )


def _known_probes(spec, plan: ComparePlan) -> dict:
    """The plan's step timings as the budget's probes, so the runner does not time them again."""
    from adapterlab.study.probe import ProbeResult, probe_key_with_length

    return {
        probe_key_with_length(run.config): ProbeResult(plan.seconds_per_step[run.config.method], 0.0, "cpu")
        for run in spec.runs
        if run.config.method in plan.seconds_per_step
    }


def _inputs(
    data: ComparisonData,
    methods: list[str],
    model: str | None,
    train_size: int | None,
    seeds: int | None = None,
    max_length: int | None = None,
) -> dict:
    """What a comparison is of: resuming it with any of these changed would mix two comparisons."""
    return {
        "fingerprint": data.fingerprint,
        "source": data.source,
        "methods": methods,
        "model": model,
        "train_size": train_size,
        "seeds": seeds,
        "reading": data.reading,  # --format, --columns, --encoding: the same file read otherwise is other data
        "max_length": max_length,
    }


def _same_inputs(earlier: dict, now: dict, out: Path) -> ComparePlan:
    then = earlier.get("inputs") or {}
    # a key a comparison of an earlier version did not record is not held against it
    different = [key for key in now if key in then and then[key] != now[key]]
    if different:
        key = different[0]
        raise AdapterlabError(
            f"--out {out}: holds a comparison of other inputs ({key}: {then.get(key)!r}, now {now[key]!r}); "
            "run the same command to resume it, or choose another --out"
        )
    return ComparePlan.from_json(earlier["plan"])


def _write_data(out: Path, data: ComparisonData, pools: dict, plan: ComparePlan) -> None:
    """The sampled train / validation / test files and split.json."""
    stratify = data.kind == "classification"
    parts = {
        "train": sample(pools["train"], plan.train_size, data.seed, stratify),
        "dev": sample(pools["validation"], plan.validation_size, data.seed + 1, stratify),
        "test": sample(pools["test"], plan.test_size, data.seed + 2, stratify),
    }
    write_split(out / "data", parts, data.pair, data.kind)
    save_data_record(
        out / "data", data, {"train": len(parts["train"]), "validation": len(parts["dev"]), "test": len(parts["test"])}
    )


def finish(out: Path, budget_left: list[str], say: Callable[[str], None]) -> Answer:
    """The answer from the finished runs: compare.json, answer.md, report.html, best/."""
    from adapterlab.report.build import assemble, build_report
    from adapterlab.use.evaluate import evaluate_file

    study = out / "study"
    tables = assemble(study)
    data = load_data_record(out / "data") or {}
    answer = build_answer(tables, data.get("name", ""))
    for row in answer.rows:  # inference throughput of each chosen run on the test file
        if row.run:
            try:
                measured = evaluate_file(row.run, out / "data" / "test.jsonl", progress=False)
            except AdapterlabError as err:  # a run without weights (a diverged one): no throughput, said so
                answer.notes.append(f"{row.word}: inference throughput not measured ({err})")
                continue
            row.throughput = measured["examples"] / measured["seconds"] if measured["seconds"] else None
    answer.paragraph = paragraph(answer)
    answer.sizes = data.get("sampled", {})
    plan = ComparePlan.from_json(json.loads((out / PLAN_FILE).read_text())["plan"])
    answer.notes = list(plan.notes) + answer.notes
    if budget_left:
        answer.notes.append(
            f"{len(budget_left)} planned run(s) did not fit the budget and did not start; run the same command again to go on"
        )
    write_json_atomic(out / ANSWER_FILE, {"data": data, "plan": plan.to_json(), "answer": answer.to_json()})
    text = (
        answer_summary(answer, data)
        + incomplete_line(answer, plan.seeds_min)
        + "\n\n"
        + answer_markdown(answer)
        + "\n"
        + answer.paragraph
        + "\n"
        + "".join(f"\n{n}" for n in answer.notes)
    )
    (out / "answer.md").write_text(text + "\n")
    report = build_report(study)
    _report_page(out, report.folder / "report.html", text)
    best = next(r for r in answer.rows if r.verdict == "best")
    _hand_over(Path(best.run), out / "best", data.get("reading") or {})
    say("")
    say(text)
    say(where_line(out))
    return answer


def _report_page(out: Path, study_page: Path, answer_text: str) -> None:
    """DIR/report.html: the answer first, then the study's report (tables, tests, figures)."""
    import html

    page = study_page.read_text()
    block = f"<h1>Answer</h1><pre>{html.escape(answer_text)}</pre>"
    at = page.find("<body>")
    page = page[: at + len("<body>")] + block + page[at + len("<body>") :] if at >= 0 else block + page
    tmp = out / ".report.html.tmp"
    tmp.write_text(page)
    tmp.replace(out / "report.html")


def _hand_over(run: Path, best: Path, reading: dict) -> None:
    """DIR/best/: the chosen run's task pack (adapters, PEFT) or its run folder with the model
    (fine-tuning), which `adapterlab predict` and `evaluate` take. reading: how the user's data is
    read (ComparisonData.reading), made the default for the files given to predict and evaluate:
    the runs read compare's JSON-lines samples, the user has files like the one compared."""
    tmp = best.with_name(".best.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if (run / "pack").is_dir():
        shutil.copytree(run / "pack", tmp)
        described = tmp / PROVENANCE_FILE
    else:
        shutil.copytree(
            run, tmp, ignore=shutil.ignore_patterns("checkpoint", "tapt_checkpoint", "metrics.jsonl", "trackers")
        )
        described = tmp / CONFIG_FILE
    if reading and described.is_file():
        write_json_atomic(described, {**json.loads(described.read_text()), **reading})
    shutil.rmtree(best, ignore_errors=True)
    tmp.replace(best)
