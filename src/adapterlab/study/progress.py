"""`study run`'s progress bar: finished runs, plus the steps of the runs training now, so the bar
moves during a run instead of sitting at 0/N for minutes. A training run writes its step count
to progress.json (train/run.py) and removes it when it ends; a run counts as running while it
holds its claim."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from adapterlab.runs import PROGRESS_FILE, RESULT_FILE
from adapterlab.study.attempt import needs_run
from adapterlab.study.folder import RunState
from adapterlab.study.spec import StudySpec


@dataclass(frozen=True)
class RunProgress:
    relative_dir: str  # task/setting/seed=N
    step: int
    steps: int
    seconds_per_step: float | None = None  # this process's pace so far, evaluations included

    @property
    def share(self) -> float:
        return min(self.step / self.steps, 1.0) if self.steps else 0.0


def running_progress(out: Path) -> list[RunProgress]:
    """The runs of the study folder `out` that are training now: a progress file and a claim
    (a killed run's file without a claim is not running)."""
    found = []
    for path in sorted(Path(out).glob(f"*/*/*/{PROGRESS_FILE}")):
        run_dir = path.parent
        if not (run_dir.parent / f"{run_dir.name}.claim").exists():
            continue
        try:
            data = json.loads(path.read_text())
            pace = data.get("seconds_per_step")
            found.append(
                RunProgress(
                    str(run_dir.relative_to(out)),
                    int(data["step"]),
                    int(data["steps"]),
                    float(pace) if isinstance(pace, (int, float)) and pace > 0 else None,
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # replaced while read (atomic rename) or not ours: the next tick reads it
    return found


class FinishedRuns:
    """The runs a progress display counts as finished: every finished run, except those this
    invocation reruns (needs_run: died, failed under retry_failed, changed under rerun_changed,
    data or backbone content included) until their result.json is written again, whatever its
    outcome. Counting a run finished and then rerunning it moved the bar backwards (ChemProt's
    resume with --rerun-changed: 23/30 to 21/30, a negative rate)."""

    def __init__(self, spec: StudySpec, out: Path, retry_failed: bool, rerun_changed: bool):
        prints: dict = {}  # data and backbone fingerprints, shared by the runs
        self.out = Path(out)
        self.reruns = {
            run.relative_dir: self._stamp(run.relative_dir)
            for run in spec.runs
            if needs_run(run, self.out / run.relative_dir, retry_failed, rerun_changed, prints)
        }

    def _stamp(self, relative_dir: str) -> int | None:
        try:
            return (self.out / relative_dir / RESULT_FILE).stat().st_mtime_ns
        except OSError:
            return None

    def count(self, states: list[RunState]) -> int:
        return sum(
            state.state not in ("pending", "running")
            and (
                state.run.relative_dir not in self.reruns
                or self._stamp(state.run.relative_dir) != self.reruns[state.run.relative_dir]
            )
            for state in states
        )


class StudyBar:
    """A tqdm bar in runs: n is the finished runs plus the share of each running run's steps
    (2.4/6 = two runs done, two thirds of the third); the postfix names the running runs and
    their steps. A thread refreshes it every `every` seconds between run events."""

    def __init__(self, out: Path, total: int, done: int, disable: bool = False, every: float = 2.0):
        self.out, self.done, self.every = Path(out), done, every
        self.bar = tqdm(total=total, initial=done, unit="run", disable=disable, dynamic_ncols=True)
        self.last = ""  # the last finished run and its status
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None if disable else threading.Thread(target=self._tick, daemon=True)
        if self._thread is not None:
            self._thread.start()

    def update(self, total: int, done: int, name: str = "", status: str = "") -> None:
        """A run event: the study's size (a policy may grow it) and its finished runs."""
        with self._lock:
            self.bar.total, self.done = total, done
            if name:
                self.last = f"{name}: {status}"
        self.refresh()

    def refresh(self) -> None:
        running = running_progress(self.out)
        with self._lock:
            self.bar.n = round(self.done + sum(r.share for r in running), 1)
            shown = [f"{r.relative_dir} step {r.step}/{r.steps}" for r in running[:2]]
            if len(running) > 2:
                shown.append(f"+{len(running) - 2} more")
            self.bar.set_postfix_str("; ".join(shown) or self.last, refresh=False)
            self.bar.refresh()

    def write(self, line: str) -> None:
        with self._lock:
            self.bar.write(line)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self.bar.n = self.done
            self.bar.close()

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.refresh()
