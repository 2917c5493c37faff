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

    gymnasium.make("SeqGAN-Text-v0", corpus="path/to/corpus.txt", reward_model="bleu",
                   rollout_policy=beta)          # any corpus file or name
    gymnasium.make("SeqGAN-Quatrains-v0", reward_model=DiscriminatorReward(D), rollout_policy=beta)
    gymnasium.make("SeqGAN-COCO-v0", reward_model="untrained")   # smoke test only
    gymnasium.make("SeqGAN-Nottingham-v0", corpus_path="nottingham_abc/", ...)  # needs music21
    gymnasium.make_vec("SeqGAN-COCO-v0", num_envs=64, reward_model="bleu", rollout_policy=beta)

Arguments are ``SeqGANEnv``'s keywords (``reward_model`` is required; rollout mode needs a
``rollout_policy`` whose generator has the corpus's ``eos_token``) except those the corpus sets
(``vocab_size``, ``seq_len``, ``eos_token``, ``references``) and the oracle (a corpus has none),
plus:

- ``corpus`` (str, path, ``TextCorpus`` or ``MelodyCorpus``; ``"quatrains"``): a bundled name
  (``"quatrains"``, ``"coco"``, ``"nottingham"``), a text file (one sequence a line, tokens
  separated by spaces; a seeded 10% is held out), a folder with ``train.txt`` and ``test.txt``, or
  a corpus already loaded (:func:`seqgan_gym.data.corpus.load_corpus`).
- ``corpus_path`` (path or None): where a bundled corpus's files are, if not in the default place.
- ``reward_model``: as ``SeqGANEnv``'s; ``"bleu"`` is PG-BLEU-4 against the training split.

The arguments are checked before the corpus loads, so a plain ``gymnasium.make("SeqGAN-COCO-v0")``
fails at once with the one-line ``TypeError`` saying what to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gymnasium.vector import AutoresetMode

from seqgan_gym.data.corpus import load_corpus

from .core import EnvOptions
from .seqgan_env import SeqGANEnv
from .vector_env import SeqGANVectorEnv

#: The arguments the corpus sets; a text env refuses them.
SET_BY_CORPUS = ("vocab_size", "seq_len", "eos_token", "references")


def corpus_options(corpus, corpus_path: str | Path | None, options: dict[str, Any]) -> tuple[Any, dict]:
    """Check ``options`` (before the corpus loads), load ``corpus`` if needed; return it and the
    options with what the corpus sets: V, T, the end token and (for ``"bleu"``) the references."""
    given = [name for name in SET_BY_CORPUS if name in options]
    if given:
        raise TypeError(f"a text env takes {', '.join(given)} from its corpus; drop {given[0]}=")
    reward = options.get("reward_model")
    if "oracle" in options or (isinstance(reward, str) and reward == "oracle"):
        raise ValueError("a real corpus has no oracle: reward_model='oracle' and oracle= are "
                         "SeqGAN-Oracle-v0's (use 'bleu', DiscriminatorReward(D) or another RewardModel)")
    bleu = isinstance(reward, str) and reward == "bleu"
    EnvOptions(**options, references=() if bleu else None)  # every other argument, checked now
    if isinstance(corpus, (str, Path)):
        corpus = load_corpus(corpus, corpus_path)
    elif corpus_path is not None:
        raise ValueError("corpus_path is for a corpus given by name; this one is already loaded")
    return corpus, {**options, "vocab_size": corpus.vocab_size, "seq_len": corpus.seq_len,
                    "eos_token": corpus.eos_token, "references": corpus.train if bleu else None}


class SeqGANTextEnv(SeqGANEnv):
    """One sequence of a real corpus per episode; see the module docstring and ``SeqGANEnv``."""

    def __init__(self, corpus="quatrains", corpus_path: str | Path | None = None, *,
                 render_mode: str | None = None, **options: Any) -> None:
        self.corpus, options = corpus_options(corpus, corpus_path, options)
        super().__init__(render_mode=render_mode, **options)

    def render(self) -> str | None:
        """The sequence written so far, decoded (``_`` for positions not yet written)."""
        if super().render() is None:
            return None
        return _decode_prefix(self.corpus, self.core.tokens[0].tolist())


class SeqGANTextVectorEnv(SeqGANVectorEnv):
    """B sequences of a real corpus stepped as one batch; see ``SeqGANVectorEnv``."""

    def __init__(self, num_envs: int = 64, corpus="quatrains", corpus_path: str | Path | None = None,
                 *, render_mode: str | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP, **options: Any) -> None:
        self.corpus, options = corpus_options(corpus, corpus_path, options)
        super().__init__(num_envs, render_mode=render_mode, autoreset_mode=autoreset_mode, **options)

    def render(self) -> tuple[str, ...] | None:
        if super().render() is None:
            return None
        return tuple(_decode_prefix(self.corpus, row) for row in self.core.tokens.tolist())


def _decode_prefix(corpus, ids: list[int]) -> str:
    """The written tokens decoded (up to EOS for text), then ``_`` for each unwritten position."""
    written = [i for i in ids if i >= 0]
    text = corpus.decode(written)
    return " ".join([text] * bool(text) + ["_"] * (len(ids) - len(written)))
