"""Shared fixtures: tiny random oracles, and the paper's oracle when this machine has it.

Tests never reach the network: the oracle download address points at a closed local port and the
user cache at a fresh temporary folder, for the whole session, before any test runs.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from seqgan_gym.data.paper_oracle import HOME_ENV_VAR, URL_ENV_VAR, OracleUnavailableError, find_paper_oracle
from seqgan_gym.models.oracle import random_oracle

os.environ[URL_ENV_VAR] = "http://127.0.0.1:9/target_params_py3.pkl"  # port 9: refused at once
os.environ[HOME_ENV_VAR] = tempfile.mkdtemp(prefix="seqgan_gym_test_home_")
os.environ.pop("SEQGAN_GYM_ORACLE", None)

# under pytest-xdist each worker has a core of its own: one torch thread each, no oversubscription
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


def pytest_collection_modifyitems(items):
    """Mark ``shared`` every test that reads the paper's oracle (the ``paper_oracle_path`` and
    ``authors_file`` fixtures; the others that read shared/ data are marked where they are):
    .ci/run runs the ``shared`` tests once more as a bare clone sees them (no shared/ data)."""
    for item in items:
        if {"paper_oracle_path", "authors_file"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)


@pytest.fixture(scope="session")
def paper_oracle_path():
    """The paper's oracle file (shared/data above the checkout); the test skips where it is absent."""
    try:
        return find_paper_oracle(download=False)
    except OracleUnavailableError as e:
        pytest.skip(f"needs the paper's oracle (not shipped; shared/data/oracle is not above this "
                    f"checkout): {str(e)[:80]}")


@pytest.fixture
def tiny_oracle():
    """A random N(0,1) oracle with V=50, T=8: fast enough for any test."""
    return random_oracle(seed=3, vocab_size=50, seq_len=8)


@pytest.fixture
def random_oracle_files(tmp_path):
    """A random oracle (V=60, T=6, E=H=8) written in both formats: ``(npz_path, pkl_path, model)``.
    The ``.pkl`` is the authors' format (a pickled list of the 15 float32 arrays), so bare clones
    test the reading of that format without the paper's file."""
    import pickle

    from seqgan_gym.models.oracle import save_oracle_npz

    model = random_oracle(seed=11, vocab_size=60, seq_len=6, emb_dim=8, hidden_dim=8)
    npz, pkl = tmp_path / "oracle.npz", tmp_path / "target_params_py3.pkl"
    save_oracle_npz(model, npz)
    pkl.write_bytes(pickle.dumps([a.numpy() for a in model.paper_arrays().values()], protocol=3))
    return npz, pkl, model
