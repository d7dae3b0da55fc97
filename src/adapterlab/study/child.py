"""Entry point of one study run in its own process: `python -m adapterlab.study.child CONFIG RUN_DIR`."""

import dataclasses
import json
import logging
import sys
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.runtime import keep_freed_memory
from adapterlab.train.config import RunConfig
from adapterlab.train.run import read_result, run_training


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    keep_freed_memory()
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    config_path, run_dir = sys.argv[1], Path(sys.argv[2])
    with open(config_path) as handle:
        config = dataclasses.replace(RunConfig.from_dict(json.load(handle), source=config_path), progress=False)
    if read_result(run_dir) is not None:
        return 0
    try:
        run_training(config, run_dir)
    except AdapterlabError as err:
        print(f"adapterlab: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
