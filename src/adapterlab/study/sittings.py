"""The sittings of a study: each `study run` (or `compare`) invocation's wall time, recorded in
DIR/sittings/, so that a spec's `policy.budget` bounds the whole study over every sitting instead
of each sitting on its own (issue #28: "within a stated budget per spec").

Each sitting writes a file of its own (no lock, no read-modify-write: two invocations on one
folder never touch the same file) with when it started and when it was last seen alive; a
background thread moves `last` every HEARTBEAT_SECONDS, so a killed sitting is counted up to its
last heartbeat (at most that much short), and a sitting whose process still runs, up to now. Sittings that overlap count once: the time used is the
length of the union of their intervals, wall time and not run time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runs import RESULT_FILE, write_json_atomic

SITTINGS_DIR = "sittings"
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Sitting:
    started: float  # Unix time, seconds
    last: float  # the last heartbeat (the end, for a sitting that ended)
    workers: int
    budget_seconds: float | None  # the limit it ran under (None: none)
    budget_from: str | None  # "spec" (what was left of policy.budget) or "--budget"
    # the first sitting recorded here found finished runs: earlier sittings are not recorded (an older
    # adapterlab, or a copy of the folder without sittings/)
    unrecorded_before: bool = False
    pid: int | None = None  # the process, so that a reader can tell a live sitting from one that ended
    host: str | None = None


@dataclass(frozen=True)
class Ledger:
    sittings: tuple[Sitting, ...]  # by start

    @property
    def seconds(self) -> float:
        """Wall time used, overlapping sittings counted once."""
        used, end = 0.0, float("-inf")
        for sitting in sorted(self.sittings, key=lambda s: s.started):
            start = max(sitting.started, end)
            if sitting.last > start:
                used += sitting.last - start
            end = max(end, sitting.last)
        return used

    @property
    def unrecorded_before(self) -> bool:
        return any(s.unrecorded_before for s in self.sittings)


@dataclass(frozen=True)
class BudgetUse:
    """The time limit a `study run` sitting ran under, and what it left unstarted."""

    source: str  # "spec" (what was left of policy.budget over all sittings) or "--budget"
    seconds: float  # this sitting's limit, from its start
    shortest_left: float | None = None  # the shortest estimate among the runs it left unstarted
    left_total: float | None = None  # those runs' estimates, one after another

    @property
    def no_room(self) -> bool:
        """The spec's budget cannot start any run left: running again would start none either."""
        return self.source == "spec" and (
            self.seconds <= 0 or (self.shortest_left is not None and self.shortest_left > self.seconds)
        )


def load_ledger(out: Path) -> Ledger:
    """Every sitting recorded in DIR/sittings/ (none where there is no such folder). A damaged file
    is one error naming it: the budget is never counted as if that sitting had not happened."""
    folder = Path(out) / SITTINGS_DIR
    known = {f.name for f in fields(Sitting)}
    sittings = []
    now = time.time()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entry = _checked(Sitting(**{k: v for k, v in raw.items() if k in known}), now)
            if _alive(entry):  # a sitting running now is counted up to now, not to its last heartbeat
                entry = replace(entry, last=max(entry.last, now))
            sittings.append(entry)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as err:
            raise AdapterlabError(
                f"{path}: not a sitting's record ({type(err).__name__}: {err}); the sittings count the time spent "
                "against the spec's policy.budget: move it away to leave that sitting out, or pass --budget"
            ) from None
    return Ledger(tuple(sorted(sittings, key=lambda s: s.started)))


def _alive(entry: Sitting) -> bool:
    """Whether the sitting's process runs now, on this machine (one that ended wrote its end; one
    killed, or on another machine, counts to its last heartbeat)."""
    pid = entry.pid
    if entry.host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # (kill(0) or a negative pid would signal a process group)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    except (OverflowError, ValueError):
        return False
    # a pid is reused once its process ends: the process that holds it now must have started
    # before the sitting did (a copy of a live sitting's record would otherwise count for ever)
    began = _process_start(pid)
    return began is None or began <= entry.started + 2.0  # (boot time in /proc is whole seconds)


def _process_start(pid: int) -> float | None:
    """The Unix time process `pid` started, from /proc (Linux); None where it cannot be read."""
    try:
        fields_after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields_after_name[19])  # starttime, field 22 of stat, in clock ticks after boot
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _checked(entry: Sitting, now: float) -> Sitting:
    """A record whose times are finite Unix times, started <= last, not in the future (a clock
    set wrong would spend or refund the budget for good)."""
    times = (entry.started, entry.last)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in times):
        raise TypeError("started and last must be Unix times (numbers)")
    try:
        started, last = float(entry.started), float(entry.last)
    except OverflowError:
        raise ValueError("started and last must be Unix times, not numbers that large") from None
    if not (math.isfinite(started) and math.isfinite(last)) or last < started:
        raise ValueError(f"started {entry.started!r} and last {entry.last!r} are not an interval of Unix times")
    if last > now + 2 * HEARTBEAT_SECONDS:
        raise ValueError(f"last {time.ctime(last)} is in the future (now {time.ctime(now)}): is the clock right?")
    return replace(entry, started=started, last=last)


@contextlib.contextmanager
def sitting(out: Path, workers: int, budget_seconds: float | None, budget_from: str | None) -> Iterator[None]:
    """Record this invocation as a sitting of study folder `out` while the block runs."""
    folder = Path(out) / SITTINGS_DIR
    first = not folder.is_dir() or not any(folder.glob("*.json"))
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    unrecorded = first and any(Path(out).glob(f"*/*/seed=*/{RESULT_FILE}"))
    record = Sitting(now, now, workers, budget_seconds, budget_from, unrecorded, os.getpid(), socket.gethostname())
    # unique even for two sittings of one process within a second (a library caller's loop)
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    write_json_atomic(path, asdict(record))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):  # a missed heartbeat costs at most its interval
                write_json_atomic(path, {**asdict(record), "last": time.time()})

    thread = threading.Thread(target=beat, name="adapterlab-sitting", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_SECONDS)  # a hung file system must not hang the exit
        with contextlib.suppress(OSError):  # ended: no pid, so no reader takes it for a live sitting
            write_json_atomic(path, {**asdict(record), "last": time.time(), "pid": None})
