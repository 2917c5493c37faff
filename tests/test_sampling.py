"""The samplers draw from the model's softmax and NLL evaluation is exact: checked against
torch.softmax and cross_entropy.

``sample_categorical`` and ``LSTMLanguageModel.complete`` draw by a two-level inverse CDF over
unnormalised probabilities, with chunked output layers and a shift-free exp where it is safe (the
kernels of seqgan_gym/_kernels/, each checked against its plain form in tests/test_kernels.py).
These tests compare the empirical distribution of their draws with ``torch.softmax`` by a
chi-square test (with a check that the test would see a 5% distortion), check that all randomness
comes from the passed ``torch.Generator``, and that ``sequence_nll`` equals the plain cross-entropy.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqgan_gym._kernels import inverse_cdf, output_layer
from seqgan_gym._kernels.threads import side_by_side_workers
from seqgan_gym.models.likelihood import sequence_nll
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.sampling import output_cross_entropy, sample_categorical
from seqgan_gym.utils import torch_threads

V = 301  # 3 blocks of 101 entries (101 * 3 = 303: two padding columns in complete)
N_DRAWS = 100_000


def chi2_statistic(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom; bins expecting < 5 draws are pooled."""
    counts, expected = counts.double(), probs.double() * counts.sum()
    small = expected < 5
    obs = torch.cat([counts[~small], counts[small].sum().view(1)])
    exp = torch.cat([expected[~small], expected[small].sum().view(1)])
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    return float(((obs - exp) ** 2 / exp).sum()), int(keep.sum()) - 1


def chi2_threshold(df: int, z: float = 4.265) -> float:
    """Upper quantile of chi-square(df) by Wilson-Hilferty; z = 4.265 is p = 1e-5."""
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def assert_draws_follow(draws: torch.Tensor, probs: torch.Tensor, check_power: bool = True) -> None:
    """Chi-square goodness of fit of ``draws`` to ``probs``, and power against a 5% distortion."""
    counts = torch.bincount(draws, minlength=probs.numel()).double()
    assert counts[probs == 0].sum() == 0, "a token of probability 0 was drawn"
    stat, df = chi2_statistic(counts, probs)
    assert stat < chi2_threshold(df), f"chi2 = {stat:.1f} with {df} df: draws do not follow softmax"
    if not check_power:
        return
    # the same test must reject a slightly wrong distribution, or it proves nothing
    wrong = torch.softmax(torch.log(probs.double()) * 1.05, 0)
    wrong_stat, wrong_df = chi2_statistic(counts, wrong)
    assert wrong_stat > chi2_threshold(wrong_df), "the chi-square test has no power here"


def test_sample_categorical_matches_softmax():
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(V, generator=rng) * 2
    logits[[0, 5, 150, V - 1]] = float("-inf")  # masked tokens, including the first and last
    probs = torch.softmax(logits, 0)
    draws = torch.cat(
        [sample_categorical(logits.expand(10_000, V), rng) for _ in range(N_DRAWS // 10_000)]
    )
    assert draws.shape == (N_DRAWS,) and draws.dtype == torch.long
    assert_draws_follow(draws, probs)


def test_sample_categorical_small_and_single_block_vocabularies():
    rng = torch.Generator().manual_seed(1)
    for vocab in (2, 7, 128, 129):
        logits = torch.randn(vocab, generator=rng)
        draws = sample_categorical(logits.expand(50_000, vocab), rng)
        assert 0 <= draws.min() and draws.max() < vocab
        assert_draws_follow(draws, torch.softmax(logits, 0), check_power=False)


def _model_and_state(bias_shift: float = 0.0):
    """A V = 301 LSTM and the state after a 3-token prefix, repeated over N_DRAWS rows.

    ``bias_shift`` is added to every output bias: the softmax is unchanged, but exp(logits)
    overflows (+200) or underflows (-200), so the sampler must take its stable path.
    """
    m = LSTMLanguageModel(V, 6, emb_dim=8, hidden_dim=16)
    m.init_normal_(1.0, torch.Generator().manual_seed(2))
    with torch.no_grad():
        m.output.bias.add_(bias_shift)
    prefix = torch.tensor([[0, 17, 250]])
    state = m.initial_state(1)
    tokens = m.start_tokens(1)
    with torch.no_grad():
        for t in range(prefix.shape[1]):
            _, state = m.step(tokens, state)
            tokens = prefix[:, t]
        logits, _ = m.step(tokens, state)
    rows = (tokens.expand(N_DRAWS), tuple(s.expand(N_DRAWS, -1).contiguous() for s in state))
    return m, rows, logits[0]


@pytest.mark.parametrize(
    "temperature, bias_shift",
    [(1.0, 0.0), (0.7, 0.0), (1.0, 200.0), (1.0, -200.0)],
    ids=["plain", "temperature", "exp-overflows", "exp-underflows"],
)
def test_complete_draws_follow_step_softmax(monkeypatch, temperature, bias_shift):
    monkeypatch.setattr(inverse_cdf, "CPU_CHUNK_ROWS", 4096 + 7)  # chunks of unequal length
    m, (tokens, state), logits = _model_and_state(bias_shift)
    new, _ = m.complete(tokens, state, 1, temperature, torch.Generator().manual_seed(3))
    assert_draws_follow(new[:, 0], torch.softmax(logits / temperature, 0))


def test_complete_second_token_follows_the_conditional():
    m, (tokens, state), _ = _model_and_state()
    new, _ = m.complete(tokens, state, 2, rng=torch.Generator().manual_seed(4))
    first = int(torch.mode(new[:, 0]).values)  # condition on the most frequent first token
    rows = new[:, 0] == first
    with torch.no_grad():
        _, s1 = m.step(tokens[:1], tuple(x[:1] for x in state))
        logits, _ = m.step(torch.tensor([first]), s1)
    probs = torch.softmax(logits[0], 0)
    counts = torch.bincount(new[rows, 1], minlength=V).double()
    stat, df = chi2_statistic(counts, probs)
    assert stat < chi2_threshold(df)


def test_same_generator_seed_gives_the_same_samples():
    m = LSTMLanguageModel(V, 6).init_normal_(1.0, torch.Generator().manual_seed(6))
    torch.manual_seed(123)  # the global RNG must play no part
    a = m.sample(500, rng=torch.Generator().manual_seed(7))
    torch.manual_seed(456)
    b = m.sample(500, rng=torch.Generator().manual_seed(7))
    c = m.sample(500, rng=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    logits = torch.randn(64, V)
    torch.manual_seed(1)
    x = sample_categorical(logits, torch.Generator().manual_seed(9))
    torch.manual_seed(2)
    y = sample_categorical(logits, torch.Generator().manual_seed(9))
    assert torch.equal(x, y)


def test_sample_categorical_returns_the_draws_log_probabilities_and_the_same_draws():
    logits = torch.randn(300, V) * 4  # peaked rows as well as flat ones
    logits[0] += 500.0  # large logits: the log-probabilities must not overflow
    draws = sample_categorical(logits, torch.Generator().manual_seed(3))
    same, log_prob = sample_categorical(logits, torch.Generator().manual_seed(3), return_log_prob=True)
    assert torch.equal(draws, same)
    want = torch.log_softmax(logits.double(), 1).gather(1, draws[:, None]).squeeze(1)
    torch.testing.assert_close(log_prob.double(), want, rtol=1e-5, atol=1e-5)


def test_sample_categorical_leaves_logits_unchanged():
    logits = torch.randn(8, V)
    before = logits.clone()
    sample_categorical(logits, torch.Generator().manual_seed(0))
    assert torch.equal(logits, before)


@pytest.mark.parametrize(
    "bias_shift", [0.0, 200.0, -200.0], ids=["plain", "exp-overflows", "exp-underflows"]
)
def test_sequence_nll_equals_cross_entropy(monkeypatch, bias_shift):
    monkeypatch.setattr(output_layer, "CPU_CHUNK_ROWS", 33)  # chunks cross sequence boundaries
    m, _, _ = _model_and_state(bias_shift)
    seqs = torch.randint(0, V, (37, 6), generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        ref = F.cross_entropy(m.logits(seqs).flatten(0, 1).double(), seqs.flatten()).item()
    for threads in (1, 3):  # 3: batches side by side on three threads (batch size 5: 8 batches)
        with torch_threads(threads):
            for batch_size in (5, 256):
                assert sequence_nll(m, seqs, batch_size=batch_size) == pytest.approx(ref, rel=1e-5)


def test_complete_side_by_side_draws_the_same_tokens_as_in_turn():
    """600 rows on 3 threads: two chunks of 300 side by side (at least 256 rows each), against
    one chunk on one thread, from the same uniforms and with an rng."""
    m = LSTMLanguageModel(300, 6, 8, 8).init_normal_(1.0, torch.Generator().manual_seed(0))
    u = torch.rand(600, 5, generator=torch.Generator().manual_seed(1))

    def draws():
        given, _ = m.complete(m.start_tokens(600), m.initial_state(600), 5, uniforms=u)
        seeded, _ = m.complete(m.start_tokens(600), m.initial_state(600), 5,
                               rng=torch.Generator().manual_seed(2))
        return given, seeded

    with torch_threads(3):
        assert side_by_side_workers(torch.device("cpu"), 600 // 256) == 2
        side = draws()
    with torch_threads(1):
        in_turn = draws()
    assert torch.equal(side[0], in_turn[0]) and torch.equal(side[1], in_turn[1])
    assert len(side[0].unique()) > 100  # real draws over the vocabulary, not a constant


def test_complete_with_given_uniforms_uses_exactly_those_draws():
    from seqgan_gym.models.lstm import LSTMLanguageModel

    m = LSTMLanguageModel(40, 6).init_normal_(1.0, torch.Generator().manual_seed(0))
    u = torch.rand(8, 5, generator=torch.Generator().manual_seed(1))
    tokens, state = m.start_tokens(8), m.initial_state(8)
    together, _ = m.complete(tokens, state, 5, uniforms=u)
    one_by_one = []
    for t in range(5):  # the same draws, fed one step at a time
        tokens, state = m.complete(tokens, state, 1, uniforms=u[:, t : t + 1])
        tokens = tokens[:, 0]
        one_by_one.append(tokens)
    assert torch.equal(together, torch.stack(one_by_one, 1))
    assert not torch.equal(together, m.complete(m.start_tokens(8), m.initial_state(8), 5,
                                                uniforms=1 - u)[0])
    with pytest.raises(ValueError, match="uniforms must have shape"):
        m.complete(m.start_tokens(8), m.initial_state(8), 5, uniforms=u[:, :4])


def test_output_cross_entropy_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="targets"):
        output_cross_entropy(torch.zeros(4, 3), torch.zeros(5, 3), torch.zeros(5),
                             torch.zeros(3, dtype=torch.long))
