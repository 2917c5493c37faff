"""The measures of whether D's reward carries signal, against slow, obviously right references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgan_gym.evaluation.metrics import (
    average_ranks,
    discriminator_signal,
    roc_auc,
    spearman,
)
from seqgan_gym.models.likelihood import sequence_log_likelihood
from seqgan_gym.models.lstm import LSTMLanguageModel


def _slow_ranks(x):
    """rank_i = 1 + #(x_j < x_i) + (#(x_j == x_i) - 1) / 2, pair by pair."""
    return np.array([1 + sum(b < a for b in x) + (sum(b == a for b in x) - 1) / 2 for a in x])


def _slow_auc(pos, neg):
    return np.mean([[1.0 if p > n else 0.5 if p == n else 0.0 for n in neg] for p in pos])


def _slow_pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return sum((x - a.mean()) * (y - b.mean()) for x, y in zip(a, b)) / np.sqrt(
        sum((x - a.mean()) ** 2 for x in a) * sum((y - b.mean()) ** 2 for y in b))


@pytest.mark.parametrize("seed", range(5))
def test_ranks_auc_and_spearman_equal_the_slow_definitions(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 40).astype(float)  # many ties
    y = x + rng.integers(-3, 4, 40)
    assert np.allclose(average_ranks(x), _slow_ranks(x))
    pos, neg = x[:15], y[15:]
    assert roc_auc(pos, neg) == pytest.approx(_slow_auc(pos, neg), abs=1e-12)
    assert spearman(x, y) == pytest.approx(_slow_pearson(_slow_ranks(x), _slow_ranks(y)), abs=1e-12)


def test_edge_values():
    assert roc_auc([2, 3], [0, 1]) == 1.0 and roc_auc([0, 1], [2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5
    assert spearman([1, 2, 3, 4], [10, 20, 25, 1000]) == pytest.approx(1.0)  # any monotone map
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="at least one positive"):
        roc_auc([], [1.0])


def test_sequence_log_likelihood_is_the_sum_of_log_probs_in_any_batching(tiny_oracle):
    seqs = tiny_oracle.sample(70, rng=torch.Generator().manual_seed(0))
    whole = tiny_oracle.log_prob(seqs).sum(1)
    assert torch.allclose(sequence_log_likelihood(tiny_oracle, seqs, batch_size=16), whole, atol=1e-5)


class _Scorer:
    """A stand-in D whose score is a function of the sequence."""

    def __init__(self, fn):
        self.fn = fn

    def prob_real(self, sequences):
        return self.fn(sequences)


def test_signal_reads_high_for_a_d_that_knows_the_oracle_and_chance_for_a_blind_one(tiny_oracle):
    rng = torch.Generator().manual_seed(1)
    real = tiny_oracle.sample(400, rng=rng)
    bad_generator = LSTMLanguageModel(50, 8).init_normal_(0.1, rng=rng)  # near uniform
    generated = bad_generator.sample(400, rng=rng)
    knows = _Scorer(lambda s: torch.sigmoid(sequence_log_likelihood(tiny_oracle, s) / 8 + 3))
    signal = discriminator_signal(knows, real, generated, tiny_oracle)
    assert signal["d_oracle_spearman"] == pytest.approx(1.0)  # a monotone map of log P_oracle
    assert signal["d_heldout_auc"] > 0.9
    blind = _Scorer(lambda s: torch.rand(s.shape[0], generator=torch.Generator().manual_seed(int(s.sum()))))
    signal = discriminator_signal(blind, real, generated, tiny_oracle)
    assert abs(signal["d_heldout_auc"] - 0.5) < 0.08 and abs(signal["d_oracle_spearman"]) < 0.15
    assert "d_oracle_spearman" not in discriminator_signal(blind, real, generated)  # a corpus: no oracle


def test_a_confident_cnn_is_ranked_by_its_logit_not_its_saturated_probability(tiny_oracle):
    from seqgan_gym.models.discriminator import Discriminator

    with torch.random.fork_rng():  # its own seeded weights, whatever the tests before it drew
        torch.manual_seed(0)
        d = Discriminator(50, 8, filter_sizes=[1, 2], num_filters=[4, 4])
    with torch.no_grad():
        d.output.weight.mul_(1e6)  # logits far past float32's sigmoid range
    seqs = tiny_oracle.sample(64, rng=torch.Generator().manual_seed(0))
    logit = d.real_logit(seqs, batch_size=16)
    assert torch.allclose(torch.sigmoid(logit), d.prob_real(seqs), atol=1e-6)
    assert len(set(d.prob_real(seqs).tolist())) <= 2 < len(set(logit.tolist()))  # 0/1 against distinct
    half = seqs.shape[0] // 2
    signal = discriminator_signal(d, seqs[:half], seqs[half:], tiny_oracle)
    assert signal["d_heldout_auc"] == pytest.approx(roc_auc(logit[:half].numpy(), logit[half:].numpy()))
