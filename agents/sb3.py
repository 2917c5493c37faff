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
  after the last written token, h_t (M, H). It *holds* an :class:`~seqgan_gym.models.lstm.LSTMLanguageModel`.
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

**Speed.** A PPO update at the paper's sizes spends its time in the (M, V) output layer and the two
LSTMs, not in the environment. Five things keep that cost down, each tested against the plain
computation (tests/test_sb3.py) and timed in ``benchmarks/ppo_speed.py``: the extractor runs the
LSTM once per distinct longest prefix of a batch (:func:`prefix_sources`), log-probabilities and
entropy come from a blockwise pass with a closed-form backward (:class:`GeneratorCategorical`)
that reuses the forward's probabilities, actions are drawn by inverse CDF, and Adam is fused.

**Rewards.** The environment's step reward is already the potential-based difference
r_t = Q_t - Q_{t-1} (see :class:`~seqgan_gym.envs.SeqGANEnv`), so the undiscounted return from
step t is ``score(Y) - Q_{t-1}``: the final score with a baseline that does not depend on y_t. An
episode's rewards sum to its score, so SB3's ``rollout/ep_rew_mean`` is the mean final score.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from torch.autograd.function import once_differentiable
from torch.distributions import Categorical

from seqgan_gym.agents.kl import KLAnchor
from seqgan_gym.models.lstm import LSTMLanguageModel, run_lstm
from seqgan_gym.models.sampling import LOG2E, sample_categorical
from seqgan_gym.utils import every_thread, one_thread_per_operation


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


class PrefixLSTMExtractor(BaseFeaturesExtractor):
    """The generator's embedding + LSTM over the prefix: observations (M, T) -> h_t (M, H).

    The observation holds the written tokens first and -1 after them. The LSTM reads the start
    token and the written tokens; the feature is its output after the last written one (after
    the start token alone for an empty prefix), i.e. the state from which the generator predicts
    the next token. Recomputed from the prefixes at every call (no recurrent state to carry through
    SB3's buffers), but not once per observation: the LSTM is causal, so an observation whose
    prefix another observation of the batch extends is read off that one's pass
    (:func:`prefix_sources`; the policy finds those once for the actor's and the critic's
    extractor). A PPO minibatch of 256 observations drawn from 64 whole episodes runs the LSTM
    over at most 64 rows; and a pass stops at the longest prefix of the batch (at step t of a
    rollout, t + 1 positions instead of T + 1). Same features as one pass per observation up to
    float rounding (tests/test_sb3.py).

    :param observation_space: the env's ``Box(-1, V-1, (T,), int64)``.
    :param emb_dim, hidden_dim, start_token: as :class:`~seqgan_gym.models.lstm.LSTMLanguageModel`.
    """

    def __init__(self, observation_space: spaces.Box, emb_dim: int = 32, hidden_dim: int = 32,
                 start_token: int = 0) -> None:
        super().__init__(observation_space, features_dim=hidden_dim)
        seq_len = int(observation_space.shape[0])
        vocab_size = int(np.max(observation_space.high)) + 1
        self.generator = LSTMLanguageModel(vocab_size, seq_len, emb_dim, hidden_dim, start_token)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        tokens = observations.long()  # SB3 hands Box observations over as floats
        return self.read(tokens, prefix_sources(tokens))

    def read(self, tokens: torch.Tensor, sources: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The features of ``tokens`` (M, T) long, given their :func:`prefix_sources` (which the
        actor's and the critic's extractors share: :meth:`_GeneratorActor.extract_features`)."""
        if tokens.shape[0] == 0:
            return tokens.new_zeros(0, self.features_dim, dtype=torch.float32)
        reads, source = sources
        written = (tokens >= 0).sum(1)  # (M,) t, the prefix length
        span = int(written.max())  # the positions any observation needs: start token + span tokens
        inputs = torch.cat([self.generator.start_tokens(len(reads))[:, None],
                            reads[:, :span].clamp(min=0)], 1)  # (U, span + 1)
        hidden = run_lstm(self.generator.lstm, self.generator.embedding(inputs))  # (U, span + 1, H)
        return hidden[source, written]  # (M, H)


def prefix_sources(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The fewest prefixes an LSTM must read so that every row's state is among its outputs.

    Row b *extends* row a when b agrees with a wherever a is written. Returns ``reads`` (U, T), rows
    of ``tokens`` (those that no other row extends further), and ``source`` (M,), for each row the
    index in ``reads`` of one that extends it: row a's state after its ``written[a]`` tokens is the state of
    ``reads[source[a]]`` at that position, since the LSTM is causal.

    How: sorted lexicographically, with -1 (not written) below every token, the rows that extend a
    row follow it in one contiguous block, and the last row of that block is extended by no other
    row. The block of row i ends before the first j >= i whose common prefix with the next row is
    shorter than row i's length. O(M log M + M T), no hashing, exact.

    A batch whose rows all have the same length (a rollout step) has no row that extends another
    but its duplicates: it is read as it is (``source`` = 0..M-1), which is cheaper than sorting.

    :param tokens: (M, T) long prefixes, -1 where not written (written positions first).
    """
    written = (tokens >= 0).sum(1)
    if len(tokens) == 0 or bool(written.min() == written.max()):
        return tokens, torch.arange(len(tokens), device=tokens.device)
    rows, inverse = _unique_rows(tokens)  # sorted, distinct (U, T)
    u, t = rows.shape
    lengths = (rows >= 0).sum(1)
    same = (rows[1:] == rows[:-1]) & (rows[1:] >= 0)  # (U-1, T)
    common = torch.cat([same.cumprod(1).sum(1), lengths.new_full((1,), -1)])  # with the next row
    index = torch.arange(u, device=tokens.device)
    # block_end[k, i]: the first j >= i whose common prefix with row j + 1 is shorter than k
    breaks = torch.where(common[None] < torch.arange(t + 1, device=tokens.device)[:, None], index, u)
    block_end = breaks.flip(1).cummin(1).values.flip(1)  # (T + 1, U)
    ends, source = torch.unique(block_end[lengths, index], return_inverse=True)
    return rows[ends], source[inverse]


def _unique_rows(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(tokens, dim=0, return_inverse=True)`` for ids >= -1, by a radix sort.

    torch's row-wise unique compares rows one pair at a time. Here each row's ids + 1 are packed,
    ``63 // bits`` to an int64 word, most significant first, so that the words' lexicographic order
    is the rows'; a stable sort per word, last word first, orders the rows (an LSD radix sort), and
    a row starts a new group where its words differ from the previous row's. Same outputs.
    """
    m, t = tokens.shape
    if m == 0:
        return tokens, tokens.new_empty(0)
    bits = max(1, int(tokens.max()) + 1).bit_length()  # ids + 1 lie in [0, 2^bits)
    per_word = 63 // bits
    shifts = torch.arange(per_word - 1, -1, -1, device=tokens.device) * bits
    shifted = F.pad(tokens + 1, (0, -t % per_word)).view(m, -1, per_word)
    words = (shifted << shifts).sum(2)  # (M, words)
    order = torch.arange(m, device=tokens.device)
    for j in reversed(range(words.shape[1])):
        order = order[torch.sort(words[order, j], stable=True).indices]
    ordered = words[order]
    first = torch.ones(m, dtype=torch.bool, device=tokens.device)
    first[1:] = (ordered[1:] != ordered[:-1]).any(1)
    inverse = torch.empty_like(order)
    inverse[order] = first.cumsum(0) - 1
    return tokens[order[first]], inverse


class _GeneratorActor:
    """What makes an SB3 actor-critic policy's actor an LSTM generator (see the module docstring);
    mixed into :class:`GeneratorPolicy` and :class:`MaskableGeneratorPolicy`."""

    def __init__(self, observation_space, action_space, lr_schedule,
                 generator: LSTMLanguageModel | None = None, **kwargs) -> None:
        if generator is not None:  # SB3's own constructors: policy_kwargs=dict(generator=G)
            sizes = {"emb_dim": generator.emb_dim, "hidden_dim": generator.hidden_dim,
                     "start_token": generator.start_token}
            given = kwargs.get("features_extractor_kwargs") or {}
            if any(given.get(key, value) != value for key, value in sizes.items()):
                raise ValueError(f"features_extractor_kwargs {given} contradict the generator's sizes "
                                 f"{sizes}")
            kwargs["features_extractor_kwargs"] = {**given, **sizes}
        kwargs.setdefault("features_extractor_class", PrefixLSTMExtractor)
        kwargs.setdefault("share_features_extractor", False)
        kwargs.setdefault("net_arch", {"pi": [], "vf": [64]})
        kwargs.setdefault("ortho_init", False)
        if kwargs.get("optimizer_class", torch.optim.Adam) is torch.optim.Adam:
            # SB3's Adam (eps 1e-5), fused: one pass per tensor instead of a dozen small ops
            # (benchmarks/ppo_speed.py times it); the same update up to rounding
            kwargs.setdefault("optimizer_kwargs", {"eps": 1e-5, "fused": True})
        if not issubclass(kwargs["features_extractor_class"], PrefixLSTMExtractor):
            raise ValueError(f"{type(self).__name__} needs features_extractor_class=PrefixLSTMExtractor")
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        if generator is not None:
            self.load_generator(generator)

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

    def extract_features(self, obs, features_extractor=None):
        """The actor's and the critic's features, with one :func:`prefix_sources` for both."""
        if self.share_features_extractor or features_extractor is not None:
            return super().extract_features(obs, features_extractor)
        tokens = obs.long()  # what preprocessing (.float()) and the extractors (.long()) make of it
        sources = prefix_sources(tokens)
        return (self.pi_features_extractor.read(tokens, sources),
                self.vf_features_extractor.read(tokens, sources))

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


def _chunk_buffers(rows: int, like: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
    """``n`` scratch (rows, V) tensors kept between calls (per shape, dtype and device): a fresh
    V-wide tensor per call costs a page fault per 4 KiB on first touch, which can cost more than
    the elementwise pass over it.
    One set per thread: two threads never share a buffer."""
    key = (threading.get_ident(), rows, like.shape[1], like.dtype, like.device, n)
    buffers = _BUFFERS.get(key)
    if buffers is None:
        buffers = _BUFFERS[key] = [like.new_empty(rows, like.shape[1]) for _ in range(n)]
    return buffers


_BUFFERS: dict[tuple, list[torch.Tensor]] = {}
_LN2 = 1.0 / LOG2E
_CHUNK_ROWS = 64  # rows of logits per block: two (64, 5000) float32 blocks stay in a core's L2 cache


class _KeptProbabilities:
    """The forward pass's (M, V) probabilities, kept for its backward in a buffer reused between
    calls (one per thread and shape, like :func:`_chunk_buffers`; a fresh one would fault on every
    page). A later forward may take the buffer before an earlier pass's backward has run (two
    ``log_prob`` calls, then one backward): each pass holds a ticket, and a backward whose ticket is
    no longer the buffer's finds :meth:`take` returning ``None`` and recomputes instead."""

    _BUFFERS: dict[tuple, list] = {}  # key -> [buffer, current ticket or None]

    def __init__(self, rows: int, like: torch.Tensor) -> None:
        key = (threading.get_ident(), rows, like.shape[1], like.dtype, like.device)
        self.slot = self._BUFFERS.get(key)
        if self.slot is None:
            self.slot = self._BUFFERS[key] = [like.new_empty(rows, like.shape[1]), None]
        self.ticket = self.slot[1] = object()
        self.buffer = self.slot[0]

    def take(self) -> torch.Tensor | None:
        """The probabilities if no later pass has overwritten them, else ``None``; once only."""
        if self.slot[1] is not self.ticket:
            return None
        self.slot[1] = None  # the caller scales them in place: a second backward recomputes
        return self.buffer


class _LogProbEntropy(torch.autograd.Function):
    """log pi(a | s) and the entropy of pi(. | s) from the hidden states through the output layer,
    block by block, with a closed-form backward; no fresh (M, V) tensor is allocated.

    Forward, for each block of rows: the logits ``z = [h, 1] [W^T; b]`` into a scratch block,
    ``m = max z``, ``y = z - m``, ``e = exp(y)``, ``s = sum e``; then ``log_prob = y_a - log s`` and
    the entropy ``H = log s - sum(e y) / s``. Saved for backward: the inputs, ``lse = m + log s``,
    ``H`` and ``s`` per row, and, when gradients are wanted, the (M, V) ``e`` themselves
    (:class:`_KeptProbabilities`). The gradient with respect to the logits is, in closed form,
    ``g_lp (onehot(a) - p) - g_H p (l + H)`` with ``p = e / s`` and ``l = z - lse``. Backward forms
    it from the kept ``e`` when the entropy's incoming gradient is 0 (PPO's and A2C's default
    ``ent_coef``) and the kept values are still there; otherwise it recomputes each block's logits
    and ``p = exp(z - lse)`` (and ``l`` for the entropy term). Keeping ``e`` saves a quarter of the
    output layer's products in training and an exponential pass (``keep_probabilities=False``
    always recomputes; both are tested against autograd). Then it accumulates
    ``dW = G^T [h, 1]`` and ``dh = G [W^T; b]^T``. Autograd through
    ``torch.distributions.Categorical`` made some twenty passes over freshly allocated (M, V)
    tensors (logsumexp, softmax, clamp, their backward) for the same numbers. The V-wide
    exponentials are taken in base 2 (``exp2`` of the logits times log2(e)), cheaper than
    ``exp`` on CPU (:data:`seqgan_gym.models.sampling.LOG2E`); the row-wise results are converted back to
    natural logarithms.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, actions, keep_probabilities=True):
        rows, hidden_dim = hidden.shape
        hidden1 = torch.cat([hidden, hidden.new_ones(rows, 1)], 1)  # (M, H + 1)
        weight1 = torch.cat([weight.t(), bias[None]]).contiguous()  # (H + 1, V)
        y_buf, e_buf = _chunk_buffers(min(rows, _CHUNK_ROWS), weight1)
        kept = _KeptProbabilities(rows, weight1) if keep_probabilities and any(ctx.needs_input_grad[:3]) \
            else None
        lse, log_prob, entropy, totals = (hidden.new_empty(rows) for _ in range(4))
        hidden1_log2e = hidden1 * LOG2E  # the logits in base 2: exp2 is faster than exp (LOG2E)
        for lo in range(0, rows, _CHUNK_ROWS):
            hi = min(rows, lo + _CHUNK_ROWS)
            y = y_buf[: hi - lo]
            e = kept.buffer[lo:hi] if kept is not None else e_buf[: hi - lo]
            torch.mm(hidden1_log2e[lo:hi], weight1, out=y)  # z log2(e)
            m = y.amax(1, keepdim=True)
            y.sub_(m)  # y = (z - max z) log2(e)
            total = torch.exp2(y, out=e).sum(1)
            log_total = total.log()
            log_prob[lo:hi] = y.gather(1, actions[lo:hi, None]).squeeze(1) * _LN2 - log_total
            entropy[lo:hi] = log_total - y.mul_(e).sum(1) * _LN2 / total
            lse[lo:hi] = m.squeeze(1) * _LN2 + log_total
            totals[lo:hi] = total
        ctx.kept = kept
        ctx.save_for_backward(hidden1, weight1, actions, lse, entropy, totals)
        return log_prob, entropy

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_log_prob, grad_entropy):
        hidden1, weight1, actions, lse, entropy, totals = ctx.saved_tensors
        rows, hidden_dim = hidden1.shape[0], hidden1.shape[1] - 1
        with_entropy = bool((grad_entropy != 0).any())
        kept = ctx.kept.take() if ctx.kept is not None and not with_entropy else None
        grad_hidden1 = torch.empty_like(hidden1)
        grad_weight1 = torch.zeros_like(weight1)
        g_buf, l_buf = _chunk_buffers(min(rows, _CHUNK_ROWS), weight1)
        hidden1_log2e, lse_log2e = hidden1 * LOG2E, lse * LOG2E  # base 2, as in forward
        for lo in range(0, rows, _CHUNK_ROWS):
            hi = min(rows, lo + _CHUNK_ROWS)
            if kept is not None:  # - g_lp p = e * (- g_lp / s), in place over the kept e
                g = kept[lo:hi].mul_((-grad_log_prob[lo:hi] / totals[lo:hi])[:, None])
            else:
                g = g_buf[: hi - lo]
                torch.mm(hidden1_log2e[lo:hi], weight1, out=g).sub_(lse_log2e[lo:hi, None])  # log2 p
                if with_entropy:
                    log_p = l_buf[: hi - lo].copy_(g)
                g.exp2_()  # p
                if with_entropy:  # - g_H p (l + H) = - g_H ln(2) p (log2 p + H log2(e))
                    log_p.add_(entropy[lo:hi, None] * LOG2E).mul_(g).mul_(grad_entropy[lo:hi, None] * _LN2)
                g.mul_(-grad_log_prob[lo:hi, None])  # - g_lp p
            g.scatter_add_(1, actions[lo:hi, None], grad_log_prob[lo:hi, None])  # + g_lp onehot(a)
            if with_entropy:
                g.sub_(log_p)
            torch.mm(g, weight1.t(), out=grad_hidden1[lo:hi])
            grad_weight1.addmm_(hidden1[lo:hi].t(), g)
        return (grad_hidden1[:, :hidden_dim] if ctx.needs_input_grad[0] else None,
                grad_weight1[:hidden_dim].t() if ctx.needs_input_grad[1] else None,
                grad_weight1[hidden_dim] if ctx.needs_input_grad[2] else None, None, None)


class GeneratorCategorical(CategoricalDistribution):
    """SB3's categorical distribution over the V tokens, fed the actor's hidden states and output
    layer instead of the logits (:meth:`from_hidden`), with three costs removed (measured in
    ``benchmarks/ppo_speed.py``):

    - :meth:`log_prob` and :meth:`entropy` come from one blockwise pass through the output layer
      with a closed-form backward (:class:`_LogProbEntropy`), equal to autograd's through
      ``torch.distributions.Categorical`` up to float rounding, gradients included
      (tests/test_sb3.py);
    - the ``torch.distributions.Categorical`` behind :attr:`distribution` (built only when asked
      for) has ``validate_args=False``: torch's checks of the logits and of every evaluated action
      ran over each (M, V) tensor;
    - :meth:`sample` draws by inverse CDF (:func:`seqgan_gym.models.sampling.sample_categorical`, one
      uniform per row from torch's global random state, which SB3 seeds) instead of
      ``torch.multinomial``, which draws an exponential for every one of the V entries of a row:
      the same distribution, other draws than ``torch.multinomial`` for a given seed; without
      gradients (collecting rollouts) the same pass gives the draws' log-probabilities, which
      :meth:`log_prob` of those actions returns instead of a second pass through the output layer.

    ``keep_probabilities``: whether :class:`_LogProbEntropy` keeps its forward's probabilities for
    the backward (True) or recomputes them (False; ``benchmarks/ppo_speed.py`` times both).
    """

    keep_probabilities = True

    def __init__(self, action_dim: int) -> None:
        super().__init__(action_dim)
        self.hidden: torch.Tensor | None = None
        self.output: torch.nn.Linear | None = None
        self._entropy: torch.Tensor | None = None
        self._sampled: tuple[torch.Tensor, torch.Tensor] | None = None  # (actions, their log-prob)

    def from_hidden(self, hidden: torch.Tensor, output: torch.nn.Linear) -> GeneratorCategorical:
        """pi(. | s) = softmax(output(hidden)): hidden (M, H), output the actor's ``nn.Linear(H, V)``."""
        self.hidden, self.output, self._entropy, self._sampled = hidden, output, None, None
        self._distribution = None
        return self

    def proba_distribution(self, action_logits: torch.Tensor) -> GeneratorCategorical:
        self.hidden = self.output = self._entropy = self._sampled = None
        self._distribution = Categorical(logits=action_logits, validate_args=False)
        return self

    @property
    def distribution(self) -> Categorical:
        if self._distribution is None and self.hidden is not None:
            self._distribution = Categorical(logits=self.output(self.hidden), validate_args=False)
        return self._distribution

    @distribution.setter
    def distribution(self, value) -> None:
        self._distribution = value

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        if self._sampled is not None and actions is self._sampled[0] and not torch.is_grad_enabled():
            return self._sampled[1]  # from the pass that drew them (collecting rollouts)
        if self.hidden is None or actions.numel() != len(self.hidden):
            return self.distribution.log_prob(actions)
        log_prob, self._entropy = _LogProbEntropy.apply(
            self.hidden, self.output.weight, self.output.bias, actions.long().reshape(-1),
            self.keep_probabilities)
        return log_prob

    def entropy(self) -> torch.Tensor:
        if self._entropy is not None:  # computed with the last log_prob
            return self._entropy
        if self.hidden is None:
            return self.distribution.entropy()
        zeros = torch.zeros(len(self.hidden), dtype=torch.long, device=self.hidden.device)
        return _LogProbEntropy.apply(self.hidden, self.output.weight, self.output.bias, zeros,
                                     self.keep_probabilities)[1]

    def sample(self) -> torch.Tensor:
        """Without gradients (SB3 collecting rollouts), the draws' log-probabilities come from
        the same pass and :meth:`log_prob` of these very actions returns them."""
        logits = self.distribution.logits if self._distribution is not None else self.output(self.hidden)
        if torch.is_grad_enabled():
            return sample_categorical(logits)
        actions, log_prob = sample_categorical(logits, return_log_prob=True)
        self._sampled = (actions, log_prob.to(logits.dtype))
        return actions


class GeneratorPolicy(_GeneratorActor, ActorCriticPolicy):
    """Actor-critic policy whose actor is an LSTM generator (see the module docstring), for PPO and A2C.

    ``generator``: the LSTM generator the actor starts from (its sizes set the extractors'), so
    that SB3's own constructor works: ``A2C(GeneratorPolicy, venv, policy_kwargs=dict(generator=G))``
    (:func:`make_sb3_agent` does this for you). The policy needs a discrete action space of
    token ids and the prefix observations of the SeqGAN envs; SB3 algorithms without an
    actor-critic policy (DQN) and sb3-contrib's TRPO (whose line search needs every policy
    parameter in its graph) are refused by :func:`make_sb3_agent`.

    Defaults: a separate critic extractor, ``net_arch=dict(pi=[], vf=[64])`` (the actor's logits
    are the generator's output layer on h_t, nothing in between), no orthogonal initialisation.
    Extra keyword arguments go to :class:`ActorCriticPolicy`; ``features_extractor_kwargs`` to
    :class:`PrefixLSTMExtractor` (``emb_dim``, ``hidden_dim``, ``start_token``). Its action
    distribution is a :class:`GeneratorCategorical`.
    """

    def __init__(self, observation_space, action_space, lr_schedule,
                 generator: LSTMLanguageModel | None = None, **kwargs) -> None:
        super().__init__(observation_space, action_space, lr_schedule, generator=generator, **kwargs)
        self.action_dist = GeneratorCategorical(self.action_space.n)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> GeneratorCategorical:
        return self.action_dist.from_hidden(latent_pi, self.action_net)  # latent_pi = h_t (pi=[])


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
