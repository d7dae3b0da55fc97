"""Tokenization into model features, dynamic padding, length-grouped batches and MLM masking."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from adapterlab.data.example import Example
from adapterlab.data.tasks import TaskSpec
from adapterlab.errors import AdapterlabError

IGNORE_INDEX = -100  # positions the loss skips: sub-words after the first, special tokens, padding


@dataclass(frozen=True)
class LabelMap:
    """Label names <-> ids for a task (empty for regression and MLM)."""

    names: tuple[str, ...]
    # Gold labels outside the model's label set, met only in evaluation (a tag a cross-lingual
    # file has and the training file had not). They get ids after `names`, which the model never
    # predicts, so each counts as a miss.
    unknown: tuple[str, ...] = ()

    @property
    def all_names(self) -> tuple[str, ...]:
        return self.names + self.unknown

    def id(self, label: str) -> int:
        return self.all_names.index(label)

    def with_unknown(self, examples: Sequence[Example]) -> LabelMap:
        """This label set plus every gold label of `examples` outside it, as `unknown`."""
        if not self.names:
            return self
        found = {t for e in examples for t in (e.tags or ())} | {
            str(e.label) for e in examples if e.tokens is None and e.label is not None
        }
        return LabelMap(self.names, tuple(sorted(found - set(self.names))))

    def check(self, examples: Sequence[Example], where: str) -> None:
        """Every label (or tag) of `examples` must be in this label set: one decided from the
        training file, so a class seen only in dev or test is an error, not a new class."""
        if not self.names:
            return
        allowed = set(self.names)
        for example in examples:
            found = (
                [t for t in example.tags or () if t not in allowed]
                if example.tokens is not None
                else ([str(example.label)] if example.label is not None and str(example.label) not in allowed else [])
            )
            if found:
                shown = ", ".join(self.names) if len(self.names) <= 20 else f"{len(self.names)} labels"
                raise AdapterlabError(
                    f"{example.source}: label {found[0]!r} is not in the label set of {where} ({shown})"
                )

    @classmethod
    def for_task(cls, spec: TaskSpec, train: Sequence[Example]) -> LabelMap:
        if spec.kind in ("regression", "mlm"):
            return cls(())
        if spec.labels is not None:
            return cls(tuple(spec.labels))
        if spec.kind == "token":
            return cls(tuple(sorted({t for e in train for t in e.tags or ()})))
        return cls(tuple(sorted({str(e.label) for e in train})))


def encode(examples: Sequence[Example], spec: TaskSpec, labels: LabelMap, tokenizer, max_length: int) -> list[dict]:
    """Tokenize examples into dicts of python lists (padding happens per batch)."""
    if not examples:
        return []
    if spec.kind == "token":
        return _encode_tokens(examples, labels, tokenizer, max_length)
    texts = [e.text for e in examples]
    pairs = [e.text_pair for e in examples] if spec.pair else None
    encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    features = []
    for index, example in enumerate(examples):
        feature = {key: encoded[key][index] for key in encoded}
        if spec.kind == "classification":
            feature["labels"] = labels.id(str(example.label))
        elif spec.kind == "regression":
            feature["labels"] = float(example.label)
        features.append(feature)
    return features


def _encode_tokens(examples: Sequence[Example], labels: LabelMap, tokenizer, max_length: int) -> list[dict]:
    """One feature per window of whole words that fits `max_length`, so every gold word is scored.

    A sentence longer than the window is cut between words (never inside one) into several
    features; `_example` and `_words` (the word index of each labelled position) let evaluation
    put the sentence back together. Only a single word longer than the whole window loses
    sub-words, and its first sub-word, which carries the label, is always kept.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise AdapterlabError(f"token tasks need a fast tokenizer (word_ids); {type(tokenizer).__name__} is not one")
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
    counts = tokenizer([list(e.tokens) for e in examples], is_split_into_words=True, add_special_tokens=False)
    windows: list[tuple[int, int, int]] = []  # (example index, first word, end word)
    for index, example in enumerate(examples):
        per_word = [0] * len(example.tokens)
        for word in counts.word_ids(index):
            if word is not None:
                per_word[word] += 1
        start, used = 0, 0
        for word, count in enumerate(per_word):
            if word > start and used + count > budget:
                windows.append((index, start, word))
                start, used = word, 0
            used += count
        windows.append((index, start, len(per_word)))
    encoded = tokenizer(
        [list(examples[i].tokens[a:b]) for i, a, b in windows],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
    )
    features = []
    for row, (index, start, _) in enumerate(windows):
        example = examples[index]
        feature = {key: encoded[key][row] for key in encoded}
        # The paper labels the first sub-word of each word and ignores the rest.
        targets, words, previous = [], [], None
        for word in encoded.word_ids(row):
            if word is None or word == previous:
                targets.append(IGNORE_INDEX)
            else:
                targets.append(labels.id(example.tags[start + word]))
                words.append(start + word)
            previous = word
        feature["labels"] = targets
        feature["_example"] = index
        feature["_words"] = words
        if start == 0:  # the sentence's gold tags travel once, with its first window
            feature["_tags"] = [labels.id(tag) for tag in example.tags]
        features.append(feature)
    return features


class Collator:
    """Pads a list of features to the longest in the batch (dynamic padding)."""

    def __init__(self, pad_token_id: int):
        if not isinstance(pad_token_id, int):
            raise AdapterlabError(
                "padding needs a pad token id; the tokenizer has none (see train.model_setup.load_tokenizer)"
            )
        self.pad_token_id = pad_token_id

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        batch: dict[str, torch.Tensor] = {}
        for key in features[0]:
            if key.startswith("_"):
                continue  # bookkeeping of the feature (e.g. which sentence a token window is from)
            values = [f[key] for f in features]
            if key == "labels" and not isinstance(values[0], list):
                dtype = torch.float32 if isinstance(values[0], float) else torch.long
                batch[key] = torch.tensor(values, dtype=dtype)
                continue
            fill = {"input_ids": self.pad_token_id, "labels": IGNORE_INDEX}.get(key, 0)
            batch[key] = torch.tensor([v + [fill] * (longest - len(v)) for v in values], dtype=torch.long)
        return batch


class LengthGroupedBatches:
    """Batches of similar length, so padding stays small; the order is reshuffled every epoch.

    Indices are shuffled with (seed, epoch), cut into windows of `window` batches, each window is
    sorted by length and cut into batches, and the batches are shuffled. With shuffle=False the
    whole set is sorted by length (evaluation order does not change metrics).
    """

    WINDOW = 50  # batches per window sorted by length: small enough to keep the order random

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, window: int = WINDOW):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.window = window
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        indices = list(range(len(self.lengths)))
        if not self.shuffle:
            indices.sort(key=lambda i: -self.lengths[i])
            return [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        rng = random.Random(self.seed * 100_003 + self.epoch)
        rng.shuffle(indices)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(indices), span):
            chunk = sorted(indices[start : start + span], key=lambda i: -self.lengths[i])
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


def mask_tokens(
    input_ids: torch.Tensor, special: torch.Tensor, tokenizer, probability: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's MLM corruption: pick `probability` of the real tokens; of those 80% become [MASK],
    10% a random token, 10% stay. Returns (corrupted ids, labels with IGNORE_INDEX elsewhere)."""
    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & ~special
    labels[~chosen] = IGNORE_INDEX
    corrupted = input_ids.clone()
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    corrupted[to_mask] = tokenizer.mask_token_id
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    corrupted[to_random] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[to_random]
    return corrupted, labels


class MlmCollator(Collator):
    """Pads, then masks with a generator seeded from `seed` and the batch's own token ids, so a
    batch's masks depend on nothing but the batch: a TAPT run is reproducible, a run resumed from
    a checkpoint masks as the uninterrupted one did (no generator state to carry), and validation
    masks the same tokens at every evaluation, so its MLM losses compare across checkpoints. A
    batch drawn again in a later epoch (another order, so almost always other members) gets
    other masks, as dynamic masking wants."""

    def __init__(self, tokenizer, probability: float, seed: int):
        super().__init__(tokenizer.pad_token_id)
        if tokenizer.mask_token_id is None:
            raise AdapterlabError(f"MLM needs a tokenizer with a mask token; {type(tokenizer).__name__} has none")
        self.tokenizer = tokenizer
        self.probability = probability
        self.seed = seed
        self.generator = torch.Generator()

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__([{k: v for k, v in f.items() if k != "labels"} for f in features])
        digest = hashlib.blake2b(
            batch["input_ids"].numpy().tobytes(), digest_size=8, key=str(self.seed).encode()
        ).digest()
        self.generator.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        special = torch.tensor(
            [
                self.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
                for ids in batch["input_ids"].tolist()
            ],
            dtype=torch.bool,
        ) | (batch["attention_mask"] == 0)
        batch["input_ids"], batch["labels"] = mask_tokens(
            batch["input_ids"], special, self.tokenizer, self.probability, self.generator
        )
        return batch
