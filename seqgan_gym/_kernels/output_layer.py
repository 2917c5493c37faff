"""The language model's V-wide output layer on a CPU: its exponentials, the MLE loss and the NLL.

Sampling sequences, scoring them (NLL_oracle) and MLE training cost little in the LSTM cell and
almost everything in the output layer: per token a (1, H+1) x (H+1, V) product whose V = 5000
outputs are then exponentiated, summed and searched. With K = 33 that is bound by memory traffic
and per-op overhead, not by FLOPs. So the kernels here (and :mod:`seqgan_gym._kernels.inverse_cdf`)
cut passes over V-wide memory and the number of operations per token, by

1. folding the bias into the matmul (:func:`folded_output_layer`: a row ``b`` under ``W^T`` and a
   column of ones beside ``h``): ``addmm`` first writes the broadcast bias over the whole
   (rows, V) output, an extra pass over it;
2. running the output layer on chunks of ``CPU_CHUNK_ROWS`` rows into one reused buffer, never a
   fresh (batch, V) tensor (page faults and DRAM traffic every step);
3. never normalising, and subtracting the row max only where needed (:func:`exp_logits_`);
4. exponentials in base 2 (``LOG2E`` below): exp2 is cheaper than exp in torch on CPU.

Kernels and their plain references (tests/test_kernels.py compares each pair):

- :func:`exp_logits_` / :func:`exp_logits_reference`;
- :func:`output_cross_entropy` (the MLE loss with its gradients formed in the forward pass) /
  :func:`output_cross_entropy_reference`;
- :func:`summed_nll` (the NLL of whole sequences in batches, side by side) / :func:`summed_nll_reference`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from seqgan_gym._kernels.threads import side_by_side, side_by_side_workers

# Rows per output-layer chunk on CPU (1024 x 5000 floats = 20 MB): large enough that the per-op
# overhead is paid rarely, and fewer chunks mean fewer OpenMP regions, each of which costs a time
# slice when other processes share the CPU.
CPU_CHUNK_ROWS = 1024
# exp(logits) needs no shift when a row's sum lies in this range: no term overflows, and the terms
# lost to underflow (< 1.2e-38 each) sum to < V * 1.2e-18 of the row's sum (6e-15 for V = 5000)
_SAFE_SUM_RANGE = (1e-20, 1e30)
# exp(x) = 2 ** (x log2 e): torch's vectorised exp2 is cheaper than its exp on CPU, so
# :func:`exp_logits_` scales the (rows, H + 1) inputs by log2 e, a few thousand multiplies, and
# takes exp2 of the product. The rounding of the scaled logits costs < 2e-6 relative (x up to 40;
# ~1e-7 typical), inside float32 rounding of a sum over V terms.
LOG2E = 1.0 / math.log(2.0)


def folded_output_layer(weight: torch.Tensor, bias: torch.Tensor, temperature: float = 1.0,
                        n_cols: int | None = None) -> torch.Tensor:
    """The output layer ``h W^T + b`` as one detached (H + 1, n_cols) matrix ``[W^T; b] / temperature``.

    ``[h, 1] @ folded_output_layer(W, b)`` gives the logits (divided by the temperature) in one
    matmul, without the extra pass ``addmm`` spends writing the broadcast bias. ``n_cols`` > V pads
    with columns of bias -inf: logit -inf, probability exactly 0.

    :param weight: (V, H), ``nn.Linear(H, V).weight``.
    :param bias: (V,).
    """
    V, hidden_dim = weight.shape
    n_cols = V if n_cols is None else n_cols
    if n_cols < V:
        raise ValueError(f"n_cols must be >= vocab_size {V}, got {n_cols}")
    weight = weight.detach()
    m = weight.new_zeros(hidden_dim + 1, n_cols)
    m[:-1, :V] = weight.T
    m[-1, :V] = bias.detach()
    m[-1, V:] = float("-inf")
    return m if temperature == 1.0 else m.div_(temperature)


# ----------------------------------------------------------------------- exponentials of the logits
def exp_logits_(
    hidden1: torch.Tensor, weight1: torch.Tensor, out: torch.Tensor, n_blocks: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unnormalised softmax of the logits ``hidden1 @ weight1``, computed into ``out``.

    :param hidden1: (rows, H + 1) hidden states with a trailing column of ones.
    :param weight1: (H + 1, n) from :func:`folded_output_layer`.
    :param out: (rows, n) buffer, overwritten (its contents become the returned ``p``).
    :param n_blocks: also sum each row over this many equal blocks (``n`` must divide evenly).
    :return: ``(p, block_sums, shift)``: ``p = exp(logits - shift)`` (rows, n), its sums over each
        block (rows, n_blocks) and the per-row shift (rows, 1); ``logsumexp = log(sum) + shift``.

    The shift is 0 - no pass for the row max, none to subtract it - for every row whose sum lies
    in ``_SAFE_SUM_RANGE``, where exp(logits) neither overflows nor loses a term that matters at
    float32 precision. Other rows are recomputed with their max subtracted, the usual stable form.
    The exponentials are taken in base 2 (see ``LOG2E``).
    """
    rows = out.shape[0]
    p = torch.mm(hidden1 * LOG2E, weight1, out=out).exp2_()
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


def exp_logits_reference(hidden1: torch.Tensor, weight1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What :func:`exp_logits_` stands for: ``(softmax(logits), logsumexp(logits))`` of the logits
    ``hidden1 @ weight1``, (rows, n) and (rows,); ``p / sum(p)`` and ``log(sum) + shift`` there."""
    logits = hidden1 @ weight1
    return torch.softmax(logits, 1), torch.logsumexp(logits, 1)


# ----------------------------------------------------------------------- the MLE loss
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
    """:func:`output_cross_entropy_reference` without the (rows, V) logits.

    :param hidden: (rows, H) inputs of the output layer, at least one row.
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
    ``F.cross_entropy`` spends most of an MLE step at V = 5000. Only first-order gradients (no
    double backward).

    With torch set to N > 1 threads on CPU, the chunks run on N threads of one thread each, side
    by side (:func:`~seqgan_gym._kernels.threads.side_by_side`: chunk k on thread k mod N; each
    thread sums its own ``dW``, added up in a fixed order, so a run repeats), instead of one chunk
    at a time with N threads per operation. Each chunk is a handful of short operations on a few
    MB, and N-thread operations that short pay OpenMP's start-up and wake-ups for every one.
    """
    return _OutputCrossEntropy.apply(hidden, weight, bias, targets, chunk)


def output_cross_entropy_reference(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                                   targets: torch.Tensor) -> torch.Tensor:
    """What :func:`output_cross_entropy` computes, the plain way:
    ``F.cross_entropy(F.linear(hidden, weight, bias), targets)``."""
    return F.cross_entropy(F.linear(hidden, weight, bias), targets)


# ----------------------------------------------------------------------- the NLL of sequences
def summed_nll(
    hidden_states: Callable[[torch.Tensor], torch.Tensor],
    token_mask: Callable[[torch.Tensor], torch.Tensor | None],
    weight1: torch.Tensor,
    sequences: torch.Tensor,
    batch_size: int,
) -> tuple[torch.Tensor, int]:
    """The summed NLL of ``sequences`` and the number of tokens it sums, in batches, without the
    (batch * T, V) logits.

    :param hidden_states: the language model's teacher-forced LSTM outputs, (batch, T) -> (batch, T, H).
    :param token_mask: (batch, T) -> (batch, T) bool of the positions that count, or None (all).
    :param weight1: (H + 1, V), :func:`folded_output_layer` of the output layer.
    :param sequences: (N, T) long; moved batch by batch to ``weight1``'s device.
    :param batch_size: sequences per LSTM pass.
    :return: ``(total, n_tokens)``: the NLL summed over the counted tokens (a float64 scalar
        tensor) and their count.

    The LSTM runs on ``batch_size`` sequences at a time, the output layer on chunks of
    ``CPU_CHUNK_ROWS`` rows in one reused buffer with the bias folded into the matmul, and
    logsumexp skips the max pass where it is safe (:func:`exp_logits_`). The target's logit, the
    other half of ``-log softmax``, is an (H + 1)-term dot product. With several torch threads on
    CPU the batches run side by side on one thread each
    (:func:`~seqgan_gym._kernels.threads.side_by_side`; a fixed split, so the sums repeat).
    """
    starts = list(range(0, sequences.shape[0], batch_size))
    parts = side_by_side(partial(_nll_of_batches, hidden_states, token_mask, sequences, weight1, batch_size),
                         starts, side_by_side_workers(weight1.device, len(starts)))
    total = sum(part for part, _ in parts)
    n_tokens = sum(n for _, n in parts)
    return total, n_tokens


def _nll_of_batches(hidden_states, token_mask, sequences: torch.Tensor, weight1: torch.Tensor,
                    batch_size: int, starts: list[int]) -> tuple[torch.Tensor, int]:
    """:func:`summed_nll` over the batches at ``starts``: the summed NLL (float64) and token count."""
    device = weight1.device
    chunk = CPU_CHUNK_ROWS if device.type == "cpu" else batch_size * sequences.shape[1]
    buf = weight1.new_empty(chunk, weight1.shape[1])
    total = torch.zeros((), dtype=torch.float64, device=device)
    n_tokens = 0
    for start in starts:
        batch = sequences[start : start + batch_size].to(device)
        hidden = hidden_states(batch).flatten(0, 1)  # (rows, H)
        hidden1 = torch.cat([hidden, hidden.new_ones(hidden.shape[0], 1)], 1)  # [h, 1]
        mask = token_mask(batch)  # None, or (batch, T): positions up to the first EOS
        if mask is not None:  # keep only the rows (positions) that count
            hidden1, targets = hidden1[mask.flatten()], batch[mask]
        else:
            targets = batch.flatten()
        n_tokens += targets.numel()
        # -log softmax(logits)[y] = logsumexp(logits) - logits[y]
        total -= (hidden1 * weight1.T[targets]).sum()
        for lo in range(0, hidden1.shape[0], chunk):
            rows = hidden1[lo : lo + chunk]
            _, sums, shift = exp_logits_(rows, weight1, buf[: rows.shape[0]])
            total += (sums.log_() + shift).sum()
    return total, n_tokens


def summed_nll_reference(
    hidden_states: Callable[[torch.Tensor], torch.Tensor],
    token_mask: Callable[[torch.Tensor], torch.Tensor | None],
    weight1: torch.Tensor,
    sequences: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """What :func:`summed_nll` computes, in one pass with the logits: ``cross_entropy`` summed over
    the counted tokens (float64), and their count."""
    sequences = sequences.to(weight1.device)
    logits = F.pad(hidden_states(sequences), (0, 1), value=1.0) @ weight1  # (N, T, V)
    mask = token_mask(sequences)
    mask = torch.ones_like(sequences, dtype=torch.bool) if mask is None else mask
    nll = F.cross_entropy(logits[mask].double(), sequences[mask], reduction="sum")
    return nll, int(mask.sum())
