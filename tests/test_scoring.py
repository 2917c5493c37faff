"""Scoring text files: the nltk-free word tokeniser against nltk, score_files against nltk's BLEU on
the token strings, the one shared vocabulary, and the errors."""

import json
import random
from pathlib import Path

import pytest
from references import nltk_sentence_scores  # the slow reference: nltk sentence_bleu, method1, per sentence

from seqgan_gym.data.corpus import Vocabulary
from seqgan_gym.data.shared import find_shared_data
from seqgan_gym.evaluation import metrics
from seqgan_gym.evaluation.scoring import TOKENIZERS, format_table, nltk_word_tokenize, score_files

TRICKY = [
    "",
    "   ",
    "a bicycle replica with a clock as the front wheel.",
    'He said, "It\'s 3,000 dollars: ok?" and left.',
    "\"Quoted at the start,\" she said.",
    "Don't, can't, won't, shouldn't; I'm sure you'll see we're fine, they've gone, he'd know.",
    "DON'T SHOUT. I'M HERE, WE'LL GO, YOU'RE OUT, THEY'VE WON, HE'D SAY, IT'S ME.",
    "cannot gimme gonna gotta lemme more'n wanna d'ye, CANNOT Gonna; 'Tis 'twas.",
    "She wanna go, wanna.",
    "x-gonna -cannot :lemme gotta.",
    "The 'quoted' word and the ``backticked'' one, ```three``` and 'tis.",
    "Prices rose 3.5% to $1,200 (from $1,000) @ 10:30 on the #1 & only day...",
    "Wait... what?! No!! (Really?) [yes] {maybe} <tag> a*b -- c",
    "Unicode “quotes” and ‘single’ ones, «guillemets» and „low“ ones ’tis.",
    "An en–dash, an em—dash, a figure‒dash and a bar―here.",
    "The end.\"",
    "The end.)",
    "The end.' ",
    "He said: 'no.'",
    "e.g. this, i.e. that, U.S. policy in Washington D.C.",
    "The players' scores and James' book.",
    "'s 'll n't 're",
    "rock 'n' roll",
    "a ''quote'' here \"and\" there",
    "tab\tseparated\tline .",
    "café naïve résumé Zürich",
    "Over 1 , 600 a day have reached Greece this month .",
    '" We \' re working through a legacy period ," he says .',
    "' The first time anyone says you need help , I ' m on the defensive .",
]


def _nltk_tokenize():
    nltk_tokenize = pytest.importorskip("nltk.tokenize")
    return nltk_tokenize.NLTKWordTokenizer().tokenize


def test_nltk_tokenizer_equals_nltk_on_tricky_strings():
    tokenize = _nltk_tokenize()
    for line in TRICKY:
        assert nltk_word_tokenize(line) == tokenize(line), line
    # a few spelled out, so a change in nltk itself shows here too
    assert nltk_word_tokenize("I don't know, he said.") == ["I", "do", "n't", "know", ",", "he", "said", "."]
    assert nltk_word_tokenize('"Hi," she said.') == ["``", "Hi", ",", "''", "she", "said", "."]
    assert nltk_word_tokenize("x-gonna") == ["x-", "gon", "na"]
    assert TOKENIZERS["nltk"] is nltk_word_tokenize
    assert TOKENIZERS["space"]("a  b\tc.") == ["a", "b", "c."]


def test_nltk_tokenizer_equals_nltk_on_random_strings():
    """Random strings of quotes, clitics, contractions and punctuation: where rules interact."""
    tokenize = _nltk_tokenize()
    pieces = list("ab xyzAN.,:;'\"`()[]{}<>?!*-$%&@#0123«»“”‘’„\u2012\u2013\u2014\u2015\t_é") + [
        "n't", "N'T", "'s", "'S", "'ll", "'LL", "'re", "'RE", "'ve", "'m", "'d", "'n", "can", "not",
        "gon", "na", "wan", "'t", "is", "was", "...", "--", "''", "``", "d'ye", "more'n", "'tis",
        "'twas", "lemme", "gimme", "gotta", "cannot", "wanna", "  ", "3,000", "10:30", "e.g."]
    rng = random.Random(0)
    for _ in range(3000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        assert nltk_word_tokenize(line) == tokenize(line), repr(line)


@pytest.mark.shared
@pytest.mark.parametrize("relative", ["image_coco/train.txt", "image_coco/test.txt", "emnlp_news/test.txt"])
def test_nltk_tokenizer_equals_nltk_on_every_line_of_the_raw_corpora(relative):
    path = find_shared_data(Path("shared") / "data" / relative)
    if path is None:
        pytest.skip(f"shared/data/{relative} is not here (a clone without shared/)")
    tokenize = _nltk_tokenize()
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) > 9000
    differ = [line for line in lines if nltk_word_tokenize(line) != tokenize(line)]
    assert not differ, f"{len(differ)} lines differ, e.g. {differ[:3]}"


def _write(path: Path, lines) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


HYPS = ["a man rides a horse on the beach", "a man rides a bike down the street .",
        "two dogs play in the snow", "", "a man rides a horse on the beach", "a kitchen with a stove"]
REFS = ["a man riding a horse on a beach .", "two dogs are playing in the snow", "",
        "a woman rides a bike down a street", "a kitchen with a white stove and a sink ."]


def _slow_bleu(hyps, refs, n):
    """nltk on the token strings themselves (no ids, no vocabulary), averaged per hypothesis."""
    scores = nltk_sentence_scores(hyps, refs, n)
    return sum(scores) / len(scores)


def _slow_self_bleu(hyps, n):
    scores = [nltk_sentence_scores([h], hyps[:i] + hyps[i + 1:], n)[0] for i, h in enumerate(hyps)]
    return sum(scores) / len(scores)


@pytest.mark.parametrize("tokenize", ["space", "nltk"])
def test_score_files_equals_nltk_on_the_token_strings(tmp_path, tokenize):
    pytest.importorskip("nltk")
    hyp = _write(tmp_path / "hyp.txt", HYPS + ["He said, \"don't.\""])
    ref = _write(tmp_path / "ref.txt", REFS + ["he said \"don't\" , he did ."])
    result = score_files(hyp, ref, orders=(2, 3, 4, 5), self_bleu=True, tokenize=tokenize)
    split = TOKENIZERS[tokenize]
    hyps = [split(h) for h in HYPS + ["He said, \"don't.\""] if h]
    refs = [split(r) for r in REFS + ["he said \"don't\" , he did ."] if r]
    assert (result["n_hyp"], result["n_ref"]) == (len(hyps), len(refs)) == (6, 5)  # blank lines skipped
    assert result["vocab_size"] == len({t for s in hyps + refs for t in s})
    assert result["tokenize"] == tokenize and result["orders"] == [2, 3, 4, 5]
    assert [row["n"] for row in result["scores"]] == [2, 3, 4, 5]
    for row in result["scores"]:
        assert row["bleu"] == pytest.approx(_slow_bleu(hyps, refs, row["n"]), abs=1e-12)
        assert row["self_bleu"] == pytest.approx(_slow_self_bleu(hyps, row["n"]), abs=1e-12)
    assert 0 < result["scores"][-1]["bleu"] < result["scores"][0]["bleu"] < 1
    assert json.loads(json.dumps(result)) == result  # JSON-able as it is


def test_tokenizers_change_the_score(tmp_path):
    """"beach." is one token for "space" and two for "nltk": only the latter matches "beach"."""
    hyp = _write(tmp_path / "hyp.txt", ["a dog on the beach."])
    ref = _write(tmp_path / "ref.txt", ["a dog on the beach ."])
    space = score_files(hyp, ref, orders=[4], tokenize="space")["scores"][0]["bleu"]
    nltk = score_files(hyp, ref, orders=[4], tokenize="nltk")["scores"][0]["bleu"]
    assert nltk == pytest.approx(1.0) and space < 0.9


def test_one_vocabulary_of_all_files_keeps_unknown_words_apart(tmp_path):
    """With a vocabulary of a training file only, "zebra" and "okapi" (and "giraffe") would all be
    <unk> and match each other; one vocabulary of the scored files keeps them apart."""
    train = [["a", "dog", "eats", "grass"]]
    hyps = [["a", "zebra", "eats", "grass"], ["a", "okapi", "eats", "grass"]]
    refs = [["a", "giraffe", "eats", "grass"]]
    hyp = _write(tmp_path / "hyp.txt", [" ".join(s) for s in hyps])
    ref = _write(tmp_path / "ref.txt", [" ".join(s) for s in refs])
    result = score_files(hyp, ref, orders=(2, 4), self_bleu=True)
    # the wrong way, for contrast: everything unknown to the training file is one <unk> id
    unk_vocab = Vocabulary.build(train)
    unk_hyps, unk_refs = [unk_vocab.encode(s) for s in hyps], [unk_vocab.encode(s) for s in refs]
    for row in result["scores"]:
        n = row["n"]
        assert metrics.bleu(unk_hyps, unk_refs, max_n=n, eos_token=None)["bleu"] == pytest.approx(1.0)
        assert metrics.self_bleu(unk_hyps, max_n=n, eos_token=None)["self_bleu"] == pytest.approx(1.0)
        assert row["bleu"] < 0.8 and row["self_bleu"] < 0.8
        assert row["bleu"] == pytest.approx(_slow_bleu(hyps, refs, n), abs=1e-12)
        assert row["self_bleu"] == pytest.approx(_slow_self_bleu(hyps, n), abs=1e-12)


def test_special_token_strings_in_the_files_are_ordinary_tokens(tmp_path):
    """Text decoded with <unk> (or <eos>) in it is scored, each string matching only itself."""
    hyp = _write(tmp_path / "hyp.txt", ["a <unk> sat <eos> here", "a cat sat"])
    ref = _write(tmp_path / "ref.txt", ["a <unk> sat <eos> here"])
    result = score_files(hyp, ref, orders=[2], self_bleu=True)
    assert result["vocab_size"] == 6
    row = result["scores"][0]
    first = ["a", "<unk>", "sat", "<eos>", "here"]
    assert row["bleu"] == pytest.approx(_slow_bleu([first, ["a", "cat", "sat"]], [first], 2), abs=1e-12)
    assert row["bleu"] > 0.5  # the first hypothesis is the reference: <eos> did not end it early


def test_format_table(tmp_path):
    hyp = _write(tmp_path / "hyp.txt", HYPS)
    ref = _write(tmp_path / "ref.txt", REFS)
    with_self = score_files(hyp, ref, orders=(2, 3), self_bleu=True)
    lines = format_table(with_self).splitlines()
    assert lines[0] == "| n | BLEU | Self-BLEU |" and len(lines) == 4
    row = with_self["scores"][1]
    assert lines[3] == f"| 3 | {row['bleu']:.3f} | {row['self_bleu']:.3f} |"
    assert format_table(score_files(hyp, ref, orders=[2])).splitlines()[2].endswith("| - |")


def test_strings_to_metrics_bleu_say_they_take_token_ids():
    for text in ([["a", "man"], ["a", "dog"]], ["a man", "a dog"], "a man", [[1, 2], "3 4"], [[3, "x"]]):
        with pytest.raises(TypeError, match=r"token ids.*score_files.*seqgan-gym score") as info:
            metrics.bleu(text, [[1, 2, 3]])
        assert "\n" not in str(info.value)
        with pytest.raises(TypeError, match="token ids"):
            metrics.bleu([[1, 2, 3]], text)
        with pytest.raises(TypeError, match="token ids"):
            metrics.self_bleu(text)
    # ids still work, lists and tensors alike
    assert metrics.bleu([[1, 2, 3]], [[1, 2, 3]], max_n=2)["bleu"] == pytest.approx(1.0)


def test_bad_inputs_are_clear_errors(tmp_path):
    hyp = _write(tmp_path / "hyp.txt", HYPS)
    ref = _write(tmp_path / "ref.txt", REFS)
    blank = _write(tmp_path / "blank.txt", ["", "  ", ""])
    one = _write(tmp_path / "one.txt", ["a single line"])
    cases = [
        (dict(hyp_path=tmp_path / "gone.txt", ref_path=ref), "hypothesis file .*gone.txt does not exist"),
        (dict(hyp_path=hyp, ref_path=tmp_path / "nope.txt"), "reference file .*nope.txt does not exist"),
        (dict(hyp_path=hyp, ref_path=tmp_path), "reference file .* does not exist"),  # a folder
        (dict(hyp_path=blank, ref_path=ref), "hypothesis file: .*blank.txt holds no sequence"),
        (dict(hyp_path=hyp, ref_path=blank), "reference file: .*blank.txt holds no sequence"),
        (dict(hyp_path=hyp, ref_path=ref, tokenize="moses"), "unknown tokenizer 'moses'.*nltk.*space"),
        (dict(hyp_path=hyp, ref_path=ref, orders=(2, 0)), "integer >= 1, got 0"),
        (dict(hyp_path=hyp, ref_path=ref, orders=[-1]), "integer >= 1, got -1"),
        (dict(hyp_path=hyp, ref_path=ref, orders=[2.5]), "integer >= 1, got 2.5"),
        (dict(hyp_path=hyp, ref_path=ref, orders=[True]), "integer >= 1, got True"),
        (dict(hyp_path=hyp, ref_path=ref, orders=[]), "no BLEU order"),
        (dict(hyp_path=one, ref_path=ref, self_bleu=True), "at least two hypotheses"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            score_files(**kwargs)
        assert "\n" not in str(info.value)
    # one hypothesis is fine without Self-BLEU; orders may be one int, duplicates are dropped
    assert score_files(one, ref, orders=3)["orders"] == [3]
    assert score_files(hyp, ref, orders=(4, 2, 4))["orders"] == [4, 2]
