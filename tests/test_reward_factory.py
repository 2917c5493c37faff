"""make_reward_model: the one place a reward name becomes a RewardModel."""

from __future__ import annotations

import pytest
import torch

from seqgan_gym.models.discriminator import paper_discriminator
from seqgan_gym.models.oracle import random_oracle
from seqgan_gym.rewards.reward_models import (
    REWARD_NAMES,
    BleuReward,
    DiscriminatorReward,
    OracleLikelihoodReward,
    RewardModel,
    make_reward_model,
)

V, T = 40, 6
SIZES = dict(vocab_size=V, seq_len=T)


def _seqs(n=12, seed=0):
    return torch.randint(0, V, (n, T), generator=torch.Generator().manual_seed(seed))


def _forbid(monkeypatch, *targets):
    def fail(*args, **kwargs):
        raise AssertionError("this should not be built or loaded here")

    for target in targets:
        monkeypatch.setattr(target, fail)


def test_names():
    assert set(REWARD_NAMES) == {"discriminator", "untrained", "bleu", "oracle"}


def test_discriminator_is_used_as_it_is():
    d = paper_discriminator(V, T, seed=1)
    reward = make_reward_model("discriminator", **SIZES, discriminator=d)
    assert isinstance(reward, DiscriminatorReward) and reward.discriminator is d
    with pytest.raises(ValueError, match=r"needs discriminator= .*'untrained'"):
        make_reward_model("discriminator", **SIZES)
    with pytest.raises(ValueError, match="vocab_size=40 but the environment has vocab_size=41"):
        make_reward_model("discriminator", vocab_size=41, seq_len=T, discriminator=d)


def test_untrained_is_the_seeded_paper_cnn():
    reward = make_reward_model("untrained", **SIZES, seed=4)
    assert isinstance(reward, DiscriminatorReward)
    assert (reward.discriminator.vocab_size, reward.discriminator.seq_len) == (V, T)
    by_hand = DiscriminatorReward(paper_discriminator(V, T, seed=4))
    assert torch.equal(reward.score(_seqs()), by_hand.score(_seqs()))
    other = make_reward_model("untrained", **SIZES, seed=5)
    assert not torch.equal(reward.score(_seqs()), other.score(_seqs()))


@pytest.mark.parametrize("eos_token, order", [(None, 4), (0, 2)])
def test_bleu(eos_token, order):
    refs = _seqs(30, seed=1)
    reward = make_reward_model("bleu", **SIZES, references=refs, eos_token=eos_token, bleu_order=order)
    assert isinstance(reward, BleuReward) and reward.vocab_size == V and reward.eos_token == eos_token
    expected = BleuReward(refs, max_ngram_order=order, vocab_size=V, eos_token=eos_token)
    hyps = torch.cat([refs[:3], _seqs(5, seed=2)])
    assert torch.equal(reward.score(hyps), expected.score(hyps))
    with pytest.raises(ValueError, match="needs references="):
        make_reward_model("bleu", **SIZES)


def test_oracle_from_a_model_a_seed_or_a_file(random_oracle_files):
    model = random_oracle(2, V, T)
    reward = make_reward_model("oracle", **SIZES, oracle=model)
    assert isinstance(reward, OracleLikelihoodReward) and reward.oracle is model

    drawn = make_reward_model("oracle", **SIZES, oracle="random", seed=2)
    assert torch.equal(drawn.score(_seqs()), reward.score(_seqs()))

    npz, pkl, saved = random_oracle_files  # V=60, T=6
    seqs = torch.randint(0, 60, (8, 6), generator=torch.Generator().manual_seed(0))
    expected = OracleLikelihoodReward(saved).score(seqs)
    for path in (npz, str(pkl)):
        loaded = make_reward_model("oracle", vocab_size=60, seq_len=6, oracle=path)
        torch.testing.assert_close(loaded.score(seqs), expected)

    with pytest.raises(ValueError, match="needs oracle="):
        make_reward_model("oracle", **SIZES)
    with pytest.raises(ValueError, match="the oracle has vocab_size=40 but vocab_size=41"):
        make_reward_model("oracle", vocab_size=41, seq_len=T, oracle=model)
    with pytest.raises(TypeError, match="oracle must be"):
        make_reward_model("oracle", **SIZES, oracle=3)


def test_the_paper_oracle(paper_oracle_path):
    reward = make_reward_model("oracle", vocab_size=5000, seq_len=20, oracle="paper")
    assert reward.oracle.vocab_size == 5000
    with pytest.raises(ValueError, match="use oracle='random'"):
        make_reward_model("oracle", vocab_size=50, seq_len=20, oracle="paper")


def test_unused_ingredients_are_neither_built_nor_loaded(monkeypatch):
    _forbid(monkeypatch, "seqgan_gym.data.paper_oracle.find_paper_oracle",
            "seqgan_gym.models.oracle.load_oracle",
            "seqgan_gym.models.oracle.random_oracle", "seqgan_gym.models.discriminator.paper_discriminator")
    refs = _seqs(10)
    assert isinstance(make_reward_model("bleu", **SIZES, references=refs, oracle="paper"), BleuReward)
    d = torch.nn.Module()
    d.prob_real = lambda seqs, batch_size: torch.zeros(len(seqs))
    assert make_reward_model("discriminator", **SIZES, discriminator=d, oracle="random").discriminator is d


def test_a_reward_model_passes_through_and_wrong_names_are_refused():
    class Const(RewardModel):
        vocab_size, seq_len = V, T

        def _score(self, sequences):
            return torch.ones(len(sequences))

    mine = Const()
    assert make_reward_model(mine, **SIZES) is mine
    with pytest.raises(ValueError, match="seq_len=6 but the environment has seq_len=7"):
        make_reward_model(mine, vocab_size=V, seq_len=7)
    with pytest.raises(ValueError, match="unknown reward 'gan'"):
        make_reward_model("gan", **SIZES)
    with pytest.raises(TypeError, match="RewardModel or one of"):
        make_reward_model(None, **SIZES)
