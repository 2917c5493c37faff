"""``SeqGAN-Text-v0``: the SeqGAN MDP on a real corpus (the paper's second half).

The same environment as ``SeqGAN-Oracle-v0`` (one token per step, MC-rollout or terminal rewards,
the same core, vector env, agents and callbacks) with the oracle replaced by a corpus:

* the vocabulary, V and T come from the corpus (T = the longest sequence + 1 for text);
* text corpora end each sequence with ``EOS`` (id 0): once a sequence has written EOS every later
  action is replaced by EOS, the Monte-Carlo completions end at their first EOS before they are
  scored, and ``reward_model="bleu"`` reads up to EOS. Melodies (Nottingham) have no end token:
  every one is exactly T grid points;
* ``env.unwrapped.corpus`` holds the encoded train / test splits and ``decode``; ``render()``
  decodes the sequence (``render_mode="ansi"``).

Registered ids (``import seqgan_gym`` registers them)::

    gymnasium.make("SeqGAN-Text-v0", corpus="path/to/corpus.txt")   # any corpus file or name
    gymnasium.make("SeqGAN-Quatrains-v0")    # Chinese quatrains (bundled, seeded 10% test split)
    gymnasium.make("SeqGAN-COCO-v0")         # COCO captions (bundled, 10,000 + 10,000 as given)
    gymnasium.make("SeqGAN-Nottingham-v0", corpus_path="nottingham_abc/")  # needs music21
    gymnasium.make_vec("SeqGAN-COCO-v0", num_envs=64)

Arguments are ``SeqGANEnv``'s except the oracle ones, plus:

- ``corpus`` (str, path, ``TextCorpus`` or ``MelodyCorpus``; ``"quatrains"``): a bundled name
  (``"quatrains"``, ``"coco"``, ``"nottingham"``), a text file (one sequence a line, tokens
  separated by spaces; a seeded 10% is held out), a folder with ``train.txt`` and ``test.txt``, or
  a corpus already loaded (:func:`seqgan_gym.corpus.load_corpus`).
- ``corpus_path`` (path or None): where a bundled corpus's files are, if not in the default place.
- ``reward_model``: as ``SeqGANEnv``'s, and ``"bleu"``: PG-BLEU-4 against the training split.

The default reward is a fresh, **untrained** discriminator: train it (the ``seqgan-gym train
--data ...`` CLI and :class:`~seqgan_gym.agents.DiscriminatorUpdateCallback` do) for real use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from gymnasium.vector import AutoresetMode

from seqgan_gym.corpus import load_corpus
from seqgan_gym.rewards import BleuReward, RewardModel
from seqgan_gym.rollout import RolloutPolicy

from .seqgan_env import SeqGANEnv
from .vector_env import SeqGANVectorEnv


def corpus_env_kwargs(corpus, corpus_path: str | Path | None,
                      reward_model: RewardModel | str | None) -> tuple[Any, dict]:
    """Load ``corpus`` if needed; return it and the core's corpus-specific arguments."""
    if isinstance(corpus, (str, Path)):
        corpus = load_corpus(corpus, corpus_path)
    elif corpus_path is not None:
        raise ValueError("corpus_path is for a corpus given by name; this one is already loaded")
    if reward_model == "bleu":
        reward_model = BleuReward(corpus.train, vocab_size=corpus.vocab_size, eos_token=corpus.eos_token)
    elif reward_model == "oracle":
        raise ValueError("reward_model='oracle' needs an oracle; a real corpus has none "
                         "(use 'discriminator', 'bleu' or a RewardModel)")
    return corpus, {"vocab_size": corpus.vocab_size, "seq_len": corpus.seq_len, "oracle": None,
                    "eos_token": corpus.eos_token, "reward_model": reward_model}


class SeqGANTextEnv(SeqGANEnv):
    """One sequence of a real corpus per episode; see the module docstring and ``SeqGANEnv``."""

    def __init__(
        self,
        corpus="quatrains",
        corpus_path: str | Path | None = None,
        n_rollouts: int = 16,
        reward_mode: str = "rollout",
        reward_model: RewardModel | str | None = None,
        rollout_policy: RolloutPolicy | None = None,
        init_seed: int = 0,
        device: str | torch.device | None = "auto",
        render_mode: str | None = None,
    ) -> None:
        self.corpus, kwargs = corpus_env_kwargs(corpus, corpus_path, reward_model)
        super().__init__(n_rollouts=n_rollouts, reward_mode=reward_mode, rollout_policy=rollout_policy,
                         init_seed=init_seed, device=device, render_mode=render_mode, **kwargs)

    def render(self) -> str | None:
        """The sequence written so far, decoded (``_`` for positions not yet written)."""
        if super().render() is None:
            return None
        return _decode_prefix(self.corpus, self.core.tokens[0].tolist())


class SeqGANTextVectorEnv(SeqGANVectorEnv):
    """B sequences of a real corpus stepped as one batch; see ``SeqGANVectorEnv``."""

    def __init__(
        self,
        num_envs: int = 64,
        corpus="quatrains",
        corpus_path: str | Path | None = None,
        n_rollouts: int = 16,
        reward_mode: str = "rollout",
        reward_model: RewardModel | str | None = None,
        rollout_policy: RolloutPolicy | None = None,
        init_seed: int = 0,
        device: str | torch.device | None = "auto",
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
    ) -> None:
        self.corpus, kwargs = corpus_env_kwargs(corpus, corpus_path, reward_model)
        super().__init__(num_envs=num_envs, n_rollouts=n_rollouts, reward_mode=reward_mode,
                         rollout_policy=rollout_policy, init_seed=init_seed, device=device,
                         render_mode=render_mode, autoreset_mode=autoreset_mode, **kwargs)

    def render(self) -> tuple[str, ...] | None:
        if super().render() is None:
            return None
        return tuple(_decode_prefix(self.corpus, row) for row in self.core.tokens.tolist())


def _decode_prefix(corpus, ids: list[int]) -> str:
    """The written tokens decoded (up to EOS for text), then ``_`` for each unwritten position."""
    written = [i for i in ids if i >= 0]
    text = corpus.decode(written)
    return " ".join([text] * bool(text) + ["_"] * (len(ids) - len(written)))
