"""Every kernel of seqgan_gym._kernels against the plain PyTorch reference beside it.

One section per kernel module. A kernel must give its reference's values (and gradients, where it
has a backward) up to float rounding, and the same draws where it draws; kernels that split their
work over threads are checked at 1 thread and at several (the side-by-side path), and must repeat
bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seqgan_gym._kernels import conv, inverse_cdf, log_prob_entropy, lstm, output_layer, prefixes, threads
from seqgan_gym.utils import torch_threads


# ----------------------------------------------------------------------------- threads
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_side_by_side_equals_its_reference_one_torch_thread_per_call(workers):
    seen = []

    def fn(part):
        seen.append((torch.get_num_threads(), torch.is_grad_enabled()))
        return torch.tensor(part, dtype=torch.float64).square().sum()

    items = list(range(10))
    with torch_threads(3), torch.no_grad():
        got = threads.side_by_side(fn, items, workers)
        assert torch.get_num_threads() == 3
    want = threads.side_by_side_reference(fn, items, workers)
    assert len(got) == len(want) == workers
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    if workers > 1:  # the pool's calls: one torch thread each, the caller's gradient mode
        assert seen[:workers] == [(1, False)] * workers


def test_side_by_side_workers_count_threads_chunks_and_the_one_thread_block():
    cpu = torch.device("cpu")
    with torch_threads(3):
        assert threads.side_by_side_workers(cpu, 2) == 2
        assert threads.side_by_side_workers(cpu, 8) == 3
        assert threads.side_by_side_workers(cpu, 0) == 1
        with threads.one_thread_per_operation(3):
            assert torch.get_num_threads() == 1 and threads.side_by_side_workers(cpu, 8) == 3
            with threads.every_thread():
                assert torch.get_num_threads() == 3 and threads.side_by_side_workers(cpu, 8) == 3
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
    with torch_threads(1):
        assert threads.side_by_side_workers(cpu, 8) == 1
    assert threads.side_by_side_workers(torch.device("meta"), 8) == 1


# ----------------------------------------------------------------------------- output layer
def test_folded_output_layer_gives_the_logits_and_pads_with_probability_zero():
    gen = torch.Generator().manual_seed(0)
    weight, bias, hidden = torch.randn(7, 3, generator=gen), torch.randn(7, generator=gen), torch.randn(4, 3)
    weight1 = output_layer.folded_output_layer(weight, bias, 0.5, n_cols=9)
    logits = F.pad(hidden, (0, 1), value=1.0) @ weight1
    torch.testing.assert_close(logits[:, :7], F.linear(hidden, weight, bias) / 0.5)
    assert (logits[:, 7:] == float("-inf")).all()
    with pytest.raises(ValueError, match="n_cols"):
        output_layer.folded_output_layer(weight, bias, n_cols=6)


def test_exp_logits_uses_the_stable_form_only_where_needed():
    hidden1 = torch.tensor([[0.1, -0.2, 1.0], [200.0, 0.0, 1.0], [-300.0, 0.0, 1.0]])
    weight1 = torch.randn(3, 40, generator=torch.Generator().manual_seed(5))
    weight1[0] = torch.linspace(-1, 1, 40)  # rows 2 and 3: logits up to +-300
    logits = hidden1 @ weight1
    p, block_sums, shift = output_layer.exp_logits_(hidden1, weight1, torch.empty(3, 40), n_blocks=4)
    assert shift[0] == 0 and shift[1] != 0 and shift[2] != 0
    torch.testing.assert_close(block_sums.sum(1).log() + shift[:, 0], torch.logsumexp(logits, 1))
    torch.testing.assert_close(p, torch.exp(logits - shift))
    torch.testing.assert_close(block_sums, p.view(3, 4, 10).sum(2))


def test_exp_logits_in_base_2_equal_the_reference():
    """exp_logits_'s exp2 of the logits times log2(e) gives exp of the logits (float32 rounding),
    safe rows and rows recomputed with their max subtracted alike."""
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([[1.0], [1.0], [1.0], [1.0], [30.0], [60.0]])  # the last two overflow unshifted
    hidden1 = torch.cat([torch.randn(6, 8, generator=g) * scale, torch.ones(6, 1)], 1)
    weight1 = torch.randn(9, 40, generator=g)
    p, block_sums, shift = output_layer.exp_logits_(hidden1, weight1, torch.empty(6, 40), 4)
    assert (shift[4:] > 0).all() and (shift[:4] == 0).all()  # the shifted rows were exercised
    softmax, logsumexp = output_layer.exp_logits_reference(hidden1, weight1)
    torch.testing.assert_close(p, torch.exp(hidden1 @ weight1 - shift), rtol=2e-5, atol=0)
    torch.testing.assert_close(p / block_sums.sum(1, keepdim=True), softmax, rtol=2e-5, atol=1e-12)
    torch.testing.assert_close(block_sums.sum(1).log() + shift[:, 0], logsumexp, rtol=2e-5, atol=0)
    torch.testing.assert_close(block_sums, p.view(6, 4, 10).sum(2))


@pytest.mark.parametrize("threads_", [1, 3])  # 3: the chunks side by side on three threads
@pytest.mark.parametrize("chunk", [7, 64, 1000])
@pytest.mark.parametrize("scale", [0.1, 60.0])  # 60: rows whose exp overflows take the stable path
def test_output_cross_entropy_equals_linear_plus_cross_entropy(chunk, scale, threads_):
    gen = torch.Generator().manual_seed(5)
    rows, H, V2 = 150, 9, 301
    hidden = torch.randn(rows, H, generator=gen, dtype=torch.float64)
    weight = torch.randn(V2, H, generator=gen, dtype=torch.float64) * scale
    bias = torch.randn(V2, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, V2, (rows,), generator=gen)
    leaves = [t.float().requires_grad_() for t in (hidden, weight, bias)]
    with torch_threads(threads_):
        loss = output_layer.output_cross_entropy(*leaves, targets, chunk=chunk)
    (2.5 * loss).backward()  # a non-unit incoming gradient must scale every gradient
    ref_leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias)]
    ref = output_layer.output_cross_entropy_reference(*ref_leaves, targets)
    (2.5 * ref).backward()
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5)
    for got, want in zip(leaves, ref_leaves):
        torch.testing.assert_close(got.grad.double(), want.grad, rtol=1e-4, atol=1e-5)


def test_output_cross_entropy_side_by_side_repeats_and_equals_one_chunk_at_a_time():
    gen = torch.Generator().manual_seed(6)
    hidden, weight = torch.randn(100, 8, generator=gen), torch.randn(50, 8, generator=gen)
    bias, targets = torch.randn(50, generator=gen), torch.randint(0, 50, (100,), generator=gen)

    def loss_and_grads(n_threads, kernel=True):
        leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias)]
        with torch_threads(n_threads):
            if kernel:
                loss = output_layer.output_cross_entropy(*leaves, targets, chunk=16)  # 7 chunks
            else:
                loss = output_layer.output_cross_entropy_reference(*leaves, targets)
        loss.backward()
        return [loss.detach()] + [t.grad for t in leaves]

    with torch_threads(2):
        assert threads.side_by_side_workers(torch.device("cpu"), 7) == 2  # the path under test
    side_by_side, again = loss_and_grads(2), loss_and_grads(2)
    in_turn, reference = loss_and_grads(1), loss_and_grads(1, kernel=False)
    for a, b, c, d in zip(side_by_side, again, in_turn, reference):
        assert torch.equal(a, b)  # the same split and order of sums: bit for bit
        torch.testing.assert_close(a, c, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(a, d, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("masked", [False, True], ids=["every-position", "up-to-eos"])
def test_summed_nll_equals_the_reference(monkeypatch, masked):
    monkeypatch.setattr(output_layer, "CPU_CHUNK_ROWS", 33)  # chunks cross sequence boundaries
    gen = torch.Generator().manual_seed(7)
    V, T, H = 301, 6, 9
    table = torch.randn(V, T, H, generator=gen)  # a stand-in for the LSTM: h_t = table[y_t, t]
    hidden_states = lambda s: table[s, torch.arange(s.shape[1])]  # noqa: E731
    token_mask = (lambda s: (s == 3).long().cumsum(1) - (s == 3).long() == 0) if masked else (lambda s: None)
    weight1 = output_layer.folded_output_layer(torch.randn(V, H, generator=gen) * 8,
                                               torch.randn(V, generator=gen), temperature=0.7)
    seqs = torch.randint(0, 8, (37, T), generator=gen)  # 3 (the "EOS") is common
    want, want_n = output_layer.summed_nll_reference(hidden_states, token_mask, weight1, seqs)
    for n_threads in (1, 3):  # 3: batches side by side on three threads (batch size 5: 8 batches)
        with torch_threads(n_threads):
            for batch_size in (5, 256):
                got, n = output_layer.summed_nll(hidden_states, token_mask, weight1, seqs, batch_size)
                assert n == want_n and (n < 37 * T) == masked
                assert got.item() == pytest.approx(want.item(), rel=1e-5)


# ----------------------------------------------------------------------------- inverse CDF
def test_zero_probability_entries_are_never_drawn_at_the_extreme_uniforms():
    p = torch.tensor([[0.0, 0.0, 1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0, 1.0, 0.0]])
    blocks = p.view(2, 3, 2)
    for u in (0.0, 1.0 - 2.0**-24):
        drawn = inverse_cdf.draw(blocks, blocks.sum(2), torch.full((2, 1), u))
        assert (p.gather(1, drawn[:, None]) > 0).all(), (u, drawn)
        assert torch.equal(drawn, inverse_cdf.draw_reference(p, torch.full((2, 1), u)))


def test_draw_equals_the_reference():
    gen = torch.Generator().manual_seed(8)
    n_blocks, block = inverse_cdf.block_layout(301)
    assert (n_blocks, block) == (3, 101)
    p = torch.rand(2000, n_blocks * block, generator=gen, dtype=torch.float64)
    p[p < 0.3] = 0.0  # zero-probability entries, some at block edges
    u = torch.rand(2000, 1, generator=gen, dtype=torch.float64)
    blocks = p.view(2000, n_blocks, block)
    assert torch.equal(inverse_cdf.draw(blocks, blocks.sum(2), u), inverse_cdf.draw_reference(p, u))


@pytest.mark.parametrize("vocab", [2, 7, 128, 129, 301, 5000])
def test_sample_categorical_equals_the_reference_draw_for_draw(vocab):
    gen = torch.Generator().manual_seed(vocab)
    logits = torch.randn(500, vocab, generator=gen) * 3
    logits[0] += 500.0  # large logits: no overflow
    logits[1, : vocab // 2] = float("-inf")  # masked tokens
    draws, log_prob = inverse_cdf.sample_categorical(logits, torch.Generator().manual_seed(1), True)
    u = torch.rand(500, 1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws, inverse_cdf.sample_categorical_reference(logits, u).squeeze(1))
    want = torch.log_softmax(logits.double(), 1).gather(1, draws[:, None]).squeeze(1)
    torch.testing.assert_close(log_prob.double(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_threads", [1, 3])  # 3: 600 rows, two chunks of 300 side by side
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_output_layer_sampler_draws_the_references_tokens(n_threads, temperature):
    gen = torch.Generator().manual_seed(9)
    V, H, rows = 301, 8, 600
    weight, bias = torch.randn(V, H, generator=gen), torch.randn(V, generator=gen)
    hidden = torch.randn(rows, H, generator=gen) * 2
    u = torch.rand(rows, 1, generator=gen)
    with torch_threads(n_threads):
        sampler = inverse_cdf.OutputLayerSampler(weight, bias, temperature, rows)
        assert sampler.workers == (2 if n_threads == 3 else 1)
        out = torch.empty(rows, 3, dtype=torch.long)
        got = sampler.draw(hidden, u, out=out[:, 1])
    assert got.data_ptr() == out[:, 1].data_ptr()
    want = inverse_cdf.sample_categorical_reference(F.linear(hidden, weight, bias) / temperature, u)
    assert torch.equal(got, want.squeeze(1))
    assert len(got.unique()) > 100  # real draws over the vocabulary, not a constant


# ----------------------------------------------------------------------------- LSTM
@pytest.mark.parametrize("inputs_need_grad", [True, False])
def test_run_lstm_trains_on_one_thread_with_the_same_values_and_gradients(inputs_need_grad):
    """With two torch threads, run_lstm's forward and backward run on one (oneDNN's RNN is slower on
    two at these sizes), give nn.LSTM's outputs and gradients, and leave two threads set."""
    torch.manual_seed(0)
    net = torch.nn.LSTM(8, 6, batch_first=True)
    x = torch.randn(5, 7, 8, requires_grad=inputs_need_grad)
    weights = torch.randn(5, 7, 6)
    forward_threads, backward_threads = [], []
    net.register_forward_hook(lambda *_: forward_threads.append(torch.get_num_threads()))
    net.weight_hh_l0.register_hook(lambda g: backward_threads.append(torch.get_num_threads()))
    with torch_threads(2):
        (lstm.run_lstm_reference(net, x) * weights).sum().backward()
        expected = [t.grad.clone() for t in (net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0)]
        expected_x = x.grad.clone() if inputs_need_grad else None
        for t in (x, *net.parameters()):
            t.grad = None
        forward_threads.clear(), backward_threads.clear()
        out = lstm.run_lstm(net, x)
        assert forward_threads == [1] and torch.get_num_threads() == 2
        torch.testing.assert_close(out, lstm.run_lstm_reference(net, x))
        (out * weights).sum().backward()
        assert backward_threads[0] == 1 and torch.get_num_threads() == 2
    for got, want in zip((net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0), expected):
        torch.testing.assert_close(got.grad, want)
    if inputs_need_grad:
        torch.testing.assert_close(x.grad, expected_x)
    else:
        assert x.grad is None


def test_run_lstm_keeps_every_thread_without_gradients():
    net = torch.nn.LSTM(4, 4, batch_first=True)
    seen = []
    net.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    with torch_threads(2), torch.no_grad():
        lstm.run_lstm(net, torch.randn(3, 5, 4))
    assert seen == [2]


# ----------------------------------------------------------------------------- convolutions
def test_conv_max_pool_gradcheck():
    torch.manual_seed(1)
    widths, counts, E = (1, 2, 4), (3, 2, 2), 3
    emb = torch.randn(2, 5, E, dtype=torch.double, requires_grad=True)
    ws = [
        torch.randn(n, w * E, dtype=torch.double, requires_grad=True)
        for w, n in zip(widths, counts)
    ]
    assert torch.autograd.gradcheck(lambda e, *w: conv.conv_max_pool(e, widths, w), (emb, *ws))


@pytest.mark.parametrize("n_threads", [1, 3])  # 3: the widths side by side on three threads
def test_conv_max_pool_equals_the_reference_values_and_gradients(n_threads):
    """The paper's widths at T = 20: positions 20 .. 1, so both ways of forming the weight gradient
    (the weighted sum of maximal windows for P >= 4, the dense product below) run."""
    torch.manual_seed(2)
    widths, E = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20), 8
    emb = torch.randn(9, 20, E, dtype=torch.double, requires_grad=True)
    ws = [torch.randn(w + 2, w * E, dtype=torch.double, requires_grad=True) for w in widths]
    g_out = torch.randn(9, sum(w + 2 for w in widths), dtype=torch.double)
    with torch_threads(n_threads):
        got = conv.conv_max_pool(emb, widths, ws)
        got_grads = torch.autograd.grad((got * g_out).sum(), [emb, *ws])
    want = conv.conv_max_pool_reference(emb, widths, ws)
    want_grads = torch.autograd.grad((want * g_out).sum(), [emb, *ws])
    torch.testing.assert_close(got, want)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b)
    firsts = [min(3, 20 - w) for w in widths]  # the no-gradient forward from later positions
    with torch.no_grad():
        torch.testing.assert_close(conv.conv_max_pool(emb, widths, ws, firsts),
                                   conv.conv_max_pool_reference(emb, widths, ws, firsts))
    with pytest.raises(ValueError, match="no-gradient"):
        conv.conv_max_pool(emb, widths, ws, firsts)


# ----------------------------------------------------------------------------- log-prob and entropy
@pytest.mark.parametrize("keep", [True, False])  # the kept probabilities, or recomputed ones
@pytest.mark.parametrize("rows", [1, 70, 200])  # 70, 200: several blocks of 64 rows
def test_log_prob_and_entropy_equal_torch_categorical_gradients_included(rows, keep):
    torch.manual_seed(rows)
    hidden = torch.randn(rows, 32, dtype=torch.float64, requires_grad=True)
    output = torch.nn.Linear(32, 300).double()
    with torch.no_grad():
        output.weight.mul_(4)  # peaked rows as well as flat ones
    actions = torch.randint(0, 300, (rows,))
    for g_entropy in (torch.randn(rows, dtype=torch.float64), torch.zeros(rows, dtype=torch.float64)):
        g_log_prob = torch.randn(rows, dtype=torch.float64)
        params = [hidden, output.weight, output.bias]
        want = log_prob_entropy.log_prob_entropy_reference(*params, actions)
        got = log_prob_entropy.log_prob_entropy(*params, actions)
        if not keep:  # a later pass of the same shape takes the buffer: the backward recomputes
            log_prob_entropy.log_prob_entropy(*params, actions)
        want_grads = torch.autograd.grad((want[0] * g_log_prob + want[1] * g_entropy).sum(), params)
        got_grads = torch.autograd.grad((got[0] * g_log_prob + got[1] * g_entropy).sum(), params)
        for a, b in zip(got + got_grads, want + want_grads):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_kept_probabilities_overwritten_by_a_later_pass_are_recomputed():
    """Two passes through the same (reused) buffer before either backward, and a second backward
    of one graph: every gradient still equals autograd's through ``Categorical``."""
    torch.manual_seed(0)
    output = torch.nn.Linear(32, 300).double()
    hidden = [torch.randn(70, 32, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    actions = [torch.randint(0, 300, (70,)) for _ in range(2)]
    g_log_prob = torch.randn(70, dtype=torch.float64)
    got = [log_prob_entropy.log_prob_entropy(h, output.weight, output.bias, a)[0]
           for h, a in zip(hidden, actions)]
    for i in (0, 1, 1):  # the first pass's buffer was taken by the second; then a second backward
        params = [hidden[i], output.weight, output.bias]
        want = log_prob_entropy.log_prob_entropy_reference(*params, actions[i])[0]
        want_grads = torch.autograd.grad((want * g_log_prob).sum(), params)
        got_grads = torch.autograd.grad((got[i] * g_log_prob).sum(), params, retain_graph=True)
        for a, b in zip(got_grads, want_grads):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- prefixes
@pytest.mark.parametrize("vocab", [1, 5, 5000, 2**40])
def test_unique_rows_equals_torch_unique(vocab):
    rng = torch.Generator().manual_seed(vocab % 1000)
    for t in (1, 7, 20, 33):
        full = torch.randint(0, vocab, (12, t), generator=rng)
        tokens = full[torch.randint(0, 12, (300,), generator=rng)]  # duplicates and shared prefixes
        lengths = torch.randint(0, t + 1, (300,), generator=rng)
        tokens[torch.arange(t)[None, :] >= lengths[:, None]] = -1
        got, want = prefixes.unique_rows(tokens), prefixes.unique_rows_reference(tokens)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert prefixes.unique_rows(torch.zeros(0, 4, dtype=torch.long))[0].shape == (0, 4)
