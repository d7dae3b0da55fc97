"""Integrity (issue #11) and real inputs (issue #12): adapterlab never deletes or escapes, never
runs one run twice, never reports stale numbers, and bad input is one line, exit 2, nothing written."""

import json
import multiprocessing
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from studyworld import GLIBC_THRESHOLD
from tiny import WORDS, save_tiny_backbone, write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.runs import MARKER_FILE
from adapterlab.study.executor import claim_path, release, run_states, run_study, try_claim
from adapterlab.study.progress import FinishedRuns
from adapterlab.study.spec import expand_spec


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    model = save_tiny_backbone(root / "model", dropout=0.0)
    sst = root / "sst"
    sst.mkdir()
    write_sentiment_tsv(sst / "train.tsv", 60, seed=0)
    write_sentiment_tsv(sst / "dev.tsv", 21, seed=1)
    write_sentiment_tsv(sst / "test.tsv", 17, seed=2)
    return {"root": root, "model": str(model), "sst": sst}


def train(world, out, *extra, data=None):
    args = [
        "train",
        "--task",
        "sst2",
        "--data",
        str(data or world["sst"]),
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        *extra,
    ]
    return main(args)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("adapterlab: error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------- data loss and escape


def test_train_never_deletes_a_folder_it_did_not_create(world, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ideas.txt").write_text("my notes")
    assert train(world, notes) == 2
    assert "is not an adapterlab run folder" in one_line_error(capsys)
    assert tree(notes) == {"ideas.txt": b"my notes"}
    # the data folder itself as --out
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (data / name).write_bytes((world["sst"] / name).read_bytes())
    before = tree(data)
    assert train(world, data, data=data) == 2
    one_line_error(capsys)
    assert tree(data) == before
    # a file as --out
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert train(world, file) == 2 and "is not a folder" in one_line_error(capsys)


def test_a_rerun_removes_only_what_adapterlab_wrote(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(world, out) == 0
    assert (out / MARKER_FILE).is_file()
    (out / "my-analysis.txt").write_text("keep me")
    assert train(world, out) == 2 and "already complete" in one_line_error(capsys)
    assert train(world, out, "--overwrite") == 0
    assert (out / "my-analysis.txt").read_text() == "keep me"
    assert json.loads((out / "result.json").read_text())["status"] == "ok"


def test_a_failed_run_is_not_complete_and_runs_again(world, tmp_path, caplog):
    out = tmp_path / "run"
    assert train(world, out) == 0
    result = json.loads((out / "result.json").read_text())
    (out / "result.json").write_text(json.dumps({**result, "status": "failed", "error": "killed by signal 9"}))
    assert train(world, out) == 0
    assert "previous attempt failed (killed by signal 9); running it again" in caplog.text
    assert json.loads((out / "result.json").read_text())["status"] == "ok"


def spec_of(world, **changes):
    spec = {
        "name": "integrity",
        "base": {
            "model": world["model"],
            "epochs": 1,
            "batch_size": 8,
            "max_length": 32,
            "train_size": 20,
            "validation_size": 10,
            "progress": False,
        },
        "tasks": {"sst2": {"train": str(world["sst"] / "train.tsv"), "dev": str(world["sst"] / "dev.tsv")}},
        "grid": {"method": ["adapter"], "seed": [0]},
        "by_method": {"adapter": {"lr": 1e-3, "adapter": {"size": 8}}},
    }
    for key, value in changes.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and key != "tasks" else value
    return spec


def spec_errors(spec) -> list[str]:
    with pytest.raises(AdapterlabError) as err:
        expand_spec(spec)
    return str(err.value).splitlines()


@pytest.mark.parametrize("seed", ["../../../victim", "abc", 1.5, True, -1, 2**32])
def test_seeds_are_integers_in_numpys_range(world, seed):
    errors = spec_errors(spec_of(world, grid={"seed": [seed]}))
    assert any(f"seed={seed!r}: must be an integer in [0, 4294967295]" in e for e in errors), errors


@pytest.mark.parametrize("task", ["../../x", "/tmp/abs", ".hidden", "a/b"])
def test_task_names_cannot_leave_the_study_folder(world, task):
    data = {"task": "sst2", "train": str(world["sst"] / "train.tsv"), "dev": str(world["sst"] / "dev.tsv")}
    errors = spec_errors(spec_of(world, tasks={task: data}))
    assert any("cannot name a run folder" in e for e in errors), errors


def test_grid_values_cannot_leave_the_study_folder_and_paths_are_made_safe(world):
    errors = spec_errors(spec_of(world, grid={"seed": [0], "nonlinearity_dummy": ["x"]}))
    assert any("unknown axis" in e for e in errors)
    errors = spec_errors(spec_of(world, grid={"seed": [0], "encoding": ["../../../victim"]}))
    assert any("grid.encoding: value '../../../victim' cannot name a run folder" in e for e in errors), errors
    # a grid over backbone paths is fine: the folder name keeps only the last part and a hash
    spec = expand_spec(
        spec_of(world, grid={"seed": [0], "model": [world["model"], world["model"] + "/"]}), check_files=False
    )
    for run in spec.runs:
        assert ".." not in run.relative_dir and run.relative_dir.count("/") == 2, run.relative_dir


def test_a_victim_folder_survives_a_hostile_spec(world, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_of(world, grid={"seed": ["../../../victim"]})))
    out = tmp_path / "a" / "b" / "out"
    assert main(["study", "run", str(spec), "--out", str(out), "--no-progress"]) == 2
    assert tree(victim) == {"thesis.tex": b"years of work"} and not out.exists()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _race(run_dir: str, barrier, results, done) -> None:
    barrier.wait()
    results.put(try_claim(Path(run_dir)))
    done.wait()  # an owner stays alive until every racer has answered (a dead owner's claim is stale)


def test_a_stale_claim_has_exactly_one_new_owner_among_many_racing_processes(tmp_path):
    context = multiprocessing.get_context("fork")
    racers, trials = 8, 25
    for trial in range(trials):
        run_dir = tmp_path / f"run{trial}" / "seed=0"
        run_dir.parent.mkdir(parents=True)
        claim_path(run_dir).write_text(
            json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "since": 0, "token": "dead"})
        )
        barrier, results, done = context.Barrier(racers), context.Queue(), context.Event()
        processes = [context.Process(target=_race, args=(str(run_dir), barrier, results, done)) for _ in range(racers)]
        for process in processes:
            process.start()
        tokens = [results.get(timeout=30) for _ in processes]
        done.set()
        for process in processes:
            process.join()
        owners = [t for t in tokens if t]
        assert len(owners) == 1, f"trial {trial}: {len(owners)} owners"
        assert json.loads(claim_path(run_dir).read_text())["token"] == owners[0]
        assert not list(run_dir.parent.glob("*.takeover-*"))  # the takeover gates are gone
        release(run_dir, "someone else")  # only the owner's token releases a claim
        assert claim_path(run_dir).exists()
        release(run_dir, owners[0])
        assert not claim_path(run_dir).exists()


# ------------------------------------------------------------------ results never stale or short


def test_resume_with_changed_settings_is_refused_then_rerun_on_request(world, tmp_path):
    from adapterlab.report.build import collect
    from adapterlab.study.executor import write_plan

    out = tmp_path / "study"
    first = expand_spec(spec_of(world))
    assert [s.state for s in run_study(first, out, isolation="inline")] == ["ok"]
    changed = expand_spec(spec_of(world, base={"epochs": 2, "max_length": 24}))
    plan_before = (out / "study.json").read_bytes()
    with pytest.raises(
        AdapterlabError, match=r"finished with other settings \(epochs: 1 -> 2; max_length: 32 -> 24\).*--rerun-changed"
    ):
        run_study(changed, out)
    assert (out / "study.json").read_bytes() == plan_before  # nothing written before the refusal
    # a report of a plan whose runs were made with other settings leaves them out
    write_plan(changed, out, [])
    _, records, stale = collect(out)
    assert records == [] and stale == [changed.runs[0].relative_dir]
    states = run_study(changed, out, rerun_changed=True, isolation="inline")
    assert [s.state for s in states] == ["ok"]
    config = json.loads((out / changed.runs[0].relative_dir / "config.json").read_text())
    assert config["epochs"] == 2 and config["max_length"] == 24
    _, records, stale = collect(out)
    assert len(records) == 1 and stale == []


class _BarRecorder:
    """study run's progress bar, recording (finished, total) at its start and at each run event."""

    seen: list[tuple[int, int]] = []

    def __init__(self, out, total, done, disable=False):
        type(self).seen = [(done, total)]

    def update(self, total, done, name="", status=""):
        self.seen.append((done, total))

    def write(self, line):
        pass

    def close(self):
        pass


def test_a_run_stopped_at_a_constant_predictors_score_is_stale_and_reruns_on_request(
    world, tmp_path, capsys, monkeypatch
):
    """A record of the convergence stop the loop no longer makes (at the majority class: ChemProt
    fine-tuning at 3e-5, seeds 0-1) is "changed": status says why, the report leaves it out, and the
    study refuses to go on until --rerun-changed reruns it under today's rule. Its progress bar
    starts at 0 of 1 and never goes back (the ChemProt resume went from 23/30 to 21/30)."""
    from adapterlab.cli import main
    from adapterlab.policy import study_run
    from adapterlab.report.build import collect

    out = tmp_path / "study"
    raw = spec_of(world)
    spec = expand_spec(raw)
    run_study(spec, out, isolation="inline")
    result_file = out / spec.runs[0].relative_dir / "result.json"
    fresh = json.loads(result_file.read_text())
    assert fresh["stop_reason"] != "converged" or fresh["best_validation"]["mcc"] > 0.05
    old = {**fresh, "stop_reason": "converged", "best_validation": {**fresh["best_validation"], "mcc": 0.0}}
    result_file.write_text(json.dumps(old))
    # the progress bar starts from the runs this invocation will not rerun (it went 23/30 -> 21/30)
    assert FinishedRuns(spec, out, False, False).count(run_states(spec, out)) == 1
    assert FinishedRuns(spec, out, False, True).count(run_states(spec, out)) == 0
    assert main(["study", "status", str(out)]) == 0
    assert "stopped by convergence at a constant predictor's score" in capsys.readouterr().out
    _, records, stale = collect(out)
    assert records == [] and stale == [spec.runs[0].relative_dir]
    with pytest.raises(AdapterlabError, match=r"constant predictor's score.*--rerun-changed"):
        run_study(spec, out)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(study_run, "StudyBar", _BarRecorder)
    assert main(["study", "run", str(path), "--out", str(out), "--inline", "--rerun-changed"]) == 0
    seen = _BarRecorder.seen
    assert seen[0] == (0, 1) and seen[-1] == (1, 1) and [d for d, _ in seen] == sorted(d for d, _ in seen), seen
    assert [s.state for s in run_states(spec, out)] == ["ok"]
    assert json.loads(result_file.read_text())["stop_reason"] == fresh["stop_reason"]
    assert len(collect(out)[1]) == 1


def test_a_damaged_result_is_named_not_shown_as_a_plain_pending_run(world, tmp_path, capsys):
    """A result.json cut short (a copy on a full disk, a merge) is no record: status and report
    name it and the damage instead of "no worker started it", and `study run` runs it again,
    replacing only its own file."""
    from adapterlab.cli import main

    out = tmp_path / "study"
    spec = expand_spec(spec_of(world, grid={"method": ["adapter"], "seed": [0, 1, 2]}))
    run_study(spec, out, isolation="inline")
    result_file = out / spec.runs[0].relative_dir / "result.json"
    result_file.write_text(result_file.read_text()[:40])
    (out / spec.runs[2].relative_dir / "result.json").unlink()  # a plain pending run beside it
    state = run_states(spec, out)[0]
    assert state.state == "pending" and state.damage.startswith("not valid JSON (line"), state.damage
    assert main(["study", "status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "damaged: 1 run(s)" in shown and f"{spec.runs[0].relative_dir}: not valid JSON" in shown, shown
    assert main(["study", "report", str(out)]) == 0
    incomplete = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("INCOMPLETE"))
    # the pending example is the undamaged run; the damaged one is named once, with its damage
    assert f"({spec.runs[2].relative_dir}: pending ...)" in incomplete, incomplete
    assert incomplete.count(spec.runs[0].relative_dir) == 1 and "1 of them with a damaged result.json (" in incomplete
    run_study(spec, out, isolation="inline")
    assert [s.state for s in run_states(spec, out)] == ["ok", "ok", "ok"] and json.loads(result_file.read_text())[
        "status"
    ] == "ok"
    result_file.write_text("[1, 2]")
    assert run_states(spec, out)[0].damage == "not a run's record (no status string)"
    for run in spec.runs:  # every run damaged: nothing to report, and it says why
        (out / run.relative_dir / "result.json").write_text("")
    assert main(["study", "report", str(out)]) == 2
    assert "3 run(s) have a damaged result.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("stop", "best", "stale"),
    [
        ("converged", {"mcc": 0.0}, True),  # the majority class
        ("converged", {"spearman": -0.01, "pearson": 0.2}, True),  # at or below the margin, negative included;
        # regression reads the Spearman it selects by
        ("converged", None, True),  # no finite validation metric at all
        ("converged", {"mcc": 0.3}, False),
        ("converged", {"accuracy": 0.9}, False),  # no chance score (POS): nothing to wait for
        ("ceiling", None, False),  # not a convergence stop
    ],
)
def test_which_convergence_stops_the_loop_no_longer_makes(stop, best, stale):
    from adapterlab.runs import RunResult
    from adapterlab.study.stale import NO_FINITE_METRIC, STOPPED_AT_CHANCE, stale_stop, stopped_at_chance

    result = RunResult(status="ok", stop_reason=stop, best_validation=best)
    assert stopped_at_chance(result) is stale
    # and status says which stop it was
    assert stale_stop(result) == (None if not stale else NO_FINITE_METRIC if best is None else STOPPED_AT_CHANCE)


def test_changed_data_content_counts_as_a_changed_setting(world, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (data / name).write_bytes((world["sst"] / name).read_bytes())
    raw = spec_of(world, tasks={"sst2": {"train": str(data / "train.tsv"), "dev": str(data / "dev.tsv")}})
    out = tmp_path / "study"
    run_study(expand_spec(raw), out, isolation="inline")
    with (data / "dev.tsv").open("a") as handle:
        handle.write("a great film\t1\n")
    with pytest.raises(AdapterlabError, match="data files: content differs"):
        run_study(expand_spec(raw), out)
    # its settings read the same, its data does not: --rerun-changed reruns it, so it is not finished
    spec = expand_spec(raw)
    assert FinishedRuns(spec, out, False, True).count(run_states(spec, out)) == 0


def test_died_runs_rerun_on_resume_and_errors_with_retry_failed(world, tmp_path):
    out = tmp_path / "study"
    spec = expand_spec(spec_of(world, grid={"method": ["adapter"], "seed": [0, 1]}))
    for run, reason in zip(spec.runs, ("died", "error")):
        run_dir = out / run.relative_dir
        run_dir.mkdir(parents=True)
        (run_dir / MARKER_FILE).touch()
        (run_dir / "result.json").write_text(json.dumps({"status": "failed", "reason": reason, "error": "x"}))
    (out / ".adapterlab-study").touch()  # a study folder from an earlier invocation
    # the progress bar: a died run reruns on resume, a failed one only with --retry-failed
    assert FinishedRuns(spec, out, False, False).count(run_states(spec, out)) == 1
    retried = FinishedRuns(spec, out, True, False)
    assert retried.count(run_states(spec, out)) == 0
    states = run_study(spec, out, isolation="inline")
    # the died run has finished again (a run counts once its result is written again, whatever it says)
    assert retried.count(run_states(spec, out)) == 1
    assert [s.state for s in states] == ["ok", "failed"]
    assert [s.state for s in run_study(spec, out, retry_failed=True, isolation="inline")] == ["ok", "ok"]


def test_nothing_is_written_before_study_run_validates(world, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_of(world)))
    out = tmp_path / "out"
    assert main(["study", "run", str(spec), "--out", str(out), "--workers", "0", "--no-progress"]) == 2
    assert "workers=0" in one_line_error(capsys) and not out.exists()
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.txt").write_text("a")
    assert main(["study", "run", str(spec), "--out", str(user), "--no-progress"]) == 2
    assert "is not a study folder" in one_line_error(capsys) and tree(user) == {"a.txt": b"a"}


def test_a_study_leaves_no_temp_files(world, tmp_path):
    out = tmp_path / "study"
    run_study(expand_spec(spec_of(world)), out)
    leftovers = [p for p in out.rglob(".*") if p.name not in (MARKER_FILE, ".adapterlab-study")]
    assert leftovers == []
    # each run trained in its own child process (study/child.py), with the allocator setting of a run
    for result in out.rglob("result.json"):
        assert json.loads(result.read_text())["malloc_mmap_threshold_mb"] == GLIBC_THRESHOLD


def test_token_tasks_score_every_gold_word(world, tmp_path):
    from adapterlab.data.example import Example
    from adapterlab.data.features import LabelMap, encode
    from adapterlab.data.tasks import get_task

    tokenizer = transformers.AutoTokenizer.from_pretrained(world["model"])
    import random

    rng = random.Random(0)
    tags = ("O", "B-PER", "I-PER")
    sentences = [
        Example(tokens=tuple(rng.choice(WORDS) for _ in range(rng.randint(15, 30))), tags=None) for _ in range(6)
    ]
    sentences = [Example(tokens=s.tokens, tags=tuple(rng.choice(tags) for _ in s.tokens)) for s in sentences]
    features = encode(sentences, get_task("ner"), LabelMap(tags), tokenizer, max_length=12)
    assert all(len(f["input_ids"]) <= 12 for f in features)
    scored = [(f["_example"], word) for f in features for word in f["_words"]]
    assert sorted(scored) == [(i, w) for i, s in enumerate(sentences) for w in range(len(s.tokens))]  # every word, once
    assert len(features) > len(sentences)  # long sentences were cut into windows
    # end to end: every gold word of the test file is scored
    panx = tmp_path / "panx"
    panx.mkdir()
    lines = lambda items: "\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.tokens, s.tags)) + "\n" for s in items)  # noqa: E731
    (panx / "train.tsv").write_text(lines(sentences * 3))
    (panx / "dev.tsv").write_text(lines(sentences[:3]))
    (panx / "test.tsv").write_text(lines(sentences[3:]))
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "ner",
        "--train",
        str(panx / "train.tsv"),
        "--dev",
        str(panx / "dev.tsv"),
        "--test",
        str(panx / "test.tsv"),
        "--format",
        "xtreme-tokens",
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "1",
        "--max-length",
        "12",
    ]
    assert main(args) == 0
    test = json.loads((out / "result.json").read_text())["test"]
    assert test["words"] == sum(len(s.tokens) for s in sentences[3:]) and test["unscored_words"] == 0


def test_the_label_set_comes_from_the_training_file(world, tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text(
        "text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))
    )
    (folder / "dev.csv").write_text("text,label\ngood,pos\nodd,neutral\n")
    (folder / "test.csv").write_text("text,label\ngood,pos\n")
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "classification",
        "--train",
        str(folder / "train.csv"),
        "--dev",
        str(folder / "dev.csv"),
        "--test",
        str(folder / "test.csv"),
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "1",
    ]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert f"{folder / 'dev.csv'}:3: label 'neutral' is not in the label set" in err and not out.exists()
    (folder / "dev.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    (folder / "test.csv").write_text("text,label\ngood,pos\nbad,nge\n")  # a typo
    assert main(args) == 2
    assert "test.csv:3: label 'nge'" in one_line_error(capsys) and not out.exists()


# ---------------------------------------------------------------------------------- real inputs


def test_max_length_is_capped_at_the_position_table(world, tmp_path):
    from adapterlab.train.model_setup import position_limit

    assert position_limit(transformers.BertConfig(max_position_embeddings=64)) == 64
    assert (
        position_limit(transformers.RobertaConfig(max_position_embeddings=66, pad_token_id=1)) == 64
    )  # positions start at 2
    assert position_limit(transformers.XLMRobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512
    long = tmp_path / "long"
    long.mkdir()
    for name, count in (("train.tsv", 30), ("dev.tsv", 12), ("test.tsv", 12)):
        rows = ["sentence\tlabel"] + [
            " ".join(["great" if i % 2 else "awful"] + ["the film"] * 60) + f"\t{i % 2}" for i in range(count)
        ]
        (long / name).write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert train(world, out, "--max-length", "100000", data=long) == 0  # the tiny model has 64 positions
    assert json.loads((out / "config.json").read_text())["max_length_used"] == 64


def test_a_tokenizer_without_a_pad_token_uses_the_models(world, tmp_path, capsys):
    folder = save_tiny_backbone(tmp_path / "nopad", dropout=0.0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = None  # as a tokenizer saved with pad_token=None
    tokenizer.save_pretrained(folder)
    assert transformers.AutoTokenizer.from_pretrained(folder).pad_token_id is None
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--model",
        str(folder),
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "1",
    ]
    assert main(args) == 0
    # and neither the tokenizer nor the model names one: refused before anything is written
    model_config = json.loads((folder / "config.json").read_text())
    model_config["pad_token_id"] = None
    (folder / "config.json").write_text(json.dumps(model_config))
    out2 = tmp_path / "run2"
    assert main([*args[:-5], "--out", str(out2), "--no-progress", "--epochs", "1"]) == 2
    assert "has no pad token and the model config names no pad_token_id" in one_line_error(capsys) and not out2.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--seed", "-1"), "seed=-1: must be an integer in [0, 4294967295]"),
        (("--lr", "inf"), "lr=inf: must be a finite number > 0"),
        (("--lr", "nan"), "lr=nan: must be a finite number > 0"),
        (("--weight-decay", "-0.1"), "weight_decay=-0.1: must be a finite number >= 0"),
        (("--warmup-ratio", "1.5"), "warmup_ratio=1.5: must be a finite number in [0, 1)"),
        (("--encoding", "utf-99"), "encoding='utf-99': not a known text encoding"),
    ],
)
def test_out_of_range_options_are_refused_before_anything_is_written(world, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert train(world, out, *extra) == 2
    assert message in one_line_error(capsys) and not out.exists()


def test_an_unwritable_out_is_one_line(world, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert train(world, blocker / "run") == 2
    one_line_error(capsys)


def test_pickled_backbone_weights_are_refused_in_one_line(world, tmp_path, capsys):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in os.listdir(world["model"]):
        if not name.endswith(".safetensors"):
            (folder / name).write_bytes((Path(world["model"]) / name).read_bytes())
    state = transformers.BertModel.from_pretrained(world["model"]).state_dict()
    torch.save(state, folder / "pytorch_model.bin")
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--model",
        str(folder),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(args) == 2
    assert "pickled weights are not loaded" in one_line_error(capsys) and not out.exists()


def test_study_validate_reports_every_wrong_value_at_once(world, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(spec_of(world, base={"epochs": "two", "batch_size": -1}, by_method={"adapter": {"lr": "fast"}}))
    )
    assert main(["study", "validate", str(spec)]) == 2
    err = capsys.readouterr().err
    for message in ("epochs='two'", "batch_size=-1", "lr='fast'"):
        assert message in err, err
    assert "Traceback" not in err


def test_crosslingual_uses_the_runs_reader_and_counts_unknown_tags_as_misses(world, tmp_path):
    from adapterlab.analysis.transfer import evaluate_languages

    data = tmp_path / "xt"
    data.mkdir()
    sentence = "john\tB-PER\nvisited\tO\nlondon\tB-LOC\n"
    (data / "train-en.tsv").write_text("\n".join([sentence] * 30))
    (data / "dev-en.tsv").write_text("\n".join([sentence] * 6))
    (data / "dev-de.tsv").write_text("\n".join(["mary\tB-PER\nvisited\tO\nacme\tB-MISC\n"] * 4))
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "ner",
        "--train",
        str(data / "train-en.tsv"),
        "--dev",
        str(data / "dev-en.tsv"),
        "--format",
        "xtreme-tokens",
        "--model",
        world["model"],
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "1",
    ]
    assert main(args) == 0
    row = evaluate_languages(out, str(data / "dev-{lang}.tsv"), ["en", "de"])
    assert row["per_language"]["de"]["unknown_labels"] == 4
    assert row["per_language"]["de"]["words"] == 12 and "unknown_labels" not in row["per_language"]["en"]


@pytest.mark.parametrize("method", ["adapter", "finetune"])
def test_a_half_precision_backbone_trains_in_float32(world, tmp_path, method):
    folder = tmp_path / "half"
    model = transformers.BertModel.from_pretrained(world["model"])
    model.half().save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (Path(world["model"]) / name).exists():
            (folder / name).write_bytes((Path(world["model"]) / name).read_bytes())
    out = tmp_path / "run"
    args = [
        "train",
        "--task",
        "sst2",
        "--data",
        str(world["sst"]),
        "--model",
        str(folder),
        "--out",
        str(out),
        "--no-progress",
        "--epochs",
        "2",
        "--method",
        method,
        "--lr",
        "1e-3",
        "--batch-size",
        "8",
    ]
    assert main(args) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["test"]["loss"] is not None


def test_a_claim_is_a_lease_that_expires_on_any_machine(tmp_path):
    import time

    from adapterlab.study.executor import LEASE_SECONDS, renew

    run_dir = tmp_path / "task" / "seed=0"
    run_dir.parent.mkdir(parents=True)
    other_host = {"pid": 1, "host": "node-that-died", "since": 0, "token": "t-old"}
    # another machine's claim that still beats is respected...
    claim_path(run_dir).write_text(json.dumps({**other_host, "heartbeat": time.time() - 5}))
    assert try_claim(run_dir) is None
    # ...one whose worker stopped beating longer than the lease goes back to the pool
    claim_path(run_dir).write_text(json.dumps({**other_host, "heartbeat": time.time() - LEASE_SECONDS - 1}))
    token = try_claim(run_dir)
    assert token and json.loads(claim_path(run_dir).read_text())["token"] == token
    # the owner renews its lease; a worker whose claim was taken over learns it cannot
    before = json.loads(claim_path(run_dir).read_text())["heartbeat"]
    time.sleep(0.01)
    assert renew(run_dir, token) and json.loads(claim_path(run_dir).read_text())["heartbeat"] > before
    assert not renew(run_dir, "t-old")
    # an older claim without a heartbeat counts from when it was made
    claim_path(run_dir).write_text(json.dumps({**other_host, "since": time.time() - LEASE_SECONDS - 1}))
    assert try_claim(run_dir)


def test_two_trains_into_one_folder_at_once_are_refused(world, tmp_path, capsys):
    from adapterlab.study.executor import release

    out = tmp_path / "run"
    token = try_claim(out)  # another `adapterlab train` holds the folder (a live process: this one)
    assert train(world, out) == 2
    assert "another adapterlab run is writing into this folder" in one_line_error(capsys) and not out.exists()
    release(out, token)
    assert train(world, out) == 0 and not claim_path(out).exists()


def test_analysis_outputs_never_overwrite_a_users_files(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(world, out) == 0
    data = tmp_path / "dev-en.tsv"
    data.write_bytes((world["sst"] / "dev.tsv").read_bytes())
    before = data.read_bytes()
    common = [
        "crosslingual",
        "--runs",
        str(out),
        "--pattern",
        str(tmp_path / "dev-{lang}.tsv"),
        "--languages",
        "en",
        "--no-progress",
    ]
    assert main([*common, "--out", str(data)]) == 2  # the data file itself as --out
    assert "is not an earlier adapterlab result" in one_line_error(capsys) and data.read_bytes() == before
    assert main([*common[:3], "--pattern", str(data), *common[5:], "--out", str(tmp_path / "x.json")]) == 2
    assert "must contain {lang}" in one_line_error(capsys)
    assert main([*common[:5], "--languages", "en,xx", "--no-progress"]) == 2
    assert "'xx' is not an ISO code" in one_line_error(capsys)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "rsa.csv").write_text("my own numbers")
    assert (
        main(
            [
                "rsa",
                "--runs",
                str(out),
                "--data",
                str(world["sst"] / "dev.tsv"),
                "--task",
                "sst2",
                "--n",
                "50",
                "--out",
                str(notes),
                "--no-progress",
            ]
        )
        == 2
    )
    assert (
        "is not an adapterlab analysis folder" in one_line_error(capsys)
        and (notes / "rsa.csv").read_text() == "my own numbers"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--skip-layers", "2"), "--skip-layers 2: "),  # the tiny model has 2 layers
        (("--adapter-size", "100000000"), "--adapter-size 100000000: more than 4x the hidden size 32"),
        (("--task", "mlm"), "task='mlm': the masked-LM objective is for --tapt"),
    ],
)
def test_settings_the_model_cannot_run_are_refused_before_anything_is_written(world, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert train(world, out, *extra) == 2
    assert message in one_line_error(capsys) and not out.exists()


def test_non_finite_regression_labels_name_their_line(world, tmp_path, capsys):
    data = tmp_path / "reg"
    data.mkdir()
    (data / "train.jsonl").write_text(
        "".join(f'{{"text": "good film {i}", "label": {i / 10}}}\n' for i in range(20))
        + '{"text": "x", "label": NaN}\n'
    )
    assert (
        main(
            [
                "train",
                "--task",
                "regression",
                "--train",
                str(data / "train.jsonl"),
                "--model",
                world["model"],
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert (
        "train.jsonl:21: label nan is not a finite number" in one_line_error(capsys) and not (tmp_path / "r").exists()
    )


def test_study_run_exits_3_when_runs_failed_and_refuses_another_studys_folder(world, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    raw = spec_of(
        world, grid={"method": ["adapter"], "seed": [0], "model": [world["model"], str(tmp_path / "no-weights")]}
    )
    (tmp_path / "no-weights").mkdir()
    (tmp_path / "no-weights" / "config.json").write_bytes(
        (Path(world["model"]) / "config.json").read_bytes()
    )  # fails when it runs
    spec.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["study", "run", str(spec), "--out", str(out), "--no-progress", "--inline"]) == 3
    assert "1 done" in capsys.readouterr().out
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**raw, "name": "another-study"}))
    assert main(["study", "run", str(other), "--out", str(out), "--no-progress"]) == 2
    assert "holds study 'integrity', not 'another-study'" in one_line_error(capsys)


def test_a_max_length_that_keeps_no_text_and_a_dict_label_are_refused(world, tmp_path, capsys):
    assert train(world, tmp_path / "r", "--max-length", "2") == 2
    assert "at least 3 is needed to keep any text" in one_line_error(capsys) and not (tmp_path / "r").exists()
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "good", "label": "pos"}\n{"text": "bad", "label": {"a": 1}}\n')
    assert (
        main(
            [
                "train",
                "--task",
                "classification",
                "--train",
                str(data),
                "--model",
                world["model"],
                "--out",
                str(tmp_path / "j"),
            ]
        )
        == 2
    )
    assert "train.jsonl:2: label is a dict" in one_line_error(capsys)


def test_a_library_caller_keeps_its_allocator_and_the_run_records_none(world, tmp_path):
    """Only adapterlab's entry points set the allocator's thresholds (runtime.py); a program that
    calls run_training keeps glibc's defaults, and its result says so (None), since step times
    depend on it."""
    import subprocess
    import sys

    program = (
        "import json, sys\n"
        "from adapterlab.train.config import RunConfig\n"
        "from adapterlab.train.run import run_training\n"
        "config = RunConfig.from_dict(json.loads(sys.argv[1]))\n"
        "print(run_training(config, sys.argv[2]).malloc_mmap_threshold_mb)\n"
    )
    config = {
        "task": "sst2",
        "train": str(world["sst"] / "train.tsv"),
        "dev": str(world["sst"] / "dev.tsv"),
        "model": world["model"],
        "method": "adapter",
        "epochs": 1,
        "batch_size": 8,
        "max_length": 32,
        "progress": False,
    }
    done = subprocess.run(
        [sys.executable, "-c", program, json.dumps(config), str(tmp_path / "run")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "None"
    assert json.loads((tmp_path / "run" / "result.json").read_text())["malloc_mmap_threshold_mb"] is None
