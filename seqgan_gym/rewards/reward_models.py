"""Reward sources of SeqGAN, behind one small interface.

A reward model scores *finished* sequences: ``score(sequences (M, T) long) -> (M,) float32``, with
no gradient. Everything that shapes rewards over time (the paper's Monte-Carlo search, terminal-only
rewards) lives elsewhere (:mod:`seqgan_gym.rewards.rollout`, the environments) and only ever calls
:meth:`RewardModel.score`, so any reward model can be used terminal-only or rollout-shaped.

Implementations here:

* :class:`DiscriminatorReward` - the GAN reward, D's probability that a sequence is real. It holds a
  *reference* to the discriminator, the same object the discriminator-update callback trains.
* :class:`BleuReward` - PG-BLEU, the paper's baseline: sentence BLEU against the real data.
* :class:`OracleLikelihoodReward` - the oracle's mean per-token log-likelihood: a diagnostic upper
  bound that only exists in the synthetic experiment, not a GAN reward.

:func:`make_reward_model` is the one place a name (``"discriminator"``, ``"untrained"``, ``"bleu"``,
``"oracle"``) becomes one of these; the environments and the experiment both call it.

Adding a reward means subclassing :class:`RewardModel` and implementing :meth:`RewardModel._score`::

    class LengthReward(RewardModel):
        vocab_size, seq_len = None, None   # any vocabulary, any length
        def _score(self, sequences):       # (M, T) long -> list, array or tensor of M floats
            return (sequences != 0).sum(1) / sequences.shape[1]

:meth:`RewardModel.score` does the rest once for every model: it runs ``_score`` without gradient,
converts the result to a float32 tensor on the sequences' device, checks its shape and refuses
NaN / infinite rewards with an error naming the model.
"""

from __future__ import annotations

import abc
from pathlib import Path

import torch
from torch import nn

from seqgan_gym.config import REWARDS
from seqgan_gym.data.corpus import id_lists
from seqgan_gym.evaluation.bleu import SentenceBleu
from seqgan_gym.models.lstm import LSTMLanguageModel


class NonFiniteRewardError(ValueError):
    """A reward model returned NaN or infinite rewards."""


class RewardModel(abc.ABC):
    """Scores finished token sequences; the interface every reward source implements.

    Subclasses implement :meth:`_score` and set two attributes the environments validate against
    their own configuration (``None`` means "any"):

    :ivar vocab_size: the vocabulary size V the model expects.
    :ivar seq_len: the sequence length T the model expects.
    """

    vocab_size: int | None = None
    seq_len: int | None = None

    @property
    def name(self) -> str:
        """The name used in error messages (the class name)."""
        return type(self).__name__

    @abc.abstractmethod
    def _score(self, sequences: torch.Tensor):
        """Rewards of ``sequences`` (M, T): a (M,) tensor, array or list of floats."""

    def score(self, sequences: torch.Tensor) -> torch.Tensor:
        """The reward of each finished sequence: sequences (M, T) long -> (M,) float32, no grad.

        Raises :class:`NonFiniteRewardError` (a ``ValueError``) naming this model if any reward is
        NaN or infinite, and ``ValueError`` if the model returns the wrong number of rewards.
        """
        if sequences.dim() != 2:
            raise ValueError(
                f"{self.name}.score expects sequences of shape (M, T), got {tuple(sequences.shape)}"
            )
        with torch.no_grad():
            return self._checked(self._score(sequences), sequences)

    def score_rollouts(self, completed: torch.Tensor, n_rollouts: int, prefix_len: int) -> torch.Tensor:
        """:meth:`score` of Monte-Carlo completions: rows ``b * N .. b * N + N - 1`` of
        ``completed`` (B * N, T) complete the same prefix of ``prefix_len`` tokens. The search
        (:mod:`seqgan_gym.rewards.rollout`) calls this; it equals ``score(completed)``, and a model that
        can reuse the shared prefix overrides :meth:`_score_rollouts` to be faster."""
        if completed.dim() != 2:
            raise ValueError(f"{self.name}.score_rollouts expects sequences of shape (M, T), got "
                             f"{tuple(completed.shape)}")
        with torch.no_grad():
            return self._checked(self._score_rollouts(completed, n_rollouts, prefix_len), completed)

    def _score_rollouts(self, completed: torch.Tensor, n_rollouts: int, prefix_len: int):
        """Rewards of Monte-Carlo completions (see :meth:`score_rollouts`); default ``_score``."""
        return self._score(completed)

    def _checked(self, rewards, sequences: torch.Tensor) -> torch.Tensor:
        """``rewards`` as a (M,) float32 tensor on the sequences' device, or a one-line error."""
        rewards = torch.as_tensor(rewards, dtype=torch.float32).to(sequences.device)
        if rewards.shape != (sequences.shape[0],):
            raise ValueError(
                f"{self.name} returned rewards of shape {tuple(rewards.shape)} for "
                f"{sequences.shape[0]} sequences; expected ({sequences.shape[0]},)"
            )
        bad = ~torch.isfinite(rewards)
        if bad.any():
            first = int(bad.nonzero()[0, 0])
            raise NonFiniteRewardError(
                f"reward model {self.name} returned {int(bad.sum())} non-finite reward(s) "
                f"(NaN or inf) for {sequences.shape[0]} sequences; first at row {first}: "
                f"reward {rewards[first].item()} for tokens {sequences[first].tolist()}"
            )
        return rewards

    def __call__(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.score(sequences)

    def check_compatible(self, vocab_size: int, seq_len: int) -> None:
        """Raise ``ValueError`` unless this model accepts V = ``vocab_size`` and T = ``seq_len``."""
        for what, mine, theirs in (("vocab_size", self.vocab_size, vocab_size),
                                   ("seq_len", self.seq_len, seq_len)):
            if mine is not None and mine != theirs:
                raise ValueError(
                    f"reward model {self.name} has {what}={mine} but the environment has "
                    f"{what}={theirs}; build the reward model for the same vocabulary and length"
                )

    def __repr__(self) -> str:
        return f"{self.name}(vocab_size={self.vocab_size}, seq_len={self.seq_len})"


class DiscriminatorReward(RewardModel):
    """The SeqGAN reward: D's probability that a sequence is real, ``D(Y) = P(real | Y)``.

    It keeps a reference to ``discriminator``, never a copy: the discriminator-update callback
    trains that same object in place and the next reward already uses the new D.

    :param discriminator: any module with ``prob_real(seqs (M, T) long, batch_size=...) -> (M,)``
        (eval mode, no dropout, no grad), e.g. :class:`seqgan_gym.models.discriminator.Discriminator`.
        Its ``vocab_size`` / ``seq_len`` attributes, when present, are checked by the envs.
    :param batch_size: sequences per forward pass of D (bounds memory; not a result change).
        256 keeps the paper's CNN's window buffer (20 x 256 x 1280 floats, 26 MB) near the
        caches; larger chunks spill it to memory.
    """

    def __init__(self, discriminator: nn.Module, batch_size: int = 256) -> None:
        if not callable(getattr(discriminator, "prob_real", None)):
            raise TypeError(
                f"DiscriminatorReward needs a discriminator with a prob_real(seqs, batch_size=...) "
                f"method, got {type(discriminator).__name__}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.discriminator = discriminator
        self.batch_size = batch_size
        self.vocab_size = getattr(discriminator, "vocab_size", None)
        self.seq_len = getattr(discriminator, "seq_len", None)

    def _score(self, sequences: torch.Tensor) -> torch.Tensor:
        device = _module_device(self.discriminator, sequences.device)
        return self.discriminator.prob_real(sequences.to(device), batch_size=self.batch_size)

    def _score_rollouts(self, completed: torch.Tensor, n_rollouts: int, prefix_len: int):
        """The paper's D computes the prefix's convolution windows once per prefix
        (:meth:`seqgan_gym.models.discriminator.Discriminator.prob_real_rollouts`); other modules
        score every row."""
        if not callable(getattr(self.discriminator, "prob_real_rollouts", None)):
            return self._score(completed)
        device = _module_device(self.discriminator, completed.device)
        return self.discriminator.prob_real_rollouts(completed.to(device), n_rollouts, prefix_len,
                                                     batch_size=self.batch_size)


class BleuReward(RewardModel):
    """The PG-BLEU reward (the paper's baseline): sentence BLEU of a finished sequence against the
    real data, all of it as references, in [0, 1].

    Computed by :class:`seqgan_gym.evaluation.bleu.SentenceBleu`, which equals sacrebleu's
    ``BLEU(tokenize="none").sentence_score`` (token ids joined by spaces; to floating-point
    rounding) but reads the references once, not once per hypothesis, and scores a batch of
    hypotheses vectorised (``benchmarks/bleu_speed.py``; docs/results/speed.md). Defaults: BLEU-4,
    "floor" smoothing 0.1 (method 1), no effective order.

    :param references: (R, T) long tensor / array, or a list of sequences (e.g. the 10,000 real
        training sequences).
    :param max_ngram_order, smooth_method, smooth_value, effective_order: as in ``SentenceBleu``.
    :param vocab_size: if given, the envs check it against theirs.
    :param eos_token: for a corpus with an end token (:data:`seqgan_gym.data.corpus.EOS`): references and
        scored sequences are read up to their first ``eos_token``. None (default): every position.
    """

    def __init__(self, references, max_ngram_order: int = 4, smooth_method: str = "floor",
                 smooth_value: float | None = None, effective_order: bool = False,
                 vocab_size: int | None = None, eos_token: int | None = None) -> None:
        self.eos_token = eos_token
        if eos_token is not None:
            references = id_lists(references, eos_token)
        self.bleu = SentenceBleu(references, max_ngram_order, smooth_method, smooth_value, effective_order)
        self.vocab_size = vocab_size
        self.seq_len = None  # BLEU scores any length

    def _score(self, sequences: torch.Tensor):
        if self.eos_token is not None:
            return self.bleu.scores(id_lists(sequences, self.eos_token))
        return self.bleu.scores(sequences)

    def __repr__(self) -> str:
        return f"BleuReward({self.bleu!r})"


class OracleLikelihoodReward(RewardModel):
    """Diagnostic reward: the oracle's mean per-token log-likelihood ``(1/T) sum_t log G_o(y_t|y_<t)``.

    **Not a GAN reward.** It reads the true data distribution, which only exists in the synthetic
    experiment; maximising it is maximising exactly what NLL_oracle measures. Use it as an upper
    bound on what any learned reward (D, BLEU) can deliver to the same RL machinery, or to debug the
    policy gradient. Values are negative log-probabilities per token (about -5.75 on the paper
    oracle's own samples, about -10.3 on a random generator's).

    :param oracle: the oracle language model.
    :param batch_size: sequences per forward pass (the (batch, T, V) logits bound memory).
    """

    def __init__(self, oracle: LSTMLanguageModel, batch_size: int = 256) -> None:
        if not isinstance(oracle, LSTMLanguageModel):
            raise TypeError(f"oracle must be an LSTMLanguageModel, got {type(oracle).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.oracle = oracle
        self.batch_size = batch_size
        self.vocab_size = oracle.vocab_size
        self.seq_len = None  # the LSTM scores any length

    def _score(self, sequences: torch.Tensor) -> torch.Tensor:
        seqs = sequences.to(_module_device(self.oracle, sequences.device))
        chunks = [
            self.oracle.log_prob(seqs[i : i + self.batch_size]).mean(dim=1)
            for i in range(0, seqs.shape[0], self.batch_size)
        ]
        return torch.cat(chunks) if chunks else seqs.new_zeros(0, dtype=torch.float32)


#: The names :func:`make_reward_model` turns into reward models: a run's rewards
#: (:data:`seqgan_gym.config.REWARDS`) and, for an environment alone, "untrained" (a fresh D).
REWARD_NAMES = (*REWARDS, "untrained")


def make_reward_model(
    name: str | RewardModel,
    *,
    vocab_size: int,
    seq_len: int,
    device: str | torch.device = "cpu",
    discriminator: nn.Module | None = None,
    oracle: LSTMLanguageModel | str | Path | None = None,
    references=None,
    eos_token: int | None = None,
    bleu_order: int = 4,
    seed: int = 0,
) -> RewardModel:
    """The reward model ``name`` names, for sequences of V = ``vocab_size`` tokens and length T =
    ``seq_len``, built from the one ingredient that name needs; the other ingredients are ignored
    (nothing is built or loaded for a name that does not use it):

    - ``"discriminator"``: :class:`DiscriminatorReward` over ``discriminator`` (required: the
      trained D, used as it is, never copied or moved).
    - ``"untrained"``: :class:`DiscriminatorReward` over a fresh, **untrained** paper CNN
      (:func:`seqgan_gym.models.discriminator.paper_discriminator` ``(V, T, seed)`` on ``device``; about
      4 M parameters at the paper's size). Smoke tests only: its rewards carry no signal.
    - ``"bleu"``: :class:`BleuReward` (PG-BLEU-``bleu_order``) against ``references`` (required:
      the real sequences), read up to ``eos_token`` when one is given.
    - ``"oracle"``: :class:`OracleLikelihoodReward` over ``oracle`` (required): an
      ``LSTMLanguageModel`` (used as it is), ``"paper"`` (the authors' oracle, found by
      :func:`seqgan_gym.data.paper_oracle.find_paper_oracle`), ``"random"`` (a fresh N(0, 1) oracle,
      :func:`seqgan_gym.models.oracle.random_oracle` ``(seed, V, T)``) or a file path; a loaded or random
      oracle is put on ``device``.

    A :class:`RewardModel` passed as ``name`` is returned as it is. Every result is checked against
    V and T (:meth:`RewardModel.check_compatible`).

    :raises ValueError: an unknown name, or a name whose ingredient is missing (one line naming it).
    """
    if isinstance(name, RewardModel):
        reward = name
    elif not isinstance(name, str):
        raise TypeError(f"a reward model is a RewardModel or one of {REWARD_NAMES}, got {name!r}")
    elif name == "discriminator":
        if discriminator is None:
            raise ValueError("reward 'discriminator' needs discriminator= (the trained D); "
                             "'untrained' builds an untrained one for smoke tests")
        reward = DiscriminatorReward(discriminator)
    elif name == "untrained":
        from seqgan_gym.models.discriminator import paper_discriminator  # lazy: only this name needs it

        reward = DiscriminatorReward(paper_discriminator(vocab_size, seq_len, int(seed)).to(device))
    elif name == "bleu":
        if references is None:
            raise ValueError("reward 'bleu' needs references= (the real sequences BLEU compares with)")
        reward = BleuReward(references, max_ngram_order=bleu_order, vocab_size=vocab_size,
                            eos_token=eos_token)
    elif name == "oracle":
        if oracle is None:
            raise ValueError("reward 'oracle' needs oracle= (an LSTMLanguageModel, 'paper', 'random' "
                             "or an oracle file)")
        reward = OracleLikelihoodReward(_oracle_model(oracle, vocab_size, seq_len, seed, device))
    else:
        raise ValueError(f"unknown reward {name!r}; the names are {REWARD_NAMES}, or pass a RewardModel")
    reward.check_compatible(vocab_size, seq_len)
    return reward


def _oracle_model(oracle: LSTMLanguageModel | str | Path, vocab_size: int, seq_len: int, seed: int,
                  device: str | torch.device) -> LSTMLanguageModel:
    """``oracle`` itself if it is a model; else the oracle it names, loaded (or drawn) on ``device``."""
    from seqgan_gym.data.paper_oracle import find_paper_oracle
    from seqgan_gym.models.oracle import load_oracle, random_oracle

    if isinstance(oracle, LSTMLanguageModel):
        model = oracle
    elif isinstance(oracle, str) and oracle == "random":
        model = random_oracle(int(seed), vocab_size=vocab_size, seq_len=seq_len).to(device)
    elif isinstance(oracle, (str, Path)):
        path = find_paper_oracle() if oracle == "paper" else Path(oracle)
        model = load_oracle(path, seq_len=seq_len).to(device)
    else:
        raise TypeError(
            f"oracle must be an LSTMLanguageModel, 'paper', 'random' or a file path, got {oracle!r}"
        )
    if model.vocab_size != vocab_size:
        hint = " (use oracle='random' for another vocabulary size)" if oracle == "paper" else ""
        raise ValueError(f"the oracle has vocab_size={model.vocab_size} but vocab_size={vocab_size} "
                         f"was asked for{hint}")
    return model


def _module_device(module: nn.Module, default: torch.device) -> torch.device:
    p = next(iter(module.parameters()), None)
    return p.device if p is not None else default
