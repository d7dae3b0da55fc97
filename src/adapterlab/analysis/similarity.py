"""Representational similarity between two models' hidden states of the same tokens.

RSA as in He et al. (2021) §2.2: for N sampled tokens, the N x N cosine-similarity matrix of
each model's representations, then the Pearson correlation of their upper triangles. Linear
CKA (Kornblith et al. 2019) is a second measure the paper does not have.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """(N, d) -> (N, N) cosine similarities, float32."""
    unit = torch.nn.functional.normalize(x.float(), dim=1)
    return unit @ unit.T


def rsa(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the upper triangles (i < j) of the cosine matrices of a and b.

    The triangle is never materialized: sums over i < j are (full sum - trace) / 2 of symmetric
    matrices, accumulated in float64. Memory: a few N x N float32 matrices (N=5000: ~100 MB each).
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"rsa needs the same tokens in both: {a.shape[0]} vs {b.shape[0]} rows")
    n = a.shape[0]
    pairs = n * (n - 1) / 2
    sa, sb = cosine_matrix(a), cosine_matrix(b)

    def upper_sum(m: torch.Tensor) -> float:
        return (torch.sum(m, dtype=torch.float64) - torch.sum(torch.diagonal(m), dtype=torch.float64)).item() / 2

    sum_a, sum_b = upper_sum(sa), upper_sum(sb)
    sum_ab = upper_sum(sa * sb)
    sum_aa = upper_sum(sa * sa)
    sa = None  # free one N x N matrix before the next product
    sum_bb = upper_sum(sb * sb)
    covariance = sum_ab / pairs - (sum_a / pairs) * (sum_b / pairs)
    var_a = sum_aa / pairs - (sum_a / pairs) ** 2
    var_b = sum_bb / pairs - (sum_b / pairs) ** 2
    if var_a <= 0 or var_b <= 0:
        return float("nan")
    return covariance / (var_a * var_b) ** 0.5


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear CKA: ||A'B||_F^2 / (||A'A||_F ||B'B||_F) of column-centred A, B (N x d)."""
    a = a.double() - a.double().mean(0, keepdim=True)
    b = b.double() - b.double().mean(0, keepdim=True)
    cross = torch.linalg.matrix_norm(a.T @ b) ** 2
    return (cross / (torch.linalg.matrix_norm(a.T @ a) * torch.linalg.matrix_norm(b.T @ b))).item()


def sample_token_positions(
    input_ids: Sequence[Sequence[int]], special_ids: set[int], count: int, seed: int
) -> list[tuple[int, int]]:
    """(example, position) of `count` tokens drawn at random, never a special or padding token.

    The draw depends only on the token ids and the seed, so every model compared gets the
    same tokens.
    """
    candidates = [(i, j) for i, ids in enumerate(input_ids) for j, token in enumerate(ids) if token not in special_ids]
    if count > len(candidates):
        raise ValueError(f"asked for {count} tokens but the data has only {len(candidates)} non-special tokens")
    return sorted(random.Random(seed).sample(candidates, count))


@torch.inference_mode()
def layer_states(
    model, batches: Sequence[dict], positions: list[tuple[int, int]], batch_size: int
) -> list[torch.Tensor]:
    """Hidden states of the sampled tokens at every layer (embeddings = layer 0): list of (N, d)."""
    model.eval()
    wanted: dict[int, list[int]] = {}
    for example, position in positions:
        wanted.setdefault(example, []).append(position)
    layers: list[list[torch.Tensor]] | None = None
    for index, batch in enumerate(batches):
        inputs = {k: v.to(next(model.parameters()).device) for k, v in batch.items() if k != "labels"}
        hidden = model(**inputs, output_hidden_states=True).hidden_states
        if layers is None:
            layers = [[] for _ in hidden]
        for row in range(inputs["input_ids"].shape[0]):
            example = index * batch_size + row
            if example in wanted:
                for layer, states in enumerate(hidden):
                    layers[layer].append(states[row, wanted[example]].float().cpu())
    assert layers is not None
    return [torch.cat(parts) for parts in layers]
