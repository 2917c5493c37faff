"""The machinery the SeqGAN environments share: their arguments, the batch of prefixes, the rewards.

:class:`EnvOptions` is the environments' arguments, written once: every env takes them as keywords
and checks them by building one, before any work. :class:`SeqGANEnv` is the core with a batch of
one sequence; :class:`SeqGANVectorEnv` is the core with B sequences. Neither env computes a reward
itself: the core asks its intermediate-reward strategy (:mod:`seqgan_gym.rewards.intermediate`: the
Monte-Carlo search of :mod:`seqgan_gym.rewards.rollout`, terminal-only, a prefix discriminator, a critic, or
your own), which calls the reward model, so the reward logic exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan_gym.config import INTERMEDIATE_REWARDS
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import PAPER_SEQ_LEN, PAPER_VOCAB_SIZE
from seqgan_gym.rewards.intermediate import (
    IntermediateReward,
    make_intermediate_reward,
)
from seqgan_gym.rewards.reward_models import REWARD_NAMES, RewardModel, make_reward_model
from seqgan_gym.rewards.rollout import RolloutPolicy
from seqgan_gym.utils import resolve_device

#: The value of observation positions not yet written (token 0 is a real token id).
PAD = -1
#: What ``rollout_policy`` / ``reward_model`` take for a fresh, untrained model (smoke tests only).
UNTRAINED = "untrained"

NO_REWARD_MESSAGE = (
    "a SeqGAN env needs reward_model=: DiscriminatorReward(D) for your trained discriminator D (or "
    "any RewardModel), 'oracle' with oracle=..., 'bleu' with references=... (text envs: their "
    "corpus), or 'untrained' (smoke tests only)"
)


@dataclass(frozen=True, eq=False)
class EnvOptions:
    """The arguments of every SeqGAN environment (documented in :class:`SeqGANEnv`'s docstring).

    Building one checks them all and builds or loads nothing, so a wrong or missing argument
    fails at once, in one line: ``reward_model`` is required (no default reward); a reward named by
    a string gets its one ingredient here (``oracle`` for ``"oracle"``, ``references`` for
    ``"bleu"``), which no other reward takes; rollout mode needs a ``rollout_policy``
    (``"untrained"`` supplies a random one, as ``reward_model="untrained"`` does when none is given).
    ``intermediate_reward`` names the strategy (default ``"mc_rollout"``).
    """

    vocab_size: int = PAPER_VOCAB_SIZE
    seq_len: int = PAPER_SEQ_LEN
    n_rollouts: int = 16
    intermediate_reward: IntermediateReward | str | None = None
    reward_model: RewardModel | str | None = None
    rollout_policy: RolloutPolicy | str | None = None
    oracle: LSTMLanguageModel | str | Path | None = None
    references: Any = None
    init_seed: int = 0
    device: str | torch.device | None = "auto"
    eos_token: int | None = None

    def __post_init__(self) -> None:
        for name, low in (("vocab_size", 2), ("seq_len", 1), ("n_rollouts", 1)):
            _check_int(name, getattr(self, name), low)
        strategy = self.intermediate_reward
        if strategy is not None and not isinstance(strategy, IntermediateReward) and (
                not isinstance(strategy, str) or strategy not in INTERMEDIATE_REWARDS):
            raise ValueError(f"intermediate_reward must be one of {INTERMEDIATE_REWARDS} or an "
                             f"IntermediateReward, got {strategy!r}")
        if self.eos_token is not None and not 0 <= self.eos_token < self.vocab_size:
            raise ValueError(f"eos_token {self.eos_token} is outside [0, {self.vocab_size})")
        reward = self.reward_model
        name = reward if isinstance(reward, str) else None
        if reward is None:
            raise TypeError(NO_REWARD_MESSAGE)
        if name == "discriminator":
            raise ValueError("reward_model='discriminator' needs your trained D: pass "
                             "reward_model=DiscriminatorReward(D) ('untrained' builds an untrained D, "
                             "smoke tests only)")
        if not isinstance(reward, RewardModel) and name not in REWARD_NAMES:
            raise TypeError(f"reward_model must be a RewardModel, 'untrained', 'oracle' or 'bleu', "
                            f"got {reward!r}")
        if name == "oracle" and self.oracle is None:
            raise ValueError("reward_model='oracle' needs oracle= (an LSTMLanguageModel, 'paper', "
                             "'random' or an oracle file)")
        if self.oracle is not None and name != "oracle":
            raise ValueError("oracle= is only for reward_model='oracle' (the env holds no oracle "
                             "otherwise); drop it")
        if name == "bleu" and self.references is None:
            raise ValueError("reward_model='bleu' needs references= (the real sequences; the text "
                             "envs pass their corpus's)")
        if self.references is not None and name != "bleu":
            raise ValueError("references= is only for reward_model='bleu'; drop it")
        policy = self.rollout_policy
        if policy is not None and not _named(policy, UNTRAINED) and not isinstance(policy, RolloutPolicy):
            raise TypeError(
                f"rollout_policy must be a RolloutPolicy or 'untrained', got {type(policy).__name__}; "
                "wrap the generator: RolloutPolicy(generator, update_rate=0.8)"
            )
        if policy is None and self.needs_rollout_policy and name != UNTRAINED:
            raise ValueError("intermediate_reward 'mc_rollout' (the default) needs "
                             "rollout_policy=RolloutPolicy(G) (beta, following your generator G; "
                             "'untrained' for a random one, smoke tests only), or use intermediate_reward="
                             "'terminal', 'prefix_discriminator' or 'critic'")

    @property
    def strategy(self) -> IntermediateReward | str:
        """The intermediate reward, by name or as given (``intermediate_reward``, default
        ``"mc_rollout"``)."""
        return self.intermediate_reward if self.intermediate_reward is not None else "mc_rollout"

    @property
    def needs_rollout_policy(self) -> bool:
        strategy = self.strategy
        return strategy == "mc_rollout" if isinstance(strategy, str) else strategy.needs_rollout_policy


class SeqGANCore:
    """B sequences written together, one token each per step, and their rewards.

    :param batch: B.
    :param options: the environment's arguments (see :class:`SeqGANEnv`).
    """

    def __init__(self, batch: int, options: EnvOptions) -> None:
        _check_int("batch", batch, 1)
        o = options
        self.batch, self.vocab_size, self.seq_len = int(batch), int(o.vocab_size), int(o.seq_len)
        self.n_rollouts, self.eos_token = int(o.n_rollouts), o.eos_token
        rollout_policy = o.rollout_policy
        if o.device in (None, "auto") and isinstance(rollout_policy, RolloutPolicy):
            self.device = rollout_policy.device
        else:
            self.device = resolve_device(o.device)
        if self.device.type == "cuda" and self.device.index is None:  # "cuda" -> "cuda:0"
            self.device = torch.device("cuda", torch.cuda.current_device())

        self.reward_model = make_reward_model(
            o.reward_model, vocab_size=self.vocab_size, seq_len=self.seq_len, device=self.device,
            oracle=o.oracle, references=o.references, eos_token=self.eos_token, seed=o.init_seed,
        )

        # beta: a fresh one only where asked for and used; one passed in is validated and kept
        if rollout_policy is None and _named(o.reward_model, UNTRAINED):
            rollout_policy = UNTRAINED
        if _named(rollout_policy, UNTRAINED):
            rollout_policy = None
            if o.needs_rollout_policy:
                init_rng = torch.Generator().manual_seed(int(o.init_seed))
                fresh = LSTMLanguageModel(self.vocab_size, self.seq_len, eos_token=self.eos_token)
                rollout_policy = RolloutPolicy(fresh.init_normal_(0.1, init_rng).to(self.device))
        if rollout_policy is not None:
            rollout_policy.check_compatible(self.vocab_size, self.seq_len)
            if rollout_policy.model.eos_token != self.eos_token:
                raise ValueError(
                    f"the rollout policy's eos_token is {rollout_policy.model.eos_token} but the "
                    f"environment's is {self.eos_token}; build the generator with "
                    f"eos_token={self.eos_token}"
                )
            if rollout_policy.device != self.device:
                raise ValueError(
                    f"the rollout policy is on {rollout_policy.device} but the environment's device "
                    f"is {self.device}; pass device={str(rollout_policy.device)!r} or move it"
                )
        self.rollout_policy = rollout_policy
        self.intermediate_reward = make_intermediate_reward(
            o.strategy, vocab_size=self.vocab_size, device=self.device, init_seed=o.init_seed,
            shuffle_seed=o.init_seed)
        """The strategy that rewards each token (:mod:`seqgan_gym.rewards.intermediate`)."""
        self.intermediate_reward.bind(self.reward_model, rollout_policy, self.n_rollouts, self.seq_len)

        self.tokens = torch.full((self.batch, self.seq_len), PAD, dtype=torch.long, device=self.device)
        self.ended = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        """(B,) True for the sequences that have written ``eos_token`` (always False without one)."""
        self.t = 0
        self.q_value = np.zeros(self.batch, dtype=np.float32)
        """(B,) Q_t of the latest step: the value of each prefix written so far (0 before the first
        token); the step reward is its change, Q_t - Q_{t-1}."""
        self.rng: torch.Generator | None = None
        """The rollouts' random number generator (set by :meth:`seed`)."""

    # ------------------------------------------------------------------ episode
    def seed(self, seed: int) -> None:
        """(Re)seed ``rng``, the torch.Generator of the rollouts."""
        self.rng = torch.Generator(device=self.device).manual_seed(int(seed))

    def reset(self) -> None:
        """Empty every prefix (all positions PAD) and restart beta's state."""
        self.tokens.fill_(PAD)
        self.ended.zero_()
        self.t = 0
        self.q_value = np.zeros(self.batch, dtype=np.float32)
        self.intermediate_reward.reset(self.batch)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Append ``actions`` (B,) int64, already validated; return the rewards r_t (B,) float32, the
        values Q_t (B,) float32 and done.

        Q_t is the intermediate-reward strategy's value of the prefix Y_1:t (score(Y) at t = T); the
        reward is its change r_t = Q_t - Q_{t-1} (Q_0 = 0), so a sequence's rewards sum to its score.

        With an ``eos_token``, a sequence that has already written it gets ``eos_token`` again
        whatever its action ("once EOS, always EOS"; the episode still lasts T steps, so all B
        sequences stay in step).

        If the reward model (or anything computing the rewards) raises, the environment is left as
        it was before the call (prefixes, step, random stream), so the step can be retried."""
        if self.t >= self.seq_len:
            raise RuntimeError("the episode is over (t = T); call reset() before step()")
        t = self.t + 1
        tokens = torch.as_tensor(actions, dtype=torch.long).to(self.device)
        ended = self.ended
        if self.eos_token is not None:
            tokens = tokens.masked_fill(self.ended, self.eos_token)
            ended = self.ended | (tokens == self.eos_token)
        prefix = self.tokens[:, :t].clone()
        prefix[:, t - 1] = tokens
        rng_state = None if self.rng is None else self.rng.get_state()
        try:
            rewards = self.intermediate_reward.push(prefix, self.rng)
        except BaseException:
            if rng_state is not None:
                self.rng.set_state(rng_state)
            raise
        self.tokens[:, t - 1] = tokens  # the step happened: commit it
        self.ended, self.t = ended, t
        q_value = rewards.float().cpu().numpy()
        differences = q_value - self.q_value
        self.q_value = q_value
        return differences, q_value.copy(), t == self.seq_len

    def action_masks(self) -> np.ndarray:
        """(B, V) bool: the tokens each sequence may write next. Every token, except after
        ``eos_token``: then only ``eos_token`` (the env writes it whatever the action, so masking
        the rest makes the steps after EOS carry no choice, and no policy-gradient credit)."""
        masks = np.ones((self.batch, self.vocab_size), dtype=bool)
        if self.eos_token is not None:
            ended = self.ended.cpu().numpy()
            masks[ended] = False
            masks[ended, self.eos_token] = True
        return masks

    def observation(self) -> np.ndarray:
        """(B, T) int64: the tokens written so far, PAD (-1) where not yet written."""
        return self.tokens.cpu().numpy().copy()

    def render_rows(self) -> list[str]:
        """Each sequence as text: token ids separated by spaces, ``_`` for unwritten positions."""
        return [" ".join("_" if x == PAD else str(x) for x in row) for row in self.tokens.tolist()]

    def check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Validate actions (shape ``shape``) as token ids in [0, V); return them as (B,) int64.

        Raises ``ValueError`` for a wrong type (floats, NaN, bools, strings), shape or range.
        """
        if isinstance(actions, torch.Tensor):
            actions = actions.detach().cpu().numpy()
        arr = np.asarray(actions)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind in "fc" and np.isnan(arr).any():
                raise ValueError(
                    f"action contains NaN: {actions!r}; expected token ids in [0, {self.vocab_size})"
                )
            raise ValueError(
                f"actions must be integer token ids in [0, {self.vocab_size}), got {actions!r} "
                f"of type {type(actions).__name__} (dtype {arr.dtype})"
            )
        if arr.shape != shape:
            raise ValueError(f"expected actions of shape {shape}, got shape {arr.shape}: {actions!r}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(
                f"action out of range: token ids must be in [0, {self.vocab_size}), got {actions!r}"
            )
        return arr.astype(np.int64).reshape(self.batch)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        # torch.Generator pickles only on recent torch; store its state explicitly.
        state = self.__dict__.copy()
        rng = state.pop("rng")
        state["_rng_state"] = None if rng is None else rng.get_state()
        return state

    def __setstate__(self, state: dict) -> None:
        rng_state = state.pop("_rng_state")
        self.__dict__.update(state)
        self.rng = None
        if rng_state is not None:
            self.rng = torch.Generator(device=self.device)
            self.rng.set_state(rng_state)


class CoreModels:
    """Mixin for the envs: the core's models, the same objects (never copies)."""

    core: SeqGANCore

    @property
    def reward_model(self) -> RewardModel:
        """The reward source (e.g. ``DiscriminatorReward``; train its ``.discriminator`` in place)."""
        return self.core.reward_model

    @property
    def rollout_policy(self) -> RolloutPolicy | None:
        """beta (``None`` in terminal mode unless one was passed); call ``update(generator)`` after
        each generator update."""
        return self.core.rollout_policy

    def get_rng_state(self) -> torch.Tensor | None:
        """The state of the rollouts' random stream (None before the first reset): with
        :meth:`set_rng_state`, what an agent saves so that a resumed run draws the same rollouts."""
        return None if self.core.rng is None else self.core.rng.get_state()

    def set_rng_state(self, state: torch.Tensor | None) -> None:
        """Restore what :meth:`get_rng_state` returned (None: leave the stream unseeded)."""
        if state is None:
            self.core.rng = None
            return
        self.core.seed(0)
        self.core.rng.set_state(state)

    @property
    def intermediate_reward(self) -> IntermediateReward:
        """The strategy that rewards unfinished prefixes (e.g. a ``CriticReward``; train a
        ``PrefixDiscriminatorReward`` with ``fit`` or the D-update callback)."""
        return self.core.intermediate_reward


class RenderModeError(TypeError, ValueError):
    """An unsupported ``render_mode``. A ``ValueError`` (a bad value) that is also a ``TypeError``,
    the error stable-baselines3's ``make_vec_env`` expects when its default ``render_mode="rgb_array"``
    is not supported, so that it builds the env again without one."""


def check_render_mode(render_mode: str | None, render_modes: list[str]) -> None:
    """Raise :class:`RenderModeError` unless ``render_mode`` is None or one of ``render_modes``."""
    if render_mode is not None and render_mode not in render_modes:
        raise RenderModeError(f"render_mode must be one of {render_modes} or None, got {render_mode!r}")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _named(value: Any, name: str) -> bool:
    """Whether ``value`` is the string ``name`` (models are never compared with strings)."""
    return isinstance(value, str) and value == name
