"""Cheaper dropout and attention-with-dropout for training on CPUs.

Why: the profile of an adapter train step on MiniLM (CPU, batch 16 x 128) showed 17% of the
time in `aten::bernoulli_`: PyTorch draws one Bernoulli sample per mask element (about 7 ns each
here), and with attention dropout on, SDPA leaves its fused kernel for the math path, which
also keeps two (B, H, T, T) probability tensors alive for the backward pass.

What changes, inside `fast_training_ops()` only:
- Dropout masks come from 64-bit random words cut into four 16-bit lanes, 8x cheaper. A lane
  keeps its element when it is >= round(p * 65536), so the drop probability is p rounded to a
  multiple of 1/65536 (0.1 -> 0.100006). Scaling is 1 / (1 - p) as in torch.
- `scaled_dot_product_attention` with dropout runs `AttentionWithDropout`: it saves q, k, v and
  the one-byte keep mask, and recomputes the softmax in the backward pass instead of storing it
  (the trick flash attention uses), which saves two (B, H, T, T) float tensors per layer.
The method is unchanged; the random stream is a different one. Without dropout (p = 0 or eval
mode) nothing is intercepted, so results are bit-identical. GPUs keep torch's fused kernels.

Gradient checkpointing recomputes a region's forward inside the backward pass, where no
TorchFunctionMode is active (autograd does not carry the mode into backward, and a loop may call
backward outside the block). So a module whose last forward ran under these ops re-enters them
when it is run again during backward (see `_enter_for_recompute`); checkpoint restores the RNG
state, so the recomputation draws the same masks. This covers checkpointed functions that call
modules, as every Hugging Face model does.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.overrides import TorchFunctionMode, _get_current_function_mode_stack

LANES = 4  # 16-bit lanes per 64-bit random word
LANE_LEVELS = 1 << 16


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """A uint8 mask that is 1 (keep) with probability 1 - p, p quantized to 1/65536.

    uint8, not bool: multiplying a float tensor by a uint8 one runs 5x faster here than
    masked_fill with a bool mask, and a bool operand would first be copied to float.
    """
    count = math.prod(shape)
    words = torch.empty((count + LANES - 1) // LANES, dtype=torch.int64, device=device)
    words.random_(-(1 << 63), None)  # the full 64-bit range: every 16-bit lane is uniform
    lanes = words.view(torch.int16)[:count]  # values in [-32768, 32767]
    threshold = round(p * LANE_LEVELS) - LANE_LEVELS // 2
    return (lanes >= threshold).view(torch.uint8).view(shape)


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout with `keep_mask`: autograd saves only the one-byte mask."""
    if p >= 1:
        return x * 0
    return (x * keep_mask(x.shape, p, x.device)).mul_(1.0 / (1.0 - p))


class AttentionWithDropout(torch.autograd.Function):
    """softmax(q k^T * scale + mask) with dropout, times v; recomputes the softmax for backward.

    Shapes: q (B, H, T, D), k and v (B, H, S, D), mask broadcastable to (B, H, T, S), additive
    (float) or True-means-attend (bool). Scalars are applied to the (., T, D) side, which is
    S/D times smaller than the (., T, S) side.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, p: float, scale: float):
        probs = _attention_probs(q, k, mask, scale)  # (B, H, T, S)
        keep = keep_mask(probs.shape, p, probs.device)
        ctx.save_for_backward(q, k, v, mask, keep)
        ctx.p, ctx.scale = p, scale
        return _bmm(probs.mul_(keep), v).mul_(1.0 / (1.0 - p))

    @staticmethod
    def backward(ctx, grad):  # grad: (B, H, T, D)
        q, k, v, mask, keep = ctx.saved_tensors
        with torch.no_grad():
            probs = _attention_probs(q, k, mask, ctx.scale)
            grad = grad * (1.0 / (1.0 - ctx.p))
            grad_v = None
            if ctx.needs_input_grad[2]:
                grad_v = _bmm((probs * keep).transpose(-2, -1), grad)
            grad_probs = _bmm(grad, v.transpose(-2, -1)).mul_(keep)
            # softmax backward: dS = P * dP - P * sum(P * dP), in place on P * dP
            grad_scores = grad_probs.mul_(probs)
            grad_scores.addcmul_(probs, grad_scores.sum(-1, keepdim=True), value=-1)
            grad_q = _bmm(grad_scores, k).mul_(ctx.scale) if ctx.needs_input_grad[0] else None
            grad_k = _bmm(grad_scores.transpose(-2, -1), q).mul_(ctx.scale) if ctx.needs_input_grad[1] else None
        return grad_q, grad_k, grad_v, None, None, None


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., M, K) @ (..., K, N) for equal leading dims, as one bmm.

    torch.matmul reshapes a transposed 4-D operand with a copy; flattening the leading dims
    first keeps it a view, and bmm reads transposed matrices in place.
    """
    out = torch.bmm(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]))
    return out.view(*a.shape[:-2], *out.shape[-2:])


def _attention_probs(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    scores = _bmm(q * scale, k.transpose(-2, -1))
    if mask is not None:
        if mask.dtype == torch.bool:
            # the finite minimum, not -inf: a fully masked row gives uniform weights, never NaN
            scores = scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores.add_(mask)
    return torch.softmax(scores, dim=-1)


class FastTrainingOps(TorchFunctionMode):
    """Routes dropout and attention-with-dropout calls to the cheaper versions above."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.dropout:
            return _dropout_call(*args, **kwargs)
        if func is F.scaled_dot_product_attention:
            return _attention_call(*args, **kwargs)
        return func(*args, **kwargs)


def _dropout_call(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    if not training or p == 0 or input.device.type != "cpu":
        return F.dropout(input, p, training, inplace)
    out = dropout(input, p)
    return input.copy_(out) if inplace else out


def _attention_call(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale=None,
    enable_gqa: bool = False,
):
    usable = (
        dropout_p > 0
        and not is_causal
        and not enable_gqa
        and query.device.type == "cpu"
        and query.dim() == 4
        and key.shape[:-2] == query.shape[:-2] == value.shape[:-2]
        and (attn_mask is None or not attn_mask.requires_grad)
    )
    if not usable:
        return F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attn_mask,
            dropout_p=dropout_p,
            is_causal=is_causal,
            scale=scale,
            enable_gqa=enable_gqa,
        )
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if attn_mask is not None and _masks_nothing(attn_mask):
        attn_mask = None  # transformers 4.x passes an all-zero additive mask for unpadded batches
    return AttentionWithDropout.apply(query, key, value, attn_mask, dropout_p, scale)


def _masks_nothing(mask: torch.Tensor) -> bool:
    return bool(mask.all()) if mask.dtype == torch.bool else not bool(mask.any())


# Modules whose most recent forward (outside backward) ran under FastTrainingOps.
_RAN_FAST: weakref.WeakSet = weakref.WeakSet()
_RECOMPUTE = threading.local()  # .entered: [(module, mode)] pushed by _enter_for_recompute
_HOOKS: list = []


def _fast_ops_active() -> bool:
    if not torch._C._len_torch_function_stack():  # the common case, cheaply
        return False
    return any(isinstance(mode, FastTrainingOps) for mode in _get_current_function_mode_stack())


def _enter_for_recompute(module: torch.nn.Module, args) -> None:
    """Global forward pre-hook: remember which modules ran fast, and re-enter the fast ops when
    one of them runs again inside backward (a checkpoint recomputation)."""
    if _fast_ops_active():
        _RAN_FAST.add(module)
    elif torch._C._current_graph_task_id() == -1:
        if _RAN_FAST:
            _RAN_FAST.discard(module)  # a forward without the fast ops: its recomputation is native
    elif module in _RAN_FAST:
        mode = FastTrainingOps()
        mode.__enter__()
        entered = getattr(_RECOMPUTE, "entered", None)
        if entered is None:
            entered = _RECOMPUTE.entered = []
        entered.append((module, mode))


def _exit_after_recompute(module: torch.nn.Module, args, output) -> None:
    """Global forward hook, also run when the forward raises (checkpoint stops recomputing early
    by raising)."""
    entered = getattr(_RECOMPUTE, "entered", None)
    if entered and entered[-1][0] is module:
        entered.pop()[1].__exit__(None, None, None)


def _install_recompute_hooks() -> None:
    # Installed once, on first use: they must outlive the block, because backward (and with it
    # any recomputation) usually runs after it.
    if not _HOOKS:
        _HOOKS.append(register_module_forward_pre_hook(_enter_for_recompute))
        _HOOKS.append(register_module_forward_hook(_exit_after_recompute, always_call=True))


@contextlib.contextmanager
def fast_training_ops(enabled: bool = True) -> Iterator[None]:
    """Use the cheaper dropout and attention inside this block (a no-op when not enabled).

    Works with gradient checkpointing (torch.utils.checkpoint, reentrant or not, and Hugging
    Face's gradient_checkpointing_enable): the recomputation draws the same masks.
    """
    if not enabled:
        yield
        return
    _install_recompute_hooks()
    with FastTrainingOps():
        yield
