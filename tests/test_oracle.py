import pickle

import numpy as np
import pytest
import torch

from seqgan_gym.data.oracle_data import sample_oracle_data
from seqgan_gym.evaluation.metrics import ground_truth_nll
from seqgan_gym.models.oracle import (
    OracleFormatError,
    load_oracle,
    load_pickle_arrays,
    random_oracle,
    save_oracle_npz,
)


def test_npz_and_authors_pickle_give_identical_log_probs(random_oracle_files):
    npz, pkl, model = random_oracle_files
    from_npz, from_pkl = load_oracle(npz, seq_len=6), load_oracle(pkl, seq_len=6)
    assert (from_pkl.vocab_size, from_pkl.emb_dim, from_pkl.hidden_dim) == (60, 8, 8)
    seqs = model.sample(64, rng=torch.Generator().manual_seed(0))
    assert torch.equal(from_npz.log_prob(seqs), model.log_prob(seqs))
    assert torch.equal(from_pkl.log_prob(seqs), model.log_prob(seqs))


def test_paper_oracle_file_has_the_papers_shape(paper_oracle_path):
    oracle = load_oracle(paper_oracle_path)
    assert (oracle.vocab_size, oracle.seq_len, oracle.emb_dim, oracle.hidden_dim) == (5000, 20, 32, 32)


def test_paper_oracle_floor(paper_oracle_path):
    oracle = load_oracle(paper_oracle_path)
    data = sample_oracle_data(oracle, n_train=10, n_test=2000, seed=0)
    floor = ground_truth_nll(oracle, data.test)
    assert 5.6 < floor < 5.9, f"the paper's oracle's entropy rate is about 5.75, got {floor}"


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/seqgan_gym_pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        [np.zeros(3, np.float32), _Evil()],
        {"a": np.zeros(3, np.float32)},
        [np.zeros(3, np.float32), "a string"],
        [np.zeros(3, np.float32), {"nested": 1}],
        [np.zeros(3, np.int64)],
    ],
    ids=["code-execution", "dict", "string", "dict-in-list", "int-array"],
)
def test_pickle_with_anything_but_float_arrays_is_refused(tmp_path, payload):
    import os

    marker = "/tmp/seqgan_gym_pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(OracleFormatError):
        load_pickle_arrays(path)
    with pytest.raises(OracleFormatError):
        load_oracle(path)
    assert not os.path.exists(marker), "the pickle's payload was executed"


def test_refusal_names_the_forbidden_global(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_Evil()]))
    with pytest.raises(OracleFormatError, match=r"refusing to unpickle .*system"):
        load_pickle_arrays(path)


def test_truncated_files_give_clear_errors(random_oracle_files, tmp_path):
    for path in random_oracle_files[:2]:
        data = path.read_bytes()
        bad = tmp_path / f"cut{path.suffix}"
        bad.write_bytes(data[: len(data) // 2])
        with pytest.raises(OracleFormatError, match="not a readable"):
            load_oracle(bad)


def test_wrong_count_and_shape_are_reported(tmp_path):
    arrays = [a.numpy() for a in random_oracle(0, vocab_size=20, seq_len=4).paper_arrays().values()]
    path = tmp_path / "short.pkl"
    path.write_bytes(pickle.dumps(arrays[:14]))
    with pytest.raises(OracleFormatError, match="expected 15 parameter arrays, got 14"):
        load_oracle(path)
    arrays[2] = np.zeros((32, 31), np.float32)  # Ui must be (H, H) = (32, 32)
    path.write_bytes(pickle.dumps(arrays))
    with pytest.raises(OracleFormatError, match=r"Ui: expected shape \(32, 32\)"):
        load_oracle(path)


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="LantaoYu/SeqGAN"):
        load_oracle(tmp_path / "nope.npz")


def test_random_oracle_is_seeded_standard_normal(tmp_path):
    a, b, c = random_oracle(7), random_oracle(7), random_oracle(8)
    wa = torch.cat([p.flatten() for p in a.paper_arrays().values()])
    wb = torch.cat([p.flatten() for p in b.paper_arrays().values()])
    wc = torch.cat([p.flatten() for p in c.paper_arrays().values()])
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert abs(wa.std().item() - 1.0) < 0.02
    # a saved random oracle loads back to the same model
    save_oracle_npz(a, tmp_path / "o.npz")
    back = load_oracle(tmp_path / "o.npz")
    seqs = a.sample(8, rng=torch.Generator().manual_seed(0))
    assert torch.equal(a.log_prob(seqs), back.log_prob(seqs))


def test_train_and_test_sets_are_disjoint_streams(tiny_oracle):
    d1 = sample_oracle_data(tiny_oracle, n_train=50, n_test=40, seed=1)
    d2 = sample_oracle_data(tiny_oracle, n_train=80, n_test=40, seed=1)
    assert d1.train.shape == (50, 8) and d1.test.shape == (40, 8)
    assert torch.equal(d1.test, d2.test), "the held-out set must not depend on n_train"
    assert not torch.equal(d1.train[:40], d1.test)
