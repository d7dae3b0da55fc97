"""Entry point of one study run in its own process: `python -m adapterlab.study.child RUN_DIR`,
with {"config": ..., "overwrite": ..., "parent": PID} as JSON on stdin (no temp file to leave
behind). The child dies with its parent, the worker that owns the run (Linux: the kernel's
parent-death signal; elsewhere a thread that watches the parent), so no run outlives its owner
unnoticed."""

import ctypes
import ctypes.util
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runtime import keep_freed_memory

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int | None) -> None:
    """SIGKILL this process when `parent` (its worker) dies; exits at once if it died already."""
    if not parent:
        return
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(137)
    if not armed:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="parent watch", daemon=True).start()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    run_dir = Path(sys.argv[1])
    try:
        payload = json.loads(sys.stdin.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        print(f"adapterlab: error: the run's settings on stdin are not valid JSON ({err})", file=sys.stderr)
        return 2
    die_with_parent(payload.get("parent") if isinstance(payload, dict) else None)
    keep_freed_memory()
    import transformers

    from adapterlab.train.config import RunConfig
    from adapterlab.train.run import run_training

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = dataclasses.replace(RunConfig.from_dict(payload["config"], source=str(run_dir)), progress=False)
        run_training(config, run_dir, overwrite=bool(payload.get("overwrite")))
    except AdapterlabError as err:
        print(f"adapterlab: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
