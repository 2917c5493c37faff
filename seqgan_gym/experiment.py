"""The phases of a SeqGAN experiment, shared by the CLI and the benchmarks.

:func:`build_setup` loads the oracle and samples the real data (the synthetic experiment), or loads
a corpus (``cfg.data``: quatrains, COCO, Nottingham, a file); :func:`pretrain_generator` is the
MLE half of the paper (Algorithm 1, line 2) with NLL_oracle / NLL_test evaluation (BLEU and
Self-BLEU instead of NLL_oracle for a corpus).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from seqgan_gym.checkpoints import save_language_model
from seqgan_gym.config import ExperimentConfig
from seqgan_gym.corpus import load_corpus
from seqgan_gym.data import OracleData, sample_oracle_data
from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.metrics import bleu, discriminator_signal, ground_truth_nll, nll_oracle, nll_test, self_bleu
from seqgan_gym.oracle import load_oracle, random_oracle
from seqgan_gym.paper_oracle import find_paper_oracle, sha256_of
from seqgan_gym.runlog import RunLog
from seqgan_gym.training import make_adam, mle_epoch
from seqgan_gym.utils import make_generator, resolve_device, safe_torch_load

# Offsets that give each random stream of a run its own seed, derived from cfg.seed.
_SEED_GEN_INIT, _SEED_SHUFFLE, _SEED_EVAL, _SEED_GLOBAL = 0, 1, 2, 6


@dataclass
class Setup:
    """What every phase needs: the real data (``data.train`` / ``data.test``), its source (the
    oracle, or a corpus) and the device."""

    cfg: ExperimentConfig
    device: torch.device
    oracle: LSTMLanguageModel | None
    data: OracleData | Any
    """The oracle's samples (:class:`OracleData`) or the corpus itself (``TextCorpus`` /
    ``MelodyCorpus``): anything with ``train`` (N, T) and ``test`` (M, T)."""
    oracle_floor: float | None
    """The oracle's NLL on its own held-out samples: the best NLL_oracle a model can expect
    (None for a corpus)."""
    oracle_file: dict | None = None
    """The paper's oracle file this run read: ``{"path", "sha256"}`` (None: a random oracle or a
    corpus)."""
    oracle_fallback: str | None = None
    """Why this run uses a random oracle though the paper's was asked for (set by the quick start's
    ``--oracle-fallback random``; None: no fallback)."""

    @property
    def corpus(self):
        """The corpus (None in the synthetic experiment)."""
        return None if self.oracle is not None else self.data

    @property
    def eos_token(self) -> int | None:
        """The corpus's end-of-sequence id (None: fixed-length sequences)."""
        return getattr(self.corpus, "eos_token", None)

    def rng(self, offset: int) -> torch.Generator:
        """A seeded generator for one stream of randomness of this run, on the run's device."""
        return make_generator(self.cfg.seed * 1000 + offset, self.device)


def build_setup(cfg: ExperimentConfig) -> Setup:
    """Load (or draw) the oracle, sample train and held-out data, and compute the floor; or, with
    ``cfg.data`` a corpus, load it (and set ``cfg``'s V, T and data sizes from it)."""
    cfg.validate()
    # Everything is drawn from seeded torch.Generators except D's dropout masks, which come from
    # torch's global RNG: seed it too, so a run repeats.
    torch.manual_seed(cfg.seed * 1000 + _SEED_GLOBAL)
    device = resolve_device(cfg.device)
    if cfg.data != "oracle":
        corpus = load_corpus(cfg.data, cfg.data_path, split_seed=cfg.split_seed)
        cfg.vocab_size, cfg.seq_len = corpus.vocab_size, corpus.seq_len
        cfg.n_train, cfg.n_test = len(corpus.train), len(corpus.test)
        return Setup(cfg, device, None, corpus, None)
    oracle_file = None
    if cfg.oracle == "paper":
        path = find_paper_oracle(cfg.oracle_path)
        oracle = load_oracle(path, seq_len=cfg.seq_len)
        oracle_file = {"path": str(path.resolve()), "sha256": sha256_of(path)}
        cfg.vocab_size = oracle.vocab_size
    else:
        oracle = random_oracle(cfg.oracle_seed, cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
    oracle = oracle.to(device)
    data = sample_oracle_data(oracle, cfg.n_train, cfg.n_test, seed=cfg.data_seed, n_valid=cfg.n_valid)
    return Setup(cfg, device, oracle, data, ground_truth_nll(oracle, data.test), oracle_file)


def with_config(setup: Setup, cfg: ExperimentConfig) -> Setup:
    """The same oracle and data under another config (another seed, algorithm, reward...).

    Seeds torch's global RNG from ``cfg.seed`` as :func:`build_setup` does, so each run repeats.
    ``cfg`` must describe the same oracle and data.
    """
    cfg.validate()
    for name in ("data", "data_path", "split_seed", "oracle", "oracle_path", "oracle_seed",
                 "vocab_size", "seq_len", "n_train", "n_test", "n_valid", "data_seed"):
        if getattr(cfg, name) != getattr(setup.cfg, name):
            raise ValueError(f"with_config: {name} differs ({getattr(cfg, name)!r} vs "
                             f"{getattr(setup.cfg, name)!r}); build a new setup for other data")
    torch.manual_seed(cfg.seed * 1000 + _SEED_GLOBAL)
    return Setup(cfg, setup.device, setup.oracle, setup.data, setup.oracle_floor, setup.oracle_file,
                 setup.oracle_fallback)


def new_generator(setup: Setup) -> LSTMLanguageModel:
    """G_theta with the paper's initialisation N(0, 0.1^2), seeded by ``cfg.seed``."""
    cfg = setup.cfg
    g = torch.Generator().manual_seed(cfg.seed * 1000 + _SEED_GEN_INIT)
    model = LSTMLanguageModel(cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim,
                              eos_token=setup.eos_token)
    return model.init_normal_(cfg.gen_init_std, generator=g).to(setup.device)


def evaluate(setup: Setup, generator_model: LSTMLanguageModel, rng: torch.Generator,
             temperature: float = 1.0) -> dict:
    """NLL_test on the held-out set, and over ``cfg.eval_samples`` samples of G: NLL_oracle (the
    synthetic experiment), or BLEU-n against the whole test split and Self-BLEU-n (a corpus;
    n = ``cfg.eval_bleu_order``). ``temperature`` samples and scores G at ``softmax(logits / T)``."""
    cfg = setup.cfg
    result = {"nll_test": nll_test(generator_model, setup.data.test.to(setup.device), temperature)}
    if setup.oracle is not None:
        result["nll_oracle"] = nll_oracle(generator_model, setup.oracle, cfg.eval_samples, generator=rng,
                                          temperature=temperature)
        return result
    samples = generator_model.sample(cfg.eval_samples, temperature=temperature, generator=rng).cpu()
    result["bleu"] = bleu(samples, setup.data.test, cfg.eval_bleu_order, setup.eos_token)["bleu"]
    result["self_bleu"] = self_bleu(samples, cfg.eval_bleu_order, setup.eos_token)["self_bleu"]
    return result


def pretrain_generator(
    setup: Setup, generator_model: LSTMLanguageModel, log: RunLog, progress: bool = True
) -> dict:
    """MLE pre-training for ``cfg.mle_epochs`` epochs, evaluating every ``cfg.eval_every``.

    Logs phase 'mle' rows (step = epochs done; step 0 is the untrained generator), saves
    ``checkpoints/generator_mle.pt`` after each evaluation, and returns the last evaluation. With a
    validation set (``cfg.n_valid`` oracle samples) every epoch also logs ``nll_valid`` and keeps
    the best epoch as ``checkpoints/generator_mle_best.pt``; with ``cfg.mle_select == "best"``,
    ``generator_model`` ends with that epoch's weights, evaluated in a row of phase 'mle_best'
    (step = that epoch), which is returned.
    """
    cfg = setup.cfg
    optimizer = make_adam(generator_model.parameters(), cfg.gen_lr)
    shuffle_rng = torch.Generator().manual_seed(cfg.seed * 1000 + _SEED_SHUFFLE)
    eval_rng = setup.rng(_SEED_EVAL)
    train = setup.data.train.to(setup.device)
    valid = getattr(setup.data, "valid", None)
    best_valid = float("inf")

    last = log.log("mle", 0, **evaluate(setup, generator_model, eval_rng))
    bar = tqdm(range(1, cfg.mle_epochs + 1), desc="MLE pre-training", disable=not progress)
    for epoch in bar:
        loss = mle_epoch(generator_model, optimizer, train, cfg.batch_size, cfg.grad_clip, shuffle_rng)
        extra = {}
        if valid is not None:
            extra["nll_valid"] = nll_test(generator_model, valid.to(setup.device))
            if extra["nll_valid"] < best_valid:
                best_valid = extra["nll_valid"]
                save_language_model(generator_model, log.dir / "checkpoints" / "generator_mle_best.pt",
                                    epoch=epoch, nll_valid=best_valid)
        if epoch % cfg.eval_every == 0 or epoch == cfg.mle_epochs:
            last = log.log("mle", epoch, g_loss=loss, **extra, **evaluate(setup, generator_model, eval_rng))
            save_language_model(generator_model, log.dir / "checkpoints" / "generator_mle.pt", epoch=epoch)
            bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()
                             if k in ("nll_oracle", "nll_test", "bleu")})
        else:
            log.log("mle", epoch, g_loss=loss, **extra)
    if cfg.mle_select == "best" and valid is not None:  # start from the best validation epoch
        best = safe_torch_load(log.dir / "checkpoints" / "generator_mle_best.pt")
        generator_model.load_state_dict(best["state_dict"])
        last = log.log("mle_best", best["extra"]["epoch"], nll_valid=best["extra"]["nll_valid"],
                       **evaluate(setup, generator_model, eval_rng))
    return last


# ---------------------------------------------------------------------------- adversarial training
_SEED_DIS, _SEED_AGENT, _SEED_NEG, _SEED_DIS_ADV, _SEED_D_SIGNAL = 3, 4, 5, 7, 10


def measure_discriminator(setup: Setup, discriminator, generator_model: LSTMLanguageModel,
                          rng: torch.Generator) -> dict:
    """``d_heldout_auc`` and ``d_oracle_spearman`` (:func:`seqgan_gym.metrics.discriminator_signal`)
    on ``cfg.d_signal_samples`` held-out real sequences (the oracle's held-out samples, or a corpus's
    test split: D trains on neither) and as many fresh samples of G; ``{}`` when off."""
    n = min(setup.cfg.d_signal_samples, len(setup.data.test))
    if discriminator is None or n == 0:
        return {}
    generated = generator_model.sample(n, generator=rng)
    real = setup.data.test[:n].to(setup.device)
    return discriminator_signal(discriminator, real, generated, setup.oracle)


def pretrain_discriminator(setup: Setup, discriminator, optimizer, generator_model, log: RunLog,
                           progress: bool = True) -> dict:
    """Algorithm 1 l.4-5: ``cfg.dis_pretrain_steps`` x (fresh negatives, ``dis_pretrain_epochs``)."""
    from seqgan_gym.training import train_discriminator

    cfg = setup.cfg
    shuffle_rng = torch.Generator().manual_seed(cfg.seed * 1000 + _SEED_DIS)
    neg_rng = setup.rng(_SEED_NEG)
    train = setup.data.train.to(setup.device)
    stats: dict = {}
    for step in tqdm(range(1, cfg.dis_pretrain_steps + 1), desc="D pre-training", disable=not progress):
        stats = train_discriminator(
            discriminator, optimizer, train, lambda n: generator_model.sample(n, generator=neg_rng),
            n_negatives=cfg.dis_negatives, d_steps=1, k=cfg.dis_pretrain_epochs,
            batch_size=cfg.batch_size, generator=shuffle_rng,
        )
        log.log("dis_pretrain", step, d_loss=stats["loss"], d_acc_real=stats["acc_real"],
                d_acc_fake=stats["acc_fake"])
    return stats


def build_reward_model(setup: Setup, discriminator=None):
    """The reward ``cfg.reward`` names: D's score (needs ``discriminator``), PG-BLEU against the
    real training data, or the diagnostic oracle log-likelihood."""
    from seqgan_gym.rewards import BleuReward, DiscriminatorReward, OracleLikelihoodReward

    cfg = setup.cfg
    if cfg.reward == "discriminator":
        if discriminator is None:
            raise ValueError("reward 'discriminator' needs a discriminator")
        return DiscriminatorReward(discriminator)
    if cfg.reward == "bleu":
        return BleuReward(setup.data.train, max_ngram_order=cfg.bleu_order, vocab_size=cfg.vocab_size,
                          eos_token=setup.eos_token)
    return OracleLikelihoodReward(setup.oracle)


def adversarial_training(setup: Setup, generator_model: LSTMLanguageModel, reward_model, log: RunLog,
                         discriminator=None, d_optimizer=None, progress: bool = True,
                         ) -> tuple[dict, LSTMLanguageModel]:
    """Algorithm 1 l.6-12 with the library's pieces: the vector env, an agent, the callbacks.

    Each iteration is ``g_steps`` generator updates (``cfg.algo``: REINFORCE, or PPO / A2C through
    the SB3 adapter) on ``num_envs`` sequences with MC-rollout rewards from ``reward_model``; then,
    when a ``discriminator`` is given, ``d_steps`` x (fresh negatives, ``k`` D epochs). NLL_oracle and
    NLL_test are logged every ``eval_every`` iterations (phase 'adversarial', step = iteration).

    Returns the last evaluation and the trained generator: ``generator_model`` itself for
    REINFORCE, the SB3 policy's actor (started from ``generator_model``'s weights) otherwise.
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    from seqgan_gym.agents import (
        DiscriminatorUpdateCallback,
        Reinforce,
        RolloutPolicyUpdateCallback,
        SeqGANSB3VecEnv,
        make_sb3_agent,
    )
    from seqgan_gym.envs import SeqGANVectorEnv
    from seqgan_gym.rollout import RolloutPolicy

    cfg = setup.cfg
    if hasattr(discriminator, "follow"):  # a D that reads G (density ratio): the G being trained
        discriminator.follow(generator_model)
    rollout_policy = RolloutPolicy(generator_model, update_rate=cfg.rollout_update_rate)
    env = SeqGANVectorEnv(
        num_envs=cfg.num_envs, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
        n_rollouts=cfg.n_rollouts, reward_mode="rollout", reward_model=reward_model,
        rollout_policy=rollout_policy, oracle=setup.oracle, device=setup.device,
        eos_token=setup.eos_token,
    )
    logger = configure(str(log.dir / "sb3"), ["csv", "tensorboard"])
    seed = cfg.seed * 1000 + _SEED_AGENT
    callbacks: list = []
    if cfg.algo == "reinforce":
        agent = Reinforce(generator_model, env, rollout_policy, lr=cfg.gen_lr, grad_clip=cfg.grad_clip,
                          seed=seed, logger=logger, baseline=cfg.reinforce_baseline,
                          kl_coef=cfg.kl_coef, kl_target=cfg.kl_target)
    else:
        agent = make_sb3_agent(cfg.algo, SeqGANSB3VecEnv(env), generator_model, learning_rate=cfg.sb3_lr,
                               seed=seed, device=setup.device, max_grad_norm=cfg.grad_clip)
        agent.set_logger(logger)
        generator_model = agent.policy.generator  # the actor, started from the MLE weights
        if hasattr(discriminator, "follow"):
            discriminator.follow(generator_model)
        callbacks.append(RolloutPolicyUpdateCallback(rollout_policy, generator_model))
    d_callback = None
    if discriminator is not None:
        d_callback = DiscriminatorUpdateCallback.for_generator(
            generator_model, discriminator, d_optimizer, setup.data.train.to(setup.device),
            g_steps=cfg.g_steps, d_steps=cfg.d_steps, k=cfg.k, n_negatives=cfg.dis_negatives,
            batch_size=cfg.batch_size, seed=cfg.seed * 1000 + _SEED_DIS_ADV,
        )
        callbacks.insert(0, d_callback)
    eval_rng = setup.rng(_SEED_EVAL + 100)
    signal_rng = setup.rng(_SEED_D_SIGNAL)  # its own stream: measuring D changes no other number
    own_bar = progress and cfg.algo == "reinforce"  # SB3 algorithms show SB3's progress bar
    bar = tqdm(total=cfg.adv_iterations, desc=f"adversarial ({cfg.algo}, {cfg.reward})", disable=not own_bar)
    result: dict = {}

    class IterationLog(BaseCallback):
        """Counts generator updates; logs each finished iteration (after its D update)."""

        updates, pending, final_score = 0, False, None

        def _on_rollout_end(self) -> None:
            self.pending = True
            infos = self.locals.get("infos") or []  # SB3: the last step's infos hold the scores
            scores = [info["final_score"] for info in infos if "final_score" in info]
            if scores:
                self.final_score = float(np.mean(scores))

        def _count(self) -> None:
            if self.pending:
                self.pending = False
                self.updates += 1
                if self.updates % cfg.g_steps == 0:
                    self.log_iteration(self.updates // cfg.g_steps)

        def _on_rollout_start(self) -> None:
            self._count()

        def _on_training_end(self) -> None:
            self._count()

        def log_iteration(self, iteration: int) -> None:
            nonlocal result
            values = {}
            stats = getattr(agent, "last_stats", None)  # REINFORCE's
            if stats:
                values.update(g_loss=stats["pg_loss"], final_score=stats["mean_terminal_reward"],
                              kl=stats.get("kl"))
            elif self.final_score is not None:
                values.update(final_score=self.final_score)
            if d_callback is not None and d_callback.last_stats:
                values.update(d_loss=d_callback.last_stats["loss"],
                              d_acc_real=d_callback.last_stats["acc_real"],
                              d_acc_fake=d_callback.last_stats["acc_fake"])
            if iteration % cfg.eval_every == 0 or iteration == cfg.adv_iterations:
                values.update(evaluate(setup, generator_model, eval_rng))
                values.update(measure_discriminator(setup, discriminator, generator_model, signal_rng))
                save_language_model(generator_model, log.dir / "checkpoints" / "generator_adv.pt",
                                    iteration=iteration)
                bar.set_postfix(nll_test=f"{values['nll_test']:.3f}")
                result = log.log("adversarial", iteration, **values)
            else:
                log.log("adversarial", iteration, **values)
            bar.update(iteration - bar.n)

        def _on_step(self) -> bool:
            return True

    callbacks.append(IterationLog())
    # iteration 0: the starting point (after MLE and D pre-training)
    result = log.log("adversarial", 0, **evaluate(setup, generator_model, eval_rng),
                     **measure_discriminator(setup, discriminator, generator_model, signal_rng))
    updates = cfg.adv_iterations * cfg.g_steps
    if cfg.algo == "reinforce":
        agent.learn(updates, callback=callbacks)
    else:
        agent.learn(updates * cfg.num_envs * cfg.seq_len, callback=callbacks, log_interval=1,
                    progress_bar=progress)
    logger.close()
    bar.close()
    return result, generator_model
