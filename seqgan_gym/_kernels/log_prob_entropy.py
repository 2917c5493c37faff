"""log pi(a | s) and the entropy of pi(. | s) = softmax(h W^T + b) for an SB3 policy over V tokens.

SB3's ``CategoricalDistribution`` through ``torch.distributions.Categorical`` makes some twenty
passes over freshly allocated (M, V) tensors (logsumexp, softmax, clamp, their backward) for a PPO
minibatch's log-probabilities and entropy. :func:`log_prob_entropy` makes one blockwise pass
through the output layer, keeps the probabilities for the backward, and forms the gradients in
closed form, in scratch blocks reused between calls.

Kernel and plain reference (tests/test_kernels.py compares them, gradients included):
:func:`log_prob_entropy` / :func:`log_prob_entropy_reference`.
"""

from __future__ import annotations

import threading

import torch
from torch.autograd.function import once_differentiable

from seqgan_gym._kernels.output_layer import LOG2E

_LN2 = 1.0 / LOG2E
_CHUNK_ROWS = 64  # rows of logits per block: two (64, 5000) float32 blocks stay in a core's L2 cache
_BUFFERS: dict[tuple, list[torch.Tensor]] = {}


def log_prob_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                     actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`log_prob_entropy_reference` in one blockwise pass with a closed-form backward.

    :param hidden: (M, H) the policy's hidden states.
    :param weight: (V, H) and ``bias`` (V,): the output layer (``nn.Linear(H, V)``).
    :param actions: (M,) long, the actions to score.
    :return: ``(log_prob, entropy)``, each (M,), differentiable w.r.t. ``hidden``, ``weight`` and
        ``bias`` (first order).

    See :class:`_LogProbEntropy` for how.
    """
    return _LogProbEntropy.apply(hidden, weight, bias, actions)


def log_prob_entropy_reference(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                               actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Categorical(logits=hidden @ weight.T + bias)``'s ``log_prob(actions)`` and ``entropy()``."""
    dist = torch.distributions.Categorical(logits=torch.nn.functional.linear(hidden, weight, bias))
    return dist.log_prob(actions), dist.entropy()


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


def _forward_blocks(hidden1: torch.Tensor, weight1: torch.Tensor, actions: torch.Tensor,
                    kept: _KeptProbabilities | None) -> tuple[torch.Tensor, ...]:
    """:class:`_LogProbEntropy`'s forward over blocks of ``_CHUNK_ROWS`` rows: ``(log_prob,
    entropy, lse, totals)``, each (M,); the exponentials go into ``kept``'s buffer where given."""
    rows = hidden1.shape[0]
    y_buf, e_buf = _chunk_buffers(min(rows, _CHUNK_ROWS), weight1)
    lse, log_prob, entropy, totals = (hidden1.new_empty(rows) for _ in range(4))
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
    return log_prob, entropy, lse, totals


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
    output layer's products in training and an exponential pass. Then it accumulates
    ``dW = G^T [h, 1]`` and ``dh = G [W^T; b]^T``. The V-wide exponentials are taken in base 2
    (``exp2`` of the logits times log2(e), :data:`~seqgan_gym._kernels.output_layer.LOG2E`); the
    row-wise results are converted back to natural logarithms.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, actions):
        rows = hidden.shape[0]
        hidden1 = torch.cat([hidden, hidden.new_ones(rows, 1)], 1)  # (M, H + 1)
        weight1 = torch.cat([weight.t(), bias[None]]).contiguous()  # (H + 1, V)
        kept = _KeptProbabilities(rows, weight1) if any(ctx.needs_input_grad[:3]) else None
        log_prob, entropy, lse, totals = _forward_blocks(hidden1, weight1, actions, kept)
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
                grad_weight1[hidden_dim] if ctx.needs_input_grad[2] else None, None)
