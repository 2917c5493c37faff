import torch

from seqgan_gym.data import sample_oracle_data
from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.metrics import nll_oracle, nll_test
from seqgan_gym.training import make_adam, mle_epoch


def test_tiny_mle_run_lowers_nll_oracle_and_nll_test(tiny_oracle):
    data = sample_oracle_data(tiny_oracle, n_train=512, n_test=256, seed=0)
    g = LSTMLanguageModel(50, 8).init_normal_(0.1, torch.Generator().manual_seed(0))
    ev = torch.Generator().manual_seed(1)
    before = nll_oracle(g, tiny_oracle, 1000, generator=ev), nll_test(g, data.test)
    opt = make_adam(g.parameters(), 0.01)
    shuffle = torch.Generator().manual_seed(2)
    losses = [mle_epoch(g, opt, data.train, 64, 5.0, shuffle) for _ in range(8)]
    after = nll_oracle(g, tiny_oracle, 1000, generator=ev), nll_test(g, data.test)
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
