"""A discriminator whose logit is a learned log-density ratio (issue 14's "D that carries signal").

Between real data p and the generator G, the best possible discriminator is
``D*(Y) = p(Y) / (p(Y) + G(Y))``: its logit is the log-density ratio ``log p(Y) - log G(Y)``
(Goodfellow et al. 2014; the same form underlies noise-contrastive estimation and residual
energy-based models of text). p is unknown; a language model of the real data, ``p_ref``, stands in
for it, and the two log-likelihoods get weights of their own, which D's update fits. Here ``p_ref``
is G's own MLE run stopped at its best validation NLL, before it overfits the 10,000 training
sequences (``benchmarks/d_signal.py`` measures how well this ranks G's samples against the paper's
CNN)::

    logit(Y) = (w_ref * log p_ref(Y) - w_gen * log G(Y)) / T + bias,     D(Y) = sigmoid(logit(Y))

starting from the plain ratio (w_ref = w_gen = 1; the bias set by the first training batch so that
its mean logit is 0). ``w_ref``, ``w_gen`` and ``bias`` are
D's only trainable parameters; D's ordinary update (cross-entropy on real
against fresh negatives, :func:`seqgan_gym.training.updates.train_discriminator`) fits them. G is read live:
when G changes, D's judgement follows at once, with no gradient into G. ``p_ref`` is frozen.

**The tempered ratio** (``alpha`` given): ``w_gen = alpha * w_ref`` is tied, so D's update fits only
the scale ``w_ref`` and the bias, which change D's calibration but not its ranking::

    logit(Y) = w_ref * (log p_ref(Y) - alpha * log G(Y)) / T + bias

Why: fitted freely, the weights settle on telling real from generated, which the ``-log G`` term does
almost perfectly because G overfits its 10,000 training sequences; but ``-log G`` ranks G's own
samples *against* their quality, while ``log p_ref`` ranks them with it. ``alpha`` sets that trade:
small alpha ranks by quality but separates poorly, alpha 1 separates but hardly ranks
(``benchmarks/d_signal.py`` sweeps it; docs/results/d-signal.md). As a reward, maximising
``E_G[log p_ref - alpha log G]`` is maximising ``E_G[log p_ref] + alpha H(G)``, whose optimum is
``G ~ p_ref^(1/alpha)``: p_ref at temperature ``alpha``. So alpha 1 pursues ``p_ref`` itself and
alpha < 1 a sharpened ``p_ref``.

The reward ``D(Y)`` then prefers sequences that ``p_ref`` finds likelier than G does: maximising it
moves G toward ``p_ref``; how far is what the adversarial phase measures.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqgan_gym.models.discriminator import FAKE, REAL
from seqgan_gym.models.likelihood import sequence_log_likelihood
from seqgan_gym.models.lstm import LSTMLanguageModel, check_token_ids


class DensityRatioDiscriminator(nn.Module):
    """D with ``logit(Y) = (w_ref * log p_ref(Y) - w_gen * log G(Y)) / T + bias``; (B, T) ids -> (B, 2).
    With ``alpha``, ``w_gen = alpha * w_ref``.

    Drop-in for :class:`~seqgan_gym.models.discriminator.Discriminator`: ``forward``, ``prob_real``,
    ``l2_penalty``, ``check_tokens``, ``vocab_size``, ``seq_len``.

    :param reference: ``p_ref``, a language model of the real data (frozen here; keep your own copy).
    :param generator: G, read live (never trained by D's loss).
    :param batch_size: sequences per language-model pass (bounds the (batch, T, V) logits' memory).
    :param alpha: None: ``w_gen`` is fitted like ``w_ref``. A number > 0: the tempered ratio,
        ``w_gen = alpha * w_ref`` (only the scale and the bias are fitted; see the module docstring).
    """

    def __init__(self, reference: LSTMLanguageModel, generator: LSTMLanguageModel, batch_size: int = 256,
                 alpha: float | None = None):
        super().__init__()
        if (reference.vocab_size, reference.seq_len) != (generator.vocab_size, generator.seq_len):
            raise ValueError(f"reference has V={reference.vocab_size}, T={reference.seq_len}; generator "
                             f"has V={generator.vocab_size}, T={generator.seq_len}")
        if alpha is not None and not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0 or None, got {alpha}")
        self.vocab_size, self.seq_len = generator.vocab_size, generator.seq_len
        self.alpha = alpha
        self.w_ref = nn.Parameter(torch.ones(()))
        if alpha is None:
            self.w_gen = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))
        # data-dependent initialisation (Salimans & Kingma 2016): the first training batch sets the
        # bias so its mean logit is 0. The score sits far from 0 (about -4 per token, with a spread
        # of 0.3), and from bias 0 Adam spent D's whole pre-training shrinking w_ref to lift the
        # logits instead of fitting the separation. A buffer, so a saved D is not re-initialised.
        self.register_buffer("bias_initialised", torch.zeros((), dtype=torch.bool))
        # a tuple, so neither model registers as a submodule: their weights are not D's parameters
        self._models = (reference.requires_grad_(False).eval(), generator)
        self.batch_size = batch_size

    @property
    def reference(self) -> LSTMLanguageModel:
        return self._models[0]

    @property
    def generator(self) -> LSTMLanguageModel:
        return self._models[1]

    def follow(self, generator: LSTMLanguageModel) -> None:
        """Read another G from now on (e.g. the SB3 actor that replaces the MLE generator)."""
        if (generator.vocab_size, generator.seq_len) != (self.vocab_size, self.seq_len):
            raise ValueError("the new generator has another vocabulary size or length")
        self._models = (self.reference, generator)

    def log_likelihoods(self, sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``log p_ref(Y) / T`` and ``log G(Y) / T`` per sequence: (B, T) -> two (B,), no gradient."""
        self.check_tokens(sequences)
        with torch.no_grad():
            ref = sequence_log_likelihood(self.reference, sequences, self.batch_size)
            gen = sequence_log_likelihood(self.generator, sequences, self.batch_size)
        device = self.bias.device
        return ref.to(device) / self.seq_len, gen.to(device) / self.seq_len

    def real_logit(self, sequences: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """The "real" logit per sequence: (B, T) -> (B,) (``batch_size`` is ignored: the language
        models run in batches of ``self.batch_size``)."""
        ref, gen = self.log_likelihoods(sequences)
        w_gen = self.w_gen if self.alpha is None else self.alpha * self.w_ref
        score = self.w_ref * ref - w_gen * gen
        if self.training and not self.bias_initialised:
            with torch.no_grad():
                self.bias.copy_(-score.mean())
                self.bias_initialised.fill_(True)
        return score + self.bias

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 2): column 1 (real) is the logit above, column 0 (generated) is 0."""
        logit = self.real_logit(sequences)
        columns = {REAL: logit, FAKE: torch.zeros_like(logit)}
        return torch.stack([columns[0], columns[1]], dim=1)

    def l2_penalty(self) -> torch.Tensor:
        return self.bias.new_zeros(())

    @torch.no_grad()
    def prob_real(self, sequences: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """D(Y) = sigmoid(logit(Y)): (B, T) -> (B,) in [0, 1]."""
        return torch.sigmoid(self.real_logit(sequences))

    def check_tokens(self, sequences: torch.Tensor) -> None:
        check_token_ids(sequences, self.vocab_size, self.seq_len)
