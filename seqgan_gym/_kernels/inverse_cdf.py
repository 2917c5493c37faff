"""Categorical draws by inverse CDF over V = 5000 tokens on a CPU.

A cumulative sum over V is a sequential scan, so the draw is a two-level search (:func:`draw`):
the block of the draw is found among ~40 block sums (a vectorised reduction) and only that block of
<= 128 entries is scanned. ``torch.multinomial`` is slower than a plain inverse CDF and is not used.

Kernels and their plain references (tests/test_kernels.py compares each pair):

- :func:`draw` / :func:`draw_reference`: one draw per row of unnormalised probabilities;
- :func:`sample_categorical` / :func:`sample_categorical_reference`: one draw per row of logits,
  from ``torch.rand(rows, 1, generator=rng)``, the same draws;
- :class:`OutputLayerSampler`: a draw per row of ``softmax([h, 1] @ W1)`` from the hidden states,
  the output layer run on chunks of rows in one reused buffer per thread, the chunks side by side
  (:meth:`seqgan_gym.models.lstm.LSTMLanguageModel.complete` draws its tokens with it); its
  reference is :func:`sample_categorical_reference` of the logits ``h W^T + b``.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from seqgan_gym._kernels.output_layer import CPU_CHUNK_ROWS, LOG2E, exp_logits_, folded_output_layer
from seqgan_gym._kernels.threads import side_by_side, side_by_side_workers

_BLOCK = 128  # entries per block of the two-level inverse CDF (at most)
# :class:`OutputLayerSampler` draws chunks side by side (one thread each) only with at least this
# many rows per chunk: below, a thread pool's hand-off costs more than the draw (an env's 64 rows).
_MIN_ROWS_SIDE_BY_SIDE = 256


def block_layout(n: int) -> tuple[int, int]:
    """``(n_blocks, block)`` for ``n`` entries: blocks of at most ``_BLOCK``, padding < n_blocks."""
    n_blocks = -(-n // _BLOCK)
    return n_blocks, -(-n // n_blocks)


def draw(p: torch.Tensor, block_sums: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
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


def draw_reference(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """What :func:`draw` computes, by one scan: p (rows, n) and u (rows, 1) -> (rows,) long, the
    first index whose cumulative probability exceeds ``u * sum(p)``."""
    cdf = p.cumsum(1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=p.shape[1] - 1).squeeze(1)


def sample_categorical(
    logits: torch.Tensor, rng: torch.Generator | None = None, return_log_prob: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """One draw per row of ``logits`` (batch, V) from one ``torch.rand(batch, 1, generator=rng)``:
    :func:`sample_categorical_reference` of those uniforms, by the two-level search of :func:`draw`
    over ``exp(logits - max)`` (in base 2: see :data:`~seqgan_gym._kernels.output_layer.LOG2E`).

    ``logits`` is not modified. Returns ``(batch,)`` long; with ``return_log_prob``, also the
    draws' log-probabilities ``log_softmax(logits)[row, draw]`` (batch,) float32, from the same pass
    (the same draws either way).
    """
    logits = logits.float()
    rows, V = logits.shape
    n_blocks, block = block_layout(V)
    p = logits.new_zeros(rows, n_blocks * block)  # padding columns keep probability 0
    top = logits.amax(1, keepdim=True)
    torch.sub(logits, top, out=p[:, :V]).mul_(LOG2E).exp2_()
    u = torch.rand(rows, 1, generator=rng, device=p.device, dtype=p.dtype)
    p = p.view(rows, n_blocks, block)
    block_sums = p.sum(2)
    draws = draw(p, block_sums, u).clamp_(max=V - 1)
    if not return_log_prob:
        return draws
    log_prob = logits.gather(1, draws[:, None]).squeeze(1) - top.squeeze(1) - block_sums.sum(1).log()
    return draws, log_prob


def sample_categorical_reference(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws from ``softmax(logits)``: logits (M, V) and uniforms u (M, K) -> (M, K) long."""
    cdf = torch.softmax(logits.float(), dim=-1).cumsum_(dim=-1)  # (M, V)
    idx = torch.searchsorted(cdf, u.to(cdf.dtype) * cdf[:, -1:], right=True)  # (M, K)
    return idx.clamp_(max=cdf.shape[1] - 1)


class OutputLayerSampler:
    """Draws one token per row from ``softmax((h W^T + b) / temperature)`` for a batch of hidden
    states ``h``, without the (batch, V) logits: the same draws as :func:`sample_categorical` of
    those logits given the same uniforms.

    The output layer is the (H + 1, V') matrix of
    :func:`~seqgan_gym._kernels.output_layer.folded_output_layer`, padded to whole blocks of
    :func:`block_layout` with probability-0 columns; it runs on chunks of ``CPU_CHUNK_ROWS`` rows,
    each into a reused buffer (:func:`~seqgan_gym._kernels.output_layer.exp_logits_`), then
    :func:`draw` searches each row. With several torch threads on CPU and at least
    ``2 * _MIN_ROWS_SIDE_BY_SIDE`` rows, the chunks run side by side on one thread each
    (:func:`~seqgan_gym._kernels.threads.side_by_side`; a batch of one chunk is split in one per
    thread), each thread with its own buffer. The draws are the same; only the rows per matrix
    product change, which can round a logit differently and, rarely, move a uniform across an
    inverse-CDF boundary: the same threads give the same tokens.

    :param weight: (V, H) and ``bias`` (V,): the output layer (``nn.Linear(H, V)``).
    :param temperature: > 0, divides the logits.
    :param batch: the rows of every :meth:`draw`.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, temperature: float, batch: int) -> None:
        self.vocab_size = V = weight.shape[0]
        self.n_blocks, self.block = block_layout(V)
        self.weight1 = weight1 = folded_output_layer(weight, bias, temperature, self.n_blocks * self.block)
        device = weight1.device
        chunk = CPU_CHUNK_ROWS if device.type == "cpu" else max(batch, 1)
        # with several torch threads, chunks side by side on one thread each (at least
        # _MIN_ROWS_SIDE_BY_SIDE rows apiece; a batch of one chunk is split into one per thread)
        self.workers = workers = side_by_side_workers(device, batch // _MIN_ROWS_SIDE_BY_SIDE)
        self.chunk = chunk = max(1, min(chunk, -(-batch // workers)))
        self.batch = batch
        self.hidden1 = weight1.new_ones(batch, weight1.shape[0])  # [h, 1]
        bufs = [weight1.new_empty(min(chunk, batch), weight1.shape[1]) for _ in range(workers)]
        # chunk i goes to worker i % workers (side_by_side's split), which owns bufs[i % workers]
        self.chunks = [(lo, bufs[i % workers]) for i, lo in enumerate(range(0, batch, chunk))]

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the logits (and of the uniforms :meth:`draw` takes)."""
        return self.weight1.dtype

    def draw(self, hidden: torch.Tensor, u: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """One token per row: hidden (batch, H) and uniforms u (batch, 1) in [0, 1), of
        :attr:`dtype`, -> ``out`` (batch,) long, written and returned."""
        self.hidden1[:, :-1] = hidden
        side_by_side(partial(self._draw_chunks, u, out), self.chunks, self.workers)
        return out

    def _draw_chunks(self, u: torch.Tensor, out: torch.Tensor, part: list[tuple[int, torch.Tensor]]) -> None:
        for lo, buf in part:  # rows lo .. lo + chunk - 1, in buf
            hi = min(lo + self.chunk, self.batch)
            p, block_sums, _ = exp_logits_(self.hidden1[lo:hi], self.weight1, buf[: hi - lo], self.n_blocks)
            drawn = draw(p.view(hi - lo, self.n_blocks, self.block), block_sums, u[lo:hi])
            out[lo:hi] = drawn.clamp_(max=self.vocab_size - 1)
