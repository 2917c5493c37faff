"""Stable-Baselines3 algorithms (PPO, A2C, and sb3-contrib's MaskablePPO) on the SeqGAN environment,
with the MLE generator as actor.

Three pieces, the function that wires them (:func:`make_sb3_agent`), and
:class:`SB3GeneratorUpdates`, which runs the result one generator update at a time for
:mod:`seqgan_gym.algorithm1`:

* :class:`SeqGANSB3VecEnv` - an SB3 ``VecEnv`` over the native batched
  :class:`~seqgan_gym.envs.SeqGANVectorEnv`: the B sequences and their B x N Monte-Carlo rollouts
  stay one batch (no ``DummyVecEnv`` of B single envs). Episodes end together after T steps; the
  finished sequences come back in ``infos[i]["terminal_observation"]`` (SB3's same-step reset).
* :class:`PrefixLSTMExtractor` - a ``BaseFeaturesExtractor`` that reads the prefix observation
  (M, T) (-1 = not yet written) with the generator's embedding + LSTM and returns the hidden state
  after the last written token, h_t (M, H). It *holds* an :class:`~seqgan_gym.lstm.LSTMLanguageModel`.
* :class:`GeneratorPolicy` - an ``ActorCriticPolicy`` whose actor **is** that language model: the
  action logits are its own output layer applied to h_t, so ``policy.generator`` is a normal
  generator (sample it, compute NLL_oracle, feed the discriminator callback negatives) and
  :meth:`GeneratorPolicy.load_generator` starts the actor from the MLE-pretrained generator, as the
  paper's pre-training requires. The critic has its own extractor (also initialised from the
  generator) and a small MLP head, so value-loss gradients never reach the generator's parameters
  (SB3 clips one gradient norm over actor and critic together, so the value loss can shorten the
  actor's step, never change its direction).
* :func:`make_sb3_agent` - PPO or A2C on the adapter with this policy, ``n_steps = T`` (one
  rollout = B complete sequences = one generator update, like one REINFORCE step), ``gamma = 1``.

**Rewards.** In ``reward_mode="rollout"`` the environment returns Q_t, the Monte-Carlo estimate of
the final score given the prefix after token t (the paper's eq. 4), at every step. REINFORCE weights
log G(y_t | Y_<t) by Q_t directly. A return-based algorithm sums rewards, and the sum of Q_t over
t' >= t is not a return of this MDP. The adapter therefore passes the differences
``r_t = Q_t - Q_{t-1}`` (Q_0 = 0) by default (``rewards="q_difference"``): potential-based reward
shaping (Ng et al. 1999) with the MC estimate as potential. The undiscounted return from step t is
then ``D(Y) - Q_{t-1}``: the final score with a baseline that does not depend on y_t, and an
episode's rewards sum to D(Y) exactly, so SB3's ``rollout/ep_rew_mean`` is the mean final score.
In ``terminal`` mode the two options coincide. ``rewards="raw"`` passes Q_t unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv

from seqgan_gym.agents.kl import KLAnchor
from seqgan_gym.lstm import LSTMLanguageModel

REWARD_TRANSFORMS = ("q_difference", "raw")


class SeqGANSB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a :class:`~seqgan_gym.envs.SeqGANVectorEnv` (B = its ``num_envs``).

    - observations (B, T) int64, -1 where not yet written; actions (B,) token ids;
    - rewards (B,) float32: ``Q_t - Q_{t-1}`` (``rewards="q_difference"``, default) or ``Q_t``
      (``"raw"``); see the module docstring;
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
    :param rewards: ``"q_difference"`` or ``"raw"``.
    """

    def __init__(self, env, rewards: str = "q_difference") -> None:
        if getattr(env, "autoreset_mode", None) != AutoresetMode.SAME_STEP:
            raise ValueError(
                "SeqGANSB3VecEnv needs a SeqGANVectorEnv with autoreset_mode=SAME_STEP (the default), "
                f"got {getattr(env, 'autoreset_mode', type(env).__name__)!r}"
            )
        if rewards not in REWARD_TRANSFORMS:
            raise ValueError(f"rewards must be one of {REWARD_TRANSFORMS}, got {rewards!r}")
        self.env = env
        self.rewards = rewards
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._previous_q = np.zeros(self.num_envs, dtype=np.float32)
        self._episode_return = np.zeros(self.num_envs, dtype=np.float64)
        self._start = time.time()

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=None if seed is None else int(seed))
        self._reset_seeds()
        self._reset_options()
        self._previous_q[:] = 0.0
        self._episode_return[:] = 0.0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        obs, q, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        q = np.asarray(q, dtype=np.float32)
        rewards = q - self._previous_q if self.rewards == "q_difference" else q
        self._previous_q = q.copy()
        self._episode_return += rewards
        dones = np.logical_or(terminated, truncated)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final_obs = info["final_obs"]
            elapsed = round(time.time() - self._start, 6)
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": np.asarray(final_obs[i]),
                    "final_score": float(q[i]),
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._episode_return[i]), "l": self.env.core.seq_len,
                                "t": elapsed},
                }
            self._previous_q[dones] = 0.0
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


class PrefixLSTMExtractor(BaseFeaturesExtractor):
    """The generator's embedding + LSTM over the prefix: observations (M, T) -> h_t (M, H).

    The observation holds the written tokens first and -1 after them. The LSTM reads the start
    token and the written tokens; the feature is its output after the last written one (after
    the start token alone for an empty prefix), i.e. the state from which the generator predicts
    the next token. Recomputed from the prefix at every call: O(T) per step, cheap for T = 20, and
    no recurrent state to carry through SB3's buffers.

    :param observation_space: the env's ``Box(-1, V-1, (T,), int64)``.
    :param emb_dim, hidden_dim, start_token: as :class:`~seqgan_gym.lstm.LSTMLanguageModel`.
    """

    def __init__(self, observation_space: spaces.Box, emb_dim: int = 32, hidden_dim: int = 32,
                 start_token: int = 0) -> None:
        super().__init__(observation_space, features_dim=hidden_dim)
        seq_len = int(observation_space.shape[0])
        vocab_size = int(np.max(observation_space.high)) + 1
        self.generator = LSTMLanguageModel(vocab_size, seq_len, emb_dim, hidden_dim, start_token)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        tokens = observations.long()  # SB3 hands Box observations over as floats
        m = tokens.shape[0]
        written = (tokens >= 0).sum(1)  # (M,) t, the prefix length
        inputs = torch.cat([self.generator.start_tokens(m)[:, None], tokens.clamp(min=0)], 1)  # (M, T+1)
        hidden, _ = self.generator.lstm(self.generator.embedding(inputs))  # (M, T+1, H)
        return hidden[torch.arange(m, device=hidden.device), written]  # (M, H)


class _GeneratorActor:
    """What makes an SB3 actor-critic policy's actor an LSTM generator (see the module docstring);
    mixed into :class:`GeneratorPolicy` and :class:`MaskableGeneratorPolicy`."""

    def __init__(self, observation_space, action_space, lr_schedule, **kwargs) -> None:
        kwargs.setdefault("features_extractor_class", PrefixLSTMExtractor)
        kwargs.setdefault("share_features_extractor", False)
        kwargs.setdefault("net_arch", {"pi": [], "vf": [64]})
        kwargs.setdefault("ortho_init", False)
        if kwargs["features_extractor_class"] is not PrefixLSTMExtractor:
            raise ValueError(f"{type(self).__name__} needs features_extractor_class=PrefixLSTMExtractor")
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        if self.mlp_extractor.latent_dim_pi != self.generator.hidden_dim:
            raise ValueError(f"{type(self).__name__} needs net_arch pi=[] (logits = the generator's "
                             "output layer)")
        if self.action_space.n != self.generator.vocab_size:
            raise ValueError(
                f"action space Discrete({self.action_space.n}) != the observation's vocabulary "
                f"{self.generator.vocab_size}"
            )
        # The actor's output layer is the generator's own, so the actor *is* the generator.
        self.action_net = self.generator.output
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    @property
    def generator(self) -> LSTMLanguageModel:
        """The actor as a language model (the same parameters, trained in place)."""
        return self.pi_features_extractor.generator

    @torch.no_grad()
    def load_generator(self, generator: LSTMLanguageModel):
        """Start the actor (and the critic's extractor) from ``generator``'s weights."""
        mine = self.generator
        got = (generator.vocab_size, generator.seq_len, generator.emb_dim,
               generator.hidden_dim, generator.start_token)
        want = (mine.vocab_size, mine.seq_len, mine.emb_dim, mine.hidden_dim, mine.start_token)
        if got != want:
            raise ValueError(
                f"generator has (V, T, emb_dim, hidden_dim, start_token) = {got}, the policy {want}"
            )
        state = generator.state_dict()
        self.generator.load_state_dict(state)
        # the end token is a setting, not a weight: the actor samples / scores like the generator
        self.generator.eos_token = generator.eos_token
        if self.vf_features_extractor is not self.pi_features_extractor:
            self.vf_features_extractor.generator.load_state_dict(state)
        return self


class GeneratorPolicy(_GeneratorActor, ActorCriticPolicy):
    """Actor-critic policy whose actor is an LSTM generator (see the module docstring), for PPO and A2C.

    Defaults: a separate critic extractor, ``net_arch=dict(pi=[], vf=[64])`` (the actor's logits
    are the generator's output layer on h_t, nothing in between), no orthogonal initialisation.
    Extra keyword arguments go to :class:`ActorCriticPolicy`; ``features_extractor_kwargs`` to
    :class:`PrefixLSTMExtractor` (``emb_dim``, ``hidden_dim``, ``start_token``).
    """


def maskable_generator_policy() -> type:
    """:class:`GeneratorPolicy` for sb3-contrib's ``MaskablePPO`` (an optional dependency: ``pip
    install seqgan-gym[contrib]``): the same actor, whose distribution applies the env's action
    masks, so that after EOS (where the env allows only EOS) a step has probability 1 and adds
    nothing to the policy gradient."""
    try:
        from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    except ImportError:
        raise ImportError("algo 'maskable_ppo' needs sb3-contrib: "
                          "pip install 'seqgan-gym[contrib]'") from None

    class MaskableGeneratorPolicy(_GeneratorActor, MaskableActorCriticPolicy):
        __doc__ = maskable_generator_policy.__doc__

    return MaskableGeneratorPolicy


SB3_ALGORITHMS = ("ppo", "a2c", "maskable_ppo")


def make_sb3_agent(
    algo: str,
    venv: SeqGANSB3VecEnv,
    generator: LSTMLanguageModel,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    max_grad_norm: float = 5.0,
    **algo_kwargs,
):
    """PPO, A2C or sb3-contrib's MaskablePPO (``algo`` 'maskable_ppo', with the env's action masks)
    on ``venv`` with a :class:`GeneratorPolicy` started from ``generator``.

    ``n_steps = T`` (one rollout = B complete sequences = one generator update) and ``gamma = 1``
    (the score arrives at the end of a finite episode). PPO and MaskablePPO: 4 epochs of
    minibatches of 256 unless ``algo_kwargs`` says otherwise. The trained generator is
    ``model.policy.generator``.
    """
    if algo not in SB3_ALGORITHMS:
        raise ValueError(f"algo must be one of {SB3_ALGORITHMS}, got {algo!r}")
    t = venv.observation_space.shape[0]
    kwargs: dict[str, Any] = {"n_steps": t, "gamma": 1.0, "learning_rate": learning_rate,
                              "max_grad_norm": max_grad_norm, "seed": seed, "device": device}
    if algo in ("ppo", "maskable_ppo"):
        kwargs.update(n_epochs=4, batch_size=min(256, t * venv.num_envs))
    kwargs.update(algo_kwargs)
    policy_kwargs = dict(kwargs.get("policy_kwargs", {}))
    sizes = {"emb_dim": generator.emb_dim, "hidden_dim": generator.hidden_dim,
             "start_token": generator.start_token}
    given = policy_kwargs.get("features_extractor_kwargs", {})
    if any(given.get(key, value) != value for key, value in sizes.items()):
        raise ValueError(f"features_extractor_kwargs {given} contradict the generator's sizes {sizes}")
    policy_kwargs["features_extractor_kwargs"] = {**given, **sizes}
    kwargs["policy_kwargs"] = policy_kwargs
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO  # optional: maskable_generator_policy() says how to install

        model = MaskablePPO(maskable_generator_policy(), venv, **kwargs)
    else:
        model = (PPO if algo == "ppo" else A2C)(GeneratorPolicy, venv, **kwargs)
    model.policy.load_generator(generator)
    return model


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
        caller saves: :class:`seqgan_gym.resume.Checkpointer` does.)"""
        env_rng = self.model.get_env().env.core.rng
        return {"policy": self.model.policy.state_dict(),
                "optimizer": self.model.policy.optimizer.state_dict(),
                "num_timesteps": self.model.num_timesteps, "n_updates": self.model._n_updates,
                "env_rng": None if env_rng is None else env_rng.get_state(),
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
            venv.env.core.rng.set_state(state["env_rng"])
        if self.kl is not None:
            self.kl.load_state_dict(state["kl"])

    def update(self) -> dict[str, float]:
        """One generator update; returns ``final_score``, the mean score of its B finished sequences."""
        steps = self.model.n_steps * self.model.get_env().num_envs
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
