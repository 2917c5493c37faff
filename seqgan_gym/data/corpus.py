"""Real-data corpora: a vocabulary with end-of-sequence and unknown tokens, encoded splits.

A corpus file holds one sequence a line, tokens separated by whitespace (or split by a tokenizer
you pass). Encoded, a split is an (N, T) int64 array: each row holds the sequence's token ids,
then ``EOS`` repeated up to T, with T = the longest sequence + 1 unless given.

Special ids (fixed, so checkpoints and arrays mean the same thing everywhere):

* ``EOS = 0`` ``<eos>``: ends every sequence and fills the positions after its end ("once EOS,
  always EOS"), so fixed-length (N, T) tensors hold variable-length sequences. A generator built
  with ``eos_token=EOS`` samples that way, and its NLL, MLE loss and REINFORCE log-probabilities
  count positions up to the first EOS only; the text environment forces EOS after EOS; the
  Monte-Carlo completions end at EOS before they are scored; BLEU reads up to the first EOS. The
  discriminator sees the EOS padding, identical in real and generated sequences, so it carries
  nothing but the length. The generator's start token is this id too (the LSTM's
  ``start_token=0``), the usual "end of the previous sequence" convention;
* ``UNK = 1`` ``<unk>``: tokens the vocabulary does not hold (rare ones cut by ``min_count``, or
  test tokens never seen in training).

Bundled readers (:func:`load_quatrains`, :func:`load_coco`) read the package's own copies
(``seqgan_gym/data/datasets``, MIT, sources and licences in its README) unless given a path; nothing is
downloaded.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqgan_gym.data.music import load_nottingham
from seqgan_gym.data.shared import CorpusFormatError, find_shared_data, seeded_holdout
from seqgan_gym.utils import atomic_write_json

EOS, UNK = 0, 1
SPECIAL_TOKENS = ("<eos>", "<unk>")
MAX_SEQ_LEN = 200
"""Sequences of more tokens than this are left out of a corpus by default (and counted): a stray
line of 100,000 tokens would otherwise make T = 100,001 for every sequence. The bundled corpora's
longest: COCO 37 tokens, the quatrains 24."""


@dataclass
class Vocabulary:
    """Token strings by id; ids 0 and 1 are ``<eos>`` and ``<unk>``."""

    tokens: list[str]

    def __post_init__(self) -> None:
        n = len(SPECIAL_TOKENS)
        if tuple(self.tokens[:n]) != SPECIAL_TOKENS:
            raise CorpusFormatError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {self.tokens[:n]}")
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            dup = [t for t, c in Counter(self.tokens).items() if c > 1][:5]
            raise CorpusFormatError(f"a vocabulary lists tokens more than once, e.g. {dup}")

    @classmethod
    def build(cls, sequences: Sequence[Sequence[str]], min_count: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """The tokens of ``sequences`` seen at least ``min_count`` times, most frequent first
        (ties by token), at most ``max_size`` ids in all (specials included)."""
        counts = Counter(tok for seq in sequences for tok in seq)
        clash = [t for t in SPECIAL_TOKENS if t in counts]
        if clash:
            raise CorpusFormatError(f"the corpus itself contains the special tokens {clash}")
        ordered = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ordered = ordered[: max(0, max_size - len(SPECIAL_TOKENS))]
        return cls([*SPECIAL_TOKENS, *ordered])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token strings -> ids (``UNK`` for unknown ones); no ``EOS`` added."""
        return [self.index.get(t, UNK) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Ids -> token strings, up to (not including) the first ``EOS``."""
        return [self.tokens[i] for i in strip_eos(ids)]

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, {"format": "seqgan_gym.vocabulary", "tokens": self.tokens})

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save` (plain JSON; a foreign file is refused)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CorpusFormatError(f"{path} is not a readable vocabulary file: {e}") from e
        if not isinstance(data, dict):
            data = {}
        tokens = data.get("tokens")
        if data.get("format") != "seqgan_gym.vocabulary" or not isinstance(tokens, list) \
                or not all(isinstance(t, str) for t in tokens):
            raise CorpusFormatError(f"{path} is not a seqgan-gym vocabulary (format seqgan_gym.vocabulary)")
        return cls(data["tokens"])


def strip_eos(ids: Sequence[int], eos_token: int | None = EOS) -> list[int]:
    """The ids before the first ``eos_token`` (all of them if there is none, or if it is None)."""
    ids = [int(i) for i in ids]
    return ids[: ids.index(eos_token)] if eos_token is not None and eos_token in ids else ids


def id_lists(sequences, eos_token: int | None = EOS) -> list[list[int]]:
    """Rows of ids (a (N, T) tensor / array, or lists) -> lists of ids before each row's first
    ``eos_token`` (every id when it is None): how BLEU reads sequences.

    Text (a string, rows that are strings or start with one, tokens ``int`` cannot read) is refused
    with a :class:`TypeError` that points to :func:`seqgan_gym.evaluation.scoring.score_files`."""
    rows = sequences.tolist() if hasattr(sequences, "tolist") else sequences
    if isinstance(rows, (str, bytes)):
        raise TypeError(_TEXT_NOT_IDS.format(repr(rows[:20])))
    out = []
    for r in rows:
        if isinstance(r, (str, bytes)) or (isinstance(r, (list, tuple)) and r and isinstance(r[0], str)):
            raise TypeError(_TEXT_NOT_IDS.format(repr(r[:20] if isinstance(r, str) else r[:5])))
        try:
            out.append(strip_eos(r, eos_token))
        except (TypeError, ValueError) as e:
            raise TypeError(_TEXT_NOT_IDS.format(f"{r!r:.60}: {e}")) from e
    return out


_TEXT_NOT_IDS = ("BLEU takes token ids (rows of ints), got {}; to score text, use "
                 "seqgan_gym.evaluation.scoring.score_files or `seqgan-gym score --hyp FILE --ref FILE`")


def read_sequences(path: str | Path, tokenizer: Callable[[str], list[str]] | None = None) -> list[list[str]]:
    """One sequence a line (blank lines skipped), split by ``tokenizer`` (default: whitespace).

    The text is NFC-normalised first, so a character written composed (``é``) or decomposed
    (``e`` + combining accent) is one token. Raises :class:`CorpusFormatError` naming the file
    and line for text that is not UTF-8 or holds control characters, and for a file with no
    sequence at all.
    """
    return [tokens for _, tokens in _read_numbered(path, tokenizer)]


def _read_numbered(path: str | Path, tokenizer: Callable[[str], list[str]] | None,
                   ) -> list[tuple[int, list[str]]]:
    """:func:`read_sequences` with each sequence's 1-based line number in the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FileNotFoundError(f"cannot read corpus {path}: {e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusFormatError(f"{path}, line {line}: not UTF-8 text ({e.reason})") from e
    split = tokenizer or str.split
    sequences = []
    text = unicodedata.normalize("NFC", text.removeprefix("\ufeff"))  # and a UTF-8 byte-order mark
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only: see the check below
        line = line.removesuffix("\r")
        bad = [c for c in line if unicodedata.category(c) == "Cc" and c != "\t"]
        if bad:
            raise CorpusFormatError(
                f"{path}, line {number}: control character {bad[0]!r}; is this a text corpus?")
        tokens = split(line)
        if tokens:
            sequences.append((number, list(tokens)))
    if not sequences:
        raise CorpusFormatError(f"{path} holds no sequence (one sequence a line expected)")
    return sequences


def encode_split(sequences: Sequence[Sequence[str]], vocab: Vocabulary, seq_len: int,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode sequences as (N, seq_len) int64 rows ``ids + [EOS] * ...`` and their
    lengths (N,) (tokens before ``EOS``). A sequence that does not fit (length + 1 > seq_len) is
    an error naming how many do not."""
    too_long = [len(s) for s in sequences if len(s) + 1 > seq_len]
    if too_long:
        raise ValueError(f"{len(too_long)} sequence(s) are longer than seq_len - 1 = {seq_len - 1} tokens "
                         f"(longest {max(too_long)}); raise seq_len")
    out = np.full((len(sequences), seq_len), EOS, dtype=np.int64)
    lengths = np.zeros(len(sequences), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids = vocab.encode(seq)
        out[row, : len(ids)] = ids
        lengths[row] = len(ids)
    return torch.from_numpy(out), torch.from_numpy(lengths)


@dataclass
class TextCorpus:
    """A real-data corpus, encoded: ``train`` (N, T) and ``test`` (M, T) int64 rows (ids, then EOS),
    their lengths, the vocabulary (built from the training split) and a record of the split."""

    name: str
    vocab: Vocabulary
    train: torch.Tensor
    test: torch.Tensor
    train_lengths: torch.Tensor
    test_lengths: torch.Tensor
    split: dict = field(default_factory=dict)
    valid: torch.Tensor | None = None
    """(K, T) training sequences set aside for choices made during training (``corpus_valid``,
    :func:`seqgan_gym.data.shared.carve_validation`); None when none were."""

    eos_token = EOS
    """Sequences end at their first ``EOS`` (the generator, env, NLL and BLEU all honour it)."""

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def references(self, which: str = "test") -> list[list[int]]:
        """The split's sequences as id lists, without ``EOS`` (BLEU references)."""
        return id_lists(self.test if which == "test" else self.train)

    def decode(self, ids: Sequence[int]) -> str:
        """One sequence of ids as text, up to its first ``EOS``, tokens joined by spaces."""
        return " ".join(self.vocab.decode(ids))


def load_text_corpus(
    train_path: str | Path,
    test_path: str | Path | None = None,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    min_count: int = 1,
    max_vocab: int | None = None,
    seq_len: int | None = None,
    tokenizer: Callable[[str], list[str]] | None = None,
    name: str | None = None,
    max_seq_len: int | None = MAX_SEQ_LEN,
) -> TextCorpus:
    """Read and encode a corpus. With ``test_path`` the split is as given; without, a seeded random
    ``test_fraction`` of the lines is held out (the line numbers are in ``corpus.split``).
    Sequences of more than ``max_seq_len`` tokens (None: no limit) are left out; how many, and
    their line numbers, are in ``corpus.split["too_long"]`` (absent when there are none)."""
    numbered, too_long = _at_most(_read_numbered(train_path, tokenizer), max_seq_len, train_path)
    train_seqs = [tokens for _, tokens in numbered]
    split: dict = {"train_file": str(train_path)}
    if too_long:
        split["too_long"] = {"max_seq_len": max_seq_len, "train_file_lines": too_long}
    if test_path is not None:
        test_numbered, test_too_long = _at_most(_read_numbered(test_path, tokenizer), max_seq_len, test_path)
        test_seqs = [tokens for _, tokens in test_numbered]
        if test_too_long:
            split.setdefault("too_long", {"max_seq_len": max_seq_len})["test_file_lines"] = test_too_long
        split.update(test_file=str(test_path), how="as given")
    else:
        test_rows, train_rows = seeded_holdout(len(train_seqs), test_fraction, split_seed, "sequences")
        n_test = len(test_rows)
        test_seqs = [train_seqs[i] for i in test_rows]
        train_seqs = [train_seqs[i] for i in train_rows]
        split.update(how=f"seeded random split of the non-blank lines, numpy default_rng({split_seed})"
                         f".permutation, first {n_test} held out", seed=split_seed,
                     test_fraction=test_fraction, test_line_numbers=[numbered[i][0] for i in test_rows])
    vocab = Vocabulary.build(train_seqs, min_count=min_count, max_size=max_vocab)
    clash = sorted({t for seq in test_seqs for t in seq} & set(SPECIAL_TOKENS))
    if clash:
        raise CorpusFormatError(f"the test split itself contains the special tokens {clash}")
    longest = max(len(s) for s in train_seqs + test_seqs)
    seq_len = longest + 1 if seq_len is None else seq_len
    train, train_lengths = encode_split(train_seqs, vocab, seq_len)
    test, test_lengths = encode_split(test_seqs, vocab, seq_len)
    split.update(n_train=len(train_seqs), n_test=len(test_seqs), vocab_size=len(vocab), seq_len=seq_len)
    return TextCorpus(name or Path(train_path).stem, vocab, train, test, train_lengths, test_lengths, split)


def _at_most(numbered: list[tuple[int, list[str]]], max_seq_len: int | None, path: str | Path,
             ) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """The numbered sequences of at most ``max_seq_len`` tokens, and the line numbers of the others
    (read from ``path``: none left is an error naming it)."""
    if max_seq_len is None:
        return numbered, []
    kept = [(n, t) for n, t in numbered if len(t) <= max_seq_len]
    if not kept:
        raise CorpusFormatError(f"{path}: every sequence is longer than max_seq_len {max_seq_len} tokens")
    return kept, [n for n, t in numbered if len(t) > max_seq_len]


def too_long_note(split: dict) -> str | None:
    """One line saying how many lines a corpus left out for exceeding ``max_seq_len`` (None: none)."""
    too_long = split.get("too_long")
    if not too_long:
        return None
    lines = too_long.get("train_file_lines", []) + too_long.get("test_file_lines", [])
    first = too_long.get("train_file_lines", too_long.get("test_file_lines"))[:5]
    return (f"{len(lines)} line(s) longer than max_seq_len {too_long['max_seq_len']} tokens left out "
            f"(line(s) {', '.join(map(str, first))}{', ...' if len(lines) > 5 else ''}; listed in "
            "corpus_split.json; --set max_seq_len=N changes the limit)")


CORPORA = ("quatrains", "coco", "nottingham")
"""The bundled corpora :func:`load_corpus` knows by name (any other value is a path)."""


def load_corpus(name_or_path: str | Path, path: str | Path | None = None, split_seed: int = 0,
                max_seq_len: int | None = MAX_SEQ_LEN):
    """A corpus by name or path: :class:`TextCorpus` or :class:`~seqgan_gym.data.music.MelodyCorpus`.

    * ``"quatrains"``, ``"coco"``: the bundled text sets (:func:`load_quatrains`, :func:`load_coco`),
      read from ``path`` if given, else from ``shared/data``;
    * ``"nottingham"``: the Nottingham tunes as melodies (:func:`seqgan_gym.data.music.load_nottingham`,
      needs music21), from the folder ``path`` (else ``shared/data/nottingham_abc``); the parsed
      tunes are cached under ``$SEQGAN_GYM_CACHE`` (default ``~/.cache/seqgan_gym``);
    * anything else: a text file, one sequence a line, tokens separated by spaces, with a seeded
      10% held out (``split_seed``); or a folder holding ``train.txt`` and ``test.txt`` (split as
      given).

    Text sequences of more than ``max_seq_len`` tokens are left out (:func:`load_text_corpus`).
    """
    name = str(name_or_path)
    if name == "quatrains":
        return load_quatrains(path, split_seed=split_seed, max_seq_len=max_seq_len)
    if name == "coco":
        return load_coco(path, max_seq_len=max_seq_len)
    if name == "nottingham":
        cache = os.environ.get("SEQGAN_GYM_CACHE", str(Path.home() / ".cache" / "seqgan_gym"))
        return load_nottingham(path, split_seed=split_seed, cache_dir=cache)
    if path is not None:
        raise ValueError(f"corpus {name!r} is a path itself; 'path' is only for the bundled names {CORPORA}")
    target = Path(name)
    if target.is_dir():
        if not (target / "train.txt").is_file() or not (target / "test.txt").is_file():
            raise FileNotFoundError(f"corpus folder {target} must hold train.txt and test.txt")
        return load_text_corpus(target / "train.txt", target / "test.txt", name=target.name,
                                max_seq_len=max_seq_len)
    if not target.is_file():
        raise FileNotFoundError(f"corpus {name!r} is neither a bundled corpus {CORPORA} nor a file or folder")
    return load_text_corpus(target, split_seed=split_seed, max_seq_len=max_seq_len)


BUNDLED = Path(__file__).resolve().parent / "datasets"
"""The corpora copied into the package (MIT; sources and licences in ``datasets/README.md``)."""


def _bundled(relative: str, path: str | Path | None) -> Path:
    """``path`` if given, else the package's copy of ``relative``, else ``shared/data/relative``."""
    if path is not None:
        return Path(path)
    if (BUNDLED / relative).exists():
        return BUNDLED / relative
    found = find_shared_data(Path("shared") / "data" / relative)
    if found is None:
        raise FileNotFoundError(f"{relative} is neither in the package nor in shared/data above the "
                                "current folder; pass its path")
    return found


def load_quatrains(path: str | Path | None = None, split_seed: int = 0, test_fraction: float = 0.1,
                   max_seq_len: int | None = MAX_SEQ_LEN) -> TextCorpus:
    """Chinese five-character quatrains (16,394 poems of 24 tokens; Texygen's ``shi.txt``, MIT):
    a seeded split (default 10% held out, recorded in ``corpus.split``)."""
    return load_text_corpus(_bundled("chinese_poems/shi.txt", path), test_fraction=test_fraction,
                            split_seed=split_seed, name="quatrains", max_seq_len=max_seq_len)


def load_coco(folder: str | Path | None = None, max_seq_len: int | None = MAX_SEQ_LEN) -> TextCorpus:
    """COCO image captions, tokenised (10,000 train + 10,000 test as given; TextBox's copy of the
    "Language GANs Falling Short" data, MIT)."""
    root = _bundled("image_coco_tokenized", folder)
    return load_text_corpus(root / "train.txt", root / "test.txt", name="coco", max_seq_len=max_seq_len)
