"""`adapterlab study plan`: runs, steps per run, a measured time per step and the peak memory of
each distinct setting, before a study runs."""

import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from studyworld import tiny_spec

from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.study.plan import backbone_config
from adapterlab.study.probe import micro_batch_sizes, probe_in_process, probe_key
from adapterlab.train.config import RunConfig


def _family_ticks() -> int:
    """CPU ticks of this process, its ended children, and its live children (from /proc): the
    busy time a machine with nothing else on it would show."""
    from adapterlab.study import contention

    ticks = os.sysconf("SC_CLK_TCK")
    live = 0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile: counted among the ended children once reaped
            live += int(fields[11]) + int(fields[12])  # utime, stime
    return round(contention._own_cpu_seconds() * ticks) + live


def test_plan_times_each_setting_once_across_specs(tiny_world, tmp_path, capsys, monkeypatch):
    from adapterlab.study import contention, plan, probe

    seen = []
    if sys.platform.startswith("linux"):
        # a machine where only this process and its children run: the share of "other processes"
        # must be 0, which it is only if the probe's child has ended (and is counted as ours)
        # before the measurement ends; background load of the real machine does not enter
        cpus = len(os.sched_getaffinity(0))
        clock = os.sysconf("SC_CLK_TCK")
        monkeypatch.setattr(
            contention, "_cpu_jiffies", lambda: (_family_ticks(), round(time.monotonic() * clock * cpus))
        )

    def spied(*args, **kwargs):  # the real probe
        before = contention._own_cpu_seconds()
        found = probe.run_probe(*args, **kwargs)
        seen.append((found, contention._own_cpu_seconds() - before))
        return found

    monkeypatch.setattr(plan, "run_probe", spied)
    root, model = tiny_world
    first, second = tmp_path / "s.yaml", tmp_path / "t.yaml"
    values = tiny_spec(root, model, seeds=(0, 1))  # k=20, batch 8, 1 epoch: 3 steps per run
    values["grid"]["method"] = ["adapter"]  # one setting: one probe process (the suite's time budget)
    first.write_text(yaml.safe_dump(values))
    values = {**values, "name": "tiny2", "grid": {**values["grid"], "seed": [0]}}
    second.write_text(yaml.safe_dump(values))
    assert main(["study", "plan", str(first), str(second), str(first), "--probe-steps", "1"]) == 0
    captured = capsys.readouterr()
    rows = [
        line.split(" | ")
        for line in captured.out.splitlines()
        if line.startswith("| ") and "---" not in line and "backbone" not in line
    ]
    assert [(r[1].split()[0], r[3], r[4]) for r in rows] == [
        ("adapter", "2", "3"),
        ("adapter", "1", "3"),
    ]  # a spec named twice: once
    # the probe ran in its own process, so its peak is its own: a child's RSS, torch included
    assert all(float(r[-1].split()[0]) > 50 and float(r[5]) > 0 for r in rows)
    assert "tiny: 2 runs" in captured.out and "tiny2: 1 run," in captured.out and "all 2 specs: 3 runs" in captured.out
    assert captured.err.count("probing") == 1  # the second spec's setting was probed for the first
    # the CPU-sharing measurement: the probe's child (torch's import alone is seconds of CPU) is
    # counted as this process's once its pool has ended, so it is not "other processes"
    [(found, ours)] = seen
    assert ours > 0.5, ours
    if sys.platform.startswith("linux"):
        assert found.others_cpu_share is not None and found.others_cpu_share < 0.05, found.others_cpu_share


def test_probe_key_separates_what_changes_a_step():
    base = RunConfig(task="sst2", train="t.tsv", model="m")
    keys = {probe_key(base), probe_key(RunConfig(task="sst2", train="t.tsv", model="m", seed=3))}
    assert len(keys) == 1  # the seed does not change a step's cost
    changed = [
        RunConfig(task="sst2", train="t.tsv", model="m", grad_accum=2),
        RunConfig(task="sst2", train="t.tsv", model="m", gradient_checkpointing=True),
        RunConfig(task="sst2", train="t.tsv", model="m", method="lora"),
        RunConfig(task="sst2", train="t.tsv", model="m", max_length=64),
    ]
    assert len({probe_key(c) for c in changed} | keys) == 5
    assert micro_batch_sizes(16, 1) == [16] and micro_batch_sizes(10, 4) == [3, 3, 2, 2]


def test_probe_runs_the_runs_own_setting(tiny_world):
    _, model = tiny_world
    for config in (
        RunConfig(
            task="panx",
            train="t.tsv",
            model=str(model),
            batch_size=4,
            grad_accum=2,
            max_length=16,
            gradient_checkpointing=True,
        ),
        RunConfig(task="stsb", train="t.tsv", model=str(model), batch_size=4, max_length=16, method="ia3"),
    ):
        kind = "token" if config.task == "panx" else "regression"
        result = probe_in_process(config, kind, steps=1)
        assert result.error is None and result.seconds_per_step > 0


def test_the_papers_backbones_have_shipped_configs():
    shapes = {
        name: (c.hidden_size, c.num_hidden_layers)
        for name in ("bert-base-uncased", "roberta-base", "xlm-roberta-large")
        for c in [backbone_config(name)]
    }
    assert shapes == {"bert-base-uncased": (768, 12), "roberta-base": (768, 12), "xlm-roberta-large": (1024, 24)}


def test_batches_are_timed_at_the_length_they_are_padded_to():
    """A run pads each batch to its longest input and groups similar lengths, so the probes time
    the mean of those longest lengths, not max_length (PAN-X: about 15 against 64)."""
    from adapterlab.study.batch_length import mean_padded_length

    assert mean_padded_length([10] * 40, 8) == 10
    # 32 short and 32 long inputs: length-grouped batches of 32 are 5 and 50 long: 27.5, rounded up
    assert mean_padded_length([5, 50] * 32, 32) == 28
    # one batch holds them all: its longest
    assert mean_padded_length([3, 9, 4], 8) == 9


def test_plan_probes_at_the_runs_padded_length_and_says_it(tiny_world, tmp_path, capsys, monkeypatch):
    from adapterlab.study import plan as plan_module
    from adapterlab.study.batch_length import run_batch_length
    from adapterlab.study.probe import ProbeResult

    root, model = tiny_world
    timed = []

    def fake_probe(config, kind, steps, length=None):
        timed.append(length)
        return ProbeResult(0.01, 100.0, "cpu")

    monkeypatch.setattr(plan_module, "run_probe", fake_probe)
    values = tiny_spec(root, model, seeds=(0,), extra_base={"max_length": 128})
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(values))
    assert main(["study", "plan", str(spec)]) == 0
    config = RunConfig(
        task="sst2",
        train=str(root / "train.tsv"),
        dev=str(root / "dev.tsv"),
        model=str(model),
        batch_size=8,
        max_length=128,
        validation_size=10,
        train_size=20,
    )
    padded = run_batch_length(config)
    assert padded is not None and 3 < padded < 128  # the toy sentences are a few words
    assert timed == [padded, padded]  # both methods, at the data's length
    assert f"8 x 128 (padded to {padded} on average)" in capsys.readouterr().out
    # data that cannot be read here: the probe times max_length, an upper bound
    assert run_batch_length(RunConfig(task="sst2", train=str(tmp_path / "none.tsv"), model=str(model))) is None


def test_the_warm_up_step_is_at_max_length_and_the_timed_steps_at_the_padded_length(tiny_world, monkeypatch):
    """The run's longest batch reaches max_length: the probe's peak memory (and "does not fit")
    come from a step there; its time from steps at the padded length."""
    import torch

    _, model = tiny_world
    shapes, randint = [], torch.randint

    def spy(low, high, size, **kwargs):
        shapes.append(tuple(size))
        return randint(low, high, size, **kwargs)

    monkeypatch.setattr(torch, "randint", spy)
    config = RunConfig(task="sst2", train="t.tsv", model=str(model), batch_size=4, max_length=32)
    assert probe_in_process(config, "classification", steps=2, length=8).error is None
    lengths = [shape[1] for shape in shapes if len(shape) == 2 and shape[0] == 4]
    assert lengths[0] == 32 and set(lengths[1:]) == {8}


def test_the_padded_length_is_not_estimated_where_it_would_mislead_or_download(tiny_world, tmp_path):
    from adapterlab.study.batch_length import run_batch_length

    root, model = tiny_world
    data = {"task": "sst2", "train": str(root / "train.tsv"), "dev": str(root / "dev.tsv"), "max_length": 32}
    good = RunConfig(**data, model=str(model), batch_size=8, method="adapter")
    assert run_batch_length(good) is not None
    # a method that does not fit this backbone reads the same data: its length is not lost
    from adapterlab.adapters.config import AdapterConfig
    from adapterlab.train.inputs import read_inputs

    wide = RunConfig(**data, model=str(model), batch_size=8, method="adapter", adapter=AdapterConfig(size=4096))
    with pytest.raises(AdapterlabError):
        read_inputs(wide)  # the run itself would refuse it
    assert run_batch_length(wide) == run_batch_length(good)
    assert run_batch_length(RunConfig(**data, model=str(model), batch_size=8, tapt=True)) is None  # MLM steps
    assert run_batch_length(RunConfig(task="sst2", hub="glue/sst2", model=str(model))) is None  # no download
    assert run_batch_length(RunConfig(**data, model="bert-base-uncased")) is None  # a hub backbone


def test_the_plan_names_the_embedded_backbone(tiny_world, tmp_path, capsys, monkeypatch):
    """A spec without `model` runs on the embedded MiniLM, and the plan says which (not "default")."""
    from adapterlab.backbone import backbone_label
    from adapterlab.study import plan as plan_module
    from adapterlab.study.probe import ProbeResult

    assert backbone_label(None) == backbone_label("default") == "all-MiniLM-L6-v2 (embedded)"
    assert backbone_label("/models/xlmr") == "/models/xlmr"
    root, model = tiny_world
    monkeypatch.setattr(plan_module, "run_probe", lambda *a, **k: ProbeResult(0.01, 100.0, "cpu"))
    values = tiny_spec(root, model, seeds=(0,))
    values["base"].pop("model", None)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(values))
    assert main(["study", "plan", str(spec)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| all-MiniLM-L6-v2 (embedded) |")]
    assert len(rows) == 2  # adapters and fine-tuning
