"""Shared fixtures: tiny random oracles and the paper's oracle when it is available."""

from __future__ import annotations

import pytest
import torch

from seqgan_gym.data import find_paper_oracle
from seqgan_gym.oracle import random_oracle

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def paper_oracle_path():
    """The paper's oracle (.npz) from ../shared/data/oracle; the project's tests need it."""
    return find_paper_oracle()


@pytest.fixture
def tiny_oracle():
    """A random N(0,1) oracle with V=50, T=8: fast enough for any test."""
    return random_oracle(seed=3, vocab_size=50, seq_len=8)
