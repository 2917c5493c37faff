"""The synthetic experiment's real data: sequences sampled from the oracle.

The paper trains on 10,000 sequences sampled from the oracle. We also sample a *held-out* set of
the same size from an independent stream, for NLL_test, so that the diversity metric is never
computed on data MLE trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqgan_gym.models.lstm import LSTMLanguageModel


@dataclass
class OracleData:
    """Real data drawn from the oracle: ``train`` (N, T) for MLE and D, ``test`` (M, T) held out."""

    train: torch.Tensor
    test: torch.Tensor
    valid: torch.Tensor | None = None
    """(K, T) more held-out samples for choices made during training (the best MLE epoch), so that
    the test set is never used to choose anything; None when not drawn."""


def sample_oracle_data(
    oracle: LSTMLanguageModel, n_train: int = 10_000, n_test: int = 10_000, seed: int = 0,
    n_valid: int = 0,
) -> OracleData:
    """Sample the training set, an independent held-out set and (``n_valid > 0``) a validation set
    from ``oracle``.

    The sets come from separate seeded streams, so changing ``n_train`` or ``n_valid`` changes
    neither of the others.
    """
    device = oracle.output.weight.device
    train_rng = torch.Generator(device=device).manual_seed(seed)
    test_rng = torch.Generator(device=device).manual_seed(seed + 1_000_003)
    valid_rng = torch.Generator(device=device).manual_seed(seed + 2_000_029)
    return OracleData(
        train=oracle.sample(n_train, rng=train_rng).cpu(),
        test=oracle.sample(n_test, rng=test_rng).cpu(),
        valid=oracle.sample(n_valid, rng=valid_rng).cpu() if n_valid > 0 else None,
    )
