"""Melody tokens from ABC: our own small tunes (the Nottingham files are GPL and stay outside)."""

import numpy as np
import pytest

pytest.importorskip("music21")  # the dev extra installs it; a plain install does not

from seqgan_gym.data.music import (  # noqa: E402
    REST,
    load_nottingham,
    midi_to_key,
    pitch_grid,
    tune_grids,
)
from seqgan_gym.data.shared import CorpusFormatError  # noqa: E402

TUNE = "X:1\nT:steps\nM:4/4\nL:1/4\nK:C\nC D E z|\n"


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_piano_keys():
    assert midi_to_key(21) == 1 and midi_to_key(60) == 40 and midi_to_key(108) == 88
    with pytest.raises(ValueError, match="88 keys"):
        midi_to_key(109)


def test_grid_samples_the_sounding_pitch_every_step(tmp_path):
    # quarter = 0.5 s at 120 bpm; 0.4 s steps at t = 0, .4, .8, 1.2, 1.6, 2.0 hit C C D E rest rest
    _write(tmp_path, "a.abc", TUNE)
    grids = tune_grids(tmp_path, step_seconds=0.4, quarter_bpm=120)
    assert list(grids) == ["a.abc#1"]
    np.testing.assert_array_equal(grids["a.abc#1"], [40, 40, 42, 44, REST])  # z: a written rest


def test_grid_by_hand_edges():
    # a note starting exactly on a grid point counts, one ending there does not; highest wins
    events = [(0.0, 1.0, 10), (1.0, 2.0, 20), (1.0, 1.5, 30)]
    np.testing.assert_array_equal(pitch_grid(events, 0.5), [10, 10, 30, 20])
    assert pitch_grid([], 0.5).size == 0
    with pytest.raises(ValueError, match="step_quarters"):
        pitch_grid(events, 0.0)


def test_chord_symbols_are_dropped_and_chords_give_their_top_note(tmp_path):
    _write(tmp_path, "b.abc", 'X:7\nT:chords\nM:2/4\nL:1/4\nK:C\n"Am"[CEG] "D7"c|\n')
    grid = tune_grids(tmp_path, step_seconds=0.5, quarter_bpm=120)["b.abc#7"]
    np.testing.assert_array_equal(grid, [47, 52])  # G4 = 67 -> 47, c = C5 = 72 -> 52


def test_corpus_windows_split_by_tune_and_cache(tmp_path):
    folder = tmp_path / "abc"
    tunes = "".join(f"X:{i}\nT:t{i}\nM:4/4\nL:1/8\nK:G\n" + "GABc dedB " * (2 + i % 3) + "|\n\n"
                    for i in range(1, 11))
    _write(folder, "set.abc", tunes)
    cache = tmp_path / "cache"
    corpus = load_nottingham(folder, seq_len=4, step_seconds=0.25, test_fraction=0.2, split_seed=3,
                             cache_dir=cache)
    assert corpus.train.dtype == corpus.test.dtype
    assert corpus.train.shape[1] == 4 and corpus.seq_len == 4
    assert int(corpus.train.min()) >= 0 and int(corpus.train.max()) <= 88
    assert len(corpus.split["test_tunes"]) == 2 and corpus.split["n_tunes"] == 10
    assert len(list(cache.glob("*.npz"))) == 1
    again = load_nottingham(folder, seq_len=4, step_seconds=0.25, test_fraction=0.2, split_seed=3,
                            cache_dir=cache)  # read from the cache: the same tensors
    assert np.array_equal(again.train.numpy(), corpus.train.numpy())
    other = load_nottingham(folder, seq_len=4, step_seconds=0.25, test_fraction=0.2, split_seed=4,
                            cache_dir=cache)
    assert other.split["test_tunes"] != corpus.split["test_tunes"]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .abc files"):
        tune_grids(tmp_path)
    _write(tmp_path, "high.abc", "X:1\nT:high\nL:1/4\nK:C\nc'''' |\n")  # C9: above the keyboard
    with pytest.raises(CorpusFormatError, match="high.abc#1"):
        tune_grids(tmp_path)
