"""The fast BLEU path against sacrebleu itself, and the PG-BLEU reward."""

import numpy as np
import pytest
import torch
from references import nltk_sentence_scores

from seqgan_gym.evaluation.bleu import SentenceBleu, sacrebleu_sentence_scores
from seqgan_gym.rewards.reward_models import BleuReward

SETTINGS = [  # (max_ngram_order, smooth_method, smooth_value, effective_order)
    (4, "floor", None, False),  # the literature's BLEU (method 1) and our default
    (4, "none", None, False),
    (4, "exp", None, True),  # sacrebleu's sentence_bleu default
    (3, "add-k", None, False),
    (2, "floor", 0.5, True),
    (5, "exp", None, False),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("settings", SETTINGS)
def test_fast_path_equals_sacrebleu_on_random_cases(settings):
    """Small vocabularies make repeated n-grams, clipping and partial matches common; lengths vary
    (including empty sequences) so the brevity penalty and closest-length ties are exercised."""
    rng = np.random.default_rng(sum(map(hash, map(str, settings))) % 2**32)
    for _ in range(40):
        vocab = int(rng.integers(2, 7))
        refs = [list(rng.integers(0, vocab, rng.integers(1, 9))) for _ in range(rng.integers(1, 6))]
        hyps = [list(rng.integers(0, vocab + 2, rng.integers(0, 10))) for _ in range(6)]
        fast = SentenceBleu(refs, *settings).scores(hyps)
        slow = sacrebleu_sentence_scores(hyps, refs, *settings)
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


@pytest.mark.filterwarnings("ignore")
def test_fast_path_equals_sacrebleu_at_oracle_scale():
    """Fixed-length (M, T) tensors as the environment passes them, against many references."""
    rng = torch.Generator().manual_seed(0)
    refs = torch.randint(0, 50, (300, 12), generator=rng)
    hyps = torch.randint(0, 50, (8, 12), generator=rng)
    hyps[:4, :6] = refs[:4, 3:9]  # long partial matches
    fast = SentenceBleu(refs).scores(hyps)
    np.testing.assert_allclose(fast, sacrebleu_sentence_scores(hyps, refs), rtol=0, atol=1e-9)
    assert (fast[:4] > fast[4:].max()).all()


def test_known_values():
    bleu = SentenceBleu([[1, 2, 3, 4, 5]], max_ngram_order=2)
    assert bleu.scores([[1, 2, 3, 4, 5]])[0] == pytest.approx(1.0)
    # clipping: "1 1 1 1 1" has one clipped unigram match (1/5) and no bigram match (floor 0.1/4)
    assert bleu.scores([[1, 1, 1, 1, 1]])[0] == pytest.approx(np.sqrt(0.2 * 0.1 / 4))
    assert bleu.scores([[9, 9, 9, 9, 9]])[0] == 0.0  # no match at all is 0, not smoothed
    stats = bleu.statistics([[1, 2, 9]])
    assert stats["correct"].tolist() == [[2, 1]] and stats["total"].tolist() == [[3, 2]]
    assert stats["ref_len"].tolist() == [5]


def test_max_count_is_taken_over_references_not_summed():
    """Two references each holding token 7 once allow one match of 7, not two."""
    bleu = SentenceBleu([[7, 1], [7, 2]], max_ngram_order=1)
    assert bleu.statistics([[7, 7]])["correct"].tolist() == [[1]]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="smooth_method"):
        SentenceBleu([[1, 2]], smooth_method="magic")
    with pytest.raises(ValueError, match="at least one reference"):
        SentenceBleu([])
    with pytest.raises(TypeError, match="integer token ids"):
        SentenceBleu(np.zeros((2, 3), dtype=np.float32))


def test_bleu_reward_scores_and_is_compatible_with_any_length():
    refs = torch.randint(0, 30, (50, 10), generator=torch.Generator().manual_seed(1))
    reward = BleuReward(refs, vocab_size=30)
    scores = reward.score(refs[:5])
    assert scores.dtype == torch.float32 and scores.shape == (5,)
    assert torch.allclose(scores, torch.ones(5))  # a reference scores 1 against a set holding it
    reward.check_compatible(30, 99)
    with pytest.raises(ValueError, match="vocab_size"):
        reward.check_compatible(31, 10)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("settings", SETTINGS[:4])
def test_self_bleu_equals_sacrebleu_against_the_other_samples(settings):
    """Repeated samples, samples alone at an n-gram's maximum count, unique and shared lengths."""
    rng = np.random.default_rng(sum(map(hash, map(str, settings))) % 2**32 + 1)
    for _ in range(25):
        vocab = int(rng.integers(2, 6))
        samples = [list(rng.integers(0, vocab, rng.integers(1, 9))) for _ in range(rng.integers(2, 7))]
        if rng.random() < 0.3:
            samples.append(list(samples[0]))  # an exact duplicate
        fast = SentenceBleu(samples, *settings).self_scores()
        slow = [sacrebleu_sentence_scores([samples[i]], samples[:i] + samples[i + 1:], *settings)[0]
                for i in range(len(samples))]
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


def test_self_bleu_needs_two_samples():
    with pytest.raises(ValueError, match="at least two"):
        SentenceBleu([[1, 2, 3]]).self_scores()
    # two identical samples: each is the other's reference
    np.testing.assert_allclose(SentenceBleu([[1, 2, 3, 4], [1, 2, 3, 4]]).self_scores(), [1.0, 1.0])


def test_large_token_ids_survive_an_empty_sequence_in_the_list():
    big = 2**60 + 1
    bleu = SentenceBleu([[big, 5]], max_ngram_order=2)
    np.testing.assert_allclose(bleu.scores([[], [big, 5]]), [0.0, 1.0])
    assert SentenceBleu([[1, 2]], max_ngram_order=np.int64(2)).max_ngram_order == 2


@pytest.mark.parametrize("n", [2, 4, 5])
def test_nltk_formula_equals_nltk_sentence_bleu(n):
    """The literature's BLEU (Texygen calls nltk): short hypotheses (fewer than n tokens), no
    unigram match, empty hypotheses, clipping, brevity penalty."""
    rng = np.random.default_rng(n)
    for _ in range(30):
        vocab = int(rng.integers(2, 7))
        refs = [list(rng.integers(0, vocab, rng.integers(1, 9))) for _ in range(rng.integers(1, 6))]
        hyps = [list(rng.integers(0, vocab + 2, rng.integers(0, 10))) for _ in range(6)]
        fast = SentenceBleu(refs, n, "floor", 0.1, formula="nltk").scores(hyps)
        np.testing.assert_allclose(fast, nltk_sentence_scores(hyps, refs, n), rtol=0, atol=1e-9)
        samples = [h for h in hyps if h] + refs
        fast_self = SentenceBleu(samples, n, "floor", 0.1, formula="nltk").self_scores()
        slow_self = [nltk_sentence_scores([s], samples[:i] + samples[i + 1:], n)[0]
                     for i, s in enumerate(samples)]
        np.testing.assert_allclose(fast_self, slow_self, rtol=0, atol=1e-9)
    # the one case where the two formulas differ: a hypothesis shorter than n
    assert SentenceBleu([[5, 6, 7]], 4, formula="nltk").scores([[5, 6, 7]])[0] == pytest.approx(0.1 ** 0.25)
    assert SentenceBleu([[5, 6, 7]], 4).scores([[5, 6, 7]])[0] == 0.0
    with pytest.raises(ValueError, match="method1"):
        SentenceBleu([[1]], smooth_method="exp", formula="nltk")
