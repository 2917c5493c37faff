"""SeqGAN-Oracle-v0: registration, the env checkers, determinism, pickling, rewards, autoreset."""

from __future__ import annotations

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from seqgan_gym.envs import SeqGANEnv, SeqGANVectorEnv  # importing seqgan_gym registers the env
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.rewards.reward_models import DiscriminatorReward, OracleLikelihoodReward, RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy, rollout_rewards

V, T, N = 50, 5, 4


class HashReward(RewardModel):
    """Deterministic stand-in reward: a hash of every (position, token), a multiple of 1/16."""

    vocab_size, seq_len = V, T

    def _score(self, sequences):
        weights = torch.arange(1, sequences.shape[1] + 1, device=sequences.device) * 7 + 3
        return ((sequences * weights).sum(1) % 16).float() / 16


# tiny config; the cheap stand-in reward keeps the suite fast (the oracle reward is used where
# a real model matters: make, pickling); "untrained": a fresh random beta, seeded by init_seed
SMALL = dict(vocab_size=V, seq_len=T, n_rollouts=N, reward_model=HashReward(),
             rollout_policy="untrained", device="cpu")
ORACLE_REWARD = {**SMALL, "reward_model": "oracle", "oracle": "random"}


def policy(seed: int = 0) -> RolloutPolicy:
    rng = torch.Generator().manual_seed(seed)
    return RolloutPolicy(LSTMLanguageModel(V, T).init_normal_(1.0, rng))


def run_episode(env, actions) -> tuple[list, list]:
    """Step ``env`` through ``actions``; the observations and the values Q_t (``info["q_value"]``),
    after checking that each step's reward is the change of Q_t."""
    observations, q_values = [], []
    previous = env.unwrapped.core.q_value.copy()  # Q_{t-1} of the step before (0 at the start)
    for a in actions:
        obs, r, terminated, truncated, info = env.step(a)
        observations.append(obs.copy())
        q = info["q_value"]
        np.testing.assert_array_equal(np.reshape(r, -1), np.reshape(np.float32(q), -1) - previous)
        q_values.append(q)
        previous = np.reshape(np.float32(q), -1)
    assert np.all(terminated) and not np.any(truncated)
    return observations, q_values


# --------------------------------------------------------------------------- registration
def test_registered_with_both_entry_points():
    spec = gym.spec("SeqGAN-Oracle-v0")
    assert spec.entry_point == "seqgan_gym.envs.seqgan_env:SeqGANEnv"
    assert spec.vector_entry_point == "seqgan_gym.envs.vector_env:SeqGANVectorEnv"


def test_import_seqgan_gym_registers_the_env():
    code = (
        "import gymnasium as gym, seqgan_gym\n"
        "assert 'SeqGAN-Oracle-v0' in gym.registry\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_make_and_make_vec_with_kwargs():
    env = gym.make("SeqGAN-Oracle-v0", **ORACLE_REWARD)
    assert isinstance(env.unwrapped, SeqGANEnv)
    assert isinstance(env.unwrapped.reward_model, OracleLikelihoodReward)
    assert env.observation_space.shape == (T,) and env.action_space.n == V
    obs, _ = env.reset(seed=0)
    assert (obs == -1).all()

    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=4, **ORACLE_REWARD)
    assert isinstance(envs, SeqGANVectorEnv) and envs.num_envs == 4
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, T) and obs.dtype == np.int64
    obs, rewards, terminated, truncated, _ = envs.step(envs.action_space.sample())
    assert rewards.shape == (4,) and not terminated.any() and not truncated.any()

    # objects passed through make / make_vec are used as they are, never copied
    assert gym.make("SeqGAN-Oracle-v0", **SMALL).unwrapped.reward_model is SMALL["reward_model"]
    beta = policy()
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=2, **{**SMALL, "rollout_policy": beta})
    assert envs.rollout_policy is beta and envs.reward_model is SMALL["reward_model"]

    sync = gym.make_vec("SeqGAN-Oracle-v0", num_envs=2, vectorization_mode="sync", **SMALL)
    sync.reset(seed=0)
    sync.step(sync.action_space.sample())


def _forbid(monkeypatch, *targets):
    """Make each ``module.attr`` raise if called: the code under test must not build or load it."""
    def fail(*args, **kwargs):
        raise AssertionError("this should not be built or loaded here")

    for target in targets:
        monkeypatch.setattr(target, fail)


@pytest.mark.parametrize("vector", [False, True])
def test_plain_make_says_what_to_pass_before_any_work(monkeypatch, vector):
    _forbid(monkeypatch, "seqgan_gym.envs.core.make_reward_model",
            "seqgan_gym.envs.core.make_intermediate_reward", "seqgan_gym.data.paper_oracle.find_paper_oracle",
            "seqgan_gym.envs.text_env.load_corpus")
    make = (lambda id_: gym.make_vec(id_, num_envs=4)) if vector else gym.make
    for env_id in ("SeqGAN-Oracle-v0", "SeqGAN-COCO-v0"):
        with pytest.raises(TypeError, match=r"needs reward_model=: DiscriminatorReward\(D\)") as info:
            make(env_id)
        assert "'untrained'" in str(info.value) and "\n" not in str(info.value)  # one line


@pytest.mark.parametrize("kwargs, error, match", [
    ({"reward_model": "discriminator"}, ValueError, r"pass reward_model=DiscriminatorReward\(D\)"),
    ({"reward_model": "oracle"}, ValueError, "needs oracle="),
    ({"reward_model": "bleu"}, ValueError, "needs references="),
    ({"reward_model": "nope"}, TypeError, "must be a RewardModel"),
    ({"reward_model": HashReward(), "oracle": "paper"}, ValueError, "only for reward_model='oracle'"),
    ({"reward_model": HashReward(), "references": [[1, 2]]}, ValueError, "only for reward_model='bleu'"),
    ({"reward_model": HashReward()}, ValueError, r"needs rollout_policy=RolloutPolicy\(G\)"),
    ({"reward_model": HashReward(), "rollout_policy": "random"}, TypeError, "RolloutPolicy or 'untrained'"),
])
def test_arguments_refused_before_any_work(monkeypatch, kwargs, error, match):
    _forbid(monkeypatch, "seqgan_gym.envs.core.make_reward_model",
            "seqgan_gym.data.paper_oracle.find_paper_oracle")
    with pytest.raises(error, match=match):
        SeqGANEnv(**kwargs)


def test_explicit_models_load_no_oracle(monkeypatch):
    """The paper-size env with a reward model and beta passed in builds and loads nothing else:
    it works on a bare clone (no shared/, no cached or downloadable paper oracle)."""
    from seqgan_gym.data.paper_oracle import OracleUnavailableError, find_paper_oracle

    monkeypatch.setenv("SEQGAN_GYM_NO_SHARED", "1")
    with pytest.raises(OracleUnavailableError):
        find_paper_oracle(download=False)
    _forbid(monkeypatch, "seqgan_gym.data.paper_oracle.find_paper_oracle",
            "seqgan_gym.models.oracle.load_oracle",
            "seqgan_gym.models.oracle.random_oracle", "seqgan_gym.models.discriminator.paper_discriminator")

    class AnyReward(RewardModel):
        def _score(self, sequences):
            return sequences[:, -1].float() / 5000

    reward = AnyReward()
    beta = RolloutPolicy(LSTMLanguageModel(5000, 20, emb_dim=4, hidden_dim=4))
    env = gym.make("SeqGAN-Oracle-v0", reward_model=reward, rollout_policy=beta, device="cpu", n_rollouts=2)
    u = env.unwrapped
    assert (u.core.vocab_size, u.core.seq_len) == (5000, 20)
    assert u.reward_model is reward and u.rollout_policy is beta and not hasattr(u, "oracle")
    env.reset(seed=0)
    assert env.step(7)[1] >= 0
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=4, intermediate_reward="terminal", reward_model=reward)
    assert envs.rollout_policy is None
    envs.reset(seed=0)
    assert (envs.step(envs.action_space.sample())[1] == 0).all()


def test_untrained_is_an_explicit_smoke_test():
    pytest.importorskip("seqgan_gym.models.discriminator")
    env = SeqGANEnv(vocab_size=V, seq_len=T, n_rollouts=2, reward_model="untrained", init_seed=3,
                    device="cpu")
    assert isinstance(env.reward_model, DiscriminatorReward)
    assert env.reward_model.discriminator.seq_len == T  # widths > T dropped
    assert isinstance(env.rollout_policy, RolloutPolicy)  # brought along in rollout mode
    # the same models as built by hand from init_seed
    from seqgan_gym.models.discriminator import paper_discriminator

    seqs = torch.randint(0, V, (6, T), generator=torch.Generator().manual_seed(0))
    by_hand = DiscriminatorReward(paper_discriminator(V, T, 3))
    assert torch.equal(env.reward_model.score(seqs), by_hand.score(seqs))
    fresh = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(env.rollout_policy.model.state_dict().values(),
                                                 fresh.state_dict().values()))
    env.reset(seed=0)
    _, rewards = run_episode(env, range(T))
    assert all(0.0 <= r <= 1.0 for r in rewards)

    # a beta passed in is kept; terminal mode builds none
    beta = policy()
    assert SeqGANEnv(**{**SMALL, "reward_model": "untrained", "rollout_policy": beta}).rollout_policy is beta
    assert SeqGANEnv(**{**SMALL, "reward_model": "untrained", "rollout_policy": None,
                        "intermediate_reward": "terminal"}).rollout_policy is None
    assert SeqGANEnv(**{**SMALL, "intermediate_reward": "terminal"}).rollout_policy is None


def test_untrained_paper_setup():
    """``reward_model="untrained"`` at the paper's size (V=5000, T=20, N=16): no oracle needed."""
    env = gym.make("SeqGAN-Oracle-v0", reward_model="untrained", device="cpu")
    u = env.unwrapped
    assert (u.core.vocab_size, u.core.seq_len, u.core.n_rollouts) == (5000, 20, 16)
    assert isinstance(u.reward_model, DiscriminatorReward)
    env.reset(seed=0)
    _, r, *_ = env.step(7)
    assert 0.0 <= r <= 1.0

    # (sharing the single env's D: building a paper-size D takes seconds on a CPU)
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=64, intermediate_reward="terminal",
                        reward_model=u.reward_model)
    assert envs.reward_model is u.reward_model
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (64, 20)
    _, rewards, *_ = envs.step(envs.action_space.sample())
    assert (rewards == 0).all()


def test_oracle_reward_holds_the_paper_oracle(paper_oracle_path):
    env = gym.make("SeqGAN-Oracle-v0", reward_model="oracle", oracle="paper", intermediate_reward="terminal")
    reward = env.unwrapped.reward_model
    assert isinstance(reward, OracleLikelihoodReward) and reward.oracle.vocab_size == 5000


# --------------------------------------------------------------------------- checkers
@pytest.mark.parametrize("strategy", ["mc_rollout", "terminal"])
def test_gymnasium_check_env(strategy):
    from gymnasium.utils.env_checker import check_env

    env = gym.make("SeqGAN-Oracle-v0", **ORACLE_REWARD, intermediate_reward=strategy, render_mode="ansi")
    check_env(env.unwrapped)


def test_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env

    check_env(SeqGANEnv(**SMALL), warn=True)


# --------------------------------------------------------------------------- behaviour
def test_observation_padding_and_render():
    env = SeqGANEnv(**SMALL, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [-1] * T and env.render() == " ".join(["_"] * T)
    env.step(0)
    obs, *_ = env.step(np.int64(42))
    assert obs.tolist() == [0, 42] + [-1] * (T - 2)
    assert env.render() == "0 42 " + " ".join(["_"] * (T - 2))
    assert env.observation_space.contains(obs)


def test_seeded_determinism():
    actions = [3, 14, 15, 9, 26]
    a = SeqGANEnv(**SMALL)
    b = SeqGANEnv(**SMALL)
    a.reset(seed=123)
    b.reset(seed=123)
    obs_a, rew_a = run_episode(a, actions)
    obs_b, rew_b = run_episode(b, actions)
    assert rew_a == rew_b and all((x == y).all() for x, y in zip(obs_a, obs_b))
    a.reset(seed=123)
    assert run_episode(a, actions)[1] == rew_a  # a seeded reset repeats the episode
    a.reset(seed=124)
    assert run_episode(a, actions)[1][:-1] != rew_a[:-1]  # other rollouts (t = T has none)

    va, vb = SeqGANVectorEnv(3, **SMALL), SeqGANVectorEnv(3, **SMALL)
    va.reset(seed=5)
    vb.reset(seed=5)
    acts = np.arange(3 * T).reshape(T, 3) % V
    for x, y in zip(run_episode(va, acts)[1], run_episode(vb, acts)[1]):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("vector", [False, True])
def test_pickle_round_trip(vector):
    env = SeqGANVectorEnv(2, **ORACLE_REWARD) if vector else SeqGANEnv(**ORACLE_REWARD)
    env.reset(seed=3)
    first = np.array([1, 2]) if vector else 1
    env.step(first)
    clone = pickle.loads(pickle.dumps(env))
    rest = [np.array([t, t + 1]) if vector else t for t in range(2, T + 1)]
    obs_a, rew_a = run_episode(env, rest)
    obs_b, rew_b = run_episode(clone, rest)
    assert all(np.array_equal(x, y) for x, y in zip(rew_a, rew_b))
    assert all(np.array_equal(x, y) for x, y in zip(obs_a, obs_b))


@pytest.mark.parametrize(
    "action", [-1, V, 3.0, 2.5, float("nan"), np.float32("nan"), True, "3", None, np.array([1, 2])]
)
def test_invalid_actions_raise(action):
    env = SeqGANEnv(**SMALL)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(action)


@pytest.mark.parametrize(
    "actions", [np.array([1, 2]), np.array([1, 2, V]), np.array([1.0, 2.0, 3.0]),
                np.array([1, -1, 2]), np.array([[1, 2, 3]]), np.array([np.nan, 1, 2])]
)
def test_invalid_vector_actions_raise(actions):
    envs = SeqGANVectorEnv(3, **SMALL)
    envs.reset(seed=0)
    with pytest.raises(ValueError):
        envs.step(actions)


def test_episode_order_is_enforced():
    env = SeqGANEnv(**SMALL)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    run_episode(env, range(T))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_terminal_mode_rewards():
    reward = HashReward()
    env = SeqGANEnv(**{**SMALL, "intermediate_reward": "terminal", "reward_model": reward})
    assert env.rollout_policy is None
    env.reset(seed=0)
    actions = [4, 8, 15, 16, 23]
    _, rewards = run_episode(env, actions)
    assert rewards[:-1] == [0.0] * (T - 1)
    assert rewards[-1] == float(reward.score(torch.tensor([actions]))[0])


def test_vector_env_rollout_rewards_equal_the_engine():
    beta, reward = policy(), HashReward()
    envs = SeqGANVectorEnv(3, **{**SMALL, "reward_model": reward, "rollout_policy": beta})
    assert envs.reward_model is reward and envs.rollout_policy is beta  # no copies
    envs.reset(seed=11)
    rng = torch.Generator()
    rng.set_state(envs.core.rng.get_state())
    y = torch.randint(0, V, (3, T), generator=torch.Generator().manual_seed(0))
    _, rewards = run_episode(envs, y.T.numpy())
    q = rollout_rewards(y, beta, reward, N, rng=rng)
    assert np.array_equal(np.stack(rewards, axis=1), q.numpy())

    # the single env is the same core with B = 1
    env = SeqGANEnv(**{**SMALL, "reward_model": reward, "rollout_policy": beta})
    env.reset(seed=11)
    rng.set_state(env.core.rng.get_state())
    _, rewards = run_episode(env, y[0].tolist())
    q = rollout_rewards(y[:1], beta, reward, N, rng)
    assert np.array_equal(np.array(rewards, dtype=np.float32), q[0].numpy())


def test_autoreset_same_step():
    envs = SeqGANVectorEnv(2, **SMALL)
    envs.reset(seed=0)
    for t in range(T):
        obs, rewards, terminated, truncated, infos = envs.step(np.array([t, t + 1]))
    assert terminated.all() and not truncated.any()
    assert (obs == -1).all()  # already the next episode
    assert infos["_final_obs"].all()
    assert infos["final_obs"][1].tolist() == list(range(1, T + 1))
    obs, _, terminated, *_ = envs.step(np.array([7, 8]))
    assert obs[:, 0].tolist() == [7, 8] and not terminated.any()


def test_autoreset_next_step_and_disabled():
    envs = SeqGANVectorEnv(2, **SMALL, autoreset_mode="NextStep")
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    envs.reset(seed=0)
    for t in range(T):
        obs, _, terminated, _, _ = envs.step(np.array([t, t]))
    assert terminated.all() and obs[0].tolist() == list(range(T))
    obs, rewards, terminated, truncated, _ = envs.step(np.array([9, 9]))  # actions ignored
    assert (obs == -1).all() and (rewards == 0).all() and not terminated.any()

    envs = SeqGANVectorEnv(2, **SMALL, autoreset_mode=AutoresetMode.DISABLED)
    envs.reset(seed=0)
    for t in range(T):
        envs.step(np.array([t, t]))
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.array([0, 0]))


def test_record_episode_statistics_wrapper():
    envs = gym.wrappers.vector.RecordEpisodeStatistics(SeqGANVectorEnv(2, **SMALL))
    envs.reset(seed=0)
    total = np.zeros(2)
    for t in range(T):
        _, rewards, _, _, infos = envs.step(np.array([t, t + 1]))
        total += rewards
    assert np.allclose(infos["episode"]["r"], total) and (infos["episode"]["l"] == T).all()


# --------------------------------------------------------------------------- validation
def test_mismatched_models_raise():
    with pytest.raises(ValueError, match="vocab_size=50 but the environment has vocab_size=60"):
        SeqGANEnv(**{**SMALL, "vocab_size": 60, "reward_model": HashReward()})
    with pytest.raises(ValueError, match="rollout policy has seq_len=5"):
        SeqGANEnv(**{**SMALL, "seq_len": 6, "reward_model": OracleLikelihoodReward(
            LSTMLanguageModel(V, 6)), "rollout_policy": policy()})
    with pytest.raises(TypeError, match="RolloutPolicy"):
        SeqGANEnv(**{**SMALL, "rollout_policy": LSTMLanguageModel(V, T)})
    with pytest.raises(ValueError, match="oracle has vocab_size=51 but vocab_size=50"):
        SeqGANEnv(**{**ORACLE_REWARD, "oracle": LSTMLanguageModel(V + 1, T)})
    with pytest.raises(TypeError, match="unexpected keyword argument 'oracle_seed'"):
        SeqGANEnv(**SMALL, oracle_seed=1)
    with pytest.raises(ValueError, match="intermediate_reward must be one of"):
        SeqGANEnv(**{**SMALL, "intermediate_reward": "dense"})
    with pytest.raises(TypeError, match="unexpected keyword argument 'reward_mode'"):  # the old spelling
        SeqGANEnv(**SMALL, reward_mode="terminal")
    with pytest.raises(ValueError, match="n_rollouts"):
        SeqGANEnv(**{**SMALL, "n_rollouts": 0})


class FlakyReward(HashReward):
    """HashReward that raises on its ``fail_on``-th call."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.calls, self.fail_on = 0, fail_on

    def _score(self, sequences):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("reward service unavailable")
        return super()._score(sequences)


@pytest.mark.parametrize("mode, fail_at_step", [("mc_rollout", 2), ("mc_rollout", T), ("terminal", T)])
def test_a_reward_model_that_raises_leaves_the_env_as_it_was(mode, fail_at_step):
    """The failed step changes nothing (prefix, step count, rollout stream): retrying it gives
    exactly what an env whose reward never failed gives."""
    def make(reward):
        env = SeqGANVectorEnv(num_envs=3, **{**SMALL, "reward_model": reward, "intermediate_reward": mode})
        env.reset(seed=7)
        return env

    calls_per_step = 1 if mode == "mc_rollout" else 0  # MC rollouts score once per step
    fail_on = (fail_at_step - 1) * calls_per_step + 1 if mode == "mc_rollout" else 1
    flaky, steady = make(FlakyReward(fail_on)), make(FlakyReward(0))
    actions = np.arange(3 * T).reshape(T, 3) % V
    for t in range(T):
        if t + 1 == fail_at_step:
            before = flaky.core.observation()
            with pytest.raises(RuntimeError, match="unavailable"):
                flaky.step(actions[t])
            assert np.array_equal(flaky.core.observation(), before) and flaky.core.t == t
        got, want = flaky.step(actions[t]), steady.step(actions[t])
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
