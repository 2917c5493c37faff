"""Which reward and which RL algorithm help the generator? Side by side, same start, same budget.

From one MLE-pretrained generator (and, for the discriminator rewards, one pre-trained D), each
method runs the same number of generator updates with the same seeds on the paper's oracle:

=================  ==========  ==================================================================
method             algorithm   reward (all shaped by N = 16 Monte-Carlo rollouts per prefix)
=================  ==========  ==================================================================
seqgan             REINFORCE   D(Y), D retrained every iteration (the paper's SeqGAN)
pg_bleu            REINFORCE   BLEU-4 against the 10,000 real training sequences (the paper's PG-BLEU)
ppo_d              PPO (SB3)   D(Y) as seqgan, through the SB3 adapter (Q-difference rewards)
a2c_d              A2C (SB3)   D(Y) as seqgan, through the SB3 adapter
oracle_ceiling     REINFORCE   the oracle's log-likelihood: a diagnostic ceiling, not a GAN; with
                   + baseline  the leave-one-out mean baseline (all its rewards are about -9, and
                               without one the update pushes every sampled token down: NLL_oracle
                               rose from 9.00 to 9.31 in 15 updates when we tried)
=================  ==========  ==================================================================

One generator update = B = 64 sequences written and one policy update (for PPO: 4 epochs of
minibatches over them). Everything else follows the chosen preset (default ``cpu``: D trained for one
epoch on 5,000 fresh negatives + the real data after every generator update).

Reports NLL_oracle and NLL_test at the end (mean +- std over seeds), the change from the start, a
Welch t-test p-value of each method's final NLL_oracle against seqgan's, the mean final score and
the wall time; writes a markdown table, JSON and a PNG of NLL_oracle against generator updates.

    .venv/bin/python benchmarks/compare_rewards.py \
        --generator-checkpoint runs/<pretrain>/checkpoints/generator_mle.pt [--iterations 20]
    .venv/bin/python benchmarks/compare_rewards.py --quick     # smoke test on a tiny random oracle, ~1 min

Without ``--generator-checkpoint`` the script first runs MLE pre-training with the preset's epochs.
Needs scipy for the p-values (``pip install -e .[bench]``).
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see rollout_speed.py

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import common_start, comparison_budget, machine_info, run_method, save_figure

from seqgan_gym.experiment.setup import build_setup
from seqgan_gym.utils import atomic_write_json, atomic_write_text

METHODS = {  # name: the config fields that make the method
    "seqgan": dict(algo="reinforce", reward="discriminator"),
    "pg_bleu": dict(algo="reinforce", reward="bleu"),
    "ppo_d": dict(algo="ppo", reward="discriminator"),
    "a2c_d": dict(algo="a2c", reward="discriminator"),
    "oracle_ceiling": dict(algo="reinforce", reward="oracle", reinforce_baseline="mean"),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator-checkpoint", help="the MLE generator every method starts from")
    p.add_argument("--preset", default="cpu", help="schedule of everything but the iterations (default cpu)")
    p.add_argument("--iterations", type=int, help="generator updates per run (default: the preset's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--eval-every", type=int, default=2, help="evaluate every this many updates")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/compare_rewards")
    p.add_argument("--quick", action="store_true", help="smoke preset, 2 seeds, 4 updates")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field for every method, e.g. --set dis_form=density_ratio")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    out, preset, base, iterations, seeds = comparison_budget(
        args.out, args.quick, args.preset, args.iterations, args.seeds, args.eval_every, args.overrides)
    setup = build_setup(base)
    base = setup.cfg  # with the values the data fixes
    start = time.time()

    need_d = any(METHODS[m]["reward"] == "discriminator" for m in args.methods)
    start_models = common_start(setup, out, args.generator_checkpoint, need_d)
    print(f"[compare_rewards] start ready after {time.time() - start:.0f} s: generator from "
          f"{start_models.generator_source}; {iterations} generator updates per run, seeds {seeds}, "
          f"preset {preset}")

    runs = []
    for method in args.methods:
        for seed in seeds:
            run = run_method(setup, start_models, out / "runs" / f"{method}-seed{seed}",
                             seed=seed, **METHODS[method])
            runs.append({"method": method, **run})
            print(f"[compare_rewards] {method} seed {seed}: NLL_oracle {run['nll_oracle'][0]:.3f} -> "
                  f"{run['nll_oracle'][-1]:.3f}, NLL_test {run['nll_test'][0]:.3f} -> "
                  f"{run['nll_test'][-1]:.3f} ({run['wall_s']:.0f} s)", flush=True)

    summary = summarise(runs, args.methods)
    result = {
        "command": " ".join(sys.argv), "preset": preset, "quick": args.quick,
        "generator_start": start_models.generator_source, "generator_updates": iterations, "seeds": seeds,
        "overrides": args.overrides,
        "oracle_floor": setup.oracle_floor, "config": base.to_dict(),
        "machine": machine_info(args.threads), "total_wall_s": round(time.time() - start, 1),
        "summary": summary, "runs": runs,
    }
    table = markdown_table(summary, iterations, seeds, preset, args.overrides)
    print(table)
    atomic_write_json(out / "compare_rewards.json", result)
    atomic_write_text(out / "compare_rewards.md", table + "\n")
    plot(runs, args.methods, setup.oracle_floor, out / "compare_rewards.png", iterations, preset)
    print(f"[compare_rewards] wrote {out}/compare_rewards.{{md,json,png}} in {time.time() - start:.0f} s")
    return 0


def summarise(runs: list[dict], methods: list[str]) -> dict:
    """Per method: mean / std (ddof 1) of the final metrics and Welch's p against seqgan."""
    try:
        from scipy.stats import ttest_ind
    except ImportError:  # the p-values need scipy; the rest does not
        ttest_ind = None
        print("[compare_rewards] scipy not installed (pip install -e .[bench]): no p-values")
    final = {m: [r for r in runs if r["method"] == m] for m in methods}
    summary = {}
    for m, rs in final.items():
        end_oracle = np.array([r["nll_oracle"][-1] for r in rs])
        start_oracle = np.array([r["nll_oracle"][0] for r in rs])
        end_test = np.array([r["nll_test"][-1] for r in rs])
        start_test = np.array([r["nll_test"][0] for r in rs])
        row = {
            "algo": _algorithm(rs[0]), "reward": rs[0]["reward"], "n_seeds": len(rs),
            "nll_oracle_start": float(start_oracle.mean()),
            "nll_oracle_end_mean": float(end_oracle.mean()), "nll_oracle_end_std": _std(end_oracle),
            "nll_oracle_change_mean": float((end_oracle - start_oracle).mean()),
            "nll_oracle_change_std": _std(end_oracle - start_oracle),
            "nll_test_start": float(start_test.mean()),
            "nll_test_end_mean": float(end_test.mean()), "nll_test_end_std": _std(end_test),
            "final_score_mean": (float(np.mean([r["final_score"] for r in rs]))
                                 if all(r["final_score"] is not None for r in rs) else None),
            "wall_s_mean": float(np.mean([r["wall_s"] for r in rs])),
            "p_vs_seqgan": None,
        }
        if ttest_ind is not None and "seqgan" in final and m != "seqgan" and len(rs) > 1:
            other = np.array([r["nll_oracle"][-1] for r in final["seqgan"]])
            row["p_vs_seqgan"] = float(ttest_ind(end_oracle, other, equal_var=False).pvalue)
        summary[m] = row
    return summary


def _algorithm(run: dict) -> str:
    """The algorithm's name as the table shows it, e.g. 'reinforce' or 'reinforce + mean baseline'."""
    baseline = run.get("reinforce_baseline", "none")
    if run["algo"] != "reinforce" or baseline == "none":
        return run["algo"]
    return f"{run['algo']} + {baseline} baseline"


def _std(x: np.ndarray) -> float:
    return float(x.std(ddof=1)) if x.size > 1 else 0.0


def markdown_table(summary: dict, iterations: int, seeds: list[int], preset: str,
                   overrides: list[str] = ()) -> str:
    changed = f" with {', '.join(overrides)}" if overrides else ""
    lines = [
        f"{iterations} generator updates per run, seeds {seeds}, {preset} preset{changed}; mean ± std over "
        "seeds (std with ddof 1); p: Welch's t-test of the final NLL_oracle against seqgan's. All seeds "
        "start from the same generator and D, so the spread is that of the RL phase alone. Final score: the "
        "mean reward of the last update's sequences, on each reward's own scale (D(Y) in [0, 1], "
        "BLEU in [0, 1], the oracle's mean log-likelihood per token).",
        "",
        "| method | algorithm | reward | NLL_oracle start | NLL_oracle end | change | NLL_test start | "
        "NLL_test end | final score | p vs seqgan | wall s / run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, r in summary.items():
        p = "—" if r["p_vs_seqgan"] is None else f"{r['p_vs_seqgan']:.3g}"
        score = "—" if r["final_score_mean"] is None else f"{r['final_score_mean']:.3f}"
        lines.append(
            f"| {m} | {r['algo']} | {r['reward']} | {r['nll_oracle_start']:.3f} | "
            f"{r['nll_oracle_end_mean']:.3f} ± {r['nll_oracle_end_std']:.3f} | "
            f"{r['nll_oracle_change_mean']:+.3f} ± {r['nll_oracle_change_std']:.3f} | "
            f"{r['nll_test_start']:.3f} | {r['nll_test_end_mean']:.3f} ± {r['nll_test_end_std']:.3f} | "
            f"{score} | {p} | {r['wall_s_mean']:.0f} |"
        )
    return "\n".join(lines)


def plot(runs: list[dict], methods: list[str], floor: float, path: Path, iterations: int,
         preset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(methods):
        rs = [r for r in runs if r["method"] == m]
        x = rs[0]["updates"]
        y = np.array([r["nll_oracle"] for r in rs])  # (seeds, evaluations)
        label = f"{m} ({_algorithm(rs[0])}, {rs[0]['reward']})"
        ax.plot(x, y.mean(0), color=colors[i % len(colors)], label=label)
        if len(rs) > 1:
            ax.fill_between(x, y.min(0), y.max(0), color=colors[i % len(colors)], alpha=0.15)
    # the oracle floor (~5.76) is far below every curve: name it rather than draw it
    ax.set_xlabel("generator updates")
    ax.set_ylabel(f"NLL_oracle (lower is better; oracle floor {floor:.3f})")
    ax.set_title(f"Rewards and algorithms from one MLE start\n({preset} preset; mean over seeds, "
                 "band = seed range)", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
