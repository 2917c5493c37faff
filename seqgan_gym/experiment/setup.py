"""The pieces of a SeqGAN experiment that :mod:`seqgan_gym.algorithm1` puts in order.

* :func:`build_setup` loads the oracle and samples the real data (the synthetic experiment), or
  loads a corpus (``cfg.data``: quatrains, COCO, Nottingham, a file);
* :func:`new_generator`, :func:`pretrain_generator`: G_theta and its MLE pre-training (Algorithm 1,
  l.1-2), with NLL_oracle / NLL_test evaluation (BLEU and Self-BLEU instead of NLL_oracle for a
  corpus) by :func:`evaluate`;
* :func:`new_discriminator`, :func:`pretrain_discriminator`: D_phi and its pre-training (l.4-5),
  :func:`measure_discriminator`: whether D's score carries signal;
* :func:`new_reward_model`: the score of finished sequences (D(Y), BLEU, the oracle's);
  :func:`new_intermediate_reward`: a learned reward of unfinished prefixes (``cfg.intermediate_reward``
  'prefix_discriminator' or 'critic'), pre-trained beside D by :func:`pretrain_discriminator`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.logger import configure
from tqdm.auto import tqdm

from seqgan_gym.config import ExperimentConfig
from seqgan_gym.data.corpus import load_corpus
from seqgan_gym.data.oracle_data import OracleData, sample_oracle_data
from seqgan_gym.data.paper_oracle import find_paper_oracle, sha256_of
from seqgan_gym.data.shared import carve_validation
from seqgan_gym.evaluation.metrics import (
    bleu,
    discriminator_signal,
    ground_truth_nll,
    nll_oracle,
    nll_test,
    self_bleu,
)
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.resume import Checkpointer
from seqgan_gym.models.density_ratio import DensityRatioDiscriminator
from seqgan_gym.models.discriminator import paper_discriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import load_oracle, random_oracle
from seqgan_gym.models.saving import load_language_model, save_language_model
from seqgan_gym.rewards.intermediate import (
    TRAINABLE,
    IntermediateReward,
    make_intermediate_reward,
    train_with_negatives,
)
from seqgan_gym.rewards.reward_models import RewardModel, make_reward_model
from seqgan_gym.training.seeds import stream_rng, stream_seed
from seqgan_gym.training.updates import mle_epoch
from seqgan_gym.utils import make_adam, resolve_device, safe_torch_load


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

    def rng(self, stream: str, device: torch.device | str | None = None) -> torch.Generator:
        """The seeded random number generator of one named stream of this run
        (:data:`seqgan_gym.training.seeds.STREAMS`), on ``device`` (default: the run's)."""
        return stream_rng(self.cfg.seed, stream, self.device if device is None else device)


def build_setup(cfg: ExperimentConfig) -> Setup:
    """Load (or draw) the oracle, sample train and held-out data, and compute the floor; or, with
    ``cfg.data`` a corpus, load it.

    ``cfg`` is left as it is; the setup's own ``cfg`` is a copy with the values the data fixes: V
    (the paper's oracle file, a corpus's vocabulary), and a corpus's T and data sizes.
    """
    cfg.validate()
    # Everything is drawn from seeded torch.Generators except D's dropout masks, which come from
    # torch's global RNG: seed it too, so a run repeats.
    torch.manual_seed(stream_seed(cfg.seed, "torch_global"))
    device = resolve_device(cfg.device)
    if cfg.data != "oracle":
        corpus = load_corpus(cfg.data, cfg.data_path, split_seed=cfg.split_seed, max_seq_len=cfg.max_seq_len)
        if cfg.corpus_valid:
            corpus = carve_validation(corpus, cfg.corpus_valid, cfg.split_seed)
        cfg = dataclasses.replace(cfg, vocab_size=corpus.vocab_size, seq_len=corpus.seq_len,
                                  n_train=len(corpus.train), n_test=len(corpus.test))
        return Setup(cfg, device, None, corpus, None)
    oracle_file = None
    if cfg.oracle == "paper":
        path = find_paper_oracle(cfg.oracle_path)
        oracle = load_oracle(path, seq_len=cfg.seq_len)
        oracle_file = {"path": str(path.resolve()), "sha256": sha256_of(path)}
        cfg = dataclasses.replace(cfg, vocab_size=oracle.vocab_size)
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
    for name in ("data", "data_path", "split_seed", "corpus_valid", "oracle", "oracle_path", "oracle_seed",
                 "vocab_size", "seq_len", "n_train", "n_test", "n_valid", "data_seed"):
        if getattr(cfg, name) != getattr(setup.cfg, name):
            raise ValueError(f"with_config: {name} differs ({getattr(cfg, name)!r} vs "
                             f"{getattr(setup.cfg, name)!r}); build a new setup for other data")
    torch.manual_seed(stream_seed(cfg.seed, "torch_global"))
    return Setup(cfg, setup.device, setup.oracle, setup.data, setup.oracle_floor, setup.oracle_file,
                 setup.oracle_fallback)


def new_generator(setup: Setup) -> LSTMLanguageModel:
    """G_theta with the paper's initialisation N(0, 0.1^2), seeded by ``cfg.seed``."""
    cfg = setup.cfg
    model = LSTMLanguageModel(cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim,
                              eos_token=setup.eos_token)
    rng = setup.rng("generator_init", device="cpu")
    return model.init_normal_(cfg.gen_init_std, rng=rng).to(setup.device)


def evaluate(setup: Setup, generator: LSTMLanguageModel, rng: torch.Generator,
             temperature: float = 1.0) -> dict:
    """NLL_test on the held-out set, and over ``cfg.eval_samples`` samples of G: NLL_oracle (the
    synthetic experiment), or BLEU-n against the whole test split and Self-BLEU-n (a corpus;
    n = ``cfg.eval_bleu_order``). ``temperature`` samples and scores G at ``softmax(logits / T)``."""
    cfg = setup.cfg
    result = {"nll_test": nll_test(generator, setup.data.test.to(setup.device), temperature)}
    if setup.oracle is not None:
        result["nll_oracle"] = nll_oracle(generator, setup.oracle, cfg.eval_samples, rng=rng,
                                          temperature=temperature)
        return result
    samples = generator.sample(cfg.eval_samples, temperature=temperature, rng=rng).cpu()
    result["bleu"] = bleu(samples, setup.data.test, cfg.eval_bleu_order, setup.eos_token)["bleu"]
    result["self_bleu"] = self_bleu(samples, cfg.eval_bleu_order, setup.eos_token)["self_bleu"]
    return result


def pretrain_generator(setup: Setup, generator: LSTMLanguageModel, log: RunLog, progress: bool = True,
                       checkpointer: Checkpointer | None = None) -> dict:
    """MLE pre-training for ``cfg.mle_epochs`` epochs, evaluating every ``cfg.eval_every``.

    Logs phase 'mle' rows (step = epochs done; step 0 is the untrained generator), saves
    ``checkpoints/generator_mle.pt`` after each evaluation, and returns the last evaluation. With a
    validation set (``cfg.n_valid`` oracle samples, or a corpus's ``cfg.corpus_valid`` split) every
    epoch also logs ``nll_valid`` and keeps
    the best epoch as ``checkpoints/generator_mle_best.pt``; with ``cfg.mle_select == "best"``,
    ``generator`` ends with that epoch's weights, evaluated in a row of phase 'mle_best'
    (step = that epoch), which is returned. ``checkpointer``: save a resumable state after every
    epoch, and continue from the one it holds.
    """
    cfg = setup.cfg
    optimizer = make_adam(generator.parameters(), cfg.gen_lr)
    shuffle_rng = setup.rng("mle_shuffle", device="cpu")
    eval_rng = setup.rng("evaluation")
    checkpointer = checkpointer or Checkpointer(None)
    epochs_done = checkpointer.begin("mle", generator=generator, optimizer=optimizer, shuffle_rng=shuffle_rng,
                              eval_rng=eval_rng)
    if epochs_done is None:  # resumed in a later phase
        return [row for row in log.rows if row["phase"] in ("mle", "mle_best")][-1]
    train = setup.data.train.to(setup.device)
    valid = getattr(setup.data, "valid", None)
    best_valid = min([row["nll_valid"] for row in log.rows if "nll_valid" in row], default=float("inf"))

    last = log.log("mle", 0, **evaluate(setup, generator, eval_rng)) if epochs_done == 0 else None
    bar = tqdm(range(epochs_done + 1, cfg.mle_epochs + 1), desc="MLE pre-training", disable=not progress)
    shown: dict[str, str] = {}  # the last evaluation, beside the run's ETA
    for epoch in bar:
        loss = mle_epoch(generator, optimizer, train, cfg.batch_size, cfg.grad_clip, shuffle_rng)
        extra = {}
        if valid is not None:
            extra["nll_valid"] = nll_test(generator, valid.to(setup.device))
            if extra["nll_valid"] < best_valid:
                best_valid = extra["nll_valid"]
                save_language_model(generator, log.dir / "checkpoints" / "generator_mle_best.pt",
                                    epoch=epoch, nll_valid=best_valid)
        if epoch % cfg.eval_every == 0 or epoch == cfg.mle_epochs:
            last = log.log("mle", epoch, g_loss=loss, **extra, **evaluate(setup, generator, eval_rng))
            save_language_model(generator, log.dir / "checkpoints" / "generator_mle.pt", epoch=epoch)
            shown = {k: f"{v:.3f}" for k, v in last.items() if k in ("nll_oracle", "nll_test", "bleu")}
        else:
            log.log("mle", epoch, g_loss=loss, **extra)
        checkpointer.save(epoch, log)
        log.show_progress(bar, "mle", epoch, shown)
    if last is None:  # resumed after the last epoch
        last = [row for row in log.rows if row["phase"] == "mle" and "nll_test" in row][-1]
    if cfg.mle_select == "best" and valid is not None:  # start from the best validation epoch
        best = safe_torch_load(log.dir / "checkpoints" / "generator_mle_best.pt")
        generator.load_state_dict(best["state_dict"])
        last = log.log("mle_best", best["extra"]["epoch"], nll_valid=best["extra"]["nll_valid"],
                       **evaluate(setup, generator, eval_rng))
    return last


# ---------------------------------------------------------------------------- the discriminator
def measure_discriminator(setup: Setup, discriminator, generator: LSTMLanguageModel,
                          rng: torch.Generator) -> dict:
    """``d_heldout_auc`` and ``d_oracle_spearman``
    (:func:`seqgan_gym.evaluation.metrics.discriminator_signal`)
    on ``cfg.d_signal_samples`` held-out real sequences and as many fresh samples of G; ``{}`` when
    off. The held-out sequences are the oracle's held-out samples; on a corpus, its validation split
    (``corpus_valid``) for the paper's CNN, else its test split. The density ratio reads the test
    split there too, as on the oracle: it is fitted on the validation split, and its reference
    ``p_ref`` was chosen on it."""
    corpus_valid = getattr(setup.data, "valid", None) if setup.oracle is None else None
    use_valid = corpus_valid is not None and setup.cfg.dis_form == "cnn"
    held_out = corpus_valid if use_valid else setup.data.test
    n = min(setup.cfg.d_signal_samples, len(held_out))
    if discriminator is None or n == 0:
        return {}
    generated = generator.sample(n, rng=rng)
    real = held_out[:n].to(setup.device)
    return discriminator_signal(discriminator, real, generated, setup.oracle)


def discriminator_real_data(setup: Setup) -> torch.Tensor:
    """The real sequences D trains on: the training set for the paper's CNN; for ``dis_form
    density_ratio``, the validation set (``cfg.n_valid`` oracle samples, or a corpus's
    ``cfg.corpus_valid`` split), on device.

    Why the density ratio differs: its ranking is fixed (log p_ref - alpha log G) and its update fits
    only its calibration, which must say how well that ranking tells G's samples from real text G
    has *not* seen. On the training set it cannot: G has memorised those sequences, so they score
    like G's own samples under G, and a fit there shrinks the ratio's weight until the reward is
    nearly the same for every sequence (docs/results/d-signal.md). The test set is never used."""
    data = setup.data.valid if setup.cfg.dis_form == "density_ratio" else setup.data.train
    return data.to(setup.device)


def pretrain_discriminator(setup: Setup, discriminator, optimizer, generator: LSTMLanguageModel, log: RunLog,
                           progress: bool = True, checkpointer: Checkpointer | None = None,
                           intermediate: IntermediateReward | None = None,
                           reward_model: RewardModel | None = None) -> bool:
    """Algorithm 1 l.4-5: ``cfg.dis_pretrain_steps`` x (fresh negatives, ``dis_pretrain_epochs``);
    logs phase 'dis_pretrain' rows. ``checkpointer``: as :func:`pretrain_generator`'s, every step.
    ``intermediate``: a learned intermediate reward, pre-trained on the same negatives after D in
    each step (``discriminator`` may then be None: a BLEU or oracle reward; the critic learns
    their scores; ``reward_model``: the score it learns, default :func:`new_reward_model` of
    ``discriminator``); its losses go to TensorBoard. Returns False when a resumed run had finished
    this phase already (the weights restored)."""
    cfg = setup.cfg
    shuffle_rng = setup.rng("dis_pretrain_shuffle", device="cpu")
    negatives_rng = setup.rng("dis_pretrain_negatives")
    checkpointer = checkpointer or Checkpointer(None)
    steps_done = checkpointer.begin("dis_pretrain", generator=generator, discriminator=discriminator,
                              d_optimizer=optimizer, shuffle_rng=shuffle_rng, negatives_rng=negatives_rng,
                              intermediate=intermediate)
    if steps_done is None:  # resumed in a later phase
        return False
    train = discriminator_real_data(setup)
    if intermediate is not None and reward_model is None:
        reward_model = new_reward_model(setup, discriminator)
    bar = tqdm(range(steps_done + 1, cfg.dis_pretrain_steps + 1), desc="D pre-training", disable=not progress)
    for step in bar:
        stats, i_stats = train_with_negatives(
            discriminator, optimizer, intermediate, train, lambda n: generator.sample(n, rng=negatives_rng),
            n_negatives=cfg.dis_negatives, d_steps=1, k=cfg.dis_pretrain_epochs,
            batch_size=cfg.batch_size, shuffle_rng=shuffle_rng, reward_model=reward_model,
        )
        log.log("dis_pretrain", step, d_loss=stats.get("loss"), d_acc_real=stats.get("acc_real"),
                d_acc_fake=stats.get("acc_fake"))
        log.scalars("dis_pretrain", step, **{f"intermediate_{k}": v for k, v in i_stats.items()})
        checkpointer.save(step, log)
        log.show_progress(bar, "dis_pretrain", step, {})
    return True


def new_reward_model(setup: Setup, discriminator=None) -> RewardModel:
    """The score of finished sequences for ``cfg.reward``: D(Y) of ``discriminator``, PG-BLEU against
    the training data, or the oracle's log-likelihood."""
    cfg = setup.cfg
    return make_reward_model(cfg.reward, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len, device=setup.device,
                             discriminator=discriminator, oracle=setup.oracle, references=setup.data.train,
                             eos_token=setup.eos_token, bleu_order=cfg.bleu_order)


def new_intermediate_reward(setup: Setup, generator: LSTMLanguageModel) -> IntermediateReward | None:
    """The learned intermediate reward ``cfg.intermediate_reward`` names ('prefix_discriminator':
    Adam at ``dis_lr``; 'critic': Adam at 1e-3; mini-batches of ``batch_size``), its embedding and
    LSTM started from ``generator``'s, its head and mini-batch order seeded from the run's streams.
    None for a strategy that learns nothing ('mc_rollout', 'terminal': the environment builds those
    by name)."""
    cfg = setup.cfg
    if cfg.intermediate_reward not in TRAINABLE:
        return None
    return make_intermediate_reward(
        cfg.intermediate_reward, vocab_size=cfg.vocab_size, device=setup.device, generator=generator,
        init_seed=stream_seed(cfg.seed, "intermediate_init"),
        shuffle_seed=stream_seed(cfg.seed, "intermediate_shuffle"),
        lr=cfg.dis_lr if cfg.intermediate_reward == "prefix_discriminator" else 1e-3,
        batch_size=cfg.batch_size)


def new_discriminator(setup: Setup, generator: LSTMLanguageModel, reference_file: Path | None = None):
    """D_phi of ``cfg.dis_form``: the paper's CNN (initialised from ``cfg.seed`` by
    :func:`~seqgan_gym.models.discriminator.paper_discriminator`), or the density ratio against the
    reference generator saved in ``reference_file`` (an MLE run's best validation epoch), reading
    ``generator``."""
    cfg = setup.cfg
    if cfg.dis_form == "cnn":
        return paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=cfg.seed,
                                   width=cfg.dis_width).to(setup.device)
    if reference_file is None or not Path(reference_file).is_file():
        raise FileNotFoundError(f"dis_form density_ratio needs its reference generator; {reference_file} "
                                "does not exist")
    reference = load_language_model(reference_file, device=str(setup.device))
    return DensityRatioDiscriminator(reference, generator, alpha=cfg.density_ratio_alpha).to(setup.device)


class VanishedRewardWatch:
    """The paper's failure mode: a discriminator so sure of itself that every generated sequence gets
    D(Y) ~ 0, so the generator's rewards carry no signal. Warns (``RuntimeWarning``) the first time
    the mean final score of the generator's update stays below ``threshold`` for ``patience``
    iterations in a row; ``vanished_at`` is that iteration (None: not seen).

    :param threshold: the mean D(Y) below which the reward counts as vanished.
    :param patience: consecutive iterations below ``threshold`` before the warning.
    """

    def __init__(self, threshold: float = 0.01, patience: int = 5) -> None:
        self.threshold, self.patience = threshold, patience
        self.streak, self.vanished_at = 0, None

    def replay(self, final_scores: list) -> None:
        """Take in the scores of iterations already run (a resumed run's), without warning."""
        for iteration, final_score in enumerate(final_scores, start=1):
            self.streak = self.streak + 1 if final_score is not None and final_score < self.threshold else 0
            if self.streak >= self.patience and self.vanished_at is None:
                self.vanished_at = iteration

    def check(self, iteration: int, final_score: float | None) -> None:
        self.streak = self.streak + 1 if final_score is not None and final_score < self.threshold else 0
        if self.streak == self.patience and self.vanished_at is None:
            self.vanished_at = iteration
            warnings.warn(f"adversarial iteration {iteration}: the mean D(Y) of G's sequences has stayed "
                          f"below {self.threshold} for {self.patience} iterations; the discriminator "
                          "rejects everything and the rewards carry no signal (SeqGAN's known failure "
                          "mode: fewer d-steps or epochs k, a lower dis_lr, or a reward baseline help)",
                          RuntimeWarning, stacklevel=2)


def sb3_logger(folder: Path):
    """The agent's SB3 logger (CSV ``progress.csv`` and TensorBoard in ``folder``). A resumed run's
    earlier ``progress.csv``, which SB3 would overwrite, is kept as ``progress.<n>.csv``."""
    old = folder / "progress.csv"
    if old.exists():
        old.rename(folder / f"progress.{len(list(folder.glob('progress*.csv')))}.csv")
    return configure(str(folder), ["csv", "tensorboard"])
