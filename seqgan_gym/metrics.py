"""Likelihood metrics of the synthetic experiment.

* ``NLL_oracle`` (the paper's metric): sample sequences from the generator G and score them under the
  oracle: ``-(1/T) sum_t log G_oracle(y_t | Y_<t)``, averaged over 10,000 samples. Measures quality.
* ``NLL_test``: G's own per-token NLL on held-out oracle samples that MLE never trained on. Measures
  coverage/diversity (a mode-collapsed G scores badly here). Texygen computed this on the training
  set; we never do.
* the ground-truth floor: the oracle's NLL on its own samples (about 5.75 for the paper's oracle),
  i.e. the entropy rate of the true distribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgan_gym.lstm import LSTMLanguageModel


@torch.no_grad()
def sequence_nll(model: LSTMLanguageModel, sequences: torch.Tensor, batch_size: int = 256) -> float:
    """Mean per-token NLL of ``sequences`` (N, T) under ``model``, evaluated in batches."""
    model.check_tokens(sequences)
    if sequences.shape[0] == 0:
        raise ValueError("cannot evaluate NLL on an empty set of sequences")
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, sequences.shape[0], batch_size):
        batch = sequences[start : start + batch_size].to(device)
        logits = model.logits(batch)  # (b, T, V)
        total += F.cross_entropy(logits.flatten(0, 1), batch.flatten(), reduction="sum").item()
    return total / sequences.numel()


@torch.no_grad()
def nll_oracle(
    generator_model: LSTMLanguageModel,
    oracle: LSTMLanguageModel,
    n_samples: int = 10_000,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> float:
    """NLL_oracle: the oracle's per-token NLL on ``n_samples`` sequences sampled from G."""
    samples = generator_model.sample(n_samples, temperature=temperature, generator=generator)
    return sequence_nll(oracle, samples)


def nll_test(generator_model: LSTMLanguageModel, test_data: torch.Tensor) -> float:
    """NLL_test: G's per-token NLL on held-out real sequences (never the training set)."""
    return sequence_nll(generator_model, test_data)


def ground_truth_nll(oracle: LSTMLanguageModel, oracle_samples: torch.Tensor) -> float:
    """The floor: the oracle's per-token NLL on its own samples."""
    return sequence_nll(oracle, oracle_samples)
