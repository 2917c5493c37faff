"""Draw the figures of the results pages (docs/results/*.md) as small PNGs in this folder.

Every number below is copied by hand from the results tables on the page the figure belongs to
(which in turn are the numbers the benchmarks printed, as recorded in the README of the commit each
page names). Nothing here runs a model or reads a results file: if a table changes, change the
number here too and re-run

    .venv/bin/python docs/results/figures/make_figures.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 80
plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7, "figure.dpi": DPI,
                     "axes.spines.top": False, "axes.spines.right": False})


def save(fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(HERE / name, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    print(f"{name}: {(HERE / name).stat().st_size / 1024:.0f} KiB")


# --- paper-table.md ---------------------------------------------------------------------------
def paper_table() -> None:
    # The table: NLL_oracle, ours (mean, std over seeds 0-2) and the paper's.
    methods = ["Random", "MLE", "SS", "PG-BLEU", "SeqGAN"]
    ours = [11.436, 9.016, 9.702, 8.619, 8.828]
    ours_std = [0.009, 0.006, 0.008, 0.055, 0.003]
    paper = [10.310, 9.038, 8.985, 8.946, 8.736]
    # Quality-diversity: (NLL_oracle, NLL_test) at T = 0.5, 0.8, 1.0, 1.2, 1.5, seed 0's models.
    qd = {
        "MLE, 120 epochs": [(7.38, 13.47), (8.53, 9.93), (9.02, 9.03), (9.33, 8.55), (9.66, 8.19)],
        "MLE, 5 epochs": [(6.65, 9.05), (8.74, 7.77), (9.48, 7.61), (9.87, 7.59), (10.22, 7.63)],
        "SS": [(8.60, 9.71), (9.44, 8.37), (9.71, 8.08), (9.91, 7.95), (10.11, 7.87)],
        "PG-BLEU": [(6.35, 13.78), (7.84, 10.04), (8.65, 9.09), (9.12, 8.57), (9.53, 8.18)],
        "SeqGAN": [(6.97, 13.61), (8.18, 9.97), (8.82, 9.05), (9.22, 8.55), (9.60, 8.18)],
    }
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.1))
    x = range(len(methods))
    a.bar([i - 0.2 for i in x], ours, 0.4, yerr=ours_std, label="ours (cpu budget, 3 seeds)")
    a.bar([i + 0.2 for i in x], paper, 0.4, label="paper", color="0.7")
    a.set_xticks(list(x), methods)
    a.set_ylim(8, 12)
    a.set_ylabel("NLL_oracle (lower = better quality)")
    a.set_title("The paper's synthetic table")
    a.legend(loc="upper right")
    for name, points in qd.items():
        b.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=name)
    b.axvline(9.0, color="0.6", lw=0.8, ls="--")
    b.set_ylim(7.3, 11)
    b.set_xlabel("NLL_oracle (quality)")
    b.set_ylabel("NLL_test (coverage)")
    b.set_title("Temperature sweeps, T = 0.5 ... 1.5, seed 0\n(lower left is better)")
    b.legend()
    save(fig, "paper_table.png")


# --- rewards-algorithms.md --------------------------------------------------------------------
def rewards_algorithms() -> None:
    # From the 120-epoch start, 15 updates, 3 seeds: change of NLL_oracle, paper's CNN D against the
    # tempered-ratio D.
    algos = ["REINFORCE", "PPO", "A2C"]
    cnn, cnn_std = [-0.191, 0.023, -0.001], [0.005, 0.034, 0.008]
    tr, tr_std = [-0.339, -0.454, -0.041], [0.020, 0.060, 0.011]
    # From the best-validation (early-stopped) start: NLL_test at NLL_oracle 9.0, mean over seeds.
    cells = [
        ("REINFORCE, ratio D", 7.79),                # seed 0 only
        ("A2C, ratio D", 7.68),
        ("PPO + KL 0.05, ratio D", 7.63),            # mean of 7.63, 7.64, 7.62
        ("PPO, ratio D", 7.62),                      # 7.621, 7.626, 7.622
        ("REINFORCE, PG-BLEU", 7.677),               # 7.68, 7.68, 7.67
        ("PPO, PG-BLEU", 7.62),
        ("MaskablePPO, PG-BLEU", 7.62),
        ("PPO, PG-BLEU, target KL 2, 200 upd.", 7.64),
        ("PPO, PG-BLEU, 200 updates", 7.93),
        ("REINFORCE, PG-BLEU, 200 updates", 8.46),
    ]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.1), gridspec_kw={"width_ratios": [1, 1.5]})
    x = range(len(algos))
    a.bar([i - 0.2 for i in x], cnn, 0.4, yerr=cnn_std, label="paper's CNN D", color="0.6")
    a.bar([i + 0.2 for i in x], tr, 0.4, yerr=tr_std, label="tempered-ratio D")
    a.axhline(0, color="k", lw=0.6)
    a.set_xticks(list(x), algos)
    a.set_ylabel("NLL_oracle change in 15 updates")
    a.set_title("The same algorithms on two D's\n(120-epoch MLE start, 3 seeds)")
    a.set_ylim(-0.55, 0.3)
    a.legend(loc="upper right")
    names = [c[0] for c in cells]
    values = [c[1] for c in cells]
    colors = ["C0" if v < 7.71 else "0.6" for v in values]
    b.barh(range(len(cells)), values, color=colors)
    b.axvline(7.71, color="C3", lw=1, label="early-stopped MLE: 7.71")
    b.set_yticks(range(len(cells)), names)
    b.invert_yaxis()
    b.set_xlim(7.4, 8.6)
    b.set_xlabel("NLL_test at NLL_oracle 9.0 (lower is better)")
    b.set_title("The quality-diversity bar\n(early-stopped MLE start; 15 updates unless said)")
    b.legend(loc="upper right")
    save(fig, "rewards_algorithms.png")


# --- intermediate-rewards.md ------------------------------------------------------------------
def intermediate_rewards() -> None:
    # strategy: (s / update, final NLL_oracle mean, std); D: 4 updates, PG-BLEU: 30 updates.
    d = {"mc_rollout": (36.8, 8.935, 0.026), "terminal": (26.0, 9.047, 0.007),
         "prefix_discriminator": (29.8, 8.918, 0.015), "critic": (31.1, 8.958, 0.008)}
    bleu = {"mc_rollout": (1.6, 6.844, 0.862), "terminal": (0.1, 8.631, 0.151),
            "prefix_discriminator": (1.7, 8.754, 0.024), "critic": (1.1, 6.839, 0.945)}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, data, title in ((axes[0], d, "D reward, 4 updates"), (axes[1], bleu, "PG-BLEU, 30 updates")):
        for i, (name, (cost, mean, std)) in enumerate(data.items()):
            ax.errorbar(cost, mean, yerr=std, fmt="o", color=f"C{i}", label=name, capsize=3)
        ax.axhline(9.011, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel("seconds per generator update (1 thread)")
        ax.set_ylabel("final NLL_oracle (3 seeds)")
        ax.set_title(f"{title} (start 9.011, dashed)")
    axes[0].legend()
    save(fig, "intermediate_rewards.png")


# --- d-signal.md ------------------------------------------------------------------------------
def d_signal() -> None:
    # (d_heldout_auc, d_oracle_spearman), seed 0, the cpu preset's 50-epoch MLE generator.
    forms = {
        "paper CNN": (0.552, 0.014), "CNN, paper lr": (0.535, -0.015), "CNN, regularised": (0.555, -0.015),
        "small CNN": (0.575, -0.001), "CNN, fresh real data": (0.659, -0.014),
        "recurrent D": (0.589, 0.015), "D on G's features": (0.118, 0.100),
        "log G": (0.002, 0.368), "log p_ref": (0.234, 0.589), "plain ratio": (1.000, 0.175),
        "ratio, fitted": (1.000, 0.059), "tempered, a = 0.25": (0.735, 0.538),
        "tempered, a = 0.5": (0.991, 0.446), "tempered, a = 0.75": (1.000, 0.305),
        "optimal D (ceiling)": (1.000, 0.762),
    }
    # Quality-diversity: (NLL_oracle, NLL_test) at T = 0.8, 1.0, 1.2, 1.5 (the CNN and the freely
    # fitted ratio were not swept at 1.5).
    qd = {
        "MLE, 50 epochs": [(8.46, 9.58), (9.01, 8.78), (9.36, 8.37), (9.71, 8.06)],
        "MLE, best validation": [(8.75, 7.77), (9.47, 7.61), (9.86, 7.59), (10.21, 7.63)],
        "SeqGAN, paper CNN": [(8.18, 9.68), (8.80, 8.83), (9.23, 8.38)],
        "SeqGAN, ratio fitted": [(8.07, 9.81), (8.69, 8.91), (9.10, 8.43)],
        "SeqGAN, tempered a = 0.5": [(7.33, 9.89), (8.20, 8.94), (8.89, 8.44), (9.43, 8.07)],
    }
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.3))
    a.axvspan(0.7, 1.02, ymin=0, ymax=1, color="0.93")
    a.axhline(0.3, color="0.6", lw=0.8, ls="--")
    a.axvline(0.7, color="0.6", lw=0.8, ls="--")
    for name, (auc, rho) in forms.items():
        color = "C3" if "CNN" in name or "recurrent" in name else ("C0" if "tempered" in name else "0.3")
        a.plot(auc, rho, "o", ms=4, color=color)
        if name in ("paper CNN", "log p_ref", "plain ratio", "tempered, a = 0.5", "optimal D (ceiling)",
                    "D on G's features", "ratio, fitted", "log G"):
            a.annotate(name, (auc, rho), textcoords="offset points", xytext=(4, 3), fontsize=6)
    a.set_xlim(-0.02, 1.15)
    a.set_xlabel("d_heldout_auc (separates real from G)")
    a.set_ylabel("d_oracle_spearman (ranks G by quality)")
    a.set_title("D's signal (seed 0; red: CNNs, recurrent D)\ntargets: AUC >= 0.7, Spearman >= 0.3")
    for name, points in qd.items():
        b.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=name)
    b.axvline(9.0, color="0.6", lw=0.8, ls="--")
    b.set_xlabel("NLL_oracle (quality)")
    b.set_ylabel("NLL_test (coverage)")
    b.set_title("Temperature sweeps, T = 0.8 ... 1.5, seed 0\n(30 iterations from the 50-epoch MLE)")
    b.legend()
    save(fig, "d_signal.png")


# --- real-data.md -----------------------------------------------------------------------------
def real_data() -> None:
    # (BLEU, std, Self-BLEU, std), 2 seeds; real: the training sequences scored the same way.
    panels = [
        ("Chinese quatrains, n = 2", {
            "MLE": (0.5886, 0.0063, 0.7049, 0.0047), "SeqGAN": (0.5988, 0.0165, 0.7436, 0.0124),
            "real": (0.6471, 0.0009, 0.7576, 0.0018)}),
        ("COCO captions, n = 4", {
            "MLE": (0.294, 0.007, 0.464, 0.005), "SeqGAN": (0.336, 0.005, 0.576, 0.010),
            "MaskablePPO": (0.295, 0.006, 0.457, 0.008), "real": (0.341, 0.002, 0.510, 0.002)}),
        ("Nottingham melodies, n = 4", {
            "MLE": (0.8639, 0.0018, 0.9787, 0.0007), "SeqGAN": (0.8932, 0.0015, 0.9853, 0.0016),
            "real": (0.8423, 0.0, 0.9650, 0.0)}),
    ]
    colors = {"MLE": "C0", "SeqGAN": "C1", "MaskablePPO": "C2", "real": "k"}
    fig, axes = plt.subplots(1, 3, figsize=(8.5, 2.8))
    for ax, (title, rows) in zip(axes, panels):
        for name, (bleu, bs, self_bleu, ss) in rows.items():
            ax.errorbar(bleu, self_bleu, xerr=bs, yerr=ss, fmt="o", ms=4, capsize=2,
                        color=colors[name], label=name)
        ax.set_xlabel("BLEU (higher: closer to the test set)")
        ax.set_ylabel("Self-BLEU (higher: less diverse)")
        ax.set_title(title)
        ax.margins(0.25)
    axes[1].legend()
    save(fig, "real_data.png")


# --- speed.md ---------------------------------------------------------------------------------
def speed() -> None:
    # foundation_speed.py, 2026-12-03: speed-up of ours over the plain PyTorch reference.
    steps = ["MLE\nepoch", "D\nepoch", "sample\n10,000", "NLL_\noracle"]
    one = [1.85, 1.60, 19.1, 10.5]
    two = [2.02, 2.08, 26.8, 16.3]
    # ppo_speed.py, 14:35 UTC run, --reps 5: steps/s at the paper's sizes.
    variants = ["before", "+fused\nAdam", "+kept\nprobs", "after"]
    ppo1 = [1780, 3471, 3516, 3704]
    ppo2 = [1811, 3483, 3767, 4334]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(9, 2.9), gridspec_kw={"width_ratios": [1.4, 0.8, 1.2]})
    x = range(len(steps))
    a.bar([i - 0.2 for i in x], one, 0.4, label="1 thread")
    a.bar([i + 0.2 for i in x], two, 0.4, label="2 threads")
    a.set_yscale("log")
    a.set_yticks([1, 2, 5, 10, 20], ["1x", "2x", "5x", "10x", "20x"])
    a.minorticks_off()
    a.set_xticks(list(x), steps)
    a.set_ylabel("x faster than plain PyTorch")
    a.set_title("Foundation steps (paper sizes)")
    a.legend()
    b.bar(["looped,\nmultinomial", "ours"], [31.89, 5.13], color=["0.6", "C0"])
    b.set_ylabel("seconds per reward batch")
    b.set_title("One MC reward batch\n(64 x 16 rollouts, 2 threads)")
    x = range(len(variants))
    c.bar([i - 0.2 for i in x], ppo1, 0.4, label="1 thread")
    c.bar([i + 0.2 for i in x], ppo2, 0.4, label="2 threads")
    c.axhline(5000, color="C3", lw=1, ls="--", label="target 5,000")
    c.set_xticks(list(x), variants)
    c.set_ylabel("environment steps / s")
    c.set_title("SB3 PPO learn() (paper sizes)")
    c.legend(loc="upper left")
    save(fig, "speed.png")


if __name__ == "__main__":
    paper_table()
    rewards_algorithms()
    intermediate_rewards()
    d_signal()
    real_data()
    speed()
