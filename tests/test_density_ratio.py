"""The density-ratio discriminator: its form, its parameters, and that D's ordinary update fits it."""

from __future__ import annotations

import pytest
import torch

from seqgan_gym.evaluation.metrics import discriminator_signal
from seqgan_gym.models.density_ratio import DensityRatioDiscriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.rewards.reward_models import DiscriminatorReward
from seqgan_gym.training.updates import train_discriminator
from seqgan_gym.utils import make_adam


def _models(tiny_oracle):
    g = LSTMLanguageModel(50, 8).init_normal_(0.5, rng=torch.Generator().manual_seed(0))
    return tiny_oracle, g


def test_logit_is_the_weighted_log_likelihoods_and_only_its_three_weights_train(tiny_oracle):
    reference, g = _models(tiny_oracle)
    d = DensityRatioDiscriminator(reference, g, batch_size=7).eval()
    assert sorted(n for n, _ in d.named_parameters()) == ["bias", "w_gen", "w_ref"]
    seqs = g.sample(20, rng=torch.Generator().manual_seed(1))
    ref, gen = reference.log_prob(seqs).sum(1) / 8, g.log_prob(seqs).sum(1) / 8  # slow, whole batch
    assert torch.allclose(d(seqs)[:, 1], ref - gen, atol=1e-4)  # starts as the plain log ratio
    d.train()  # the first training batch centres the logit (data-dependent init of the bias), once
    assert abs(d(seqs)[:, 1].mean().item()) < 1e-4 and bool(d.bias_initialised)
    assert torch.allclose(d(seqs[:5])[:, 1], (ref - gen)[:5] - (ref - gen).mean(), atol=1e-4)
    with torch.no_grad():
        d.w_ref.fill_(2.0)
        d.w_gen.fill_(0.5)
        d.bias.fill_(-0.5)
    logits = d(seqs)
    expected = 2.0 * ref - 0.5 * gen - 0.5
    assert torch.allclose(logits[:, 1], expected, atol=1e-4) and torch.all(logits[:, 0] == 0)
    assert torch.allclose(d.prob_real(seqs), torch.sigmoid(expected), atol=1e-5)
    assert torch.allclose(torch.softmax(logits, 1)[:, 1], d.prob_real(seqs), atol=1e-6)
    logits[:, 1].sum().backward()
    assert d.w_ref.grad is not None and all(p.grad is None for p in g.parameters())


def test_d_update_fits_it_and_it_follows_g_live(tiny_oracle):
    reference, g = _models(tiny_oracle)
    d = DensityRatioDiscriminator(reference, g)
    with torch.no_grad():  # start wrong-signed: the update must turn it round
        d.w_ref.fill_(-1.0)
        d.w_gen.fill_(-1.0)
    rng = torch.Generator().manual_seed(2)
    real = reference.sample(400, rng=rng)
    train_discriminator(d, make_adam(d.parameters(), 0.05), real, lambda n: g.sample(n, rng=rng),
                        n_negatives=400, d_steps=2, k=3, batch_size=64, shuffle_rng=rng)
    assert d.w_ref.item() > 0
    heldout, generated = reference.sample(300, rng=rng), g.sample(300, rng=rng)
    signal = discriminator_signal(d, heldout, generated, tiny_oracle)
    assert signal["d_heldout_auc"] > 0.9 and signal["d_oracle_spearman"] > 0.3
    before = DiscriminatorReward(d).score(generated[:5])
    with torch.no_grad():  # G changes: D's score of the same sequences changes with it, no retraining
        for p in g.parameters():
            p.mul_(0.5)
    assert not torch.allclose(DiscriminatorReward(d).score(generated[:5]), before)


def test_tempered_ratio_ties_w_gen_and_keeps_its_ranking_through_the_update(tiny_oracle):
    reference, g = _models(tiny_oracle)
    d = DensityRatioDiscriminator(reference, g, alpha=0.5).eval()
    assert sorted(n for n, _ in d.named_parameters()) == ["bias", "w_ref"]
    seqs = g.sample(30, rng=torch.Generator().manual_seed(1))
    ref, gen = reference.log_prob(seqs).sum(1) / 8, g.log_prob(seqs).sum(1) / 8
    assert torch.allclose(d(seqs)[:, 1], ref - 0.5 * gen, atol=1e-4)
    rng = torch.Generator().manual_seed(2)
    train_discriminator(d, make_adam(d.parameters(), 0.05), reference.sample(200, rng=rng),
                        lambda n: g.sample(n, rng=rng), n_negatives=200, d_steps=1, k=2, batch_size=64,
                        shuffle_rng=rng)
    assert d.w_ref.item() != 1.0 and d.bias.item() != 0.0  # the update fitted scale and bias ...
    d.eval()
    expected = d.w_ref.item() * (ref - 0.5 * gen) + d.bias.item()  # ... and nothing else
    assert torch.allclose(d(seqs)[:, 1], expected, atol=1e-4)


def test_alpha_must_be_positive(tiny_oracle):
    reference, g = _models(tiny_oracle)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha must be"):
            DensityRatioDiscriminator(reference, g, alpha=bad)


def test_the_density_ratio_trains_on_the_validation_set_and_the_cnn_on_the_training_set():
    from seqgan_gym.config import get_preset
    from seqgan_gym.experiment.setup import build_setup, discriminator_real_data

    cnn = build_setup(get_preset("smoke").override(["n_valid=50"]).validate())
    ratio = build_setup(get_preset("smoke").override(["n_valid=50", "dis_form=density_ratio"]).validate())
    assert torch.equal(discriminator_real_data(cnn), cnn.data.train)
    assert torch.equal(discriminator_real_data(ratio), ratio.data.valid)
    assert not torch.equal(ratio.data.valid, ratio.data.train[:50])


def test_the_cpu_preset_uses_the_tempered_ratio_and_a_corpus_the_cnn():
    from seqgan_gym.config import describe_schedule, fit_to_data, get_preset

    cpu = get_preset("cpu")
    assert (cpu.dis_form, cpu.density_ratio_alpha) == ("density_ratio", 0.5)
    assert get_preset("paper").dis_form == get_preset("smoke").dis_form == "cnn"  # the paper's D
    assert "D density_ratio (paper cnn); density-ratio alpha 0.5" in describe_schedule(cpu)
    # moved to a corpus, where there is no validation split for the ratio: the paper's CNN, said in
    # the assignments (override itself changes only what it is told to)
    assert fit_to_data(cpu, ["data=coco"]) == ["data=coco", "dis_form=cnn", "density_ratio_alpha=none"]
    coco = cpu.override(fit_to_data(cpu, ["data=coco"]))
    assert (coco.dis_form, coco.density_ratio_alpha) == ("cnn", None)
    assert "alpha" not in describe_schedule(coco)
    with pytest.raises(ValueError, match="set corpus_valid"):  # unfitted: refused, not changed
        cpu.override(["data=coco"])
    # asked for explicitly, the ratio on a corpus needs a validation split carved from train
    explicit = ["data=coco", "dis_form=density_ratio"]
    assert fit_to_data(cpu, explicit) == explicit
    with pytest.raises(ValueError, match="set corpus_valid"):
        cpu.override(["data=coco", "dis_form=density_ratio"])
    cpu.override(fit_to_data(cpu, ["data=coco", "corpus_valid=1000"])).validate()
    assert cpu.override(fit_to_data(cpu, ["data=coco", "corpus_valid=1000"])).dis_form == "density_ratio"
    assert cpu.override(fit_to_data(cpu, ["seed=3"])).dis_form == "density_ratio"  # oracle data keeps it
