"""Data-parallel training (2 processes, gloo on CPU) makes the same steps over the same examples as
one process: no example dropped or counted twice, the same validation and test numbers."""

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch.distributed
from tiny import save_tiny_backbone, write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.train.batching import share

TRAIN_ROWS = 41  # prime: the last global batch is smaller than the rest, and can be smaller than the world
EPOCHS = 2

needs_gloo = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with gloo is not available",
)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 7, 16])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shares_cut_a_batch_into_near_equal_contiguous_parts(count, world):
    batch = list(range(100, 100 + count))
    shares = [share(batch, rank, world) for rank in range(world)]
    assert [i for part in shares for i in part] == batch  # in order, nothing dropped or repeated
    sizes = [len(part) for part in shares]
    assert max(sizes) - min(sizes) <= 1
    if count < world:
        assert sizes.count(0) == world - count  # a batch smaller than the world leaves some shares empty


@pytest.fixture(scope="module")
def world_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiprocess")
    model = save_tiny_backbone(root / "model", dropout=0.0)  # no dropout: 1 and 2 processes compute the same thing
    for name, count, seed in (("tr", TRAIN_ROWS, 0), ("dev", 13, 1), ("te", 11, 2)):
        write_sentiment_tsv(root / f"{name}.tsv", count, seed)
    return root, model


def train_arguments(root, model, batch_size: int, out) -> list[str]:
    # lr 1e-2 so that the adapters move visibly in 2 epochs and a wrong step would show in the losses
    return [
        "train",
        "--task",
        "sst2",
        "--train",
        str(root / "tr.tsv"),
        "--dev",
        str(root / "dev.tsv"),
        "--test",
        str(root / "te.tsv"),
        "--model",
        str(model),
        "--adapter-size",
        "8",
        "--lr",
        "1e-2",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(batch_size),
        "--max-length",
        "32",
        "--no-progress",
        "--out",
        str(out),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_run(out) -> tuple[dict, list[dict]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return json.loads((out / "result.json").read_text()), rows


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-7)


@needs_gloo
@pytest.mark.parametrize("batch_size", [4, 5])
def test_two_processes_train_every_example_like_one(world_files, tmp_path, batch_size):
    root, model = world_files
    assert main(train_arguments(root, model, batch_size, tmp_path / "one")) == 0
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(free_port()),
        "-m",
        "adapterlab",
        *train_arguments(root, model, batch_size, tmp_path / "two"),
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(launch, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]

    one, one_rows = read_run(tmp_path / "one")
    two, two_rows = read_run(tmp_path / "two")
    steps = math.ceil(TRAIN_ROWS / batch_size)  # the last, smaller batch is a step too (1 example: one share is empty)
    assert (one["num_processes"], two["num_processes"]) == (1, 2)
    assert one["steps"] == two["steps"] == EPOCHS * steps
    for result in (one, two):  # examples trained, from the recorded throughput
        assert round(result["train_examples_per_second"] * result["train_seconds"]) == EPOCHS * TRAIN_ROWS
    assert two["best_epoch"] == one["best_epoch"] and two["best_step"] == one["best_step"]
    for split in ("best_validation", "test"):
        assert two[split]["count"] == one[split]["count"]  # every example scored once
        for key, value in one[split].items():
            assert close(two[split][key], value), (split, key, two[split][key], value)
    assert [(r["split"], r["epoch"], r["step"]) for r in two_rows] == [
        (r["split"], r["epoch"], r["step"]) for r in one_rows
    ]
    for row_one, row_two in zip(one_rows, two_rows):
        assert close(row_two["loss"], row_one["loss"]), (row_one, row_two)
    # the adapters learned something, so equal losses mean equal training, not two untrained models
    assert not close(one_rows[0]["loss"], one_rows[1]["loss"])
