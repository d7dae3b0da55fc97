"""One run of `adapterlab train` in a folder that it claims first, as a study's worker does, so
that two launches never write into one run folder at once."""

from __future__ import annotations

import os
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.study.ownership import claim_path, heartbeat, release, try_claim
from adapterlab.train.config import RunConfig


def train_claimed(config: RunConfig, out: Path, overwrite: bool = False):
    """run_training(config, out) under a claim on `out`, refreshed while it trains. Only rank 0
    claims: one claim per launch (`accelerate launch`), the other processes follow it."""
    from adapterlab.train.run import run_training  # the recipe, imported when a run is made

    token = None
    if int(os.environ.get("RANK", "0")) == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
        token = try_claim(out)
        if token is None:
            raise AdapterlabError(
                f"{out}: another adapterlab run is writing into this folder ({claim_path(out)}); "
                "wait for it to finish or choose another --out"
            )
    try:
        if token is None:
            return run_training(config, out, overwrite=overwrite)
        with heartbeat(out, token):
            return run_training(config, out, overwrite=overwrite)
    finally:
        if token is not None:
            release(out, token)
