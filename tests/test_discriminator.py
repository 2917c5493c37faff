"""The paper's CNN discriminator and its training (seqgan_gym.models.discriminator, training)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqgan_gym.models.discriminator import (
    PAPER_FILTER_SIZES,
    PAPER_NUM_FILTERS,
    Discriminator,
    discriminator_flops,
    make_discriminator_optimizer,
)
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.training.updates import discriminator_epoch, train_discriminator
from seqgan_gym.utils import torch_threads

SMALL = dict(emb_dim=8, filter_sizes=(1, 2, 3, 5), num_filters=(4, 6, 3, 5))


def small_d(vocab_size: int = 30, seq_len: int = 7, **kw) -> Discriminator:
    torch.manual_seed(0)
    return Discriminator(vocab_size, seq_len, **{**SMALL, **kw})


def reference_logits(d: Discriminator, x: torch.Tensor) -> torch.Tensor:
    """Slow, literal form of the authors' graph: Conv2d over (B, 1, T, E), ReLU, max-pool."""
    e = d.embedding(x).unsqueeze(1)  # (B, 1, T, E)
    pooled = []
    for w, conv in zip(d.filter_sizes, d.convs):
        kernel = conv.weight.view(-1, 1, w, d.emb_dim)  # (n, 1, w, E)
        h = F.relu(F.conv2d(e, kernel, conv.bias))  # (B, n, T - w + 1, 1)
        pooled.append(F.max_pool2d(h, (d.seq_len - w + 1, 1)).flatten(1))
    h = torch.cat(pooled, 1)
    t = torch.sigmoid(d.highway_gate(h))
    h = t * F.relu(d.highway_transform(h)) + (1 - t) * h
    return d.output(d.dropout(h))


def test_parameter_count_is_the_papers():
    V, E = 5000, 64
    d = Discriminator(V, 20)
    n_features = sum(PAPER_NUM_FILTERS)
    assert n_features == 1720
    expected = (
        V * E
        + sum(w * E * n + n for w, n in zip(PAPER_FILTER_SIZES, PAPER_NUM_FILTERS))
        + 2 * (n_features * n_features + n_features)
        + n_features * 2
        + 2
    )
    assert sum(p.numel() for p in d.parameters()) == expected


def test_flops_formula():
    conv = sum((20 - w + 1) * w * 64 * n for w, n in zip(PAPER_FILTER_SIZES, PAPER_NUM_FILTERS))
    assert discriminator_flops(20) == 2 * (conv + 2 * 1720**2 + 1720 * 2) == 27_021_280
    assert discriminator_flops(4, 2, (1, 2), (3, 1)) == 2 * (4 * 2 * 3 + 3 * 4 * 1 + 2 * 16 + 8)


def test_shapes_and_prob_range():
    d = small_d()
    x = torch.randint(0, 30, (5, 7))
    assert d(x).shape == (5, 2)
    p = d.prob_real(x, batch_size=2)
    assert p.shape == (5,) and p.dtype == torch.float32
    assert ((p >= 0) & (p <= 1)).all()
    assert d.loss(x, torch.tensor([1, 0, 1, 0, 1])).dim() == 0
    assert d.prob_real(x[:0]).shape == (0,)


def test_dropout_is_drop_probability_quarter():
    d = Discriminator(50, 20)
    drops = [m for m in d.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 and drops[0].p == pytest.approx(0.25)  # keep 0.75, as the authors


def test_matches_literal_conv2d_port_values_and_grads():
    d = small_d().double()
    d.eval()
    x = torch.randint(0, 30, (6, 7))
    x[0] = 3  # repeated tokens: exact ties in the max-pool
    fast, slow = d(x), reference_logits(d, x)
    torch.testing.assert_close(fast, slow)
    g_fast = torch.autograd.grad(fast.square().sum(), list(d.parameters()))
    g_slow = torch.autograd.grad(reference_logits(d, x).square().sum(), list(d.parameters()))
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("threads", [1, 3])  # 3: the widths side by side on three threads
def test_paper_filters_grads_match_literal_port(threads):
    """The paper's 12 widths at T = 20: positions 20 .. 1, so both ways of forming the weight
    gradient (the weighted sum of maximal windows for P >= 4, the dense product below) run."""
    torch.manual_seed(3)
    d = Discriminator(40, 20, emb_dim=8).double()
    d.eval()
    x = torch.randint(0, 40, (9, 20))
    x[1, 4:] = 7  # a repeated token: exact ties in the max-pool
    with torch_threads(threads):
        fast = d(x)
        g_fast = torch.autograd.grad(fast.square().sum(), list(d.parameters()))
    torch.testing.assert_close(fast, reference_logits(d, x))
    g_slow = torch.autograd.grad(reference_logits(d, x).square().sum(), list(d.parameters()))
    for (name, _), a, b in zip(d.named_parameters(), g_fast, g_slow):
        torch.testing.assert_close(a, b, msg=name)


def test_prob_real_is_deterministic_and_restores_mode():
    d = small_d()
    x = torch.randint(0, 30, (16, 7))
    d.train()
    p1, p2 = d.prob_real(x), d.prob_real(x, batch_size=3)
    assert d.training
    torch.testing.assert_close(p1, p2)
    d.eval()
    torch.testing.assert_close(p1, torch.softmax(d(x), 1)[:, 1])
    d.prob_real(x)
    assert not d.training
    d.train()
    assert not torch.equal(d(x), d(x))  # dropout is on in train mode


def test_token_validation():
    d = small_d()
    with pytest.raises(ValueError, match="out of range"):
        d(torch.tensor([[0, 1, 2, 3, 4, 5, 30]]))
    with pytest.raises(ValueError, match="out of range"):
        d.prob_real(torch.tensor([[0, 1, 2, 3, 4, 5, -1]]))
    with pytest.raises(ValueError, match="out of range"):
        d.loss(torch.full((2, 7), 99), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        d(torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(TypeError):
        d(torch.zeros(2, 7))


def test_filter_wider_than_sequence_raises():
    with pytest.raises(ValueError, match="exceed seq_len"):
        Discriminator(50, 10)  # the paper's widths 15 and 20 do not fit T = 10
    Discriminator(50, 20)  # width 20 fits T = 20 (one position)


def test_l2_term_is_authors_output_layer_l2():
    d = small_d()
    d.eval()
    x, y = torch.randint(0, 30, (4, 7)), torch.tensor([1, 0, 0, 1])
    w, b = d.output.weight, d.output.bias
    expected = 0.2 * (w.square().sum() + b.square().sum()) / 2
    torch.testing.assert_close(d.l2_penalty(), expected)
    torch.testing.assert_close(d.loss(x, y), F.cross_entropy(d(x), y) + expected)


def test_authors_initialisation():
    d = Discriminator(100, 20)
    assert d.embedding.weight.abs().max() <= 1.0
    assert all(torch.all(c.bias == 0.1) for c in d.convs) and torch.all(d.output.bias == 0.1)
    assert d.output.weight.abs().max() <= 0.2  # truncated at 2 std, std 0.1
    shifted = Discriminator(100, 20, highway_gate_bias=-2.0)
    assert shifted.highway_gate.bias.mean().item() == pytest.approx(-2.0, abs=0.01)


def test_optimizer_is_adam_lr_1e4_over_all_parameters():
    d = small_d()
    opt = make_discriminator_optimizer(d)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.param_groups[0]["lr"] == 1e-4
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(d.parameters()))


def test_train_discriminator_schedule_and_repeatability():
    calls = []

    def negatives(n: int) -> torch.Tensor:
        calls.append(n)
        return torch.randint(0, 30, (n, 7), generator=torch.Generator().manual_seed(len(calls)))

    real = torch.randint(0, 30, (40, 7), generator=torch.Generator().manual_seed(9))
    results = []
    for _ in range(2):
        calls.clear()
        d = small_d()
        stats = train_discriminator(
            d, make_discriminator_optimizer(d), real, negatives, n_negatives=40, d_steps=2, k=3,
            batch_size=16, shuffle_rng=torch.Generator().manual_seed(0),
        )
        assert calls == [40, 40]
        assert set(stats) == {"loss", "acc_real", "acc_fake"}
        results.append((stats, d.output.weight.detach().clone()))
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])


def test_discriminator_epoch_stats_count_each_class():
    d = small_d()
    opt = make_discriminator_optimizer(d)
    real = torch.randint(0, 30, (10, 7))
    fake = torch.randint(0, 30, (30, 7))
    stats = discriminator_epoch(d, opt, real, fake, batch_size=7)
    assert 0 <= stats["acc_real"] <= 1 and 0 <= stats["acc_fake"] <= 1 and stats["loss"] > 0


def test_separates_oracle_samples_from_uniform_noise():
    """A small D (the paper's design, fewer and narrower filters) learns oracle vs uniform noise.

    The full-size D learns the same task, but at the paper's lr 1e-4 it needs more steps than a
    fast test affords (it trains for ~47,000 steps in the paper), so this run uses lr 1e-3.
    """
    V, T = 100, 20
    oracle = random_oracle(5, vocab_size=V, seq_len=T)
    rng = torch.Generator().manual_seed(0)
    real = oracle.sample(320, rng=rng)
    torch.manual_seed(0)
    d = Discriminator(V, T, emb_dim=16, filter_sizes=(1, 2, 3, 4, 5), num_filters=(32,) * 5)
    stats = train_discriminator(
        d, make_discriminator_optimizer(d, lr=1e-3), real,
        lambda n: torch.randint(0, V, (n, T), generator=rng),
        n_negatives=320, d_steps=4, k=4, shuffle_rng=rng,
    )
    assert stats["acc_real"] > 0.9 and stats["acc_fake"] > 0.9  # on the training batches
    held_real = oracle.sample(200, rng=rng)  # fresh samples, never trained on
    held_fake = torch.randint(0, V, (200, T), generator=rng)
    acc = torch.cat([d.prob_real(held_real) > 0.5, d.prob_real(held_fake) <= 0.5]).float().mean()
    assert acc > 0.9


@pytest.mark.parametrize("prefix_len", [0, 1, 3, 12, 19, 20])
def test_prob_real_rollouts_equals_prob_real_of_every_row(prefix_len):
    from seqgan_gym.models.discriminator import paper_discriminator

    d = paper_discriminator(50, 20, seed=4)
    d.train()  # must run in eval mode and restore this
    gen = torch.Generator().manual_seed(prefix_len)
    groups, n = 5, 4
    completed = torch.randint(0, 50, (groups * n, 20), generator=gen)
    prefixes = torch.randint(0, 50, (groups, prefix_len), generator=gen)
    completed[:, :prefix_len] = prefixes.repeat_interleave(n, dim=0)
    expected = d.prob_real(completed)
    for batch_size in (4, 7, 1000):  # whole groups per pass, and one pass
        got = d.prob_real_rollouts(completed, n, prefix_len, batch_size=batch_size)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert d.training
    if prefix_len:  # a row that does not share its group's prefix is refused, not scored wrongly
        completed[n + 1, prefix_len - 1] = (completed[n, prefix_len - 1] + 1) % 50
        with pytest.raises(ValueError, match="share their first"):
            d.prob_real_rollouts(completed, n, prefix_len)
    with pytest.raises(ValueError, match="n_rollouts"):
        d.prob_real_rollouts(completed[:-1], n, prefix_len)


def test_paper_discriminator_width_scales_the_filters_and_the_config_builds_it():
    from seqgan_gym.config import get_preset
    from seqgan_gym.models.discriminator import PAPER_NUM_FILTERS, paper_discriminator

    paper = paper_discriminator(50, 20, seed=4)
    assert tuple(paper.num_filters) == PAPER_NUM_FILTERS  # width 1: the paper's D
    narrow = paper_discriminator(50, 20, seed=4, width=0.1)
    assert tuple(narrow.num_filters) == tuple(max(1, round(n * 0.1)) for n in PAPER_NUM_FILTERS)
    assert tuple(paper_discriminator(50, 20, width=0.001).num_filters) == (1,) * len(PAPER_NUM_FILTERS)
    with pytest.raises(ValueError, match="width must be a finite number > 0"):
        paper_discriminator(50, 20, width=0)
    with pytest.raises(ValueError, match="dis_width must be a finite number > 0, got -1.0"):
        get_preset("smoke").override(["dis_width=-1"])
