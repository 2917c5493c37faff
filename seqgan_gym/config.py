"""Experiment configuration: one dataclass in eight sections, three presets.

The sections (:class:`RunConfig`, :class:`DataConfig`, :class:`ModelConfig`, :class:`MLEConfig`,
:class:`DiscriminatorConfig`, :class:`AdversarialConfig`, :class:`AgentConfig`,
:class:`EvaluationConfig`) each hold one part of a run's settings and check their own fields when
built; :class:`ExperimentConfig` is all of them, plus the rules that span sections.

* ``paper``: the authors' schedule exactly (their code, github.com/LantaoYu/SeqGAN,
  ``sequence_gan.py``): 120 MLE epochs, 50 x (10,000 negatives, 3 D epochs) of D pre-training,
  200 adversarial iterations of (1 generator step on 64 sequences with N = 16 rollouts;
  5 x (10,000 negatives, 3 D epochs)). By far the longest; ``seqgan-gym presets`` estimates it.
* ``cpu`` (the default): a shortened schedule sized for a small CPU; every change against ``paper``
  is listed by :func:`describe_schedule` and printed with the run.
* ``smoke``: a tiny random oracle, seconds; for tests and for checking an installation.

Every field can be overridden from the command line (``--set field=value``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import asdict, dataclass, fields

import torch

ALGORITHMS = ("reinforce", "ppo", "a2c", "maskable_ppo")
REWARDS = ("discriminator", "bleu", "oracle")
DIS_FORMS = ("cnn", "density_ratio")
REINFORCE_BASELINES = ("none", "mean")
INTERMEDIATE_REWARDS = ("mc_rollout", "terminal", "prefix_discriminator", "critic")


class _Section:
    """A group of config fields, checked when built: the type of every field (its annotation), then
    the values, by the ``_check`` of each class in the group's hierarchy (the sections' before the
    whole config's rules that span several sections). Each check raises ``ValueError`` with one line
    that names the field."""

    def __post_init__(self) -> None:
        self._check_types()
        for cls in reversed(type(self).__mro__):
            check = cls.__dict__.get("_check")
            if check is not None:
                check(self)

    def validate(self):
        """Check the fields again (after some were assigned); returns the config."""
        self.__post_init__()
        return self

    def _check_types(self) -> None:
        """Each field holds a value of its annotated type (``int``, ``float``, ``str``, ``bool``, or
        None where the annotation allows it): a config read back from ``config.json`` may not."""
        for f in fields(self):
            value, kinds = getattr(self, f.name), [k.strip() for k in str(f.type).split("|")]
            if value is None and "None" in kinds:
                continue
            ok = any((kind == "int" and type(value) is int)
                     or (kind == "float" and type(value) in (int, float))
                     or (kind == "bool" and type(value) is bool)
                     or (kind == "str" and type(value) is str) for kind in kinds)
            if not ok:
                wanted = " or ".join("None" if k == "None" else f"a{'n' if k == 'int' else ''} {k}"
                                     for k in kinds)
                raise ValueError(f"{f.name} must be {wanted}, got {value!r}")


def _at_least(config, low: int, *names: str) -> None:
    for name in names:
        if getattr(config, name) < low:
            raise ValueError(f"{name} must be >= {low}, got {getattr(config, name)}")


def _positive_finite(config, *names: str) -> None:
    """Each field is None (where allowed) or a finite number > 0."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _check_seed(config, name: str) -> None:
    value = getattr(config, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value > SEED_LIMITS[name]:
        raise ValueError(f"{name} must be <= {SEED_LIMITS[name]} (the seeds derived from it must fit in "
                         f"64 bits), got {value}")


SEED_LIMITS = {"seed": (2**63 - 1 - 8000) // 1000, "oracle_seed": 2**63 - 1,
               "data_seed": 2**63 - 1 - 2_000_029, "split_seed": 2**63 - 1}
"""The largest value of each seed field: the seeds derived from it (``1000 * seed + offset`` of
:mod:`seqgan_gym.training.seeds`, ``data_seed + 2_000_029`` of the held-out samples) fit in a signed 64-bit
integer, as torch's generators need."""
SB3_SEED_LIMIT = (2**32 - 1 - 4) // 1000
"""The largest ``seed`` of a stable-baselines3 agent (its seed ``1000 * seed + 4`` seeds numpy)."""


@dataclass
class RunConfig(_Section):
    """Which run: the preset it started from, its seed and its device."""

    preset: str = "cpu"
    """Name of the preset these values started from (recorded in the run directory)."""
    seed: int = 0
    """Seed of the generator's initialisation and of every sampling / shuffling stream."""
    device: str = "auto"
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:1', ..."""

    def _check(self) -> None:
        _check_seed(self, "seed")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError) as e:
                raise ValueError(f"device must be auto, cpu, cuda, cuda:N, ...; got {self.device!r}") from e


@dataclass
class DataConfig(_Section):
    """The real data: an oracle's samples (the synthetic experiment) or a corpus."""

    data: str = "oracle"
    """'oracle' (the synthetic experiment: real data sampled from the oracle below), or a corpus:
    'quatrains', 'coco', 'nottingham' (seqgan_gym.data.corpus.load_corpus) or a path to a text file /
    a folder with train.txt and test.txt. With a corpus, V, T and the data sizes come from it and
    the evaluation is NLL_test, BLEU and Self-BLEU instead of NLL_oracle."""
    data_path: str | None = None
    """Where a bundled corpus's files are, if not in the default place (the Nottingham .abc folder)."""
    split_seed: int = 0
    """Seed of a corpus's random train/test split (quatrains, a single file, the Nottingham tunes;
    recorded in the run's corpus_split.json). A split given as files (COCO) is used as given."""
    corpus_valid: int = 0
    """Corpora only: this many training sequences, drawn at random (seeded by ``split_seed``), are set
    aside as a validation split: G and D never train on them; ``mle_select best`` picks its epoch by
    their NLL and ``d_heldout_auc`` scores them. 0: none (``d_heldout_auc`` then reads the test
    split, which no choice is made on). The vocabulary is still the one built from the whole
    training file; the test split is never touched. On the oracle data ``n_valid`` does this."""
    max_seq_len: int = 200
    """A text corpus's lines of more tokens than this are left out, counted and listed in the run's
    ``corpus_split.json`` (one stray 100,000-token line would otherwise make T = 100,001)."""
    oracle: str = "paper"
    """'paper' (the authors' oracle file, see --oracle-path) or 'random' (N(0,1), --oracle-seed)."""
    oracle_path: str | None = None
    """Path of the paper's oracle (.npz or the authors' .pkl); found automatically when None."""
    oracle_seed: int = 0
    """Seed of a random oracle."""
    vocab_size: int = 5000
    """V; for the paper's oracle it is read from the file."""
    seq_len: int = 20
    """T, the length of every sequence."""
    n_train: int = 10_000
    """Real sequences sampled from the oracle for MLE and D (the paper: 10,000)."""
    n_test: int = 10_000
    """Held-out oracle samples for NLL_test (never trained on)."""
    n_valid: int = 2_000
    """More held-out oracle samples, for choices made during training: the MLE epoch with the best
    validation NLL is kept as ``generator_mle_best.pt`` (the reference of ``dis_form
    density_ratio``). 0: none. The test set is never used to choose anything."""
    data_seed: int = 88
    """Seed of the oracle's sampling of the real data."""

    def _check(self) -> None:
        if self.oracle not in ("paper", "random"):
            raise ValueError(f"oracle must be 'paper' or 'random', got {self.oracle!r}")
        _at_least(self, 1, "n_train", "n_test", "seq_len", "vocab_size", "max_seq_len")
        if self.n_test < 2:
            raise ValueError(f"n_test must be >= 2 (D's held-out AUC and rank correlation need two "
                             f"held-out sequences), got {self.n_test}")
        for name in ("oracle_seed", "data_seed", "split_seed"):
            _check_seed(self, name)
        if self.n_valid < 0 or self.corpus_valid < 0:
            raise ValueError(f"n_valid and corpus_valid must be >= 0, got {self.n_valid} and "
                             f"{self.corpus_valid}")
        if self.corpus_valid and self.data == "oracle":
            raise ValueError("corpus_valid is for corpora; on the oracle data n_valid draws the "
                             "validation samples")
        if self.corpus_valid and self.data == "nottingham":
            raise ValueError("corpus_valid: the Nottingham melodies are windows of tunes, a validation "
                             "split by rows would share tunes with training (not supported)")


@dataclass
class ModelConfig(_Section):
    """The generator G_theta (and a random oracle): its sizes and initialisation."""

    emb_dim: int = 32
    hidden_dim: int = 32
    gen_init_std: float = 0.1
    """The generator's parameters are drawn from N(0, gen_init_std^2) (the authors: 0.1)."""

    def _check(self) -> None:
        _at_least(self, 1, "emb_dim", "hidden_dim")
        _positive_finite(self, "gen_init_std")


@dataclass
class MLEConfig(_Section):
    """MLE pre-training of the generator (its learning rate and clipping are also REINFORCE's)."""

    gen_lr: float = 0.01
    grad_clip: float = 5.0
    batch_size: int = 64
    mle_epochs: int = 120
    mle_select: str = "last"
    """Which MLE generator the adversarial phase starts from: 'last' (after ``mle_epochs``, the
    paper's) or 'best' (the epoch with the best validation NLL: on the ``n_valid`` oracle samples, or
    on a corpus's ``corpus_valid`` validation split)."""

    def _check(self) -> None:
        _at_least(self, 1, "batch_size")
        _at_least(self, 0, "mle_epochs")
        _positive_finite(self, "gen_lr", "grad_clip")
        if self.mle_select not in ("last", "best"):
            raise ValueError(f"mle_select must be 'last' or 'best', got {self.mle_select!r}")
        if self.mle_select == "best" and self.mle_epochs < 1:
            raise ValueError("mle_select 'best' needs mle_epochs >= 1 (it picks one of them)")


@dataclass
class DiscriminatorConfig(_Section):
    """The discriminator D_phi: its form, its pre-training and its updates in each adversarial
    iteration (d-steps of k epochs)."""

    dis_lr: float = 1e-4
    dis_pretrain_steps: int = 50
    """D pre-training: this many times, sample negatives and train D for dis_pretrain_epochs."""
    dis_pretrain_epochs: int = 3
    dis_negatives: int = 10_000
    """Negatives sampled from G for each D update (the authors: as many as real sequences)."""
    d_steps: int = 5
    """D updates (fresh negatives each) per adversarial iteration."""
    k: int = 3
    """Epochs over real + negatives per D update."""
    dis_form: str = "cnn"
    """'cnn' (the paper's CNN D) or 'density_ratio' (:class:`seqgan_gym.models.density_ratio.
    DensityRatioDiscriminator`: logit = (w_ref log p_ref - w_gen log G) / T + bias, p_ref the MLE
    run at its best validation NLL, fitted on the ``n_valid`` validation samples; on a corpus, on its
    ``corpus_valid`` validation split, which it then needs).
    The ``paper`` and ``smoke`` presets use the CNN; the ``cpu`` preset the tempered density ratio
    (alpha 0.5), the form whose reward ranks G's samples by quality (docs/results/d-signal.md).
    On a corpus the density ratio needs ``corpus_valid``; the command line moves the ``cpu`` preset
    to a corpus without one with the CNN, the paper's setting for real text (:func:`fit_to_data`)."""
    dis_width: float = 1.0
    """dis_form 'cnn': the CNN's filters of each width are the paper's times this (rounded, at least
    one); 1.0 is the paper's D. The ``smoke`` preset's is small, for runs of seconds."""
    density_ratio_alpha: float | None = None
    """dis_form 'density_ratio' only: None fits w_gen freely; a number ties w_gen = alpha * w_ref (the
    tempered ratio, log p_ref - alpha log G: alpha trades telling G's samples from real ones (-log G)
    against ranking them by quality (log p_ref); see seqgan_gym.models.density_ratio)."""

    def _check(self) -> None:
        _at_least(self, 1, "dis_pretrain_epochs", "dis_negatives", "k")
        _at_least(self, 0, "dis_pretrain_steps", "d_steps")
        _positive_finite(self, "dis_lr", "dis_width")
        if self.dis_form not in DIS_FORMS:
            raise ValueError(f"dis_form must be one of {DIS_FORMS}, got {self.dis_form!r}")
        if self.density_ratio_alpha is not None and not (math.isfinite(self.density_ratio_alpha)
                                                         and self.density_ratio_alpha > 0):
            raise ValueError(f"density_ratio_alpha must be a finite number > 0 or none, "
                             f"got {self.density_ratio_alpha}")


@dataclass
class AdversarialConfig(_Section):
    """The adversarial phase: its iterations, the environment's batch, the reward and how unfinished
    prefixes are rewarded (Monte-Carlo rollouts by beta, or another strategy)."""

    adv_iterations: int = 200
    g_steps: int = 1
    """Generator policy-gradient updates per adversarial iteration."""
    num_envs: int = 64
    """Sequences per generator update (the vector environment's batch)."""
    n_rollouts: int = 16
    """N, Monte-Carlo completions per prefix."""
    rollout_update_rate: float = 0.8
    """beta <- rate * beta + (1 - rate) * theta after every generator update."""
    reward: str = "discriminator"
    """'discriminator' (SeqGAN), 'bleu' (PG-BLEU against the real training data) or 'oracle' (the
    oracle's log-likelihood: a diagnostic upper bound, not a GAN). All shaped by MC rollouts."""
    bleu_order: int = 4
    """n of the PG-BLEU reward's BLEU-n."""
    intermediate_reward: str = "mc_rollout"
    """The reward of an unfinished prefix (seqgan_gym.rewards.intermediate): 'mc_rollout' (the paper's N
    Monte-Carlo completions by beta), 'terminal' (0 before the last token), 'prefix_discriminator'
    (a recurrent D of every prefix, trained beside D on the same negatives) or 'critic' (a value
    network of prefixes regressing the final reward). The last token always gets the reward's score."""

    def _check(self) -> None:
        _at_least(self, 0, "adv_iterations")
        _at_least(self, 1, "g_steps", "num_envs", "n_rollouts", "bleu_order")
        if not 0.0 <= self.rollout_update_rate <= 1.0:
            raise ValueError(f"rollout_update_rate must be in [0, 1], got {self.rollout_update_rate}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.intermediate_reward not in INTERMEDIATE_REWARDS:
            raise ValueError(f"intermediate_reward must be one of {INTERMEDIATE_REWARDS}, "
                             f"got {self.intermediate_reward!r}")


@dataclass
class AgentConfig(_Section):
    """The generator's RL algorithm and its settings."""

    algo: str = "reinforce"
    """The generator's RL algorithm: 'reinforce' (the paper's), or 'ppo' / 'a2c' (stable-baselines3,
    through seqgan_gym.agents.sb3; the actor starts from the MLE generator), or 'maskable_ppo'
    (sb3-contrib's MaskablePPO with the env's action mask: after EOS only EOS)."""
    reinforce_baseline: str = "none"
    """REINFORCE's baseline: 'none' (the paper's; its D rewards lie in [0, 1]) or 'mean' (leave-one-out
    batch mean of Q_t; for rewards of one sign far from 0, such as the oracle log-likelihood)."""
    kl_coef: float = 0.0
    """Weight of a per-token KL penalty against the MLE generator, log G(y_t|.) - log G_MLE(y_t|.),
    subtracted from the reward (RL4LMs, TRL; every algorithm: seqgan_gym.agents.kl). 0: none (the
    paper's)."""
    kl_target: float = 0.0
    """When > 0, kl_coef adapts toward this KL(G || G_MLE) per sequence (Ziegler et al. 2019)."""
    sb3_lr: float = 1e-3
    """Learning rate of PPO / A2C (REINFORCE uses gen_lr, as the authors)."""
    sb3_epochs: int | None = None
    """PPO / MaskablePPO: epochs over each update's rollout (None: the adapter's 4)."""
    sb3_clip_range: float | None = None
    """PPO / MaskablePPO: the ratio's clip range (None: SB3's 0.2)."""
    sb3_gae_lambda: float | None = None
    """PPO / A2C: GAE's lambda (None: SB3's, 0.95 for PPO and 1.0 for A2C)."""
    sb3_normalize_advantage: bool | None = None
    """PPO / A2C: normalise each minibatch's advantages (None: SB3's, on for PPO and off for A2C)."""

    def _check(self) -> None:
        if self.algo not in ALGORITHMS and ":" not in self.algo:
            raise ValueError(f"algo must be one of {ALGORITHMS} or your agent's 'module:Class' / "
                             f"'path/to/file.py:Class', got {self.algo!r}")
        if self.algo == "maskable_ppo" and importlib.util.find_spec("sb3_contrib") is None:
            raise ValueError("algo maskable_ppo needs sb3-contrib: pip install 'seqgan-gym[contrib]'")
        if self.reinforce_baseline not in REINFORCE_BASELINES:
            raise ValueError(f"reinforce_baseline must be one of {REINFORCE_BASELINES}, "
                             f"got {self.reinforce_baseline!r}")
        _positive_finite(self, "sb3_lr", "sb3_clip_range")
        if self.sb3_epochs is not None and self.sb3_epochs < 1:
            raise ValueError(f"sb3_epochs must be >= 1, got {self.sb3_epochs}")
        if self.sb3_gae_lambda is not None and not 0 <= self.sb3_gae_lambda <= 1:
            raise ValueError(f"sb3_gae_lambda must be in [0, 1], got {self.sb3_gae_lambda}")
        if self.algo == "a2c" and (self.sb3_epochs is not None or self.sb3_clip_range is not None):
            raise ValueError("sb3_epochs and sb3_clip_range are PPO's (algo ppo or maskable_ppo); "
                             "A2C takes one step per update and clips nothing")
        for name in ("kl_coef", "kl_target"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.kl_target > 0 and self.kl_coef == 0:
            raise ValueError("kl_target adapts kl_coef: set a starting kl_coef > 0 too")

    def sb3_kwargs(self) -> dict:
        """The SB3 algorithm's keyword arguments this config sets (the ``sb3_*`` fields not None)."""
        names = {"sb3_epochs": "n_epochs", "sb3_clip_range": "clip_range",
                 "sb3_gae_lambda": "gae_lambda", "sb3_normalize_advantage": "normalize_advantage"}
        return {sb3: getattr(self, ours) for ours, sb3 in names.items() if getattr(self, ours) is not None}


@dataclass
class EvaluationConfig(_Section):
    """What is measured during a run, and how often."""

    eval_every: int = 5
    """Evaluate NLL_oracle / NLL_test every this many MLE epochs / adversarial iterations."""
    eval_samples: int = 10_000
    """Sequences sampled from G for each NLL_oracle evaluation (the paper: 10,000)."""
    eval_bleu_order: int = 4
    """n of the BLEU-n / Self-BLEU-n logged for a corpus at each evaluation."""
    d_signal_samples: int = 5_000
    """At each adversarial evaluation, D scores this many held-out real sequences and as many fresh
    samples of G: ``d_heldout_auc`` and ``d_oracle_spearman`` (see
    :func:`seqgan_gym.evaluation.metrics.discriminator_signal`). 0 turns it off."""

    def _check(self) -> None:
        _at_least(self, 1, "eval_every", "eval_samples", "eval_bleu_order")
        _at_least(self, 0, "d_signal_samples")
        if self.d_signal_samples == 1:
            raise ValueError("d_signal_samples must be 0 (off) or >= 2 (an AUC and a rank correlation "
                             "need two sequences), got 1")

# The sections in reverse: a dataclass lists the fields of its last base first, so a config's fields
# (and config.json) read run, data, model, MLE, D, adversarial, agent, evaluation.
@dataclass
class ExperimentConfig(EvaluationConfig, AgentConfig, AdversarialConfig, DiscriminatorConfig, MLEConfig,
                       ModelConfig, DataConfig, RunConfig):
    """All settings of a SeqGAN run, on the synthetic oracle data or on a real-data corpus: the
    sections above in one flat object (``cfg.mle_epochs``, ``--set mle_epochs=3``), checked when
    built, section by section, then by the rules below that span sections."""

    def _check(self) -> None:
        if self.algo != "reinforce" and self.seed > SB3_SEED_LIMIT:
            raise ValueError(f"seed must be <= {SB3_SEED_LIMIT} with algo {self.algo} (SB3 seeds numpy "
                             f"with 1000 x seed + 4, which must be < 2**32), got {self.seed}")
        corpus = self.data != "oracle"
        if corpus and self.reward == "oracle":
            raise ValueError(f"reward 'oracle' needs the oracle data; data is {self.data!r} (a corpus)")
        if self.data == "nottingham" and (self.dis_form == "density_ratio" or self.mle_select == "best"):
            raise ValueError("dis_form 'density_ratio' and mle_select 'best' need a validation split, which "
                             "the Nottingham melodies do not have (their rows are windows of tunes)")
        if self.dis_form == "density_ratio" and not corpus and self.n_valid < 1:
            raise ValueError("dis_form 'density_ratio' needs n_valid >= 1 (its reference is the MLE "
                             "epoch with the best validation NLL, and its fit reads those samples)")
        if self.dis_form == "density_ratio" and corpus and self.corpus_valid < 1:
            raise ValueError("dis_form 'density_ratio' on a corpus needs a validation split: set "
                             "corpus_valid (e.g. 1000; its reference is the MLE epoch with the best "
                             "validation NLL, and its fit reads those sequences)")
        if self.mle_select == "best" and not corpus and self.n_valid < 1:
            raise ValueError("mle_select 'best' needs n_valid >= 1 (the oracle samples it selects on)")
        if self.mle_select == "best" and corpus and self.corpus_valid < 1:
            raise ValueError("mle_select 'best' on a corpus needs a validation split: set corpus_valid "
                             "to the number of training sequences to set aside (e.g. 1000)")

    def to_dict(self) -> dict:
        return asdict(self)

    def override(self, assignments: list[str]) -> ExperimentConfig:
        """A copy with ``field=value`` strings applied, each value converted to the field's type
        (``none`` sets an optional field to None); checked like any new config."""
        types = {f.name: f.type for f in fields(self)}
        changes = {}
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"expected field=value, got {item!r}")
            name, value = item.split("=", 1)
            if name not in types:
                raise ValueError(f"unknown config field {name!r}; fields: {sorted(types)}")
            if name == "preset":
                raise ValueError("preset cannot be set as a field (it would change only the label): "
                                 f"use --preset {value} (in a sweep spec, its top-level preset key)")
            changes[name] = _convert(value, types[name], name)
        return dataclasses.replace(self, **changes)


def _convert(value: str, type_name: str, name: str):
    if value.lower() == "none" and "None" in str(type_name):
        return None
    kind = str(type_name).split("|")[0].strip()
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
    except ValueError as e:
        raise ValueError(f"config field {name} expects {kind}, got {value!r}") from e
    return value


PRESETS: dict[str, ExperimentConfig] = {
    "paper": ExperimentConfig(preset="paper"),
    # Sized for a small CPU: D gets 16 pre-training epochs instead of 150 and one epoch per
    # iteration instead of 15, so its learning rate is raised to 1e-3 to make up for it.
    # D is the tempered density ratio (alpha 0.5), whose reward ranks G's samples by quality where
    # the paper's CNN's does not (docs/results/d-signal.md); corpora get the CNN (see dis_form).
    "cpu": ExperimentConfig(
        preset="cpu",
        mle_epochs=50,
        dis_pretrain_steps=8,
        dis_pretrain_epochs=2,
        dis_negatives=5_000,
        dis_lr=1e-3,
        adv_iterations=30,
        d_steps=1,
        k=1,
        dis_form="density_ratio",
        density_ratio_alpha=0.5,
    ),
    "smoke": ExperimentConfig(
        preset="smoke",
        oracle="random",
        vocab_size=200,
        seq_len=10,
        n_train=512,
        n_test=256,
        mle_epochs=4,
        eval_every=2,
        eval_samples=256,
        dis_pretrain_steps=1,
        dis_pretrain_epochs=1,
        dis_negatives=256,
        dis_width=0.1,
        adv_iterations=4,
        d_steps=1,
        k=1,
        num_envs=16,
        n_rollouts=2,
    ),
}

def describe_schedule(cfg: ExperimentConfig) -> str:
    """One line stating this run's schedule next to the paper's, printed with every run."""
    paper = PRESETS["paper"]
    parts = []
    for name, label in (("algo", "algorithm"), ("reward", "reward"), ("mle_epochs", "MLE epochs"),
                        ("dis_pretrain_steps", "D pre-training steps"),
                        ("dis_pretrain_epochs", "epochs per D pre-training step"),
                        ("dis_negatives", "negatives per D update"), ("dis_lr", "D learning rate"),
                        ("adv_iterations", "adversarial iterations"), ("g_steps", "g-steps"),
                        ("d_steps", "d-steps"), ("k", "k"), ("dis_form", "D"),
                        ("dis_width", "D width"), ("density_ratio_alpha", "density-ratio alpha"),
                        ("num_envs", "sequences per G update"),
                        ("n_rollouts", "rollouts N")):
        if name == "density_ratio_alpha" and cfg.dis_form != "density_ratio":
            continue
        if name == "dis_width" and (cfg.dis_form != "cnn" or cfg.dis_width == paper.dis_width):
            continue
        ours, theirs = getattr(cfg, name), getattr(paper, name)
        parts.append(f"{label} {ours}" + ("" if ours == theirs else f" (paper {theirs})"))
    same = cfg.oracle == paper.oracle and all(
        getattr(cfg, f.name) == getattr(paper, f.name)
        for f in fields(cfg) if f.name not in ("preset", "seed", "device", "oracle_path"))
    head = "the paper's schedule" if same else f"{cfg.preset} preset, NOT the paper's full schedule"
    return f"{head}: " + "; ".join(parts)


def fit_to_data(cfg: ExperimentConfig, assignments: list[str]) -> list[str]:
    """``assignments`` (``field=value`` strings for :meth:`ExperimentConfig.override`), plus the two
    that moving ``cfg`` to their data needs when ``cfg``'s D is the density ratio (the ``cpu``
    preset's) and the data is a corpus without a validation split: ``dis_form=cnn`` and
    ``density_ratio_alpha=none``, the paper's D for real text (the ratio's reference and fit read a
    validation split). Nothing is added when the assignments set ``dis_form`` or ``corpus_valid``."""
    given = dict(item.split("=", 1) for item in assignments if "=" in item)
    if cfg.dis_form != "density_ratio" or "dis_form" in given or given.get("data", cfg.data) == "oracle":
        return assignments
    corpus_valid = given.get("corpus_valid", cfg.corpus_valid)
    if str(corpus_valid).strip() not in ("", "0"):  # a split, or a value override() will refuse
        return assignments
    return [*assignments, "dis_form=cnn", "density_ratio_alpha=none"]


def get_preset(name: str) -> ExperimentConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name])
