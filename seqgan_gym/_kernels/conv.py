"""The discriminator's convolutions and max-over-time as one function over one window buffer.

The embeddings are laid out once as position-major windows of the widest filter, each width's
convolution is a single matrix product over a *view* of that buffer (no copy), the max over time is
a reduction over the leading axis, and the backward pass is written out (matrix products again,
and for most widths a weighted sum of the maximal windows only). This does less work per step than
12 ``nn.Conv2d`` as in the TF graph, 12 ``nn.Conv1d``, or unfold + ``nn.Linear`` per width: one
window buffer for all widths, views instead of copies. With several torch threads on CPU the widths
run side by side, one thread each.

Kernel and plain reference (tests/test_kernels.py compares them, values and gradients):
:func:`conv_max_pool` / :func:`conv_max_pool_reference` (``F.conv2d`` + ``F.max_pool2d``, the
authors' graph).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F

from seqgan_gym._kernels.threads import side_by_side, side_by_side_workers

# A width with at least this many positions gets its weight gradient as a weighted sum of the
# windows at its maxima (F.embedding_bag, B * n multiply-adds of a window each; on CPU in float32 it
# first copies the strided slice of the window matrix it reads); below, as the dense product over all
# positions, P times the multiply-adds at the matmul rate. The embedding bag runs at a fraction of
# the matmul rate, so it wins only where P is large enough to outweigh that: from this many
# positions up, and not at P = 1 (width 20 at T = 20).
_MIN_POSITIONS_FOR_SPARSE_GRAD = 4


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
    ``p = 0 .. T - w_i`` (:func:`conv_max_pool_reference`); see :class:`_ConvMaxPool` for how it is
    computed.

    ``first_positions[i]``, if given (no-gradient use only), starts width i's max at that
    position instead of 0.
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


def conv_max_pool_reference(
    emb: torch.Tensor,
    filter_sizes: Sequence[int],
    weights: Sequence[torch.Tensor],
    first_positions: Sequence[int] | None = None,
) -> torch.Tensor:
    """What :func:`conv_max_pool` computes, as the authors' graph: per width an ``F.conv2d`` over
    (B, 1, T, E) and ``F.max_pool2d`` over the positions from ``first_positions[i]`` on."""
    _, seq_len, emb_dim = emb.shape
    firsts = first_positions if first_positions is not None else [0] * len(filter_sizes)
    pooled = []
    for w, weight, first in zip(filter_sizes, weights, firsts):
        scores = F.conv2d(emb.unsqueeze(1), weight.view(-1, 1, w, emb_dim))  # (B, n, T - w + 1, 1)
        pooled.append(F.max_pool2d(scores[:, :, first:], (seq_len - w + 1 - first, 1)).flatten(1))
    return torch.cat(pooled, dim=1)


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
    back onto the embeddings they came from.

    With several torch threads on CPU the widths run side by side, one thread each
    (:func:`~seqgan_gym._kernels.threads.side_by_side`; width i on thread i mod N, each thread
    summing its own embedding gradient, added in a fixed order): each width is a few short products
    that N-thread operations split badly, each paying OpenMP's start-up and wake-ups.
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
