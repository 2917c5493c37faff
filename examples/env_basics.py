"""The environment: make it, check it, step it, and the vector env that batches B sequences.

An episode writes one sequence of T tokens, one per step. The step reward is Q_t - Q_{t-1}, so an
episode's rewards sum to the final score (here the oracle's log-likelihood of the sequence), and
``info["q_value"]`` is the paper's Q_t itself.

    python examples/env_basics.py
"""

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import seqgan_gym  # noqa: F401  (registers SeqGAN-Oracle-v0, SeqGAN-Text-v0, ...)
from seqgan_gym import OracleLikelihoodReward, RolloutPolicy, random_oracle

oracle = random_oracle(seed=1, vocab_size=50, seq_len=8)  # the true distribution (V=50, T=8)
beta = RolloutPolicy(random_oracle(seed=2, vocab_size=50, seq_len=8))  # the rollout policy of MC search
kwargs = dict(vocab_size=50, seq_len=8, n_rollouts=4, reward_model=OracleLikelihoodReward(oracle),
              rollout_policy=beta, device="cpu")

env = gym.make("SeqGAN-Oracle-v0", render_mode="ansi", **kwargs)
check_env(env.unwrapped, skip_render_check=True)  # gymnasium's own checker
obs, info = env.reset(seed=0)
total, rng = 0.0, np.random.default_rng(0)
for t in range(8):
    obs, reward, terminated, truncated, info = env.step(int(rng.integers(50)))
    total += reward
    print(f"t={t + 1}  {env.render():<26}  r_t={reward:+.3f}  Q_t={info['q_value']:+.3f}")
print(f"sum of rewards {total:+.4f} = the final score Q_T {info['q_value']:+.4f}")

envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=16, **kwargs)  # B=16 sequences, rollouts as one batch
obs, _ = envs.reset(seed=0)
returns = np.zeros(16)
for _ in range(8):
    obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
    returns += rewards
print(f"vector env: {envs.num_envs} sequences, mean return {returns.mean():+.3f}, "
      f"all done: {terminated.all()}")
