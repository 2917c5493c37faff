"""The likelihood of sequences under an LSTM language model, in batches: the mean per-token NLL
(:func:`sequence_nll`, behind NLL_oracle and NLL_test) and each sequence's log P(Y)
(:func:`sequence_log_likelihood`, behind the density-ratio D and D's oracle correlation)."""

from __future__ import annotations

import torch

from seqgan_gym._kernels.output_layer import folded_output_layer, summed_nll
from seqgan_gym.models.lstm import LSTMLanguageModel


@torch.no_grad()
def sequence_nll(model: LSTMLanguageModel, sequences: torch.Tensor, batch_size: int = 256,
                 temperature: float = 1.0) -> float:
    """Mean per-token NLL of ``sequences`` (N, T) under ``model``, evaluated in batches:
    ``cross_entropy(model.logits(sequences), sequences)`` up to float32 rounding.

    With the model's ``eos_token`` set, only the positions up to and including each sequence's
    first EOS count (numerator and denominator), as in :meth:`LSTMLanguageModel.log_prob`.

    ``temperature`` scores under ``softmax(logits / temperature)``, the distribution
    ``model.sample(..., temperature=temperature)`` draws from.

    The (batch * T, V) logits are never materialised: the LSTM runs on ``batch_size`` sequences
    at a time and the output layer's logsumexp on chunks of rows
    (:func:`seqgan_gym._kernels.output_layer.summed_nll`).
    """
    model.check_tokens(sequences)
    if sequences.shape[0] == 0:
        raise ValueError("cannot evaluate NLL on an empty set of sequences")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    weight1 = folded_output_layer(model.output.weight, model.output.bias, temperature)  # (H + 1, V)
    total, n_tokens = summed_nll(model.hidden_states, model.token_mask, weight1, sequences, batch_size)
    return total.item() / n_tokens


@torch.no_grad()
def sequence_log_likelihood(model: LSTMLanguageModel, sequences: torch.Tensor,
                            batch_size: int = 256) -> torch.Tensor:
    """log P(Y) under ``model`` for each row of ``sequences`` (N, T) -> (N,) float, in batches (the
    (batch, T, V) logits of one batch at a time)."""
    device = next(model.parameters()).device
    out = [model.log_prob(sequences[i : i + batch_size].to(device)).sum(1)
           for i in range(0, sequences.shape[0], batch_size)]
    return torch.cat(out).cpu() if out else torch.empty(0)
