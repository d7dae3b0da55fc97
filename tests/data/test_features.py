import torch
from tiny import save_tiny_backbone

from adapterlab.data.example import Example
from adapterlab.data.features import IGNORE_INDEX, Collator, LabelMap, LengthGroupedBatches, MlmCollator, encode
from adapterlab.data.tasks import get_task


def _tokenizer(tmp_path):
    import transformers

    return transformers.AutoTokenizer.from_pretrained(save_tiny_backbone(tmp_path / "m"))


def test_token_labels_go_on_the_first_subword_only(tmp_path):
    tokenizer = _tokenizer(tmp_path)
    spec = get_task("panx")
    example = Example(tokens=("london", "acmecorp", "is"), tags=("B-LOC", "B-ORG", "O"))
    (feature,) = encode([example], spec, LabelMap.for_task(spec, [example]), tokenizer, 32)
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    labels = LabelMap(spec.labels)
    kept = [(p, labels.names[t]) for p, t in zip(pieces, feature["labels"]) if t != IGNORE_INDEX]
    assert [tag for _, tag in kept] == ["B-LOC", "B-ORG", "O"]
    assert len(pieces) > len(kept) + 2  # "acmecorp" splits into several sub-words; [CLS]/[SEP] ignored
    assert feature["labels"][0] == IGNORE_INDEX and feature["labels"][-1] == IGNORE_INDEX


def test_collator_pads_dynamically():
    batch = Collator(pad_token_id=0)(
        [
            {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": 1},
            {"input_ids": [5], "attention_mask": [1], "labels": 0},
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]
    tokens = Collator(0)([{"input_ids": [1, 2], "labels": [3, 4]}, {"input_ids": [1], "labels": [3]}])
    assert tokens["labels"].tolist() == [[3, 4], [3, IGNORE_INDEX]]


def test_length_grouped_batches_cover_everything_once_and_reduce_padding():
    lengths = [(i * 37) % 101 + 1 for i in range(500)]
    sampler = LengthGroupedBatches(lengths, batch_size=16, seed=0, window=10)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(500))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded < 0.7 * sum(16 * 101 for _ in batches)
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled each epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches  # and reproducible


def test_mlm_masking_rate_and_special_tokens(tmp_path):
    tokenizer = _tokenizer(tmp_path)
    texts = [Example(text="the film was great and the music was good but the ending was bad " * 3)] * 40
    features = encode(texts, get_task("mlm"), LabelMap(()), tokenizer, 64)
    batch = MlmCollator(tokenizer, 0.15, seed=0)(features)
    chosen = batch["labels"] != IGNORE_INDEX
    assert 0.10 < chosen.float().mean().item() < 0.20
    assert not chosen[:, 0].any()  # [CLS] is never masked
    assert (batch["input_ids"][chosen] == tokenizer.mask_token_id).float().mean().item() > 0.6
    again = MlmCollator(tokenizer, 0.15, seed=0)(features)
    assert torch.equal(again["input_ids"], batch["input_ids"])
    # the masks depend on the batch alone: the same collator masks a batch the same way every time
    # (validation compares across checkpoints; a resumed run masks as the uninterrupted one), another
    # batch or another seed differently
    collator = MlmCollator(tokenizer, 0.15, seed=0)
    first, repeat = collator(features[:8]), collator(features[:8])
    other = collator(
        features[:9]
    )  # another batch (one more member): its first 8 rows are the same texts, masked elsewhere
    assert torch.equal(first["input_ids"], repeat["input_ids"]) and torch.equal(first["labels"], repeat["labels"])
    assert not torch.equal(first["labels"], other["labels"][:8])
    assert not torch.equal(MlmCollator(tokenizer, 0.15, seed=1)(features[:8])["labels"], first["labels"])
