"""The paper's discriminator D_phi: a CNN text classifier over whole token sequences.

Architecture (Yu et al. 2017, appendix; the authors' TensorFlow ``discriminator.py``)::

    tokens (B, T) --embedding 64, init U(-1, 1)--> (B, T, 64)
    for each filter width w in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
        with n in (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160) filters:
        VALID convolution over w consecutive embeddings (all 64 columns) + bias, ReLU
        -> (B, T - w + 1, n), max over time -> (B, n)
    concatenate -> x (B, 1720)
    highway:  t = sigmoid(x Wt + bt),  g = relu(x Wg + bg),  y = t * g + (1 - t) * x
    dropout, keep probability 0.75 (``nn.Dropout(p=0.25)``), training only
    output linear 1720 -> 2 logits; class 1 = real, class 0 = generated

    loss = mean cross-entropy + 0.2 * (sum(W_out^2) + sum(b_out^2)) / 2

The L2 term is the authors' ``l2_reg_lambda * (tf.nn.l2_loss(W) + tf.nn.l2_loss(b))`` and covers
the output layer only. Initialisation follows the authors: embedding U(-1, 1); convolution and
output weights truncated N(0, 0.1^2) (cut at 2 std, as TF), their biases 0.1; highway weights and
biases Glorot-uniform (TF's ``get_variable`` default), plus ``highway_gate_bias`` on the gate's
bias. The authors' ``highway()`` helper defaults that offset to -2, but their model calls it with
0 (``highway(h_pool_flat, size, 1, 0)``), so 0 is the default here; pass -2 for the helper's.
Optimiser: Adam, lr 1e-4 (:func:`make_discriminator_optimizer`).

Cost: with T = 20 and the paper's filters the forward pass is 27,021,280 FLOPs per sequence
(multiply-add = 2 FLOPs): 15,180,800 in the convolutions, 11,833,600 in the highway layer and
6,880 in the output layer; see :func:`discriminator_flops`. Training costs about 3x that.

How it is computed. The bias and ReLU come after the max-pool, on (B, n) instead of
(B, T - w + 1, n): the bias is the same at every position and ReLU is monotone, so
``max_t relu(conv_t + b) = relu(max_t conv_t + b)``, values and gradients alike. The convolutions
and the max-pool are one function, :func:`seqgan_gym._kernels.conv.conv_max_pool` (one buffer of
windows for all widths, a written-out backward). The tests check values and gradients against a
literal ``F.conv2d`` + ``F.max_pool2d`` port.

Layout convention: token tensors are ``(batch, T)`` of dtype ``torch.long``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqgan_gym._kernels.conv import conv_max_pool
from seqgan_gym.models.lstm import check_token_ids
from seqgan_gym.utils import make_adam

PAPER_FILTER_SIZES: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
PAPER_NUM_FILTERS: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
PAPER_EMB_DIM = 64
PAPER_DROPOUT = 0.25  # the authors' dropout_keep_prob = 0.75
PAPER_L2_REG_LAMBDA = 0.2
PAPER_LR = 1e-4

REAL, FAKE = 1, 0  # class indices, as the authors' one-hot labels [0, 1] = real, [1, 0] = fake


def discriminator_flops(
    seq_len: int,
    emb_dim: int = PAPER_EMB_DIM,
    filter_sizes: Sequence[int] = PAPER_FILTER_SIZES,
    num_filters: Sequence[int] = PAPER_NUM_FILTERS,
) -> int:
    """Forward FLOPs for one sequence, counting a multiply-add as 2 FLOPs.

    Counts the convolutions (``(T - w + 1) * w * emb_dim * n`` multiply-adds per width), the two
    highway matrices (``2 * F^2``, F = sum(num_filters)) and the output layer (``2 * F``). Bias
    adds, activations, max-pooling and the embedding look-up are not counted.
    """
    if len(filter_sizes) != len(num_filters):
        raise ValueError(
            f"filter_sizes and num_filters differ in length: {len(filter_sizes)} vs "
            f"{len(num_filters)}"
        )
    conv = sum((seq_len - w + 1) * w * emb_dim * n for w, n in zip(filter_sizes, num_filters))
    total = sum(num_filters)
    return 2 * (conv + 2 * total * total + 2 * total)


def _trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    """TF's ``truncated_normal(stddev=std)``: N(0, std^2) redrawn outside +-2 std."""
    return nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2 * std, b=2 * std)


class Discriminator(nn.Module):
    """SeqGAN's CNN discriminator: (B, T) token ids -> (B, 2) logits, class 1 = real.

    :param vocab_size: V, the number of token ids (the paper's synthetic setup: 5000).
    :param seq_len: T, the length of every input sequence (the paper: 20). Every filter width
        must be <= T (a VALID convolution needs at least one window); a larger width raises
        ``ValueError``.
    :param emb_dim: embedding size (the paper: 64).
    :param filter_sizes: convolution widths, in tokens (the paper: :data:`PAPER_FILTER_SIZES`).
    :param num_filters: number of filters of each width (the paper: :data:`PAPER_NUM_FILTERS`).
    :param dropout: drop probability before the output layer (the paper keeps 0.75: p = 0.25).
    :param l2_reg_lambda: weight of the L2 penalty on the output layer (the paper: 0.2).
    :param highway_gate_bias: added to the highway gate's initial bias. 0 as the authors' model
        (their ``highway()`` helper's default, -2, is overridden by their call).
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        emb_dim: int = PAPER_EMB_DIM,
        filter_sizes: Sequence[int] = PAPER_FILTER_SIZES,
        num_filters: Sequence[int] = PAPER_NUM_FILTERS,
        dropout: float = PAPER_DROPOUT,
        l2_reg_lambda: float = PAPER_L2_REG_LAMBDA,
        highway_gate_bias: float = 0.0,
    ) -> None:
        super().__init__()
        filter_sizes, num_filters = tuple(filter_sizes), tuple(num_filters)
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if len(filter_sizes) != len(num_filters) or not filter_sizes:
            raise ValueError(
                f"need one filter count per filter width, got {len(filter_sizes)} widths and "
                f"{len(num_filters)} counts"
            )
        if min(filter_sizes) < 1 or min(num_filters) < 1:
            raise ValueError(
                f"filter widths and counts must be >= 1, got {filter_sizes} and {num_filters}"
            )
        too_wide = [w for w in filter_sizes if w > seq_len]
        if too_wide:
            raise ValueError(
                f"filter widths {too_wide} exceed seq_len={seq_len}: a VALID convolution needs "
                f"w <= T (drop those widths or use longer sequences)"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a drop probability in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.emb_dim = emb_dim
        self.filter_sizes = filter_sizes
        self.num_filters = num_filters
        self.l2_reg_lambda = float(l2_reg_lambda)
        features = sum(num_filters)
        self.num_features = features

        self.embedding = nn.Embedding(vocab_size, emb_dim)
        # convs[i] maps one window of filter_sizes[i] embeddings, flattened to w * emb_dim values
        # in (position, embedding) order, to num_filters[i] activations.
        self.convs = nn.ModuleList(
            nn.Linear(w * emb_dim, n) for w, n in zip(filter_sizes, num_filters)
        )
        self.highway_transform = nn.Linear(features, features)  # g = relu(x Wg + bg)
        self.highway_gate = nn.Linear(features, features)  # t = sigmoid(x Wt + bt)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(features, 2)
        self.reset_parameters(highway_gate_bias)

    def reset_parameters(self, highway_gate_bias: float = 0.0) -> None:
        """The authors' initialisation (see the module docstring); uses torch's global RNG."""
        with torch.no_grad():
            self.embedding.weight.uniform_(-1.0, 1.0)
            for conv in self.convs:
                _trunc_normal_(conv.weight, 0.1)
                conv.bias.fill_(0.1)
            for layer in (self.highway_transform, self.highway_gate):
                # TF's default glorot_uniform for a (F, F) matrix and for an (F,) bias alike
                limit = math.sqrt(3.0 / layer.weight.shape[0])
                layer.weight.uniform_(-limit, limit)
                layer.bias.uniform_(-limit, limit)
            self.highway_gate.bias.add_(highway_gate_bias)
            _trunc_normal_(self.output.weight, 0.1)
            self.output.bias.fill_(0.1)

    # ------------------------------------------------------------------ forward
    def features(self, sequences: torch.Tensor) -> torch.Tensor:
        """Max-pooled convolution features: sequences (B, T) -> (B, sum(num_filters)), >= 0."""
        self.check_tokens(sequences)
        emb = self.embedding(sequences)  # (B, T, E)
        pooled = conv_max_pool(emb, self.filter_sizes, [conv.weight for conv in self.convs])
        bias = torch.cat([conv.bias for conv in self.convs])
        # bias and ReLU after the max: the bias is the same at every position and ReLU is
        # monotone, so this equals max-pooling relu(conv + b) over time
        return F.relu(pooled + bias)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Class logits: sequences (B, T) long -> (B, 2); column 1 is "real"."""
        return self.head(self.features(sequences))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Highway, dropout and output layer: features (B, F) -> class logits (B, 2)."""
        t = torch.sigmoid(self.highway_gate(x))
        g = F.relu(self.highway_transform(x))
        y = t * g + (1.0 - t) * x
        return self.output(self.dropout(y))

    def l2_penalty(self) -> torch.Tensor:
        """``l2_reg_lambda * (sum(W_out^2) + sum(b_out^2)) / 2``: the output layer's L2 term."""
        w, b = self.output.weight, self.output.bias
        return self.l2_reg_lambda * 0.5 * (w.square().sum() + b.square().sum())

    def loss(self, sequences: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy plus the L2 term: sequences (B, T), labels (B,) in {0, 1} -> scalar.

        Label 1 (:data:`REAL`) marks real data, 0 (:data:`FAKE`) generated sequences. This is the
        paper's ``-E_real[log D(Y)] - E_G[log(1 - D(Y))]`` over a mixed batch.
        """
        if labels.shape != sequences.shape[:1]:
            raise ValueError(
                f"expected one label per sequence, got labels {tuple(labels.shape)} for "
                f"sequences {tuple(sequences.shape)}"
            )
        logits = self(sequences)
        return F.cross_entropy(logits, labels.to(logits.device, torch.long)) + self.l2_penalty()

    @torch.no_grad()
    def real_logit(self, sequences: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """logit D(Y) = logits[:, real] - logits[:, generated], (B, T) -> (B,), in eval mode: D(Y)
        before the sigmoid, which rounds to exactly 0 or 1 in float32 past |logit| ~ 17 (ranks,
        as in :func:`seqgan_gym.evaluation.metrics.discriminator_signal`, need the logit)."""
        was_training = self.training
        self.eval()
        try:
            chunks = [self(sequences[i : i + batch_size].to(self.output.weight.device))
                      for i in range(0, sequences.shape[0], batch_size)]
        finally:
            self.train(was_training)
        logits = torch.cat(chunks) if chunks else torch.empty(0, 2)
        return logits[:, REAL] - logits[:, FAKE]

    @torch.no_grad()
    def prob_real(self, sequences: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """D(Y): the probability that each sequence is real, (B, T) -> (B,) float in [0, 1].

        Runs in eval mode (no dropout, as the authors' reward uses keep_prob 1.0) and without
        gradients, in chunks of ``batch_size`` sequences; restores the previous train/eval mode.
        This is the reward the generator sees. ``batch_size`` bounds the rows per forward pass,
        and with it the peak memory of the window buffer.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.check_tokens(sequences)
        device = self.output.weight.device
        was_training = self.training
        self.eval()
        try:
            chunks = [
                torch.softmax(self(sequences[i : i + batch_size].to(device)), dim=1)[:, REAL]
                for i in range(0, sequences.shape[0], batch_size)
            ]
        finally:
            self.train(was_training)
        if not chunks:
            return torch.empty(0, device=device)
        return torch.cat(chunks)

    @torch.no_grad()
    def prob_real_rollouts(
        self, completed: torch.Tensor, n_rollouts: int, prefix_len: int, batch_size: int = 2048
    ) -> torch.Tensor:
        """D(Y) of Monte-Carlo completions of shared prefixes: (B * N, T) -> (B * N,).

        Rows ``b * N .. b * N + N - 1`` of ``completed`` must all start with the same
        ``prefix_len`` tokens (the N completions of prefix b; ``ValueError`` otherwise). Equals
        :meth:`prob_real` of the same rows up to float32 rounding, with less work: a window of
        width w at a position ``p <= prefix_len - w`` lies inside the prefix, so its convolution
        is the same for the N completions and is computed once per prefix; only the later
        positions are computed for every completion. Averaged over the prefix lengths of one
        Monte-Carlo search (t = 1 .. 19, N = 16, the paper's filters) this skips 31% of the
        convolutions' multiply-adds (17% of D's); the highway and output layers still run on every
        row (``benchmarks/rollout_speed.py`` times a whole reward batch; docs/results/speed.md).
        ``batch_size`` bounds the rows per forward pass (rounded down to whole groups of N).
        """
        self.check_tokens(completed)
        rows, seq_len = completed.shape
        if n_rollouts < 1 or rows % n_rollouts:
            raise ValueError(f"expected N = n_rollouts >= 1 completions per prefix, got "
                             f"n_rollouts={n_rollouts} for {rows} rows")
        if not 0 <= prefix_len <= seq_len:
            raise ValueError(f"prefix_len must be in [0, {seq_len}], got {prefix_len}")
        grouped = completed.view(-1, n_rollouts, seq_len)[:, :, :prefix_len]
        if not (grouped == grouped[:, :1]).all():
            raise ValueError(f"the {n_rollouts} completions of a prefix must share their first "
                             f"{prefix_len} tokens (rows b * N .. b * N + N - 1)")
        # each width's first position not inside the prefix (at t = T the last one, computed
        # twice: a max does not mind)
        firsts = [min(max(0, prefix_len - w + 1), seq_len - w) for w in self.filter_sizes]
        shared = [i for i, first in enumerate(firsts) if first > 0]
        weights = [conv.weight for conv in self.convs]
        offsets = [0, *itertools.accumulate(self.num_filters)]
        device = self.output.weight.device
        shared_cols = torch.cat([torch.arange(offsets[i], offsets[i + 1]) for i in shared]).to(device) \
            if shared else None
        bias = torch.cat([conv.bias for conv in self.convs])
        per_pass = max(1, batch_size // n_rollouts) * n_rollouts
        was_training = self.training
        self.eval()
        try:
            chunks = []
            for lo in range(0, rows, per_pass):
                chunk = completed[lo : lo + per_pass].to(device)
                # every completion from its first unshared position on ...
                pooled = conv_max_pool(self.embedding(chunk), self.filter_sizes, weights, firsts)
                if shared:  # ... and the windows inside the prefix once per prefix
                    prefixes = chunk[::n_rollouts, :prefix_len]  # (G, t)
                    in_prefix = conv_max_pool(self.embedding(prefixes),
                                              [self.filter_sizes[i] for i in shared],
                                              [weights[i] for i in shared])  # (G, F_shared)
                    pooled[:, shared_cols] = torch.maximum(
                        pooled[:, shared_cols], in_prefix.repeat_interleave(n_rollouts, dim=0))
                logits = self.head(F.relu(pooled + bias))
                chunks.append(torch.softmax(logits, dim=1)[:, REAL])
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.empty(0, device=device)

    def check_tokens(self, sequences: torch.Tensor) -> None:
        """Raise a clear error unless ``sequences`` is a (batch, T) tensor of ids in [0, V)."""
        check_token_ids(sequences, self.vocab_size, self.seq_len)


def make_discriminator_optimizer(
    discriminator: Discriminator, lr: float = PAPER_LR
) -> torch.optim.Adam:
    """Adam with the paper's learning rate 1e-4 over D's parameters (fused where supported)."""
    return make_adam(discriminator.parameters(), lr)


def paper_discriminator(vocab_size: int, seq_len: int, seed: int = 0, width: float = 1.0) -> Discriminator:
    """The paper's D for sequences of length ``seq_len``, initialised reproducibly from ``seed``.

    Filter widths wider than T (the paper's go up to 20) are dropped, so shorter sequences work;
    at T >= 20 and ``width`` 1 this is exactly the paper's configuration. Torch's global RNG is left
    as it was.

    :param width: the number of filters of each width is the paper's times this, rounded (at least
        one): a smaller D for small data and quick runs.
    """
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"width must be a finite number > 0, got {width}")
    widths = [(w, max(1, round(n * width))) for w, n in zip(PAPER_FILTER_SIZES, PAPER_NUM_FILTERS)
              if w <= seq_len]
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        return Discriminator(
            vocab_size, seq_len, filter_sizes=[w for w, _ in widths], num_filters=[n for _, n in widths]
        )
