"""Whether a timing shared the CPUs: the time other processes spent on the CPUs this process may use
while a probe ran. A plan made from steps timed under load overestimates every run (under a 2-worker
study, `study plan` once estimated about 10x the records' step times) and sizes `compare`'s design
too small, so the plan says so."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BUSY_SHARE = 0.25  # other processes above this share of the CPUs' time ...
IDLE_SHARE = 0.25  # ... while less than this was left idle: the timing shared the CPUs (a plan warns)


@dataclass
class Contention:
    """others: the share (0 to 1) of the usable CPUs' time that other processes used during the
    block; idle: the share left idle. None where it cannot be read (not Linux). Filled in when the
    block ends. Where a container's CPU quota (cgroup cpu.max) is below the CPUs it may run on,
    /proc/stat counts the host's load on those CPUs, not the quota's: the share is then the host's."""

    others: float | None = None
    idle: float | None = None

    def warning(self, what: str) -> str | None:
        """One line for a plan, when the timing shared busy CPUs (others above BUSY_SHARE and idle
        below IDLE_SHARE: with CPUs to spare, the probe was not slowed); else None."""
        if self.others is None or self.others <= BUSY_SHARE or (self.idle is not None and self.idle >= IDLE_SHARE):
            return None
        return (
            f"warning: {what} timed while other processes used {self.others:.0%} of the CPUs: on a quiet machine "
            "steps are likely faster than this plan says"
        )


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) clock ticks of the CPUs this process may run on, since boot (/proc/stat)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        usable = {f"cpu{n}" for n in os.sched_getaffinity(0)}
        busy = total = 0
        with open("/proc/stat") as stat:
            for line in stat:
                name, *fields = line.split()
                if name not in usable:
                    continue
                ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
        return (busy, total) if total else None
    except (OSError, ValueError, IndexError):
        return None


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (a probe's pool has ended
    when the block ends)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def measure_contention() -> Iterator[Contention]:
    """Measure, around a block whose child processes end within it, the CPU time that others used."""
    found = Contention()
    start, own, started = _cpu_jiffies(), _own_cpu_seconds(), time.monotonic()
    yield found
    end = _cpu_jiffies()
    if start is None or end is None or end[1] <= start[1] or time.monotonic() - started < 0.5:
        return  # too short to tell: a clock tick is 10 ms
    ticks = os.sysconf("SC_CLK_TCK")
    others = (end[0] - start[0]) - (_own_cpu_seconds() - own) * ticks
    total = end[1] - start[1]
    found.others = min(1.0, max(0.0, others / total))
    found.idle = min(1.0, max(0.0, 1.0 - (end[0] - start[0]) / total))
