"""Sentence BLEU of many token sequences against one fixed reference set, equal to sacrebleu's.

PG-BLEU (the paper's baseline) rewards a finished sequence with its BLEU against the real data, and
the GAN-for-text literature scores samples the same way: every hypothesis against the *whole*
reference set. sacrebleu's ``BLEU.sentence_score(hyp, refs)`` re-reads all references for each
hypothesis (about half a second for 10,000 references), which would make rewards the bottleneck.
:class:`SentenceBleu` reads the references once, keeps for every n-gram the maximum count over all
references, and then scores any number of hypotheses in a few vectorised numpy passes.

It computes what sacrebleu computes for ``tokenize="none"`` with token ids joined by spaces, equal
up to floating-point rounding (numpy's exp / log and summation order against Python's; the tests
compare against ``sacrebleu.metrics.BLEU.sentence_score`` on random cases to 1e-9):

* clipped n-gram matches: ``sum_g min(count_hyp(g), max_r count_r(g))`` for n = 1..max_ngram_order;
* the brevity penalty against the *closest* reference length (ties -> the shorter);
* smoothing ``none`` / ``floor`` (Chen & Cherry's method 1, a zero match count becomes
  ``smooth_value``, 0.1 by default) / ``add-k`` / ``exp``, and ``effective_order``, all as sacrebleu's
  ``BLEU.compute_bleu``.

Scores are returned in [0, 1] (sacrebleu prints 0-100).

How the n-grams are counted without Python dictionaries: every reference n-gram gets a compact
integer id, built order by order (an n-gram's id is looked up from the id of its first n-1 tokens
and the id of its last token), so an n-gram is one int64 and counting is ``np.unique``.
A hypothesis n-gram that contains anything the references never had gets id -1 and cannot match.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

SMOOTH_METHODS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}
"""sacrebleu's smoothing methods and their default values."""


def _flatten(sequences) -> tuple[np.ndarray, np.ndarray]:
    """Sequences -> (flat int64 tokens, lengths (M,) int64).

    Accepts a 2-D array / tensor (M, T) (every sequence of length T) or a list of int sequences of
    any lengths.
    """
    if hasattr(sequences, "detach"):  # a torch tensor
        sequences = sequences.detach().cpu().numpy()
    if isinstance(sequences, np.ndarray):
        if sequences.ndim != 2:
            raise ValueError(f"expected a 2-D array of token ids (M, T), got shape {sequences.shape}")
        if sequences.dtype.kind not in "iu":
            raise TypeError(f"expected integer token ids, got dtype {sequences.dtype}")
        m, t = sequences.shape
        return sequences.astype(np.int64).reshape(-1), np.full(m, t, dtype=np.int64)
    seqs = [np.asarray(s) for s in sequences]
    for i, s in enumerate(seqs):
        if s.ndim != 1 or (s.size and s.dtype.kind not in "iu"):
            raise TypeError(f"sequence {i} is not a 1-D sequence of integer token ids: {sequences[i]!r}")
    seqs = [s.astype(np.int64) for s in seqs]  # an empty list is float64: never promote the ids
    lengths = np.array([s.size for s in seqs], dtype=np.int64)
    flat = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    return flat, lengths


def _windows(lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-gram windows of flattened sequences: (start positions in the flat array, sequence index).

    Windows never cross from one sequence into the next.
    """
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if lengths.size else lengths
    counts = np.maximum(lengths - n + 1, 0)
    seq_index = np.repeat(np.arange(lengths.size), counts)
    offset_in_seq = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offset_in_seq, seq_index


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each of ``keys`` in ``sorted_keys`` (unique, ascending), or -1 where absent."""
    if sorted_keys.size == 0:
        return np.full(keys.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_keys, keys).clip(max=sorted_keys.size - 1)
    return np.where(sorted_keys[pos] == keys, pos, -1)


class SentenceBleu:
    """sacrebleu sentence BLEU of hypotheses against one fixed set of references, vectorised;
    :meth:`self_scores` gives Self-BLEU of the references themselves.

    :param references: the reference sequences (e.g. the 10,000 real training sequences): a 2-D
        int array / tensor (R, T) or a list of int sequences of any lengths. Tokens are compared by
        value (any integers).
    :param max_ngram_order: the largest n (BLEU-n; sacrebleu's default 4).
    :param smooth_method: ``"floor"`` (default: the literature's "method 1"), ``"none"``,
        ``"add-k"`` or ``"exp"`` (sacrebleu's own sentence-level default).
    :param smooth_value: the value for ``floor`` / ``add-k`` (``None``: sacrebleu's default, 0.1 / 1).
    :param effective_order: drop n-gram orders the hypothesis is too short to have (sacrebleu's flag).
    :param formula: ``"sacrebleu"`` (default) or ``"nltk"``: nltk's ``sentence_bleu`` with uniform
        weights and ``SmoothingFunction(epsilon=smooth_value).method1``, the form the GAN-for-text
        literature (Texygen) reports. It needs ``smooth_method="floor"`` and differs from sacrebleu
        in one case: an order the hypothesis is too short to have (no n-grams) counts as
        ``epsilon / 1`` where sacrebleu scores the whole sentence 0.
    """

    def __init__(
        self,
        references,
        max_ngram_order: int = 4,
        smooth_method: str = "floor",
        smooth_value: float | None = None,
        effective_order: bool = False,
        formula: str = "sacrebleu",
    ) -> None:
        if formula not in ("sacrebleu", "nltk"):
            raise ValueError(f"formula must be 'sacrebleu' or 'nltk', got {formula!r}")
        if formula == "nltk" and (smooth_method != "floor" or effective_order):
            raise ValueError("formula='nltk' is nltk's method1: use smooth_method='floor' and "
                             "effective_order=False")
        self.formula = formula
        if smooth_method not in SMOOTH_METHODS:
            raise ValueError(f"smooth_method must be one of {list(SMOOTH_METHODS)}, got {smooth_method!r}")
        if isinstance(max_ngram_order, bool) or not isinstance(max_ngram_order, numbers.Integral) \
                or max_ngram_order < 1:
            raise ValueError(f"max_ngram_order must be an integer >= 1, got {max_ngram_order!r}")
        self.max_ngram_order = int(max_ngram_order)
        self.smooth_method = smooth_method
        self.smooth_value = SMOOTH_METHODS[smooth_method] if smooth_value is None else smooth_value
        self.effective_order = bool(effective_order)

        flat, lengths = _flatten(references)
        if lengths.size == 0:
            raise ValueError("BLEU needs at least one reference sequence, got none")
        self.n_references = int(lengths.size)
        self._flat, self._lengths = flat, lengths  # kept for Self-BLEU
        # sorted distinct reference lengths and how many references have each
        self.ref_lengths, self._ref_length_counts = np.unique(lengths, return_counts=True)
        # Per order n: the sorted ids of the n-grams the references contain (``self._keys[n-1]``;
        # an n-gram's key combines the id of its first n-1 tokens with the id of its last token)
        # and, aligned with them, the maximum count of that n-gram in any one reference; for
        # Self-BLEU (leave one reference out) also how many references reach that maximum and
        # the largest count below it.
        self._keys: list[np.ndarray] = []
        self.max_ref_counts: list[np.ndarray] = []
        self._n_at_max: list[np.ndarray] = []
        self._second_counts: list[np.ndarray] = []
        ids = None  # ids of the (n-1)-gram at each window start
        for n in range(1, max_ngram_order + 1):
            pos, ref_index = _windows(lengths, n)
            keys = self._window_keys(flat, pos, n, ids)
            ids_here = np.unique(keys)
            gram = _lookup(ids_here, keys)  # the compact id of each window's n-gram
            # max count per n-gram over references: count (n-gram, reference) pairs, take the max
            pair = gram * self.n_references + ref_index
            pair_values, pair_counts = np.unique(pair, return_counts=True)
            pair_gram = pair_values // self.n_references  # sorted: pairs are grouped by n-gram
            max_counts = np.zeros(ids_here.size, dtype=np.int64)
            n_at_max = np.zeros(ids_here.size, dtype=np.int64)
            second = np.zeros(ids_here.size, dtype=np.int64)
            if pair_gram.size:
                first = np.concatenate([[0], np.flatnonzero(np.diff(pair_gram)) + 1])
                max_counts = np.maximum.reduceat(pair_counts, first)
                at_max = pair_counts == max_counts[pair_gram]
                n_at_max = np.bincount(pair_gram, weights=at_max, minlength=ids_here.size).astype(np.int64)
                second = np.maximum.reduceat(np.where(at_max, 0, pair_counts), first)
            self._keys.append(ids_here)
            self.max_ref_counts.append(max_counts)
            self._n_at_max.append(n_at_max)
            self._second_counts.append(second)
            ids = np.full(flat.size, -1, dtype=np.int64)
            ids[pos] = gram

    # ------------------------------------------------------------------ n-gram ids
    def _window_keys(self, flat: np.ndarray, pos: np.ndarray, n: int, prev_ids: np.ndarray | None):
        """Keys of the n-grams starting at ``pos``: the token for n = 1, else
        ``id(first n-1 tokens) * (number of unigram ids) + id(last token)``; -1 where a part has no id.

        ``prev_ids`` is aligned with the flat array: the (n-1)-gram id of the window starting there.
        """
        if n == 1:
            return flat[pos]
        head = prev_ids[pos]
        tail = _lookup(self._keys[0], flat[pos + n - 1])
        n_unigrams = max(self._keys[0].size, 1)
        return np.where((head >= 0) & (tail >= 0), head * n_unigrams + tail, -1)

    # ------------------------------------------------------------------ statistics and scores
    def statistics(self, hypotheses) -> dict[str, np.ndarray]:
        """sacrebleu's sufficient statistics of every hypothesis.

        :param hypotheses: (M, T) int array / tensor or a list of M int sequences.
        :return: ``hyp_len`` (M,), ``ref_len`` (M,) (the closest reference length),
            ``correct`` (M, max_ngram_order) clipped matches and ``total`` (M, max_ngram_order).
        """
        flat, lengths = _flatten(hypotheses)
        return self._statistics(flat, lengths, leave_one_out=False)

    def _statistics(self, flat: np.ndarray, lengths: np.ndarray, leave_one_out: bool,
                    ) -> dict[str, np.ndarray]:
        """:meth:`statistics`; with ``leave_one_out`` the hypotheses are the references themselves
        and hypothesis i is clipped by the maximum count over the references other than i."""
        m, orders = lengths.size, self.max_ngram_order
        correct = np.zeros((m, orders), dtype=np.int64)
        total = np.maximum(lengths[:, None] - np.arange(orders)[None, :], 0)
        ids = None
        for n in range(1, orders + 1):
            pos, hyp_index = _windows(lengths, n)
            prev = ids
            ids = np.full(flat.size, -1, dtype=np.int64)
            ids[pos] = _lookup(self._keys[n - 1], self._window_keys(flat, pos, n, prev))
            gram = ids[pos]
            known = gram >= 0
            # count each (n-gram, hypothesis) pair, clip by the references' maximum count
            pair_values, pair_counts = np.unique(gram[known] * m + hyp_index[known], return_counts=True)
            g = pair_values // m
            clipped = np.minimum(pair_counts, self.max_ref_counts[n - 1][g])
            if leave_one_out:
                # hypothesis i holds each of its n-grams pair_counts times; without it, the
                # maximum stays unless i alone reached it, then it drops to the second largest
                at_max = pair_counts == self.max_ref_counts[n - 1][g]
                alone_at_max = at_max & (self._n_at_max[n - 1][g] == 1)
                clipped = np.where(alone_at_max, self._second_counts[n - 1][g], clipped)
            correct[:, n - 1] = np.bincount(pair_values % m, weights=clipped, minlength=m)
        ref_len = self._closest_other_ref_len(lengths) if leave_one_out else self._closest_ref_len(lengths)
        return {"hyp_len": lengths, "ref_len": ref_len, "correct": correct, "total": total}

    def _closest_other_ref_len(self, lengths: np.ndarray) -> np.ndarray:
        """:meth:`_closest_ref_len` for reference i among the references other than i."""
        refs, counts = self.ref_lengths, self._ref_length_counts
        idx = np.searchsorted(refs, lengths)  # each length is one of refs
        shared = counts[idx] >= 2  # another reference has the same length
        has_below, has_above = idx > 0, idx < refs.size - 1
        below = refs[(idx - 1).clip(min=0)]
        above = refs[(idx + 1).clip(max=refs.size - 1)]
        take_below = has_below & (~has_above | (lengths - below <= above - lengths))
        return np.where(shared, lengths, np.where(take_below, below, above))

    def _closest_ref_len(self, hyp_len: np.ndarray) -> np.ndarray:
        """The reference length closest to each hypothesis length; ties go to the shorter one."""
        refs = self.ref_lengths
        above = np.searchsorted(refs, hyp_len).clip(max=refs.size - 1)
        below = (above - 1).clip(min=0)
        take_below = np.abs(hyp_len - refs[below]) <= np.abs(refs[above] - hyp_len)
        return np.where(take_below, refs[below], refs[above])

    def scores(self, hypotheses) -> np.ndarray:
        """Sentence BLEU of each hypothesis against all references: (M,) float64 in [0, 1]."""
        s = self.statistics(hypotheses)
        return self.scores_from_statistics(s["correct"], s["total"], s["hyp_len"], s["ref_len"])

    def scores_from_statistics(self, correct, total, hyp_len, ref_len) -> np.ndarray:
        """sacrebleu's ``BLEU.compute_bleu`` (or nltk's, see ``formula``), vectorised over
        hypotheses; returns BLEU / 100."""
        if self.formula == "nltk":
            return self._nltk_scores(correct, total, hyp_len, ref_len)
        correct = np.asarray(correct, dtype=np.float64).copy()
        total = np.asarray(total, dtype=np.float64).copy()
        hyp_len = np.asarray(hyp_len, dtype=np.float64)
        ref_len = np.asarray(ref_len, dtype=np.float64)
        m, orders = correct.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            bp = np.where(hyp_len < ref_len,
                          np.where(hyp_len > 0, np.exp(1 - ref_len / np.maximum(hyp_len, 1)), 0.0), 1.0)
        any_match = correct.sum(1) > 0  # sacrebleu: no match at all -> 0 before any smoothing
        precisions = np.zeros((m, orders))
        eff_order = np.full(m, orders, dtype=np.float64)
        active = np.ones(m, dtype=bool)  # sacrebleu's loop has not hit `break` (total == 0) yet
        smooth_mteval = np.ones(m)
        for n in range(orders):
            if self.smooth_method == "add-k" and n > 0:
                correct[active, n] += self.smooth_value
                total[active, n] += self.smooth_value
            active &= total[:, n] > 0
            if self.effective_order:
                eff_order[active] = n + 1
            zero = active & (correct[:, n] == 0)
            hit = active & (correct[:, n] > 0)
            if self.smooth_method == "exp":
                smooth_mteval[zero] *= 2
                precisions[zero, n] = 100.0 / (smooth_mteval[zero] * total[zero, n])
            elif self.smooth_method == "floor":
                precisions[zero, n] = 100.0 * self.smooth_value / total[zero, n]
            precisions[hit, n] = 100.0 * correct[hit, n] / total[hit, n]
        # sacrebleu's my_log(0) = -9999999999; the sum covers the first eff_order orders
        logs = np.where(precisions > 0, np.log(np.where(precisions > 0, precisions, 1.0)), -9999999999.0)
        in_order = np.arange(orders)[None, :] < eff_order[:, None]
        score = bp * np.exp((logs * in_order).sum(1) / eff_order)
        return np.where(any_match, score, 0.0) / 100.0

    def _nltk_scores(self, correct, total, hyp_len, ref_len) -> np.ndarray:
        """nltk ``sentence_bleu(refs, hyp, weights=(1/n,)*n, smoothing_function=method1)``."""
        correct = np.asarray(correct, dtype=np.float64)
        denominator = np.maximum(np.asarray(total, dtype=np.float64), 1.0)  # nltk: max(1, count)
        hyp_len = np.asarray(hyp_len, dtype=np.float64)
        ref_len = np.asarray(ref_len, dtype=np.float64)
        precisions = np.where(correct > 0, correct, self.smooth_value) / denominator  # method1
        with np.errstate(divide="ignore"):
            bp = np.where(hyp_len > ref_len, 1.0,
                          np.where(hyp_len == 0, 0.0, np.exp(1 - ref_len / np.maximum(hyp_len, 1))))
        score = bp * np.exp(np.log(precisions).mean(axis=1))
        return np.where(correct[:, 0] > 0, score, 0.0)  # nltk: no unigram match -> 0

    def self_scores(self) -> np.ndarray:
        """Self-BLEU: each reference scored against all the *other* references, (R,) in [0, 1].

        Build the scorer on the samples (``SentenceBleu(samples, ...)``) and call this; it equals
        ``sentence_score(samples[i], samples[:i] + samples[i+1:])`` for every i, without
        rebuilding the references R times (the per-n-gram maximum drops to the second-largest
        count only where sample i alone held the maximum).
        """
        if self.n_references < 2:
            raise ValueError("Self-BLEU needs at least two samples (each is scored against the others)")
        s = self._statistics(self._flat, self._lengths, leave_one_out=True)
        return self.scores_from_statistics(s["correct"], s["total"], s["hyp_len"], s["ref_len"])

    def __repr__(self) -> str:
        return (f"SentenceBleu(n_references={self.n_references}, max_ngram_order={self.max_ngram_order}, "
                f"smooth_method={self.smooth_method!r}, smooth_value={self.smooth_value}, "
                f"effective_order={self.effective_order}, formula={self.formula!r})")


def sacrebleu_sentence_scores(
    hypotheses: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    max_ngram_order: int = 4,
    smooth_method: str = "floor",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> np.ndarray:
    """The slow, obviously right path: sacrebleu's own ``sentence_score`` per hypothesis, / 100.

    Token ids are joined by spaces and scored with ``tokenize="none"``. Used by the tests and the
    benchmark to check :class:`SentenceBleu`; it reads every reference again for each hypothesis,
    so it is slow with many references.
    """
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="none", max_ngram_order=max_ngram_order, smooth_method=smooth_method,
                smooth_value=smooth_value, effective_order=effective_order)
    refs = [" ".join(map(str, r)) for r in _as_lists(references)]
    return np.array([bleu.sentence_score(" ".join(map(str, h)), refs).score / 100.0
                     for h in _as_lists(hypotheses)])


def _as_lists(sequences) -> list[list[int]]:
    if hasattr(sequences, "detach"):
        sequences = sequences.detach().cpu().numpy()
    return [list(map(int, s)) for s in sequences]
