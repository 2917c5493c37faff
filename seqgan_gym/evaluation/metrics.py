"""Evaluation metrics: likelihoods, BLEU / Self-BLEU, and whether D's reward carries signal.

Synthetic experiment (real data sampled from an oracle):

* ``NLL_oracle`` (the paper's metric): sample sequences from the generator G and score them under the
  oracle: ``-(1/T) sum_t log G_oracle(y_t | Y_<t)``, averaged over 10,000 samples. Measures quality.
* the ground-truth floor: the oracle's NLL on its own samples (about 5.75 for the paper's oracle),
  i.e. the entropy rate of the true distribution.

Both the synthetic experiment and the real-data corpora:

* ``NLL_test``: G's own per-token NLL on held-out real sequences (oracle samples, or a corpus's
  test split) that MLE never trained on. Measures coverage/diversity (a mode-collapsed G scores
  badly here). Texygen computed this on the training set; we never do.
* BLEU-n and Self-BLEU-n (:func:`bleu`, :func:`self_bleu`), as the GAN-for-text literature
  reports them for corpora;
* :func:`discriminator_signal`: D's held-out ROC-AUC, and with an oracle the rank correlation of
  D's score with the oracle's likelihood.
"""

from __future__ import annotations

import numpy as np
import torch

from seqgan_gym.data.corpus import id_lists
from seqgan_gym.evaluation.bleu import SentenceBleu
from seqgan_gym.models.likelihood import sequence_log_likelihood, sequence_nll
from seqgan_gym.models.lstm import LSTMLanguageModel


@torch.no_grad()
def nll_oracle(
    generator: LSTMLanguageModel,
    oracle: LSTMLanguageModel,
    n_samples: int = 10_000,
    rng: torch.Generator | None = None,
    temperature: float = 1.0,
) -> float:
    """NLL_oracle: the oracle's per-token NLL on ``n_samples`` sequences sampled from G."""
    samples = generator.sample(n_samples, temperature=temperature, rng=rng)
    return sequence_nll(oracle, samples)


def nll_test(generator: LSTMLanguageModel, test_data: torch.Tensor, temperature: float = 1.0) -> float:
    """NLL_test: G's per-token NLL on held-out real sequences (never the training set), under
    G's distribution at ``temperature``."""
    return sequence_nll(generator, test_data, temperature=temperature)


def ground_truth_nll(oracle: LSTMLanguageModel, oracle_samples: torch.Tensor) -> float:
    """The floor: the oracle's per-token NLL on its own samples."""
    return sequence_nll(oracle, oracle_samples)


def bleu(samples, references, max_n: int = 4, eos_token: int | None = 0) -> dict:
    """BLEU-n as the GAN-for-text literature computes it (Texygen: nltk's ``sentence_bleu``): every
    sample against the *whole* reference set (Texygen's fast mode cuts it to the first 500; we
    never do), uniform weights, clipped counts, closest-length brevity penalty and "method 1"
    smoothing (a zero match count becomes 0.1), averaged over samples. Sequences are read up to
    their first ``eos_token`` (default id 0, :data:`seqgan_gym.data.corpus.EOS`; None reads every
    position, e.g. melodies, where 0 is a rest); Texygen deletes every EOS token instead.

    :param samples: (M, T) ids or a list of id sequences.
    :param references: (R, T) ids or a list of id sequences (e.g. ``corpus.references("test")``).
    :return: ``{"bleu": mean, "n_samples": M, "n_references": R}``.
    """
    hyps, refs = id_lists(samples, eos_token), id_lists(references, eos_token)
    scores = SentenceBleu(refs, max_ngram_order=max_n, smooth_method="floor", smooth_value=0.1,
                          formula="nltk").scores(hyps)
    return {"bleu": float(scores.mean()), "n_samples": len(hyps), "n_references": len(refs)}


def self_bleu(samples, max_n: int = 4, eos_token: int | None = 0) -> dict:
    """Self-BLEU-n (Zhu et al. 2018, Texygen): each sample scored as :func:`bleu` against all the
    *other* samples, averaged; higher means less diverse. ``{"self_bleu", "n_samples"}``."""
    hyps = id_lists(samples, eos_token)
    scores = SentenceBleu(hyps, max_ngram_order=max_n, smooth_method="floor", smooth_value=0.1,
                          formula="nltk").self_scores()
    return {"self_bleu": float(scores.mean()), "n_samples": len(hyps)}


# ------------------------------------------------------------- does the discriminator carry signal?
def average_ranks(values) -> np.ndarray:
    """1-based ranks of ``values`` (1-D), ties sharing the mean of their ranks (as scipy's
    ``rankdata``)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])  # first index of each tie group
    ends = np.r_[starts[1:], len(x)]  # one past the last
    group = np.cumsum(np.r_[True, sorted_x[1:] != sorted_x[:-1]]) - 1
    ranks = np.empty(len(x))
    ranks[order] = ((starts + ends + 1) / 2.0)[group]
    return ranks


def roc_auc(positive_scores, negative_scores) -> float:
    """ROC-AUC: the probability that a random positive scores above a random negative (ties count
    1/2), from the Mann-Whitney U statistic. 0.5 is chance."""
    pos, neg = np.asarray(positive_scores).ravel(), np.asarray(negative_scores).ravel()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    ranks = average_ranks(np.r_[pos, neg])
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def spearman(x, y) -> float:
    """Spearman's rank correlation of two equally long 1-D arrays (Pearson's r of their average
    ranks); NaN when either is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    if len(rx) != len(ry) or len(rx) < 2:
        raise ValueError(f"spearman needs two arrays of the same length >= 2, got {len(rx)} and {len(ry)}")
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


@torch.no_grad()
def discriminator_signal(discriminator, real_heldout: torch.Tensor, generated: torch.Tensor,
                         oracle: LSTMLanguageModel | None = None) -> dict:
    """Whether D's reward carries information, on sequences D never trained on.

    * ``d_heldout_auc``: ROC-AUC of D(Y) separating ``real_heldout`` (real sequences outside D's
      training data) from ``generated`` (fresh samples of G). 0.5: D cannot tell them apart.
    * ``d_oracle_spearman`` (synthetic setup, ``oracle`` given): Spearman correlation over
      ``generated`` between D(Y) and the oracle's log-likelihood log P_oracle(Y): whether the reward
      ranks G's own sequences by their true quality. 0: it does not. None when D gives every
      sequence the same score (a correlation is then undefined).

    :param discriminator: anything with ``prob_real(sequences) -> (N,)`` (a
        :class:`~seqgan_gym.models.discriminator.Discriminator`), scored in eval mode; its
        ``real_logit(sequences)`` is used instead where it has one (same ranks, no saturation).
    """
    # ranks of D(Y) are those of its logit, which does not round to 0 or 1 when D is confident
    score = getattr(discriminator, "real_logit", None) or discriminator.prob_real
    d_real = score(real_heldout).double().cpu().numpy()
    d_fake = score(generated).double().cpu().numpy()
    result = {"d_heldout_auc": roc_auc(d_real, d_fake)}
    if oracle is not None:
        rho = spearman(d_fake, sequence_log_likelihood(oracle, generated).numpy())
        result["d_oracle_spearman"] = None if np.isnan(rho) else rho
    return result
