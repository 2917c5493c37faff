"""Real-data corpora: vocabulary, encoding, splits, bad files; BLEU / Self-BLEU on id rows."""

import numpy as np
import pytest
import torch

from seqgan_gym.data.corpus import (
    EOS,
    UNK,
    Vocabulary,
    load_coco,
    load_quatrains,
    load_text_corpus,
    read_sequences,
    strip_eos,
)
from seqgan_gym.data.shared import CorpusFormatError
from seqgan_gym.evaluation.metrics import bleu, self_bleu


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_vocabulary_order_encode_decode_and_round_trip(tmp_path):
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.tokens == ["<eos>", "<unk>", "b", "a", "c"]  # by count, then token
    assert vocab.encode(["a", "zzz"]) == [3, UNK]
    assert vocab.decode([2, 3, EOS, 4]) == ["b", "a"]
    assert Vocabulary.build([["a", "a", "b"]], min_count=2).tokens[2:] == ["a"]
    assert len(Vocabulary.build([["a", "b", "c"]], max_size=3)) == 3
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").tokens == vocab.tokens
    _write(tmp_path, "bad.json", '{"tokens": ["x"]}')
    with pytest.raises(CorpusFormatError, match="not a seqgan-gym vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")
    _write(tmp_path, "list.json", "[1, 2]")
    with pytest.raises(CorpusFormatError, match="not a seqgan-gym vocabulary"):
        Vocabulary.load(tmp_path / "list.json")
    with pytest.raises(CorpusFormatError, match="special tokens"):
        Vocabulary.build([["<eos>", "a"]])


def test_encoding_layout_and_given_split(tmp_path):
    train = _write(tmp_path, "train.txt", "a b c\n\nb a\n")
    test = _write(tmp_path, "test.txt", "a d\n")
    corpus = load_text_corpus(train, test)
    assert corpus.seq_len == 4 and corpus.split["how"] == "as given"
    a, b, c = (corpus.vocab.index[t] for t in "abc")
    assert corpus.train.tolist() == [[a, b, c, EOS], [b, a, EOS, EOS]]
    assert corpus.test.tolist() == [[a, UNK, EOS, EOS]]  # d never seen in training
    assert corpus.train_lengths.tolist() == [3, 2] and corpus.references("test") == [[a, UNK]]
    with pytest.raises(ValueError, match="longer than seq_len - 1"):
        load_text_corpus(train, test, seq_len=3)


def test_seeded_split_is_recorded_and_repeatable(tmp_path):
    # line numbers are the file's, blank lines included
    path = _write(tmp_path, "all.txt", "\ufeff" + "\n\n".join(f"w{i} x" for i in range(50)))
    one = load_text_corpus(path, test_fraction=0.2, split_seed=3)
    two = load_text_corpus(path, test_fraction=0.2, split_seed=3)
    other = load_text_corpus(path, test_fraction=0.2, split_seed=4)
    assert one.split["n_test"] == 10 and one.split["n_train"] == 40
    assert one.split["test_line_numbers"] == two.split["test_line_numbers"]
    assert one.split["test_line_numbers"] != other.split["test_line_numbers"]
    held_out = {f"w{(n - 1) // 2}" for n in one.split["test_line_numbers"]}
    assert all(n % 2 == 1 for n in one.split["test_line_numbers"])
    assert not held_out & set(one.vocab.tokens)  # the vocabulary comes from the training lines only
    assert "w0" in one.vocab.index or "w0" in held_out  # the byte-order mark is not part of a token
    with pytest.raises(ValueError, match="none to train on"):
        load_text_corpus(_write(tmp_path, "two.txt", "a\nb\n"), test_fraction=0.9)


def test_bad_corpus_files_are_refused_with_the_line(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("ok line\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match="line 2: not UTF-8"):
        read_sequences(tmp_path / "latin1.txt")
    (tmp_path / "binary.txt").write_bytes(b"fine\nab\x00cd\n")
    with pytest.raises(CorpusFormatError, match="line 2: control character"):
        read_sequences(tmp_path / "binary.txt")
    with pytest.raises(CorpusFormatError, match="holds no sequence"):
        read_sequences(_write(tmp_path, "empty.txt", "\n\n"))
    with pytest.raises(FileNotFoundError, match="cannot read corpus"):
        read_sequences(tmp_path / "missing.txt")
    (tmp_path / "ff.txt").write_bytes(b"a b\x0cc\n")  # a form feed is refused, not a line break
    with pytest.raises(CorpusFormatError, match="line 1: control character"):
        read_sequences(tmp_path / "ff.txt")
    with pytest.raises(CorpusFormatError, match="test split itself"):
        load_text_corpus(_write(tmp_path, "tr.txt", "a b\n"), _write(tmp_path, "te.txt", "a <unk>\n"))


@pytest.mark.shared
def test_bundled_corpora_load():
    from seqgan_gym.data.shared import find_shared_data

    if find_shared_data("shared/data/chinese_poems/shi.txt") is None:
        pytest.skip("the project's shared/data folder is not above this checkout")
    poems = load_quatrains()
    assert poems.split["n_train"] + poems.split["n_test"] == 16_394 and poems.seq_len == 25
    assert (poems.train_lengths == 24).all() and (poems.train[:, 24] == EOS).all()
    assert len(poems.vocab) <= 4_771 + 2
    coco = load_coco()
    assert coco.train.shape[0] == 10_000 and coco.test.shape[0] == 10_000
    assert coco.vocab.decode(coco.train[0].tolist())[-1] == "."


def test_bleu_and_self_bleu_read_rows_up_to_eos():
    refs = torch.tensor([[3, 4, 5, 6, EOS, EOS], [3, 4, 7, 8, 9, EOS]])
    same = bleu(refs, refs, max_n=2)
    assert same["bleu"] == pytest.approx(1.0) and same["n_references"] == 2 and same["n_samples"] == 2
    # a row is read up to its first EOS, whatever follows
    padded, bare = bleu([[3, 4, 5, EOS, 9, 9]], refs, 2), bleu([[3, 4, 5]], refs, 2)
    assert padded["bleu"] == pytest.approx(bare["bleu"])
    assert strip_eos([5, 6]) == [5, 6]
    diverse = self_bleu([[3, 4, 5, 6], [7, 8, 9, 10], [11, 12, 13, 14]], max_n=2)["self_bleu"]
    collapsed = self_bleu([[3, 4, 5, 6]] * 3, max_n=2)["self_bleu"]
    assert diverse == 0.0 and collapsed == pytest.approx(1.0)
    assert np.isfinite(bleu(np.array([[1, 2, EOS]]), refs)["bleu"])
