"""A sweep that loses workers: SIGKILL the Ray worker of one trial and the training process of
another mid-run, let Ray Tune restart them, and compare each with the same run uninterrupted.

    .venv/bin/python benchmarks/sweep_kill.py --spec schedules \\
        --kill-worker g1-d5-k3-seed0:adversarial:3 --kill-train g1-d1-k10-seed1:adversarial:5 \\
        --reference runs/sweep-schedules-cpt1          # an uninterrupted sweep of the same spec
    # flags: --cpus-per-trial N (must match the reference's), --out PATH, --timeout S

Runs ``seqgan-gym sweep SPEC`` and watches the trials' ``metrics.csv``: when trial T has logged
PHASE at STEP it kills the Ray worker running T (``--kill-worker``: the trial's ``worker_pid``; its
training process dies with it) or T's training process alone (``--kill-train``). Afterwards it
reads each killed trial's attempts (``trials/T.json``) and compares its ``metrics.csv`` (all
columns but the wall time) with the uninterrupted run's: from ``--reference`` (a sweep folder of
the same spec and --cpus-per-trial), or else a ``seqgan-gym train`` run of the trial's own
arguments started here. Needs the ``ray`` extra. Prints a markdown table, writes
``sweep_kill.json`` in the sweep's folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from seqgan_gym.utils import atomic_write_json


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", required=True)
    p.add_argument("--out", default="benchmarks/results/sweep_kill")
    p.add_argument("--kill-worker", action="append", default=[], metavar="TRIAL:PHASE:STEP")
    p.add_argument("--kill-train", action="append", default=[], metavar="TRIAL:PHASE:STEP")
    p.add_argument("--reference", help="a folder of the same sweep run without kills")
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--timeout", type=float, default=3600)
    return p.parse_args()


def _rows(path: Path) -> list[list[str]]:
    try:
        return list(csv.reader(path.read_text().splitlines()))
    except OSError:
        return []


def _without_wall(rows: list[list[str]]) -> list[list[str]]:
    return [row[:2] + row[3:] for row in rows]


def main() -> int:
    args = parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} already holds a sweep; pass another --out or remove it")
    kills = []
    for kind, specs in (("worker", args.kill_worker), ("train", args.kill_train)):
        for item in specs:
            trial, phase, step = item.split(":")
            kills.append({"kind": kind, "trial": trial, "phase": phase, "step": int(step), "done": False})
    if not kills:
        sys.exit("nothing to kill: pass --kill-worker and/or --kill-train TRIAL:PHASE:STEP")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    start = time.time()
    sweep = subprocess.Popen([sys.executable, "-m", "seqgan_gym.run.cli", "sweep", args.spec,
                              "--out", str(out),
                              "--cpus-per-trial", str(args.cpus_per_trial)], env=env)
    while sweep.poll() is None and time.time() - start < args.timeout:
        for kill in (k for k in kills if not k["done"]):
            rows = _rows(out / "runs" / kill["trial"] / "metrics.csv")
            if not any(r[:2] == [kill["phase"], str(kill["step"])] for r in rows[1:]):
                continue
            attempt = json.loads((out / "trials" / f"{kill['trial']}.json").read_text())["attempts"][-1]
            pid = attempt["worker_pid"] if kill["kind"] == "worker" else attempt["train_pid"]
            os.kill(pid, signal.SIGKILL)
            kill.update(done=True, pid=pid, at_s=round(time.time() - start, 1), rows_logged=len(rows) - 1)
            print(f"[sweep_kill] killed the {kill['kind']} process {pid} of {kill['trial']} after its "
                  f"{kill['phase']} step {kill['step']} ({kill['at_s']} s into the sweep)", flush=True)
        time.sleep(0.05)
    if sweep.poll() is None:
        sweep.kill()
        sys.exit(f"the sweep took longer than --timeout {args.timeout} s")
    results = []
    for kill in kills:
        trial = kill["trial"]
        attempts = json.loads((out / "trials" / f"{trial}.json").read_text())["attempts"]
        if args.reference:
            reference = Path(args.reference) / "runs" / trial
        else:
            recorded = json.loads((out / "sweep_spec.json").read_text())
            argv = next(t["argv"] for t in recorded["trials"] if t["name"] == trial)
            reference = out / "reference" / trial
            subprocess.run([sys.executable, "-m", "seqgan_gym.run.cli", "train", *argv, "--run-dir",
                            str(reference), "--threads", str(args.cpus_per_trial), "--no-progress"],
                           env=env, check=True, capture_output=True)
        same = _without_wall(_rows(out / "runs" / trial / "metrics.csv")) == _without_wall(
            _rows(reference / "metrics.csv"))
        results.append({**kill, "attempts": attempts, "reference": str(reference), "metrics_equal": same})
    lines = ["| trial | killed | at | attempts | how the last attempt started | metrics.csv equal to the "
             "uninterrupted run (all columns but wall_s) |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        last = r["attempts"][-1]
        how = last["how"] + (f", after {last['resumed_after']}" if last.get("resumed_after") else "")
        at = f"{r['phase']} step {r['step']}" if r["done"] else "never reached"
        lines.append(f"| {r['trial']} | {r['kind']} process {r.get('pid', '—')} | {at} | "
                     f"{len(r['attempts'])} | {how} | {'yes' if r['metrics_equal'] else 'NO'} |")
    table = "\n".join(lines)
    print(table)
    atomic_write_json(out / "sweep_kill.json", {"command": " ".join(sys.argv),
                                                "sweep_returncode": sweep.returncode,
                                                "wall_s": round(time.time() - start, 1), "kills": results})
    ok = sweep.returncode == 0 and all(r["done"] and r["metrics_equal"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
