"""What the data readers share: where the ``shared/`` data files are, the corpus format error, the
seeded train/test split and the validation carve-out.

The corpus readers (:mod:`seqgan_gym.data.corpus` for text, :mod:`seqgan_gym.data.music` for melodies) share
:class:`CorpusFormatError` and the seeded train/test split :func:`seeded_holdout`, defined here so
that neither reader imports the other's module for them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

NO_SHARED_ENV_VAR = "SEQGAN_GYM_NO_SHARED"
"""Set to 1 and :func:`find_shared_data` finds nothing: a checkout behaves as a bare clone (CI runs the
tests this way once)."""


def find_shared_data(relative: str | Path) -> Path | None:
    """``relative`` (e.g. ``shared/data/chinese_poems/shi.txt``) under the current folder or any
    folder above it, or above the installed package; ``None`` if it is nowhere, or if
    ``$SEQGAN_GYM_NO_SHARED`` is set (to anything but ``""`` or ``0``)."""
    if os.environ.get(NO_SHARED_ENV_VAR, "") not in ("", "0"):
        return None
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in [start, *start.parents]:
            if (folder / relative).exists():
                return folder / relative
    return None


class CorpusFormatError(ValueError):
    """A corpus or vocabulary file that cannot be read as one."""


def seeded_holdout(n: int, test_fraction: float, seed: int, what: str = "items",
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (test, train) of a seeded random hold-out of ``round(test_fraction * n)`` (at least 1)
    of ``n`` items: ``numpy.random.default_rng(seed).permutation(n)``, the first ones held out,
    each part sorted."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    if n_test >= n:
        raise ValueError(f"test_fraction {test_fraction} of {n} {what} leaves none to train on")
    return np.sort(order[:n_test]), np.sort(order[n_test:])


def carve_validation(corpus, n_valid: int, seed: int):
    """A copy of a text corpus with ``n_valid`` of its training sequences set aside as ``valid``.

    The rows are ``numpy.random.default_rng([seed, 1]).permutation(n_train)[:n_valid]`` of the
    training split (recorded, sorted, in ``split["valid_rows"]``); the training split keeps the rest
    in order, the test split and the vocabulary are unchanged. A corpus whose training rows are cut
    from longer pieces (the Nottingham melodies: windows of tunes) raises ``ValueError``: a row-wise
    carve would put windows of one tune on both sides.
    """
    if not hasattr(corpus, "train_lengths"):
        raise ValueError(f"corpus_valid: corpus {corpus.name!r} holds windows of longer pieces; a "
                         f"validation split by rows would share pieces with training (not supported)")
    n_train = len(corpus.train)
    if not 1 <= n_valid < n_train:
        raise ValueError(f"corpus_valid must be in [1, {n_train - 1}] for corpus {corpus.name!r} with "
                         f"{n_train} training sequences, got {n_valid}")
    order = np.random.default_rng([seed, 1]).permutation(n_train)
    valid_rows, train_rows = np.sort(order[:n_valid]), np.sort(order[n_valid:])
    split = {**corpus.split, "n_train": n_train - n_valid, "n_train_before_valid": n_train,
             "valid_rows": valid_rows.tolist(), "n_valid": n_valid,
             "valid_how": f"rows of the training split: numpy default_rng([{seed}, 1]).permutation"
                          f"({n_train}), first {n_valid}"}
    return dataclasses.replace(corpus, train=corpus.train[train_rows], valid=corpus.train[valid_rows],
                               train_lengths=corpus.train_lengths[train_rows], split=split)


