"""The CPU training fast path (train/fast_ops.py) must not change the method.

The fast path swaps the random stream of dropout, so it is compared with a reference that draws
the very same masks but computes everything with plain autograd ops: same outputs, same
gradients, same loss trajectory. Without dropout nothing may change at all.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F
from tiny import random_batch, tiny_model
from torch.overrides import TorchFunctionMode

import adapterlab as al
from adapterlab.train.fast_ops import AttentionWithDropout, dropout, fast_training_ops, keep_mask
from adapterlab.train.model_setup import enable_gradient_checkpointing


class ReferenceOps(TorchFunctionMode):
    """Dropout and attention in plain autograd ops, with the masks the fast path would draw."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.dropout:
            x, p, training = (
                args[0],
                kwargs.get("p", args[1] if len(args) > 1 else 0.5),
                kwargs.get("training", args[2] if len(args) > 2 else True),
            )
            if training and p > 0:
                return x * keep_mask(x.shape, p, x.device) / (1 - p)
        if func is F.scaled_dot_product_attention and kwargs.get("dropout_p", 0.0) > 0:
            q, k, v = args[:3]
            return reference_attention(q, k, v, kwargs.get("attn_mask"), kwargs["dropout_p"], kwargs.get("scale"))
        return func(*args, **kwargs)


def reference_attention(q, k, v, mask, p, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min) if mask.dtype == torch.bool else scores + mask
    probs = torch.softmax(scores, -1)
    return (probs * keep_mask(probs.shape, p, probs.device) / (1 - p)) @ v


def test_keep_mask_rate_and_quantization():
    torch.manual_seed(0)
    mask = keep_mask((1000, 1000), 0.1, torch.device("cpu"))
    assert mask.dtype == torch.uint8 and mask.shape == (1000, 1000)
    assert set(mask.unique().tolist()) == {0, 1}
    # p = 0.1 becomes 6554 / 65536; a million draws have std 3e-4 around it
    assert abs(mask.float().mean().item() - (1 - 6554 / 65536)) < 1.5e-3
    assert keep_mask((7,), 0.0, torch.device("cpu")).all()
    torch.manual_seed(3)
    first = keep_mask((5, 9), 0.5, torch.device("cpu"))
    torch.manual_seed(3)
    assert torch.equal(first, keep_mask((5, 9), 0.5, torch.device("cpu")))


def test_dropout_scales_kept_and_gradient_follows_mask():
    x = torch.ones(200_000, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x, 0.2)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.8))
    assert abs(y.mean().item() - 1.0) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)


@pytest.mark.parametrize("mask_kind", ["none", "additive", "bool"])
def test_attention_with_dropout_matches_plain_autograd(mask_kind):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=generator, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = None
    if mask_kind == "bool":
        mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
        mask[0, ..., -2:] = False
    elif mask_kind == "additive":
        mask = torch.zeros(2, 1, 7, 7, dtype=torch.float64)
        mask[1, ..., -3:] = torch.finfo(torch.float64).min
    grad_out = torch.randn(2, 3, 7, 4, generator=generator, dtype=torch.float64)

    torch.manual_seed(5)
    fast = AttentionWithDropout.apply(q, k, v, mask, 0.3, 0.5)
    fast_grads = torch.autograd.grad(fast, (q, k, v), grad_out)
    torch.manual_seed(5)
    reference = reference_attention(q, k, v, mask, 0.3, 0.5)
    reference_grads = torch.autograd.grad(reference, (q, k, v), grad_out)

    assert torch.allclose(fast, reference, atol=1e-12)
    for ours, theirs in zip(fast_grads, reference_grads):
        assert torch.allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("arch", ["bert", "distilbert", "deberta-v2"])
def test_without_dropout_outputs_are_bit_identical(arch):
    model = tiny_model(arch)
    batch = random_batch()
    plain = model(**batch).logits
    with fast_training_ops():
        fast = model(**batch).logits  # eval mode: nothing is intercepted
    assert torch.equal(plain, fast)


def _train(arch: str, mode, steps: int = 3) -> tuple[list[float], torch.Tensor, bool]:
    model = tiny_model(arch, seed=0)
    al.add_adapters(model, al.AdapterConfig(size=8, init="near_identity", init_std=0.05), name="task")
    al.set_trainable(model, "adapter")
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch, labels = random_batch(), torch.tensor([0, 1, 2, 1])
    torch.manual_seed(11)
    losses, saw_fused = [], False
    for _ in range(steps):
        with mode():
            loss = F.cross_entropy(model(**batch).logits, labels)
        saw_fused = saw_fused or _graph_has(loss.grad_fn, "AttentionWithDropoutBackward")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses, model(**batch).logits.detach(), saw_fused


def _graph_has(node, name: str) -> bool:
    seen, stack = set(), [node]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if type(node).__name__ == name:
            return True
        stack.extend(next_node for next_node, _ in node.next_functions)
    return False


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_loss_trajectory_matches_reference_with_the_same_masks(arch):
    fast_losses, fast_logits, used_fused = _train(arch, fast_training_ops)
    reference_losses, reference_logits, _ = _train(arch, ReferenceOps)
    assert used_fused, "the SDPA attention call was not routed to AttentionWithDropout"
    assert fast_losses == pytest.approx(reference_losses, abs=1e-5)
    assert torch.allclose(fast_logits, reference_logits, atol=1e-5)
    assert len(set(fast_losses)) == len(fast_losses)  # the model did train


def test_disabled_context_changes_nothing():
    with fast_training_ops(enabled=False):
        x = torch.ones(1000)
        torch.manual_seed(0)
        out = F.dropout(x, 0.5, True)
    torch.manual_seed(0)
    assert torch.equal(out, F.dropout(x, 0.5, True))


@pytest.mark.parametrize(
    "mask", [torch.zeros(2, 1, 7, 7, dtype=torch.float64), torch.ones(2, 1, 1, 7, dtype=torch.bool)]
)
def test_sdpa_call_with_an_all_pass_mask_is_routed_and_equal(mask):
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    torch.manual_seed(2)
    with fast_training_ops():
        fast = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.2)
    torch.manual_seed(2)
    assert torch.allclose(fast, reference_attention(q, k, v, None, 0.2), atol=1e-12)


def _gradients(
    mode, checkpointing: bool | None, backward_inside: bool = False
) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and gradients of one train step of tiny BERT (dropout 0.1), seeded before the forward.

    checkpointing: None = off, else use_reentrant. backward_inside: call backward inside the
    mode's block (the train loop calls it after the block)."""
    model = tiny_model("bert", seed=0)
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0.1
    if checkpointing is not None:
        enable_gradient_checkpointing(model, reentrant=checkpointing)
    model.train()
    batch, labels = random_batch(), torch.tensor([0, 1, 2, 1])
    torch.manual_seed(7)
    with mode():
        loss = F.cross_entropy(model(**batch).logits, labels)
        if backward_inside:
            loss.backward()
    if not backward_inside:
        loss.backward()
    return loss.item(), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("backward_inside", [False, True])
@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("mode", [fast_training_ops, contextlib.nullcontext], ids=["fast", "native"])
def test_gradient_checkpointing_recomputes_the_same_masks(mode, reentrant, backward_inside):
    loss, grads = _gradients(mode, checkpointing=None)
    checkpointed_loss, checkpointed_grads = _gradients(mode, checkpointing=reentrant, backward_inside=backward_inside)
    assert checkpointed_loss == loss
    assert grads.keys() == checkpointed_grads.keys() and "bert.encoder.layer.0.attention.self.query.weight" in grads
    for name, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, rtol=0, atol=1e-5, msg=name)


def test_fast_ops_draw_other_masks_than_native_dropout():
    # the checkpointing test above compares like with like; this shows the two paths differ
    fast_loss, _ = _gradients(fast_training_ops, checkpointing=None)
    native_loss, _ = _gradients(contextlib.nullcontext, checkpointing=None)
    assert fast_loss != native_loss


def test_a_module_run_without_fast_ops_recomputes_natively():
    # one model, a fast step and then a native one: the native step's recomputation must not
    # pick up the fast ops the modules ran under before
    _, expected = _gradients(contextlib.nullcontext, checkpointing=None)
    model = tiny_model("bert", seed=0)
    enable_gradient_checkpointing(model)
    model.train()
    batch, labels = random_batch(), torch.tensor([0, 1, 2, 1])
    with fast_training_ops():
        F.cross_entropy(model(**batch).logits, labels).backward()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    F.cross_entropy(model(**batch).logits, labels).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=0, atol=1e-5)
