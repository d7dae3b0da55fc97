"""Every benchmark script runs in CI, in its --smoke mode (a step or two on a tiny random BERT and
toy data; benchmarks/smoke.py), and prints the lines that set what it measures beside its
baseline: a benchmark that no longer runs fails the suite instead of rotting (issue #30:
`compare_peers.py --e2e` had crashed unnoticed since results became records).

The scripts run as subprocesses, two at a time (most of their time is Python and torch starting),
longest first; each test waits for its own script. worker_kill.py starts about a dozen Python
processes (three `study run` invocations, their spawned workers and run children: over a minute
on 2 cores), and plan_accuracy.py (a `study plan` and a `study run`) and train_memory.py (four
runs, each in its own process) take about 30 s each, so they run only with
ADAPTERLAB_SLOW_SMOKES=1, which `make smoke-slow` (in .ci/run) sets, to keep `make test` within
its 10 minutes on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
# script -> (arguments besides --smoke, what its output must show: the measured-vs-baseline lines), longest first.
SMOKES = {
    "worker_kill.py": ([], r"trial  1: exit codes .*\n(?s:.*)trials: 1; runs executed twice: 0"),
    "plan_accuracy.py": (
        [],
        r"\| adapter m=8 \| 1 \| .* \| [\d.]+ \|\nstudy plan's estimate: \d+ s; measured `study run` wall time: \d+ s; "
        r"estimate / measured = [\d.]+",
    ),
    "compare_peers.py": (
        ["--e2e"],
        r"\| adapterlab-ia3 \| .*\n(?s:.*)adapterlab / fine-tune: [\d.]+x \(target <= 0.65x\)(?s:.*)"
        r"LoRA in adapterlab's loop / PEFT's get_peft_model: [\d.]+x(?s:.*)\| adapterlab train \| \d+ s \| [\d.]+ \|",
    ),
    "train_throughput.py": (
        [],
        r"\| adapter \| .*\n\nadapter / plain fine-tuning step: [\d.]+x \(target <= 0.65x\); "
        r"adapter / fine-tuning in the same loop: [\d.]+x",
    ),
    "lowres_real.py": ([], r"\| sst2 \(accuracy\) \| adapter \| .*\n\| sst2 \(accuracy\) \| finetune \| "),
    "predict_throughput.py": (
        [],
        r"predictions agree: same labels(?s:.*)one pass / separate runs: [\d.]+x the wall time",
    ),
    "pack_precision.py": ([], r"\| float32 \| .*\n\| float16 \| .* \| \d+ of 8 \|\n\| bfloat16 \| "),
    "mixed_task_serving.py": (
        [],
        r"\| 8 \(2\) \| [\d.e+-]+ \| [\d.]+ ex/s \| [\d.]+ ex/s \| [\d.]+ ex/s \| [\d.]+x \| [\d.]+x \|",
    ),
    "sequential_error_rates.py": (
        [],
        r"\| 0 \| anytime-valid \(ours\) \| .*\n\| 0 \| naive t-test at every look \| (?s:.*)"
        r"Benjamini-Hochberg over the table [\d.]+ \(ours\), p < 0.05 per row [\d.]+ \(naive\)",
    ),
    "train_memory.py": (
        [],
        r"\| adapterlab as it is \| \d+ \| 1: \d+.*\n\| allocator keeps blocks up to 1 GB \(before\) \| \d+ \| (?s:.*)"
        r"no collection after validation and save \(before\): peak RSS [\d.]+x adapterlab's; from the first validation "
        r"to the last: [+-]\d+ MB against [+-]\d+ MB",
    ),
    "c6_tail_error_rates.py": (
        [],
        r"same +5  leave out \(now\) +[\d.]+ +[\d.]+ +[\d.]+\nsame +5  0 without a tail \(before\) +[\d.]+(?s:.*)"
        r"fall \(power\) +10  0 without a tail \(before\) ",
    ),
    "at_chance_plateaus.py": (
        [],
        r"\d+ runs at chance for >= 3 evaluations; \d+ later left it\n(?s:.*)a patience of \d+ flat evaluations",
    ),
    "eta_backtest.py": (
        [],
        r"mean so far \(before\): median \|log2\(prediction / actual\)\| [\d.]+(?s:.*)"
        r"estimate \(now\): median \|log2\(prediction / actual\)\| [\d.]+",
    ),
    # AdapterHub's `adapters` pins transformers 4.57.6: this one runs where it is installed (the peers' venv)
    "parity_adapterhub.py": (["--import"], r"max \|logit difference\| .*\n(?s:.*)PARITY OK(?s:.*)IMPORT OK"),
}
NEEDS = {"parity_adapterhub.py": "adapters"}
SLOW = {"worker_kill.py", "plan_accuracy.py", "train_memory.py"}
TIMEOUT_S = 300


def _run(script: str) -> subprocess.CompletedProcess:
    arguments, _ = SMOKES[script]
    # the adapterlab this test imports, whatever the venv holds
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke", *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=REPO,
        env=env,
    )


def _installed(name: str) -> bool:
    """A real package, not the namespace package tests/adapters/ (tests/ is on sys.path)."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin not in (None, "namespace")


def _why_not(script: str) -> str | None:
    if script in NEEDS and not _installed(NEEDS[script]):
        return f"{script} needs {NEEDS[script]!r}, not installed here"
    if script in SLOW and os.environ.get("ADAPTERLAB_SLOW_SMOKES") != "1":
        return f"{script}: slow; `make smoke-slow` (ADAPTERLAB_SLOW_SMOKES=1) runs it, as .ci/run does"
    return None


@pytest.fixture(scope="module")
def smoke_runs(request):
    """The selected scripts' runs, started together (two at a time) when the first test asks."""
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "script" in item.callspec.params
    ]
    pool = ThreadPoolExecutor(max_workers=2)
    runs: dict[str, Future] = {
        script: pool.submit(_run, script) for script in SMOKES if script in selected and _why_not(script) is None
    }
    yield runs
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_benchmark_script_has_a_smoke_run():
    # benchmarks/gpu/ moves the replication suite to a lent GPU (bundle, assemble, replicate): tools, not measurements
    scripts = {path.name for path in BENCHMARKS.glob("*.py")} - {"smoke.py"}
    assert scripts == set(SMOKES), "add the new benchmark's --smoke run to SMOKES"


@pytest.mark.parametrize("script", list(SMOKES))
def test_benchmark_smoke_run(script, smoke_runs):
    if (why := _why_not(script)) is not None:
        pytest.skip(why)
    done = smoke_runs[script].result()
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} --smoke exited {done.returncode}:\n{output[-4000:]}"
    assert re.search(SMOKES[script][1], done.stdout), (
        f"{script} --smoke did not print its measured-vs-baseline lines:\n{done.stdout[-4000:]}"
    )
    assert "Traceback" not in output, output[-4000:]
