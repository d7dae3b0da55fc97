"""Where a run's base model is, told apart from its look-alikes and written so that it travels:
its local folder (or Hub-cache snapshot), config hash, weights fingerprint and revision; a local
path as a shared pack may name it (portable_path); and the folders this machine remembers for the
weights its packs were made on."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from adapterlab.package_data import PACKAGE_PREFIX
from adapterlab.runs import write_json_atomic

EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the embedded default's Hub name
# A Hub repo id: NAME or OWNER/NAME (the Hub's model-card metadata rejects anything else, e.g. a path)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def local_folder(model_path: str) -> Path | None:
    """The folder a backbone's files are in: the path itself, or for a Hub id the snapshot in the
    local Hub cache that transformers loaded it from (…/snapshots/<commit>/, so the config hash,
    weights fingerprint and revision are recorded for Hub models too); None when neither is here."""
    if Path(model_path).is_dir():
        return Path(model_path)
    if not HUB_ID.match(str(model_path)):
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(str(model_path), "config.json")
    except ValueError:  # an id the Hub would reject
        return None
    return Path(found).parent if isinstance(found, str) else None


def config_sha256(model_path: str) -> str | None:
    """sha256 of the backbone's config.json (a folder, or a Hub id in the local cache), or None."""
    folder = local_folder(model_path)
    path = folder / "config.json" if folder else None
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else None


def weights_fingerprint(model_path: str) -> str | None:
    """sha256 over every tensor's name, shape, dtype and first 256 values in the backbone's
    safetensors files: another checkpoint of the same architecture (a fine-tuned copy, other seed)
    changes it, and only a slice of each tensor is read, so it costs milliseconds on any size.
    None when the folder has no safetensors weights."""
    from safetensors import safe_open

    folder = local_folder(model_path)
    files = sorted(folder.glob("*.safetensors")) if folder else []
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in sorted(handle.keys()):
                piece = handle.get_slice(key)
                shape = piece.get_shape()
                values = (
                    handle.get_tensor(key).flatten()[:256] if not shape or shape[0] <= 1 else piece[:1].flatten()[:256]
                )
                digest.update(f"{key}{shape}{piece.get_dtype()}".encode())
                digest.update(values.float().numpy().tobytes())
    return digest.hexdigest()


def revision_of(model_path: str) -> str | None:
    """The Hub commit of a model loaded through the Hub cache (…/snapshots/<commit>/), else None."""
    folder = local_folder(model_path)
    parts = folder.parts if folder else ()
    return (
        parts[parts.index("snapshots") + 1]
        if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts)
        else None
    )


def portable_path(value: str | Path) -> str:
    """A local path as it may leave this machine: `package:NAME/...` inside an installed Python
    package (the form `train` takes), relative to the working folder when it lies inside it
    (data/SST-2/train.tsv), else only its name (train.tsv). Never absolute."""
    import sysconfig

    path = Path(value).resolve()
    for root in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        if path.is_relative_to(Path(root).resolve()) and path != Path(root).resolve():
            return f"{PACKAGE_PREFIX}{path.relative_to(Path(root).resolve())}"
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path.name or str(value)


BASES_FILE = (
    "bases.json"  # in the adapterlab cache: {weights fingerprint: folder} of the local base models packs were made on
)


def remember_base(folder: str, fingerprint: str | None) -> None:
    """Note on this machine (the adapterlab cache, never a pack) where a local base model with
    these weights lives, so a pack copied anywhere here still finds it (base_model_here)."""
    from adapterlab.train.mlm_head import cache_root

    if not fingerprint or not Path(folder).is_dir():
        return
    path = cache_root() / BASES_FILE
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        known = {}
    if known.get(fingerprint) != str(Path(folder).resolve()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {**known, fingerprint: str(Path(folder).resolve())})


def remembered_base(fingerprint: str | None) -> str | None:
    """The folder remember_base noted for these weights, when it is still there with them."""
    from adapterlab.train.mlm_head import cache_root

    path = cache_root() / BASES_FILE
    try:
        folder = json.loads(path.read_text()).get(fingerprint) if fingerprint and path.is_file() else None
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return folder if folder and weights_fingerprint(folder) == fingerprint else None


def portable_base(model: str | None) -> str:
    """A run's --model as a shared pack names it: the embedded backbone's Hub id, a Hub id, or a
    local folder's portable_path."""
    if model is None:
        return EMBEDDED_HUB_ID
    return portable_path(model) if Path(model).exists() or Path(model).is_absolute() else model
