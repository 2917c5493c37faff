"""BLEU and Self-BLEU of generated text read from files, as the GAN-for-text literature scores it.

:func:`score_files` reads a file of hypotheses (generated sequences) and a file of references (the
real data), one sequence a line, tokenises both, and scores every hypothesis against *all* the
references with :func:`seqgan_gym.evaluation.metrics.bleu` (Texygen's BLEU: nltk's ``sentence_bleu``, uniform
weights, method-1 smoothing, averaged over hypotheses) and, optionally, the hypotheses against each
other with :func:`seqgan_gym.evaluation.metrics.self_bleu`, for several n. ``seqgan-gym score`` prints it.

The tokens are mapped to ids through ONE vocabulary of every file scored, so two tokens share an id
exactly when they are the same string: nothing collapses to an unknown-word id. (With a vocabulary
of the training split only, every word unknown to it becomes ``<unk>``, and two unrelated unknown
words then "match", which inflates BLEU and Self-BLEU; docs/results/real-data.md gives an example.)

Tokenisers (:data:`TOKENIZERS`): ``"space"`` splits on whitespace (for text already tokenised, e.g.
the bundled COCO captions or samples decoded by this package); ``"nltk"`` is NLTK's word tokeniser
(Texygen calls ``nltk.word_tokenize``), reimplemented here so that it needs neither nltk nor its
downloaded ``punkt`` data (see :func:`nltk_word_tokenize`).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from seqgan_gym.data.corpus import SPECIAL_TOKENS, Vocabulary, read_sequences
from seqgan_gym.data.shared import CorpusFormatError
from seqgan_gym.evaluation import metrics

# --------------------------------------------------------------------------- the nltk tokeniser
# Penn Treebank conventions as nltk's NLTKWordTokenizer applies them: (pattern, replacement) pairs
# applied in order, first to the line, then (_AFTER_PADDING) to " " + line + " "; the tokens are
# the result split on whitespace. Where nltk runs several padding rules back to back, one
# alternation does the same here.
_BEFORE_PADDING = [
    # opening double quotes: a leading " becomes ``, and " or '' after a space or an opening
    # bracket too; backticks stand alone in pairs (``), as do the other opening quotes « “ ‘ „
    (r'^"', "``"),
    (r"``|[`«“‘„]", r" \g<0> "),
    (r"(?<=[ (\[{<])(?:\"|'')", " `` "),
    # an opening single quote before a word, unless it starts a clitic ('re 've 'll 'm 't 's 'd 'n)
    (r"(?i)(?<!\w)'(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", "' "),
    # the sentence-final period, also before closing quotes and brackets ("e.g." inside stays)
    (r"([^.])\.([\])}>\"'»”’ ]*)\s*$", r"\1 . \2 "),
    # commas and colons, except before a digit (3,000 10:30)
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    # ellipses, ; @ # $ % &, ? !, figure / en / em dashes and the horizontal bar
    (r"\.{2,}|[;@#$%&?!\u2012-\u2015]", r" \g<0> "),
    # a closing single quote (before a space)
    (r"([^'])' ", r"\1 ' "),
    # *, brackets and a double dash
    (r"--|[*\[\](){}<>]", r" \g<0> "),
]
_AFTER_PADDING = [
    # closing quotes » ” ’ and '' stand alone; a remaining " is a closing one and becomes ''
    (r"[»”’]|''", r" \g<0> "),
    (r'"', " '' "),
    (r"\s+", " "),
    # clitics leave their word: 's 'm 'd and a bare ', then (a second pass, as in nltk, so a word
    # can lose two) 'll 're 've n't
    (r"([^' ])('[sSmMdD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
    # Robert MacIntyre's contractions split in two, padded (the padding splits off what touches
    # the word: "x-gonna" -> "x-" "gon" "na"): can|not d|'ye gim|me gon|na got|ta lem|me more|'n
    # wan|na; then, after a space (the first pass may have put it there), 't|is and (one more pass)
    # 't|was
    (r"(?i)\b(?:(can)(not)|(d)('ye)|(gim)(me)|(gon)(na)|(got)(ta)|(lem)(me)|(more)('n))\b|\b(wan)(na)(?=\s)",
     lambda m: " {} {} ".format(*filter(None, m.groups()))),
    (r"(?i) ('t)(is)\b", r" \1 \2 "),
    (r"(?i) ('t)(was)\b", r" \1 \2 "),
]
_BEFORE = [(re.compile(p), r) for p, r in _BEFORE_PADDING]
_AFTER = [(re.compile(p), r) for p, r in _AFTER_PADDING]


def nltk_word_tokenize(line: str) -> list[str]:
    """NLTK's word tokeniser without nltk or its data: equal to
    ``nltk.tokenize.NLTKWordTokenizer().tokenize(line)`` (nltk 3.10; default
    ``convert_parentheses=False``), which is ``nltk.word_tokenize(line, preserve_line=True)``.

    ``nltk.word_tokenize(line)`` (what Texygen calls) first splits the text into sentences with
    the punkt model, which cannot be downloaded offline, and tokenises each sentence with
    NLTKWordTokenizer; so this equals ``nltk.word_tokenize(line)`` on every line punkt reads as one
    sentence. Where punkt splits a line, the two can differ at the inner sentence boundaries:
    word_tokenize splits off the period ending each inner sentence ("them." -> "them" "."),
    this (like NLTKWordTokenizer) only the line's final period.

    The tests check equality with NLTKWordTokenizer on every line of the raw COCO captions
    (train and test) and the EMNLP news test set, on hand-written tricky strings, and on random
    strings of quotes, clitics, contractions and punctuation. nltk matches with the third-party
    ``regex`` module, this with ``re``: the two can disagree on what a word character (``\\w``,
    ``\\b``) is for a few rare characters (combining marks, superscript digits) standing next to
    an apostrophe or a contraction, and the result can then differ there.
    """
    for pattern, replacement in _BEFORE:
        line = pattern.sub(replacement, line)
    line = f" {line} "
    for pattern, replacement in _AFTER:
        line = pattern.sub(replacement, line)
    return line.split()


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"space": str.split, "nltk": nltk_word_tokenize}
"""Tokenisers by name: ``"space"`` (whitespace, ``str.split``) and ``"nltk"`` (:func:`nltk_word_tokenize`)."""


# --------------------------------------------------------------------------- scoring
def _orders(orders: Iterable[int]) -> list[int]:
    """The BLEU orders n, each an integer >= 1, duplicates dropped, in the order given."""
    if isinstance(orders, numbers.Integral):
        orders = [orders]
    out: list[int] = []
    for n in orders:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"BLEU order n must be an integer >= 1, got {n!r}")
        if int(n) not in out:
            out.append(int(n))
    if not out:
        raise ValueError("no BLEU order n given (e.g. orders=(2, 3, 4, 5))")
    return out


def _read(path: str | Path, what: str, tokenizer: Callable[[str], list[str]]) -> list[list[str]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} file {path} does not exist (or is not a file)")
    try:
        return read_sequences(path, tokenizer)
    except CorpusFormatError as e:  # not UTF-8, control characters, no sequence at all
        raise ValueError(f"{what} file: {e}") from e


def score_files(hyp_path: str | Path, ref_path: str | Path, orders: Iterable[int] = (2, 3, 4, 5),
                self_bleu: bool = False, tokenize: str = "space") -> dict:
    """BLEU-n of the hypotheses in ``hyp_path`` against all the references in ``ref_path`` and,
    with ``self_bleu``, Self-BLEU-n of the hypotheses, for each n in ``orders``.

    Both files are UTF-8, one sequence a line; blank lines are skipped. Lines are split by
    ``TOKENIZERS[tokenize]``; the tokens of both files make one vocabulary (tokens are compared as
    strings; nothing becomes ``<unk>``), and the id rows are scored by
    :func:`seqgan_gym.evaluation.metrics.bleu` and :func:`seqgan_gym.evaluation.metrics.self_bleu`
    (``eos_token=None``:
    every token counts): nltk's ``sentence_bleu`` with uniform weights and method-1 smoothing,
    averaged over hypotheses, as Texygen reports it (without its cut to 500 references).

    :return: a JSON-able dict: ``hyp``, ``ref`` (the paths), ``n_hyp``, ``n_ref`` (sequences
        read), ``tokenize``, ``vocab_size`` (distinct tokens over both files), ``orders`` and
        ``scores``: one ``{"n", "bleu", "self_bleu"}`` per order (``self_bleu`` None unless asked).
    :raises ValueError: a missing or empty file, an unknown tokenizer, an order n < 1, and
        Self-BLEU of fewer than two hypotheses.
    """
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenize!r}; choose one of {sorted(TOKENIZERS)}")
    orders = _orders(orders)
    split = TOKENIZERS[tokenize]
    hyps = _read(hyp_path, "hypothesis", split)
    refs = _read(ref_path, "reference", split)
    if self_bleu and len(hyps) < 2:
        raise ValueError(f"Self-BLEU needs at least two hypotheses; {hyp_path} holds {len(hyps)}")
    # One vocabulary of every token, so ids are equal exactly when the strings are. A file may
    # hold the special strings themselves (text decoded with <unk>): they keep their own ids.
    types = {tok for seq in hyps + refs for tok in seq}
    vocab = Vocabulary([*SPECIAL_TOKENS, *sorted(types.difference(SPECIAL_TOKENS))])
    hyp_ids = [vocab.encode(s) for s in hyps]
    ref_ids = [vocab.encode(s) for s in refs]
    scores = []
    for n in orders:
        row = {"n": n, "bleu": metrics.bleu(hyp_ids, ref_ids, max_n=n, eos_token=None)["bleu"],
               "self_bleu": None}
        if self_bleu:
            row["self_bleu"] = metrics.self_bleu(hyp_ids, max_n=n, eos_token=None)["self_bleu"]
        scores.append(row)
    return {"hyp": str(hyp_path), "ref": str(ref_path), "n_hyp": len(hyps), "n_ref": len(refs),
            "tokenize": tokenize, "vocab_size": len(types), "orders": orders, "scores": scores}


def format_table(result: dict, digits: int = 3) -> str:
    """A markdown table of a :func:`score_files` result: one row per n, columns BLEU and Self-BLEU
    (``-`` where Self-BLEU was not computed)."""

    def cell(value) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = ["| n | BLEU | Self-BLEU |", "|---|------|-----------|"]
    lines += [f"| {row['n']} | {cell(row['bleu'])} | {cell(row['self_bleu'])} |" for row in result["scores"]]
    return "\n".join(lines)
