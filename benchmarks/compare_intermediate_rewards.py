"""Intermediate rewards side by side: Monte-Carlo rollout, terminal, a prefix discriminator, a critic.

The four strategies of :mod:`seqgan_gym.rewards.intermediate` (``--set intermediate_reward=...``), each with
the discriminator reward (SeqGAN) and with PG-BLEU, from one MLE generator, the same seeds and the
same budget (``cpu`` preset by default: D trained on 5,000 fresh negatives + the real data after
every generator update; B = 64 sequences per update, N = 16 rollouts for ``mc_rollout``):

* D is pre-trained once on the MLE generator (the preset's schedule) and copied into every D run;
* the learned strategies are pre-trained once each, on the same negatives as D's pre-training
  (the same stream and seed): the prefix discriminator on real vs those negatives (one for both
  rewards: it does not read the reward), the critic on those negatives scored by the pre-trained
  D, and separately by BLEU. (``seqgan-gym train`` interleaves them with D's pre-training steps
  instead; the prefix discriminator comes out the same, the critic here learns the final D's
  scores.) Both are retrained in every d-step on D's negatives, the critic also online;
* every run then does ``--iterations`` generator updates (one number, or one per reward:
  ``discriminator=4 bleu=30``); runs go seed by seed, each seed's eight runs in a row, so the
  machine's load falls on every strategy alike.

Reported per reward and strategy (mean ± std over seeds; p: Welch's t-test against mc_rollout with
the same reward): NLL_oracle and NLL_test at the end, the quality-diversity crossing (NLL_test where
each final generator's temperature sweep crosses NLL_oracle = 9.0, Caccia et al. 2020), the
training wall time (without the time spent evaluating, which every strategy pays alike) and the
sequences sampled per update (G's own, rollout completions, D's negatives), and **the training
time at which each run first reaches mc_rollout's mean final NLL_oracle** (linear between
evaluations). One figure: NLL_oracle and NLL_test against training wall time and against G's
sequences, and the temperature sweeps.

    .venv/bin/python benchmarks/compare_intermediate_rewards.py \\
        --generator-checkpoint runs/<pretrain>/checkpoints/generator_mle.pt   # the cpu budget: 30 updates
    .venv/bin/python benchmarks/compare_intermediate_rewards.py --generator-checkpoint G.pt \\
        --iterations discriminator=4 bleu=30 --eval-every discriminator=1 bleu=5 --set d_signal_samples=0
    .venv/bin/python benchmarks/compare_intermediate_rewards.py --quick   # smoke preset, ~1 min
    # flags: --rewards discriminator bleu, --strategies ..., --seeds, --eval-every, --temperatures,
    #        --set field=value (every run), --threads (default 1), --out

Without ``--generator-checkpoint`` the script first runs MLE pre-training with the preset's epochs.
Needs scipy for the p-values (``pip install -e .[bench]``).
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see rollout_speed.py

import argparse
import dataclasses
import json
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from common import common_start, comparison_budget, machine_info, run_method, save_figure
from paper_table import qd_crossing, temperature_sweep

from seqgan_gym.config import INTERMEDIATE_REWARDS, ExperimentConfig, get_preset
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.setup import (
    build_setup,
    new_intermediate_reward,
    new_reward_model,
    pretrain_discriminator,
    with_config,
)
from seqgan_gym.models.saving import load_language_model
from seqgan_gym.rewards.intermediate import TRAINABLE
from seqgan_gym.utils import atomic_write_json, atomic_write_text

REWARDS = ("discriminator", "bleu")
BASELINE = "mc_rollout"
QD_LEVEL = 9.0  # NLL_oracle where the quality-diversity crossing is read (Caccia et al. 2020)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--generator-checkpoint", help="the MLE generator every run starts from")
    p.add_argument("--preset", default="cpu", help="schedule of everything but the iterations (default cpu)")
    p.add_argument("--iterations", nargs="+", default=[], metavar="[REWARD=]N",
                   help="generator updates per run: N, or per reward (discriminator=4 bleu=30); "
                        "default: the preset's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--strategies", nargs="+", default=list(INTERMEDIATE_REWARDS),
                   choices=INTERMEDIATE_REWARDS)
    p.add_argument("--rewards", nargs="+", default=list(REWARDS), choices=REWARDS)
    p.add_argument("--eval-every", nargs="+", default=["2"], metavar="[REWARD=]N",
                   help="evaluate every this many updates: N, or per reward (default 2)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.9, 1.0, 1.1, 1.2],
                   help="the quality-diversity sweep of each final generator")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field for every run (e.g. d_signal_samples=0: no D-signal "
                        "measurement at the evaluations, which only the D reward pays)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/compare_intermediate_rewards")
    p.add_argument("--quick", action="store_true", help="smoke preset, 2 seeds, 4 updates")
    p.add_argument("--from-json", metavar="JSON",
                   help="train nothing: sweep the final generators of an earlier output whose sweep did "
                        "not reach NLL_oracle 9.0 again at --temperatures, add the points, rewrite its "
                        "table, JSON and figure")
    args = p.parse_args()
    if BASELINE not in args.strategies:
        p.error(f"--strategies must include {BASELINE}: the p-values and times are against it")
    try:
        args.iterations = _per_reward(args.iterations, args.rewards)
        args.eval_every = _per_reward(args.eval_every, args.rewards)
    except ValueError as e:
        p.error(str(e))
    return args


def _per_reward(items: list[str], rewards: list[str]) -> dict[str, int]:
    """``["N"]`` or ``["REWARD=N", ...]`` -> {reward: N} (rewards not named: absent)."""
    values = {}
    for item in items:
        name, sep, number = item.rpartition("=")
        for reward in ([name] if sep else rewards):
            if reward not in REWARDS or not number.isdigit() or int(number) < 1:
                raise ValueError(f"expected N or REWARD=N (REWARD in {REWARDS}, N >= 1), got {item!r}")
            values[reward] = int(number)
    return values


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.from_json:
        path = Path(args.from_json)
        result = json.loads(path.read_text())
        extend_sweeps(result, args.temperatures, path.parent)
        write_report(result, path.parent)
        return 0
    out, preset, base, _, seeds = comparison_budget(args.out, args.quick, args.preset, None, args.seeds, 1,
                                                    args.overrides)
    temperatures = [0.8, 1.0, 1.2] if args.quick else args.temperatures
    full = get_preset(preset).adv_iterations
    iterations = {r: 4 if args.quick else args.iterations.get(r, full) for r in args.rewards}
    eval_every = {r: 2 if args.quick else args.eval_every.get(r, 2) for r in args.rewards}
    budget = (f"{preset} preset; generator updates per run: "
              + ", ".join(f"{r} {n}" + ("" if n == full else f" (the {preset} preset's full budget: {full})")
                          for r, n in iterations.items())
              + "".join(f"; {item}" for item in args.overrides)
              + f"; seeds {seeds}; {args.threads} torch thread(s)")
    machine = machine_info(args.threads)  # the load average as the runs start
    setup = build_setup(base)
    base = setup.cfg  # with the values the data fixes
    start_time = time.time()
    start = common_start(setup, out, args.generator_checkpoint, "discriminator" in args.rewards)
    print(f"[intermediate] D ready after {time.time() - start_time:.0f} s; generator from "
          f"{start.generator_source}; {budget}", flush=True)
    t0 = time.time()
    strategies = pretrain_strategies(setup, start, args.strategies, args.rewards, out)
    pretrain_s = round(time.time() - t0, 1)
    print(f"[intermediate] learned strategies pre-trained in {pretrain_s} s", flush=True)

    runs = []
    for seed in seeds:  # seed by seed: the load of a shared machine falls on every strategy alike
        for reward in args.rewards:
            for name in args.strategies:
                run = run_method(setup, start, out / "runs" / f"{reward}-{name}-seed{seed}",
                                 strategy=strategies.get((reward, name)), seed=seed, reward=reward,
                                 intermediate_reward=name, adv_iterations=iterations[reward],
                                 eval_every=eval_every[reward])
                run.update(strategy=name, sampled=sequences_sampled(base, reward, name, run["updates"]))
                runs.append(run)
                print(f"[intermediate] {reward} {name} seed {seed}: NLL_oracle {run['nll_oracle'][0]:.3f} -> "
                      f"{run['nll_oracle'][-1]:.3f}, NLL_test {run['nll_test'][0]:.3f} -> "
                      f"{run['nll_test'][-1]:.3f} ({run['train_s'][-1]:.0f} s training, "
                      f"{run['wall_s']:.0f} s with evaluations)", flush=True)

    models = {"mle (the start)": start.generator}
    for run in runs:
        models[_model_name(run)] = load_language_model(run["checkpoint"], device=str(setup.device))
    sweep = temperature_sweep(setup, models, temperatures)
    for run in runs:
        run["qd_crossing"] = sweep[_model_name(run)]["nll_test_at_nll_oracle_9"]
    result = {
        "command": " ".join(sys.argv), "budget": budget, "preset": preset, "quick": args.quick,
        "rewards": args.rewards, "strategies": args.strategies,
        "generator_start": start.generator_source, "generator_updates": iterations,
        "eval_every": eval_every, "seeds": seeds,
        "oracle_floor": setup.oracle_floor, "oracle_file": setup.oracle_file, "config": base.to_dict(),
        "temperatures": temperatures, "strategy_pretrain_s": pretrain_s,
        "machine": {**machine, "loadavg_end": list(os.getloadavg())},
        "total_wall_s": round(time.time() - start_time, 1), "runs": runs, "sweep": sweep,
    }
    write_report(result, out)
    print(f"[intermediate] done in {time.time() - start_time:.0f} s")
    return 0


def write_report(result: dict, out: Path) -> None:
    """Summarise ``result`` (its runs and sweeps) and write the table, the JSON and the figure."""
    rewards = result.get("rewards") or list(dict.fromkeys(r["reward"] for r in result["runs"]))
    strategies = result.get("strategies") or list(dict.fromkeys(r["strategy"] for r in result["runs"]))
    result["summary"] = summarise(result["runs"], rewards, strategies)
    table = markdown_table(result["summary"], result["budget"], result["sweep"]["mle (the start)"])
    print(table)
    atomic_write_json(out / "compare_intermediate_rewards.json", result)
    atomic_write_text(out / "compare_intermediate_rewards.md", table + "\n")
    plot(result["runs"], result["sweep"], rewards, strategies, result["oracle_floor"],
         out / "compare_intermediate_rewards.png", result["budget"], result["config"]["num_envs"])
    print(f"[intermediate] wrote {out}/compare_intermediate_rewards.{{md,json,png}}")


def extend_sweeps(result: dict, temperatures: list[float], out: Path) -> None:
    """Sweep each final generator of ``result`` whose sweep did not reach NLL_oracle 9.0 at those
    of ``temperatures`` it has not been swept at; add the points and recompute its crossing."""
    setup = build_setup(ExperimentConfig(**result["config"]))
    start = result["generator_start"]
    checkpoints = {"mle (the start)": start if Path(start).is_file() else str(out / "generator_mle.pt")}
    checkpoints.update({_model_name(run): run["checkpoint"] for run in result["runs"]})
    swept = []
    for name, sweep in result["sweep"].items():
        done = {p["temperature"] for p in sweep["points"]}
        todo = [t for t in temperatures if t not in done]
        if sweep["nll_test_at_nll_oracle_9"] is not None or not todo:
            continue
        model = load_language_model(checkpoints[name], device=str(setup.device))
        points = sweep["points"] + temperature_sweep(setup, {name: model}, todo)[name]["points"]
        sweep["points"] = sorted(points, key=lambda p: p["temperature"])
        sweep["nll_test_at_nll_oracle_9"] = qd_crossing(sweep["points"], QD_LEVEL)
        swept.append(name)
        print(f"[intermediate] {name}: swept again at {todo}; crossing {sweep['nll_test_at_nll_oracle_9']}",
              flush=True)
    for run in result["runs"]:
        run["qd_crossing"] = result["sweep"][_model_name(run)]["nll_test_at_nll_oracle_9"]
    result.setdefault("resweeps", []).append({"command": " ".join(sys.argv), "temperatures": temperatures,
                                              "models": swept})


def pretrain_strategies(setup, start, names: list[str], rewards: list[str], out: Path) -> dict:
    """{(reward, name): pre-trained strategy} for the learned strategies among ``names``: each
    pre-trained on D's pre-training negatives (the same stream and seed) with the preset's D
    schedule, without touching D. The prefix discriminator does not read the reward: one serves
    both rewards. The critic learns each reward's scores (D's: the pre-trained D)."""
    pretrained = {}
    for name in (n for n in names if n in TRAINABLE):
        for reward in (rewards if name == "critic" else rewards[:1]):
            cfg = dataclasses.replace(setup.cfg, intermediate_reward=name, reward=reward)
            s_setup = with_config(setup, cfg)
            strategy = new_intermediate_reward(s_setup, start.generator)
            log = RunLog(out / "runs" / (f"pretrain-{name}" + ("" if name != "critic" else f"-{reward}")))
            pretrain_discriminator(s_setup, None, None, start.generator, log, progress=False,
                                   intermediate=strategy,
                                   reward_model=new_reward_model(s_setup, start.discriminator))
            log.close()
            for r in (rewards if name != "critic" else [reward]):
                pretrained[(r, name)] = strategy
    return pretrained


def sequences_sampled(cfg, reward: str, name: str, updates: list[int]) -> list[int]:
    """Sequences sampled up to each evaluation: G's own (B per update), the rollout completions
    (B x N x (T - 1) per update, mc_rollout only) and the negatives that train D or a learned
    strategy (``d_steps`` x ``dis_negatives`` per iteration)."""
    per_update = cfg.num_envs
    if name == "mc_rollout":
        per_update += cfg.num_envs * cfg.n_rollouts * (cfg.seq_len - 1)
    if reward == "discriminator" or name in TRAINABLE:
        per_update += cfg.d_steps * cfg.dis_negatives
    return [u * per_update for u in updates]


def _model_name(run: dict) -> str:
    return f"{run['reward']}/{run['strategy']}/seed{run['seed']}"


def time_to_reach(train_s: list[float], nll: list[float], target: float) -> float | None:
    """The training time at which a curve first reaches ``target`` (linear between evaluations)."""
    for i, value in enumerate(nll):
        if value <= target:
            if i == 0:
                return float(train_s[0])
            a, b = nll[i - 1], value
            return float(train_s[i - 1] + (train_s[i] - train_s[i - 1]) * (a - target) / (a - b))
    return None


def _stats(values) -> dict:
    x = np.array([v for v in values if v is not None], dtype=float)
    return {"mean": float(x.mean()) if x.size else None,
            "std": float(x.std(ddof=1)) if x.size > 1 else None, "n": int(x.size),
            "values": [None if v is None else float(v) for v in values]}


def _welch(a: list, b: list) -> float | None:
    a, b = [v for v in a if v is not None], [v for v in b if v is not None]
    try:
        from scipy.stats import ttest_ind
    except ImportError:  # the p-values need scipy; the rest does not
        return None
    if len(a) < 2 or len(b) < 2:
        return None
    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return None if np.isnan(p) else p


def summarise(runs: list[dict], rewards: list[str], names: list[str]) -> dict:
    """Per reward and strategy: the final metrics, their p against mc_rollout, the cost, and the
    training time to mc_rollout's mean final NLL_oracle."""
    summary: dict = {}
    for reward in rewards:
        by_name = {n: [r for r in runs if r["reward"] == reward and r["strategy"] == n] for n in names}
        finals = {n: {"nll_oracle": [r["nll_oracle"][-1] for r in rs],
                      "nll_test": [r["nll_test"][-1] for r in rs],
                      "qd_crossing": [r["qd_crossing"] for r in rs]} for n, rs in by_name.items()}
        target = float(np.mean(finals[BASELINE]["nll_oracle"]))
        rows = {}
        for name, rs in by_name.items():
            reach = [time_to_reach(r["train_s"], r["nll_oracle"], target) for r in rs]
            rows[name] = {
                "nll_oracle_start": float(np.mean([r["nll_oracle"][0] for r in rs])),
                "nll_test_start": float(np.mean([r["nll_test"][0] for r in rs])),
                **{key: _stats(v) for key, v in finals[name].items()},
                "p_vs_mc_rollout": {key: None if name == BASELINE else _welch(v, finals[BASELINE][key])
                                    for key, v in finals[name].items()},
                "train_s": _stats([r["train_s"][-1] for r in rs]),
                "train_s_per_update": float(np.mean([r["train_s"][-1] / r["updates"][-1] for r in rs])),
                "sampled_per_update": rs[0]["sampled"][-1] // rs[0]["updates"][-1],
                "final_score": _stats([r["final_score"] for r in rs]),
                "time_to_mc_rollout_final": _stats(reach),
            }
        base_time = rows[BASELINE]["train_s"]["mean"]  # mc_rollout has its final NLL_oracle at its end
        for name, row in rows.items():
            t = row["time_to_mc_rollout_final"]
            row["reached"] = f"{t['n']}/{len(t['values'])}"
            row["time_saved_vs_mc_rollout"] = (None if name == BASELINE or t["n"] < len(t["values"])
                                               else 1.0 - t["mean"] / base_time)
        summary[reward] = {"target_nll_oracle": target, "rows": rows}
    return summary


def _pm(stats: dict, digits: int = 3) -> str:
    if stats["mean"] is None:
        return "—"
    std = "" if stats["std"] is None else f" ± {stats['std']:.{digits}f}"
    return f"{stats['mean']:.{digits}f}{std}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}"


def markdown_table(summary: dict, budget: str, mle_sweep: dict) -> str:
    mle_at_9 = mle_sweep["nll_test_at_nll_oracle_9"]
    mle_at_9 = "outside the sweep" if mle_at_9 is None else f"{mle_at_9:.3f}"
    lines = [
        f"Budget: {budget}. Mean ± std over seeds (ddof 1); p: Welch's t-test against mc_rollout with the "
        "same reward. QD: NLL_test where the final generator's temperature sweep crosses NLL_oracle = 9.0 "
        f"(lower is better; the MLE start: {mle_at_9}). "
        "Training s: wall time of the run without its evaluations. Sampled / update: G's sequences + "
        "rollout completions + D's negatives. Reach: training seconds until the run first has "
        "mc_rollout's mean final NLL_oracle (mean over the seeds that got there); saved: 1 - that / "
        "mc_rollout's mean training s, which is when mc_rollout has that NLL_oracle (only when every "
        "seed got there).",
        "",
        "| reward | strategy | NLL_oracle start → end | p | NLL_test end | p | QD at 9.0 | p | "
        "training s | s / update | sampled / update | reach mc_rollout's end (s) | reached | saved |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for reward, block in summary.items():
        for name, r in block["rows"].items():
            p = r["p_vs_mc_rollout"]
            saved = r["time_saved_vs_mc_rollout"]
            saved = "—" if saved is None else f"{100 * saved:.0f}%"
            lines.append(
                f"| {reward} | {name} | {r['nll_oracle_start']:.3f} → {_pm(r['nll_oracle'])} | "
                f"{_p(p['nll_oracle'])} | {_pm(r['nll_test'])} | {_p(p['nll_test'])} | "
                f"{_pm(r['qd_crossing'])} | {_p(p['qd_crossing'])} | {r['train_s']['mean']:.0f} | "
                f"{r['train_s_per_update']:.1f} | {r['sampled_per_update']:,} | "
                f"{_pm(r['time_to_mc_rollout_final'], 0)} | {r['reached']} | {saved} |")
        lines.append(f"| {reward} | (target: mc_rollout's mean final NLL_oracle) | "
                     f"{block['target_nll_oracle']:.3f} | | | | | | | | | | | |")
    return "\n".join(lines)


def plot(runs: list[dict], sweep: dict, rewards: list[str], names: list[str], floor: float, path: Path,
         budget: str, batch: int) -> None:
    """One figure: a row per reward; NLL_oracle and NLL_test against training wall time and G's
    sequences (``batch`` per update), and the first seed's temperature sweeps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rewards), 5, figsize=(24, 4.4 * len(rewards)), squeeze=False)
    colors = dict(zip(names, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for row, reward in zip(axes, rewards):
        for name in names:
            rs = [r for r in runs if r["reward"] == reward and r["strategy"] == name]
            if not rs:
                continue
            sequences = np.array(rs[0]["updates"]) * batch
            wall = np.array([r["train_s"] for r in rs]).mean(0)
            for col, (metric, x) in enumerate((("nll_oracle", wall), ("nll_oracle", sequences),
                                               ("nll_test", wall), ("nll_test", sequences))):
                y = np.array([r[metric] for r in rs])
                row[col].plot(x, y.mean(0), marker="o", ms=3, color=colors[name], label=name)
                if len(rs) > 1:
                    row[col].fill_between(x, y.min(0), y.max(0), color=colors[name], alpha=0.12)
            for seed_run in rs[:1]:  # the first seed's final generator, swept over temperatures
                points = sweep[_model_name(seed_run)]["points"]
                row[4].plot([q["nll_oracle"] for q in points], [q["nll_test"] for q in points], marker="o",
                            ms=3, color=colors[name], label=f"{name} (seed {seed_run['seed']})")
        mle = sweep["mle (the start)"]["points"]
        row[4].plot([q["nll_oracle"] for q in mle], [q["nll_test"] for q in mle], "k--", marker="x", ms=3,
                    label="MLE start")
        if min(q["nll_oracle"] for q in mle) - 1 < QD_LEVEL < max(q["nll_oracle"] for q in mle) + 1:
            row[4].axvline(QD_LEVEL, color="gray", ls=":", lw=1)
        labels = ("training wall time (s, without evaluations)", f"G's sequences ({batch} per update)") * 2
        for col, (ax, xlabel) in enumerate(zip(row, labels)):
            ax.set_xlabel(xlabel)
            ax.set_ylabel(("NLL_oracle" if col < 2 else "NLL_test") + " (lower is better)")
            ax.set_title(f"{reward}: {'NLL_oracle' if col < 2 else 'NLL_test'}", fontsize=9)
            ax.grid(alpha=0.3)
        row[4].set_xlabel("NLL_oracle (quality)")
        row[4].set_ylabel("NLL_test (coverage)")
        row[4].set_title(f"{reward}: temperature sweep, crossing read at NLL_oracle {QD_LEVEL}", fontsize=9)
        row[0].legend(fontsize=8)
        row[4].legend(fontsize=7)
    fig.suptitle(textwrap.fill(f"Intermediate rewards from one MLE start; mean over seeds, band = seed "
                               f"range. {budget}. Oracle floor {floor:.3f}.", 160), fontsize=9)
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
