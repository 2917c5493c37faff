"""Intermediate rewards: what token t of an unfinished sequence is worth, chosen by one argument.

SeqGAN's generator update weights log G(y_t | Y_<t) by Q(Y_1:t-1, y_t), the value of the prefix
Y_1:t, but the reward model (D, BLEU) scores only finished sequences. How Q_t is had for t < T is
a *strategy*; the environments, the agents, the callbacks and :mod:`seqgan_gym.algorithm1` take
it as ``intermediate_reward=`` (a name below, or your own :class:`IntermediateReward`):

=======================  ===============================================  ========================
name                     Q_t for t < T                                    trained
=======================  ===============================================  ========================
``mc_rollout``           the mean reward-model score of N completions of  no (beta follows G)
(default, the paper's)   Y_1:t sampled by the rollout policy beta
                         (:class:`~seqgan_gym.rewards.rollout.MonteCarloSearch`)
``terminal``             0                                                no
``prefix_discriminator`` P(real | Y_1:t) of a recurrent discriminator     on the d-steps'
                         that scores every prefix of a sequence in one    negatives and real data,
                         pass (Li et al. 2017's REGS; MaskGAN's per-token  beside D (pre-training
                         discriminator)                                   too)
``critic``               V(Y_1:t), a value network of prefixes that       on every finished batch's
                         regresses the final reward (Bahdanau et al.      final rewards, and on the
                         2017's critic; a Monte-Carlo value target)       d-steps' negatives scored
                                                                          by the reward model
=======================  ===============================================  ========================

**At t = T every strategy returns the reward model's score of the finished sequence** (D(Y),
BLEU, ...): the strategies differ only in the rewards of unfinished prefixes, so the final score
(and what ``final_score`` logs) means the same under all of them. Q_t is the value of the prefix
*including* y_t, as the paper's eq. 4 defines it; the critic gives Q_t (V of the longer prefix),
not an advantage (the SB3 adapter's ``q_difference`` rewards turn any Q_t into potential-based
shaping, whose return from t is D(Y) - Q_{t-1}).

**Cost per generator update** (B sequences of length T): ``mc_rollout`` scores B x N x (T - 1)
completed sequences with the reward model (with the paper's D, most of a reward batch's time;
``benchmarks/rollout_speed.py``, docs/results/speed.md); ``prefix_discriminator`` and ``critic``
run one small LSTM over each prefix; ``terminal`` nothing. The trainable two add their own
training to the d-steps.

**Your own strategy.** Subclass :class:`IntermediateReward` and implement
:meth:`IntermediateReward._prefix_rewards` (the reward of each newest token for t < T; t = T is
the reward model's score, done once by the base class)::

    class FractionOfSmallIds(IntermediateReward):
        def _prefix_rewards(self, prefix, rng):       # prefix (B, t) long, t < T -> (B,)
            return (prefix < 100).float().mean(dim=1)

    env = SeqGANVectorEnv(num_envs=64, reward_model=DiscriminatorReward(D),
                          intermediate_reward=FractionOfSmallIds())

A strategy that keeps state across the steps of an episode overrides :meth:`~IntermediateReward.reset`
and :meth:`~IntermediateReward.push` (as :class:`MonteCarloRollout` does); one that learns sets
``trainable = True`` and implements :meth:`~IntermediateReward.fit` (called with the d-steps'
negatives), :meth:`~IntermediateReward.observe` (called with every finished batch and its final
rewards) and ``state_dict`` / ``load_state_dict`` (saved in ``resume.pt``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqgan_gym._kernels.lstm import run_lstm
from seqgan_gym.config import INTERMEDIATE_REWARDS
from seqgan_gym.models.lstm import LSTMLanguageModel, check_token_ids
from seqgan_gym.rewards.reward_models import RewardModel
from seqgan_gym.rewards.rollout import MonteCarloSearch, RolloutPolicy
from seqgan_gym.training import updates as training
from seqgan_gym.utils import make_adam

TRAINABLE = ("prefix_discriminator", "critic")
"""The named strategies that learn (and so are pre-trained, retrained and checkpointed)."""


class IntermediateReward(abc.ABC):
    """How the environment rewards each new token of B growing prefixes; see the module docstring.

    The environment's core :meth:`bind` s the strategy to its reward model (and rollout policy and
    N), calls :meth:`reset` at the start of every episode and :meth:`push` once per step with the
    prefixes including the new token. :meth:`push` returns the reward model's score at t = T and
    :meth:`_prefix_rewards` before; at t = T it also hands the finished sequences and their scores
    to :meth:`observe`.

    :ivar name: the strategy's name (error messages, logs).
    :ivar needs_rollout_policy: whether the environment must have a rollout policy beta.
    :ivar trainable: whether :meth:`fit` / :meth:`observe` train it (then it is pre-trained beside D,
        retrained in the d-steps and saved in resumable checkpoints).
    """

    name = "custom"
    needs_rollout_policy = False
    trainable = False

    reward_model: RewardModel | None = None
    seq_len: int | None = None

    def bind(self, reward_model: RewardModel, rollout_policy: RolloutPolicy | None, n_rollouts: int,
             seq_len: int) -> None:
        """Attach the environment's reward model (and beta, N) and T; called once by each env that
        uses this strategy. A strategy object may serve several environments only if they share
        one reward model (``ValueError`` otherwise)."""
        if self.reward_model is not None and self.reward_model is not reward_model:
            raise ValueError(f"this {self.name} intermediate reward is already used by an environment "
                             "with another reward model; build one per environment")
        self.reward_model, self.seq_len = reward_model, int(seq_len)

    def reset(self, batch: int) -> None:  # noqa: B027 (optional hook)
        """Start ``batch`` empty prefixes (stateless strategies need nothing)."""

    def push(self, prefix: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        """The reward of each prefix's newest token: prefix (B, t) long -> (B,) float32.

        t < T: :meth:`_prefix_rewards`, checked (shape, finite); t = T: the reward model's score of
        the finished sequences, then :meth:`observe` of them."""
        if self.reward_model is None:
            raise RuntimeError(f"{type(self).__name__}.push before bind(): an environment binds it")
        batch, t = prefix.shape
        if t == self.seq_len:
            rewards = self.reward_model.score(prefix)
            self.observe(prefix, rewards)
            return rewards
        rewards = torch.as_tensor(self._prefix_rewards(prefix, rng), dtype=torch.float32).to(prefix.device)
        if rewards.shape != (batch,):
            raise ValueError(f"{type(self).__name__}._prefix_rewards returned shape {tuple(rewards.shape)} "
                             f"for {batch} prefixes; expected ({batch},)")
        if not torch.isfinite(rewards).all():
            raise ValueError(f"{type(self).__name__}._prefix_rewards returned NaN or infinite rewards at "
                             f"prefix length {t}")
        return rewards

    @abc.abstractmethod
    def _prefix_rewards(self, prefix: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        """Q of each prefix's newest token for prefix length t < T: prefix (B, t) -> (B,)."""

    # ------------------------------------------------------------------ learning (trainable ones)
    def observe(self, sequences: torch.Tensor, rewards: torch.Tensor) -> None:  # noqa: B027
        """A batch of finished sequences (B, T) and their final rewards (B,) (every episode's end)."""

    def fit(self, real: torch.Tensor, negatives: torch.Tensor, epochs: int = 1,
            reward_model: RewardModel | None = None) -> dict[str, float]:
        """Train on real sequences and fresh samples of G (the d-steps' negatives); returns
        statistics of the last epoch. ``reward_model``: the score to learn from, where the strategy
        needs one and is not bound yet (pre-training). Nothing for a strategy that does not learn."""
        return {}

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly (empty for a strategy that does not learn)."""
        return {}

    def load_state_dict(self, state: dict) -> None:  # noqa: B027
        """Restore what :meth:`state_dict` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MonteCarloRollout(IntermediateReward):
    """The paper's Monte-Carlo search (eq. 4): Q_t is the mean score of N completions of Y_1:t by
    beta, continuing from the prefix's LSTM state (:class:`~seqgan_gym.rewards.rollout.MonteCarloSearch`,
    used unchanged).
    One object steps one environment."""

    name = "mc_rollout"
    needs_rollout_policy = True

    def __init__(self, max_rows: int = 16384) -> None:
        self.max_rows = max_rows
        self.search: MonteCarloSearch | None = None

    def bind(self, reward_model: RewardModel, rollout_policy: RolloutPolicy | None, n_rollouts: int,
             seq_len: int) -> None:
        if self.search is not None:
            raise ValueError("a MonteCarloRollout steps one environment; pass intermediate_reward="
                             "'mc_rollout' to each environment instead")
        if rollout_policy is None:
            raise ValueError("intermediate_reward 'mc_rollout' needs a rollout policy")
        super().bind(reward_model, rollout_policy, n_rollouts, seq_len)
        self.search = MonteCarloSearch(rollout_policy, reward_model, n_rollouts, seq_len, self.max_rows)

    def reset(self, batch: int) -> None:
        self.search.reset(batch)

    def push(self, prefix: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        return self.search.push(prefix, rng)

    def _prefix_rewards(self, prefix, rng):  # pragma: no cover - push does it all
        raise NotImplementedError


class TerminalReward(IntermediateReward):
    """No intermediate reward: 0 for t < T, the reward model's score at T."""

    name = "terminal"

    def _prefix_rewards(self, prefix: torch.Tensor, rng) -> torch.Tensor:
        return torch.zeros(prefix.shape[0])


# ---------------------------------------------------------------------------- the learned two
class PrefixScorer(nn.Module):
    """One output for every prefix of a sequence, in one pass: sequences (B, T) -> (B, T), where
    output t reads the start token and y_1..y_t only (a recurrent model is causal by construction).

    Embedding -> LSTM -> a linear head on each hidden state, fed the start token first as the
    generator is. The prefix discriminator reads the outputs as logits of P(real | Y_1:t), the
    critic as values V(Y_1:t).

    :param vocab_size: V.
    :param emb_dim, hidden_dim: sizes (the generator's 32 and 32 by default).
    :param start_token: the first input (the generator's: 0).
    :param seed: seeds the initialisation (torch's global random state is left as it was).
    """

    def __init__(self, vocab_size: int, emb_dim: int = 32, hidden_dim: int = 32, start_token: int = 0,
                 seed: int = 0) -> None:
        super().__init__()
        self.vocab_size, self.start_token = int(vocab_size), int(start_token)
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(int(seed))
            self.embedding = nn.Embedding(vocab_size, emb_dim)
            self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
            self.head = nn.Linear(hidden_dim, 1)

    @classmethod
    def from_generator(cls, generator: LSTMLanguageModel, seed: int = 0) -> PrefixScorer:
        """A scorer whose embedding and LSTM start as copies of ``generator``'s (so its hidden state
        after y_t is, at first, the one G predicts y_{t+1} from); the head is fresh (``seed``)."""
        scorer = cls(generator.vocab_size, generator.emb_dim, generator.hidden_dim,
                     generator.start_token, seed)
        scorer.embedding.load_state_dict(generator.embedding.state_dict())
        scorer.lstm.load_state_dict(generator.lstm.state_dict())
        return scorer.to(generator.output.weight.device)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        check_token_ids(sequences, self.vocab_size)
        start = sequences.new_full((sequences.shape[0], 1), self.start_token)
        hidden = run_lstm(self.lstm, self.embedding(torch.cat([start, sequences], dim=1)))  # (B, T + 1, H)
        return self.head(hidden[:, 1:]).squeeze(-1)


class _LearnedPrefixReward(IntermediateReward):
    """What the prefix discriminator and the critic share: a :class:`PrefixScorer`, its Adam, a
    seeded shuffling stream, mini-batch epochs, and their state for resuming."""

    trainable = True

    def __init__(self, model: PrefixScorer, lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> None:
        if not isinstance(model, PrefixScorer):
            raise TypeError(f"{type(self).__name__} needs a PrefixScorer, got {type(model).__name__}")
        if not (lr > 0 and batch_size >= 1):
            raise ValueError(f"need lr > 0 and batch_size >= 1, got lr={lr}, batch_size={batch_size}")
        self.model = model
        self.optimizer = make_adam(model.parameters(), lr)
        self.batch_size = int(batch_size)
        self.shuffle_rng = torch.Generator().manual_seed(int(seed))

    def _outputs(self, sequences: torch.Tensor) -> torch.Tensor:
        """The model's (B, T) outputs, eval mode, no gradient."""
        self.model.eval()
        with torch.no_grad():
            return self.model(sequences.to(self.model.device))

    def _epochs(self, sequences: torch.Tensor, targets: torch.Tensor, epochs: int,
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                batch_size: int | None = None) -> float:
        """``epochs`` passes of Adam over shuffled mini-batches of (sequences (N, T), targets (N, T));
        returns the mean loss of the last pass."""
        batch_size = batch_size or self.batch_size
        sequences, targets = sequences.to(self.model.device), targets.to(self.model.device)
        self.model.train()
        mean = 0.0
        with torch.enable_grad():  # the environments step under no_grad (the agents' collection)
            for _ in range(epochs):
                order = torch.randperm(sequences.shape[0], generator=self.shuffle_rng).to(self.model.device)
                total, count = 0.0, 0
                for lo in range(0, sequences.shape[0], batch_size):
                    rows = order[lo : lo + batch_size]
                    loss = loss_fn(self.model(sequences[rows]), targets[rows])
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    total, count = total + loss.item() * len(rows), count + len(rows)
                mean = total / max(count, 1)
        self.model.eval()
        return mean

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "shuffle_rng": self.shuffle_rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.shuffle_rng.set_state(state["shuffle_rng"])

    # torch.Generator pickles only on recent torch; store its state explicitly (as the env core does)
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["shuffle_rng"] = state["shuffle_rng"].get_state()
        return state

    def __setstate__(self, state: dict) -> None:
        rng_state = state.pop("shuffle_rng")
        self.__dict__.update(state)
        self.shuffle_rng = torch.Generator()
        self.shuffle_rng.set_state(rng_state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(V={self.model.vocab_size}, batch_size={self.batch_size})"


class PrefixDiscriminatorReward(_LearnedPrefixReward):
    """A discriminator of prefixes: Q_t = P(real | Y_1:t) for t < T, from a :class:`PrefixScorer`
    that scores all T prefixes of a sequence in one pass (Li et al. 2017, REGS; MaskGAN's
    per-token discriminator). At T: the reward model's score (D(Y)), as every strategy.

    :meth:`fit` trains it on every prefix of the real sequences (label 1) and of G's negatives
    (label 0) with a per-position binary cross-entropy; :mod:`seqgan_gym.algorithm1` and
    :class:`~seqgan_gym.agents.callbacks.DiscriminatorUpdateCallback` call it with D's own
    negatives, in pre-training and in every d-step.

    :param model: the scorer (its outputs are logits).
    :param lr: Adam's learning rate (the loop passes ``dis_lr``).
    :param batch_size: sequences per mini-batch.
    :param seed: seed of the mini-batch order.
    """

    name = "prefix_discriminator"

    def prefix_probs(self, sequences: torch.Tensor) -> torch.Tensor:
        """P(real | Y_1:t) for every prefix: sequences (B, T') -> (B, T')."""
        return torch.sigmoid(self._outputs(sequences))

    def _prefix_rewards(self, prefix: torch.Tensor, rng) -> torch.Tensor:
        return self.prefix_probs(prefix)[:, -1]

    def fit(self, real: torch.Tensor, negatives: torch.Tensor, epochs: int = 1,
            reward_model: RewardModel | None = None) -> dict[str, float]:
        """``epochs`` epochs over real (1) + negatives (0), every prefix; returns the last epoch's
        ``loss`` and the accuracies on ``real`` / ``negatives`` over all prefixes after it."""
        sequences = torch.cat([real.to(negatives.device), negatives])
        labels = torch.cat([torch.ones(len(real)), torch.zeros(len(negatives))])[:, None]
        labels = labels.expand(-1, sequences.shape[1]).contiguous()
        loss = self._epochs(sequences, labels, epochs, F.binary_cross_entropy_with_logits)
        return {"loss": loss,
                "acc_real": (self._outputs(real) > 0).float().mean().item(),
                "acc_fake": (self._outputs(negatives) <= 0).float().mean().item()}


class CriticReward(_LearnedPrefixReward):
    """A learned critic of prefixes: Q_t = V(Y_1:t) for t < T, a :class:`PrefixScorer` regressing
    the final reward of the sequences it has seen (the Monte-Carlo value target of Bahdanau et al.
    2017's actor-critic, without their temporal-difference bootstrap). At T: the reward model's score.

    It learns (mean squared error over every prefix length t < T against the sequence's final
    reward) from two sources: :meth:`observe`, every finished batch of the environment with the
    rewards the agent got (``online_steps`` Adam steps on the whole batch, after its Q_t were
    handed out, so a batch's own rewards never leak into its Q); and :meth:`fit`, G's fresh
    negatives scored by the reward model (in pre-training and every d-step of the loop). Its
    output bias starts at the mean of the first targets it sees (rewards far from 0, such as
    the oracle's log-likelihood, are then learnt at once).

    :param model: the scorer (its outputs are values).
    :param lr: Adam's learning rate.
    :param batch_size: sequences per mini-batch of :meth:`fit`.
    :param seed: seed of the mini-batch order.
    :param online_steps: Adam steps per finished batch in :meth:`observe` (0: learn only in :meth:`fit`).
    """

    name = "critic"

    def __init__(self, model: PrefixScorer, lr: float = 1e-3, batch_size: int = 64, seed: int = 0,
                 online_steps: int = 1) -> None:
        super().__init__(model, lr, batch_size, seed)
        if online_steps < 0:
            raise ValueError(f"online_steps must be >= 0, got {online_steps}")
        self.online_steps = int(online_steps)
        self.started = False
        """Whether the output bias has been set from the first targets."""
        self.last_loss: float | None = None
        """The mean squared error of the latest :meth:`observe` / :meth:`fit` pass."""

    def values(self, sequences: torch.Tensor) -> torch.Tensor:
        """V(Y_1:t) for every prefix: sequences (B, T') -> (B, T')."""
        return self._outputs(sequences)

    def _prefix_rewards(self, prefix: torch.Tensor, rng) -> torch.Tensor:
        return self.values(prefix)[:, -1]

    def regress(self, sequences: torch.Tensor, final_rewards: torch.Tensor, epochs: int = 1,
                batch_size: int | None = None) -> float:
        """``epochs`` epochs of V(Y_1:t) -> final reward over t < T; returns the last epoch's mean
        squared error (before each step)."""
        if sequences.shape[1] < 2:  # T = 1: no prefix before the last token, nothing to learn
            return 0.0
        final_rewards = final_rewards.detach().float().to(self.model.device)
        if not self.started:
            with torch.no_grad():
                self.model.head.bias.fill_(final_rewards.mean().item())
            self.started = True
        targets = final_rewards[:, None].expand(-1, sequences.shape[1] - 1).contiguous()

        def loss_fn(values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(values[:, :-1], target)  # V(Y_1:T) is never used: Q_T is the score

        self.last_loss = self._epochs(sequences, targets, epochs, loss_fn, batch_size)
        return self.last_loss

    def observe(self, sequences: torch.Tensor, rewards: torch.Tensor) -> None:
        if self.online_steps:
            self.regress(sequences, rewards, self.online_steps, batch_size=sequences.shape[0])

    def fit(self, real: torch.Tensor, negatives: torch.Tensor, epochs: int = 1,
            reward_model: RewardModel | None = None) -> dict[str, float]:
        """``epochs`` epochs of regression on ``negatives`` (G's samples: the critic values G's own
        continuations) scored by ``reward_model`` (default: the bound one). ``real`` is not used."""
        scorer = reward_model or self.reward_model
        if scorer is None:
            raise ValueError("the critic learns from a reward model's scores: bind it to an "
                             "environment or pass reward_model=")
        return {"loss": self.regress(negatives, scorer.score(negatives), epochs)}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "started": self.started}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.started = bool(state["started"])


# ---------------------------------------------------------------------------- the one factory
def make_intermediate_reward(
    name: str | IntermediateReward,
    *,
    vocab_size: int,
    device: str | torch.device = "cpu",
    generator: LSTMLanguageModel | None = None,
    init_seed: int = 0,
    shuffle_seed: int = 0,
    lr: float = 1e-3,
    batch_size: int = 64,
) -> IntermediateReward:
    """The strategy ``name`` names (one of :data:`seqgan_gym.config.INTERMEDIATE_REWARDS`), or
    ``name`` itself if it is an :class:`IntermediateReward`.

    The learned two get a :class:`PrefixScorer` started from ``generator``'s embedding and LSTM
    when one is given (the training loop's G), else a fresh one of V = ``vocab_size`` seeded by
    ``init_seed`` (untrained: the critic learns online from the environment's episodes, the
    prefix discriminator from :meth:`~IntermediateReward.fit` or the D-update callback), on
    ``device``; ``lr``, ``batch_size`` and ``shuffle_seed`` (mini-batch order) are their training's.

    :raises ValueError: an unknown name (one line naming the choices).
    """
    if isinstance(name, IntermediateReward):
        return name
    if not isinstance(name, str) or name not in INTERMEDIATE_REWARDS:
        raise ValueError(f"unknown intermediate reward {name!r}; the names are "
                         f"{', '.join(INTERMEDIATE_REWARDS)}, or pass an IntermediateReward")
    if name == "mc_rollout":
        return MonteCarloRollout()
    if name == "terminal":
        return TerminalReward()
    if generator is not None:
        model = PrefixScorer.from_generator(generator, seed=init_seed)
    else:
        model = PrefixScorer(vocab_size, seed=init_seed)
    model = model.to(device)
    cls = PrefixDiscriminatorReward if name == "prefix_discriminator" else CriticReward
    return cls(model, lr=lr, batch_size=batch_size, seed=shuffle_seed)


# ---------------------------------------------------------------------------- the d-steps
def train_with_negatives(
    discriminator,
    d_optimizer: torch.optim.Optimizer | None,
    intermediate: IntermediateReward | None,
    real: torch.Tensor,
    sample_negatives: Callable[[int], torch.Tensor],
    *,
    n_negatives: int,
    d_steps: int,
    k: int,
    batch_size: int,
    shuffle_rng: torch.Generator | None,
    reward_model: RewardModel | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Algorithm 1's d-steps for D and, beside it, for a trainable intermediate reward, on the same
    negatives: ``d_steps`` x (``sample_negatives(n_negatives)``, ``k`` epochs of D by
    :func:`seqgan_gym.training.updates.train_discriminator`), then ``k`` epochs of
    ``intermediate.fit(real, negatives)`` on each of those negative sets, in order (the critic so
    learns the scores of the D just trained). Without D (``discriminator`` None: a BLEU or oracle
    reward) the negatives are drawn for the strategy alone; without a trainable strategy this is
    ``train_discriminator`` exactly (the same draws, the same order).

    :param reward_model: the critic's scorer when it is not bound yet (pre-training).
    :return: D's statistics (``train_discriminator``'s; ``{}`` without D) and the strategy's
        (``{}`` without one).
    """
    drawn: list[torch.Tensor] = []

    def sample(n: int) -> torch.Tensor:
        negatives = sample_negatives(n)
        drawn.append(negatives)
        return negatives

    d_stats: dict[str, float] = {}
    if discriminator is not None:
        d_stats = training.train_discriminator(discriminator, d_optimizer, real, sample,
                                               n_negatives=n_negatives, d_steps=d_steps, k=k,
                                               batch_size=batch_size, shuffle_rng=shuffle_rng)
    i_stats: dict[str, float] = {}
    if intermediate is not None and intermediate.trainable:
        if discriminator is None:
            drawn = [sample_negatives(n_negatives) for _ in range(d_steps)]
        for negatives in drawn:
            i_stats = intermediate.fit(real, negatives, epochs=k, reward_model=reward_model)
    return d_stats, i_stats
