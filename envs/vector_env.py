"""The natively batched ``SeqGAN-Oracle-v0``: B sequences written together, rollouts as one batch."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .core import PAD, CoreModels, EnvOptions, SeqGANCore, check_render_mode


class SeqGANVectorEnv(CoreModels, VectorEnv):
    """B copies of :class:`~seqgan_gym.envs.seqgan_env.SeqGANEnv`, stepped as one batch.

    Same MDP, spaces (batched), reward modes and keyword arguments as ``SeqGANEnv`` (see its
    docstring; ``reward_model`` is required), plus ``num_envs`` (B, default 64: the paper's 64
    sequences per generator update; the one positional argument) and ``autoreset_mode``. Every
    step appends one token to each of the B sequences; in rollout mode the B x N Monte-Carlo
    completions of the step are sampled and scored as one batch, continuing from beta's
    per-prefix LSTM states (:class:`seqgan_gym.rewards.rollout.MonteCarloSearch`, the same object the
    single env uses).

    - ``single_action_space``: ``Discrete(V)``; ``action_space``: ``MultiDiscrete([V] * B)``.
    - ``single_observation_space``: ``Box(-1, V - 1, (T,), int64)``, -1 = not yet written;
      ``observation_space``: the same, (B, T).
    - rewards: (B,) float32, r_t = Q_t - Q_{t-1}, so each sequence's rewards sum to its score;
      ``infos["q_value"]``: (B,) float32, Q_t itself (the paper's eq. 4; see ``SeqGANEnv``'s
      Rewards), with the mask ``infos["_q_value"]`` (all True); terminations: all True at t = T,
      else all False; truncations: never.

    **Autoreset.** All B episodes end together, at step T. ``metadata["autoreset_mode"]`` is
    ``autoreset_mode`` (see https://farama.org/Vector-Autoreset-Mode):

    - ``SAME_STEP`` (default): the step that writes token T returns the rewards and
      ``terminations`` of the finished sequences, the observations of the *new* episodes (all -1),
      and the finished sequences in ``infos["final_obs"]`` (an object array of (T,) arrays, with
      mask ``infos["_final_obs"]``; ``infos["final_info"]`` is empty). No step is wasted, which
      suits REINFORCE loops and Stable-Baselines3's VecEnv convention.
    - ``NEXT_STEP``: the step that writes token T returns the full sequences; the next ``step``
      ignores its actions and returns the new episodes' first observations, reward 0, not
      terminated (gymnasium's default mode).
    - ``DISABLED``: the caller must ``reset()`` after step T; stepping on raises ``RuntimeError``.

    **Seeding.** ``reset(seed=s)`` seeds ``np_random`` and, from it, the ``torch.Generator`` of the
    rollouts; later unseeded resets (including autoresets) continue that stream. One int seed
    covers all B sequences (they share one batched stream).
    """

    metadata = {
        "render_modes": ["ansi"],
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 64,
        *,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        **options: Any,
    ) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        try:
            autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError as e:
            raise ValueError(
                f"autoreset_mode must be one of {[m.value for m in AutoresetMode]}, "
                f"got {autoreset_mode!r}"
            ) from e
        self.metadata = {**type(self).metadata, "autoreset_mode": autoreset_mode}
        self.autoreset_mode = autoreset_mode
        self.render_mode = render_mode
        self.core = SeqGANCore(num_envs, EnvOptions(**options))
        self.num_envs = self.core.batch
        self.single_action_space = spaces.Discrete(self.core.vocab_size)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.Box(
            low=PAD, high=self.core.vocab_size - 1, shape=(self.core.seq_len,), dtype=np.int64
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._needs_reset = True  # before the first reset, and after step T in DISABLED mode
        self._autoreset_next = False  # NEXT_STEP: the next step() resets

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(
                f"seed must be one int (the B sequences share one random stream) or None, got {seed!r}"
            )
        super().reset(seed=seed)
        if seed is not None or self.core.rng is None:
            self.core.seed(int(self.np_random.integers(2**63 - 1)))
        self.core.reset()
        self._needs_reset = self._autoreset_next = False
        return self.core.observation(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (autoreset_mode=DISABLED needs it after step T)")
        b = self.num_envs
        truncated = np.zeros(b, dtype=np.bool_)
        if self._autoreset_next:  # NEXT_STEP: this step only starts the new episodes
            self.core.reset()
            self._autoreset_next = False
            return (self.core.observation(), np.zeros(b, dtype=np.float32),
                    np.zeros(b, dtype=np.bool_), truncated, _q_info(self.core.q_value))

        rewards, q_value, done = self.core.step(self.core.check_actions(actions, (b,)))
        terminated = np.full(b, done, dtype=np.bool_)
        obs, infos = self.core.observation(), _q_info(q_value)
        if done:
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final = np.empty(b, dtype=object)
                final[:] = list(obs)
                infos.update({"final_obs": final, "_final_obs": terminated.copy(),
                              "final_info": {}, "_final_info": terminated.copy()})
                self.core.reset()
                obs = self.core.observation()
            elif self.autoreset_mode == AutoresetMode.NEXT_STEP:
                self._autoreset_next = True
            else:
                self._needs_reset = True
        return obs, rewards, terminated, truncated, infos

    def action_masks(self) -> np.ndarray:
        """(B, V) bool: the tokens each sequence may write next; all of them, or after ``eos_token``
        only ``eos_token``."""
        return self.core.action_masks()

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; create the env with render_mode='ansi'"
            )
            return None
        return tuple(self.core.render_rows())


def _q_info(q_value: np.ndarray) -> dict[str, np.ndarray]:
    """The step's Q_t (B,) as gymnasium's vector infos carry a value: the array and its mask."""
    return {"q_value": q_value, "_q_value": np.ones(len(q_value), dtype=np.bool_)}
