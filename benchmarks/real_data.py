#!/usr/bin/env python
"""The paper's real-data experiments: MLE against SeqGAN on a corpus, scored by BLEU and Self-BLEU.

    python benchmarks/real_data.py --corpus quatrains                 # BLEU-2 (paper: .6670 -> .7389)
    python benchmarks/real_data.py --corpus coco                      # BLEU-2..5, Self-BLEU-2..5 (Texygen)
    python benchmarks/real_data.py --corpus nottingham --data-path shared/data/nottingham_abc  # BLEU-4

One run: MLE pre-training of G on the training split (the "MLE" row), D pre-training, then SeqGAN's
adversarial training from that generator (REINFORCE, MC rollouts, D updates; the "SeqGAN" row).
Optional rows: ``--methods ... pg_bleu`` (REINFORCE with the BLEU-4 reward against the training
split, from the same start), ``maskable_ppo`` (sb3-contrib's MaskablePPO with the D reward and the
env's action mask, after EOS only EOS, from the same start and pre-trained D). The "real" row
scores sequences of the training split as if they were samples: the ceiling a model of the data can expect.

Scoring, as the GAN-for-text literature does it (:func:`seqgan_gym.evaluation.metrics.bleu`): every sample
against the **whole** test split (the reference count is printed with every score), sentence BLEU-n
with uniform weights, clipped counts, closest-length brevity penalty, smoothing "method 1" (a zero
match count becomes 0.1), averaged over samples; Self-BLEU-n scores each sample against all the
other samples (higher = less diverse). Text is read up to its first EOS. NLL_test is G's per-token
NLL on the test split (up to and including EOS). Every number comes from ``--samples`` sequences of
each model, drawn with one seed.

Writes ``<out>/real_data_<corpus>.json`` and ``.md`` (the table and decoded samples) and prints both.
The ``cpu`` budget (default) is sized for a 2-core CPU, under an hour; it is NOT the paper's schedule
and the banner says so.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import common_start, machine_info, run_method

from seqgan_gym.config import get_preset
from seqgan_gym.evaluation.metrics import bleu, nll_test, self_bleu
from seqgan_gym.experiment.setup import build_setup, evaluate
from seqgan_gym.models.saving import load_language_model
from seqgan_gym.utils import atomic_write_json, atomic_write_text

# What each corpus is scored with, and the published numbers to compare against.
TABLES = {
    "quatrains": {"orders": [2], "published": {
        "source": "Yu et al. 2017, Table 3 (BLEU-2 against their test poems)",
        "rows": {"mle": {"bleu2": 0.6670}, "seqgan": {"bleu2": 0.7389}, "real": {"bleu2": 0.746}}}},
    "coco": {"orders": [2, 3, 4, 5], "published": {
        "source": "Texygen (Zhu et al. 2018), SeqGAN on COCO captions; real training captions",
        "rows": {"seqgan": {"bleu2": .745, "bleu3": .498, "bleu4": .294, "bleu5": .180,
                            "self_bleu2": .950, "self_bleu3": .840, "self_bleu4": .670, "self_bleu5": .489},
                 "real": {"bleu2": .740, "bleu3": .520, "bleu4": .337, "bleu5": .218}}}},
    "nottingham": {"orders": [4], "published": {
        "source": "Yu et al. 2017, Table 5 (BLEU-4, their MIDI encoding of the Nottingham tunes)",
        "rows": {"mle": {"bleu4": 0.9210}, "seqgan": {"bleu4": 0.9406}}}},
}
# Budgets: starting from the cpu preset; each is (MLE epochs, adversarial iterations, D pre-training
# steps). The paper's: 120 MLE epochs and 200 adversarial iterations of d-steps 5, k 3.
BUDGETS = {
    "cpu": {"quatrains": (20, 15, 8), "coco": (20, 10, 8), "nottingham": (40, 30, 8)},
    "quick": {"quatrains": (1, 1, 1), "coco": (1, 1, 1), "nottingham": (1, 1, 1)},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--combine", nargs="+", metavar="JSON",
                   help="instead of running: combine real_data_<corpus>.json files of one corpus run "
                        "with different --seed into a mean ± std table")
    p.add_argument("--corpus",
                   help=f"one of {sorted(TABLES)} (with published numbers), or any corpus file / folder")
    p.add_argument("--data-path", help="the corpus's files, if not in the default place "
                                       "(required for nottingham unless shared/data is above)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    p.add_argument("--methods", nargs="+", default=["seqgan"],
                   choices=["seqgan", "pg_bleu", "maskable_ppo"],
                   help="adversarial rows besides MLE (all start from the same MLE generator)")
    p.add_argument("--samples", type=int, default=5000, help="samples of each model scored")
    p.add_argument("--show", type=int, default=5, help="decoded samples printed per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/real_data")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable)")
    return p.parse_args()


def short_name(corpus: str) -> str:
    """The name in output paths: a bundled corpus's own, a file's stem."""
    return corpus if corpus in TABLES else Path(corpus).stem


def score(samples: torch.Tensor, references: torch.Tensor, orders: list[int], eos_token) -> dict:
    """BLEU-n against all ``references`` and Self-BLEU-n of ``samples``, for each n in ``orders``."""
    row: dict = {"n_samples": len(samples), "n_references": len(references)}
    for n in orders:
        row[f"bleu{n}"] = bleu(samples, references, n, eos_token)["bleu"]
        row[f"self_bleu{n}"] = self_bleu(samples, n, eos_token)["self_bleu"]
    return row


def main() -> int:
    args = parse_args()
    if args.combine:
        return combine(args.combine, Path(args.out))
    if not args.corpus:
        sys.exit("--corpus is required (or --combine)")
    torch.set_num_threads(args.threads)
    spec = TABLES.get(args.corpus, {"orders": [2, 3, 4], "published": {"source": "none", "rows": {}}})
    budget = BUDGETS[args.budget]
    mle_epochs, iterations, dis_steps = budget.get(args.corpus, budget["quatrains"])
    cfg = dataclasses.replace(  # the paper's CNN D: the cpu preset's density ratio needs oracle data
        get_preset("cpu"), data=args.corpus, data_path=args.data_path, seed=args.seed, dis_form="cnn",
        density_ratio_alpha=None,
        mle_epochs=mle_epochs, adv_iterations=iterations, dis_pretrain_steps=dis_steps,
        eval_every=max(1, iterations // 5), eval_samples=1000, eval_bleu_order=max(spec["orders"]),
    )
    if args.budget == "quick":
        cfg = dataclasses.replace(cfg, num_envs=8, n_rollouts=2, dis_negatives=256, eval_samples=200)
    cfg = cfg.override(args.overrides)
    corpus_name = short_name(args.corpus)
    out = Path(args.out) / f"{corpus_name}_{args.budget}"
    if (out / "runs").exists() and any((out / "runs").iterdir()):
        sys.exit(f"{out}/runs already holds runs; pass another --out or remove it")
    began = time.time()
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    corpus = setup.corpus
    banner = (f"{args.corpus}: V={cfg.vocab_size}, T={cfg.seq_len}, {cfg.n_train} train / {cfg.n_test} "
              f"test sequences; budget '{args.budget}' (NOT the paper's schedule): {cfg.mle_epochs} MLE "
              f"epochs, {cfg.dis_pretrain_steps} D pre-training steps, {cfg.adv_iterations} adversarial "
              f"iterations (d-steps {cfg.d_steps}, k {cfg.k}, {cfg.num_envs} sequences x N={cfg.n_rollouts} "
              f"rollouts); seed {cfg.seed}; {args.samples} samples per model against all {cfg.n_test} "
              f"test sequences")
    print(f"[real_data] {banner}", flush=True)

    need_d = bool({"seqgan", "maskable_ppo"} & set(args.methods))
    start = common_start(setup, out, None, need_discriminator=need_d)
    print(f"[real_data] MLE (and D) pre-training done after {time.time() - began:.0f} s", flush=True)
    models = {"mle": copy.deepcopy(start.generator)}
    runs = {}
    for method in args.methods:
        reward = "bleu" if method == "pg_bleu" else "discriminator"
        algo = "maskable_ppo" if method == "maskable_ppo" else "reinforce"
        t0 = time.time()
        runs[method] = run_method(setup, start, out / "runs" / method, reward=reward, algo=algo)
        models[method] = load_language_model(runs[method]["checkpoint"], device=str(setup.device))
        print(f"[real_data] {method}: {cfg.adv_iterations} iterations in {time.time() - t0:.0f} s",
              flush=True)

    # ---- the table: every model scored the same way, from the same sampling seed
    rows, shown = {}, {}
    test = corpus.test
    for name, model in models.items():
        samples = model.sample(args.samples, rng=setup.rng("bleu_samples")).cpu()
        rows[name] = {**score(samples, test, spec["orders"], corpus.eos_token),
                      "nll_test": nll_test(model, test.to(setup.device))}
        shown[name] = [corpus.decode(s) for s in samples[: args.show].tolist()]
    order = torch.randperm(len(corpus.train), generator=setup.rng("real_subsample", device="cpu"))
    real = corpus.train[order[: args.samples]]
    rows["real"] = {**score(real, test, spec["orders"], corpus.eos_token), "nll_test": None}
    shown["real"] = [corpus.decode(s) for s in real[: args.show].tolist()]

    result = {
        "corpus": args.corpus, "banner": banner, "budget": args.budget, "config": cfg.to_dict(),
        "split": corpus.split,
        "rows": rows, "samples": shown, "published": spec["published"],
        "curves": {m: {k: r[k] for k in ("updates", "nll_test", "bleu", "self_bleu") if k in r}
                   for m, r in runs.items()},
        "mle_start": evaluate(setup, start.generator, setup.rng("evaluation")),
        "wall_s": round(time.time() - began, 1), "machine": machine_info(args.threads),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"real_data_{corpus_name}.json", result)
    text = markdown(result, spec["orders"])
    atomic_write_text(out / f"real_data_{corpus_name}.md", text)
    print(text)
    return 0


def markdown(result: dict, orders: list[int]) -> str:
    """The table (ours, then the published numbers) and the decoded samples."""
    rows, published = result["rows"], result["published"]["rows"]
    metrics = [f"bleu{n}" for n in orders] + [f"self_bleu{n}" for n in orders]
    head = ["model"] + [m.replace("self_bleu", "Self-BLEU-").replace("bleu", "BLEU-") for m in metrics]
    lines = [f"**{result['banner']}**", "",
             "| " + " | ".join(head + ["NLL_test", "published"]) + " |",
             "|" + "---|" * (len(head) + 2)]
    for name, row in rows.items():
        pub = published.get(name, {})
        pub_text = ", ".join(f"{k.replace('self_bleu', 'SB-').replace('bleu', 'B-')} {v:.3f}"
                             for k, v in pub.items()) or "—"
        nll = "—" if row["nll_test"] is None else f"{row['nll_test']:.3f}"
        scores = " | ".join(f"{row[m]:.4f}" for m in metrics)
        lines.append(f"| {name} | {scores} | {nll} | {pub_text} |")
    first = next(iter(rows.values()))
    lines += ["", f"{first['n_samples']} sequences per row, each against all {first['n_references']} "
                  f"test sequences; published: {result['published']['source']}.", "", "Samples:"]
    for name, texts in result["samples"].items():
        lines.append(f"- **{name}**")
        lines += [f"  - {t}" for t in texts]
    lines.append(f"\nWall time {result['wall_s'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def combine(paths: list[str], out: Path) -> int:
    """Mean ± sample std over seeds of every row and metric; writes ``<corpus>_combined.{json,md}``."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    corpus = results[0]["corpus"]
    # fields both configs have (a file from an older version may lack a newer field)
    shared = set.intersection(*(set(r["config"]) for r in results)) - {"seed"}
    for r in results:
        same = (r["corpus"], r["budget"], {k: r["config"][k] for k in shared})
        if same != (corpus, results[0]["budget"], {k: results[0]["config"][k] for k in shared}):
            sys.exit(f"--combine: {r['corpus']} / budget {r['budget']} / config differ from the first file; "
                     "only seeds may differ")
        if set(r["rows"]) != set(results[0]["rows"]):
            sys.exit(f"--combine: rows {sorted(r['rows'])} differ from the first file's "
                     f"{sorted(results[0]['rows'])}; run the same --methods")
    seeds = [r["config"]["seed"] for r in results]
    if len(set(seeds)) != len(seeds):
        sys.exit(f"--combine: seeds repeat: {seeds}")
    metrics = [k for k in results[0]["rows"]["mle"] if k.startswith(("bleu", "self_bleu"))] + ["nll_test"]
    names = list(results[0]["rows"])
    order = ("mle", "seqgan", "maskable_ppo", "pg_bleu", "real")
    names = [n for n in order if n in names] + [n for n in names if n not in order]
    table: dict = {}
    for name in names:
        table[name] = {}
        for m in metrics:
            values = [r["rows"][name][m] for r in results if r["rows"][name].get(m) is not None]
            if values:
                table[name][m] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                                  if len(values) > 1 else None, "values": values}
    first = results[0]["rows"]["mle"]
    head = [m.replace("self_bleu", "Self-BLEU-").replace("bleu", "BLEU-").replace("nll_test", "NLL_test")
            for m in metrics]
    lines = [f"**{corpus}: mean ± std over seeds {seeds} (budget '{results[0]['budget']}'); "
             f"{first['n_samples']} samples per model and seed, each against all {first['n_references']} "
             f"test sequences**", "", "| model | " + " | ".join(head) + " |", "|" + "---|" * (len(head) + 1)]
    for name, row in table.items():
        cells = [("—" if m not in row else f"{row[m]['mean']:.4f}" + (
            f" ± {row[m]['std']:.4f}" if row[m]["std"] is not None else "")) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    name = short_name(corpus)
    target = out / f"{name}_combined"
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target / f"real_data_{name}.json", {"corpus": corpus, "seeds": seeds,
                                                          "files": paths, "table": table})
    atomic_write_text(target / f"real_data_{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
