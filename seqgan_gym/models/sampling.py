"""Drawing tokens from logits, and the output layer's cross-entropy.

- :func:`sample_categorical`: one draw per row of logits, by inverse CDF from one uniform per row;
- :func:`sample_from_uniforms`: the same draw from given uniforms, which is how the Monte-Carlo
  search of :mod:`seqgan_gym.rewards.rollout` pins its randomness;
- :func:`output_cross_entropy`: the MLE loss of the output layer, ``cross_entropy(h W^T + b, y)``.

How they are made fast on a CPU is in :mod:`seqgan_gym._kernels` (the two-level inverse CDF of
:mod:`~seqgan_gym._kernels.inverse_cdf`, the chunked output layer of
:mod:`~seqgan_gym._kernels.output_layer`), each kernel tested against the plain form.
"""

from __future__ import annotations

import torch

from seqgan_gym._kernels import inverse_cdf, output_layer


def sample_categorical(
    logits: torch.Tensor, rng: torch.Generator | None = None, return_log_prob: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Draw one index per row of ``logits`` (batch, V) by inverse-CDF sampling.

    Equivalent in distribution to ``torch.multinomial(softmax(logits), 1)`` (up to float32
    rounding): one uniform per row from ``rng`` (``torch.rand(batch, 1, generator=rng)``), the
    draw :func:`sample_from_uniforms` makes from it. ``logits`` is not modified. Returns
    ``(batch,)`` long; with ``return_log_prob``, also the draws' log-probabilities
    ``log_softmax(logits)[row, draw]`` (batch,) float32, from the same pass (the same draws either
    way).
    """
    return inverse_cdf.sample_categorical(logits, rng, return_log_prob)


def sample_from_uniforms(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling with given uniforms: logits (M, V), u (M, K) in [0, 1) -> (M, K) long.

    Row m draws K tokens from softmax(logits[m]), one per uniform: the first token whose
    cumulative probability exceeds the uniform. With ``u`` drawn as ``torch.rand(M, 1,
    generator=rng)`` this equals :func:`sample_categorical` draw for draw (the tests check it);
    taking the uniforms as an argument is what lets the batched and the reference Monte-Carlo
    search (tests/references.py) share their random draws.
    """
    return inverse_cdf.sample_categorical_reference(logits, u)


def output_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
    chunk: int = 256,
) -> torch.Tensor:
    """``F.cross_entropy(F.linear(hidden, weight, bias), targets)``, the mean NLL of ``targets``.

    :param hidden: (rows, H) inputs of the output layer (e.g. teacher-forced LSTM outputs).
    :param weight: (V, H) and ``bias`` (V,): the output layer (``nn.Linear(H, V)``).
    :param targets: (rows,) long, the token each row should predict.
    :param chunk: rows per block of the output layer; a (chunk, V) buffer is the only V-wide memory
        used (the (rows, V) logits are never materialised:
        :func:`seqgan_gym._kernels.output_layer.output_cross_entropy`).
    :return: the mean NLL (a scalar), differentiable w.r.t. ``hidden``, ``weight`` and ``bias``
        (first order only).
    """
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(f"expected hidden (rows, H) and targets (rows,), got {tuple(hidden.shape)} "
                         f"and {tuple(targets.shape)}")
    if hidden.shape[0] == 0:
        raise ValueError("output_cross_entropy needs at least one row")
    return output_layer.output_cross_entropy(hidden, weight, bias, targets, chunk)
