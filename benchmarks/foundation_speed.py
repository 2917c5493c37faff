"""How fast are SeqGAN's building blocks? MLE epoch, D epoch, sampling, NLL_oracle, on the paper's setup.

The paper's synthetic experiment (Yu et al. 2017; the authors' code) spends its time in four
operations, each measured here on the paper's oracle (V = 5000, T = 20, embedding and hidden 32):

1. one MLE epoch of the generator: 10,000 oracle sequences, batch 64, Adam lr 0.01 (fused, via
   :func:`seqgan_gym.utils.make_adam`), gradient-norm clip 5 (:func:`seqgan_gym.training.mle_epoch`);
2. one discriminator epoch: 20,000 sequences = the 10,000 real + 10,000 sampled from G, batch 64,
   the paper's CNN and Adam lr 1e-4 (:func:`seqgan_gym.training.discriminator_epoch`);
3. sampling 10,000 sequences from G (:meth:`LSTMLanguageModel.sample`);
4. one NLL_oracle evaluation (:func:`seqgan_gym.metrics.nll_oracle`: sample 10,000 sequences from G,
   score them under the oracle), and its scoring half alone (:func:`seqgan_gym.metrics.sequence_nll`).

For each: wall seconds (median over ``--reps`` repetitions, all rows interleaved), process CPU
seconds, the FLOPs counted analytically (formulas in :func:`flop_counts`), the achieved GFLOP/s and
its fraction of a plain fp32 ``torch.mm`` (square 2048) timed the same way in the same run. Beside
them, as context only, the numbers of a faithful public PyTorch port of the authors' code on this
machine and our targets (neither is measured by this script).

Run (``--quick`` is a smoke test of about a minute: 1,000 sequences instead of 10,000, 1 rep)::

    .venv/bin/python benchmarks/foundation_speed.py [--reps 3] [--threads 2] [--out PATH] [--quick]
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

# As in rollout_speed.py: on a shared 2-CPU machine OpenMP's default spin-waiting makes every
# small op of a 2-thread torch wait for a time slice. Passive waiting avoids that; an explicit
# setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from common import machine_info  # benchmarks/common.py (this folder is on sys.path)

from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.metrics import nll_oracle, sequence_nll
from seqgan_gym.oracle import load_oracle
from seqgan_gym.paper_oracle import find_paper_oracle
from seqgan_gym.training import mle_epoch
from seqgan_gym.utils import atomic_write_json, make_adam

# Not measured by this script: context printed beside our numbers.
PUBLIC_PORT = {  # a faithful public PyTorch port of the authors' code, earlier, on this machine
    "mle_epoch": "~7 s",
    "d_epoch": "~46 s",
    "sample": "41-48 s",
}
TARGETS = {"mle_epoch": "<= 4 s", "d_epoch": "<= 15 s", "sample": "<= 1 s"}


@dataclass
class Setup:
    """Sizes of one run (the paper's unless ``--quick``)."""

    n_real: int = 10_000  # real sequences: the MLE epoch's data and D's positives
    n_fake: int = 10_000  # sequences sampled from G: D's negatives
    n_eval: int = 10_000  # sequences per sampling / NLL_oracle measurement
    batch_size: int = 64  # MLE and D mini-batch (the paper: 64)
    mle_lr: float = 0.01  # the generator's Adam learning rate
    grad_clip: float = 5.0  # the generator's gradient-norm clip
    matmul_n: int = 2048  # side of the square fp32 matmul that sets the reference rate


PAPER = Setup()
QUICK = Setup(n_real=1000, n_fake=1000, n_eval=1000, matmul_n=1024)


# ------------------------------------------------------------------------------ FLOP counts
def flop_counts(s: Setup, V: int, T: int, E: int, H: int, d_flops_per_seq: int | None) -> dict:
    """FLOPs of each measurement, a multiply-add counted as 2.

    Per token, forward: the LSTM cell ``2 * 4 * H * (E + H)`` (four gates, input and recurrent
    products) plus the output layer ``2 * H * V``; bias adds, activations, exp/softmax, the
    embedding look-up and the sampling search are not counted. Training (MLE, D) counts the
    backward pass as 2x the forward: 3x forward in all. D's forward per sequence comes from
    :func:`seqgan_gym.discriminator.discriminator_flops` (convolutions, highway, output layer).
    """
    token = 2 * 4 * H * (E + H) + 2 * H * V
    flops = {
        "mle_epoch": 3 * token * s.n_real * T,
        "sample": token * s.n_eval * T,
        "nll_scoring": token * s.n_eval * T,
        "nll_oracle": 2 * token * s.n_eval * T,  # sample from G, then score under the oracle
        "d_epoch": None if d_flops_per_seq is None else 3 * d_flops_per_seq * (s.n_real + s.n_fake),
    }
    formulas = {
        "token_forward": f"2*4*H*(E+H) + 2*H*V = {token:,} (H={H}, E={E}, V={V})",
        "mle_epoch": "3 * token_forward * n_real * T (forward + backward = 3x forward)",
        "sample": "token_forward * n_eval * T",
        "nll_scoring": "token_forward * n_eval * T (teacher-forced LSTM + output layer)",
        "nll_oracle": "2 * token_forward * n_eval * T (sampling + scoring)",
        "d_epoch": f"3 * discriminator_flops(T) * (n_real + n_fake), discriminator_flops(T) = "
                   f"{d_flops_per_seq:,} per sequence" if d_flops_per_seq else "not available",
    }
    return {"flops": flops, "formulas": formulas}


# ------------------------------------------------------------------------------ measurements
def timed(fn) -> tuple[float, float, object]:
    """Run ``fn()``; return (wall seconds, process CPU seconds, its result)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def measure_matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor):
    """The reference rate: one square fp32 ``torch.mm``."""
    return timed(lambda: torch.mm(a, b, out=out))


def measure_mle_epoch(generator, optimizer, real, s: Setup, seed: int):
    """One MLE epoch over the real data; the result is the epoch's mean loss."""
    rng = torch.Generator().manual_seed(seed)
    return timed(lambda: mle_epoch(generator, optimizer, real, s.batch_size, s.grad_clip, rng))


def measure_d_epoch(d_parts, real, fake, s: Setup, seed: int):
    """One discriminator epoch over real + fake; the result is its loss/accuracy dict."""
    discriminator, optimizer, discriminator_epoch = d_parts
    rng = torch.Generator().manual_seed(seed)
    return timed(lambda: discriminator_epoch(discriminator, optimizer, real, fake, s.batch_size, rng))


def measure_sample(generator, s: Setup, seed: int):
    """Sample ``n_eval`` sequences from G."""
    rng = torch.Generator().manual_seed(seed)
    return timed(lambda: generator.sample(s.n_eval, rng=rng))


def measure_nll_oracle(generator, oracle, s: Setup, seed: int):
    """One NLL_oracle evaluation: sample ``n_eval`` from G and score them under the oracle."""
    rng = torch.Generator().manual_seed(seed)
    return timed(lambda: nll_oracle(generator, oracle, s.n_eval, rng=rng))


def measure_nll_scoring(oracle, sequences):
    """The scoring half of NLL_oracle alone: the oracle's NLL of given sequences."""
    return timed(lambda: sequence_nll(oracle, sequences))


# ------------------------------------------------------------------------------ setup


def load_discriminator(V: int, T: int):
    """The paper's D, its optimiser and ``discriminator_epoch``, or a reason they are missing."""
    try:
        from seqgan_gym.discriminator import (
            Discriminator,
            discriminator_flops,
            make_discriminator_optimizer,
        )
        from seqgan_gym.training import discriminator_epoch
    except ImportError as e:
        return None, None, f"not available ({e})"
    torch.manual_seed(0)  # D's initialisation draws from torch's global RNG
    discriminator = Discriminator(V, T)
    return (discriminator, make_discriminator_optimizer(discriminator), discriminator_epoch), \
        discriminator_flops(T), None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="JSON output path (default "
                   "benchmarks/results/foundation_speed.json, or foundation_speed_quick.json)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each measurement (median)")
    p.add_argument("--quick", action="store_true", help="smoke test: 1,000 sequences, 1 repetition")
    args = p.parse_args()
    s = QUICK if args.quick else PAPER
    reps = 1 if args.quick else args.reps
    out_path = args.out or f"benchmarks/results/foundation_speed{'_quick' if args.quick else ''}.json"
    torch.set_num_threads(args.threads)
    machine = machine_info(args.threads)

    oracle_path = find_paper_oracle()
    oracle = load_oracle(oracle_path)
    V, T, E, H = oracle.vocab_size, oracle.seq_len, oracle.emb_dim, oracle.hidden_dim
    real = oracle.sample(s.n_real, rng=torch.Generator().manual_seed(1))
    generator = LSTMLanguageModel(V, T, E, H).init_normal_(0.1, torch.Generator().manual_seed(2))
    g_optimizer = make_adam(generator.parameters(), s.mle_lr)
    fake = generator.sample(s.n_fake, rng=torch.Generator().manual_seed(3))
    d_parts, d_flops_per_seq, d_missing = load_discriminator(V, T)
    mm_a, mm_b = torch.randn(s.matmul_n, s.matmul_n), torch.randn(s.matmul_n, s.matmul_n)
    mm_out = torch.empty(s.matmul_n, s.matmul_n)

    # warm-up: allocator, BLAS kernels, first-call paths
    measure_matmul(mm_a, mm_b, mm_out)
    mle_epoch(generator, g_optimizer, real[:256], s.batch_size, s.grad_clip)
    generator.sample(256)
    sequence_nll(oracle, real[:256])
    if d_parts:
        d_parts[2](d_parts[0], d_parts[1], real[:128], fake[:128], s.batch_size)

    runs: dict[str, list[tuple[float, float]]] = {}
    values: dict[str, list] = {}
    loadavg_during = []
    for rep in range(reps):  # every measurement once per repetition, interleaved
        measured = {
            "matmul": measure_matmul(mm_a, mm_b, mm_out),
            "mle_epoch": measure_mle_epoch(generator, g_optimizer, real, s, 100 + rep),
            "sample": measure_sample(generator, s, 200 + rep),
            "nll_oracle": measure_nll_oracle(generator, oracle, s, 300 + rep),
            "nll_scoring": measure_nll_scoring(oracle, fake[: s.n_eval]),
        }
        if d_parts:
            measured["d_epoch"] = measure_d_epoch(d_parts, real, fake, s, 400 + rep)
        for name, (wall, cpu, value) in measured.items():
            runs.setdefault(name, []).append((wall, cpu))
            values.setdefault(name, []).append(value if isinstance(value, (int, float, dict)) else None)
        loadavg_during.append(os.getloadavg()[0])
    machine["loadavg_during_1min"] = loadavg_during
    machine["loadavg_end"] = list(os.getloadavg())

    # ------------------------------------------------------------------ numbers
    counted = flop_counts(s, V, T, E, H, d_flops_per_seq)
    mm_seconds = statistics.median(w for w, _ in runs["matmul"])
    mm_gflops = 2 * s.matmul_n**3 / mm_seconds / 1e9
    labels = {
        "mle_epoch": f"MLE epoch ({s.n_real:,} seqs, batch {s.batch_size}, Adam, clip {s.grad_clip:g})",
        "d_epoch": f"D epoch ({s.n_real:,} real + {s.n_fake:,} sampled, batch {s.batch_size})",
        "sample": f"sample {s.n_eval:,} sequences from G",
        "nll_oracle": f"NLL_oracle evaluation ({s.n_eval:,}: sample + score)",
        "nll_scoring": f"  of which scoring {s.n_eval:,} under the oracle (sequence_nll)",
    }
    rows = {}
    for name, label in labels.items():
        gflop = counted["flops"][name]
        if name not in runs:
            rows[name] = {"label": label, "available": False, "reason": d_missing,
                          "reference_public_port": PUBLIC_PORT.get(name), "target": TARGETS.get(name)}
            continue
        wall = statistics.median(w for w, _ in runs[name])
        rate = gflop / wall / 1e9
        rows[name] = {
            "label": label, "available": True, "seconds": wall,
            "seconds_reps": [w for w, _ in runs[name]],
            "cpu_seconds": statistics.median(c for _, c in runs[name]),
            "gflop": gflop / 1e9, "gflops": rate, "fraction_of_matmul": rate / mm_gflops,
            "flop_formula": counted["formulas"][name],
            "last_value": values[name][-1],
            "reference_public_port": PUBLIC_PORT.get(name), "target": TARGETS.get(name),
        }

    # ------------------------------------------------------------------ report
    la = machine["loadavg_start"]
    print(f"\n## SeqGAN foundations: V={V}, T={T}, E={E}, H={H}"
          f"{' (QUICK: 1,000-sequence sets, not comparable with the targets)' if args.quick else ''}\n")
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
          f"{args.threads} threads (OMP_WAIT_POLICY={machine['OMP_WAIT_POLICY']}); load average at "
          f"start {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}, 1-min after each rep "
          f"{[round(x, 2) for x in loadavg_during]}. Median of {reps} rep(s). Oracle: {oracle_path}.\n")
    print("| measurement | seconds | CPU s | GFLOP | GFLOP/s | of matmul rate "
          "| public port* | target* |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows.values():
        ref, target = r["reference_public_port"] or "", r["target"] or ""
        if not r["available"]:
            print(f"| {r['label']} | {r['reason']} | | | | | {ref} | {target} |")
            continue
        print(f"| {r['label']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['gflop']:.1f} | "
              f"{r['gflops']:.1f} | {100 * r['fraction_of_matmul']:.0f}% | {ref} | {target} |")
    print(f"| fp32 torch.mm {s.matmul_n}^2 (reference rate) | {mm_seconds:.3f} | | "
          f"{2 * s.matmul_n**3 / 1e9:.1f} | {mm_gflops:.1f} | 100% | | |")
    print("\n*Not measured by this run: a faithful public PyTorch port of the authors' code, measured "
          "earlier on this machine, and our targets. Seconds are wall time (median); CPU s is this "
          "process's CPU time, all threads.")
    print(f"\nFLOPs (multiply-add = 2): per token forward {counted['formulas']['token_forward']}; "
          "training = 3x forward; D: " + counted["formulas"]["d_epoch"] + ".")
    if "nll_oracle" in values:
        print(f"Values of the last rep: NLL_oracle of G = {values['nll_oracle'][-1]:.3f}, "
              f"MLE loss = {values['mle_epoch'][-1]:.3f}"
              + (f", D loss = {values['d_epoch'][-1]['loss']:.3f}" if "d_epoch" in values else "")
              + ".")

    atomic_write_json(out_path, {
        "benchmark": "foundation_speed", "quick": args.quick, "setup": asdict(s), "reps": reps,
        "machine": machine, "oracle": str(oracle_path),
        "model": {"vocab_size": V, "seq_len": T, "emb_dim": E, "hidden_dim": H},
        "rows": rows,
        "matmul": {"n": s.matmul_n, "seconds_reps": [w for w, _ in runs["matmul"]],
                   "seconds": mm_seconds, "gflops": mm_gflops},
        "flop_formulas": counted["formulas"],
        "reference_not_measured_here": {"public_port_on_this_machine": PUBLIC_PORT,
                                        "targets": TARGETS},
    })
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
