"""The rollout policy beta and the Monte-Carlo search that turns a reward model into Q values.

SeqGAN (Yu et al. 2017, eq. 4) gives token t of a finished sequence Y = (y_1, ..., y_T) the value

    Q(Y_1:t-1, y_t) = (1/N) sum_n score(Y^n),  Y^n ~ MC^{G_beta}(Y_1:t; N)   for t < T
    Q(Y_1:T-1, y_T) = score(Y_1:T)                                         for t = T

where MC^{G_beta}(Y_1:t; N) completes the prefix Y_1:t to length T, N times, by sampling from the
rollout policy G_beta, and ``score`` is a :class:`~seqgan_gym.rewards.reward_models.RewardModel` (D in
SeqGAN).

**Layout.** Rewards are ``(batch, T)``: ``Q[b, t]`` is the reward of token ``t`` (0-based) of
sequence ``b``. (Public ports get this wrong by reshaping a (T, batch) or (N, batch) buffer;
see TextGAN-PyTorch issue 62. ``tests/test_rollout.py`` pins the layout.)

**How it is computed.** :class:`MonteCarloSearch` runs beta once over the prefix, one token per
call of :meth:`MonteCarloSearch.push`, and keeps beta's LSTM state. For each prefix length t < T it
expands that state (and the logits of the next token) N times and completes all B x N rows in one
batched call of the generator's own sampler (:meth:`LSTMLanguageModel.complete` with the
schedule's uniforms); no prefix is ever replayed. The environments use the
same object step by step; :func:`rollout_rewards` drives it over a whole batch of finished sequences.
The slow, obviously correct form (per sequence, per t, per rollout, replaying the prefix) that
the tests compare with is ``rollout_rewards_reference`` in ``tests/references.py``.

**Randomness is pinned by a draw schedule.** Every token of every completion is drawn by inverse-CDF
sampling from one uniform number (exactly as :func:`seqgan_gym.models.sampling.sample_categorical` does). For
each prefix length t = 1, ..., T-1, in that order, one call ``torch.rand((B, N, T - t),
generator=rng)`` supplies them: ``u[b, n, j]`` draws token ``t + j`` (0-based) of rollout
``n`` of sequence ``b``. Both implementations follow this schedule, so given the same
``torch.Generator`` state they sample the same completions, whatever the batching or chunking,
as long as the float arithmetic agrees. It does in the tests' small configurations (the results
are bit-identical). At the paper's size a 1-row and a 1024-row float32 matrix product can round
differently (BLAS picks different kernels), and about one completion in a few thousand then sees
its uniform fall on the other side of an inverse-CDF boundary: a different but equally likely
token. The two forms agree in distribution always, draw for draw almost always.
"""

from __future__ import annotations

import copy

import torch

from seqgan_gym.models.lstm import LSTMLanguageModel, State
from seqgan_gym.models.sampling import sample_from_uniforms
from seqgan_gym.rewards.reward_models import RewardModel


class RolloutPolicy:
    """The rollout policy G_beta: a delayed copy of the generator used for Monte-Carlo search.

    Holds its own deep copy of ``generator`` (``requires_grad=False``, eval mode); after each
    generator update call :meth:`update`, which moves beta towards theta as the authors' code
    writes it::

        beta <- update_rate * beta + (1 - update_rate) * theta

    (every parameter, embedding included). ``update_rate=0`` makes beta a plain copy of theta.
    Note: in the authors' TensorFlow code the rollout graph reads the generator's live variables
    through ``tf.identity`` ops built once in ``ROLLOUT.__init__``; the tensors that
    ``update_params`` builds are never used by that graph, so their rollouts effectively ran with
    beta = theta (``update_rate=0`` here). We implement the EMA as written and make it configurable.

    :param generator: the generator G_theta to copy.
    :param update_rate: the EMA rate in [0, 1] (the authors: 0.8).
    """

    def __init__(self, generator: LSTMLanguageModel, update_rate: float = 0.8) -> None:
        if not isinstance(generator, LSTMLanguageModel):
            raise TypeError(
                f"RolloutPolicy needs an LSTMLanguageModel, got {type(generator).__name__}"
            )
        if not 0.0 <= update_rate <= 1.0:
            raise ValueError(f"update_rate must be in [0, 1], got {update_rate}")
        self.update_rate = float(update_rate)
        self.model = copy.deepcopy(generator).requires_grad_(False).eval()
        for p in self.model.parameters():
            p.grad = None

    @property
    def vocab_size(self) -> int:
        return self.model.vocab_size

    @property
    def seq_len(self) -> int:
        return self.model.seq_len

    @property
    def device(self) -> torch.device:
        return self.model.output.weight.device

    def to(self, device: torch.device | str) -> RolloutPolicy:
        self.model.to(device)
        return self

    @torch.no_grad()
    def update(self, generator: LSTMLanguageModel) -> None:
        """beta <- update_rate * beta + (1 - update_rate) * theta, in place (after a G update)."""
        theta = generator.state_dict()
        beta = self.model.state_dict()
        if theta.keys() != beta.keys() or any(theta[k].shape != beta[k].shape for k in beta):
            raise ValueError(
                "RolloutPolicy.update: the generator's architecture differs from the rollout "
                f"policy's (V={self.vocab_size}, E={self.model.emb_dim}, H={self.model.hidden_dim})"
            )
        r = self.update_rate
        for k, b in beta.items():
            if b.is_floating_point():
                b.mul_(r).add_(theta[k].detach().to(b.device, b.dtype), alpha=1.0 - r)

    def check_compatible(self, vocab_size: int, seq_len: int) -> None:
        """Raise ``ValueError`` unless beta's V and T are ``vocab_size`` and ``seq_len``."""
        for what, mine, theirs in (("vocab_size", self.vocab_size, vocab_size),
                                   ("seq_len", self.seq_len, seq_len)):
            if mine != theirs:
                raise ValueError(
                    f"rollout policy has {what}={mine} but the environment has {what}={theirs}; "
                    "build the generator for the same vocabulary and length"
                )

    def __repr__(self) -> str:
        m = self.model
        return (f"RolloutPolicy(V={m.vocab_size}, T={m.seq_len}, E={m.emb_dim}, H={m.hidden_dim}, "
                f"update_rate={self.update_rate})")


# ---------------------------------------------------------------------------- the draw schedule
def draw_uniforms(
    batch: int, n_rollouts: int, n_steps: int, rng: torch.Generator, device: torch.device
) -> torch.Tensor:
    """The draw schedule's one call for one prefix length: (batch, n_rollouts, n_steps) uniforms."""
    return torch.rand(batch, n_rollouts, n_steps, generator=rng, device=device)


# ---------------------------------------------------------------------------------- the engine
class MonteCarloSearch:
    """Incremental, batched Monte-Carlo search over a batch of B growing prefixes.

    Usage, for sequences written one token at a time (the environments)::

        search = MonteCarloSearch(policy, reward_model, n_rollouts=16, seq_len=20)
        search.reset(batch=B)
        for t in range(1, T + 1):
            q_t = search.push(tokens[:, :t], rng)  # (B,): Q of token t of each sequence

    Each :meth:`push` feeds the newest token to beta (B rows, one LSTM step) and keeps the state.
    For t < T it then expands beta's state N times and completes the B x N rows in one batched
    loop (in chunks of at most ``max_rows`` rows, which bounds memory without changing results),
    scores the B x N finished sequences in one call and averages over the N rollouts. At t = T it
    returns the reward model's score of the sequences themselves.

    :param policy: the rollout policy beta.
    :param reward_model: scores finished sequences.
    :param n_rollouts: N, completions per prefix (the paper: 16).
    :param seq_len: T.
    :param max_rows: the most completion rows sampled at once.
    """

    def __init__(
        self,
        policy: RolloutPolicy,
        reward_model: RewardModel,
        n_rollouts: int,
        seq_len: int,
        max_rows: int = 16384,
    ) -> None:
        if n_rollouts < 1:
            raise ValueError(f"n_rollouts must be >= 1, got {n_rollouts}")
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.policy = policy
        self.reward_model = reward_model
        self.n_rollouts = n_rollouts
        self.seq_len = seq_len
        self.max_rows = max_rows
        self.t = 0
        self._batch: int | None = None
        self._state: State | None = None

    def reset(self, batch: int) -> None:
        """Start B empty prefixes. beta reads the start token at the first :meth:`push`, so an
        update of beta between ``reset`` and the first token (an SB3 algorithm's environment
        resets itself at the end of the previous episode, before the policy update) is used."""
        self._batch, self._state, self.t = int(batch), None, 0

    @torch.no_grad()
    def push(self, prefix: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Extend every prefix by its newest token and return that token's reward.

        :param prefix: (B, t) long, the prefixes including the new token ``prefix[:, t-1]``; t must
            be one more than at the previous call (1 after :meth:`reset`).
        :param rng: the source of the rollouts' uniforms (see the module's draw schedule).
        :return: (B,) float32, Q(Y_1:t-1, y_t) for each sequence.
        """
        if self._batch is None:
            raise RuntimeError("MonteCarloSearch.push called before reset(batch)")
        batch, t = prefix.shape
        if t != self.t + 1 or t > self.seq_len or batch != self._batch:
            raise ValueError(
                f"push expects prefixes of shape ({self._batch}, {self.t + 1}) "
                f"(T={self.seq_len}), got {tuple(prefix.shape)}"
            )
        model, n = self.policy.model, self.n_rollouts
        state = self._state  # committed with self.t at the end: a reward model that raises changes nothing
        if t == 1:  # beta reads the start token now (see reset)
            _, state = model.step(model.start_tokens(batch), model.initial_state(batch))
        if t == self.seq_len:
            rewards = self.reward_model.score(model.end_at_eos(prefix))
            self.t, self._state = t, state
            return rewards

        # beta reads y_t: logits of y_{t+1} and the state after Y_1:t, each (B, .)
        logits, state = model.step(prefix[:, -1], state)
        u = draw_uniforms(batch, n, self.seq_len - t, rng, prefix.device)  # (B, N, T-t)

        # first new token straight from the B rows' distribution, N uniforms per row
        first = sample_from_uniforms(logits, u[:, :, 0]).reshape(batch * n)  # (B*N,) b-major
        h, c = (_repeat_rows(s, n) for s in state)  # (B*N, H)
        u = u.reshape(batch * n, -1)
        # the remaining T-t-1 tokens: beta's fast batched sampler, fed the schedule's uniforms
        rest = [
            model.complete(first[lo:hi], (h[lo:hi], c[lo:hi]), self.seq_len - t - 1,
                           uniforms=u[lo:hi, 1:])[0]
            for lo, hi in ((lo, min(lo + self.max_rows, batch * n))
                           for lo in range(0, batch * n, self.max_rows))
        ]
        completed = torch.cat(
            [_repeat_rows(prefix, n), first[:, None], torch.cat(rest)], dim=1
        )  # (B*N, T), row b*N + k is rollout k of sequence b
        # a corpus with an end token: a completion ends at its first EOS (a no-op otherwise)
        completed = model.end_at_eos(completed)
        rewards = self.reward_model.score_rollouts(completed, n, t).view(batch, n).mean(dim=1)
        self.t, self._state = t, state
        return rewards


def _repeat_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, ...) -> (B * n, ...), each row repeated n times in a row (row b * n + k is copy k of b)."""
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:]).reshape(x.shape[0] * n, *x.shape[1:])


def rollout_rewards(
    sequences: torch.Tensor,
    policy: RolloutPolicy,
    reward_model: RewardModel,
    n_rollouts: int,
    rng: torch.Generator,
    max_rows: int = 16384,
) -> torch.Tensor:
    """Q for finished sequences, batched: sequences (B, T) long -> rewards (B, T) float32.

    ``Q[:, t-1]`` for t < T is the mean score of N completions of Y_1:t sampled by beta from the
    prefix's LSTM state; ``Q[:, T-1]`` is the score of Y. Randomness comes only from
    ``rng``, following the module's draw schedule.
    """
    if sequences.dim() != 2:
        raise ValueError(f"expected sequences of shape (B, T), got {tuple(sequences.shape)}")
    batch, seq_len = sequences.shape
    search = MonteCarloSearch(policy, reward_model, n_rollouts, seq_len, max_rows=max_rows)
    search.reset(batch)
    q = torch.empty(batch, seq_len, dtype=torch.float32, device=sequences.device)
    for t in range(1, seq_len + 1):
        q[:, t - 1] = search.push(sequences[:, :t], rng)
    return q
