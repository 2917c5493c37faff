"""Folk melodies as token sequences: Nottingham tunes (ABC notation) -> piano-key pitches on a time grid.

The paper's music experiment turns each tune into a melody of piano-key tokens, the pitch sampled
every 0.4 s, in sequences of 32 tokens. This module does that for the Nottingham database's ABC
files (``shared/data/nottingham_abc``, GPL-3.0: read from where the user keeps them, never copied
into this project). ABC is parsed by music21 (an optional extra: ``pip install seqgan-gym[music]``),
not by hand.

Tokens (a vocabulary of 89):

* ``1 .. 88``: the piano key sounding at the grid point, ``MIDI pitch - 20`` (A0 = MIDI 21 -> 1,
  middle C = MIDI 60 -> 40, C8 = MIDI 108 -> 88);
* ``0``: silence (a rest, or the tune has not started). The paper does not say how it handled
  rests; a token for them is the choice that loses nothing.

What is read, and the choices the paper leaves open (each a parameter):

* the melody only: ABC chord symbols ("Am", "D7") are accompaniment annotations and are dropped;
  where two notes sound at once (a written chord, or a second voice) the highest is the melody;
* time: ABC gives durations in beats, not seconds, and only 3 of the 1,034 tunes state a tempo.
  We use one fixed tempo for every tune, ``quarter_bpm = 120`` quarter notes a minute (music21's
  and MIDI's default), so a 0.4 s step is 0.8 quarter notes; stated tempos are ignored too, so
  every tune is on the same scale;
* grid point k (time ``k * step_seconds``) takes the pitch sounding at that instant (a note that
  starts exactly there counts, one that ends there does not); zero-length grace notes never sound;
* the tune as written: repeats are not expanded;
* a tune of L grid points gives ``L // seq_len`` consecutive, non-overlapping sequences; the
  remainder is dropped (tunes shorter than ``seq_len`` points give none);
* the train / test split is by tune (seeded, recorded), so two halves of one tune never end up on
  both sides.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from seqgan_gym.data.shared import CorpusFormatError, find_shared_data, seeded_holdout

REST = 0
N_KEYS = 88
VOCAB_SIZE = N_KEYS + 1  # 0 = rest, 1..88 = piano keys
LOWEST_MIDI = 21  # A0, piano key 1


def midi_to_key(midi: int) -> int:
    """Piano key number 1..88 of a MIDI pitch; pitches off the keyboard are an error."""
    key = int(midi) - LOWEST_MIDI + 1
    if not 1 <= key <= N_KEYS:
        raise ValueError(f"MIDI pitch {midi} is outside the piano's 88 keys (MIDI 21..108)")
    return key


_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def key_name(key: int) -> str:
    """Piano key 1..88 -> scientific pitch name (1 -> "A0", 40 -> "C4"); 0 (rest) -> "-"."""
    if key == REST:
        return "-"
    if not 1 <= key <= N_KEYS:
        raise ValueError(f"piano key {key} is outside 1..{N_KEYS}")
    midi = key + LOWEST_MIDI - 1
    return f"{_NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def _music21():
    try:
        import music21
    except ImportError as e:  # an optional extra
        raise ImportError("reading ABC needs music21: pip install 'seqgan-gym[music]'") from e
    return music21


def melody_events(score) -> list[tuple[float, float, int]]:
    """(start, end, piano key) of each sounding note of a music21 stream, in quarter notes.

    Chord symbols are skipped; a written chord contributes its highest pitch; zero-length (grace)
    notes are skipped.
    """
    m21 = _music21()
    events = []
    for el in score.flatten().notes:
        if isinstance(el, m21.harmony.ChordSymbol):
            continue
        length = float(el.quarterLength)
        if length <= 0:
            continue
        if isinstance(el, m21.chord.Chord):
            midi = max(p.midi for p in el.pitches)
        else:
            midi = el.pitch.midi
        start = float(el.offset)
        events.append((start, start + length, midi_to_key(midi)))
    return events


def pitch_grid(events: list[tuple[float, float, int]], step_quarters: float,
               end: float | None = None) -> np.ndarray:
    """(L,) int64 tokens: at grid point k (time ``k * step_quarters``) the highest key sounding, or
    ``REST``. L covers the tune up to ``end`` (default: its last note's end; pass the score's length
    to keep closing rests)."""
    if step_quarters <= 0:
        raise ValueError(f"step_quarters must be > 0, got {step_quarters}")
    if not events and not end:
        return np.zeros(0, dtype=np.int64)
    end = max([e for _, e, _ in events] + [end or 0.0])
    eps = 1e-9  # float rounding: a point on a note's end (or the tune's) belongs to what follows
    n = int(np.ceil(end / step_quarters - eps))  # the points k * step < end
    times = np.arange(n) * step_quarters  # (L,)
    grid = np.full(n, REST, dtype=np.int64)
    for start, stop, key in events:
        sounding = (times >= start - eps) & (times < stop - eps)
        grid[sounding] = np.maximum(grid[sounding], key)
    return grid


def abc_tunes(path: str | Path) -> list[tuple[str, object]]:
    """Parse an ABC file of one or more tunes: [(tune id 'file.abc#X', music21 Score)]."""
    m21 = _music21()
    path = Path(path)
    try:
        parsed = m21.converter.parse(str(path), format="abc")
    except Exception as e:  # music21 raises many types for bad input
        raise CorpusFormatError(f"{path}: music21 could not read it as ABC: {e}") from e
    scores = list(parsed.scores) if isinstance(parsed, m21.stream.Opus) else [parsed]
    out, seen = [], set()
    for i, score in enumerate(scores):
        number = score.metadata.number if score.metadata is not None else None
        tune_id = f"{path.name}#{number if number is not None else i + 1}"
        if tune_id in seen:  # a repeated X: number: keep both, told apart by position
            tune_id = f"{tune_id}@{i + 1}"
        seen.add(tune_id)
        out.append((tune_id, score))
    return out


@dataclass
class MelodyCorpus:
    """Melody sequences: ``train`` (N, seq_len) and ``test`` (M, seq_len) int64 tokens in [0, 88],
    with the tunes each split holds and how the split was made."""

    train: torch.Tensor
    test: torch.Tensor
    split: dict = field(default_factory=dict)
    name = "nottingham"
    eos_token = None
    """Every melody is exactly ``seq_len`` points long; token 0 is a rest, not an end."""

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    def references(self, which: str = "test") -> list[list[int]]:
        """The split's sequences as id lists (BLEU references)."""
        return (self.test if which == "test" else self.train).tolist()

    def decode(self, ids) -> str:
        """A melody as pitch names, ``-`` for a rest: ``"E4 E4 G4 - A4 ..."``."""
        return " ".join(key_name(int(k)) for k in ids)

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])


def tune_grids(folder: str | Path, step_seconds: float = 0.4, quarter_bpm: float = 120.0,
               cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every tune of every ``*.abc`` file under ``folder`` as a pitch grid, by tune id.

    Parsing all 1,034 Nottingham tunes is slow; with ``cache_dir`` the grids are kept in an
    ``.npz`` named after the files' contents and the grid settings, and read back from there.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.abc"))
    if not files:
        raise FileNotFoundError(f"no .abc files in {folder}")
    step_quarters = step_seconds * quarter_bpm / 60.0
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    digest.update(f"{step_seconds}|{quarter_bpm}".encode())
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"melody_grids_{digest.hexdigest()[:16]}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as z:
                ids, lengths, tokens = list(z["ids"]), z["lengths"], z["tokens"]
            bounds = np.concatenate([[0], np.cumsum(lengths)])
            return {str(t): tokens[a:b] for t, a, b in zip(ids, bounds[:-1], bounds[1:], strict=True)}
    grids = {}
    for f in files:
        for tune_id, score in abc_tunes(f):
            try:
                grids[tune_id] = pitch_grid(melody_events(score), step_quarters,
                                            end=float(score.flatten().highestTime))
            except ValueError as e:
                raise CorpusFormatError(f"tune {tune_id} in {folder}: {e}") from e
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz")
        os.close(fd)
        np.savez(tmp, ids=np.array(list(grids), dtype=str),
                 lengths=np.array([len(g) for g in grids.values()], dtype=np.int64),
                 tokens=np.concatenate(list(grids.values())) if grids else np.zeros(0, np.int64))
        os.replace(tmp, cache)
    return grids


def load_nottingham(folder: str | Path | None = None, seq_len: int = 32, step_seconds: float = 0.4,
                    quarter_bpm: float = 120.0, test_fraction: float = 0.1, split_seed: int = 0,
                    cache_dir: str | Path | None = None) -> MelodyCorpus:
    """The Nottingham tunes as melody sequences of ``seq_len`` grid points (see the module notes),
    split by tune: a seeded random ``test_fraction`` of the tunes is held out.

    ``folder`` defaults to ``shared/data/nottingham_abc`` found above the current folder.
    """
    if folder is None:
        folder = find_shared_data(Path("shared") / "data" / "nottingham_abc")
        if folder is None:
            raise FileNotFoundError("shared/data/nottingham_abc was not found; pass the folder of the "
                                    "Nottingham .abc files")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if not 0.0 < test_fraction < 1.0:  # checked before the (slow) parsing
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    grids = tune_grids(folder, step_seconds, quarter_bpm, cache_dir)
    ids = sorted(grids)
    test_rows, train_rows = seeded_holdout(len(ids), test_fraction, split_seed, "tunes")
    n_test = len(test_rows)
    test_ids, train_ids = [ids[i] for i in test_rows], [ids[i] for i in train_rows]

    def windows(tune_ids: list[str]) -> torch.Tensor:
        rows = [grids[t][: len(grids[t]) // seq_len * seq_len].reshape(-1, seq_len) for t in tune_ids]
        rows = [r for r in rows if len(r)]
        return torch.from_numpy(np.concatenate(rows)) if rows else torch.zeros(0, seq_len, dtype=torch.long)

    train, test = windows(train_ids), windows(test_ids)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"no tune is {seq_len} grid points long in one of the splits; lower seq_len")
    split = {
        "folder": str(folder), "how": f"by tune, numpy default_rng({split_seed}).permutation of the sorted "
        f"tune ids, first {n_test} held out", "seed": split_seed, "test_fraction": test_fraction,
        "n_tunes": len(ids), "test_tunes": test_ids, "n_train": len(train), "n_test": len(test),
        "seq_len": seq_len, "step_seconds": step_seconds, "quarter_bpm": quarter_bpm,
        "tokens": "0 = rest, 1..88 = piano key (MIDI - 20)",
    }
    return MelodyCorpus(train, test, split)
