"""Speed on a busy machine: the default preset's MLE epoch and one adversarial iteration, measured
idle and beside one busy single-threaded process, with the CLI's ``OMP_WAIT_POLICY=PASSIVE`` (on
the CLI's default thread count, and on one thread) and with OpenMP's default wait policy, side by
side in one run.

    .venv/bin/python benchmarks/busy_machine.py            # the cpu preset's sizes: ~6 min on 2 CPUs
    .venv/bin/python benchmarks/busy_machine.py --quick    # smoke test: small sets, ~1 min
    # flags: --reps N (default 1), --threads N (default: the CLI's default), --out PATH

Each measurement runs in a fresh child process, because OpenMP reads ``OMP_WAIT_POLICY`` once, when
torch loads. The child builds the ``cpu`` preset's setup (the paper's oracle when this machine has
it, else a random oracle of the same shape; the held-out set and the evaluation samples are cut to
500 so that the two evaluations inside the timed iteration cost little), then times:

* one MLE epoch over the 10,000 real sequences (the second of two; the first warms up);
* one adversarial iteration (``adversarial_training`` with ``adv_iterations=1``): one REINFORCE
  update on 64 sequences with N = 16 rollouts, the rollout-policy update, and one D update (5,000
  fresh negatives, one epoch), plus the iteration-0 and final evaluations.

The busy process is ``python -c "while True: pass"``: one core fully used by someone else. The
target (issue 12) is busy / idle <= 1.5 with the CLI's setting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def conditions(threads: int) -> dict[str, tuple[str | None, int]]:
    """Name -> (OMP_WAIT_POLICY, torch threads): the CLI's setting, the same on one thread, and
    OpenMP's default wait policy (spin, then sleep)."""
    return {f"PASSIVE, {threads} threads (the CLI's)": ("PASSIVE", threads),
            "PASSIVE, 1 thread": ("PASSIVE", 1),
            f"OpenMP default, {threads} threads": (None, threads)}


def child(quick: bool, threads: int) -> dict:
    """Runs in the child process: build the setup, time one MLE epoch and one iteration."""
    import torch
    from common import oracle_overrides

    from seqgan_gym.algorithm1 import adversarial_training
    from seqgan_gym.config import get_preset
    from seqgan_gym.experiment.log import RunLog
    from seqgan_gym.experiment.setup import build_setup, new_generator
    from seqgan_gym.models.discriminator import make_discriminator_optimizer, paper_discriminator
    from seqgan_gym.training.updates import mle_epoch
    from seqgan_gym.utils import make_adam

    torch.set_num_threads(threads)
    changes = ["n_test=500", "eval_samples=500", "adv_iterations=1"]
    if quick:
        changes += ["n_train=1000", "dis_negatives=1000", "num_envs=16", "n_rollouts=4"]
    cfg = get_preset("cpu").override(changes + oracle_overrides()).validate()
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    generator = new_generator(setup)
    optimizer = make_adam(generator.parameters(), cfg.gen_lr)
    shuffle_rng = torch.Generator().manual_seed(0)
    train = setup.data.train
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        mle_epoch(generator, optimizer, train, cfg.batch_size, cfg.grad_clip, shuffle_rng)
        times.append(time.perf_counter() - t0)
    discriminator = paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=cfg.seed)
    d_optimizer = make_discriminator_optimizer(discriminator, lr=cfg.dis_lr)
    with tempfile.TemporaryDirectory() as tmp:
        log = RunLog(Path(tmp) / "run", tensorboard=False)
        t0 = time.perf_counter()
        adversarial_training(setup, generator, log, discriminator, d_optimizer, progress=False)
        iteration = time.perf_counter() - t0
        log.close()
    return {"mle_epoch_s": times[1], "adv_iteration_s": iteration, "oracle": cfg.oracle,
            "torch_threads": torch.get_num_threads()}


def measure(policy: str | None, busy: bool, quick: bool, threads: int) -> dict:
    """One child run under ``policy`` (None: unset), beside a busy process when ``busy``."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        cmd = [sys.executable, __file__, "--child", "--threads", str(threads)]
        cmd += ["--quick"] if quick else []
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", default="benchmarks/results/busy_machine.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from seqgan_gym.utils import atomic_write_json, default_threads

    threads = args.threads or default_threads()
    if args.child:
        print(json.dumps(child(args.quick, threads)))
        return
    runs = conditions(threads)
    results: dict = {name: {"idle": [], "busy": []} for name in runs}
    start = time.time()
    for rep in range(args.reps):  # interleaved: every condition once per repetition
        for name, (policy, n_threads) in runs.items():
            for load in ("idle", "busy"):
                r = measure(policy, load == "busy", args.quick, n_threads)
                results[name][load].append(r)
                print(f"  rep {rep + 1}: {name:32s} {load}: MLE epoch {r['mle_epoch_s']:.2f} s, "
                      f"adversarial iteration {r['adv_iteration_s']:.2f} s", flush=True)

    def median(rows, key):
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    table = []
    lines = ["| setting | step | idle (s) | busy (s) | busy / idle |", "| --- | --- | ---: | ---: | ---: |"]
    for name in runs:
        for key, label in (("mle_epoch_s", "MLE epoch"), ("adv_iteration_s", "adversarial iteration")):
            idle, busy = median(results[name]["idle"], key), median(results[name]["busy"], key)
            table.append({"setting": name, "step": label, "idle_s": idle, "busy_s": busy,
                          "ratio": busy / idle})
            lines.append(f"| {name} | {label} | {idle:.2f} | {busy:.2f} | {busy / idle:.2f} |")
    print("\n".join(lines))
    first = results[next(iter(runs))]["idle"][0]
    record = {"benchmark": "busy_machine", "quick": args.quick, "reps": args.reps, "threads": threads,
              "oracle": first["oracle"], "cpus": os.cpu_count(), "loadavg_end": list(os.getloadavg()),
              "wall_s": round(time.time() - start, 1), "table": table, "raw": results}
    atomic_write_json(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
