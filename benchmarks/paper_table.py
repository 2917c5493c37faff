"""The paper's synthetic results, re-run: baseline table with p-values, schedule curves, quality-diversity.

Everything starts from one MLE-pretrained generator on the paper's oracle and runs with the same
seeds (per seed: the generator's initialisation for Random, and every sampling stream):

* **the table** (the paper's Table 2): NLL_oracle of

  - ``random``: the untrained generator (N(0, 0.1) parameters);
  - ``mle``: the MLE start itself (its spread over seeds is evaluation noise only);
  - ``ss``: scheduled sampling (Bengio et al. 2015) continuing from the MLE start, each input token
    replaced by the model's own sample with an inverse-sigmoid rising probability;
  - ``pg_bleu``: REINFORCE with the BLEU-4 reward (against the 10,000 real sequences);
  - ``seqgan``: REINFORCE with the discriminator reward, D retrained each iteration;

  as mean ± std over seeds, Welch's t-test p-value of seqgan against each, NLL_test beside it;
* **the schedule figure**: NLL_oracle against generator updates for the paper's four
  (g-steps, d-steps, k) schedules (100, 1, 10), (30, 1, 30), (1, 1, 10), (1, 5, 3), seed 0;
* **quality-diversity** (Caccia et al. 2020, same oracle): NLL_oracle (quality) against NLL_test
  (diversity) over sampling temperatures, one curve per model, and each curve's NLL_test where
  NLL_oracle = 9.0 (they report 7.71 for MLE and 10.95 for SeqGAN there).

Budgets (``--budget``; the output states which one ran):

* ``cpu`` (default): the ``cpu`` config preset, 15 generator updates for pg_bleu / seqgan, 5 SS
  epochs, 3 seeds; schedules run about 12 generator updates each, in whole iterations of
  Algorithm 1 (at least one, so (100, 1, 10) runs 100 updates and (30, 1, 30) 30, each with its D
  update), with D retrained on 1,000 real + 1,000 fresh negatives per d-step (instead of 10,000 +
  10,000); the figure's legend counts the D updates. About an hour on a 2-core CPU with ``--reuse``.
* ``paper``: the ``paper`` config preset (200 iterations of 1 G step, 5 x 3 D epochs on 10,000 +
  10,000), 30 SS epochs (the paper does not give its SS schedule), schedules 200 generator updates
  on the full data. Many hours; for an accelerator.

    .venv/bin/python benchmarks/paper_table.py \
        --generator-checkpoint runs/<pretrain>/checkpoints/generator_mle.pt [--reuse DIR]
    .venv/bin/python benchmarks/paper_table.py --quick     # smoke test on a tiny random oracle, ~1 min

``--reuse DIR`` takes the pg_bleu and seqgan runs from a ``compare_rewards.py`` output in DIR when
it ran the same start, budget and seeds (the runs are the same computation); otherwise they run here.
Needs scipy for the p-values (``pip install -e .[bench]``).
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see rollout_speed.py

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from common import CommonStart, common_start, machine_info, run_method, save_figure

from seqgan_gym.algorithm1 import adversarial_training
from seqgan_gym.config import get_preset
from seqgan_gym.evaluation.metrics import nll_oracle, nll_test
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.setup import Setup, build_setup, evaluate, new_generator, with_config
from seqgan_gym.models.discriminator import make_discriminator_optimizer
from seqgan_gym.models.saving import load_language_model, save_language_model
from seqgan_gym.training.updates import scheduled_sampling_epoch
from seqgan_gym.utils import atomic_write_json, atomic_write_text, make_adam

METHODS = ["random", "mle", "ss", "pg_bleu", "seqgan"]
PAPER = {"random": 10.310, "mle": 9.038, "ss": 8.985, "pg_bleu": 8.946, "seqgan": 8.736}
SCHEDULES = [(100, 1, 10), (30, 1, 30), (1, 1, 10), (1, 5, 3)]
CACCIA_AT_9 = {"mle": 7.71, "seqgan": 10.95}  # NLL_test at NLL_oracle ~ 9.0, Caccia et al. 2020
BUDGETS = {
    "cpu": dict(config="cpu", updates=15, ss_epochs=5, schedule_updates=12, schedule_real=1000),
    "paper": dict(config="paper", updates=200, ss_epochs=30, schedule_updates=200, schedule_real=None),
    "quick": dict(config="smoke", updates=4, ss_epochs=2, schedule_updates=3, schedule_real=128),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator-checkpoint", help="the MLE generator every method starts from")
    p.add_argument("--budget", choices=["cpu", "paper"], default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--temperatures", type=float, nargs="+",
                   default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5])
    p.add_argument("--reuse", help="a compare_rewards.py output folder to take pg_bleu / seqgan runs from")
    p.add_argument("--qd-model", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="add a generator checkpoint to the quality-diversity sweep (repeatable), e.g. an "
                        "early-stopped MLE model")
    p.add_argument("--skip-schedules", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/paper_table")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny random oracle, 2 seeds")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    budget_name = "quick" if args.quick else args.budget
    budget = BUDGETS[budget_name]
    out = Path(args.out + ("_quick" if args.quick else ""))
    if (out / "runs").exists() and any((out / "runs").iterdir()):
        sys.exit(f"{out}/runs already holds runs; pass another --out or remove it")
    seeds = args.seeds[:2] if args.quick else args.seeds
    # the paper's SeqGAN: its CNN D at every budget (the cpu preset's own D is the density ratio)
    cfg = dataclasses.replace(get_preset(budget["config"]), adv_iterations=budget["updates"], g_steps=1,
                              eval_every=max(1, budget["updates"] // 10), dis_form="cnn",
                              density_ratio_alpha=None)
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    began = time.time()
    banner = (f"budget '{budget_name}'" + ("" if budget_name == "paper" else
              " (NOT the paper's full schedule)") + f": config preset {cfg.preset}, "
              f"{budget['updates']} generator updates for pg_bleu / seqgan, {budget['ss_epochs']} SS epochs, "
              f"seeds {seeds}")
    print(f"[paper_table] {banner}", flush=True)
    start = common_start(setup, out, args.generator_checkpoint, need_discriminator=True)
    print(f"[paper_table] start ready after {time.time() - began:.0f} s: generator from "
          f"{start.generator_source}", flush=True)

    # ---- the table
    reused = load_reusable(args.reuse, args.generator_checkpoint, cfg, seeds)
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in seeds:
        run_setup = with_config(setup, dataclasses.replace(cfg, seed=seed))
        eval_rng = run_setup.rng("evaluation")
        runs["random"].append({"seed": seed, **evaluate(run_setup, new_generator(run_setup), eval_rng)})
        runs["mle"].append({"seed": seed, **evaluate(run_setup, start.generator, eval_rng)})
        runs["ss"].append(run_scheduled_sampling(run_setup, start, budget["ss_epochs"], out, eval_rng))
        for method, reward in (("pg_bleu", "bleu"), ("seqgan", "discriminator")):
            if reused and method in reused:
                record = next(r for r in reused[method] if r["seed"] == seed)
            else:
                record = run_method(setup, start, out / "runs" / f"{method}-seed{seed}", seed=seed,
                                    algo="reinforce", reward=reward)
            runs[method].append({"seed": seed, "nll_oracle": record["nll_oracle"][-1],
                                 "nll_test": record["nll_test"][-1], "checkpoint": record["checkpoint"],
                                 "curve": record})
        print(f"[paper_table] seed {seed} done at {time.time() - began:.0f} s: " + ", ".join(
            f"{m} {runs[m][-1]['nll_oracle']:.3f}" for m in METHODS), flush=True)
    table = summarise(runs)
    table_md = markdown_table(table, banner, reused is not None)
    print(table_md, flush=True)

    # ---- quality-diversity
    models = {"mle": start.generator}
    for method in ("ss", "pg_bleu", "seqgan"):
        models[method] = load_language_model(runs[method][0]["checkpoint"], device=str(setup.device))
    for item in args.qd_model:
        name, _, path = item.partition("=")
        if not name or not path:
            sys.exit(f"--qd-model expects NAME=CHECKPOINT, got {item!r}")
        models[name] = load_language_model(path, device=str(setup.device))
    sweep = temperature_sweep(setup, models, args.temperatures)
    qd_md = quality_diversity_table(sweep)
    print(qd_md, flush=True)
    plot_quality_diversity(sweep, setup.oracle_floor, out / "quality_diversity.png", banner)

    # ---- schedules
    schedules = []
    if not args.skip_schedules:
        for g_steps, d_steps, k in SCHEDULES:
            curve = run_schedule(setup, start, g_steps, d_steps, k, budget["schedule_updates"],
                                 budget["schedule_real"])
            schedules.append(curve)
            print(f"[paper_table] schedule {(g_steps, d_steps, k)}: NLL_oracle "
                  f"{curve['nll_oracle'][0]:.3f} -> {curve['nll_oracle'][-1]:.3f} ({curve['wall_s']:.0f} s)",
                  flush=True)
        plot_schedules(schedules, setup.oracle_floor, out / "schedules.png", budget)

    result = {
        "command": " ".join(sys.argv), "budget": budget_name, "budget_settings": budget, "banner": banner,
        "generator_start": start.generator_source, "seeds": seeds, "oracle_floor": setup.oracle_floor,
        "config": cfg.to_dict(), "paper": PAPER, "reused_from": args.reuse if reused else None,
        "table": table, "runs": runs, "quality_diversity": sweep, "schedules": schedules,
        "machine": machine_info(args.threads), "total_wall_s": round(time.time() - began, 1),
    }
    atomic_write_json(out / "paper_table.json", result)
    atomic_write_text(out / "paper_table.md", table_md + "\n\n" + qd_md + "\n")
    print(f"[paper_table] wrote {out}/paper_table.{{md,json}}, quality_diversity.png"
          f"{'' if args.skip_schedules else ', schedules.png'} in {time.time() - began:.0f} s")
    return 0


# ---------------------------------------------------------------------- the methods
def run_scheduled_sampling(setup: Setup, start: CommonStart, epochs: int, out: Path,
                           eval_rng: torch.Generator) -> dict:
    """SS from the MLE start: ``epochs`` epochs, the inverse-sigmoid ``decay`` such that the sampling
    probability reaches 1/2 three quarters of the way through (decay ln decay = 0.75 x mini-batch
    steps)."""
    cfg = setup.cfg
    model = copy.deepcopy(start.generator)
    steps_per_epoch = math.ceil(cfg.n_train / cfg.batch_size)
    decay = _solve_decay(0.75 * epochs * steps_per_epoch)
    optimizer = make_adam(model.parameters(), cfg.gen_lr)
    shuffle_rng = setup.rng("ss_shuffle", device="cpu")
    sampling_rng = setup.rng("ss_sampling")
    train = setup.data.train.to(setup.device)
    step = 0
    for _ in range(epochs):
        _, step = scheduled_sampling_epoch(model, optimizer, train, decay, step, cfg.batch_size,
                                           cfg.grad_clip, shuffle_rng, sampling_rng)
    path = out / "runs" / f"ss-seed{cfg.seed}" / "generator_ss.pt"
    save_language_model(model, path, epochs=epochs, decay=decay)
    return {"seed": cfg.seed, **evaluate(setup, model, eval_rng), "decay": decay, "epochs": epochs,
            "checkpoint": str(path)}


def _solve_decay(target: float) -> float:
    """The decay >= 1 with decay ln decay = target (bisection)."""
    lo, hi = 1.0, max(2.0, target)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid * math.log(mid) < target else (lo, mid)
    return lo


def load_reusable(folder: str | None, generator_checkpoint: str | None, cfg, seeds: list[int],
                  ) -> dict | None:
    """pg_bleu / seqgan runs of a compare_rewards.py output that started from the same generator
    checkpoint with the same config (all but seed, algorithm, reward and evaluation interval)
    and covers these seeds; None (run them here) otherwise."""
    if not folder:
        return None
    path = Path(folder) / "compare_rewards.json"
    data = json.loads(path.read_text())
    ignore = {"seed", "algo", "reward", "eval_every"}
    ours = {k: v for k, v in cfg.to_dict().items() if k not in ignore}
    theirs = {k: v for k, v in data["config"].items() if k not in ignore}
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    their_start = Path(data["generator_start"])
    reasons = [what for what, ok in (
        ("another generator start (reuse needs a --generator-checkpoint file with the same bytes)",
         generator_checkpoint is not None and their_start.is_file()
         and _sha256(their_start) == _sha256(Path(generator_checkpoint))),
        ("an output from before the shared-optimizer fix (its runs have no checkpoint field)",
         all("checkpoint" in r for r in data["runs"])),
        ("another config: " + ", ".join(differ), not differ),
        ("other seeds", set(seeds) <= set(data["seeds"]))) if not ok]
    if reasons:
        print(f"[paper_table] not reusing {path}: {'; '.join(reasons)}")
        return None
    reused = {}
    for method in ("pg_bleu", "seqgan"):
        rows = [dict(r) for r in data["runs"] if r["method"] == method]
        if rows:
            reused[method] = rows
    print(f"[paper_table] reusing {sorted(reused)} runs from {path}")
    return reused


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_schedule(setup: Setup, start: CommonStart, g_steps: int, d_steps: int, k: int, updates: int,
                 n_real: int | None) -> dict:
    """SeqGAN with schedule (g_steps, d_steps, k), seed 0, for about ``updates`` generator updates:
    whole iterations of Algorithm 1 (at least one, so every schedule updates D; a schedule with
    g_steps > ``updates`` runs g_steps updates). D's d-steps use ``n_real`` real sequences and as
    many fresh negatives (None: all, cfg's count)."""
    iterations = max(1, round(updates / g_steps))
    cfg = dataclasses.replace(setup.cfg, seed=0, g_steps=g_steps, d_steps=d_steps, k=k,
                              adv_iterations=iterations, eval_every=max(1, iterations // 6),
                              dis_negatives=setup.cfg.dis_negatives if n_real is None else n_real)
    s = with_config(setup, cfg)
    if n_real is not None:  # D's real data: the first n_real training sequences
        s = dataclasses.replace(s, data=dataclasses.replace(s.data, train=s.data.train[:n_real]))
    generator = copy.deepcopy(start.generator)
    d = copy.deepcopy(start.discriminator)
    d_opt = make_discriminator_optimizer(d, lr=cfg.dis_lr)
    d_opt.load_state_dict(copy.deepcopy(start.d_optimizer.state_dict()))  # a copy: see common.py
    log = RunLog(Path(tempfile.mkdtemp(prefix="schedule-")), tensorboard=False)
    t0 = time.time()
    adversarial_training(s, generator, log, d, d_opt, progress=False)
    wall = time.time() - t0
    evals = [r for r in log.rows if r.get("nll_test") is not None]
    log.close()
    shutil.rmtree(log.dir, ignore_errors=True)
    return {"schedule": [g_steps, d_steps, k], "d_updates": iterations * d_steps, "n_real": len(s.data.train),
            "n_negatives": cfg.dis_negatives, "wall_s": round(wall, 1),
            "updates": [r["step"] * g_steps for r in evals],
            **{key: [r[key] for r in evals] for key in ("nll_oracle", "nll_test")}}


def temperature_sweep(setup: Setup, models: dict, temperatures: list[float]) -> dict:
    """NLL_oracle and NLL_test of each model at each sampling temperature."""
    sweep = {}
    for name, model in models.items():
        rng = setup.rng("temperature_sweep")
        points = []
        for temperature in temperatures:
            points.append({"temperature": temperature,
                           "nll_oracle": nll_oracle(model, setup.oracle, setup.cfg.eval_samples,
                                                    rng=rng, temperature=temperature),
                           "nll_test": nll_test(model, setup.data.test.to(setup.device),
                                                temperature=temperature)})
        sweep[name] = {"points": points, "nll_test_at_nll_oracle_9": qd_crossing(points)}
    return sweep


def qd_crossing(points: list[dict], level: float = 9.0) -> float | None:
    """NLL_test where a sweep's curve (points of ``nll_oracle`` and ``nll_test``) crosses NLL_oracle =
    ``level``, linear between the points; None when the sweep does not reach it."""
    curve_x = np.array([p["nll_oracle"] for p in points])
    curve_y = np.array([p["nll_test"] for p in points])
    order = np.argsort(curve_x)
    return (float(np.interp(level, curve_x[order], curve_y[order]))
            if curve_x.min() <= level <= curve_x.max() else None)


# ---------------------------------------------------------------------- reporting
def summarise(runs: dict[str, list[dict]]) -> dict:
    try:
        from scipy.stats import ttest_ind
    except ImportError:
        ttest_ind = None
        print("[paper_table] scipy not installed (pip install -e .[bench]): no p-values")
    seqgan = np.array([r["nll_oracle"] for r in runs["seqgan"]])
    table = {}
    for m in METHODS:
        oracle = np.array([r["nll_oracle"] for r in runs[m]])
        test = np.array([r["nll_test"] for r in runs[m]])
        p = None
        if ttest_ind is not None and m != "seqgan" and len(oracle) > 1:
            p = float(ttest_ind(seqgan, oracle, equal_var=False).pvalue)
        table[m] = {"nll_oracle_mean": float(oracle.mean()), "nll_oracle_std": _std(oracle),
                    "nll_test_mean": float(test.mean()), "nll_test_std": _std(test),
                    "p_seqgan_vs_this": p, "paper": PAPER[m], "n_seeds": len(oracle)}
    return table


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if x.size > 1 else 0.0


def markdown_table(table: dict, banner: str, reused: bool) -> str:
    lines = [f"Synthetic table, {banner}; mean ± std over seeds (ddof 1); p: Welch's t-test of "
             "seqgan's final NLL_oracle against the row's. Every seed starts from the same MLE generator "
             "(and D), so the spread is that of the later phase alone, and the mle row's spread is "
             "evaluation noise (10,000 samples) only." + (" pg_bleu / seqgan runs reused from "
                                                          "compare_rewards.py." if reused else ""),
             "", "| method | NLL_oracle (ours) | paper | p (seqgan vs this) | NLL_test (ours) |",
             "| --- | --- | --- | --- | --- |"]
    for m, r in table.items():
        p = "—" if r["p_seqgan_vs_this"] is None else f"{r['p_seqgan_vs_this']:.2g}"
        lines.append(f"| {m} | {r['nll_oracle_mean']:.3f} ± {r['nll_oracle_std']:.3f} | {r['paper']:.3f} | "
                     f"{p} | {r['nll_test_mean']:.3f} ± {r['nll_test_std']:.3f} |")
    return "\n".join(lines)


def quality_diversity_table(sweep: dict) -> str:
    temps = [p["temperature"] for p in next(iter(sweep.values()))["points"]]
    lines = ["Quality-diversity: NLL_oracle / NLL_test at each sampling temperature (the first seed's "
             "models); "
             "last column: NLL_test where NLL_oracle = 9.0 (Caccia et al.: MLE 7.71, SeqGAN 10.95).", "",
             "| model | " + " | ".join(f"T={t:g}" for t in temps) + " | NLL_test at NLL_oracle 9.0 |",
             "| --- |" + " --- |" * (len(temps) + 1)]
    for name, s in sweep.items():
        cells = [f"{p['nll_oracle']:.2f} / {p['nll_test']:.2f}" for p in s["points"]]
        at_9 = s["nll_test_at_nll_oracle_9"]
        at = "outside the sweep" if at_9 is None else f"{at_9:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {at} |")
    return "\n".join(lines)


def plot_quality_diversity(sweep: dict, floor: float, path: Path, banner: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for name, s in sweep.items():
        x = [p["nll_oracle"] for p in s["points"]]
        y = [p["nll_test"] for p in s["points"]]
        ax.plot(x, y, marker="o", ms=3, label=name)
        for p in s["points"]:
            if p["temperature"] in (0.5, 1.0, 1.5):
                ax.annotate(f"T={p['temperature']:g}", (p["nll_oracle"], p["nll_test"]), fontsize=7)
    for name, value in CACCIA_AT_9.items():
        ax.scatter([9.0], [value], marker="x", color="black")
        ax.annotate(f"Caccia et al. {name}", (9.0, value), fontsize=7)
    ax.axvline(floor, color="gray", ls=":", label=f"oracle floor {floor:.2f}")
    ax.set_xlabel("NLL_oracle (quality; lower is better)")
    ax.set_ylabel("NLL_test (diversity / coverage; lower is better)")
    ax.set_title("Temperature sweep", fontsize=10)
    fig.suptitle(textwrap.fill(banner, 110), fontsize=7)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_schedules(schedules: list[dict], floor: float, path: Path, budget: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in schedules:
        g, d, k = s["schedule"]
        ax.plot(s["updates"], s["nll_oracle"], marker="o", ms=3,
                label=f"g-steps {g}, d-steps {d}, k {k} ({s['d_updates']} D updates)")
    # the oracle floor (~5.76) is far below the curves: name it rather than draw it
    ax.set_xlabel("generator updates")
    ax.set_ylabel(f"NLL_oracle (oracle floor {floor:.2f})")
    real = "all" if budget["schedule_real"] is None else budget["schedule_real"]
    ax.set_title(f"Schedules (seed 0; D on {real} real + as many negatives per d-step)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
