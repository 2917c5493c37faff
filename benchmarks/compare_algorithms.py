"""Which RL algorithm learns from which reward, from which MLE start? The grid, with p-values and the
quality-diversity crossing.

Every cell of algorithm x KL anchor x reward x start runs the same generator updates with the same
seeds on the paper's oracle, from copies of one MLE generator per start (and, for the D reward, one
D pre-trained against it: the preset's ``dis_form``, so ``--set dis_form=density_ratio --set
density_ratio_alpha=0.5`` compares the algorithms on the D that ranks quality):

==============  ==============================================================================
algorithm       what it is
==============  ==============================================================================
reinforce       the paper's REINFORCE, no baseline (all rewards positive with D)
reinforce_mean  REINFORCE with the leave-one-out mean baseline over the B sequences
ppo, a2c        stable-baselines3 through the SB3 adapter (Q-difference rewards)
maskable_ppo    sb3-contrib's MaskablePPO with the env's action mask (on the oracle the mask allows
                every token: there is no EOS, so it should match PPO)
==============  ==============================================================================

Each algorithm runs with each ``--kl-coefs`` value (0: no anchor; C > 0: every token costs
``C * (log G - log G_MLE)``, :mod:`seqgan_gym.agents.kl`). Rewards: ``discriminator`` (D(Y)),
``bleu`` (PG-BLEU) and ``oracle`` (the oracle's log-likelihood: a diagnostic ceiling). Starts:
``--mle-run DIR`` gives two, DIR's last MLE epoch (``mle_last``) and its best-validation epoch
(``mle_best``); ``--start NAME=CHECKPOINT`` adds any other. Without either, MLE pre-training runs
first with the preset's epochs and gives both.

Output (``--out``): per cell the final NLL_oracle and NLL_test (mean +- std over seeds), the change
from the start with Welch's p of end against start, Welch's p of the final NLL_oracle against the
same start's and reward's REINFORCE without anchor (the mean-baseline one where the grid has no
plain one), D's final ``d_heldout_auc`` and
``d_oracle_spearman``, the last update's reward, the KL to the MLE policy, and the NLL_test where
each seed's final generator crosses NLL_oracle = 9.0 on its temperature curve, mean +- std over the
seeds whose curve reaches 9.0 (Caccia et al.; the starts' own crossings are rows too;
``--qd-seeds first`` sweeps the first seed's generator only, a third of the time). One markdown
table, JSON, and one figure: reward and NLL_oracle
against the sequences the policy wrote. A killed grid continues with ``--resume`` (finished runs are
kept; the unfinished one is redone).

    .venv/bin/python benchmarks/compare_algorithms.py --mle-run runs/mle120-s0 --budget cpu \\
        --rewards discriminator --set dis_form=density_ratio --set density_ratio_alpha=0.5
    .venv/bin/python benchmarks/compare_algorithms.py --quick    # smoke test, tiny random oracle, ~1 min

Budgets: ``cpu`` (the cpu preset's D schedule, 15 generator updates) and ``paper`` (the paper
preset's, 200 updates: days on this CPU). The default grid (5 algorithms x 2 KL x 3 rewards x 2
starts x 3 seeds = 180 runs) is hours to days; narrow it with the options. Needs scipy for the
p-values (``pip install -e .[bench]``).
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see rollout_speed.py

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import common_start, comparison_budget, machine_info, run_method, save_figure
from paper_table import temperature_sweep

from seqgan_gym.config import REWARDS
from seqgan_gym.experiment.setup import build_setup
from seqgan_gym.models.saving import load_language_model
from seqgan_gym.utils import atomic_write_json, atomic_write_text

ALGORITHMS = {  # name: the config fields that make the algorithm
    "reinforce": dict(algo="reinforce", reinforce_baseline="none"),
    "reinforce_mean": dict(algo="reinforce", reinforce_baseline="mean"),
    "ppo": dict(algo="ppo"),
    "a2c": dict(algo="a2c"),
    "maskable_ppo": dict(algo="maskable_ppo"),
}
BUDGETS = {"cpu": ("cpu", 15), "paper": ("paper", 200)}  # budget: (preset, generator updates)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mle-run", help="an MLE run directory: its generator_mle.pt (mle_last) and "
                                     "generator_mle_best.pt (mle_best) are two starts")
    p.add_argument("--start", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="another start (repeatable)")
    p.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    p.add_argument("--kl-coefs", type=float, nargs="+", default=[0.0, 0.05],
                   help="KL anchor coefficients, each a column of the grid (0: none)")
    p.add_argument("--kl-target", type=float, default=0.0,
                   help="adapt each anchored cell's coefficient (its --kl-coefs value to start) toward "
                        "this KL(G || G_MLE) per sequence, Ziegler et al.'s rule (0: fixed coefficients)")
    p.add_argument("--rewards", nargs="+", default=list(REWARDS), choices=REWARDS)
    p.add_argument("--budget", default="cpu", choices=list(BUDGETS))
    p.add_argument("--iterations", type=int, help="generator updates per run (default: the budget's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--eval-every", type=int, default=5, help="evaluate every this many updates")
    p.add_argument("--temperatures", type=float, nargs="+",
                   default=[0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
                   help="of the quality-diversity sweep (up to 1.5: PPO from the best-validation MLE start "
                        "crosses NLL_oracle 9.0 only at T ~ 1.3)")
    p.add_argument("--qd-seeds", choices=["all", "first"], default="all",
                   help="whose final generators get the quality-diversity sweep: every seed's (the "
                        "crossing as mean ± std) or the first seed's only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/compare_algorithms")
    p.add_argument("--resume", action="store_true", help="continue a killed grid in --out")
    p.add_argument("--quick", action="store_true", help="smoke preset, 2 seeds, 4 updates")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field for every run, e.g. --set dis_form=density_ratio")
    return p.parse_args(argv)


def cells(args: argparse.Namespace) -> list[dict]:
    """The grid without starts and seeds: one dict per (algorithm, KL coefficient, reward)."""
    return [{"algorithm": a, "kl_coef": kl, "kl_target": args.kl_target if kl else 0.0, "reward": r}
            for r in args.rewards for a in args.algorithms for kl in args.kl_coefs]


def cell_name(cell: dict) -> str:
    kl = f"+kl{cell['kl_coef']:g}" if cell["kl_coef"] else ""
    if cell.get("kl_target"):  # adapted toward a target
        kl += f"-target{cell['kl_target']:g}"
    return f"{cell['algorithm']}{kl}/{cell['reward']}"


def starts_of(args: argparse.Namespace) -> dict[str, str | None]:
    """Start name -> checkpoint (None: pre-train here), each checked before any work."""
    starts: dict[str, str | None] = {}
    if args.mle_run:
        folder = Path(args.mle_run) / "checkpoints"
        if not folder.is_dir():
            folder = Path(args.mle_run)  # a folder holding the checkpoints themselves
        starts["mle_last"] = str(folder / "generator_mle.pt")
        starts["mle_best"] = str(folder / "generator_mle_best.pt")
    for item in args.start:
        name, sep, path = item.partition("=")
        if not sep or not name:
            sys.exit(f"error: --start expects NAME=CHECKPOINT, got {item!r}")
        starts[name] = path
    for name, path in starts.items():
        if not Path(path).is_file():
            sys.exit(f"error: start {name}: no checkpoint at {path}")
    return starts or {"mle_last": None, "mle_best": None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if any(kl < 0 for kl in args.kl_coefs):
        sys.exit("error: --kl-coefs must be >= 0")
    if args.kl_target < 0 or (args.kl_target > 0 and not any(args.kl_coefs)):
        sys.exit("error: --kl-target must be >= 0 and adapts an anchor: give a --kl-coefs value > 0")
    starts = starts_of(args)
    preset, default_iterations = BUDGETS[args.budget]
    out, preset, base, iterations, seeds = comparison_budget(
        args.out, args.quick, preset, args.iterations or default_iterations, args.seeds, args.eval_every,
        args.overrides, resume=args.resume)
    if args.quick:
        starts = {"mle_last": None, "mle_best": None}
    setup = build_setup(base)
    base = setup.cfg  # with the values the data fixes
    grid = cells(args)
    need_d = "discriminator" in args.rewards
    t0 = time.time()
    print(f"[compare_algorithms] {len(grid)} cells x {len(starts)} starts x {len(seeds)} seeds = "
          f"{len(grid) * len(starts) * len(seeds)} runs of {iterations} generator updates ({preset} preset)",
          flush=True)

    runs, start_models = [], {}
    for start_name, checkpoint in starts.items():
        if checkpoint is None:  # pre-train here (once; a resumed grid keeps it): both starts come from it
            if not (out / "generator_mle_best.pt").is_file():
                shutil.rmtree(out / "runs" / "pretrain", ignore_errors=True)
                common_start(setup, out, None, False)  # writes out/generator_mle.pt, the last epoch
                shutil.copyfile(out / "runs" / "pretrain" / "checkpoints" / "generator_mle_best.pt",
                                out / "generator_mle_best.pt")  # beside it: the density ratio's p_ref
            checkpoint = str(out / ("generator_mle.pt" if start_name == "mle_last" else
                                    "generator_mle_best.pt"))
            starts[start_name] = checkpoint
        shutil.rmtree(out / "starts" / start_name, ignore_errors=True)  # resumed: D's pre-training redone
        start = common_start(setup, out / "starts" / start_name, checkpoint, need_d)
        start_models[start_name] = start.generator
        for cell in grid:
            for seed in seeds:
                run_dir = out / "runs" / start_name / cell_name(cell).replace("/", "-") / f"seed{seed}"
                record_file = run_dir / "record.json"
                if record_file.is_file():  # finished before a kill: kept
                    runs.append(json.loads(record_file.read_text()))
                    continue
                shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run: redone
                run = run_method(setup, start, run_dir, seed=seed, reward=cell["reward"],
                                 kl_coef=cell["kl_coef"], kl_target=cell["kl_target"],
                                 **ALGORITHMS[cell["algorithm"]])
                run = {"start": start_name, "cell": cell_name(cell), **cell, **run}
                atomic_write_json(record_file, run)
                runs.append(run)
                print(f"[compare_algorithms] {start_name} {cell_name(cell)} seed {seed}: NLL_oracle "
                      f"{run['nll_oracle'][0]:.3f} -> {run['nll_oracle'][-1]:.3f}, NLL_test "
                      f"{run['nll_test'][0]:.3f} -> {run['nll_test'][-1]:.3f} ({run['wall_s']:.0f} s)",
                      flush=True)

    print(f"[compare_algorithms] quality-diversity sweeps at T = {args.temperatures}", flush=True)
    models = {f"start {name}": model for name, model in start_models.items()}
    for run in runs:
        if args.qd_seeds == "all" or run["seed"] == seeds[0]:
            models[sweep_name(run)] = load_language_model(run["checkpoint"])
    sweep = temperature_sweep(setup, models, args.temperatures)

    summary = summarise(runs, sweep)
    result = {
        "command": " ".join(sys.argv), "budget": args.budget, "preset": preset, "quick": args.quick,
        "starts": starts, "generator_updates": iterations, "seeds": seeds, "overrides": args.overrides,
        "oracle_floor": setup.oracle_floor, "config": base.to_dict(), "machine": machine_info(args.threads),
        "total_wall_s": round(time.time() - t0, 1), "summary": summary, "quality_diversity": sweep,
        "runs": runs,
    }
    table = markdown_table(summary, sweep, iterations, seeds, preset, args.overrides)
    print(table)
    atomic_write_json(out / "compare_algorithms.json", result)
    atomic_write_text(out / "compare_algorithms.md", table + "\n")
    plot(runs, summary, out / "compare_algorithms.png", preset)
    print(f"[compare_algorithms] wrote {out}/compare_algorithms.{{md,json,png}} in {time.time() - t0:.0f} s")
    return 0


def sweep_name(run: dict) -> str:
    """The quality-diversity sweep's name for one run's final generator."""
    return f"{run['start']} {run['cell']} seed {run['seed']}"


def welch_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Welch's two-sided t-test p-value of samples ``a`` and ``b``; None without scipy, with fewer than
    two values on a side, or where both sides are constant."""
    try:
        from scipy.stats import ttest_ind
    except ImportError:
        return None
    if a.size < 2 or b.size < 2 or (a.std() == 0 and b.std() == 0):
        return None
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def summarise(runs: list[dict], sweep: dict) -> dict:
    """Per (start, cell): the final numbers over seeds, the p-values and the QD crossing."""
    def mean_std(x) -> tuple[float | None, float | None]:
        x = np.array([v for v in x if v is not None], dtype=float)
        if x.size == 0:
            return None, None
        return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["start"], r["cell"]), []).append(r)
    summary = {}
    for (start, cell), rs in groups.items():
        end = np.array([r["nll_oracle"][-1] for r in rs])
        begin = np.array([r["nll_oracle"][0] for r in rs])
        # the reference: REINFORCE without anchor, the paper's (no baseline) where the grid has it,
        # else with the mean baseline (the oracle reward needs one)
        reference_cell = next((name for name in (f"reinforce/{rs[0]['reward']}",
                                                 f"reinforce_mean/{rs[0]['reward']}")
                               if (start, name) in groups), None)
        reference = groups.get((start, reference_cell))
        row = {
            "start": start, "cell": cell, "algorithm": rs[0]["algorithm"], "kl_coef": rs[0]["kl_coef"],
            "kl_target": rs[0].get("kl_target", 0.0),
            "reward": rs[0]["reward"], "n_seeds": len(rs),
            "nll_oracle_start": float(begin.mean()),
            "nll_oracle_end": mean_std(end), "nll_oracle_change": mean_std(end - begin),
            "p_end_vs_start": welch_p(end, begin),
            "reference": reference_cell,
            "p_vs_reinforce": (welch_p(end, np.array([r["nll_oracle"][-1] for r in reference]))
                               if reference and reference is not rs else None),
            "nll_test_start": float(np.mean([r["nll_test"][0] for r in rs])),
            "nll_test_end": mean_std([r["nll_test"][-1] for r in rs]),
            "d_heldout_auc_end": mean_std([(r.get("d_heldout_auc") or [None])[-1] for r in rs]),
            "d_oracle_spearman_end": mean_std([(r.get("d_oracle_spearman") or [None])[-1] for r in rs]),
            "final_score": mean_std([r["final_score"] for r in rs]),
            "kl_end": mean_std([r["kl_curve"][-1] if r["kl_curve"] else None for r in rs]),
            # per seed: None where the seed was not swept or its curve does not reach 9.0
            "qd_crossings": {r["seed"]: sweep.get(sweep_name(r), {}).get("nll_test_at_nll_oracle_9")
                             for r in rs},
            "qd_swept": sum(sweep_name(r) in sweep for r in rs),
            "wall_s_mean": float(np.mean([r["wall_s"] for r in rs])),
        }
        row["qd_crossing"] = mean_std(row["qd_crossings"].values())
        summary[f"{start} {cell}"] = row
    return summary


def _fmt(pair: tuple[float | None, float | None], digits: int = 3, sign: bool = False) -> str:
    mean, std = pair
    if mean is None:
        return "—"
    return f"{mean:+.{digits}f} ± {std:.{digits}f}" if sign else f"{mean:.{digits}f} ± {std:.{digits}f}"


def anchor(row: dict) -> str:
    """The KL column: the coefficient, and ``-> target`` where it adapts toward one."""
    target = row.get("kl_target") or 0.0
    return f"{row['kl_coef']:g}" + (f" → {target:g}" if target else "")


def _p(p: float | None) -> str:
    return "—" if p is None else f"{p:.2g}"


def markdown_table(summary: dict, sweep: dict, iterations: int, seeds: list[int], preset: str,
                   overrides: list[str] = ()) -> str:
    changed = f" with {', '.join(overrides)}" if overrides else ""
    lines = [
        f"{iterations} generator updates per run, seeds {seeds}, {preset} preset{changed}; mean ± std over "
        "seeds (ddof 1). p (end vs start): Welch's t-test of the final NLL_oracle against the start's "
        "(the start differs by seed only through the evaluation's sampling). p vs REINFORCE: of the final "
        "NLL_oracle against the same start's and reward's REINFORCE without anchor (no baseline; with the "
        "mean baseline where the grid has no plain one). AUC / Spearman: D's "
        "signal at the end (D reward). Score: the last update's mean reward on its own scale. QD: NLL_test "
        "where the final generator's temperature curve crosses NLL_oracle = 9.0, mean ± std over the seeds "
        "swept (lower is better; Caccia et al.'s early-stopped MLE: 7.71); '(k of n)' where only k of the n "
        "swept curves reach 9.0.",
        "",
        "| start | algorithm | KL | reward | NLL_oracle end | change | p (end vs start) | p vs REINFORCE | "
        "NLL_test end | AUC | Spearman | score | KL end | QD | s / run |",
        "| --- | --- | ---: | --- | --- | --- | ---: | ---: | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for name, s in sweep.items():  # the starts themselves, sampled at T = 1 where the sweep has it
        if name.startswith("start "):
            at = s["nll_test_at_nll_oracle_9"]
            plain = min(s["points"], key=lambda point: abs(point["temperature"] - 1.0))
            lines.append(f"| {name[6:]} | the MLE start (T = {plain['temperature']:g}) | | | "
                         f"{plain['nll_oracle']:.3f} | | | | {plain['nll_test']:.3f} | | | | | "
                         f"{'—' if at is None else f'{at:.2f}'} | |")
    for r in summary.values():
        crossed = sum(v is not None for v in r["qd_crossings"].values())
        missed = f" ({crossed} of {r['qd_swept']})" if crossed < r["qd_swept"] else ""
        qd = _fmt(r["qd_crossing"], 2) + missed
        lines.append(
            f"| {r['start']} | {r['algorithm']} | {anchor(r)} | {r['reward']} | "
            f"{_fmt(r['nll_oracle_end'])} | {_fmt(r['nll_oracle_change'], sign=True)} | "
            f"{_p(r['p_end_vs_start'])} | {_p(r['p_vs_reinforce'])} | {_fmt(r['nll_test_end'])} | "
            f"{_fmt(r['d_heldout_auc_end'])} | {_fmt(r['d_oracle_spearman_end'], sign=True)} | "
            f"{_fmt(r['final_score'])} | {_fmt(r['kl_end'], 2)} | {qd} | {r['wall_s_mean']:.0f} |")
    return "\n".join(lines)


def plot(runs: list[dict], summary: dict, path: Path, preset: str) -> None:
    """One figure: per reward, the mean reward (top) and NLL_oracle (bottom) against the sequences the
    policy wrote, one line per (start, cell), mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards = list(dict.fromkeys(r["reward"] for r in runs))
    fig, axes = plt.subplots(2, len(rewards), figsize=(5.5 * len(rewards), 8), squeeze=False)
    for j, reward in enumerate(rewards):
        for key in summary:
            rs = [r for r in runs if f"{r['start']} {r['cell']}" == key and r["reward"] == reward]
            if not rs:
                continue
            per = rs[0]["sequences_per_update"]
            scores = np.array([[np.nan if v is None else v for v in r["score_curve"]] for r in rs])
            axes[0][j].plot(per * np.arange(1, scores.shape[1] + 1), np.nanmean(scores, 0), label=key)
            oracle = np.array([r["nll_oracle"] for r in rs])
            axes[1][j].plot(per * np.array(rs[0]["updates"]), oracle.mean(0), label=key)
        axes[0][j].set_title(f"reward: {reward}", fontsize=10)
        axes[0][j].set_ylabel("mean reward of the update's sequences")
        axes[1][j].set_ylabel("NLL_oracle (lower is better)")
        axes[1][j].set_xlabel("sequences written by the policy")
        axes[1][j].legend(fontsize=6)
    fig.suptitle(f"Algorithms x rewards x starts ({preset} preset; mean over seeds)", fontsize=11)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
