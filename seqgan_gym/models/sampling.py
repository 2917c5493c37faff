"""The CPU sampling kernels: inverse-CDF draws from logits and the fast output layer.

These are the numerical kernels under the models, not a model: :func:`sample_categorical` (one
draw per row of logits), :func:`sample_from_uniforms` (the same draw from given uniforms, which is
how the Monte-Carlo search of :mod:`seqgan_gym.rewards.rollout` pins its randomness), and the output-layer
pieces that :meth:`seqgan_gym.models.lstm.LSTMLanguageModel.complete` (sampling) and
:func:`seqgan_gym.models.likelihood.sequence_nll` (NLL evaluation) run on chunks of ``CPU_CHUNK_ROWS`` rows:
:func:`exp_logits_` and the two-level inverse CDF :func:`_draw`. The notes below say why they are
fast.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from seqgan_gym.utils import side_by_side, side_by_side_workers

# ----------------------------------------------------------------------- fast output layer
# Why sampling and NLL evaluation are fast. Sampling sequences and scoring them (NLL_oracle) cost
# little in the LSTM cell and almost everything in the output layer: per token a (1, H+1) x (H+1, V)
# product whose V = 5000 outputs are then exponentiated, summed and searched. With K = 33 that is
# bound by memory traffic and per-op overhead on a CPU, not by FLOPs. So the kernels below cut
# passes over V-wide memory and the number of operations per token (timed against the plain
# PyTorch form in benchmarks/foundation_speed.py; docs/results/speed.md), by
#
# 1. folding the bias into the matmul (:meth:`seqgan_gym.models.lstm.LSTMLanguageModel.output_matrix`: a
#    row ``b`` under ``W^T`` and a column of ones beside ``h``): ``addmm`` first writes the broadcast
#    bias over the whole (rows, V) output, an extra pass over it;
# 2. running the output layer on chunks of ``CPU_CHUNK_ROWS`` rows into one reused buffer, never a
#    fresh (batch, V) tensor (page faults and DRAM traffic every step);
# 3. never normalising, and subtracting the row max only where needed (:func:`exp_logits_`);
# 4. a two-level inverse CDF (:func:`_draw`): a cumulative sum over V is a sequential scan, so the
#    block of the draw is found among ~40 block sums (a vectorised reduction) and only that block
#    of <= 128 entries is scanned.
# 5. exponentials in base 2 (``LOG2E`` below): exp2 is cheaper than exp in torch on CPU.
# ``torch.multinomial`` is slower than a plain inverse CDF and is not used.
# Rows per output-layer chunk on CPU (1024 x 5000 floats = 20 MB): large enough that the per-op
# overhead is paid rarely, and fewer chunks mean fewer OpenMP regions, each of which costs a time
# slice when other processes share the CPU.
CPU_CHUNK_ROWS = 1024
_BLOCK = 128  # entries per block of the two-level inverse CDF (at most)
# exp(logits) needs no shift when a row's sum lies in this range: no term overflows, and the terms
# lost to underflow (< 1.2e-38 each) sum to < V * 1.2e-18 of the row's sum (6e-15 for V = 5000)
_SAFE_SUM_RANGE = (1e-20, 1e30)
# exp(x) = 2 ** (x log2 e): torch's vectorised exp2 is cheaper than its exp on CPU, so
# :func:`exp_logits_` scales the (rows, H + 1) inputs by log2 e, a few thousand multiplies, and
# takes exp2 of the product. The rounding of the scaled logits costs < 2e-6 relative (x up to 40;
# ~1e-7 typical), inside float32 rounding of a sum over V terms.
LOG2E = 1.0 / math.log(2.0)
_EXP_IN_BASE_2 = True  # False: exp of the logits, the plain form (tests/test_sampling.py compares)


def _block_layout(n: int) -> tuple[int, int]:
    """``(n_blocks, block)`` for ``n`` entries: blocks of at most ``_BLOCK``, padding < n_blocks."""
    n_blocks = -(-n // _BLOCK)
    return n_blocks, -(-n // n_blocks)


def exp_logits_(
    hidden1: torch.Tensor, weight1: torch.Tensor, out: torch.Tensor, n_blocks: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unnormalised softmax of the logits ``hidden1 @ weight1``, computed into ``out``.

    :param hidden1: (rows, H + 1) hidden states with a trailing column of ones.
    :param weight1: (H + 1, n) from :meth:`seqgan_gym.models.lstm.LSTMLanguageModel.output_matrix`.
    :param out: (rows, n) buffer, overwritten (its contents become the returned ``p``).
    :param n_blocks: also sum each row over this many equal blocks (``n`` must divide evenly).
    :return: ``(p, block_sums, shift)``: ``p = exp(logits - shift)`` (rows, n), its sums over each
        block (rows, n_blocks) and the per-row shift (rows, 1); ``logsumexp = log(sum) + shift``.

    The shift is 0 - no pass for the row max, none to subtract it - for every row whose sum lies
    in ``_SAFE_SUM_RANGE``, where exp(logits) neither overflows nor loses a term that matters at
    float32 precision. Other rows are recomputed with their max subtracted, the usual stable form.
    """
    rows = out.shape[0]
    if _EXP_IN_BASE_2:  # exp(logits), see LOG2E
        p = torch.mm(hidden1 * LOG2E, weight1, out=out).exp2_()
    else:
        p = torch.mm(hidden1, weight1, out=out).exp_()
    block_sums = p.view(rows, n_blocks, -1).sum(2)
    total = block_sums.sum(1)
    shift = torch.zeros(rows, 1, dtype=p.dtype, device=p.device)
    unsafe = ~((total >= _SAFE_SUM_RANGE[0]) & (total <= _SAFE_SUM_RANGE[1]))  # NaN included
    if unsafe.any():
        redo = unsafe.nonzero().squeeze(1)
        logits = torch.mm(hidden1[redo], weight1)
        shift[redo] = logits.amax(1, keepdim=True)
        p[redo] = logits.sub_(shift[redo]).exp_()
        block_sums[redo] = p[redo].view(len(redo), n_blocks, -1).sum(2)
    return p, block_sums, shift


def _cross_entropy_chunks(hidden1, weight1, targets, starts, chunk, grad_hidden1):
    """Loss and gradients of the chunks of rows beginning at ``starts``: returns the summed
    logsumexp of their rows and their ``dW1 = G^T h1``; writes their ``dh1 = G W1^T`` into
    ``grad_hidden1``. ``G = softmax - one_hot(y)`` is formed in place in one (chunk, V) buffer."""
    rows = hidden1.shape[0]
    buf = hidden1.new_empty(min(chunk, rows), weight1.shape[1])
    grad_weight1 = torch.zeros_like(weight1)
    logsumexp = hidden1.new_zeros(())
    for lo in starts:
        hi = min(lo + chunk, rows)
        p, sums, shift = exp_logits_(hidden1[lo:hi], weight1, buf[: hi - lo])
        logsumexp += (sums.log() + shift).sum()
        # d loss_row / d logits = softmax - one_hot(y), here in place in the buffer
        p.mul_(sums.reciprocal_())
        p[torch.arange(hi - lo, device=p.device), targets[lo:hi]] -= 1.0
        torch.mm(p, weight1.t(), out=grad_hidden1[lo:hi])
        grad_weight1.addmm_(hidden1[lo:hi].t(), p)
    return logsumexp, grad_weight1


class _OutputCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of the output layer ``hidden @ W^T + b`` against ``targets``, with its
    gradients computed in the forward pass, chunk by chunk (see :func:`output_cross_entropy`)."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk):
        rows, hidden_dim = hidden.shape
        weight1 = torch.cat([weight.t(), bias[None]]).contiguous()  # (H + 1, V): [W^T; b]
        hidden1 = torch.cat([hidden, hidden.new_ones(rows, 1)], 1)  # (rows, H + 1): [h, 1]
        grad_hidden1 = torch.empty_like(hidden1)
        # -log softmax(logits)[y] = logsumexp(logits) - logits[y]; logits[y] is an (H+1)-term dot
        total = -(hidden1 * weight1.t()[targets]).sum()
        starts = list(range(0, rows, chunk))
        # worker k takes chunks k, k + workers, ... (a fixed split: the sums repeat)
        parts = side_by_side(
            partial(_cross_entropy_chunks, hidden1, weight1, targets, chunk=chunk,
                    grad_hidden1=grad_hidden1),
            starts, side_by_side_workers(hidden.device, len(starts)))
        grad_weight1 = parts[0][1]
        for _, part in parts[1:]:
            grad_weight1 += part
        for logsumexp, _ in parts:
            total += logsumexp
        ctx.rows = rows
        ctx.save_for_backward(grad_hidden1[:, :hidden_dim], grad_weight1)
        return total / rows

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, grad_weight1 = ctx.saved_tensors
        scale = grad_out / ctx.rows
        return grad_hidden * scale, grad_weight1[:-1].t() * scale, grad_weight1[-1] * scale, None, None


def output_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
    chunk: int = 256,
) -> torch.Tensor:
    """``F.cross_entropy(F.linear(hidden, weight, bias), targets)`` without the (rows, V) logits.

    :param hidden: (rows, H) inputs of the output layer (e.g. teacher-forced LSTM outputs).
    :param weight: (V, H) and ``bias`` (V,): the output layer (``nn.Linear(H, V)``).
    :param targets: (rows,) long, the token each row should predict.
    :param chunk: rows per block; a (chunk, V) buffer is the only V-wide memory used.
    :return: the mean NLL (a scalar), differentiable w.r.t. ``hidden``, ``weight`` and ``bias``.

    The loss is a scalar, so its gradient is known in the forward pass up to one factor:
    ``d loss / d logits = (softmax - one_hot(y)) / rows``. Each chunk of rows therefore computes
    its logits, their exponentials (:func:`exp_logits_`, no max pass where it is safe), the loss,
    and at once the gradients ``dh = G W`` and ``dW += G^T h`` while the chunk is still in cache;
    backward only multiplies the two stored gradients by the incoming scalar. The (rows, V)
    logits, log-softmax and their gradients are never materialised, which is where
    ``F.cross_entropy`` spends most of an MLE step at V = 5000. Values and gradients equal the
    ``F.cross_entropy`` form within float32 rounding (tests/test_sampling.py). Only first-order
    gradients (no double backward).

    With torch set to N > 1 threads on CPU, the chunks run on N threads of one thread each, side
    by side (chunk k on thread k mod N; each thread sums its own ``dW``, added up in a fixed order,
    so a run repeats), instead of one chunk at a time with N threads per operation. Each chunk is
    a handful of short operations on a few MB, and N-thread operations that short pay OpenMP's
    start-up and wake-ups for every one.
    """
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(f"expected hidden (rows, H) and targets (rows,), got {tuple(hidden.shape)} "
                         f"and {tuple(targets.shape)}")
    if hidden.shape[0] == 0:
        raise ValueError("output_cross_entropy needs at least one row")
    return _OutputCrossEntropy.apply(hidden, weight, bias, targets, chunk)


def _draw(p: torch.Tensor, block_sums: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One inverse-CDF draw per row from unnormalised probabilities, by a two-level search.

    :param p: (rows, n_blocks, block) non-negative, not necessarily normalised.
    :param block_sums: (rows, n_blocks), ``p.sum(2)``.
    :param u: (rows, 1) uniforms in [0, 1).
    :return: (rows,) long, the flat index ``block_index * block + offset``. Entry i is drawn with
        probability p_i / sum(p) (up to float32 rounding); an entry with p_i = 0 is never drawn.
    """
    rows, n_blocks, block = p.shape
    cdf = block_sums.cumsum(1)  # (rows, n_blocks)
    total = cdf[:, -1:]
    # u * total, kept strictly below the total: rounding then never lands past the last entry of
    # positive probability (right=True search skips zero-probability entries)
    target = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    k = torch.searchsorted(cdf, target, right=True).clamp_(max=n_blocks - 1)  # (rows, 1) block
    target -= F.pad(cdf, (1, 0)).gather(1, k)  # mass before block k; the rest falls inside it
    inside = p.gather(1, k.unsqueeze(2).expand(rows, 1, block)).squeeze(1).cumsum_(1)
    target = torch.minimum(target, torch.nextafter(inside[:, -1:], torch.zeros_like(target)))
    j = torch.searchsorted(inside, target, right=True)  # (rows, 1) offset inside block k
    return (k * block + j).squeeze(1)


def sample_categorical(
    logits: torch.Tensor, rng: torch.Generator | None = None, return_log_prob: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Draw one index per row of ``logits`` (batch, V) by inverse-CDF sampling.

    Equivalent in distribution to ``torch.multinomial(softmax(logits), 1)`` (up to float32
    rounding) but cheaper on CPU for V = 5000: one uniform per row from
    ``rng``, located among the unnormalised cumulative probabilities by the two-level
    search of :func:`_draw`. ``logits`` is not modified. Returns ``(batch,)`` long; with
    ``return_log_prob``, also the draws' log-probabilities ``log_softmax(logits)[row, draw]``
    (batch,) float32, from the same pass (the same draws either way).
    """
    logits = logits.float()
    rows, V = logits.shape
    n_blocks, block = _block_layout(V)
    p = logits.new_zeros(rows, n_blocks * block)  # padding columns keep probability 0
    top = logits.amax(1, keepdim=True)
    torch.sub(logits, top, out=p[:, :V]).mul_(LOG2E).exp2_()  # see LOG2E
    u = torch.rand(rows, 1, generator=rng, device=p.device, dtype=p.dtype)
    p = p.view(rows, n_blocks, block)
    block_sums = p.sum(2)
    draws = _draw(p, block_sums, u).clamp_(max=V - 1)
    if not return_log_prob:
        return draws
    log_prob = logits.gather(1, draws[:, None]).squeeze(1) - top.squeeze(1) - block_sums.sum(1).log()
    return draws, log_prob


# ----------------------------------------------------------------------- given uniforms
def sample_from_uniforms(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling with given uniforms: logits (M, V), u (M, K) in [0, 1) -> (M, K) long.

    Row m draws K tokens from softmax(logits[m]), one per uniform. With ``u`` drawn as
    ``torch.rand(M, 1, generator=rng)`` this equals :func:`sample_categorical`
    draw for draw (the tests check it); taking the uniforms as an argument is what lets the batched
    and the reference Monte-Carlo search (tests/references.py) share their random draws.
    """
    cdf = torch.softmax(logits.float(), dim=-1).cumsum_(dim=-1)  # (M, V)
    idx = torch.searchsorted(cdf, u.to(cdf.dtype) * cdf[:, -1:], right=True)  # (M, K)
    return idx.clamp_(max=cdf.shape[1] - 1)
