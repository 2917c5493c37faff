"""The likelihood of sequences under an LSTM language model, in batches: the mean per-token NLL
(:func:`sequence_nll`, behind NLL_oracle and NLL_test) and each sequence's log P(Y)
(:func:`sequence_log_likelihood`, behind the density-ratio D and D's oracle correlation)."""

from __future__ import annotations

from functools import partial

import torch

from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.sampling import CPU_CHUNK_ROWS, exp_logits_
from seqgan_gym.utils import side_by_side, side_by_side_workers


@torch.no_grad()
def sequence_nll(model: LSTMLanguageModel, sequences: torch.Tensor, batch_size: int = 256,
                 temperature: float = 1.0) -> float:
    """Mean per-token NLL of ``sequences`` (N, T) under ``model``, evaluated in batches.

    With the model's ``eos_token`` set, only the positions up to and including each sequence's
    first EOS count (numerator and denominator), as in :meth:`LSTMLanguageModel.log_prob`.

    ``temperature`` scores under ``softmax(logits / temperature)``, the distribution
    ``model.sample(..., temperature=temperature)`` draws from.

    Equals ``cross_entropy(model.logits(sequences), sequences)`` up to float32 rounding, with less
    memory traffic on CPU because the (batch * T, V) logits are never materialised: the LSTM runs on
    ``batch_size`` sequences at a time, the output layer on chunks of rows in one reused buffer
    with the bias folded into the matmul, and logsumexp skips the max pass where it is safe
    (see the notes in :mod:`seqgan_gym.models.sampling`). The target's logit, the other
    half of ``-log softmax``, is an (H + 1)-term dot product. With several torch threads on CPU the
    batches run side by side on one thread each (:func:`seqgan_gym.utils.side_by_side`).
    """
    model.check_tokens(sequences)
    if sequences.shape[0] == 0:
        raise ValueError("cannot evaluate NLL on an empty set of sequences")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    device = next(model.parameters()).device
    weight1 = model.output_matrix(temperature)  # (H + 1, V): [W^T; b] / temperature
    starts = list(range(0, sequences.shape[0], batch_size))
    # the batches side by side on one thread each where torch has several (a fixed split)
    parts = side_by_side(partial(_nll_of_batches, model, sequences, weight1, batch_size), starts,
                         side_by_side_workers(device, len(starts)))
    total = sum(part for part, _ in parts)
    n_tokens = sum(n for _, n in parts)
    return total.item() / n_tokens


def _nll_of_batches(model: LSTMLanguageModel, sequences: torch.Tensor, weight1: torch.Tensor,
                    batch_size: int, starts: list[int]) -> tuple[torch.Tensor, int]:
    """:func:`sequence_nll`'s summed NLL (float64) and token count over the batches at ``starts``."""
    device = weight1.device
    chunk = CPU_CHUNK_ROWS if device.type == "cpu" else batch_size * sequences.shape[1]
    buf = weight1.new_empty(chunk, weight1.shape[1])
    total = torch.zeros((), dtype=torch.float64, device=device)
    n_tokens = 0
    for start in starts:
        batch = sequences[start : start + batch_size].to(device)
        hidden = model.hidden_states(batch).flatten(0, 1)  # (rows, H)
        hidden1 = torch.cat([hidden, hidden.new_ones(hidden.shape[0], 1)], 1)  # [h, 1]
        mask = model.token_mask(batch)  # None, or (batch, T): positions up to the first EOS
        if mask is not None:  # keep only the rows (positions) that count
            hidden1, targets = hidden1[mask.flatten()], batch[mask]
        else:
            targets = batch.flatten()
        n_tokens += targets.numel()
        # -log softmax(logits)[y] = logsumexp(logits) - logits[y]
        total -= (hidden1 * weight1.T[targets]).sum()
        for lo in range(0, hidden1.shape[0], chunk):
            rows = hidden1[lo : lo + chunk]
            _, sums, shift = exp_logits_(rows, weight1, buf[: rows.shape[0]])
            total += (sums.log_() + shift).sum()
    return total, n_tokens


@torch.no_grad()
def sequence_log_likelihood(model: LSTMLanguageModel, sequences: torch.Tensor,
                            batch_size: int = 256) -> torch.Tensor:
    """log P(Y) under ``model`` for each row of ``sequences`` (N, T) -> (N,) float, in batches (the
    (batch, T, V) logits of one batch at a time)."""
    device = next(model.parameters()).device
    out = [model.log_prob(sequences[i : i + batch_size].to(device)).sum(1)
           for i in range(0, sequences.shape[0], batch_size)]
    return torch.cat(out).cpu() if out else torch.empty(0)
