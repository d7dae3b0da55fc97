"""A plan says when its timing shared the CPUs (study/contention.py)."""

import subprocess
import sys
import time

import pytest
import yaml
from studyworld import tiny_spec

from adapterlab.cli import main
from adapterlab.study import contention
from adapterlab.study.contention import Contention, measure_contention

SPIN = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_another_process_spinning_during_the_block_is_measured():
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.3)  # it has started
        with measure_contention() as found:
            time.sleep(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    # one spinning process on the usable CPUs: at least its share of them (1/n)
    assert found.others is not None and found.others >= 0.8 / len(__import__("os").sched_getaffinity(0))
    assert "warning: the steps were timed while other processes used" in Contention(found.others).warning(
        "the steps were"
    )


def test_the_time_of_the_measured_process_and_its_children_is_not_counted(monkeypatch):
    """(busy, total) ticks of the CPUs from /proc/stat, minus this process's own CPU seconds."""
    ticks = iter([(1000, 2000), (1150, 2200)])  # 150 busy ticks of 200 during the block
    own = iter([5.0, 6.0])  # of which 1.0 s (100 ticks at 100 Hz) were ours or our children's
    clock = iter([0.0, 1.0])
    monkeypatch.setattr(contention, "_cpu_jiffies", lambda: next(ticks))
    monkeypatch.setattr(contention, "_own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(contention.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(contention.os, "sysconf", lambda name: 100)
    with measure_contention() as found:
        pass
    assert found.others == pytest.approx(50 / 200) and found.idle == pytest.approx(50 / 200)
    assert Contention(0.25).warning("x") is None and Contention(None).warning("x") is None
    assert Contention(0.26).warning("x") is not None and Contention(0.26, 0.1).warning("x") is not None
    # other processes busy, but CPUs left idle while the probe ran: it was not slowed (a large machine)
    assert Contention(0.6, 0.3).warning("x") is None


def test_study_plan_warns_when_a_probe_shared_the_cpus(tiny_world, tmp_path, capsys, monkeypatch):
    from adapterlab.study import plan as plan_module
    from adapterlab.study.probe import ProbeResult

    root, model = tiny_world
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(root, model, seeds=(0,))))
    for share, warned in ((0.1, False), (0.9, True)):
        monkeypatch.setattr(
            plan_module, "run_probe", lambda *a, share=share, **k: ProbeResult(0.01, 100.0, "cpu", None, share)
        )
        assert main(["study", "plan", str(spec)]) == 0
        out = capsys.readouterr().out
        assert ("other processes used 90% of the CPUs" in out) is warned, out
        # the probe's memory is its steps', not a run's whole peak, and the table says so
        assert "| peak memory of the steps |" in out and "its result.json records its own peak" in out
