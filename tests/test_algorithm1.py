"""The loop of seqgan_gym.algorithm1: Algorithm 1's order, its iteration boundaries, its agents."""

import warnings

import pytest
import torch
from stable_baselines3.common.logger import configure

from seqgan_gym import algorithm1
from seqgan_gym.agents import Reinforce, SB3GeneratorUpdates, make_agent
from seqgan_gym.config import get_preset
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.setup import VanishedRewardWatch, build_setup, new_generator
from seqgan_gym.models.discriminator import paper_discriminator
from seqgan_gym.rewards.rollout import RolloutPolicy
from seqgan_gym.training import updates as training
from seqgan_gym.utils import make_adam


def _run(monkeypatch, tmp_path, algo: str, changes: list[str]) -> tuple[list, RunLog]:
    """Run the adversarial loop, recording every generator update, beta step and D update."""
    cfg = get_preset("smoke").override([f"algo={algo}", "mle_epochs=1", *changes])
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    events: list = []

    def fake_d_update(*args, **kwargs):
        events.append(("D", kwargs["d_steps"], kwargs["k"]))
        return {"loss": 0.5, "acc_real": 1.0, "acc_fake": 0.0}

    monkeypatch.setattr(training, "train_discriminator", fake_d_update)
    for cls, name in ((Reinforce, "G"), (SB3GeneratorUpdates, "G")):
        original = cls.update
        monkeypatch.setattr(cls, "update",
                            lambda self, *a, _o=original, _n=name: events.append(_n) or _o(self, *a))
    beta_update = RolloutPolicy.update
    monkeypatch.setattr(RolloutPolicy, "update",
                        lambda self, g: events.append("beta") or beta_update(self, g))
    generator = new_generator(setup)
    discriminator = paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=0)
    log = RunLog(tmp_path / algo, tensorboard=False)
    algorithm1.adversarial_training(setup, generator, log, discriminator,
                                    make_adam(discriminator.parameters(), 1e-4), progress=False)
    log.close()
    return events, log


@pytest.mark.parametrize("algo", ["reinforce", "ppo"])
def test_each_iteration_is_g_steps_of_update_and_beta_then_d_steps(monkeypatch, tmp_path, algo):
    events, log = _run(monkeypatch, tmp_path, algo,
                       ["g_steps=3", "d_steps=2", "k=4", "adv_iterations=3", "eval_every=2"])
    assert events == (["G", "beta"] * 3 + [("D", 2, 4)]) * 3
    adversarial = [row for row in log.rows if row["phase"] == "adversarial"]
    assert [row["step"] for row in adversarial] == [0, 1, 2, 3]
    assert [row["step"] for row in adversarial if "nll_test" in row] == [0, 2, 3]  # every 2, and the last
    assert all(row["d_loss"] == 0.5 for row in adversarial[1:])


def test_sb3_updates_are_one_rollout_and_one_policy_update_each(monkeypatch, tmp_path):
    cfg = get_preset("smoke").override(["algo=a2c"])
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    generator = new_generator(setup)
    env = algorithm1.SeqGANVectorEnv(num_envs=cfg.num_envs, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                                     n_rollouts=2, intermediate_reward="terminal", reward_model="oracle",
                                     oracle=setup.oracle, device="cpu")
    agent = make_agent(cfg, env, generator, 0, configure(None, []))
    assert isinstance(agent, SB3GeneratorUpdates) and agent.generator is agent.model.policy.generator
    weights = [p.clone() for p in agent.generator.parameters()]
    for done in (1, 2):
        stats = agent.update()
        assert agent.model.num_timesteps == done * cfg.num_envs * cfg.seq_len
        assert agent.model._n_updates == done and stats["final_score"] < 0  # a log-likelihood
    assert any(not torch.equal(a, b) for a, b in zip(weights, agent.generator.parameters()))


def test_vanished_reward_watch_warns_once_after_patience_iterations_in_a_row():
    watch = VanishedRewardWatch(threshold=0.01, patience=3)
    for iteration, score in enumerate([0.005, 0.004, 0.5, 0.001, 0.002], start=1):
        watch.check(iteration, score)  # broken streaks: no warning
    assert watch.vanished_at is None
    with pytest.warns(RuntimeWarning, match="rewards carry no signal"):
        watch.check(6, 0.003)
    assert watch.vanished_at == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for iteration in range(7, 12):
            watch.check(iteration, 0.0)  # once only
