"""Adapters on a half-precision backbone: a task's own parameters are float32, the backbone stays
as loaded, training steps stay finite, and packs round-trip. On float32 nothing changes."""

from __future__ import annotations

import pytest
import torch
from tiny import ARCHS, outputs, random_batch, tiny_model
from torch import nn

import adapterlab as al
from adapterlab.adapters.layer import BottleneckAdapter, SharedWeightLinear

HALF = [torch.float16, torch.bfloat16]


@pytest.fixture(autouse=True)
def one_thread():
    # torch's half-precision CPU kernels spread tiny matmuls over threads: on a busy 2-core
    # machine one 40x32 @ 32x32 product then takes ms instead of us
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _half_model(arch: str, task: str, dtype: torch.dtype, name: str = "t", **kwargs) -> nn.Module:
    model = tiny_model(arch, task, **kwargs).to(dtype)
    al.add_adapters(model, al.AdapterConfig(size=8), name=name)
    return model


@pytest.mark.parametrize("task", ["sequence", "mlm"])
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_a_tasks_trainable_parameters_are_float32_on_a_half_backbone(dtype, arch, task):
    model = _half_model(arch, task, dtype)
    counts = al.set_trainable(model, "adapter")
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    assert len(trainable) > 0 and counts.adapter > 0 and counts.layernorm > 0 and counts.head > 0
    assert set(trainable.values()) == {torch.float32}, trainable
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {dtype}  # the backbone as loaded
    model.train()
    out = outputs(model, random_batch())
    assert out.dtype == dtype and torch.isfinite(out).all()  # the model's outputs keep its dtype
    out.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


def test_a_tied_decoder_stays_the_half_embedding():
    model = _half_model("bert", "mlm", torch.float16)
    decoder = model.cls.heads["t"].predictions.decoder
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight and decoder.weight.dtype == torch.float16
    assert isinstance(decoder, SharedWeightLinear) and decoder.bias.dtype == torch.float32
    assert type(model.cls.base.predictions.decoder) is nn.Linear  # the model's own head is untouched


def test_30_adamw_steps_on_a_half_backbone_stay_finite():
    model = _half_model("bert", "sequence", torch.float16)
    al.set_trainable(model, "adapter")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch, labels = random_batch(), torch.tensor([0, 1, 2, 1])
    model.train()
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(**batch).logits.float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # it trained
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("task", ["sequence", "mlm"])
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_save_then_load_on_a_fresh_half_backbone_gives_identical_outputs(tmp_path, dtype, task):
    model = _half_model("roberta", task, dtype)
    al.set_trainable(model, "adapter")
    with torch.no_grad():  # move every per-task tensor away from its init, as training would
        for param in model.parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.05)
    batch = random_batch()
    with torch.no_grad():
        expected = outputs(model, batch)
    al.save_adapter(model, tmp_path / "pack", name="t")
    fresh = tiny_model("roberta", task).to(dtype)
    al.load_adapter(fresh, tmp_path / "pack")
    assert {p.dtype for n, p in fresh.named_parameters() if ".heads.t." in n or ".layernorms.t." in n} == {
        torch.float32
    }
    with torch.no_grad():
        torch.testing.assert_close(outputs(fresh, batch), expected, rtol=0, atol=0)


def test_mixed_batch_on_a_half_backbone_equals_the_per_task_runs():
    model = tiny_model("bert", "sequence", num_labels=3).to(torch.bfloat16)
    al.add_adapters(model, al.AdapterConfig(size=8, init_std=0.05), name="a")
    al.add_adapters(model, al.AdapterConfig(size=8, init_std=0.05), name="b", num_labels=2)
    batch, names = random_batch(), ["a", "b", "b", "a"]
    with torch.no_grad():
        al.activate(model, "a")
        only_a = outputs(model, batch)
        al.activate(model, "b")
        only_b = outputs(model, batch)
        al.activate_per_example(model, names)
        mixed = outputs(model, batch)
    assert mixed.dtype == torch.bfloat16
    for row, name in enumerate(names):
        expected = only_a[row] if name == "a" else only_b[row]
        torch.testing.assert_close(mixed[row, : expected.shape[0]], expected, rtol=0, atol=2e-2)


@pytest.mark.parametrize("task", ["sequence", "mlm"])
def test_float32_backbone_is_unchanged(task):
    # no casts happen: the copies are the model's modules, bit for bit, and the adapter is eq. 1
    model = tiny_model("bert", task)
    al.add_adapters(model, al.AdapterConfig(size=8, init_std=0.05), name="t")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not any(isinstance(m, SharedWeightLinear) for m in model.modules())
    norm = model.bert.embeddings.LayerNorm
    assert torch.equal(norm.layernorms["t"].weight, norm.base.weight)
    adapter = next(m for m in model.modules() if isinstance(m, BottleneckAdapter))
    hidden = torch.randn(2, 5, 32)
    assert torch.equal(adapter(hidden), hidden + adapter.up(adapter.act(adapter.down(hidden))))
    model64 = tiny_model("bert", task).to(torch.float64)
    al.add_adapters(model64, al.AdapterConfig(size=8), name="t")
    assert {p.dtype for p in model64.parameters()} == {torch.float64}  # only half precision is raised
