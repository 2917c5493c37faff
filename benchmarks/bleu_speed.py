"""How fast is the PG-BLEU reward? Our SentenceBleu against sacrebleu itself, in one run.

PG-BLEU scores every Monte-Carlo completion: a generator update on the paper's setup needs
B x N x (T - 1) + B = 64 x 16 x 19 + 64 = 19,520 BLEU scores against the 10,000 real sequences.
Three ways, on the paper's oracle data (references: the 10,000 training sequences; hypotheses:
held-out oracle sequences, so n-gram overlaps are realistic), all giving the same numbers:

(a) sacrebleu's ``BLEU.sentence_score(hyp, refs)`` per hypothesis (re-reads the 10,000 references
    each time) - timed on ``--plain`` hypotheses;
(b) sacrebleu with the references cached once (``BLEU(references=...)``) and ``corpus_score([hyp])``
    per hypothesis - the fastest use of sacrebleu's own code we found;
(c) ours, :class:`seqgan_gym.evaluation.bleu.SentenceBleu`: reference n-gram maxima once, all hypotheses in
    one vectorised pass.

Prints rewards per second and the largest difference between the three, writes
``benchmarks/results/bleu_speed.json``::

    .venv/bin/python benchmarks/bleu_speed.py [--hyps 1024] [--plain 8] [--threads 1]
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see rollout_speed.py

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import machine_info

from seqgan_gym.data.oracle_data import sample_oracle_data
from seqgan_gym.data.paper_oracle import find_paper_oracle
from seqgan_gym.evaluation.bleu import SentenceBleu, sacrebleu_sentence_scores
from seqgan_gym.models.oracle import load_oracle
from seqgan_gym.utils import atomic_write_json


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hyps", type=int, default=1024, help="hypotheses for (b) and (c)")
    p.add_argument("--plain", type=int, default=8, help="hypotheses for (a), ~0.5 s each")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/bleu_speed.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)  # its effective-order advice, per call

    oracle = load_oracle(find_paper_oracle())
    data = sample_oracle_data(oracle, 10_000, args.hyps, seed=88)
    refs, hyps = data.train.numpy(), data.test.numpy()  # (10000, 20), (hyps, 20)
    settings = dict(max_ngram_order=4, smooth_method="floor", smooth_value=0.1, effective_order=False)

    # (c) ours: build once, then score all hypotheses in one call
    t = time.perf_counter()
    ours = SentenceBleu(refs, **settings)
    build_s = time.perf_counter() - t
    ours_s = []
    for _ in range(args.reps):
        t = time.perf_counter()
        ours_scores = ours.scores(hyps)
        ours_s.append(time.perf_counter() - t)

    # (b) sacrebleu with cached references, one hypothesis at a time
    from sacrebleu.metrics import BLEU

    ref_strings = [" ".join(map(str, r)) for r in refs]
    t = time.perf_counter()
    cached = BLEU(tokenize="none", **settings, references=[[r] for r in ref_strings])
    cached_build_s = time.perf_counter() - t
    t = time.perf_counter()
    cached_scores = np.array([cached.corpus_score([" ".join(map(str, h))], None).score / 100.0
                              for h in hyps])
    cached_s = time.perf_counter() - t

    # (a) plain sacrebleu sentence_score on the first --plain hypotheses
    t = time.perf_counter()
    plain_scores = sacrebleu_sentence_scores(hyps[: args.plain], refs, **settings)
    plain_s = time.perf_counter() - t

    ours_median = statistics.median(ours_s)
    rows = [
        ("(a) sacrebleu sentence_score", args.plain, plain_s, 0.0),
        ("(b) sacrebleu, cached references", len(hyps), cached_s, cached_build_s),
        ("(c) ours, SentenceBleu", len(hyps), ours_median, build_s),
    ]
    diff_cached = float(np.abs(ours_scores - cached_scores).max())
    diff_plain = float(np.abs(ours_scores[: args.plain] - plain_scores).max())
    ours_rate = len(hyps) / ours_median
    print(f"BLEU-4 (floor 0.1) of held-out oracle sequences against the 10,000 training sequences; "
          f"{args.threads} thread(s); mean BLEU {ours_scores.mean():.4f}")
    print("| method | hypotheses | seconds | rewards / s | ours is x faster | one-off setup s |")
    print("| --- | --- | --- | --- | --- | --- |")
    table = []
    for name, n, secs, setup_s in rows:
        rate = n / secs
        table.append({"method": name, "hypotheses": n, "seconds": secs, "rewards_per_s": rate,
                      "speedup_of_ours": ours_rate / rate, "setup_s": setup_s})
        shown = f"{rate:,.0f}" if rate >= 100 else f"{rate:.2f}"
        print(f"| {name} | {n} | {secs:.3f} | {shown} | {ours_rate / rate:,.0f} | {setup_s:.2f} |")
    print(f"max |ours - (b)| = {diff_cached:.2e}, max |ours - (a)| = {diff_plain:.2e}")
    per_update = 64 * 16 * 19 + 64
    print(f"one paper-size PG-BLEU generator update ({per_update} scores): ours "
          f"{per_update / ours_rate:.2f} s, (b) {per_update / table[1]['rewards_per_s']:.0f} s, "
          f"(a) {per_update / table[0]['rewards_per_s'] / 3600:.1f} h")
    if max(diff_cached, diff_plain) > 1e-9:
        print("MISMATCH: the fast path disagrees with sacrebleu", file=sys.stderr)
        return 1
    atomic_write_json(Path(args.out), {
        "command": " ".join(sys.argv), "settings": settings, "references": len(refs),
        "mean_bleu": float(ours_scores.mean()), "rows": table,
        "max_abs_diff": {"vs_cached": diff_cached, "vs_plain": diff_plain},
        "machine": machine_info(args.threads),
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
