"""A finished (or stopped) ``seqgan-gym train`` run, loaded back: :func:`load_run`.

Its models and data come back as objects, with the env arguments that match them, so that a
saved run is one line away from an env and an agent::

    run = seqgan_gym.load_run("runs/train-smoke")
    envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=16, **run.env_kwargs,
                        reward_model=DiscriminatorReward(run.discriminator),
                        rollout_policy=RolloutPolicy(run.generator))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqgan_gym.config import ExperimentConfig
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.saving import load_discriminator, load_language_model

#: The generator checkpoints :func:`load_run` can pick, in the order ``"latest"`` tries them.
GENERATORS = {"adversarial": "generator_adv.pt", "mle_best": "generator_mle_best.pt",
              "mle": "generator_mle.pt"}


@dataclass
class SavedRun:
    """What :func:`load_run` returns."""

    run_dir: Path
    config: ExperimentConfig
    """The run's settings, as its ``config.json`` recorded them."""
    generator: LSTMLanguageModel
    """G_theta from the checkpoint :func:`load_run` picked (``generator_file``)."""
    generator_file: Path
    discriminator: torch.nn.Module | None
    """D_phi after the adversarial phase (or after pre-training, if the run stopped before): the
    paper's CNN, or the density ratio over the run's reference MLE generator and ``generator``.
    None for a run without D (``reward`` 'bleu' or 'oracle')."""
    oracle: LSTMLanguageModel | None
    """The true distribution of the synthetic experiment (None on a corpus)."""
    corpus: Any
    """The corpus (``TextCorpus`` / ``MelodyCorpus``; None on the oracle)."""
    real_data: torch.Tensor
    """(N, T) long: the real training sequences (the oracle's samples, or the corpus's train split)."""
    test_data: torch.Tensor
    """(M, T) long: the held-out real sequences of NLL_test."""

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The env arguments that match this run: ``vocab_size``, ``seq_len``, ``eos_token`` and
        ``n_rollouts`` (a corpus's text env sets the first three itself: pass ``corpus=run.corpus``
        to ``SeqGAN-Text-v0`` and only ``n_rollouts``)."""
        return {"vocab_size": self.config.vocab_size, "seq_len": self.config.seq_len,
                "eos_token": self.generator.eos_token, "n_rollouts": self.config.n_rollouts}


def load_run(run_dir: str | Path, generator: str = "latest", device: str = "cpu") -> SavedRun:
    """Load a ``seqgan-gym train`` (or ``pretrain``) run directory.

    The data are rebuilt from the recorded config (the oracle's seeded samples, or the corpus and
    its recorded split), so the paper's oracle or the corpus files must be where the run found
    them. Torch's global random state is left as it was.

    :param run_dir: the run directory (it holds ``config.json`` and ``checkpoints/``).
    :param generator: which G: ``"latest"`` (after the adversarial phase if the run got there,
        else the MLE generator it went on with), ``"adversarial"``, ``"mle_best"`` or ``"mle"``.
    :param device: where the models go.
    :raises FileNotFoundError: no ``config.json`` or no such checkpoint (one line naming it).
    :raises ValueError: a ``config.json`` this version cannot read (one line naming it).
    """
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{run_dir} is not a seqgan-gym run directory (no config.json)")
    try:
        recorded = json.loads(config_file.read_text(encoding="utf-8"))
        cfg = ExperimentConfig(**recorded["config"]).validate()
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{config_file}: not a config this version can read ({e})") from None
    cfg.device = device
    checkpoints = run_dir / "checkpoints"
    if generator == "latest":
        names = ["adversarial", "mle_best" if cfg.mle_select == "best" else "mle", "mle"]
        found = [checkpoints / GENERATORS[name] for name in names
                 if (checkpoints / GENERATORS[name]).is_file()]
        if not found:
            raise FileNotFoundError(f"{checkpoints} holds no generator checkpoint")
        generator_file = found[0]
    elif generator in GENERATORS:
        generator_file = checkpoints / GENERATORS[generator]
        if not generator_file.is_file():
            raise FileNotFoundError(f"{generator_file} does not exist")
    else:
        raise ValueError(f"generator must be 'latest' or one of {tuple(GENERATORS)}, got {generator!r}")
    with torch.random.fork_rng(devices=[]):  # build_setup seeds, and new modules draw from, the global RNG
        return _load(run_dir, cfg, generator_file, device)


def _load(run_dir: Path, cfg: ExperimentConfig, generator_file: Path, device: str) -> SavedRun:
    from seqgan_gym.experiment.setup import build_setup
    from seqgan_gym.models.density_ratio import DensityRatioDiscriminator

    checkpoints = run_dir / "checkpoints"
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    g = load_language_model(generator_file, device=device)
    discriminator = None
    if cfg.reward == "discriminator" and cfg.dis_form == "cnn":
        for name in ("discriminator_adv.pt", "discriminator_pretrained.pt"):
            if (checkpoints / name).is_file():
                discriminator = load_discriminator(checkpoints / name, device=device)
                break
    elif cfg.reward == "discriminator" and (checkpoints / GENERATORS["mle_best"]).is_file():
        reference = load_language_model(checkpoints / GENERATORS["mle_best"], device=device)
        discriminator = DensityRatioDiscriminator(reference, g, alpha=cfg.density_ratio_alpha)
    return SavedRun(run_dir=run_dir, config=cfg, generator=g, generator_file=generator_file,
                    discriminator=discriminator, oracle=setup.oracle, corpus=setup.corpus,
                    real_data=setup.data.train, test_data=setup.data.test)
