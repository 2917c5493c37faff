import numpy as np
import pytest
import torch

from seqgan_gym.models.lstm import LSTMLanguageModel, paper_array_shapes


def _numpy_paper_cell_logprobs(arrays: dict, seq: np.ndarray, start_token: int = 0) -> np.ndarray:
    """The paper's equations written out in numpy, one token at a time: the slow reference."""

    def sig(x):
        return 1.0 / (1.0 + np.exp(-x))

    a = {k: v.astype(np.float64) for k, v in arrays.items()}
    h = np.zeros(a["Wi"].shape[1])
    c = np.zeros_like(h)
    x_tok, out = start_token, []
    for y in seq:
        x = a["embedding"][x_tok]
        i = sig(x @ a["Wi"] + h @ a["Ui"] + a["bi"])
        f = sig(x @ a["Wf"] + h @ a["Uf"] + a["bf"])
        o = sig(x @ a["Wog"] + h @ a["Uog"] + a["bog"])
        c_ = np.tanh(x @ a["Wc"] + h @ a["Uc"] + a["bc"])
        c = f * c + i * c_
        h = o * np.tanh(c)
        logits = h @ a["Wo"] + a["bo"]
        logits -= logits.max()
        out.append(logits[y] - np.log(np.exp(logits).sum()))
        x_tok = y
    return np.array(out)


def test_log_prob_matches_the_papers_equations(tiny_oracle):
    arrays = {k: v.numpy() for k, v in tiny_oracle.paper_arrays().items()}
    seqs = tiny_oracle.sample(4, rng=torch.Generator().manual_seed(0))
    ours = tiny_oracle.log_prob(seqs).double().numpy()
    for b in range(4):
        ref = _numpy_paper_cell_logprobs(arrays, seqs[b].numpy())
        np.testing.assert_allclose(ours[b], ref, rtol=1e-4, atol=1e-4)


def test_log_prob_equals_sum_of_stepwise_log_probs(tiny_oracle):
    seqs = tiny_oracle.sample(16, rng=torch.Generator().manual_seed(1))
    batched = tiny_oracle.log_prob(seqs)  # (16, T)
    assert batched.shape == (16, tiny_oracle.seq_len)
    state = tiny_oracle.initial_state(16)
    tokens = tiny_oracle.start_tokens(16)
    stepwise = []
    for t in range(tiny_oracle.seq_len):
        logits, state = tiny_oracle.step(tokens, state)
        stepwise.append(torch.log_softmax(logits, -1).gather(1, seqs[:, t : t + 1]).squeeze(1))
        tokens = seqs[:, t]
    stepwise = torch.stack(stepwise, 1)
    torch.testing.assert_close(batched, stepwise, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched.sum(1), stepwise.sum(1), rtol=1e-5, atol=1e-4)


def test_first_token_is_conditioned_on_start_token_zero(tiny_oracle):
    logits, _ = tiny_oracle.step(torch.zeros(1, dtype=torch.long), tiny_oracle.initial_state(1))
    seq = torch.tensor([[7] * tiny_oracle.seq_len])
    lp0 = torch.log_softmax(logits, -1)[0, 7]
    torch.testing.assert_close(tiny_oracle.log_prob(seq)[0, 0], lp0)


def test_paper_arrays_round_trip():
    rng = torch.Generator().manual_seed(0)
    m = LSTMLanguageModel(30, 5, emb_dim=4, hidden_dim=6).init_normal_(1.0, rng)
    arrays = m.paper_arrays()
    assert list(arrays) == list(paper_array_shapes(30, 4, 6))
    m2 = LSTMLanguageModel(30, 5, emb_dim=4, hidden_dim=6).load_paper_arrays(list(arrays.values()))
    seqs = torch.randint(0, 30, (3, 5))
    torch.testing.assert_close(m.log_prob(seqs), m2.log_prob(seqs))
    assert torch.all(m2.lstm.bias_hh_l0 == 0) and not m2.lstm.bias_hh_l0.requires_grad


def test_init_normal_std():
    m = LSTMLanguageModel(5000, 20).init_normal_(0.1, torch.Generator().manual_seed(0))
    w = torch.cat([p.flatten() for p in m.paper_arrays().values()])
    assert abs(w.std().item() - 0.1) < 0.002 and abs(w.mean().item()) < 0.002


def test_sample_shapes_range_and_seed():
    m = LSTMLanguageModel(40, 6).init_normal_(1.0, torch.Generator().manual_seed(0))
    a = m.sample(100, rng=torch.Generator().manual_seed(5), batch_size=32)
    b = m.sample(100, rng=torch.Generator().manual_seed(5), batch_size=32)
    c = m.sample(100, rng=torch.Generator().manual_seed(6), batch_size=32)
    assert a.shape == (100, 6) and a.dtype == torch.long
    assert a.min() >= 0 and a.max() < 40
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_low_temperature_is_greedy(tiny_oracle):
    s = tiny_oracle.sample(8, temperature=1e-4, rng=torch.Generator().manual_seed(0))
    assert (s == s[0]).all(), "near-zero temperature must give the argmax sequence every time"
    with pytest.raises(ValueError, match="temperature"):
        tiny_oracle.sample(2, temperature=0.0)


@pytest.mark.parametrize(
    "bad, err",
    [(torch.tensor([[0, 50, 1, 2, 3, 4, 5, 6]]), "out of range"),
     (torch.tensor([[0, -1, 1, 2, 3, 4, 5, 6]]), "out of range"),
     (torch.zeros(8, dtype=torch.long), "shape"),
     (torch.zeros(1, 8), "integer")],
)
def test_bad_tokens_are_refused(tiny_oracle, bad, err):
    with pytest.raises((ValueError, TypeError), match=err):
        tiny_oracle.log_prob(bad)


def test_wrong_array_shapes_are_named():
    m = LSTMLanguageModel(30, 5, emb_dim=4, hidden_dim=6)
    arrays = [np.zeros(s, np.float32) for s in paper_array_shapes(30, 4, 6).values()]
    arrays[13] = np.zeros((6, 29), np.float32)
    with pytest.raises(ValueError, match=r"Wo: expected shape \(6, 30\), got \(6, 29\)"):
        m.load_paper_arrays(arrays)
    with pytest.raises(ValueError, match="expected 15 parameter arrays"):
        m.load_paper_arrays(arrays[:14])
