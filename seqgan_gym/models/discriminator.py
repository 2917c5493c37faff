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

How it is computed. The convolutions and the max-pool are one autograd function,
:func:`conv_max_pool`: the embeddings are laid out once as position-major windows of the widest
filter, each width's convolution is a single matrix product over a *view* of that buffer (no
copy), the max over time is ``amax`` over the leading axis, and the backward pass is written out
(matrix products again). The bias and ReLU come after the max-pool, on (B, n) instead of
(B, T - w + 1, n): the bias is the same at every position and ReLU is monotone, so
``max_t relu(conv_t + b) = relu(max_t conv_t + b)``, values and gradients alike. The tests check
values and gradients against a literal ``F.conv2d`` + ``F.max_pool2d`` port. This layout does
less work per step than 12 ``nn.Conv2d`` as in the TF graph, 12 ``nn.Conv1d``, or unfold +
``nn.Linear`` per width: one window buffer for all widths, views instead of copies, and no
(B, T - w + 1, n) bias and ReLU. ``benchmarks/foundation_speed.py`` times a D epoch against a
plain PyTorch D (docs/results/speed.md).

Layout convention: token tensors are ``(batch, T)`` of dtype ``torch.long``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from seqgan_gym.models.lstm import check_token_ids
from seqgan_gym.utils import make_adam, side_by_side, side_by_side_workers

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


# A width with at least this many positions gets its weight gradient as a weighted sum of the
# windows at its maxima (F.embedding_bag, B * n multiply-adds of a window each; on CPU in float32 it
# first copies the strided slice of the window matrix it reads); below, as the dense product over all
# positions, P times the multiply-adds at the matmul rate. The embedding bag runs at a fraction of
# the matmul rate, so it wins only where P is large enough to outweigh that: from this many
# positions up, and not at P = 1 (width 20 at T = 20).
_MIN_POSITIONS_FOR_SPARSE_GRAD = 4


def _window_matrix(emb: torch.Tensor, w_max: int) -> torch.Tensor:
    """Position-major windows: emb (B, T, E) -> (T * B, w_max * E), row p * B + b = emb[b, p:].

    Slot k of window p holds token p + k; slots past the end (p + k >= T) are left unwritten
    (``new_empty``: no pass to zero them) and are never read by a VALID convolution of width
    <= w_max, whose positions are the first T - w + 1 and whose slots the first w.
    """
    batch, seq_len, emb_dim = emb.shape
    windows = emb.new_empty(seq_len, batch, w_max * emb_dim)  # (T, B, w_max * E)
    emb_t = emb.transpose(0, 1)  # (T, B, E)
    for k in range(w_max):
        windows[: seq_len - k, :, k * emb_dim : (k + 1) * emb_dim] = emb_t[k:]
    return windows.view(seq_len * batch, w_max * emb_dim)


def _scores(
    windows: torch.Tensor, weight: torch.Tensor, positions: int, batch: int
) -> torch.Tensor:
    """One width's convolution at its P = T - w + 1 positions: (P, B, n), one matrix product.

    ``weight`` is (n, w * E); ``windows[: P * B, : w * E]`` is a view of the window matrix (the
    first P positions, the first w slots), so no window is copied.
    """
    x = windows[: positions * batch, : weight.shape[1]]
    return x.mm(weight.t()).view(positions, batch, -1)


def _pool_widths(windows: torch.Tensor, seq_len: int, batch: int, widths: list) -> list:
    """Forward of :class:`_ConvMaxPool` for ``widths``, a list of ``(i, w, weight)``: per width
    ``(i, max over positions (B, n), the first position attaining it (B, n))``."""
    return [(i, *_scores(windows, weight, seq_len - w + 1, batch).max(dim=0)) for i, w, weight in widths]


def _pool_widths_backward(grad_out: torch.Tensor, windows: torch.Tensor, emb_shape: torch.Size,
                          widths: list) -> tuple[torch.Tensor, list]:
    """Backward of :class:`_ConvMaxPool` for ``widths``, a list of ``(i, w, weight, argmax, offset)``
    (``offset``: the width's first column in ``grad_out``). Returns their summed gradient of the
    embeddings, position-major (T, B, E), and ``(i, weight gradient)`` per width."""
    batch, seq_len, emb_dim = emb_shape
    grad_emb_t = grad_out.new_zeros(seq_len, batch, emb_dim)  # (T, B, E)
    sequence = torch.arange(batch, device=grad_out.device)
    grad_weights = []
    for i, w, weight, positions_of_max, offset in widths:
        positions, n = seq_len - w + 1, weight.shape[0]
        g = grad_out[:, offset : offset + n]  # (B, n)
        x = windows[: positions * batch, : w * emb_dim]
        grad_y = g.new_zeros(positions, batch, n)
        grad_y.scatter_(0, positions_of_max.unsqueeze(0), g.unsqueeze(0))
        grad_y = grad_y.view(positions * batch, n)
        if positions >= _MIN_POSITIONS_FOR_SPARSE_GRAD:
            # dW[j] = sum_b g[b, j] * x[row of (b, j)'s max]: n bags of B weighted rows each
            rows = (positions_of_max * batch + sequence[:, None]).t().reshape(-1)  # (n * B,)
            bags = torch.arange(0, n * batch, batch, device=g.device)
            grad_weights.append((i, F.embedding_bag(rows, x, bags, mode="sum",
                                                    per_sample_weights=g.t().reshape(-1))))
        else:  # few positions: the dense product wastes little and runs at the matmul rate
            grad_weights.append((i, grad_y.t().mm(x)))  # (n, w * E)
        # the windows' gradient (P, B, w, E), slot k of window p summed onto embedding p + k
        grad_windows = grad_y.mm(weight).view(positions, batch, w, emb_dim)
        for k in range(w):
            grad_emb_t[k : k + positions] += grad_windows[:, :, k]
    return grad_emb_t, grad_weights


class _ConvMaxPool(torch.autograd.Function):
    """Every width's VALID convolution (no bias) followed by max-over-time, with its backward.

    Forward: ``emb`` (B, T, E) is laid out once as position-major windows
    ``X[p * B + b] = emb[b, p : p + w_max]`` flattened to ``w_max * E`` values (unset past the end,
    never read). Width w's convolution at all its ``P = T - w + 1`` positions is then the product
    of the *view* ``X[: P * B, : w * E]`` (no copy) with its ``(n, w * E)`` filter matrix, and the
    max over time is a reduction over the leading P axis. Returns (B, sum(n)).

    Backward: the gradient of a max goes to the position that attained it (the first one among
    exact ties, as ``F.max_pool2d``; only the (B, n) positions are kept from the forward pass, not
    the (P, B, n) scores). So filter j's weight gradient is a weighted sum of B windows, one per
    sequence: ``dW[j] = sum_b dY[b, j] * X[argmax[b, j] * B + b]``. It is computed as exactly that,
    a weighted :func:`F.embedding_bag` over the window matrix's rows (``B * n`` rows summed), not as
    the dense ``dY^T X`` over all P positions, which multiplies P - 1 zeros for every term (widths
    with fewer than ``_MIN_POSITIONS_FOR_SPARSE_GRAD`` positions keep the dense product). The
    windows' gradient stays a dense product, ``dY W`` with dY scattered to its positions (grouping
    the terms by window needs a sort that cost more than it saved), each window's slots summed
    back onto the embeddings they came from. Gradients are checked against ``F.conv2d`` +
    ``F.max_pool2d`` in the tests.

    With several torch threads on CPU the widths run side by side, one thread each
    (:func:`seqgan_gym.utils.side_by_side`; width i on thread i mod N, each thread summing its own
    embedding gradient, added in a fixed order): each width is a few short products that N-thread
    operations split badly, each paying OpenMP's start-up and wake-ups.
    """

    @staticmethod
    def forward(ctx, emb: torch.Tensor, filter_sizes: tuple[int, ...], *weights: torch.Tensor):
        batch, seq_len, _ = emb.shape
        windows = _window_matrix(emb, max(filter_sizes))
        widths = list(zip(range(len(filter_sizes)), filter_sizes, weights))
        parts = side_by_side(partial(_pool_widths, windows, seq_len, batch), widths,
                             side_by_side_workers(emb.device, len(widths)))
        per_width = sorted(itertools.chain(*parts), key=lambda part: part[0])
        ctx.filter_sizes, ctx.emb_shape = filter_sizes, emb.shape
        ctx.save_for_backward(windows, *weights, *(positions for _, _, positions in per_width))
        return torch.cat([values for _, values, _ in per_width], dim=1)  # (B, sum(n))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        m = len(ctx.filter_sizes)
        saved = ctx.saved_tensors
        windows, weights, argmax = saved[0], saved[1 : 1 + m], saved[1 + m :]
        offsets = itertools.accumulate((weight.shape[0] for weight in weights), initial=0)
        widths = list(zip(range(m), ctx.filter_sizes, weights, argmax, offsets))
        parts = side_by_side(partial(_pool_widths_backward, grad_out, windows, ctx.emb_shape),
                             widths, side_by_side_workers(grad_out.device, m))
        grad_emb_t = parts[0][0]
        for part, _ in parts[1:]:
            grad_emb_t += part
        grad_weights = sorted(itertools.chain(*(grads for _, grads in parts)), key=lambda g: g[0])
        return (grad_emb_t.transpose(0, 1), None, *(grad for _, grad in grad_weights))


def conv_max_pool(
    emb: torch.Tensor,
    filter_sizes: Sequence[int],
    weights: Sequence[torch.Tensor],
    first_positions: Sequence[int] | None = None,
) -> torch.Tensor:
    """Max-over-time of VALID convolutions, without bias: emb (B, T, E) -> (B, sum(n_i)).

    ``weights[i]`` is width ``filter_sizes[i]``'s filter matrix, shape ``(n_i, w_i * E)``, a
    window flattened in (position, embedding) order, i.e. TF's ``[w, E, 1, n]`` filter permuted
    to ``(n, w, E)``. Equals ``max_p sum_k emb[:, p + k] @ W_i[:, k].T`` over the positions
    ``p = 0 .. T - w_i``; see :class:`_ConvMaxPool` for how it is computed.

    ``first_positions[i]``, if given (no-gradient use only), starts width i's max at that
    position instead of 0 (:meth:`Discriminator.prob_real_rollouts` takes the earlier positions'
    max from the shared prefix).
    """
    filter_sizes = tuple(filter_sizes)
    if torch.is_grad_enabled() and (emb.requires_grad or any(w.requires_grad for w in weights)):
        if first_positions is not None:
            raise ValueError("first_positions is for the no-gradient forward only")
        return _ConvMaxPool.apply(emb, filter_sizes, *weights)
    # no gradient wanted (e.g. rewards): the same forward without keeping the scores around
    batch, seq_len, _ = emb.shape
    firsts = first_positions if first_positions is not None else [0] * len(filter_sizes)
    windows = _window_matrix(emb, max(filter_sizes))
    pooled = []
    for w, weight, first in zip(filter_sizes, weights, firsts):
        positions = seq_len - w + 1
        if not 0 <= first < positions:
            raise ValueError(f"first position {first} of width {w} is outside [0, {positions})")
        x = windows[first * batch : positions * batch, : weight.shape[1]]  # a view, no copy
        pooled.append(x.mm(weight.t()).view(positions - first, batch, -1).amax(dim=0))
    return torch.cat(pooled, dim=1)


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
