"""Entry point of one study run in its own process: `python -m adapterlab.study.child RUN_DIR`,
with {"config": ..., "overwrite": ...} as JSON on stdin (no temp file to leave behind)."""

import dataclasses
import json
import logging
import sys
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runtime import keep_freed_memory
from adapterlab.train.config import RunConfig
from adapterlab.train.run import run_training


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    keep_freed_memory()
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    run_dir = Path(sys.argv[1])
    try:
        payload = json.loads(sys.stdin.read())
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
