"""The machinery both SeqGAN environments share: models, the batch of prefixes, the rewards.

:class:`SeqGANEnv` is this core with a batch of one sequence; :class:`SeqGANVectorEnv` is this core
with B sequences. Neither env computes a reward itself: the core calls the reward model (terminal
mode) or the Monte-Carlo search of :mod:`seqgan_gym.rollout` (rollout mode), so the reward logic
exists once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.oracle import PAPER_SEQ_LEN, PAPER_VOCAB_SIZE, load_oracle, random_oracle
from seqgan_gym.paper_oracle import find_paper_oracle
from seqgan_gym.rewards import DiscriminatorReward, OracleLikelihoodReward, RewardModel
from seqgan_gym.rollout import MonteCarloSearch, RolloutPolicy
from seqgan_gym.utils import resolve_device

#: The value of observation positions not yet written (token 0 is a real token id).
PAD = -1
REWARD_MODES = ("rollout", "terminal")


class SeqGANCore:
    """B sequences written together, one token each per step, and their rewards.

    The constructor arguments are the environments' (see :class:`SeqGANEnv`); ``batch`` is B.
    """

    def __init__(
        self,
        batch: int,
        vocab_size: int = PAPER_VOCAB_SIZE,
        seq_len: int = PAPER_SEQ_LEN,
        n_rollouts: int = 16,
        reward_mode: str = "rollout",
        reward_model: RewardModel | str | None = None,
        rollout_policy: RolloutPolicy | None = None,
        oracle: str | Path | LSTMLanguageModel | None = "paper",
        oracle_seed: int = 0,
        init_seed: int = 0,
        device: str | torch.device | None = "auto",
        eos_token: int | None = None,
    ) -> None:
        for name, value, low in (("batch", batch, 1), ("vocab_size", vocab_size, 2),
                                 ("seq_len", seq_len, 1), ("n_rollouts", n_rollouts, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if rollout_policy is not None and not isinstance(rollout_policy, RolloutPolicy):
            raise TypeError(
                f"rollout_policy must be a RolloutPolicy, got {type(rollout_policy).__name__}; "
                "wrap the generator: RolloutPolicy(generator, update_rate=0.8)"
            )
        self.batch, self.vocab_size, self.seq_len = int(batch), int(vocab_size), int(seq_len)
        self.n_rollouts, self.reward_mode = int(n_rollouts), reward_mode
        if eos_token is not None and not 0 <= eos_token < self.vocab_size:
            raise ValueError(f"eos_token {eos_token} is outside [0, {self.vocab_size})")
        self.eos_token = eos_token
        if device in (None, "auto") and rollout_policy is not None:
            self.device = rollout_policy.device
        else:
            self.device = resolve_device(device)
        if self.device.type == "cuda" and self.device.index is None:  # "cuda" -> "cuda:0"
            self.device = torch.device("cuda", torch.cuda.current_device())

        self.oracle = None if oracle is None else _build_oracle(
            oracle, self.vocab_size, self.seq_len, oracle_seed, self.device)
        self.reward_model = _build_reward_model(
            reward_model, self.oracle, self.vocab_size, self.seq_len, init_seed, self.device
        )
        self.reward_model.check_compatible(self.vocab_size, self.seq_len)

        # beta: built (fresh) only where it is used; one passed in is validated and kept either way
        if rollout_policy is None and reward_mode == "rollout":
            g = torch.Generator().manual_seed(int(init_seed))
            fresh = LSTMLanguageModel(self.vocab_size, self.seq_len, eos_token=eos_token).init_normal_(0.1, g)
            rollout_policy = RolloutPolicy(fresh.to(self.device))
        if rollout_policy is not None:
            rollout_policy.check_compatible(self.vocab_size, self.seq_len)
            if rollout_policy.model.eos_token != eos_token:
                raise ValueError(
                    f"the rollout policy's eos_token is {rollout_policy.model.eos_token} but the "
                    f"environment's is {eos_token}; build the generator with eos_token={eos_token}"
                )
            if rollout_policy.device != self.device:
                raise ValueError(
                    f"the rollout policy is on {rollout_policy.device} but the environment's device "
                    f"is {self.device}; pass device={str(rollout_policy.device)!r} or move it"
                )
        self.rollout_policy = rollout_policy
        self.search: MonteCarloSearch | None = None
        if reward_mode == "rollout":
            self.search = MonteCarloSearch(
                rollout_policy, self.reward_model, self.n_rollouts, self.seq_len
            )

        self.tokens = torch.full((self.batch, self.seq_len), PAD, dtype=torch.long, device=self.device)
        self.ended = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        """(B,) True for the sequences that have written ``eos_token`` (always False without one)."""
        self.t = 0
        self.generator: torch.Generator | None = None

    # ------------------------------------------------------------------ episode
    def seed(self, seed: int) -> None:
        """(Re)seed the torch.Generator of the rollouts."""
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))

    def reset(self) -> None:
        """Empty every prefix (all positions PAD) and restart beta's state."""
        self.tokens.fill_(PAD)
        self.ended.zero_()
        self.t = 0
        if self.search is not None:
            self.search.reset(self.batch)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, bool]:
        """Append ``actions`` (B,) int64, already validated; return rewards (B,) float32 and done.

        With an ``eos_token``, a sequence that has already written it gets ``eos_token`` again
        whatever its action ("once EOS, always EOS"; the episode still lasts T steps, so all B
        sequences stay in step)."""
        if self.t >= self.seq_len:
            raise RuntimeError("the episode is over (t = T); call reset() before step()")
        t = self.t = self.t + 1
        tokens = torch.as_tensor(actions, dtype=torch.long).to(self.device)
        if self.eos_token is not None:
            tokens = tokens.masked_fill(self.ended, self.eos_token)
            self.ended |= tokens == self.eos_token
        self.tokens[:, t - 1] = tokens
        prefix = self.tokens[:, :t]
        if self.search is not None:
            rewards = self.search.push(prefix, self.generator)
        elif t == self.seq_len:
            rewards = self.reward_model.score(prefix)
        else:
            rewards = torch.zeros(self.batch)
        return rewards.float().cpu().numpy(), t == self.seq_len

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
        g = state.pop("generator")
        state["_generator_state"] = None if g is None else g.get_state()
        return state

    def __setstate__(self, state: dict) -> None:
        g_state = state.pop("_generator_state")
        self.__dict__.update(state)
        self.generator = None
        if g_state is not None:
            self.generator = torch.Generator(device=self.device)
            self.generator.set_state(g_state)


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

    @property
    def oracle(self) -> LSTMLanguageModel | None:
        """The true data distribution (sample real data from it, compute NLL_oracle with it);
        None for a real corpus."""
        return self.core.oracle


# ---------------------------------------------------------------------- building the defaults
def _build_oracle(
    oracle: str | Path | LSTMLanguageModel, vocab_size: int, seq_len: int, seed: int,
    device: torch.device,
) -> LSTMLanguageModel:
    """``"paper"`` (found by find_paper_oracle), ``"random"`` (N(0,1), ``seed``), a file path, or a model."""
    if isinstance(oracle, LSTMLanguageModel):
        model = oracle
    elif isinstance(oracle, str) and oracle == "random":
        model = random_oracle(int(seed), vocab_size=vocab_size, seq_len=seq_len)
    elif isinstance(oracle, (str, Path)):
        path = find_paper_oracle() if oracle == "paper" else Path(oracle)
        model = load_oracle(path, seq_len=seq_len)
    else:
        raise TypeError(
            f"oracle must be 'paper', 'random', a file path or an LSTMLanguageModel, got {oracle!r}"
        )
    if model.vocab_size != vocab_size:
        hint = " (use oracle='random' for another vocabulary size)" if oracle == "paper" else ""
        raise ValueError(
            f"the oracle has vocab_size={model.vocab_size} but the environment has "
            f"vocab_size={vocab_size}{hint}"
        )
    return model.to(device)


def _build_reward_model(
    reward_model: RewardModel | str | None, oracle: LSTMLanguageModel | None, vocab_size: int,
    seq_len: int, seed: int, device: torch.device,
) -> RewardModel:
    if isinstance(reward_model, RewardModel):
        return reward_model
    if reward_model in (None, "discriminator"):
        return DiscriminatorReward(_fresh_discriminator(vocab_size, seq_len, seed, device))
    if reward_model == "oracle":
        if oracle is None:
            raise ValueError("reward_model='oracle' needs an oracle; this environment has none")
        return OracleLikelihoodReward(oracle)
    raise TypeError(
        "reward_model must be a RewardModel (e.g. BleuReward(real_data) for PG-BLEU), "
        "'discriminator' (a fresh, untrained D), 'oracle' (the diagnostic oracle log-likelihood) "
        f"or None, got {reward_model!r}"
    )


def _fresh_discriminator(vocab_size: int, seq_len: int, seed: int, device: torch.device):
    """An untrained paper-shaped Discriminator (widths > T dropped), initialised from ``seed``."""
    from seqgan_gym.discriminator import paper_discriminator  # lazy: not needed for other rewards

    return paper_discriminator(vocab_size, seq_len, seed).to(device)
