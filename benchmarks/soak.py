"""Soak: a long ``seqgan-gym train`` run on the ``smoke`` preset, watched from outside.

    .venv/bin/python benchmarks/soak.py                      # 1,000 adversarial iterations, ~15 min on 2 CPUs
    .venv/bin/python benchmarks/soak.py --iterations 50      # smoke test, ~30 s
    # flags: --iterations N, --eval-every N, --threads N (default 1), --seed N, --out PATH

The run is the ordinary command (``seqgan-gym train --preset smoke --set adv_iterations=N``) in a
child process. Every 0.5 s the script samples the child's resident memory (``VmRSS`` in
``/proc/<pid>/status``) and how many rows ``metrics.csv`` has. At the end it reports:

* memory: at the first adversarial row, at the end, the peak, and the slope of a least-squares line
  through the adversarial phase's samples (MiB per 100 iterations: a leak shows as a steady slope);
* NaN checks: the run's own divergence guard (a non-finite metric stops it with an error), and
  every tensor of the final checkpoints and ``resume.pt`` checked finite here;
* the discriminator's training accuracy on real and generated sequences, and the mean final score
  D(Y) of G's sequences, per tenth of the run;
* the paper's failure mode, a discriminator so strong that every reward is ~0: the iterations whose
  mean D(Y) is below 0.01 (the metric ``vanished_fraction``, and the first such streak of 5) and
  whether the run printed the loop's warning about it.

Prints a markdown table and writes ``soak.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

VANISHED = 0.01  # as seqgan_gym.experiment.setup.VanishedRewardWatch
PATIENCE = 5


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/soak")
    return p.parse_args()


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def all_finite(path: Path) -> bool:
    """Every floating tensor in a checkpoint (nested dicts / lists) is finite."""
    def walk(obj) -> bool:
        if isinstance(obj, torch.Tensor):
            return not obj.is_floating_point() or bool(torch.isfinite(obj).all())
        if isinstance(obj, dict):
            return all(walk(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return all(walk(v) for v in obj)
        return True
    return walk(torch.load(path, weights_only=True))


def main() -> int:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="soak-", dir=out))
    command = [sys.executable, "-m", "seqgan_gym.run.cli", "train", "--preset", "smoke",
               "--seed", str(args.seed),
               "--threads", str(args.threads), "--no-progress", "--run-dir", str(run_dir / "run"),
               "--set", f"adv_iterations={args.iterations}", "--set", f"eval_every={args.eval_every}"]
    print(f"[soak] {' '.join(command)}", flush=True)
    began = time.time()
    child = subprocess.Popen(command, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []  # (seconds, MiB, metrics rows so far)
    metrics = run_dir / "run" / "metrics.csv"
    while child.poll() is None:
        mib = rss_mib(child.pid)
        if mib is not None:
            samples.append((time.time() - began, mib, len(rows(metrics))))
        time.sleep(0.5)
    stdout, stderr = child.communicate()
    wall = time.time() - began
    if child.returncode != 0:
        print(stderr, file=sys.stderr)
        sys.exit(f"[soak] the run failed (exit {child.returncode}); its directory: {run_dir / 'run'}")

    table = rows(metrics)
    adversarial = [r for r in table if r["phase"] == "adversarial"]
    first_adv_row = len(table) - len(adversarial) + 1
    adv_samples = [(t, m, n) for t, m, n in samples if n >= first_adv_row]
    iterations = np.array([max(0, n - first_adv_row) for _, _, n in adv_samples], dtype=float)
    memory = np.array([m for _, m, _ in adv_samples])
    slope = float(np.polyfit(iterations, memory, 1)[0] * 100) if len(set(iterations)) > 2 else None
    scores = np.array([float(r["final_score"]) for r in adversarial[1:]])
    acc_real = np.array([float(r["d_acc_real"]) for r in adversarial[1:]])
    acc_fake = np.array([float(r["d_acc_fake"]) for r in adversarial[1:]])
    vanished = scores < VANISHED
    streak, first_streak = 0, None
    for i, low in enumerate(vanished, start=1):
        streak = streak + 1 if low else 0
        if streak == PATIENCE and first_streak is None:
            first_streak = i
    tenths = [slice(i * len(scores) // 10, (i + 1) * len(scores) // 10) for i in range(10)]
    checkpoints = run_dir / "run" / "checkpoints"
    finite = {p.name: all_finite(p) for p in sorted(checkpoints.glob("*.pt"))}
    result = {
        "command": command, "wall_s": round(wall, 1), "iterations": len(scores),
        "memory_mib": {"at_first_adversarial_row": float(memory[0]) if len(memory) else None,
                       "at_end": float(memory[-1]) if len(memory) else None,
                       "peak": max(m for _, m, _ in samples), "slope_per_100_iterations": slope},
        "nan": {"run_guard_tripped": False, "checkpoints_finite": finite},
        "d_accuracy_real_per_tenth": [float(acc_real[s].mean()) for s in tenths],
        "d_accuracy_fake_per_tenth": [float(acc_fake[s].mean()) for s in tenths],
        "final_score_per_tenth": [float(scores[s].mean()) for s in tenths],
        "vanished_fraction": float(vanished.mean()), "vanished_first_streak_at": first_streak,
        "vanished_warning_printed": "rewards carry no signal" in stderr,
        "evaluations": [{k: r[k] for k in ("step", "nll_oracle", "nll_test", "d_heldout_auc")}
                        for r in adversarial if r["nll_test"]],
        "machine": {"cpu": platform.processor() or platform.machine(), "logical_cpus": os.cpu_count(),
                    "torch": torch.__version__, "threads": args.threads},
        "memory_samples": [(round(t, 1), round(m, 1), n) for t, m, n in samples],
    }
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["memory_mib"]
    lines = [f"Soak: {len(scores)} adversarial iterations of the smoke preset in {wall:.0f} s "
             f"({args.threads} thread(s)).", "",
             "| what | value |", "| --- | --- |",
             "| memory at the first adversarial row / at the end / peak | "
             f"{m['at_first_adversarial_row']:.0f} / {m['at_end']:.0f} / {m['peak']:.0f} MiB |",
             f"| memory slope over the adversarial phase | "
             f"{'n/a' if slope is None else f'{slope:+.2f} MiB per 100 iterations'} |",
             f"| non-finite values | none (the run's guard did not trip; checkpoints finite: "
             f"{all(finite.values())}) |",
             f"| D accuracy real / fake, first tenth -> last tenth | {acc_real[tenths[0]].mean():.3f} / "
             f"{acc_fake[tenths[0]].mean():.3f} -> {acc_real[tenths[-1]].mean():.3f} / "
             f"{acc_fake[tenths[-1]].mean():.3f} |",
             f"| mean D(Y) of G's sequences, first tenth -> last tenth | {scores[tenths[0]].mean():.4f} -> "
             f"{scores[tenths[-1]].mean():.4f} |",
             f"| iterations with mean D(Y) < {VANISHED} (vanished reward) | {vanished.mean():.1%}" + (
                 "" if first_streak is None else f"; first {PATIENCE} in a row at iteration {first_streak}")
             + " |",
             f"| the loop's vanished-reward warning printed | {result['vanished_warning_printed']} |"]
    table_md = "\n".join(lines)
    (out / "soak.md").write_text(table_md + "\n")
    print(table_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
