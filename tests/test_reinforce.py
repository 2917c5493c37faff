import numpy as np
import pytest
import torch

from seqgan_gym.agents import (
    DiscriminatorUpdateCallback,
    Reinforce,
    RolloutPolicyUpdateCallback,
    reinforce_loss,
)
from seqgan_gym.agents.reinforce import leave_one_out_baseline
from seqgan_gym.evaluation.metrics import nll_oracle
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.rewards.reward_models import OracleLikelihoodReward
from seqgan_gym.rewards.rollout import RolloutPolicy


def _gen(V=6, T=3, seed=0):
    rng = torch.Generator().manual_seed(seed)
    return LSTMLanguageModel(V, T, emb_dim=4, hidden_dim=5).init_normal_(0.5, rng)


def test_reinforce_gradient_equals_hand_computed_one():
    g = _gen()
    Y = torch.tensor([[1, 4, 2], [5, 0, 3]])  # (B=2, T=3)
    Q = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.7, 0.3]])  # rewards of each token, (B, T)
    loss = reinforce_loss(g.log_prob(Y), Q)
    loss.backward()
    # d log softmax(z)_y / d z = onehot(y) - softmax(z); the output bias adds to z directly, so
    # d loss / d bias = -(1 / (B T)) sum_{b,t} Q[b, t] (onehot(Y[b, t]) - p[b, t]).
    with torch.no_grad():
        p = torch.softmax(g.logits(Y), -1)  # (B, T, V)
        onehot = torch.nn.functional.one_hot(Y, 6).float()
        expected = -(Q[..., None] * (onehot - p)).sum((0, 1)) / Y.numel()
    torch.testing.assert_close(g.output.bias.grad, expected, rtol=1e-5, atol=1e-7)
    # and the rewards' layout matters: transposing Q's meaning changes the gradient
    g.zero_grad()
    reinforce_loss(g.log_prob(Y), Q.flip(1)).backward()
    assert not torch.allclose(g.output.bias.grad, expected)


def test_reinforce_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="differ"):
        reinforce_loss(torch.zeros(2, 3), torch.zeros(3, 2))


def test_leave_one_out_baseline_is_the_mean_of_the_other_sequences():
    Q = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    b = leave_one_out_baseline(Q)
    for i in range(5):
        others = torch.cat([Q[:i], Q[i + 1 :]])
        torch.testing.assert_close(b[i], others.mean(0))
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out_baseline(Q[:1])


def test_mean_baseline_makes_the_update_blind_to_a_constant_reward_shift():
    """With baseline='mean' rewards Q and Q - 9 give the same update (the baseline absorbs the
    shift); without it they do not: the shift is what pushed every sampled token down."""
    oracle = random_oracle(seed=1, vocab_size=8, seq_len=3)
    Y = torch.randint(0, 8, (6, 3), generator=torch.Generator().manual_seed(1))
    Q = torch.rand(6, 3, generator=torch.Generator().manual_seed(2))

    def update(baseline, rewards):
        g = _gen(8, 3)
        env, policy = _oracle_reward_env(oracle, g, num_envs=6)
        Reinforce(g, env, seed=0, baseline=baseline).train_step(Y, rewards)
        return torch.cat([p.detach().flatten() for p in g.parameters()])

    torch.testing.assert_close(update("mean", Q), update("mean", Q - 9.0))
    assert not torch.allclose(update("none", Q), update("none", Q - 9.0))


def test_reinforce_refuses_an_unknown_baseline():
    oracle = random_oracle(seed=1, vocab_size=8, seq_len=3)
    env, policy = _oracle_reward_env(oracle, _gen(8, 3), num_envs=4)
    with pytest.raises(ValueError, match="baseline must be one of"):
        Reinforce(_gen(8, 3), env, baseline="batch")


def _oracle_reward_env(oracle, generator, num_envs=32, mode="mc_rollout", n_rollouts=2):
    from seqgan_gym.envs import SeqGANVectorEnv

    policy = RolloutPolicy(generator, update_rate=0.8)
    env = SeqGANVectorEnv(num_envs=num_envs, vocab_size=oracle.vocab_size, seq_len=oracle.seq_len,
                          n_rollouts=n_rollouts, intermediate_reward=mode,
                          reward_model=OracleLikelihoodReward(oracle), rollout_policy=policy,
                          device="cpu")
    return env, policy


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_reinforce_with_the_oracle_reward_lowers_nll_oracle(baseline):
    """The learning machinery works independently of D: maximise the oracle's log-likelihood."""
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=6)
    g = LSTMLanguageModel(30, 6).init_normal_(0.1, torch.Generator().manual_seed(0))
    eval_rng = torch.Generator().manual_seed(5)
    before = nll_oracle(g, oracle, 2000, rng=eval_rng)
    env, policy = _oracle_reward_env(oracle, g, mode="terminal")
    # lr 0.05: at the authors' 0.01, 40 updates move G too little to measure in a fast test
    Reinforce(g, env, lr=0.05, seed=0, baseline=baseline).learn(
        40, callback=RolloutPolicyUpdateCallback(policy, g))
    after = nll_oracle(g, oracle, 2000, rng=eval_rng)
    assert after < before - 0.5, (before, after)


def test_reinforce_is_repeatable_with_a_seed():
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=5)

    def run():
        g = LSTMLanguageModel(30, 5).init_normal_(0.1, torch.Generator().manual_seed(0))
        env, policy = _oracle_reward_env(oracle, g, num_envs=8)
        agent = Reinforce(g, env, seed=3).learn(3, callback=RolloutPolicyUpdateCallback(policy, g))
        return torch.cat([p.detach().flatten() for p in g.parameters()]), agent.last_stats

    (w1, s1), (w2, s2) = run(), run()
    assert torch.equal(w1, w2) and s1 == s2


def test_rollout_policy_follows_the_generator_after_each_update():
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=5)
    g = LSTMLanguageModel(30, 5).init_normal_(0.1, torch.Generator().manual_seed(0))
    env, policy = _oracle_reward_env(oracle, g, num_envs=8)
    beta0 = [p.clone() for p in policy.model.parameters()]
    Reinforce(g, env, seed=0).learn(1, callback=RolloutPolicyUpdateCallback(policy, g))
    for b0, b1, th in zip(beta0, policy.model.parameters(), g.parameters()):
        torch.testing.assert_close(b1, 0.8 * b0 + 0.2 * th.detach())


def _learn_with_counted_d_updates(monkeypatch, updates, g_steps, d_steps, k):
    """Run REINFORCE with the D callback, its D training replaced by a call counter."""
    # the callback's D update (through seqgan_gym.rewards.intermediate)
    import seqgan_gym.training.updates as training

    calls = []
    monkeypatch.setattr(training, "train_discriminator",
                        lambda *a, **kw: calls.append(kw) or {"loss": 0.5, "acc_real": 1.0,
                                                              "acc_fake": 0.0})
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=4)
    g = LSTMLanguageModel(30, 4).init_normal_(0.1, torch.Generator().manual_seed(0))
    env, policy = _oracle_reward_env(oracle, g, num_envs=4, mode="terminal")
    callback = DiscriminatorUpdateCallback.for_generator(
        g, torch.nn.Linear(1, 1), None, torch.zeros(8, 4, dtype=torch.long), g_steps=g_steps,
        d_steps=d_steps, k=k, n_negatives=16)
    Reinforce(g, env, seed=0).learn(updates, callback=callback)
    return callback, calls


def test_discriminator_callback_fires_on_its_schedule(monkeypatch):
    callback, calls = _learn_with_counted_d_updates(monkeypatch, 10, g_steps=3, d_steps=2, k=4)
    # D updates after generator updates 3, 6 and 9; the 10th update ends training
    assert callback.generator_updates == 10 and len(calls) == 3
    assert all(c["d_steps"] == 2 and c["k"] == 4 and c["n_negatives"] == 16 for c in calls)
    assert callback.d_updates == 6
    assert np.isfinite(callback.last_stats["loss"])


def test_discriminator_callback_updates_after_the_last_iteration(monkeypatch):
    callback, calls = _learn_with_counted_d_updates(monkeypatch, 9, g_steps=3, d_steps=1, k=1)
    # 3 iterations of 3 generator updates, each followed by its D update (the last one included)
    assert callback.generator_updates == 9 and len(calls) == 3


def test_kl_costs_to_go_equal_a_slow_loop_and_a_copied_anchor_costs_nothing():
    oracle = random_oracle(seed=1, vocab_size=8, seq_len=4)
    g, other = _gen(8, 4, seed=0), _gen(8, 4, seed=1)
    env, policy = _oracle_reward_env(oracle, g, num_envs=5)
    Y = torch.randint(0, 8, (5, 4), generator=torch.Generator().manual_seed(3))
    agent = Reinforce(g, env, kl_coef=0.5, anchor=other)
    costs = agent._kl_costs_to_go(g.log_prob(Y).detach(), Y)
    lg, la = g.log_prob(Y).detach(), other.log_prob(Y)
    for b in range(5):
        for t in range(4):
            expected = sum(lg[b, s] - la[b, s] for s in range(t, 4))
            assert costs[b, t].item() == pytest.approx(expected.item(), abs=1e-5)
    assert agent.last_kl == pytest.approx((lg - la).sum(1).mean().item(), abs=1e-5)
    Q = torch.rand(5, 4, generator=torch.Generator().manual_seed(4))

    def update(kl_coef):  # the default anchor is a copy of G now: its penalty is 0 on the first update
        g2 = _gen(8, 4, seed=0)
        env2, policy2 = _oracle_reward_env(oracle, g2, num_envs=5)
        Reinforce(g2, env2, kl_coef=kl_coef).train_step(Y, Q)
        return torch.cat([p.detach().flatten() for p in g2.parameters()])

    torch.testing.assert_close(update(0.0), update(3.0))


def test_kl_anchor_keeps_g_near_the_mle_policy_and_the_target_adapts_the_coefficient():
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=6)
    kls = {}
    for kl_coef in (0.0, 1.0):
        g = LSTMLanguageModel(30, 6).init_normal_(0.1, torch.Generator().manual_seed(0))
        anchor = LSTMLanguageModel(30, 6).init_normal_(0.1, torch.Generator().manual_seed(0))
        env, policy = _oracle_reward_env(oracle, g, mode="terminal")
        Reinforce(g, env, lr=0.05, seed=0, baseline="mean", kl_coef=kl_coef).learn(
            30, callback=RolloutPolicyUpdateCallback(policy, g))
        seqs = g.sample(2000, rng=torch.Generator().manual_seed(9))
        kls[kl_coef] = (g.log_prob(seqs) - anchor.log_prob(seqs)).sum(1).mean().item()
    assert kls[1.0] < 0.5 * kls[0.0], kls
    g = LSTMLanguageModel(30, 6).init_normal_(0.1, torch.Generator().manual_seed(0))
    env, policy = _oracle_reward_env(oracle, g, mode="terminal")
    agent = Reinforce(g, env, lr=0.05, seed=0, baseline="mean", kl_coef=0.01, kl_target=1e-4)
    agent.learn(10)
    assert agent.kl_coef > 0.01 and agent.last_stats["kl_coef"] == agent.kl_coef  # KL above target: up


def test_reinforce_leaves_beta_alone():
    """One beta-update path: REINFORCE's own update does not touch the rollout policy (the loop of
    seqgan_gym.algorithm1, or RolloutPolicyUpdateCallback, moves it)."""
    oracle = random_oracle(seed=1, vocab_size=30, seq_len=5)
    g = LSTMLanguageModel(30, 5).init_normal_(0.1, torch.Generator().manual_seed(0))
    env, policy = _oracle_reward_env(oracle, g, num_envs=8)
    beta0 = [p.clone() for p in policy.model.parameters()]
    Reinforce(g, env, seed=0).learn(2)
    assert all(torch.equal(b0, b1) for b0, b1 in zip(beta0, policy.model.parameters()))


def test_an_adapted_kl_coefficient_is_the_one_its_update_uses():
    """kl_target adapts the coefficient from the update's own sequences, before its loss uses it."""
    oracle = random_oracle(seed=1, vocab_size=8, seq_len=4)
    g, other = _gen(8, 4, seed=0), _gen(8, 4, seed=1)
    env, _ = _oracle_reward_env(oracle, g, num_envs=5)
    Y = torch.randint(0, 8, (5, 4), generator=torch.Generator().manual_seed(3))
    Q = torch.rand(5, 4, generator=torch.Generator().manual_seed(4))
    lg, la = g.log_prob(Y).detach(), other.log_prob(Y).detach()
    kl = (lg - la).sum(1).mean().item()
    coef = 0.5 * (1 + 0.1 * min(max(kl / 1e-3 - 1, -0.2), 0.2))
    expected = reinforce_loss(g.log_prob(Y), Q - coef * (lg - la).flip(1).cumsum(1).flip(1)).item()
    agent = Reinforce(g, env, kl_coef=0.5, kl_target=1e-3, anchor=other)
    assert agent.train_step(Y, Q) == pytest.approx(expected, rel=1e-6)
    assert agent.kl_coef == pytest.approx(coef) and coef != 0.5
