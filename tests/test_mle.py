import math

import pytest
import torch

from seqgan_gym.data.oracle_data import sample_oracle_data
from seqgan_gym.evaluation.metrics import nll_oracle, nll_test
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.training.updates import mle_epoch
from seqgan_gym.utils import make_adam


def test_tiny_mle_run_lowers_nll_oracle_and_nll_test(tiny_oracle):
    data = sample_oracle_data(tiny_oracle, n_train=512, n_test=256, seed=0)
    g = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
    eval_rng = torch.Generator().manual_seed(1)
    before = nll_oracle(g, tiny_oracle, 1000, rng=eval_rng), nll_test(g, data.test)
    opt = make_adam(g.parameters(), 0.01)
    shuffle_rng = torch.Generator().manual_seed(2)
    losses = [mle_epoch(g, opt, data.train, 64, 5.0, shuffle_rng) for _ in range(8)]
    after = nll_oracle(g, tiny_oracle, 1000, rng=eval_rng), nll_test(g, data.test)
    assert losses[-1] < losses[0] - 0.2
    assert after[0] < before[0] - 0.3, (before, after)
    assert after[1] < before[1] - 0.2, (before, after)


def test_mle_is_repeatable_with_the_same_seeds(tiny_oracle):
    data = sample_oracle_data(tiny_oracle, n_train=128, n_test=16, seed=0)

    def run():
        g = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
        opt = make_adam(g.parameters(), 0.01)
        mle_epoch(g, opt, data.train, 32, 5.0, torch.Generator().manual_seed(1))
        return torch.cat([p.detach().flatten() for p in g.parameters()])

    assert torch.equal(run(), run())


def test_recurrent_bias_stays_zero_during_training(tiny_oracle):
    data = sample_oracle_data(tiny_oracle, n_train=64, n_test=8, seed=0)
    g = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
    mle_epoch(g, make_adam(g.parameters(), 0.01), data.train, 32)
    assert torch.all(g.lstm.bias_hh_l0 == 0)


def test_inverse_sigmoid_schedule():
    from seqgan_gym.training.updates import inverse_sigmoid_sampling_prob as p

    assert p(0, 100) == pytest.approx(1 / 101)
    assert p(int(100 * math.log(100)), 100) == pytest.approx(0.5, abs=0.01)
    assert p(10**9, 100) == 1.0
    assert all(p(i, 50) < p(i + 1, 50) for i in range(0, 1000, 10))
    with pytest.raises(ValueError, match="decay >= 1"):
        p(0, 0.5)


def test_scheduled_sampling_loss_without_sampling_is_the_mle_loss():
    from seqgan_gym.training.updates import mle_loss, scheduled_sampling_loss

    m = LSTMLanguageModel(30, 6).init_normal_(0.5, torch.Generator().manual_seed(0))
    batch = torch.randint(0, 30, (8, 6), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(scheduled_sampling_loss(m, batch, 0.0, None), mle_loss(m, batch))
    # with sampling, the inputs after the first differ, and so does the loss (same targets)
    rng = torch.Generator().manual_seed(2)
    assert not torch.allclose(scheduled_sampling_loss(m, batch, 1.0, rng), mle_loss(m, batch))


def test_scheduled_sampling_feeds_the_models_own_samples():
    """With sample_prob 1, the loss equals the NLL of the targets given the model's own sampled
    history: replay it by sampling with the same seeded stream."""
    from seqgan_gym.models.sampling import sample_categorical
    from seqgan_gym.training.updates import scheduled_sampling_loss

    m = LSTMLanguageModel(20, 4).init_normal_(0.5, torch.Generator().manual_seed(0))
    batch = torch.randint(0, 20, (5, 4), generator=torch.Generator().manual_seed(1))
    got = scheduled_sampling_loss(m, batch, 1.0, torch.Generator().manual_seed(3))
    rng = torch.Generator().manual_seed(3)
    state, inputs, losses = m.initial_state(5), m.start_tokens(5), []
    with torch.no_grad():
        for t in range(4):
            logits, state = m.step(inputs, state)
            losses.append(torch.nn.functional.cross_entropy(logits, batch[:, t]))
            inputs = sample_categorical(logits, rng)
            torch.rand(5, generator=rng)  # the coin flips (all "use own sample" at p = 1)
    torch.testing.assert_close(got, torch.stack(losses).mean())


def test_scheduled_sampling_lowers_nll_oracle(tiny_oracle):
    from seqgan_gym.training.updates import scheduled_sampling_epoch

    data = tiny_oracle.sample(512, rng=torch.Generator().manual_seed(0))
    m = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
    eval_rng = torch.Generator().manual_seed(9)
    before = nll_oracle(m, tiny_oracle, 1000, rng=eval_rng)
    opt = make_adam(m.parameters(), 0.01)
    step, rng = 0, torch.Generator().manual_seed(4)
    for _ in range(6):
        _, step = scheduled_sampling_epoch(m, opt, data, decay=20, first_step=step, shuffle_rng=rng,
                                           sample_rng=rng)
    assert step == 6 * 8
    after = nll_oracle(m, tiny_oracle, 1000, rng=eval_rng)
    assert after < before - 0.3, (before, after)


def test_nll_test_at_a_temperature_is_the_nll_under_the_tempered_softmax():
    m = LSTMLanguageModel(30, 6).init_normal_(0.5, torch.Generator().manual_seed(0))
    data = torch.randint(0, 30, (40, 6), generator=torch.Generator().manual_seed(1))
    for temperature in (0.5, 1.0, 1.7):
        expected = torch.nn.functional.cross_entropy((m.logits(data) / temperature).flatten(0, 1),
                                                     data.flatten())
        assert nll_test(m, data, temperature=temperature) == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        nll_test(m, data, temperature=0.0)
