"""How fast is one SeqGAN reward batch? The looped Monte-Carlo rollout of public ports vs our engine.

One *reward batch* is what the generator needs per policy-gradient update (Yu et al. 2017, eq. 4):
Q(Y_1:t-1, y_t) for B = 64 finished sequences of length T = 20, each prefix completed N = 16 times
by the rollout policy beta (an LSTM over V = 5000 tokens) and every completion scored by the
paper's CNN discriminator D. In one run this script measures

1. the reward batch, computed two ways, interleaved over ``--reps`` repetitions (median):
   (a) the LOOPED form of public PyTorch ports (``looped_rollout_rewards`` below): for each rollout
       and each prefix length, replay the prefix through beta from the start token, sample the rest,
       score the 64 completions with D; (a') the same with ``torch.multinomial``, as the ports sample;
   (b) ours, :func:`seqgan_gym.rewards.rollout.rollout_rewards`: beta's prefix state is kept and the B x N
       completions of each prefix length are sampled and scored as one batch.
   Each total is split into D time (the wall time inside ``RewardModel.score``, recorded by
   :class:`TimedReward`) and sampling time (the rest: LSTM steps, softmax, inverse-CDF draws);
2. the FLOPs (b) executes, its GFLOP/s and their fraction of a plain fp32 ``torch.mm`` measured
   in the same run;
3. vector-env steps per second (``SeqGANVectorEnv``, 64 envs, terminal and rollout rewards);
4. a ``torch.profiler`` profile of (b): the top ops by self CPU time and where the time goes.

Run (``--quick`` is a seconds-long smoke test at smaller sizes)::

    .venv/bin/python benchmarks/rollout_speed.py [--reps 3] [--threads 2] [--out PATH] [--quick]
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

# On a shared 2-CPU machine, OpenMP's default spin-waiting turns every small op of a 2-thread
# torch into a wait for a time slice (measured here: tanh of a 64 x 32 tensor 2 us with 1 thread,
# ~16 ms with 2 threads at load average 5). Passive waiting avoids that; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import resource
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
from common import machine_info, matmul_seconds  # benchmarks/common.py (this folder is on sys.path)

from seqgan_gym.data.paper_oracle import find_paper_oracle
from seqgan_gym.envs import SeqGANVectorEnv
from seqgan_gym.models.discriminator import (
    PAPER_EMB_DIM,
    PAPER_FILTER_SIZES,
    PAPER_NUM_FILTERS,
    Discriminator,
    discriminator_flops,
)
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import load_oracle, random_oracle
from seqgan_gym.models.sampling import sample_categorical
from seqgan_gym.rewards.reward_models import DiscriminatorReward, RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy, rollout_rewards
from seqgan_gym.utils import atomic_write_json

# Not measured by this script: earlier measurements on this machine, printed as context only.
REFERENCE_NUMBERS = {
    "prototype engine, one well-batched reward batch": "~5.3 s, of which D ~3.9 s",
    "faithful public port (TextGAN-PyTorch style), same batch": "~70 s",
    "looped form with torch.multinomial": "~54 s",
    "looped form with the inverse-CDF sampler": "~15 s",
}


@dataclass
class Sizes:
    """The problem sizes of one run."""

    batch: int  # B, sequences per reward batch (the paper: 64)
    n_rollouts: int  # N, Monte-Carlo completions per prefix (the paper: 16)
    seq_len: int  # T (the paper: 20)
    vocab_size: int  # V (the paper: 5000)
    emb_dim: int = 32  # E of beta's LSTM
    hidden_dim: int = 32  # H of beta's LSTM
    matmul_n: int = 2048  # side of the square fp32 matmul that sets the reference rate
    terminal_episodes: int = 5  # terminal-mode env episodes per repetition (each is fast)


PAPER = Sizes(batch=64, n_rollouts=16, seq_len=20, vocab_size=5000)
QUICK = Sizes(batch=16, n_rollouts=4, seq_len=10, vocab_size=2000, matmul_n=1024, terminal_episodes=2)


class TimedReward(RewardModel):
    """Wraps a reward model and adds up the time spent in its :meth:`score` (the D time).

    ``seconds`` is wall time; ``cpu_seconds`` is this process's CPU time (all threads, user +
    system), which other jobs on a shared machine disturb less than wall time.
    """

    def __init__(self, inner: RewardModel) -> None:
        self.inner = inner
        self.vocab_size, self.seq_len = inner.vocab_size, inner.seq_len
        self.seconds = self.cpu_seconds = 0.0
        self.sequences = 0

    def _score(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.inner.score(sequences)

    def score(self, sequences: torch.Tensor) -> torch.Tensor:
        return self._timed(self.inner.score, sequences)

    def score_rollouts(self, completed: torch.Tensor, n_rollouts: int, prefix_len: int) -> torch.Tensor:
        return self._timed(partial(self.inner.score_rollouts, n_rollouts=n_rollouts,
                                   prefix_len=prefix_len), completed)

    def _timed(self, score, sequences: torch.Tensor) -> torch.Tensor:
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.profiler.record_function("D.score"):
            rewards = score(sequences)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu_start
        self.sequences += sequences.shape[0]
        return rewards


class WholeSequences(DiscriminatorReward):
    """(b) as it was before :meth:`Discriminator.prob_real_rollouts`: every completion scored
    whole by ``prob_real``, in chunks of 2048 (the earlier default)."""

    def __init__(self, inner: DiscriminatorReward) -> None:
        super().__init__(inner.discriminator, inner.batch_size)

    def _score_rollouts(self, completed: torch.Tensor, n_rollouts: int, prefix_len: int):
        return self._score(completed)


# ------------------------------------------------------------------------------ (a) the looped form
@torch.no_grad()
def looped_rollout_rewards(
    sequences: torch.Tensor, model: LSTMLanguageModel, reward_model: RewardModel, n_rollouts: int,
    rng: torch.Generator, sample=sample_categorical,
) -> torch.Tensor:
    """(a) THE LOOPED FORM public PyTorch ports use (e.g. TextGAN-PyTorch's ``ROLLOUT.get_reward``).

    For every rollout and every prefix length t = 1 .. T-1: replay the start token and Y_1:t through
    beta's ``nn.LSTM`` from a zero state (batched over the B sequences), sample the remaining T - t
    tokens one step at a time with ``sample(logits, rng) -> (B,)``, score the B completions with D. For
    t = T, score Y itself (once per rollout, as the ports do). Q is the mean over the rollouts.
    Written efficiently otherwise (output layer on the last position only, the same sampler as
    ours when ``sample`` is :func:`sample_categorical`) so that the comparison isolates the loop
    structure: N x T small batches of B rows, prefixes replayed, instead of one batch of B x N.
    """
    batch, seq_len = sequences.shape
    start = model.start_tokens(batch)[:, None]
    q = torch.zeros(batch, seq_len)
    for _ in range(n_rollouts):
        for t in range(1, seq_len + 1):
            if t == seq_len:
                q[:, t - 1] += reward_model.score(sequences)
                continue
            inputs = torch.cat([start, sequences[:, :t]], dim=1)  # (B, t + 1): start, y_1 .. y_t
            _, (h, c) = model.lstm(model.embedding(inputs))  # replay: each (1, B, H)
            state = (h[0], c[0])
            logits = model.output(state[0])  # (B, V), the distribution of y_{t+1}
            completed = [sequences[:, :t]]
            for j in range(seq_len - t):
                token = sample(logits, rng)
                completed.append(token[:, None])
                if j + 1 < seq_len - t:
                    logits, state = model.step(token, state)
            q[:, t - 1] += reward_model.score(torch.cat(completed, dim=1))
    return q / n_rollouts


def sample_multinomial(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """How the public ports sample: ``torch.multinomial(softmax(logits), 1)``, (B, V) -> (B,)."""
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=rng).squeeze(1)


def timed_call(fn, reward_model: RewardModel) -> dict:
    """Run ``fn(reward_model=timed)``; return total, D and sampling seconds (wall and CPU), and Q."""
    timed = TimedReward(reward_model)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start, cpu_start = time.perf_counter(), time.process_time()
    q = fn(reward_model=timed)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"total_s": total, "d_s": timed.seconds, "sampling_s": total - timed.seconds,
            "total_cpu_s": cpu, "d_cpu_s": timed.cpu_seconds, "sampling_cpu_s": cpu - timed.cpu_seconds,
            "sys_cpu_s": after.ru_stime - usage.ru_stime, "minor_faults": after.ru_minflt - usage.ru_minflt,
            "scored_sequences": timed.sequences, "q": q}


def env_steps_per_second(env: SeqGANVectorEnv, episodes: int, seed: int) -> float:
    """Steps/s = env.step calls x num_envs / seconds, over ``episodes`` full episodes of T steps."""
    rng = np.random.default_rng(seed)
    seq_len, vocab = env.single_observation_space.shape[0], env.single_action_space.n
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(episodes):
        for _ in range(seq_len):  # SAME_STEP autoreset: step T also starts the next episode
            env.step(rng.integers(vocab, size=env.num_envs))
    return episodes * seq_len * env.num_envs / (time.perf_counter() - start)


# ------------------------------------------------------------------------------ FLOP counts
def flop_counts(s: Sizes, d_flops_per_seq: int) -> dict:
    """The FLOPs (multiply-add = 2) of one reward batch, for (b) as executed and for (a)."""
    B, N, T, E, H, V = s.batch, s.n_rollouts, s.seq_len, s.emb_dim, s.hidden_dim, s.vocab_size
    step = 2 * 4 * H * (E + H) + 2 * H * V  # LSTM cell + output layer, per row
    completion_steps = B * N * sum(T - t - 1 for t in range(1, T))
    beta_steps = B * T  # the start token and y_1 .. y_{T-1}, B rows each
    sampling = (completion_steps + beta_steps) * step
    d_seqs = B * N * (T - 1) + B
    # what D executes in (b): the windows inside a length-t prefix once per prefix (B rows), the
    # later positions for every completion (B*N rows); highway and output layer for every row
    widths = [(w, n) for w, n in zip(PAPER_FILTER_SIZES, PAPER_NUM_FILTERS) if w <= T]
    conv_all = sum((T - w + 1) * w * PAPER_EMB_DIM * n for w, n in widths)  # multiply-adds per sequence
    conv_shared_saved = sum((B * N - B) * min(max(0, t - w + 1), T - w) * w * PAPER_EMB_DIM * n
                            for t in range(1, T) for w, n in widths)
    d_executed = d_seqs * d_flops_per_seq - 2 * conv_shared_saved
    looped_steps = N * B * sum(T for t in range(1, T))  # cell steps: replay t+1, sample T-t-1
    looped_outputs = N * B * sum(T - t for t in range(1, T))  # output layers: one per sampled token
    return {
        "formulas": {
            "lstm_step_per_row": "2*4*H*(E+H) (cell) + 2*H*V (output layer)",
            "sampling_b": "(B*N*sum_{t=1}^{T-1}(T-t-1) + B*T) * lstm_step_per_row. A completion of "
                          "a length-t prefix draws T-t tokens, the first from the logits of beta's "
                          "prefix step (B rows, shared by the N rollouts), so it runs T-t-1 steps of "
                          "B*N rows; the B*T prefix steps are the start token and y_1..y_{T-1}",
            "sampling_b_one_step_per_token": "(B*N*sum_{t=1}^{T-1}(T-t) + B*T) * lstm_step_per_row "
                                             "(counts the shared first step once per rollout)",
            "d_b": "(B*N*(T-1) + B) * discriminator_flops(T) forward",
            "d_b_executed": "d_b less the convolution windows inside each length-t prefix computed "
                            "once per prefix instead of once per completion: 2 * (B*N - B) * "
                            "sum_t sum_w min(max(0, t-w+1), T-w) * w * PAPER_EMB_DIM * n_w",
            "a": "cells N*B*(T-1)*T, output layers N*B*sum(T-t), D N*B*T sequences",
        },
        "lstm_step_flops_per_row": step,
        "discriminator_flops_per_sequence": d_flops_per_seq,
        "sampling_b": sampling,
        "sampling_b_one_step_per_token": (B * N * sum(T - t for t in range(1, T)) + beta_steps) * step,
        "d_sequences_b": d_seqs,
        "d_b": d_seqs * d_flops_per_seq,
        "d_b_executed": d_executed,
        "conv_share_skipped": conv_shared_saved / (d_seqs * conv_all),
        "total_b": sampling + d_executed,
        "sampling_a": looped_steps * 2 * 4 * H * (E + H) + looped_outputs * 2 * H * V,
        "d_a": N * B * T * d_flops_per_seq,
    }


# ------------------------------------------------------------------------------ profile
def profile_ours(run) -> tuple[str, list[dict], dict[str, float]]:
    """Profile ``run()`` (one reward batch of (b)); return the top-10 table, rows, and time shares.

    Each op's self CPU time goes to a group named by the op and the ops it ran inside: inside
    ``D.score``, D's convolutions are its ``aten::mm`` calls and its highway the ``aten::addmm``
    (D's 1720 -> 2 output layer is in there too, 0.1% of its FLOPs); outside, ``aten::addmm`` is
    beta's output layer and gates (the output layer is 97% of those FLOPs). Ops under an
    ``aten::addmm`` (its bias broadcast ``copy_``) count with it. Input shapes are not recorded:
    ``record_shapes=True`` changed the allocation pattern here (2.2M page faults, 21 s of system
    time for one batch, vs 0.5-0.8M and ~1.4 s unprofiled).
    """
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    top = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    rows = [{"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1e3, "calls": e.count} for e in top]

    def group(ev) -> str:
        names, parent = [], ev
        while parent is not None:  # the op and everything it ran inside
            names.append(parent.name)
            parent = parent.cpu_parent
        in_d, name = "D.score" in names, ev.name
        if in_d:
            if "aten::mm" in names:
                return "D convolutions (mm)"
            if "aten::addmm" in names:
                return "D highway (addmm)"
            if name == "aten::amax":
                return "D max-pool (amax)"
            if name in ("aten::fill_", "aten::copy_", "aten::zero_"):
                return "D window buffer (fill_, copy_)"
            return "D other"
        if "aten::addmm" in names:
            return "beta output layer + gates (addmm)"
        if name in ("aten::sigmoid", "aten::tanh", "aten::mul", "aten::add"):
            return "beta LSTM cell (elementwise)"
        for key in ("softmax", "cumsum", "searchsorted"):
            if key in name:
                return key
        return "other"

    shares: dict[str, float] = defaultdict(float)
    for ev in prof.events():  # D.score's own self time (Python around D's ops) counts as "D other"
        shares[group(ev)] += ev.self_cpu_time_total
    total = sum(shares.values()) or 1.0
    shares = {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
    return table, rows, shares


# ------------------------------------------------------------------------------ machine


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build(s: Sizes, seed: int = 0):
    """The paper's D (random init, eval), beta (a N(0, 0.1) generator), its sequences, the oracle."""
    torch.manual_seed(seed)
    widths = [(w, n) for w, n in zip(PAPER_FILTER_SIZES, PAPER_NUM_FILTERS) if w <= s.seq_len]
    sizes, counts = [w for w, _ in widths], [n for _, n in widths]
    disc = Discriminator(s.vocab_size, s.seq_len, filter_sizes=sizes, num_filters=counts).eval()
    rng = torch.Generator().manual_seed(seed)
    gen = LSTMLanguageModel(s.vocab_size, s.seq_len, s.emb_dim, s.hidden_dim).init_normal_(0.1, rng)
    policy = RolloutPolicy(gen)
    sequences = gen.sample(s.batch, rng=rng)
    oracle, oracle_name = None, f"random_oracle(0, V={s.vocab_size})"
    if s.vocab_size == 5000:
        try:
            path = find_paper_oracle()
            oracle, oracle_name = load_oracle(path, seq_len=s.seq_len), str(path)
        except FileNotFoundError:
            pass
    if oracle is None:
        oracle = random_oracle(0, vocab_size=s.vocab_size, seq_len=s.seq_len)
    d_flops = discriminator_flops(s.seq_len, PAPER_EMB_DIM, sizes, counts)
    return disc, policy, sequences, oracle, oracle_name, d_flops


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="benchmarks/results/rollout_speed.json", help="JSON output path")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each measurement (median)")
    p.add_argument("--multinomial-reps", type=int, default=2,
                   help="repetitions of (a) with torch.multinomial (~4x slower sampling; 0 skips)")
    p.add_argument("--quick", action="store_true", help="smoke test: small sizes, 1 repetition")
    args = p.parse_args()
    s = QUICK if args.quick else PAPER
    reps = 1 if args.quick else args.reps
    torch.set_num_threads(args.threads)
    machine = machine_info(args.threads)
    B, N, T = s.batch, s.n_rollouts, s.seq_len

    disc, policy, sequences, oracle, oracle_name, d_flops = build(s)
    reward = DiscriminatorReward(disc)
    before = WholeSequences(DiscriminatorReward(disc, batch_size=2048))
    beta = policy.model
    envs = {mode: SeqGANVectorEnv(num_envs=B, vocab_size=s.vocab_size, seq_len=T, n_rollouts=N,
                                  intermediate_reward=mode, reward_model=reward, rollout_policy=policy,
                                  device="cpu")
            for mode in ("terminal", "mc_rollout")}
    mm_a, mm_b = torch.randn(s.matmul_n, s.matmul_n), torch.randn(s.matmul_n, s.matmul_n)
    mm_out = torch.empty(s.matmul_n, s.matmul_n)

    # warm-up: allocator, BLAS kernels, first-call paths (a few percent of one batch)
    rollout_rewards(sequences[:4], policy, reward, 2, seeded(1))
    reward.score(sequences.repeat(max(1, 1024 // B), 1))

    runs: dict[str, list[dict]] = defaultdict(list)
    mm_times: list[float] = []
    env_sps: dict[str, list[float]] = defaultdict(list)
    loadavg_during = []
    for rep in range(reps):  # every variant once per repetition, interleaved
        mm_times += matmul_seconds(mm_a, mm_b, mm_out)
        runs["a_looped_fast_sampler"].append(timed_call(partial(
            looped_rollout_rewards, sequences, beta, n_rollouts=N, rng=seeded(100 + rep)), reward))
        runs["b_ours"].append(timed_call(partial(
            rollout_rewards, sequences, policy, n_rollouts=N, rng=seeded(100 + rep)), reward))
        runs["b_before"].append(timed_call(partial(
            rollout_rewards, sequences, policy, n_rollouts=N, rng=seeded(100 + rep)), before))
        if rep < args.multinomial_reps:
            runs["a_looped_multinomial"].append(timed_call(partial(
                looped_rollout_rewards, sequences, beta, n_rollouts=N, rng=seeded(200 + rep),
                sample=sample_multinomial), reward))
        env_sps["terminal"].append(env_steps_per_second(envs["terminal"], s.terminal_episodes, rep))
        env_sps["mc_rollout"].append(env_steps_per_second(envs["mc_rollout"], 1, rep))
        loadavg_during.append(os.getloadavg()[0])

    # the two forms agree where they must: Q at t = T is D(Y) in both
    q_a, q_b = runs["a_looped_fast_sampler"][0]["q"], runs["b_ours"][0]["q"]
    assert q_a.shape == q_b.shape == (B, T)
    assert torch.allclose(q_a[:, -1], q_b[:, -1], atol=1e-5), "Q at t = T differs between (a) and (b)"
    q_gap = float((q_a[:, :-1] - q_b[:, :-1]).abs().mean())

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[variant])

    keys = ("total_s", "sampling_s", "d_s", "total_cpu_s", "sampling_cpu_s", "d_cpu_s", "sys_cpu_s",
            "minor_faults")
    results = {v: {k: median(v, k) for k in keys} | {
        "reps_total_s": [r["total_s"] for r in runs[v]], "scored_sequences": runs[v][0]["scored_sequences"]}
        for v in runs}
    b = results["b_ours"]
    for v in results:
        results[v]["ratio_to_b"] = results[v]["total_s"] / b["total_s"]
        results[v]["cpu_ratio_to_b"] = results[v]["total_cpu_s"] / b["total_cpu_s"]

    flops = flop_counts(s, d_flops)
    mm_gflops = 2 * s.matmul_n**3 / statistics.median(mm_times) / 1e9
    rates = {"total": flops["total_b"] / b["total_s"] / 1e9,
             "d": flops["d_b_executed"] / b["d_s"] / 1e9,
             "sampling": flops["sampling_b"] / b["sampling_s"] / 1e9}
    fractions = {k: v / mm_gflops for k, v in rates.items()}

    table, top_ops, shares = profile_ours(
        lambda: rollout_rewards(sequences, policy, TimedReward(reward), N, seeded(999)))
    summary = "where the time goes (share of profiled self CPU time): " + ", ".join(
        f"{k} {100 * v:.0f}%" for k, v in shares.items() if v >= 0.005)
    machine["loadavg_during_1min"] = loadavg_during
    machine["loadavg_end"] = list(os.getloadavg())

    # ------------------------------------------------------------------ report
    la = machine["loadavg_start"]
    print(f"\n## One reward batch: B={B}, N={N}, T={T}, V={s.vocab_size}{' (QUICK)' if args.quick else ''}\n")
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch "
          f"{machine['torch']}, {args.threads} threads (OMP_WAIT_POLICY={machine['OMP_WAIT_POLICY']}); "
          f"load average at start {la[0]:.2f} "
          f"{la[1]:.2f} {la[2]:.2f}, 1-min after each rep {[round(x, 2) for x in loadavg_during]}. "
          f"Median of {reps} rep(s); (a') {len(runs['a_looped_multinomial'])} rep(s).\n")
    print("| variant | total s | sampling s | D s | CPU s (sampling + D) | D sequences | total / (b) "
          "| CPU s / (b) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    names = {"a_looped_fast_sampler": "(a) looped, inverse-CDF sampler (ours)",
             "a_looped_multinomial": "(a') looped, torch.multinomial (as ports)",
             "b_before": "(b0) ours before: every completion scored whole, chunks of 2048",
             "b_ours": "(b) ours: rollout_rewards"}
    for v, label in names.items():
        if v in results:
            r = results[v]
            print(f"| {label} | {r['total_s']:.2f} | {r['sampling_s']:.2f} | {r['d_s']:.2f} | "
                  f"{r['total_cpu_s']:.2f} ({r['sampling_cpu_s']:.2f} + {r['d_cpu_s']:.2f}) | "
                  f"{r['scored_sequences']} | {r['ratio_to_b']:.2f}x | {r['cpu_ratio_to_b']:.2f}x |")
    print(f"\nSeconds are wall time; CPU s is this process's CPU time (both threads, user + system). "
          f"Split: D = time inside RewardModel.score (a TimedReward wrapper), sampling = the "
          f"rest. Check: Q[:, T] equal in (a) and (b); mean |Q_a - Q_b| over t < T = {q_gap:.4f} "
          f"(different random draws). (b) per batch: {b['sys_cpu_s']:.2f} s of its CPU s is system "
          f"time, {b['minor_faults']:,.0f} minor page faults (first touch of freshly mapped memory).\n")
    print("| FLOPs of (b) | GFLOP | seconds | GFLOP/s | of matmul rate |")
    print("|---|---:|---:|---:|---:|")
    for key, fkey, tkey in (("total", "total_b", "total_s"), ("D", "d_b_executed", "d_s"),
                            ("sampling", "sampling_b", "sampling_s")):
        rate = rates[key.lower()]
        print(f"| {key} | {flops[fkey] / 1e9:.1f} | {b[tkey]:.2f} | {rate:.1f} | "
              f"{100 * rate / mm_gflops:.0f}% |")
    print(f"| fp32 torch.mm {s.matmul_n}^2 (median of {len(mm_times)}) | "
          f"{2 * s.matmul_n**3 / 1e9:.1f} | {statistics.median(mm_times):.3f} | {mm_gflops:.1f} | 100% |")
    speedup = results["a_looped_fast_sampler"]["ratio_to_b"]
    ports = results.get("a_looped_multinomial", {}).get("ratio_to_b", float("nan"))
    targets = {"b_speedup_over_a_multinomial": {"target": 10.0, "measured": ports, "met": ports >= 10.0},
               "b_speedup_over_a": {"target": 5.0, "measured": speedup, "met": speedup >= 5.0},
               "fraction_of_matmul_rate": {"target": 0.40, "measured": fractions["total"],
                                           "met": fractions["total"] >= 0.40}}
    verdict = {k: "met" if v["met"] else "NOT met" for k, v in targets.items()}
    print(f"\nTargets: (b) >= 10x faster than (a') as ports write it: {ports:.2f}x "
          f"({verdict['b_speedup_over_a_multinomial']}); >= 5x faster than (a): {speedup:.2f}x "
          f"({verdict['b_speedup_over_a']}); >= 40% of the matmul rate: "
          f"{100 * fractions['total']:.0f}% ({verdict['fraction_of_matmul_rate']}). (b0) -> (b): "
          f"{results['b_before']['total_s'] / b['total_s']:.2f}x.")
    print(f"\nFLOPs: LSTM step per row {flops['formulas']['lstm_step_per_row']}; sampling "
          f"{flops['formulas']['sampling_b']}; D {flops['formulas']['d_b']} "
          f"({d_flops:,} per sequence).\n")
    print(f"| SeqGANVectorEnv, num_envs={B} | steps/s (median) |")
    print("|---|---:|")
    for mode, values in env_sps.items():
        print(f"| intermediate_reward={mode} | {statistics.median(values):,.0f} |")
    print(f"\nOracle: {oracle_name}. Steps/s = env.step calls x num_envs / seconds over full episodes "
          f"of T steps, random actions.\n")
    print("Reference numbers (NOT measured by this run; earlier measurements on this machine):")
    for k, v in REFERENCE_NUMBERS.items():
        print(f"- {k}: {v}")
    print("\n## Profile of (b), top 10 ops by self CPU time\n")
    print(table)
    print(summary)

    out = {
        "benchmark": "rollout_speed", "quick": args.quick, "sizes": asdict(s), "reps": reps,
        "machine": machine,
        "reward_batch": {
            "results": results,
            "split": "D = time inside RewardModel.score (TimedReward wrapper); sampling = total - D; "
                     "*_s wall seconds, *_cpu_s process CPU seconds (all threads, user + system)",
            "a_note": "(a) uses seqgan_gym.models.sampling.sample_categorical, the same sampler as (b), "
                      "so the "
                      "ratio isolates the loop structure; (a') samples with torch.multinomial",
            "mean_abs_q_gap_t_lt_T": q_gap,
        },
        "flops": flops,
        "rates_gflops": rates | {"matmul": mm_gflops},
        "fraction_of_matmul_rate": fractions,
        "matmul": {"n": s.matmul_n, "seconds": mm_times},
        "vector_env_steps_per_s": {m: {"median": statistics.median(v), "reps": v}
                                   for m, v in env_sps.items()},
        "oracle": oracle_name,
        "profile": {"top_ops_self_cpu": top_ops, "shares": shares, "summary": summary},
        "reference_not_measured_here": REFERENCE_NUMBERS,
        "targets": targets,
    }
    atomic_write_json(args.out, out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
