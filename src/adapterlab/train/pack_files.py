"""What a finished run writes into its pack beside the weights: provenance.json (train/provenance.py)
and the model card made from it (README.md, train/model_card.py), each written atomically and with
no absolute local path in either."""

from __future__ import annotations

from pathlib import Path

from adapterlab.runs import write_json_atomic
from adapterlab.train.base_files import remember_base
from adapterlab.train.model_card import CARD_FILE, model_card
from adapterlab.train.provenance import PROVENANCE_FILE, Provenance, portable, provenance_of


def write_provenance(pack: Path, config: dict, result: dict) -> Provenance:
    """provenance.json and README.md (the model card) into a pack folder, each written atomically."""
    return save_provenance(pack, provenance_of(config, result), result)


def save_provenance(pack: Path, provenance: Provenance, result: dict) -> Provenance:
    """Write `provenance` and the model card made from it (and the run's `result`) into `pack`,
    with no absolute local path in either (portable). A local base is remembered in the
    adapterlab cache, so a copy of the pack on this machine still finds it."""
    if provenance.base_model is not None and Path(provenance.base_model_path).is_dir():
        remember_base(provenance.base_model_path, provenance.base_weights_fingerprint)
    provenance = portable(provenance)
    write_json_atomic(pack / PROVENANCE_FILE, provenance.to_dict())
    tmp = pack / f".{CARD_FILE}.tmp"
    tmp.write_text(model_card(provenance, result))
    tmp.replace(pack / CARD_FILE)
    return provenance
