"""Rewards are returns: under every way the ecosystem builds the env, an episode's rewards sum to the
final score of its sequence, for every intermediate-reward strategy, and ``info["q_value"]`` is Q_t.

The score is recomputed here from the finished sequence by a reward model built apart from the env
(the same seeded random oracle), so a wrong reward layout cannot agree with it by construction.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import RecordEpisodeStatistics
from stable_baselines3.common.env_util import make_vec_env

import seqgan_gym  # noqa: F401  (registers the ids)
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.rewards.reward_models import OracleLikelihoodReward

V, T, INIT_SEED = 30, 6, 4
STRATEGIES = ["mc_rollout", "terminal", "prefix_discriminator", "critic"]


def _kwargs(strategy: str) -> dict:
    return dict(vocab_size=V, seq_len=T, n_rollouts=2, reward_model="oracle", oracle="random",
                init_seed=INIT_SEED, intermediate_reward=strategy, device="cpu",
                rollout_policy="untrained" if strategy == "mc_rollout" else None)


def _score(sequences: np.ndarray) -> np.ndarray:
    """score(Y) by hand: the log-likelihood under the oracle the env builds from ``init_seed``."""
    oracle = random_oracle(seed=INIT_SEED, vocab_size=V, seq_len=T)
    return OracleLikelihoodReward(oracle).score(torch.as_tensor(sequences)).numpy()


def _actions(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, (T, batch))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_single_env_rewards_sum_to_the_score(strategy):
    env = RecordEpisodeStatistics(gym.make("SeqGAN-Oracle-v0", **_kwargs(strategy)))
    env.reset(seed=0)
    actions, rewards, q = _actions(1, 0)[:, 0], [], []
    for a in actions:
        _, r, terminated, _, info = env.step(int(a))
        rewards.append(r)
        q.append(info["q_value"])
    assert terminated
    score = _score(actions[None])[0]
    assert sum(rewards) == pytest.approx(score, rel=1e-5)
    assert q[-1] == pytest.approx(score, rel=1e-6)  # Q_T = score(Y)
    np.testing.assert_allclose(np.cumsum(rewards), q, rtol=1e-5, atol=1e-5)  # r_t = Q_t - Q_{t-1}
    assert info["episode"]["r"] == pytest.approx(score, rel=1e-5)  # gymnasium's own wrapper agrees
    if strategy == "terminal":
        assert rewards[:-1] == [0.0] * (T - 1)


@pytest.mark.parametrize(("strategy", "mode"), [  # async: the two strategies with the most state per step
    *((s, m) for s in STRATEGIES for m in ("vector_entry_point", "sync")), ("mc_rollout", "async"),
    ("critic", "async")])
def test_vector_env_rewards_sum_to_the_score(strategy, mode):
    B = 3
    # async: a fresh server process forks the workers ("forkserver"); forking this process, whose torch
    # has already run on OpenMP threads, can deadlock the children (a libgomp limit, not the env's)
    vector_kwargs = {"context": "forkserver"} if mode == "async" else {}
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=B, vectorization_mode=mode, vector_kwargs=vector_kwargs,
                        **_kwargs(strategy))
    try:
        envs.reset(seed=1)
        actions, total = _actions(B, 1), np.zeros(B)
        for t in range(T):
            _, rewards, terminated, _, infos = envs.step(actions[t])
            total += rewards
            assert infos["q_value"].shape == (B,)
        assert terminated.all()
        np.testing.assert_allclose(total, _score(actions.T), rtol=1e-5)
        np.testing.assert_allclose(infos["q_value"], _score(actions.T), rtol=1e-6)
    finally:
        envs.close()


@pytest.mark.parametrize("strategy", ["mc_rollout", "critic"])
def test_sb3_make_vec_env_with_its_defaults_gives_the_score_as_the_episode_return(strategy):
    """``make_vec_env`` asks for ``render_mode="rgb_array"`` first; the env's refusal is the
    ``TypeError`` it expects, so it builds the env without one and wraps it in ``Monitor``."""
    venv = make_vec_env("SeqGAN-Oracle-v0", n_envs=2, seed=0, env_kwargs=_kwargs(strategy))
    venv.reset()
    actions = _actions(2, 2)
    for t in range(T):
        _, _, dones, infos = venv.step(actions[t])
    assert dones.all()
    returns = [info["episode"]["r"] for info in infos]
    np.testing.assert_allclose(returns, _score(actions.T), rtol=1e-5)


def test_sb3_vec_wrappers_run_on_the_adapter():
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from seqgan_gym.agents import SeqGANSB3VecEnv
    from seqgan_gym.envs import SeqGANVectorEnv

    B = 4
    venv = VecNormalize(VecMonitor(SeqGANSB3VecEnv(SeqGANVectorEnv(B, **_kwargs("mc_rollout")))),
                        norm_obs=False, norm_reward=True, gamma=1.0)
    venv.seed(3)
    venv.reset()
    actions = _actions(B, 3)
    for t in range(T):
        _, normalised, dones, infos = venv.step(actions[t])
        assert np.isfinite(normalised).all()
    assert dones.all()
    np.testing.assert_allclose([info["episode"]["r"] for info in infos], _score(actions.T), rtol=1e-5)
    np.testing.assert_allclose(venv.get_original_reward().shape, (B,))


def test_render_mode_refusal_is_one_line_and_both_error_types():
    with pytest.raises(ValueError, match="render_mode must be one of") as info:
        gym.make("SeqGAN-Oracle-v0", render_mode="rgb_array", **_kwargs("terminal"))
    assert isinstance(info.value, TypeError) and "\n" not in str(info.value)
