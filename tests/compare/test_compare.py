"""`adapterlab compare` (issue #29): the split (stratified, recorded, stable), the plan under a
budget, the answer's wording where methods are equal, where one wins and where a gate trips, bad
input refused before any run, resume and the same answer after the end, and one real run end to
end on the tiny BERT with `predict` on DIR/best/."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from tiny import save_tiny_backbone, write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.compare.data import HUB_PREFIX, SPLIT_SEED, prepare_pools, stratified_split
from adapterlab.compare.plan import choose_design, design_seconds, larger_budget_note
from adapterlab.data.example import Example
from adapterlab.errors import AdapterlabError


def labelled(count, classes=("pos", "neg", "mid"), weights=(6, 3, 1)):
    cycle = [c for c, w in zip(classes, weights) for _ in range(w)]
    return [Example(text=f"text {i}", label=cycle[i % len(cycle)], source=f"f:{i}") for i in range(count)]


def test_the_split_is_stratified_stable_and_recorded(tmp_path):
    examples = labelled(1000)
    parts = stratified_split(examples, {"test": 0.2, "validation": 0.1, "train": 1.0}, SPLIT_SEED, stratify=True)
    assert sum(len(p) for p in parts.values()) == 1000 and len({e.source for p in parts.values() for e in p}) == 1000
    for name, share in (("test", 0.2), ("validation", 0.1), ("train", 0.7)):
        counts = Counter(e.label for e in parts[name])
        assert counts["pos"] == pytest.approx(600 * share, abs=1) and counts["mid"] == pytest.approx(100 * share, abs=1)
    again = stratified_split(examples, {"test": 0.2, "validation": 0.1, "train": 1.0}, SPLIT_SEED, stratify=True)
    assert [e.source for e in again["test"]] == [e.source for e in parts["test"]]  # the same split for the same seed
    path = tmp_path / "reviews.csv"
    path.write_text("review,stars\n" + "".join(f'"text {i}",{["good", "bad"][i % 2]}\n' for i in range(60)))
    data, pools = prepare_pools(str(path), {"text": "review", "label": "stars"})
    assert data.kind == "classification" and data.labels == {"bad": 30, "good": 30} and data.seed == SPLIT_SEED
    assert data.pools == {"test": 12, "validation": 6, "train": 42} and {len(v) for v in pools.values()} == {12, 6, 42}


def test_the_plan_fits_the_budget_and_prefers_seeds_then_k():
    per_step = {"adapter": 0.5, "finetune": 0.8}
    pools = {"train": 20000, "validation": 3000, "test": 5000}
    small = choose_design(per_step, pools, 1800)
    large = choose_design(per_step, pools, 8 * 3600)
    for design, budget in ((small, 1800), (large, 8 * 3600)):
        cost = design_seconds(
            per_step,
            design["train_size"],
            design["validation_size"],
            design["test_size"],
            design["seeds_min"],
            design["epochs"],
        )
        assert cost <= 0.7 * budget and cost == design["estimate_seconds"]
    assert large["train_size"] > small["train_size"] and large["seeds_max"] == 10 and large["test_size"] >= 500
    assert small["epochs"] == large["epochs"] == 10
    with pytest.raises(
        AdapterlabError,
        match=r"too small for the smallest valid comparison.*4-epoch ceiling.*give --budget \d+m or more",
    ):
        choose_design(per_step, pools, 60)


def test_a_tight_budget_lowers_the_epoch_ceiling_before_refusing():
    """Between the smallest design at the full ceiling and refusal, the ceiling comes down (6, then
    4 epochs): a run that has not settled by then trips the not-converged gate, never a verdict."""
    per_step = {"adapter": 0.35, "finetune": 0.55}
    pools = {"train": 1500, "validation": 200, "test": 400}
    full = design_seconds(per_step, 50, 100, 200, 3, 10) / 0.7
    design = choose_design(per_step, pools, full * 0.9)
    assert design["epochs"] < 10 and design["seeds_min"] == 3
    assert design["estimate_seconds"] <= 0.7 * full * 0.9


def test_a_sampled_plan_says_what_budget_the_whole_pool_needs():
    """The answer states what a larger budget would add: at twice the budget, and the budget at
    which every training example of the pool is used (priced as choose_design prices it)."""
    per_step = {"adapter": 0.2, "finetune": 0.3}
    pools = {"train": 3000, "validation": 400, "test": 800}
    design = choose_design(per_step, pools, 1800)
    assert design["train_size"] < 3000
    notes = larger_budget_note(per_step, pools, design, 1800)
    whole = [n for n in notes if n.startswith("all 3000 training examples")]
    assert len(whole) == 1
    shown = float(whole[0].split("about ")[1].split()[0]) * (60 if whole[0].endswith(" h") else 1)
    assert choose_design(per_step, pools, shown * 60)["train_size"] == 3000  # that budget uses the whole pool
    assert choose_design(per_step, pools, 0.9 * shown * 60)["train_size"] < 3000  # and a tenth less would not
    everything = choose_design(per_step, {"train": 200, "validation": 100, "test": 200}, 3600)
    assert everything["train_size"] == 200
    assert not any(n.startswith("all ") for n in larger_budget_note(per_step, pools | {"train": 200}, everything, 3600))


def _fake_compare(monkeypatch, gap, noise, mcc=0.6):
    """compare's runs replaced by a fake trainer (tests/policy/test_policy.py) with a known answer."""
    from test_policy import fake_trainer

    monkeypatch.setattr("adapterlab.compare.run.probe_methods", lambda methods, *a: dict.fromkeys(methods, 0.01))
    monkeypatch.setattr("adapterlab.compare.run.choose_lengths", lambda *a, **k: (32, 32))

    def no_second_probe(*a, **k):  # the budget finds the plan's timings under the runs' own keys
        raise AssertionError("the budget probed a setting compare's plan had timed")

    monkeypatch.setattr("adapterlab.policy.budget.run_probe", no_second_probe)
    calls: list = []
    trainer = fake_trainer(calls, {"adapter": 1e-3, "finetune": 5e-5, "lora": 1e-3}, gap=gap, noise=noise)

    def with_mcc(config, run_dir, overwrite=False):
        result = trainer(config, run_dir, overwrite)
        import dataclasses

        from adapterlab.runs import save_result

        result = dataclasses.replace(result, test={**result.test, "mcc": mcc})
        save_result(Path(run_dir), result)
        return result

    monkeypatch.setattr("adapterlab.train.run.run_training", with_mcc)
    return calls


@pytest.mark.parametrize(
    "gap, noise, mcc, verdict, words",
    [
        (0.04, 0.002, 0.6, "worse", "points below it on test"),
        (0.0, 0.0, 0.6, "equivalent", "is equivalent to it within ±1 point"),
        (0.0, 0.002, 0.01, "no verdict", "no verdict, because a validity gate tripped (did not learn"),
    ],
)
def test_the_answer_says_what_the_evidence_supports(tmp_path, monkeypatch, capsys, gap, noise, mcc, verdict, words):
    calls = _fake_compare(monkeypatch, -gap, noise, mcc)
    data = tmp_path / "reviews.tsv"
    write_sentiment_tsv(data, 120, 0)
    out = tmp_path / "cmp"
    assert (
        main(
            [
                "compare",
                str(data),
                "--columns",
                "text=sentence,label=label",
                "--methods",
                "adapter,finetune",
                "--budget",
                "60m",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    answer = json.loads((out / "compare.json").read_text())["answer"]
    adapter = next(r for r in answer["rows"] if r["method"] == "adapter")
    assert adapter["verdict"] == verdict and words in answer["paragraph"] and answer["paragraph"] in printed
    # seeds until decided: the design is sequential, and a difference is decided only past 5 seeds
    # (an anytime-valid test cannot reach p < 0.05 at 5), with the seeds the budget had room for
    assert answer["sequential"] and (adapter["seeds"] >= 6 if verdict == "worse" else True)
    # the seeds go to the answer's own comparisons (each method against the best on validation)
    added = out / "study" / "extensions.json"  # written once the policy adds a run
    reasons = [e["reason"] for e in json.loads(added.read_text())["extensions"]] if added.is_file() else []
    seeded = [r for r in reasons if "undecided at" in r]
    assert all(r.startswith("reviews: adapter vs fine-tuning: undecided at") for r in seeded), seeded
    assert seeded if verdict == "worse" else not seeded
    assert (
        "plan for reviews" in printed and "estimate:" in printed and "[1/" in printed
    )  # the plan before the first run, then progress
    ran = len(calls)
    assert (
        main(
            [
                "compare",
                str(data),
                "--columns",
                "text=sentence,label=label",
                "--methods",
                "adapter,finetune",
                "--budget",
                "60m",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    again = capsys.readouterr().out  # rerun after the end: the same answer, nothing trained
    assert len(calls) == ran and answer["paragraph"] in again
    answer_part = lambda text: text[text.index("\nreviews: ") :].rstrip()  # noqa: E731 - the answer, to the last line
    assert answer_part(again) == answer_part(printed)  # the table, the paragraph and where the chosen run is


def test_an_interval_excluding_zero_that_multiplicity_undoes_says_so():
    """An interval is one comparison's, q corrects for the family: a row whose interval excludes 0
    but whose q does not pass is undecided, and the paragraph says why instead of leaving the reader
    to think the table contradicts itself (seen on SST-2: LoRA -3.46 [-6.86, -0.06], q = 0.095)."""
    from adapterlab.compare.answer import Answer, MethodRow, paragraph

    def row(method, verdict, **values):
        return MethodRow(
            method, "lr=0.001", 5, 80.0, 72.0, 70.0, 74.0, 1000, 4000, "pack", 4.0, verdict=verdict, **values
        )

    best = row("adapter", "best")
    lora = row("lora", "inconclusive", difference=-3.46, diff_low=-6.86, diff_high=-0.06, p=0.047, q=0.095)
    tuned = row("finetune", "inconclusive", difference=-0.92, diff_low=-3.6, diff_high=1.76, p=0.39, q=0.39)
    text = paragraph(Answer("SST-2", "accuracy", "adapter", [best, lora, tuned], False, {}))
    assert "LoRA vs adapter is undecided at 5 seeds" in text
    assert "excludes 0 on its own, but not once corrected for the 2 comparisons with the best: q = 0.095" in text
    assert text.count("excludes 0") == 1  # not for fine-tuning, whose interval holds 0
    alone = paragraph(Answer("SST-2", "accuracy", "adapter", [best, lora], False, {}))
    assert "excludes 0" not in alone  # one comparison: no family to correct for


def test_a_hub_dataset_is_split_like_a_file(tmp_path, monkeypatch, capsys):
    """`compare --hub NAME`: a Hugging Face dataset's train split (class-label ids as their names,
    its own text columns found) is split once like a file, and named after the dataset. The Hub
    is not reachable here: datasets.load_dataset returns an in-memory dataset of GLUE's layout."""
    datasets = pytest.importorskip("datasets")
    asked = []

    def load_dataset(builder, config=None, split=None, data_files=None):
        asked.append((builder, config, split))
        rows = {
            "sentence": [f"text {i}" for i in range(60)],
            "label": [i % 2 for i in range(60)],
            "idx": list(range(60)),
        }
        features = datasets.Features(
            {
                "sentence": datasets.Value("string"),
                "label": datasets.ClassLabel(names=["negative", "positive"]),
                "idx": datasets.Value("int32"),
            }
        )
        return datasets.Dataset.from_dict(rows, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    data, pools = prepare_pools(HUB_PREFIX + "glue/sst2", {})
    assert asked == [("glue", "sst2", "train")]
    assert data.name == "sst2" and data.kind == "classification" and not data.pair
    assert data.labels == {"negative": 30, "positive": 30} and data.source == "hub:glue/sst2"
    assert data.pools == {"test": 12, "validation": 6, "train": 42}
    assert main(["compare", "--hub", "glue/sst2", str(tmp_path / "x.csv"), "--out", str(tmp_path / "no")]) == 2
    assert "not both" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert main(["compare", "--hub", "glue/sst2", "--columns", "text=review", "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "dataset 'glue/sst2': no column 'review'; columns are sentence, label, idx" in err and err.count("\n") == 1


def test_your_own_split_with_train_dev_and_test(tmp_path, monkeypatch, capsys):
    """--train/--dev/--test: the three files are the pools as given (no split), and the answer
    comes as for one file (it crashed with KeyError 'validation' before any run)."""
    calls = _fake_compare(monkeypatch, -0.04, 0.002)
    files = {}
    for split, count, seed in (("train", 80, 0), ("dev", 30, 1), ("test", 40, 2)):
        files[split] = tmp_path / f"{split}.tsv"
        write_sentiment_tsv(files[split], count, seed)
    out = tmp_path / "own"
    own = ["--train", str(files["train"]), "--dev", str(files["dev"]), "--test", str(files["test"])]
    assert main(["compare", *own, "--methods", "adapter,finetune", "--budget", "60m", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pools: 80 train, 30 validation, 40 test" in printed and calls
    record = json.loads((out / "data" / "split.json").read_text())
    assert record["pools"] == {"train": 80, "validation": 30, "test": 40}


def test_a_resume_with_the_file_read_otherwise_is_refused(tmp_path, monkeypatch, capsys):
    """The same file read with other --columns (or --format, --encoding, --max-length) is other
    data: resuming would mix two comparisons. A --train-size beyond the pool is one line too."""
    _fake_compare(monkeypatch, -0.04, 0.002)
    data = tmp_path / "reviews.tsv"
    write_sentiment_tsv(data, 120, 0)
    out = tmp_path / "cmp"
    base = ["compare", str(data), "--methods", "adapter,finetune", "--budget", "60m", "--out", str(out)]
    assert main([*base, "--columns", "text=sentence,label=label"]) == 0
    capsys.readouterr()
    assert main([*base, "--columns", "text=sentence,label=label", "--encoding", "latin-1"]) == 2
    err = capsys.readouterr().err
    assert "holds a comparison of other inputs (reading:" in err and err.count("\n") == 1
    assert main([*base, "--columns", "text=sentence,label=label", "--max-length", "48"]) == 2
    assert "(max_length: None, now 48)" in capsys.readouterr().err
    assert main([*base, "--columns", "text=sentence,label=label"]) == 0  # as first asked: resumes
    assert main([*base[:-1], str(tmp_path / "other"), "--train-size", "500"]) == 2
    assert "--train-size 500: the training pool has 84 examples" in capsys.readouterr().err


def test_bad_input_is_one_line_before_any_run(tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"t{i},same\n" for i in range(20)))
    cases = [
        (["compare", str(one)], "every example has the label 'same'; a comparison needs at least two classes"),
        (["compare", str(one), "--columns", "text=text,label=stars"], "stars"),
        (["compare", str(tmp_path / "missing.csv")], "missing.csv: file not found"),
        (["compare", str(one), "--methods", "adapter,telepathy"], "--methods 'telepathy': not a method"),
        (["compare", str(one), "--budget", "soon"], "budget 'soon': expected a duration"),
        (["compare"], "give DATA"),
    ]
    constant = tmp_path / "constant.csv"
    constant.write_text("text,label\n" + "".join(f"t{i},0.5\n" for i in range(40)))
    cases.append(
        (["compare", str(constant)], "every example has the label 0.5; a regression needs a target that varies")
    )
    missing = tmp_path / "nan.csv"
    missing.write_text("text,label\n" + "".join(f"t{i},{i / 7 if i % 9 else 'nan'}\n" for i in range(40)))
    cases.append((["compare", str(missing)], "a numeric label is nan; every label must be a finite number"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x00" * 50)
    cases.append((["compare", str(binary)], str(binary)))
    for args, expected in cases:
        assert main([*args, "--out", str(tmp_path / "never")]) == 2, args
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert not (tmp_path / "never").exists()
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    good = tmp_path / "good.csv"
    good.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(30)))
    assert main(["compare", str(good), "--out", str(user)]) == 2
    assert "is not an adapterlab comparison" in capsys.readouterr().err and (user / "notes.txt").read_text() == "mine"


def test_a_budget_too_small_for_one_converged_run_of_each_method(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("adapterlab.compare.run.probe_methods", lambda methods, *a: dict.fromkeys(methods, 5.0))
    monkeypatch.setattr("adapterlab.compare.run.choose_lengths", lambda *a, **k: (32, 32))
    data = tmp_path / "reviews.tsv"
    write_sentiment_tsv(data, 120, 0)
    assert (
        main(
            [
                "compare",
                str(data),
                "--columns",
                "text=sentence,label=label",
                "--budget",
                "2m",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--budget 2 min" in err and "give --budget" in err and not (tmp_path / "c" / "study").exists()
    assert err.rstrip().endswith("or more, or fewer --methods")  # three methods: two would also do
    # the budget it names is one it accepts: what the runs need, the timing and the answer's reserve
    suggested = err.split("give --budget ")[1].split("m ")[0]

    class Planned(Exception):
        pass

    def planned(*args):
        raise Planned

    monkeypatch.setattr("adapterlab.compare.run._start_folder", planned)
    with pytest.raises(Planned):
        main(
            [
                "compare",
                str(data),
                "--columns",
                "text=sentence,label=label",
                "--budget",
                f"{suggested}m",
                "--out",
                str(tmp_path / "e"),
            ]
        )
    two = ["--methods", "adapter,finetune", "--out", str(tmp_path / "d")]
    assert main(["compare", str(data), "--columns", "text=sentence,label=label", "--budget", "2m", *two]) == 2
    assert "fewer --methods" not in capsys.readouterr().err  # two is the fewest a comparison has
    # timed while the CPUs were busy: the refusal says so, since the budget it names is then too high
    import contextlib

    from adapterlab.study.contention import Contention

    monkeypatch.setattr(
        "adapterlab.compare.run.measure_contention", lambda: contextlib.nullcontext(Contention(0.8, 0.0))
    )
    busy = ["--methods", "adapter,finetune", "--out", str(tmp_path / "f")]
    assert main(["compare", str(data), "--columns", "text=sentence,label=label", "--budget", "2m", *busy]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "give --budget" in err
    assert err.endswith(
        "(the methods were timed while other processes used 80% of the CPUs: on a quiet machine steps are likely faster than this plan says)"
    )


def test_compare_end_to_end_on_the_tiny_bert_and_predict_with_best(tmp_path, monkeypatch, capsys):
    """Real training (tiny BERT, inline): the plan, the runs, the answer, report.html, and best/
    that `predict` takes. (The step timing is fixed: the probe itself is `study plan`'s, tested there.)"""
    monkeypatch.setattr("adapterlab.compare.run.probe_methods", lambda methods, *a: dict.fromkeys(methods, 0.01))
    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    data = tmp_path / "reviews.tsv"
    write_sentiment_tsv(data, 60, 0)
    out = tmp_path / "cmp"
    args = [
        "compare",
        str(data),
        "--columns",
        "text=sentence,label=label",
        "--methods",
        "adapter,finetune",
        "--model",
        str(model),
        "--budget",
        "30m",
        "--train-size",
        "20",
        "--seeds",
        "3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| adapter |" in printed and "| fine-tuning |" in printed
    # each run line prices every run left (fine-tuning at its probe until one has finished)
    first = next(line for line in printed.splitlines() if line.startswith("[1/"))
    time_words = r"\d+(\.\d)? (s|min|h)"
    assert re.search(
        rf"; \d+ planned run\(s\) left, about {time_words}( \(up to {time_words} at the epoch ceiling\)| at the epoch ceiling)$",
        first,
    ), first
    for name in ("compare.json", "answer.md", "report.html", "plan.json", "data/split.json", "data/train.jsonl"):
        assert (out / name).is_file(), name
    assert "<h1>Answer</h1>" in (out / "report.html").read_text()
    hint = printed.split("ready for `")[1].split("`")[0]  # the printed command is one that works
    assert hint.startswith("adapterlab predict ") and "--out" in hint
    lines = tmp_path / "lines.txt"
    lines.write_text("a great film\na dull plot\n")
    command = [{"FILE": str(lines), "predictions.jsonl": str(tmp_path / "p.jsonl")}.get(w, w) for w in hint.split()[1:]]
    assert main([*command, "--format", "lines"]) == 0  # the printed command, with a file of lines
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 2
    # a file like the one compared (SST-2 layout, TSV) is read as that file was, not as the JSON
    # lines compare wrote its samples in
    more = tmp_path / "more.tsv"
    write_sentiment_tsv(more, 6, 1)
    assert main(["predict", str(out / "best"), "--data", str(more), "--out", str(tmp_path / "q.jsonl")]) == 0
    assert len((tmp_path / "q.jsonl").read_text().splitlines()) == 6
    assert main(["evaluate", str(out / "best"), "--data", str(more), "--out", str(tmp_path / "e.json")]) == 0


def test_best_reads_new_files_as_the_compared_file_was_read(tmp_path):
    """DIR/best/ (a pack, or a fine-tuned run folder) takes the user's reading settings as its
    defaults, and nothing else of the chosen run changes."""
    import json as _json

    from adapterlab.compare.run import _hand_over

    reading = {"data_format": "csv", "columns": {"text": "review", "label": "stars"}, "encoding": "latin-1"}
    for kind, described in (("pack", "provenance.json"), ("run", "config.json")):
        run = tmp_path / kind
        inner = run / "pack" if kind == "pack" else run
        inner.mkdir(parents=True)
        values = {
            "data_format": "jsonl",
            "columns": {"text": "text", "label": "label"},
            "encoding": "utf-8",
            "task": "x",
        }
        (inner / described).write_text(_json.dumps(values))
        (inner / "weights.safetensors").write_bytes(b"w")
        _hand_over(run, tmp_path / f"best-{kind}", reading)
        handed = _json.loads((tmp_path / f"best-{kind}" / described).read_text())
        assert handed == {**values, **reading}
        assert (tmp_path / f"best-{kind}" / "weights.safetensors").read_bytes() == b"w"
        assert _json.loads((inner / described).read_text()) == values  # the run itself is untouched


def test_a_sample_has_exactly_the_size_asked():
    """Per-label shares are rounded; the sample is still exactly k (BBC News at k=50 trained on 49)."""
    from adapterlab.compare.data import sample

    examples = labelled(1558, classes=("a", "b", "c", "d", "e"), weights=(5, 4, 4, 3, 3))
    for size in (50, 100, 200, 7):
        kept = sample(examples, size, SPLIT_SEED, stratify=True)
        assert len(kept) == size and len({e.source for e in kept}) == size
        assert kept == sample(examples, size, SPLIT_SEED, stratify=True)  # stable for a seed
    assert len(Counter(e.label for e in sample(examples, 50, SPLIT_SEED, stratify=True))) == 5


def test_the_answer_shows_each_choice_at_its_runner_up_and_says_when_the_sign_turns():
    """Adapters are best on validation at 3e-4 (+6 points of validation over 1e-3's +1); at 1e-3
    they score 5 points lower on test, which turns fine-tuning's -4 into +1: the paragraph says the
    sign rests on the adapters' choice. Fine-tuning at its runner-up (2e-5) only widens the gap."""
    from types import SimpleNamespace

    from claims_worlds import pair_world

    from adapterlab.compare.answer import Answer, build_answer, paragraph
    from adapterlab.report.claims import GateContext

    select = ("lr", "adapter_size")
    rates = {"adapter": [(1e-4, 0.0), (3e-4, 0.06), (1e-3, 0.01)], "finetune": [(2e-5, 0.0), (5e-5, 0.05), (1e-4, 0.0)]}
    table = pair_world(0.03, 0.002, rates=rates, select=select)
    answer = build_answer(SimpleNamespace(main=table, records=[], context=GateContext(table, select=select)), "sst2")
    finetune = next(r for r in answer.rows if r.method == "finetune")
    assert answer.best == "adapter" and finetune.difference == pytest.approx(-4.0, abs=0.01)
    ups = {u.column: u for u in finetune.runner_ups}
    theirs, ours = ups["adapter"], ups["fine-tuning"]
    assert (theirs.chosen, theirs.runner_up, theirs.validation_gap) == (
        "m=64 lr=0.0003",
        "m=64 lr=0.001",
        pytest.approx(5.0),
    )
    assert theirs.value == pytest.approx(1.0, abs=0.01) and theirs.n == 5
    assert (ours.runner_up, ours.value) == ("lr=2e-05", pytest.approx(-9.0, abs=0.01))
    text = paragraph(answer)
    assert "With adapter at its runner-up m=64 lr=0.001 (validation 5.00 ± 0.00 below m=64 lr=0.0003)" in text
    assert "the difference would be +1.00" in text and "its direction rests on that choice" in text
    assert "With fine-tuning at its runner-up" not in text  # the same sign: nothing to say
    assert Answer.from_json(json.loads(json.dumps(answer.to_json()))) == answer
    old = answer.to_json()  # a compare.json written before runner-ups existed still reads
    for row in old["rows"]:
        del row["runner_ups"]
    assert all(r.runner_ups == [] for r in Answer.from_json(old).rows)


def test_no_direction_sentence_for_an_undecided_row_or_a_runner_up_at_zero():
    from adapterlab.compare.answer import Answer, MethodRow, paragraph
    from adapterlab.report.sensitivity import RunnerUp

    turned = RunnerUp("adapter", "lr=0.001", "lr=0.003", 0.25, 0.26, 1.5, -0.5, 3.5, 5)
    at_zero = RunnerUp("adapter", "lr=0.001", "lr=0.003", 0.25, 0.26, 0.001, -0.8, 0.8, 5)

    def row(method, verdict, ups=()):
        return MethodRow(
            method,
            "lr=0.001",
            5,
            80.0,
            72.0,
            70.0,
            74.0,
            1000,
            4000,
            "pack",
            4.0,
            verdict=verdict,
            difference=-2.0,
            diff_low=-3.0,
            diff_high=-1.0,
            q=0.01,
            runner_ups=list(ups),
        )

    def text(verdict, ups):
        return paragraph(
            Answer("SST-2", "accuracy", "adapter", [row("adapter", "best"), row("lora", verdict, ups)], False, {})
        )

    assert "its direction rests on that choice" in text("worse", [turned])
    assert "(validation 0.25 ± 0.26 below lr=0.001)" in text("worse", [turned])
    assert "rests on that choice" not in text("inconclusive", [turned])  # no direction was claimed
    assert "rests on that choice" not in text("equivalent", [turned])
    assert "rests on that choice" not in text("worse", [at_zero])  # +0.00 as printed: no sign to turn


def test_compare_times_its_methods_at_the_padded_length_of_its_batches(tmp_path):
    """40 short inputs and 10 long ones: max_length covers the long ones (their 95th percentile),
    and the probes time the mean length of batches of 16 padded to their longest."""
    from adapterlab.compare.run import choose_lengths

    model = save_tiny_backbone(tmp_path / "model")
    words = lambda n: " ".join(["good"] * n)  # noqa: E731 - one token per word in the tiny vocabulary
    examples = [Example(text=words(2)) for _ in range(40)] + [Example(text=words(30)) for _ in range(10)]
    max_length, padded = choose_lengths(examples, False, str(model), None)
    # lengths with [CLS] and [SEP]: 4 and 32; longest first in one window: batches 32, 4, 4, 4
    assert (max_length, padded) == (32, 11)
    assert choose_lengths(examples, False, str(model), 16) == (16, 7)  # a given max_length cuts first: 16, 4, 4, 4


def test_a_plan_timed_while_the_cpus_were_busy_says_so(tmp_path, monkeypatch, capsys):
    """The design is sized from the timed steps: timed under load, it is too small, and the plan
    (printed and in plan.json) says so."""
    import contextlib

    from adapterlab.study.contention import Contention

    _fake_compare(monkeypatch, 0.0, 0.002, 0.6)
    monkeypatch.setattr("adapterlab.compare.run.measure_contention", lambda: contextlib.nullcontext(Contention(0.8)))
    data = tmp_path / "reviews.tsv"
    write_sentiment_tsv(data, 120, 0)
    out = tmp_path / "cmp"
    args = ["compare", str(data), "--columns", "text=sentence,label=label", "--methods", "adapter,finetune"]
    assert main([*args, "--budget", "60m", "--seeds", "3", "--out", str(out)]) == 0
    warning = "warning: the methods were timed while other processes used 80% of the CPUs: on a quiet machine steps are likely faster"
    assert warning in capsys.readouterr().out.split("[1/")[0]  # in the plan, before the first run
    assert any(warning in note for note in json.loads((out / "plan.json").read_text())["plan"]["notes"])
