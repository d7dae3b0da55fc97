"""Task packs on the Hugging Face Hub, through huggingface_hub (issue #18): `adapterlab push PACK
REPO_ID` uploads a pack folder (its weights, provenance.json and the model card README.md, which
the Hub shows as the repo's card), and `hf://OWNER/NAME[@REVISION]` names a pack on the Hub wherever
predict and evaluate take a pack folder: it is downloaded once into the Hub cache and loaded like a
local pack. Offline, or without access, each is one line naming the repo and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapterlab.errors import AdapterlabError
from adapterlab.train.model_card import CARD_FILE
from adapterlab.train.provenance import PROVENANCE_FILE

HUB_PREFIX = "hf://"
# what a pack folder holds (adapter and PEFT packs), and nothing else from the repo
PACK_FILES = ["*.json", "*.safetensors", CARD_FILE]


def is_hub_source(source: str | os.PathLike) -> bool:
    return str(source).startswith(HUB_PREFIX)


def _hub():
    try:
        import huggingface_hub
    except ImportError:  # transformers depends on it, so only a stripped install lacks it
        raise AdapterlabError("the Hub needs the huggingface_hub library: pip install huggingface_hub") from None
    return huggingface_hub


def _split(source: str) -> tuple[str, str | None]:
    repo = source[len(HUB_PREFIX) :]
    repo_id, _, revision = repo.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise AdapterlabError(f"{source}: a Hub pack is hf://OWNER/NAME or hf://OWNER/NAME@REVISION")
    return repo_id, revision or None


def _failure(what: str, err: Exception, download: bool = True) -> AdapterlabError:
    """One line for the ways a Hub call fails: offline, no such repo, no access, no network."""
    from huggingface_hub import errors

    if isinstance(err, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        why = "offline (HF_HUB_OFFLINE is set, or the Hub cannot be reached)" + (
            " and not in the local cache" if download else ""
        )
    elif isinstance(err, errors.RepositoryNotFoundError):
        why = "no such repo, or it is private and no token gives access (huggingface-cli login)"
    elif isinstance(err, errors.RevisionNotFoundError):
        why = "no such revision"
    elif isinstance(err, errors.LocalTokenNotFoundError):
        why = "no Hub token: run huggingface-cli login or set HF_TOKEN"
    else:
        line = str(err).splitlines()[0] if str(err) else type(err).__name__
        why = f"{type(err).__name__}: {line}"
    return AdapterlabError(f"{what}: {why}")


def fetch_pack(source: str) -> Path:
    """The local folder of the pack hf://OWNER/NAME[@REVISION] (downloaded into the Hub cache on
    first use). Raises AdapterlabError, one line, when it cannot be had."""
    hub = _hub()
    repo_id, revision = _split(source)
    try:
        folder = Path(hub.snapshot_download(repo_id, revision=revision, allow_patterns=PACK_FILES))
    except Exception as err:  # huggingface_hub's errors, and the network's (OSError)
        raise _failure(source, err) from None
    if not (folder / PROVENANCE_FILE).is_file():
        raise AdapterlabError(
            f"{source}: the repo holds no adapterlab pack (no {PROVENANCE_FILE}); push one with adapterlab push"
        )
    return folder


def push_pack(pack: str | os.PathLike, repo_id: str, private: bool = False) -> str:
    """Upload the pack folder to the Hub repo `repo_id` (created when missing); returns its URL.
    The pack must carry its provenance (a run's pack, or an imported one), so that whoever loads it
    knows its base model and task."""
    hub = _hub()
    folder = Path(pack)
    if not (folder / PROVENANCE_FILE).is_file():
        raise AdapterlabError(
            f"{folder}: not a task pack with provenance ({PROVENANCE_FILE}); push a run's pack/ folder"
        )
    repo_id = repo_id[len(HUB_PREFIX) :] if repo_id.startswith(HUB_PREFIX) else repo_id
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or "@" in repo_id:
        raise AdapterlabError(
            f"repo id {repo_id!r}: give OWNER/NAME (a user or organisation, a slash, the repo's name)"
        )
    api = hub.HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            allow_patterns=PACK_FILES,
            commit_message=f"adapterlab task pack from {folder.resolve().name}",
        )
    except Exception as err:
        raise _failure(f"push to {repo_id}", err, download=False) from None
    return str(getattr(commit, "commit_url", None) or f"https://huggingface.co/{repo_id}")
