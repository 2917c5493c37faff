"""Intermediate rewards (seqgan_gym.rewards.intermediate): each strategy's reward layout against a slow,
obviously correct reference; the prefix discriminator separates real from generated prefixes; the
critic's error falls as it trains; the one argument on the envs, the config, the loop and the callback."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from references import rollout_rewards_reference

from seqgan_gym.agents import DiscriminatorUpdateCallback
from seqgan_gym.config import INTERMEDIATE_REWARDS, get_preset
from seqgan_gym.envs import SeqGANEnv, SeqGANVectorEnv
from seqgan_gym.envs.core import EnvOptions
from seqgan_gym.evaluation.metrics import roc_auc
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.rewards.intermediate import (
    CriticReward,
    IntermediateReward,
    MonteCarloRollout,
    PrefixDiscriminatorReward,
    PrefixScorer,
    TerminalReward,
    make_intermediate_reward,
)
from seqgan_gym.rewards.reward_models import RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy
from seqgan_gym.run.cli import main as cli_main

V, T, N, B = 30, 5, 3, 4


class HashReward(RewardModel):
    """Deterministic stand-in reward: a hash of every (position, token), a multiple of 1/16."""

    def _score(self, sequences):
        weights = torch.arange(1, sequences.shape[1] + 1, device=sequences.device) * 7 + 3
        return ((sequences * weights).sum(1) % 16).float() / 16


class SmallIds(RewardModel):
    """The fraction of tokens below V / 2: under uniformly random tokens its value given Y_1:t is
    known exactly, (#small in Y_1:t + (T - t) / 2) / T."""

    def __init__(self, vocab_size: int) -> None:
        self.half = vocab_size // 2

    def _score(self, sequences):
        return (sequences < self.half).float().mean(1)


def exact_values(sequences: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """E[SmallIds(Y) | Y_1:t] for t = 1..T under uniform tokens: (B, T)."""
    small = (sequences < vocab_size // 2).float().cumsum(1)
    remaining = sequences.shape[1] - torch.arange(1, sequences.shape[1] + 1)
    return (small + 0.5 * remaining) / sequences.shape[1]


def _beta(seed: int = 0) -> RolloutPolicy:
    return RolloutPolicy(LSTMLanguageModel(V, T).init_normal_(1.0, torch.Generator().manual_seed(seed)))


def _actions(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def _episode(env, actions: torch.Tensor) -> np.ndarray:
    """Step the vector env through ``actions`` (B, T); the rewards as (B, T)."""
    rewards = []
    for t in range(actions.shape[1]):
        _, _, terminated, _, info = env.step(actions[:, t].numpy())
        rewards.append(info["q_value"])
    assert np.all(terminated)
    return np.stack(rewards, axis=1)


def _one_prefix_at_a_time(score_prefix, reward: RewardModel, sequences: torch.Tensor) -> torch.Tensor:
    """The slow reference layout: Q[b, t-1] = score_prefix(Y_b,1:t) for t < T, each prefix alone as
    a (1, t) tensor; Q[b, T-1] = the reward of Y_b alone."""
    q = torch.zeros(sequences.shape, dtype=torch.float32)
    for b in range(sequences.shape[0]):
        for t in range(1, sequences.shape[1]):
            q[b, t - 1] = float(score_prefix(sequences[b : b + 1, :t]))
        q[b, -1] = float(reward.score(sequences[b : b + 1])[0])
    return q


# ------------------------------------------------------------------------ the reward layout
def test_mc_rollout_layout_is_the_papers_search_against_the_looped_reference():
    beta, reward = _beta(), HashReward()
    env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, n_rollouts=N, reward_model=reward, rollout_policy=beta,
                          intermediate_reward="mc_rollout", device="cpu")
    assert isinstance(env.intermediate_reward, MonteCarloRollout)
    env.reset(seed=7)
    rng = torch.Generator()
    rng.set_state(env.core.rng.get_state())
    y = _actions()
    q = _episode(env, y)
    assert np.array_equal(q, rollout_rewards_reference(y, beta, reward, N, rng).numpy())
    # the default and intermediate_reward="mc_rollout" are the same strategy, draw for draw
    for options in ({}, {"intermediate_reward": "mc_rollout"}):
        other = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, n_rollouts=N, reward_model=reward,
                                rollout_policy=beta, device="cpu", **options)
        assert isinstance(other.intermediate_reward, MonteCarloRollout)
        other.reset(seed=7)
        assert np.array_equal(_episode(other, y), q)


def test_terminal_layout_is_zeros_then_the_score_of_each_sequence():
    reward = HashReward()
    y = _actions(1)
    expected = _one_prefix_at_a_time(lambda prefix: 0.0, reward, y)
    for options in ({"intermediate_reward": "terminal"},):
        env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward, device="cpu", **options)
        assert isinstance(env.intermediate_reward, TerminalReward) and env.rollout_policy is None
        env.reset(seed=0)
        assert np.array_equal(_episode(env, y), expected.numpy())


def test_prefix_discriminator_layout_is_its_probability_of_each_prefix_alone():
    reward = HashReward()
    strategy = make_intermediate_reward("prefix_discriminator", vocab_size=V, init_seed=3)
    model = strategy.model
    y = _actions(2)

    def prob(prefix):  # the model applied to this one prefix, read at its last position
        with torch.no_grad():
            return torch.sigmoid(model(prefix))[0, -1]

    expected = _one_prefix_at_a_time(prob, reward, y)
    env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward, intermediate_reward=strategy,
                          device="cpu")
    assert env.intermediate_reward is strategy  # the object passed, never a copy
    env.reset(seed=0)
    q = _episode(env, y)
    np.testing.assert_allclose(q, expected.numpy(), rtol=0, atol=1e-6)
    assert q[:, :-1].std() > 0.01  # a real signal, not a constant
    # and each step's value is the one-pass scorer's value at that position
    np.testing.assert_allclose(q[:, :-1], strategy.prefix_probs(y)[:, :-1].numpy(), rtol=0, atol=1e-6)


def test_critic_layout_is_its_value_of_each_prefix_alone_then_it_learns_from_the_episode():
    reward = HashReward()
    strategy = make_intermediate_reward("critic", vocab_size=V, init_seed=4)
    before = copy.deepcopy(strategy.model)
    y = _actions(3)

    def value(prefix):
        with torch.no_grad():
            return before(prefix)[0, -1]

    expected = _one_prefix_at_a_time(value, reward, y)
    env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward, intermediate_reward=strategy,
                          device="cpu")
    env.reset(seed=0)
    q = _episode(env, y)
    # Q_t for t < T came from the critic as it was before the episode: the batch's own final
    # rewards never reach its own Q_t
    np.testing.assert_allclose(q, expected.numpy(), rtol=0, atol=1e-6)
    # the finished batch then trained it online (one Adam step on its final rewards)
    assert strategy.started and strategy.last_loss is not None
    assert not torch.equal(before.head.weight, strategy.model.head.weight)


def test_the_single_env_gives_the_vector_envs_rewards():
    reward = HashReward()
    y = _actions(4)
    vector = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward,
                             intermediate_reward="prefix_discriminator", init_seed=2, device="cpu")
    vector.reset(seed=0)
    q = _episode(vector, y)
    single = SeqGANEnv(vocab_size=V, seq_len=T, reward_model=reward,
                       intermediate_reward="prefix_discriminator", init_seed=2, device="cpu")
    single.reset(seed=0)
    rewards = [single.step(int(a))[4]["q_value"] for a in y[1]]
    np.testing.assert_allclose(rewards, q[1], rtol=0, atol=1e-6)


# ------------------------------------------------------------------- what the learned ones learn
def test_the_prefix_discriminator_separates_real_from_generated_prefixes():
    """On a tiny random oracle: real = the oracle's samples, generated = an untrained generator's.
    Untrained, the prefix discriminator's AUC is about 0.5 at every length; after 3 epochs it
    separates the held-out prefixes of every length, better the longer the prefix."""
    oracle = random_oracle(seed=3, vocab_size=50, seq_len=8)
    generator = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
    rng = torch.Generator().manual_seed(1)
    real, fake = oracle.sample(2000, rng=rng), generator.sample(2000, rng=rng)
    held_real, held_fake = oracle.sample(500, rng=rng), generator.sample(500, rng=rng)
    strategy = make_intermediate_reward("prefix_discriminator", vocab_size=50, init_seed=0, shuffle_seed=0)

    def aucs() -> np.ndarray:  # ROC-AUC at each prefix length 1..T
        p_real, p_fake = strategy.prefix_probs(held_real), strategy.prefix_probs(held_fake)
        return np.array([roc_auc(p_real[:, t], p_fake[:, t]) for t in range(8)])

    untrained = aucs()
    assert abs(untrained.mean() - 0.5) < 0.1 and np.all(np.abs(untrained - 0.5) < 0.15), untrained
    stats = [strategy.fit(real, fake, epochs=1) for _ in range(3)]
    trained = aucs()
    assert stats[-1]["loss"] < stats[0]["loss"]
    assert trained[0] > 0.75 and np.all(trained[1:] > 0.85), trained
    assert trained[-1] > trained[0]  # a longer prefix says more
    assert stats[-1]["acc_real"] > 0.7 and stats[-1]["acc_fake"] > 0.7


def test_the_critics_error_falls_as_it_trains():
    """Uniformly random tokens and the SmallIds reward, whose true value of each prefix is known:
    the critic's squared error against it falls as it sees more data (up to Adam's noise from one
    batch to the next), and ends far below the error of the best constant (the mean value)."""
    vocab = 20
    rng = torch.Generator().manual_seed(0)
    train = torch.randint(0, vocab, (8000, 8), generator=rng)
    held = torch.randint(0, vocab, (1000, 8), generator=rng)
    truth = exact_values(held, vocab)[:, :-1]  # the critic answers for t < T
    constant_error = ((truth - truth.mean()) ** 2).mean().item()
    critic = make_intermediate_reward("critic", vocab_size=vocab, init_seed=0, shuffle_seed=0)
    reward = SmallIds(vocab)

    def error() -> float:
        return ((critic.values(held)[:, :-1] - truth) ** 2).mean().item()

    errors = [error()]
    for chunk in train.split(1000):
        critic.fit(None, chunk, reward_model=reward)
        errors.append(error())
    # e.g. [0.44, 0.0087, 0.0059, 0.0044, 0.0028, 0.0019, 0.0012, 0.0009, 0.0014] against 0.0148
    assert errors[1] < 0.1 * errors[0], errors  # the first pass (its bias starts at the mean target)
    assert max(errors[-3:]) < 0.5 * min(errors[1:3]), errors  # and it keeps falling after that
    assert errors[-1] < 0.3 * constant_error, (errors, constant_error)


def test_the_critic_learns_online_from_the_environments_episodes():
    vocab, seq_len, batch = 20, 6, 64
    reward = SmallIds(vocab)
    env = SeqGANVectorEnv(batch, vocab_size=vocab, seq_len=seq_len, reward_model=reward,
                          intermediate_reward="critic", init_seed=1, device="cpu")
    critic = env.intermediate_reward
    assert isinstance(critic, CriticReward)
    held = torch.randint(0, vocab, (1000, seq_len), generator=torch.Generator().manual_seed(5))
    truth = exact_values(held, vocab)[:, :-1]
    constant_error = ((truth - truth.mean()) ** 2).mean().item()
    rng = torch.Generator().manual_seed(6)
    env.reset(seed=0)
    errors = []
    for episode in range(121):
        if episode % 40 == 0:
            errors.append(((critic.values(held)[:, :-1] - truth) ** 2).mean().item())
        _episode(env, torch.randint(0, vocab, (batch, seq_len), generator=rng))
    # e.g. [0.27, 0.0041, 0.0018, 0.00075] against 0.021
    assert errors[1] < errors[0] and errors[3] < errors[2] < errors[1], errors
    assert errors[-1] < 0.2 * constant_error, (errors, constant_error)


@pytest.mark.parametrize("name", ["prefix_discriminator", "critic"])
def test_a_learned_strategy_restored_from_its_state_continues_identically(name):
    rng = torch.Generator().manual_seed(0)
    real, fake = torch.randint(0, V, (300, T), generator=rng), torch.randint(0, V, (300, T), generator=rng)
    strategy = make_intermediate_reward(name, vocab_size=V, init_seed=1, shuffle_seed=2)
    strategy.fit(real, fake, reward_model=HashReward())
    state = copy.deepcopy(strategy.state_dict())
    again = make_intermediate_reward(name, vocab_size=V, init_seed=9, shuffle_seed=9)
    again.load_state_dict(state)
    one = strategy.fit(real, fake, reward_model=HashReward())
    two = again.fit(real, fake, reward_model=HashReward())
    assert one == two
    assert all(torch.equal(a, b) for a, b in zip(strategy.model.parameters(), again.model.parameters()))
    # and it pickles (the environments do), generator state included
    copied = pickle.loads(pickle.dumps(strategy))
    assert torch.equal(copied.shuffle_rng.get_state(), strategy.shuffle_rng.get_state())


def test_the_scorer_starts_from_the_generator():
    generator = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(0))
    scorer = PrefixScorer.from_generator(generator)
    y = _actions()
    torch.testing.assert_close(scorer.lstm(scorer.embedding(torch.cat([torch.zeros(B, 1, dtype=torch.long),
                                                                         y], 1)))[0][:, :-1],
                               generator.hidden_states(y))
    state = torch.get_rng_state()
    PrefixScorer(V, seed=5)
    assert torch.equal(state, torch.get_rng_state())  # seeded without touching the global stream


# ------------------------------------------------------------------------ the one argument
def test_a_bad_name_is_one_line_naming_the_choices_before_any_work(monkeypatch, capsys):
    for make in (lambda: EnvOptions(reward_model=HashReward(), intermediate_reward="rollouts"),
                 lambda: make_intermediate_reward("rollouts", vocab_size=V),
                 lambda: get_preset("smoke").override(["intermediate_reward=rollouts"]).validate()):
        with pytest.raises(ValueError) as info:
            make()
        message = str(info.value)
        assert "\n" not in message and "'rollouts'" in message
        assert all(name in message for name in INTERMEDIATE_REWARDS), message
    import seqgan_gym.experiment.setup as experiment

    monkeypatch.setattr(experiment, "build_setup", lambda cfg: pytest.fail("built the setup"))
    argv = ["train", "--preset", "smoke", "--set", "intermediate_reward=rollouts", "--threads", "2"]
    assert cli_main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "intermediate_reward must be one of" in error


def test_the_default_strategy_needs_beta():
    base = dict(vocab_size=V, seq_len=T, reward_model=HashReward(), device="cpu")
    with pytest.raises(ValueError, match=r"needs rollout_policy=RolloutPolicy\(G\)"):
        SeqGANEnv(**base)  # the default, mc_rollout, needs beta
    for name in ("prefix_discriminator", "critic"):  # the learned ones need none
        assert SeqGANEnv(**base, intermediate_reward=name).rollout_policy is None


def test_your_own_strategy_plugs_in_by_subclassing():
    class FractionOfSmallIds(IntermediateReward):
        def _prefix_rewards(self, prefix, rng):
            return (prefix < V // 2).float().mean(dim=1)

    reward, y = HashReward(), _actions(5)
    env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward,
                          intermediate_reward=FractionOfSmallIds(), device="cpu")
    env.reset(seed=0)
    expected = _one_prefix_at_a_time(lambda p: (p < V // 2).float().mean(), reward, y)
    np.testing.assert_allclose(_episode(env, y), expected.numpy(), rtol=0, atol=1e-7)

    class Wrong(IntermediateReward):
        def _prefix_rewards(self, prefix, rng):
            return torch.zeros(prefix.shape[0] + 1)

    env = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=reward, intermediate_reward=Wrong(),
                          device="cpu")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"returned shape \(5,\) for 4 prefixes"):
        env.step(y[:, 0].numpy())
    # a strategy object serves environments that share its reward model, no other
    with pytest.raises(ValueError, match="another reward model"):
        SeqGANVectorEnv(B, vocab_size=V, seq_len=T, reward_model=HashReward(),
                        intermediate_reward=env.intermediate_reward, device="cpu")


def test_the_d_update_callback_retrains_the_prefix_discriminator_on_ds_negatives():
    from seqgan_gym.models.discriminator import make_discriminator_optimizer, paper_discriminator

    generator = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(0))
    d = paper_discriminator(V, T, seed=0)
    strategy = make_intermediate_reward("prefix_discriminator", vocab_size=V, generator=generator)
    drawn = []

    def sample(n):
        drawn.append(generator.sample(n, rng=torch.Generator().manual_seed(len(drawn))))
        return drawn[-1]

    seen = []
    fit = strategy.fit
    strategy.fit = lambda real, negatives, **kw: seen.append(negatives) or fit(real, negatives, **kw)
    real = torch.randint(0, V, (64, T), generator=torch.Generator().manual_seed(1))
    callback = DiscriminatorUpdateCallback(d, make_discriminator_optimizer(d), real, sample, d_steps=2, k=1,
                                           n_negatives=32, intermediate_reward=strategy)
    head = strategy.model.head.weight.clone()
    stats = callback.update_discriminator()
    assert len(drawn) == 2 and len(seen) == 2 and all(a is b for a, b in zip(drawn, seen))  # D's own
    assert "intermediate_loss" in stats and "loss" in stats
    assert not torch.equal(head, strategy.model.head.weight)
    with pytest.raises(TypeError, match="IntermediateReward"):
        DiscriminatorUpdateCallback(d, None, real, sample, intermediate_reward="critic")


@pytest.mark.parametrize("algo, reward, name", [("reinforce", "discriminator", "prefix_discriminator"),
                                                ("ppo", "bleu", "critic"),
                                                ("reinforce", "bleu", "prefix_discriminator")])
def test_the_loop_pre_trains_and_retrains_a_learned_strategy(tmp_path, algo, reward, name):
    from seqgan_gym import algorithm1
    from seqgan_gym.experiment.log import RunLog
    from seqgan_gym.experiment.setup import build_setup, new_generator

    cfg = get_preset("smoke").override([f"algo={algo}", f"reward={reward}", f"intermediate_reward={name}",
                                        "mle_epochs=1", "adv_iterations=2", "dis_pretrain_steps=1"])
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    log = RunLog(tmp_path / "run", tensorboard=False)
    fits = []
    cls = PrefixDiscriminatorReward if name == "prefix_discriminator" else CriticReward
    original = cls.fit

    def counted(self, *args, **kwargs):
        fits.append(log.rows[-1]["phase"] if log.rows else None)
        return original(self, *args, **kwargs)

    try:
        cls.fit = counted
        algorithm1.train(setup, log, new_generator(setup), progress=False)
    finally:
        cls.fit = original
    log.close()
    phases = [row["phase"] for row in log.rows]
    assert phases.count("dis_pretrain") == 1 and phases.count("adversarial") == 3
    # one pre-training fit (before its row), then one per iteration's d-step
    assert len(fits) == 1 + 2 and fits[0] == "mle"
    if reward == "bleu":  # no D: the d-step rows hold no D statistics
        assert all(row.get("d_loss") is None for row in log.rows)
