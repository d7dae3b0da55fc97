"""Tiny random-init encoders for every supported architecture (hidden 32, 2 layers)."""

from __future__ import annotations

import torch
import transformers

VOCAB = 100
HIDDEN = 32
LAYERS = 2
INTERMEDIATE = 64  # the FFN inner size of every tiny config

_CONFIGS = {
    "bert": lambda: transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
    ),
    "roberta": lambda: transformers.RobertaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=66,
        pad_token_id=1,
    ),
    "xlm-roberta": lambda: transformers.XLMRobertaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=66,
        pad_token_id=1,
    ),
    "electra": lambda: transformers.ElectraConfig(
        vocab_size=VOCAB,
        embedding_size=HIDDEN,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
    ),
    "distilbert": lambda: transformers.DistilBertConfig(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=2, hidden_dim=INTERMEDIATE, max_position_embeddings=64
    ),
    "deberta-v2": lambda: transformers.DebertaV2Config(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
    ),
}

ARCHS = tuple(_CONFIGS)
TASKS = ("base", "sequence", "token", "mlm")
_AUTO = {
    "base": transformers.AutoModel,
    "sequence": transformers.AutoModelForSequenceClassification,
    "token": transformers.AutoModelForTokenClassification,
    "mlm": transformers.AutoModelForMaskedLM,
}


def tiny_config(arch: str, num_labels: int = 3):
    config = _CONFIGS[arch]()
    config.num_labels = num_labels
    return config


def tiny_model(arch: str = "bert", task: str = "sequence", seed: int = 0, num_labels: int = 3):
    torch.manual_seed(seed)
    model = _AUTO[task].from_config(tiny_config(arch, num_labels))
    return model.eval()


def random_batch(batch: int = 4, length: int = 10, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[0, -3:] = 0  # one padded row, so masking is exercised
    return {"input_ids": ids, "attention_mask": mask}


def outputs(model, batch) -> torch.Tensor:
    """The tensor a test compares: logits of task models, last hidden state of bare encoders."""
    out = model(**batch)
    return out.logits if hasattr(out, "logits") and out.logits is not None else out.last_hidden_state


WORDS = (
    "the a film movie great good bad awful plot actor story fun dull long short best worst love hate "
    "is was and but not very really quite boring brilliant slow fast music scene ending cast script "
    "london paris berlin john mary acme corp visited works at in of to on"
).split()


def save_tiny_backbone(folder, arch: str = "bert", dropout: float = 0.1, seed: int = 0):
    """A tiny BERT (or RoBERTa-style) folder with a WordPiece tokenizer that covers WORDS."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pieces = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + WORDS
        + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
        + list("abcdefghijklmnopqrstuvwxyz.,!?")
    )
    vocab = list(dict.fromkeys(pieces))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # from_pretrained reads vocab.txt on both transformers 4.x and 5.x (their constructors differ)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(folder, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def write_sentiment_tsv(path, count: int, seed: int) -> None:
    """A learnable toy sentiment task in GLUE SST-2 layout: one cue word decides the label."""
    import random

    rng = random.Random(seed)
    positive, negative = (
        ["great", "good", "best", "brilliant", "fun", "love"],
        ["bad", "awful", "dull", "worst", "boring", "hate"],
    )
    lines = ["sentence\tlabel"]
    for _ in range(count):
        label = rng.choice("01")
        neutral = [w for w in WORDS[:40] if w not in positive + negative]
        words = [rng.choice(neutral) for _ in range(rng.randint(3, 12))] + [
            rng.choice(positive if label == "1" else negative)
        ]
        rng.shuffle(words)
        lines.append(" ".join(words) + "\t" + label)
    path.write_text("\n".join(lines) + "\n")
