"""The SB3 ``VecEnv`` view of the batched SeqGAN environment.

The environment's step reward is already the potential-based difference r_t = Q_t - Q_{t-1} (see
:class:`~seqgan_gym.envs.SeqGANEnv`), so the undiscounted return from step t is
``score(Y) - Q_{t-1}``: the final score with a baseline that does not depend on y_t. An episode's
rewards sum to its score, so SB3's ``rollout/ep_rew_mean`` is the mean final score.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv

from seqgan_gym._kernels.threads import every_thread


class SeqGANSB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a :class:`~seqgan_gym.envs.SeqGANVectorEnv` (B = its ``num_envs``).

    - observations (B, T) int64, -1 where not yet written; actions (B,) token ids;
    - rewards (B,) float32: the environment's, ``Q_t - Q_{t-1}`` (see the module docstring), and
      ``infos[i]["q_value"]``, Q_t itself;
    - dones: all True at step T, then the next observations are the new (empty) episodes and
      ``infos[i]`` holds ``terminal_observation`` (the finished sequence), ``final_score`` (its
      reward-model score, D(Y) by default), ``TimeLimit.truncated = False`` and SB3's ``episode``
      record (``r`` = summed rewards, ``l`` = T, ``t`` = seconds since creation).

    ``seed(s)`` then ``reset()`` seeds the environment's rollout stream (SB3's convention; the B
    sequences share one stream, so only the first seed is used). ``set_options`` has no effect:
    the environment's reset takes no options. ``get_attr`` / ``env_method``
    reach the one underlying env (e.g. ``get_attr("reward_model")[0]``); ``env_method`` calls the
    method once and returns its result for each index, except ``action_masks``, whose (B, V) result
    is returned one (V,) row per sequence (what MaskablePPO reads).

    :param env: the vector env; its ``autoreset_mode`` must be ``SAME_STEP`` (the default).
    """

    def __init__(self, env) -> None:
        if getattr(env, "autoreset_mode", None) != AutoresetMode.SAME_STEP:
            raise ValueError(
                "SeqGANSB3VecEnv needs a SeqGANVectorEnv with autoreset_mode=SAME_STEP (the default), "
                f"got {getattr(env, 'autoreset_mode', type(env).__name__)!r}"
            )
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._episode_return = np.zeros(self.num_envs, dtype=np.float64)
        self._start = time.time()

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=None if seed is None else int(seed))
        self._reset_seeds()
        self._reset_options()
        self._episode_return[:] = 0.0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        with every_thread():  # the reward's D and rollouts: see SB3GeneratorUpdates.update
            obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        rewards = np.asarray(rewards, dtype=np.float32)
        self._episode_return += rewards
        dones = np.logical_or(terminated, truncated)
        q_value = info["q_value"]
        infos: list[dict[str, Any]] = [{"q_value": float(q)} for q in q_value]
        if dones.any():
            final_obs = info["final_obs"]
            elapsed = round(time.time() - self._start, 6)
            for i in np.flatnonzero(dones):
                infos[i] |= {
                    "terminal_observation": np.asarray(final_obs[i]),
                    "final_score": float(q_value[i]),
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._episode_return[i]),
                                "l": self.env.single_observation_space.shape[0],
                                "t": elapsed},
                }
            self._episode_return[dones] = 0.0
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        if indices is not None and len(self._indices(indices)) != self.num_envs:
            raise ValueError("the B sequences share one environment: set_attr applies to all of them")
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        if method_name == "action_masks":  # one (V,) row per sequence (sb3-contrib's MaskablePPO)
            return [result[i] for i in self._indices(indices)]
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]
