"""The fewest prefixes an LSTM must read for a batch of prefix observations (SB3's extractor).

An SB3 PPO minibatch of prefix observations drawn from a few whole episodes holds many prefixes
that another observation of the batch extends; the LSTM is causal, so those are read off the longer
one's pass. :func:`prefix_sources` finds them; its plain counterpart is reading every row
(``reads = tokens``, ``source = arange(M)``), which tests/test_sb3.py compares the extractor's
features against. :func:`unique_rows` is ``torch.unique(dim=0)`` by a radix sort
(:func:`unique_rows_reference`; tests/test_kernels.py compares them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prefix_sources(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The fewest prefixes an LSTM must read so that every row's state is among its outputs.

    Row b *extends* row a when b agrees with a wherever a is written. Returns ``reads`` (U, T), rows
    of ``tokens`` (those that no other row extends further), and ``source`` (M,), for each row the
    index in ``reads`` of one that extends it: row a's state after its ``written[a]`` tokens is the state of
    ``reads[source[a]]`` at that position, since the LSTM is causal.

    How: sorted lexicographically, with -1 (not written) below every token, the rows that extend a
    row follow it in one contiguous block, and the last row of that block is extended by no other
    row. The block of row i ends before the first j >= i whose common prefix with the next row is
    shorter than row i's length. O(M log M + M T), no hashing, exact.

    A batch whose rows all have the same length (a rollout step) has no row that extends another
    but its duplicates: it is read as it is (``source`` = 0..M-1), which is cheaper than sorting.

    :param tokens: (M, T) long prefixes, -1 where not written (written positions first).
    """
    written = (tokens >= 0).sum(1)
    if len(tokens) == 0 or bool(written.min() == written.max()):
        return tokens, torch.arange(len(tokens), device=tokens.device)
    rows, inverse = unique_rows(tokens)  # sorted, distinct (U, T)
    u, t = rows.shape
    lengths = (rows >= 0).sum(1)
    same = (rows[1:] == rows[:-1]) & (rows[1:] >= 0)  # (U-1, T)
    common = torch.cat([same.cumprod(1).sum(1), lengths.new_full((1,), -1)])  # with the next row
    index = torch.arange(u, device=tokens.device)
    # block_end[k, i]: the first j >= i whose common prefix with row j + 1 is shorter than k
    breaks = torch.where(common[None] < torch.arange(t + 1, device=tokens.device)[:, None], index, u)
    block_end = breaks.flip(1).cummin(1).values.flip(1)  # (T + 1, U)
    ends, source = torch.unique(block_end[lengths, index], return_inverse=True)
    return rows[ends], source[inverse]


def unique_rows(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`unique_rows_reference` for ids >= -1, by a radix sort.

    torch's row-wise unique compares rows one pair at a time. Here each row's ids + 1 are packed,
    ``63 // bits`` to an int64 word, most significant first, so that the words' lexicographic order
    is the rows'; a stable sort per word, last word first, orders the rows (an LSD radix sort), and
    a row starts a new group where its words differ from the previous row's. Same outputs.
    """
    m, t = tokens.shape
    if m == 0:
        return tokens, tokens.new_empty(0)
    bits = max(1, int(tokens.max()) + 1).bit_length()  # ids + 1 lie in [0, 2^bits)
    per_word = 63 // bits
    shifts = torch.arange(per_word - 1, -1, -1, device=tokens.device) * bits
    shifted = F.pad(tokens + 1, (0, -t % per_word)).view(m, -1, per_word)
    words = (shifted << shifts).sum(2)  # (M, words)
    order = torch.arange(m, device=tokens.device)
    for j in reversed(range(words.shape[1])):
        order = order[torch.sort(words[order, j], stable=True).indices]
    ordered = words[order]
    first = torch.ones(m, dtype=torch.bool, device=tokens.device)
    first[1:] = (ordered[1:] != ordered[:-1]).any(1)
    inverse = torch.empty_like(order)
    inverse[order] = first.cumsum(0) - 1
    return tokens[order[first]], inverse


def unique_rows_reference(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(tokens, dim=0, return_inverse=True)``: the sorted distinct rows, and each
    row's index among them."""
    return torch.unique(tokens, dim=0, return_inverse=True)
