"""The Monte-Carlo search, the rollout policy and the reward models.

Exactness: the batched search and the slow reference share their random draws through the module's
draw schedule, and the stand-in reward model returns multiples of 1/16 (exact in float32 sums and
means over N = 4), so the two must agree bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from references import rollout_rewards_reference
from torch import nn

from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.models.sampling import sample_categorical, sample_from_uniforms
from seqgan_gym.rewards.reward_models import (
    DiscriminatorReward,
    NonFiniteRewardError,
    OracleLikelihoodReward,
    RewardModel,
)
from seqgan_gym.rewards.rollout import MonteCarloSearch, RolloutPolicy, rollout_rewards

V, T, N, B = 50, 6, 4, 3


class HashReward(RewardModel):
    """Deterministic stand-in: a hash of every (position, token), as a multiple of 1/16."""

    def __init__(self, vocab_size: int = V, seq_len: int = T) -> None:
        self.vocab_size, self.seq_len = vocab_size, seq_len

    def _score(self, sequences):
        weights = torch.arange(1, sequences.shape[1] + 1, device=sequences.device) * 7 + 3
        return ((sequences * weights).sum(1) % 16).float() / 16


class RecordingReward(HashReward):
    """Remembers every batch it scored."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def _score(self, sequences):
        self.seen.append(sequences.clone())
        return super()._score(sequences)


class LayoutReward(RewardModel):
    """Encodes which sequence and which prefix length produced a finished sequence.

    With a rollout policy that always writes token V-1 (never in the test sequences), a completion
    of prefix Y_b,1:t has exactly t tokens other than V-1, and Y_b's first token identifies b.
    """

    vocab_size, seq_len = V, T

    def _score(self, sequences):
        return (sequences[:, 0] * 100 + (sequences != V - 1).sum(1)).float()


def policy(seed: int = 0, std: float = 1.0, update_rate: float = 0.8) -> RolloutPolicy:
    rng = torch.Generator().manual_seed(seed)
    return RolloutPolicy(LSTMLanguageModel(V, T).init_normal_(std, rng), update_rate=update_rate)


def sequences(seed: int = 1, batch: int = B) -> torch.Tensor:
    return torch.randint(0, V, (batch, T), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------- sampling
def test_sample_from_uniforms_matches_sample_categorical():
    logits = torch.randn(64, V, generator=torch.Generator().manual_seed(0)) * 3
    expected = sample_categorical(logits, torch.Generator().manual_seed(5))
    u = torch.rand(64, 1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(sample_from_uniforms(logits, u).squeeze(1), expected)


# ------------------------------------------------------------------------- batched == reference
@pytest.mark.parametrize("max_rows", [16384, 5])
def test_batched_equals_reference_exactly(max_rows):
    beta, reward, y = policy(), HashReward(), sequences()
    q = rollout_rewards(y, beta, reward, N, torch.Generator().manual_seed(3), max_rows=max_rows)
    q_ref = rollout_rewards_reference(y, beta, reward, N, torch.Generator().manual_seed(3))
    assert q.shape == (B, T) and q.dtype == torch.float32
    assert torch.equal(q, q_ref)
    # and the draws matter: another seed gives other completions, hence other rewards
    q_other = rollout_rewards(y, beta, reward, N, torch.Generator().manual_seed(4))
    assert not torch.equal(q[:, :-1], q_other[:, :-1])
    assert torch.equal(q[:, -1], q_other[:, -1])  # t = T: the score of Y itself, no rollouts


def test_reward_layout_is_batch_by_time():
    # beta always writes token V-1: output weights 0, a huge bias on V-1 (softmax is one-hot)
    model = LSTMLanguageModel(V, T)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(-1e4)
        model.output.bias[V - 1] = 1e4
    y = torch.randint(0, V - 1, (5, T), generator=torch.Generator().manual_seed(0))
    y[:, 0] = torch.tensor([3, 1, 4, 0, 2])  # first token names the sequence
    expected = y[:, :1].float() * 100 + torch.arange(1, T + 1).float()  # Q[b, t-1] = 100 id_b + t
    for fn in (rollout_rewards, rollout_rewards_reference):
        q = fn(y, RolloutPolicy(model), LayoutReward(), 2, torch.Generator().manual_seed(0))
        assert torch.equal(q, expected), fn.__name__


def test_rollouts_continue_the_prefix_in_b_major_rows():
    reward, y = RecordingReward(), sequences()
    rollout_rewards(y, policy(), reward, N, torch.Generator().manual_seed(0))
    assert len(reward.seen) == T  # one scoring call per prefix length, the last on Y itself
    for t, batch in enumerate(reward.seen[:-1], start=1):
        assert batch.shape == (B * N, T)
        assert torch.equal(batch[:, :t], y.repeat_interleave(N, dim=0)[:, :t])
        assert (batch >= 0).all() and (batch < V).all()
    assert len({tuple(r.tolist()) for r in reward.seen[0][:N]}) > 1  # the N rollouts differ
    assert torch.equal(reward.seen[-1], y)


def test_incremental_search_matches_rollout_rewards():
    beta, reward, y = policy(), HashReward(), sequences()
    search = MonteCarloSearch(beta, reward, N, T)
    search.reset(B)
    rng = torch.Generator().manual_seed(9)
    q = torch.stack([search.push(y[:, :t], rng) for t in range(1, T + 1)], dim=1)
    assert torch.equal(q, rollout_rewards(y, beta, reward, N, torch.Generator().manual_seed(9)))
    with pytest.raises(ValueError, match="push expects"):
        search.push(y, rng)  # past T


def test_with_a_real_discriminator_if_available():
    disc_mod = pytest.importorskip("seqgan_gym.models.discriminator")
    torch.manual_seed(0)
    disc = disc_mod.Discriminator(V, T, filter_sizes=(1, 2, 3, T), num_filters=(8, 8, 8, 8))
    reward = DiscriminatorReward(disc)
    beta, y = policy(), sequences()
    q = rollout_rewards(y, beta, reward, N, torch.Generator().manual_seed(1))
    q_ref = rollout_rewards_reference(y, beta, reward, N, torch.Generator().manual_seed(1))
    assert torch.allclose(q, q_ref, atol=1e-5)
    assert ((q >= 0) & (q <= 1)).all()


# ------------------------------------------------------------------------- rollout policy
def test_beta_updated_between_reset_and_the_first_token_is_used():
    """SB3's vector env resets at step T, before the policy (and beta) update: the search must read
    the start token with the beta of the first push, not the beta of reset."""
    old, new = policy(seed=0), policy(seed=5)
    y, reward = sequences(), HashReward()
    search = MonteCarloSearch(old, reward, N, T)
    search.reset(B)
    old.update_rate = 0.0
    old.update(new.model)  # beta <- theta after the reset, before the first token
    rng = torch.Generator().manual_seed(9)
    q = torch.stack([search.push(y[:, :t], rng) for t in range(1, T + 1)], dim=1)
    assert torch.equal(q, rollout_rewards(y, new, reward, N, torch.Generator().manual_seed(9)))


def test_rollout_policy_is_a_frozen_deep_copy():
    rng = torch.Generator().manual_seed(0)
    gen = LSTMLanguageModel(V, T).init_normal_(0.1, rng)
    beta = RolloutPolicy(gen)
    assert beta.model is not gen
    assert all(not p.requires_grad for p in beta.model.parameters())
    before = beta.model.output.weight.clone()
    with torch.no_grad():
        gen.output.weight.add_(1.0)
    assert torch.equal(beta.model.output.weight, before)


@pytest.mark.parametrize("rate", [0.8, 0.0, 1.0, 0.3])
def test_ema_update_formula(rate):
    theta0 = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(0))
    theta1 = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(1))
    beta = RolloutPolicy(theta0, update_rate=rate)
    beta.update(theta1)
    for (name, b), t0, t1 in zip(beta.model.named_parameters(), theta0.parameters(),
                                 theta1.parameters()):
        assert torch.allclose(b, rate * t0 + (1 - rate) * t1, atol=1e-7), name
    assert torch.equal(beta.model.lstm.bias_hh_l0, torch.zeros_like(beta.model.lstm.bias_hh_l0))


def test_rollout_policy_validation():
    gen = LSTMLanguageModel(V, T)
    with pytest.raises(ValueError, match="update_rate"):
        RolloutPolicy(gen, update_rate=1.5)
    with pytest.raises(TypeError):
        RolloutPolicy(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="architecture"):
        RolloutPolicy(gen).update(LSTMLanguageModel(V + 1, T))
    with pytest.raises(ValueError, match="seq_len=6 but the environment has seq_len=7"):
        RolloutPolicy(gen).check_compatible(V, T + 1)


# ------------------------------------------------------------------------- reward models
class NaNReward(HashReward):
    def _score(self, sequences):
        r = super()._score(sequences)
        r[-1] = float("nan")
        return r


def test_non_finite_reward_raises_naming_the_model():
    with pytest.raises(NonFiniteRewardError, match="NaNReward"):
        NaNReward().score(sequences())
    with pytest.raises(NonFiniteRewardError, match="NaNReward"):
        rollout_rewards(sequences(), policy(), NaNReward(), N, torch.Generator().manual_seed(0))

    class InfReward(HashReward):
        def _score(self, sequences):
            return [float("inf")] * sequences.shape[0]

    with pytest.raises(ValueError, match="InfReward returned 3 non-finite"):
        InfReward().score(sequences())


def test_reward_shape_is_checked():
    class Wrong(HashReward):
        def _score(self, sequences):
            return torch.zeros(sequences.shape[0], 2)

    with pytest.raises(ValueError, match="Wrong returned rewards of shape"):
        Wrong().score(sequences())


class StubDiscriminator(nn.Module):
    """Anything with prob_real works: sigmoid of a learnable bias plus a token feature."""

    def __init__(self) -> None:
        super().__init__()
        self.vocab_size, self.seq_len = V, T
        self.bias = nn.Parameter(torch.zeros(1))

    def prob_real(self, seqs, batch_size=64):
        return torch.sigmoid(self.bias + seqs.float().mean(1) / V)


def test_discriminator_reward_keeps_a_reference():
    disc = StubDiscriminator()
    reward = DiscriminatorReward(disc, batch_size=8)
    assert reward.discriminator is disc
    y = sequences()
    before = reward.score(y)
    with torch.no_grad():
        disc.bias.add_(2.0)  # "training" the same object changes the reward
    assert (reward.score(y) > before).all()
    assert not reward.score(y).requires_grad
    with pytest.raises(TypeError, match="prob_real"):
        DiscriminatorReward(nn.Linear(2, 2))


def test_oracle_likelihood_reward():
    oracle = random_oracle(0, vocab_size=V, seq_len=T)
    y = sequences(batch=7)
    r = OracleLikelihoodReward(oracle, batch_size=3).score(y)
    assert torch.allclose(r, oracle.log_prob(y).mean(1))
    assert (r < 0).all()


def test_reward_compatibility_check():
    with pytest.raises(ValueError, match="reward model HashReward has vocab_size=40"):
        HashReward(vocab_size=40).check_compatible(V, T)
    HashReward(vocab_size=None, seq_len=None).check_compatible(V, T)
