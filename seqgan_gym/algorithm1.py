"""SeqGAN's Algorithm 1 (Yu et al., AAAI 2017), top to bottom. The paper's lines:

     1  initialise G_theta, D_phi with random weights theta, phi
     2  pre-train G_theta using MLE on S
     3  beta <- theta
     4  generate negative samples using G_theta for training D_phi
     5  pre-train D_phi via minimising the cross entropy
     6  repeat
     7    for g-steps do
     8      generate a sequence Y_1:T = (y_1, ..., y_T) ~ G_theta
     9      for t in 1:T do
    10        compute Q(a = y_t; s = Y_1:t-1) by Eq. (4)   (Monte-Carlo search with beta, scored by D)
    11      end for
    12      update generator parameters via policy gradient Eq. (8)
    13    end for
    14    for d-steps do
    15      use current G_theta to generate negative examples and combine with given positive examples S
    16      train discriminator D_phi for k epochs by Eq. (5)
    17    end for
    18    beta <- theta
    19  until SeqGAN converges

Where the loop differs from the paper:

* l.18 is an EMA, beta <- r beta + (1 - r) theta (r = ``cfg.rollout_update_rate``, 0.8), after
  every G update (l.12), as the authors' code does;
* "until SeqGAN converges" is ``cfg.adv_iterations`` iterations;
* l.8-12 write B = ``cfg.num_envs`` sequences per update through
  :class:`~seqgan_gym.envs.SeqGANVectorEnv`, whose rewards are l.10's Q; ``cfg.algo`` other than
  'reinforce' (PPO, A2C, MaskablePPO) replaces l.12's estimator;
* ``cfg.reward`` 'bleu' (PG-BLEU) or 'oracle' scores sequences instead of D: l.4-5 and l.14-17
  are skipped;
* l.10's Q is ``cfg.intermediate_reward``'s (:mod:`seqgan_gym.rewards.intermediate`; 'mc_rollout' is
  eq. 4); a learned one ('prefix_discriminator', 'critic') is pre-trained in l.4-5 and retrained
  in l.14-17 on D's negatives (those lines then run for it even without D).
The module each step comes from is named where the loop calls it (``experiment.``, ``training.``).
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from seqgan_gym.agents import make_agent
from seqgan_gym.envs import SeqGANVectorEnv
from seqgan_gym.experiment import setup as experiment
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.resume import Checkpointer
from seqgan_gym.experiment.setup import Setup
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.saving import save_discriminator, save_language_model
from seqgan_gym.rewards import intermediate
from seqgan_gym.rewards.rollout import RolloutPolicy
from seqgan_gym.training.seeds import stream_seed
from seqgan_gym.utils import make_adam


def train(setup: Setup, log: RunLog, generator: LSTMLanguageModel | None = None,
          reference_file: Path | None = None, progress: bool = True,
          checkpointer: Checkpointer | None = None) -> tuple[dict, dict, LSTMLanguageModel]:
    """Algorithm 1 from l.1 to the end; returns the last MLE evaluation, the last adversarial one and
    the trained G. ``generator``: an already pre-trained G_theta (skips l.1-2); ``reference_file``: the
    density-ratio D's reference (default: this run's best MLE epoch); ``checkpointer``: a run to resume."""
    cfg, checkpoints = setup.cfg, log.dir / "checkpoints"
    checkpointer = checkpointer or Checkpointer(checkpoints)
    if generator is None:  # l.1-2
        generator = experiment.new_generator(setup)
        mle = experiment.pretrain_generator(setup, generator, log, progress, checkpointer)
    elif checkpointer.saved is None:  # a given, pre-trained G: evaluated as the MLE row
        mle = log.log("mle", 0, **experiment.evaluate(setup, generator, setup.rng("evaluation")))
    else:  # resumed: that row was logged before
        mle = log.rows[0]
    discriminator = d_optimizer = None
    strategy = experiment.new_intermediate_reward(setup, generator)  # a learned Q_t, or None
    if cfg.reward == "discriminator":  # l.1
        reference_file = reference_file or checkpoints / "generator_mle_best.pt"  # the density ratio's
        discriminator = experiment.new_discriminator(setup, generator, reference_file)
        d_optimizer = make_adam(discriminator.parameters(), cfg.dis_lr)
    if discriminator is not None or strategy is not None:  # l.4-5
        trained = experiment.pretrain_discriminator(  # False: a resumed run had done it already
            setup, discriminator, d_optimizer, generator, log, progress, checkpointer, strategy)
        if trained and discriminator is not None and cfg.dis_form == "cnn":
            save_discriminator(discriminator, checkpoints / "discriminator_pretrained.pt")
    adversarial, generator = adversarial_training(setup, generator, log, discriminator, d_optimizer, progress,
                                                  checkpointer, strategy)
    if discriminator is not None and cfg.dis_form == "cnn":
        save_discriminator(discriminator, checkpoints / "discriminator_adv.pt")
    return mle, adversarial, generator


def adversarial_training(setup: Setup, generator: LSTMLanguageModel, log: RunLog, discriminator=None,
                         d_optimizer=None, progress: bool = True, checkpointer: Checkpointer | None = None,
                         strategy: intermediate.IntermediateReward | None = None
                         ) -> tuple[dict, LSTMLanguageModel]:
    """l.3 and l.6-19 from a pre-trained G_theta (and, for the D reward, a pre-trained D_phi with its
    optimizer; for a learned ``cfg.intermediate_reward``, its pre-trained ``strategy``, else a fresh
    one). Logs phase 'adversarial' (step = iteration; NLL_oracle / NLL_test or BLEU, and D's
    signal, every ``cfg.eval_every``). Returns the last evaluation and the trained G (``generator``
    itself for REINFORCE; for SB3 the policy's actor, started from ``generator``'s weights)."""
    cfg = setup.cfg
    rollout_policy = RolloutPolicy(generator, update_rate=cfg.rollout_update_rate)  # l.3
    reward_model = experiment.new_reward_model(setup, discriminator)  # D(Y), or cfg.reward's other score
    strategy = strategy or experiment.new_intermediate_reward(setup, generator)  # l.10's Q_t, if learned
    env = SeqGANVectorEnv(num_envs=cfg.num_envs, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                          n_rollouts=cfg.n_rollouts, intermediate_reward=strategy or cfg.intermediate_reward,
                          reward_model=reward_model, rollout_policy=rollout_policy, device=setup.device,
                          eos_token=setup.eos_token)
    logger = experiment.sb3_logger(log.dir / "sb3")
    agent = make_agent(cfg, env, generator, stream_seed(cfg.seed, "agent"), logger, setup.device)
    generator = agent.generator  # for SB3 a new object, the actor (beta and D follow it from here)
    if hasattr(discriminator, "follow"):  # a D that reads G (the density ratio) reads the G trained here
        discriminator.follow(generator)
    real = experiment.discriminator_real_data(setup)  # the training set (the density ratio: validation)
    d_shuffle_rng, d_negatives_rng = setup.rng("dis_shuffle", device="cpu"), setup.rng("dis_negatives")
    eval_rng, signal_rng = setup.rng("adversarial_evaluation"), setup.rng("d_signal")

    def evaluation() -> dict:
        return {**experiment.evaluate(setup, generator, eval_rng),
                **experiment.measure_discriminator(setup, discriminator, generator, signal_rng)}

    checkpointer = checkpointer or Checkpointer(None)
    iterations_done = checkpointer.begin(  # 0, or the iterations a resumed run had done
        "adversarial", generator=generator, rollout_policy=rollout_policy.model, agent=agent,
        discriminator=discriminator, d_optimizer=d_optimizer, d_shuffle_rng=d_shuffle_rng,
        d_negatives_rng=d_negatives_rng, eval_rng=eval_rng, signal_rng=signal_rng, intermediate=strategy)
    if iterations_done == 0:  # the start: after MLE and D pre-training
        log.log("adversarial", 0, **evaluation())
    # the last evaluation so far (a resumed run's may come from before the stop)
    result = [row for row in log.rows if row["phase"] == "adversarial" and "nll_test" in row][-1]
    watch = experiment.VanishedRewardWatch() if discriminator is not None else None
    if watch is not None:  # a resumed run's streak so far, without warning twice
        watch.replay([row.get("final_score") for row in log.rows if row["phase"] == "adversarial"][1:])
    bar = tqdm(range(iterations_done + 1, cfg.adv_iterations + 1),
               desc=f"adversarial ({cfg.algo}, {cfg.reward})", disable=not progress)
    shown: dict[str, str] = {}  # the last evaluation, beside the run's ETA
    for iteration in bar:  # l.6
        for _ in range(cfg.g_steps):  # l.7-13
            g_stats = agent.update()  # l.8-12: B sequences, their Q_t, one PG step (the last is logged)
            rollout_policy.update(generator)  # l.18: beta's EMA step after every G update
        values = {key: g_stats[key] for key in ("g_loss", "kl", "final_score") if key in g_stats}
        if (discriminator is not None or strategy is not None) and cfg.d_steps > 0:  # l.14-17
            d_stats, i_stats = intermediate.train_with_negatives(  # D, then a learned Q_t on its negatives
                discriminator, d_optimizer, strategy, real,
                lambda n: generator.sample(n, rng=d_negatives_rng), n_negatives=cfg.dis_negatives,
                d_steps=cfg.d_steps, k=cfg.k, batch_size=cfg.batch_size,
                shuffle_rng=d_shuffle_rng, reward_model=reward_model)
            values.update({f"d_{key}": d_stats[key] for key in ("loss", "acc_real", "acc_fake") if d_stats})
            log.scalars("adversarial", iteration, **{f"intermediate_{k}": v for k, v in i_stats.items()})
        if watch is not None:  # the failure mode where D's rewards are all ~0
            watch.check(iteration, values.get("final_score"))
        if iteration % cfg.eval_every == 0 or iteration == cfg.adv_iterations:
            values.update(evaluation())
            save_language_model(generator, log.dir / "checkpoints" / "generator_adv.pt", iteration=iteration)
            shown = {"nll_test": f"{values['nll_test']:.3f}"}
            result = log.log("adversarial", iteration, **values)
        else:
            log.log("adversarial", iteration, **values)
        checkpointer.save(iteration, log)  # after the row: the row count is part of the state
        log.show_progress(bar, "adversarial", iteration, shown)
    logger.close()
    return result, generator

