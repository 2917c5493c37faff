"""An SB3 algorithm on the SeqGAN environment, its actor the generator; one generator update at a time."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback

from seqgan_gym._kernels.threads import one_thread_per_operation
from seqgan_gym.agents.kl import KLAnchor
from seqgan_gym.agents.sb3.policies import GeneratorPolicy, maskable_generator_policy
from seqgan_gym.agents.sb3.vec_env import SeqGANSB3VecEnv
from seqgan_gym.config import ALGORITHMS
from seqgan_gym.models.lstm import LSTMLanguageModel

SB3_ALGORITHMS = tuple(algo for algo in ALGORITHMS if algo != "reinforce")  # ppo, a2c, maskable_ppo


def make_sb3_agent(
    algo: str,
    venv: SeqGANSB3VecEnv,
    generator: LSTMLanguageModel,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    max_grad_norm: float = 5.0,
    policy: type | None = None,
    **algo_kwargs,
):
    """PPO, A2C or sb3-contrib's MaskablePPO (``algo`` 'maskable_ppo', with the env's action masks)
    on ``venv`` with a :class:`GeneratorPolicy` started from ``generator``.

    ``policy``: another policy class (a subclass of :class:`GeneratorPolicy`, or of
    :func:`maskable_generator_policy`'s for MaskablePPO); ``benchmarks/ppo_speed.py`` times variants.

    ``n_steps = T`` (one rollout = B complete sequences = one generator update) and ``gamma = 1``
    (the score arrives at the end of a finite episode). PPO and MaskablePPO: 4 epochs of
    minibatches of 256 unless ``algo_kwargs`` says otherwise. The trained generator is
    ``model.policy.generator``.
    """
    if algo not in SB3_ALGORITHMS:
        raise ValueError(f"algo must be one of {SB3_ALGORITHMS}, got {algo!r} (DQN has no actor to start "
                         "from the generator; sb3-contrib's TRPO differentiates the critic's extractor too)")
    t = venv.observation_space.shape[0]
    kwargs: dict[str, Any] = {"n_steps": t, "gamma": 1.0, "learning_rate": learning_rate,
                              "max_grad_norm": max_grad_norm, "seed": seed, "device": device}
    if algo in ("ppo", "maskable_ppo"):
        kwargs.update(n_epochs=4, batch_size=min(256, t * venv.num_envs))
    kwargs.update(algo_kwargs)
    kwargs["policy_kwargs"] = {**kwargs.get("policy_kwargs", {}), "generator": generator}
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO  # optional: maskable_generator_policy() says how to install

        return MaskablePPO(policy or maskable_generator_policy(), venv, **kwargs)
    return (PPO if algo == "ppo" else A2C)(policy or GeneratorPolicy, venv, **kwargs)


class SB3GeneratorUpdates:
    """An SB3 algorithm built by :func:`make_sb3_agent`, one generator update at a time.

    :meth:`update` runs ``model.learn`` for exactly one rollout (B sequences of T tokens) and its
    policy update, with ``reset_num_timesteps=False`` so that the environment's episodes, SB3's
    counters and its logger carry on from the previous call. This is how
    :mod:`seqgan_gym.algorithm1` writes the g-steps of an SB3 algorithm out in its own loop.

    :param model: the PPO / A2C / MaskablePPO model; its generator is ``model.policy.generator``.
    :param kl_coef: > 0: the KL anchor to the generator as it is now (the MLE one), as
        :class:`~seqgan_gym.agents.kl.KLAnchor` describes: each step's reward loses that token's
        cost before SB3 computes the returns and advantages.
    :param kl_target: when > 0, adapt the coefficient toward this KL per sequence.
    """

    def __init__(self, model, kl_coef: float = 0.0, kl_target: float = 0.0) -> None:
        self.model = model
        self.generator: LSTMLanguageModel = model.policy.generator
        self._scores = _FinalScores()
        if kl_target > 0 and kl_coef == 0:
            raise ValueError("kl_target adapts kl_coef: give a starting kl_coef > 0 too")
        self.kl = None if kl_coef == 0 else KLAnchor(self.generator, kl_coef, kl_target)
        self._callbacks = [self._scores] + ([] if self.kl is None else [_KLPenalty(self.kl)])

    def state_dict(self) -> dict:
        """What the next updates depend on, at an update boundary: the policy (actor and critic), its
        optimizer, SB3's counters and the environment's Monte-Carlo random number generator. (SB3
        samples actions and mini-batches from torch's and numpy's global random states, which the
        caller saves: :class:`seqgan_gym.experiment.resume.Checkpointer` does.)"""
        return {"policy": self.model.policy.state_dict(),
                "optimizer": self.model.policy.optimizer.state_dict(),
                "num_timesteps": self.model.num_timesteps, "n_updates": self.model._n_updates,
                "env_rng": self.model.get_env().env.get_rng_state(),
                "kl": None if self.kl is None else self.kl.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned, with the environment at the start of an episode
        (where every update leaves it)."""
        model, venv = self.model, self.model.get_env()
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["optimizer"])
        model.num_timesteps, model._n_updates = state["num_timesteps"], state["n_updates"]
        model._last_obs = venv.reset()
        model._last_episode_starts = np.ones((venv.num_envs,), dtype=bool)
        if state["env_rng"] is not None:
            venv.env.set_rng_state(state["env_rng"])
        if self.kl is not None:
            self.kl.load_state_dict(state["kl"])

    def update(self) -> dict[str, float]:
        """One generator update; returns ``final_score``, the mean score of its B finished sequences."""
        steps = self.model.n_steps * self.model.get_env().num_envs
        # On a CPU the policy's work (collecting: a 64-row LSTM step and output layer per token;
        # training: PPO's epochs of minibatches) runs on one torch thread per operation: its many
        # small operations run slower on several OpenMP threads than on one, each paying their
        # start-up and wake-ups (benchmarks/ppo_speed.py; docs/results/speed.md). The
        # environment's step, where the reward's discriminator may run
        # Monte-Carlo rollouts, gets every thread per operation (SeqGANSB3VecEnv.step_wait).
        on_cpu = self.model.device.type == "cpu"
        with one_thread_per_operation(torch.get_num_threads()) if on_cpu else nullcontext():
            self.model.learn(steps, callback=self._callbacks, log_interval=1, reset_num_timesteps=False)
        if self.kl is None:
            return {"final_score": self._scores.mean}
        self.model.logger.record("train/kl", self.kl.last_kl)
        self.model.logger.record("train/kl_coef", self.kl.kl_coef)
        return {"final_score": self._scores.mean, "kl": self.kl.last_kl, "kl_coef": self.kl.kl_coef}


class _FinalScores(BaseCallback):
    """Keeps the mean ``final_score`` of the sequences that ended in the last rollout."""

    mean = float("nan")

    def _on_rollout_end(self) -> None:
        scores = [info["final_score"] for info in self.locals.get("infos") or [] if "final_score" in info]
        if scores:
            self.mean = float(np.mean(scores))

    def _on_step(self) -> bool:
        return True


class _KLPenalty(BaseCallback):
    """At the end of each rollout: subtract each token's KL cost from its reward, then let SB3
    recompute the returns and advantages. A rollout here is B whole episodes (``n_steps = T``):
    every episode starts at the rollout's first step and ends at its last, so the sequences are
    the buffer's actions read down its time axis, and no value is bootstrapped past the end."""

    def __init__(self, kl: KLAnchor) -> None:
        super().__init__()
        self.kl = kl

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        if not buffer.episode_starts[0].all():
            raise RuntimeError("the KL penalty needs rollouts of whole episodes (n_steps = T)")
        generator = self.model.policy.generator
        sequences = torch.as_tensor(buffer.actions[..., 0].T, dtype=torch.long,
                                    device=next(generator.parameters()).device)  # (B, T)
        with torch.no_grad():
            costs = self.kl.costs(generator.log_prob(sequences), sequences)  # (B, T)
        buffer.rewards -= self.kl.kl_coef * costs.T.cpu().numpy()
        n_envs = buffer.rewards.shape[1]
        buffer.compute_returns_and_advantage(last_values=torch.zeros(n_envs), dones=np.ones(n_envs))

    def _on_step(self) -> bool:
        return True
