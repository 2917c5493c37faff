"""How long will a run take on this machine? An estimate from a few seconds of calibration.

**The model.** A ``seqgan-gym train`` run is a fixed sequence of operations whose counts its config
fixes, so its wall time is a sum of (count x unit cost). The unit costs are measured here, at the
run's sizes (V, T, embedding and hidden size, mini-batch, B sequences per update, N rollouts, the
algorithm, the reward and the intermediate reward), on this machine's device and thread count
(:func:`calibrate`); the counts come from the config (:func:`estimate_run`, pure arithmetic):

================  ===============================================================================
phase             operations
================  ===============================================================================
setup             sample n_train + n_test + n_valid sequences from the oracle; score n_test under
                  it (the floor)
evaluation        NLL_test: score n_test; NLL_oracle: sample eval_samples from G, score them
MLE               mle_epochs x (ceil(n_train / batch) MLE mini-batches + score n_valid + a
                  resumable checkpoint); evaluations at epoch 0, every eval_every and the last
D update(k)       sample dis_negatives; k x ceil((n_real + dis_negatives) / batch) D mini-batches
                  (n_real: n_train; n_valid for the density-ratio D, which fits on the validation set);
                  a learned intermediate reward: k epochs over n_real + dis_negatives
D pre-training    dis_pretrain_steps x (D update(dis_pretrain_epochs) + checkpoint)
adversarial       adv_iterations x (g_steps x generator update + d_steps x D update(k) +
                  checkpoint); evaluations at iteration 0, every eval_every and the last, each
                  with D's signal (sample n, D-score 2n, oracle log-likelihood of n; n =
                  min(d_signal_samples, n_test))
================  ===============================================================================

A *generator update* is timed whole: the environment, the agent and the reward model built as
:mod:`seqgan_gym.algorithm1` builds them at the run's sizes (an untrained G and D), one
``agent.update()`` and beta's EMA step. The other units are timed on a small slice (1,024 sequences
sampled and scored, 4 MLE and 4 D mini-batches after one warm-up each) and scaled linearly. The
checkpoint is its bytes (G, D, their Adam moments, the agent) at a write speed measured once.

What it leaves out, so expect the real run to take somewhat longer: the finish (100 samples, a
plot, a few small checkpoints), TensorBoard and CSV writing, Python start-up and imports, and
whatever else the machine is doing (the calibration sees the load of its few seconds, not the
run's). Trained models cost what untrained ones do, with one exception: a corpus with an EOS token
ends sequences early (not modelled; corpora are not estimated at all, since their BLEU evaluations
are not modelled). docs/results/speed.md compares estimates with measured runs.

Calibration takes a few seconds per distinct set of sizes and is cached for the process (the
``paper`` and ``cpu`` presets share theirs). :class:`RunClock` turns an estimate into the ETA a run
prints as it goes: the time so far plus the estimate of what remains, the current phase's steps at
the rate measured in this run.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import random
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from seqgan_gym.config import ExperimentConfig

PHASES = ("setup", "mle", "dis_pretrain", "adversarial")
"""The phases of a run, in order, as :class:`RunEstimate` names them."""
LEARNED_INTERMEDIATE = ("prefix_discriminator", "critic")


@dataclass
class UnitCosts:
    """Seconds per unit operation at one set of sizes on this machine (see the module docstring)."""

    sample: float
    """Sampling one sequence from G (or the oracle: the same sizes), in batches of up to 1,024."""
    score: float
    """One sequence's NLL under G (NLL_test) or the oracle (NLL_oracle, the floor)."""
    mle_batch: float
    """One MLE mini-batch: forward, backward, gradient clip, Adam."""
    g_update: float
    """One generator update: B sequences, their rewards, one policy-gradient step, beta's EMA step."""
    d_batch: float = 0.0
    """One D mini-batch (0: no D)."""
    d_score: float = 0.0
    """D's score of one sequence (D's signal at the adversarial evaluations)."""
    loglik: float = 0.0
    """The oracle's log-likelihood of one sequence (D's signal's rank correlation)."""
    strategy_fit: float = 0.0
    """A learned intermediate reward's fit, per sequence and epoch (0: none)."""
    checkpoint_per_mb: float = 0.0
    """Writing 1 MB of the resumable checkpoint."""
    checkpoint_mb: dict[str, float] = dataclasses.field(default_factory=dict)
    """The resumable checkpoint's size in each phase ('mle', 'dis_pretrain', 'adversarial')."""
    calibration_s: float = 0.0
    """The seconds the measurement took."""


@dataclass
class RunEstimate:
    """Estimated seconds of each phase of a run (:data:`PHASES`), with the counts and unit costs
    behind them."""

    phases: dict[str, float]
    steps: dict[str, int]
    """Steps of the phases that have them: MLE epochs, D pre-training steps, adversarial iterations."""
    units: UnitCosts
    per_iteration: dict[str, float]
    """One adversarial iteration's parts: ``g_steps`` generator updates, its d-steps."""

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    def describe(self) -> str:
        """One line: the total and each phase."""
        labels = {"setup": "setup", "mle": f"MLE {self.steps['mle']} epochs",
                  "dis_pretrain": f"D pre-training {self.steps['dis_pretrain']} steps",
                  "adversarial": f"adversarial {self.steps['adversarial']} iterations"}
        parts = [f"{labels[k]} {format_seconds(v)}" for k, v in self.phases.items()
                 if v > 0 or k == "mle"]
        it = self.per_iteration
        detail = f" (one iteration: G {it['generator']:.2f} s + D {it['discriminator']:.2f} s)"
        return f"~{format_seconds(self.total)}: " + ", ".join(parts) + (
            detail if self.steps["adversarial"] else "")


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _evaluations(steps: int, every: int) -> int:
    """Evaluations in a phase of ``steps`` steps: at step 0, every ``every`` and at the last step."""
    if steps <= 0:
        return 1
    return 1 + steps // every + (1 if steps % every else 0)


def _needs_discriminator(cfg: ExperimentConfig) -> bool:
    return cfg.reward == "discriminator"


def estimate_run(cfg: ExperimentConfig, units: UnitCosts, pretrained: bool = False) -> RunEstimate:
    """The arithmetic of the module docstring's table: ``cfg``'s counts times ``units``.

    :param pretrained: G comes from ``--generator-checkpoint`` (no MLE epochs; one evaluation).
    """
    cfg.validate()
    if cfg.data != "oracle":
        raise ValueError(f"no estimate for a corpus run (data {cfg.data!r}): its BLEU / Self-BLEU "
                         "evaluations are not modelled")
    u = units
    evaluation = cfg.n_test * u.score + cfg.eval_samples * (u.sample + u.score)
    with_d = _needs_discriminator(cfg)
    learned = cfg.intermediate_reward in LEARNED_INTERMEDIATE
    signal = 0.0
    if with_d and cfg.d_signal_samples > 0:
        n = min(cfg.d_signal_samples, cfg.n_test)
        signal = n * u.sample + 2 * n * u.d_score + n * u.loglik

    # D's real data: the training set; the density ratio's, the validation set
    # (experiment.discriminator_real_data)
    n_real = cfg.n_valid if cfg.dis_form == "density_ratio" else cfg.n_train

    def d_update(epochs: int) -> float:
        seconds = cfg.dis_negatives * u.sample
        if with_d:
            seconds += epochs * math.ceil((n_real + cfg.dis_negatives) / cfg.batch_size) * u.d_batch
        if learned:
            seconds += epochs * (n_real + cfg.dis_negatives) * u.strategy_fit
        return seconds

    def checkpoint(phase: str) -> float:
        return u.checkpoint_mb.get(phase, 0.0) * u.checkpoint_per_mb

    phases = {"setup": (cfg.n_train + cfg.n_test + cfg.n_valid) * u.sample + cfg.n_test * u.score}
    epochs = 0 if pretrained else cfg.mle_epochs
    mle_epoch = (math.ceil(cfg.n_train / cfg.batch_size) * u.mle_batch + cfg.n_valid * u.score
                 + checkpoint("mle"))
    mle_evaluations = 1 if pretrained else _evaluations(epochs, cfg.eval_every) + (cfg.mle_select == "best")
    phases["mle"] = epochs * mle_epoch + mle_evaluations * evaluation
    pretrain_steps = cfg.dis_pretrain_steps if (with_d or learned) else 0
    phases["dis_pretrain"] = pretrain_steps * (d_update(cfg.dis_pretrain_epochs) + checkpoint("dis_pretrain"))
    generator = cfg.g_steps * u.g_update
    discriminator = cfg.d_steps * d_update(cfg.k) if (with_d or learned) else 0.0
    iteration = generator + discriminator + checkpoint("adversarial")
    phases["adversarial"] = (cfg.adv_iterations * iteration
                             + _evaluations(cfg.adv_iterations, cfg.eval_every) * (evaluation + signal))
    steps = {"mle": epochs, "dis_pretrain": pretrain_steps, "adversarial": cfg.adv_iterations}
    return RunEstimate(phases, steps, units, {"generator": generator, "discriminator": discriminator})


# ----------------------------------------------------------------------------- calibration
_CACHE: dict[tuple, UnitCosts] = {}
_SIZE_FIELDS = ("vocab_size", "seq_len", "emb_dim", "hidden_dim", "batch_size", "num_envs", "n_rollouts",
                "algo", "reward", "intermediate_reward", "dis_form", "dis_width", "kl_coef",
                "reinforce_baseline", "bleu_order", "device")


def calibration_key(cfg: ExperimentConfig) -> tuple:
    """What the unit costs depend on: the sizes, algorithm and reward, the device and torch's threads."""
    return tuple(getattr(cfg, name) for name in _SIZE_FIELDS) + (torch.get_num_threads(),)


def _timed(fn, repeat: int = 1) -> float:
    """Seconds of one call of ``fn``: the fastest of ``repeat`` (the least disturbed by other work)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _megabytes(*modules_or_states) -> float:
    total = 0
    for item in modules_or_states:
        if item is None:
            continue
        tensors = item.parameters() if isinstance(item, torch.nn.Module) else _tensors(item)
        total += sum(t.numel() * t.element_size() for t in tensors)
    return total / 1e6


def _tensors(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in _tensors(v)]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return []


def calibrate(cfg: ExperimentConfig, slice_rows: int = 512, slice_envs: int = 16) -> UnitCosts:
    """Measure :class:`UnitCosts` at ``cfg``'s sizes on this machine (a few seconds; cached per
    :func:`calibration_key`). Untrained models of the run's sizes, random data: timing only.

    :param slice_rows: sequences sampled and scored to time one (the per-sequence costs).
    :param slice_envs: the generator update is timed with this many of the B sequences (at most B)
        and scaled by B / ``slice_envs``; a smaller batch costs a little more per sequence, so this
        leans towards overestimating.
    """
    key = calibration_key(cfg)
    if key not in _CACHE:
        _CACHE[key] = _calibrate(cfg, slice_rows, min(slice_envs, cfg.num_envs))
    return _CACHE[key]


def _calibrate(cfg: ExperimentConfig, slice_rows: int, slice_envs: int) -> UnitCosts:
    # imported here: the estimator's arithmetic needs none of it
    from stable_baselines3.common.logger import Logger

    from seqgan_gym.agents import make_agent
    from seqgan_gym.envs import SeqGANVectorEnv
    from seqgan_gym.experiment import setup as experiment
    from seqgan_gym.experiment.setup import Setup
    from seqgan_gym.models.density_ratio import DensityRatioDiscriminator
    from seqgan_gym.models.likelihood import sequence_log_likelihood, sequence_nll
    from seqgan_gym.models.oracle import random_oracle
    from seqgan_gym.rewards.rollout import RolloutPolicy
    from seqgan_gym.training import updates as training
    from seqgan_gym.utils import atomic_torch_save, make_adam, resolve_device

    torch.optim.Adam([torch.zeros(1)])  # torch's one-time import behind the first optimizer, untimed
    start = time.perf_counter()
    # a random oracle of the run's sizes; a density-ratio D reads a copy of G as its p_ref (a run
    # reads a file), which costs the same
    cfg = dataclasses.replace(cfg, data="oracle", oracle="random", oracle_path=None)
    device = resolve_device(cfg.device)
    states = random.getstate(), np.random.get_state()  # SB3 seeds these too when it builds an agent
    with torch.random.fork_rng(devices=[]):  # leaves the caller's random state as it was
        torch.manual_seed(0)
        rng = torch.Generator(device=device).manual_seed(0)
        oracle = random_oracle(0, cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim).to(device)
        real = oracle.sample(4 * cfg.batch_size, rng=rng)
        setup = Setup(cfg, device, oracle, SimpleNamespace(train=real, test=real), None)
        generator = experiment.new_generator(setup)
        generator.sample(8, rng=rng)  # first-call paths
        units = {"sample": _timed(lambda: generator.sample(slice_rows, rng=rng)) / slice_rows}
        sequences = generator.sample(slice_rows, rng=rng)
        sequence_nll(generator, sequences[:8])
        units["score"] = _timed(lambda: sequence_nll(generator, sequences)) / slice_rows

        optimizer = make_adam(generator.parameters(), cfg.gen_lr)
        batches = real[: 4 * cfg.batch_size]
        training.mle_epoch(generator, optimizer, real[: cfg.batch_size], cfg.batch_size, cfg.grad_clip)
        units["mle_batch"] = _timed(lambda: training.mle_epoch(
            generator, optimizer, batches, cfg.batch_size, cfg.grad_clip)) / 4  # 4 mini-batches

        discriminator = d_optimizer = None
        checkpoint_states = {"mle": [generator, generator, generator]}  # G and its Adam moments
        if cfg.reward == "discriminator":
            if cfg.dis_form == "density_ratio":
                discriminator = DensityRatioDiscriminator(copy.deepcopy(generator), generator,
                                                          alpha=cfg.density_ratio_alpha).to(device)
            else:
                discriminator = experiment.new_discriminator(setup, generator)
            d_optimizer = make_adam(discriminator.parameters(), cfg.dis_lr)
            half = real[: 2 * cfg.batch_size]
            fake = sequences[: 2 * cfg.batch_size]
            training.discriminator_epoch(discriminator, d_optimizer, half[: cfg.batch_size // 2],
                                         fake[: cfg.batch_size // 2], cfg.batch_size)
            units["d_batch"] = _timed(lambda: training.discriminator_epoch(
                discriminator, d_optimizer, half, fake, cfg.batch_size)) / 4  # 4 mini-batches
            score = getattr(discriminator, "real_logit", None) or discriminator.prob_real
            score(sequences[:8])
            units["d_score"] = _timed(lambda: score(sequences)) / slice_rows
            if cfg.d_signal_samples > 0:
                n = min(128, slice_rows)
                units["loglik"] = _timed(lambda: sequence_log_likelihood(oracle, sequences[:n])) / n
        strategy = experiment.new_intermediate_reward(setup, generator)
        if strategy is not None and strategy.trainable:
            reward_model = experiment.new_reward_model(setup, discriminator)
            half = real[: 2 * cfg.batch_size]
            units["strategy_fit"] = _timed(lambda: strategy.fit(
                half, sequences[: len(half)], epochs=1, reward_model=reward_model)) / (2 * len(half))

        # a generator update on slice_envs of the B sequences, the environment and agent built as
        # algorithm1 builds them
        rollout_policy = RolloutPolicy(generator, update_rate=cfg.rollout_update_rate)
        env = SeqGANVectorEnv(num_envs=slice_envs, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                              n_rollouts=cfg.n_rollouts,
                              intermediate_reward=strategy or cfg.intermediate_reward,
                              reward_model=experiment.new_reward_model(setup, discriminator),
                              rollout_policy=rollout_policy, device=device)
        with warnings.catch_warnings():  # SB3: a minibatch that does not divide the slice's buffer
            warnings.simplefilter("ignore")
            agent = make_agent(dataclasses.replace(cfg, num_envs=slice_envs), env, generator, 0,
                               Logger(None, []), device)

        def update():
            agent.update()
            rollout_policy.update(agent.generator)

        seconds = _timed(update)
        if seconds < 0.3:  # cheap (small sizes): the best of a few, past the first call
            seconds = min(seconds, _timed(update, repeat=3))
        units["g_update"] = seconds * cfg.num_envs / slice_envs

        # the resumable checkpoint: its bytes in each phase, at a write speed measured once
        d_states = [discriminator] * 3 if discriminator is not None else []
        agent_state = agent.state_dict()
        sizes = {"mle": _megabytes(*checkpoint_states["mle"]),
                 "dis_pretrain": _megabytes(*checkpoint_states["mle"], *d_states),
                 "adversarial": _megabytes(*checkpoint_states["mle"], *d_states, rollout_policy.model,
                                           agent_state)}
        payload = {"agent": agent_state, "generator": generator.state_dict(),
                   "d": None if discriminator is None else discriminator.state_dict()}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        with tempfile.TemporaryDirectory() as folder:
            seconds = _timed(lambda: atomic_torch_save(payload, Path(folder) / "resume.pt"))
        per_mb = seconds / max(buffer.tell() / 1e6, 1e-3)
    random.setstate(states[0])
    np.random.set_state(states[1])
    return UnitCosts(**units, checkpoint_per_mb=per_mb, checkpoint_mb=sizes,
                     calibration_s=time.perf_counter() - start)


def estimate(cfg: ExperimentConfig, pretrained: bool = False) -> RunEstimate:
    """:func:`estimate_run` with unit costs measured on this machine (:func:`calibrate`)."""
    return estimate_run(cfg, calibrate(cfg), pretrained)


# ----------------------------------------------------------------------------- the run's ETA
class RunClock:
    """A run's ETA: elapsed time plus the estimate of what remains.

    The current phase's remaining steps are priced at the rate measured in this run since the
    phase started (at the estimate's rate before its first step ends); the phases after it at the
    estimate. :meth:`eta` gives the seconds left, :meth:`postfix` a progress-bar string.

    :param estimate: the run's :class:`RunEstimate`.
    :param start: the run's start (``time.time()``; a resumed run's is moved back by its earlier time).
    """

    def __init__(self, estimate: RunEstimate, start: float) -> None:
        self.estimate, self.start = estimate, start
        self._phase: str | None = None
        self._phase_start = (0.0, 0)  # (time, steps done) when this process entered the phase

    def remaining(self, phase: str, done: int, now: float | None = None) -> float:
        """Seconds left when ``phase`` has ``done`` of its steps behind it."""
        now = time.time() if now is None else now
        if phase != self._phase:
            self._phase, self._phase_start = phase, (now, done)
        steps = self.estimate.steps[phase]
        estimated_step = self.estimate.phases[phase] / steps if steps else 0.0
        since, done_then = self._phase_start
        step = (now - since) / (done - done_then) if done > done_then else estimated_step
        later = PHASES[PHASES.index(phase) + 1:]
        return max(0, steps - done) * step + sum(self.estimate.phases[p] for p in later)

    def postfix(self, phase: str, done: int) -> str:
        """``ETA h:mm:ss of ~h:mm:ss``: the time left and the run's expected total."""
        now = time.time()
        left = self.remaining(phase, done, now)
        return f"run ETA {format_seconds(left)} of ~{format_seconds(now - self.start + left)}"
