"""How fast is a whole SB3 PPO ``learn()`` on the SeqGAN environment? Environment steps per second.

Everything is included: the batched environment (``SeqGANVectorEnv`` behind the SB3 adapter
:class:`seqgan_gym.agents.SeqGANSB3VecEnv`, ``intermediate_reward="terminal"``: the paper's CNN D scores
the B finished sequences at t = T), the policy's forward pass while collecting, SB3's rollout
buffer, and PPO's 4 epochs of minibatches of 256. The agent is built as ``seqgan-gym train --algo
ppo`` builds it (:func:`seqgan_gym.agents.make_agent` on the preset's config: n_steps = T, B =
``num_envs`` sequences per update, the generator as actor, a separate LSTM critic); the generator
is a N(0, gen_init_std) one of the preset's sizes (speed does not depend on its weights). One
``update()`` is one ``learn()`` of B x T steps. The anchor: RL4LMs' PPO runs at about 16 steps/s
(their issue #76); the target here is 5,000 steps/s.

Policy variants, timed side by side in one process (interleaved, median over ``--reps``):

- ``before``: the adapter as it was: the LSTM runs over the whole (T + 1)-token prefix once per
  observation, and SB3's ``CategoricalDistribution`` (``torch.distributions.Categorical`` with
  its argument checks; ``torch.multinomial`` sampling; log-probability and entropy backward
  through autograd);
- ``+prefix dedupe``: :class:`~seqgan_gym.agents.sb3.torch_layers.PrefixLSTMExtractor` as it is now (one LSTM
  pass per distinct longest prefix of the batch, cut at the longest prefix);
- ``+blockwise log-prob``: also :class:`~seqgan_gym.agents.sb3.distributions.GeneratorCategorical`'s
  log-probability and entropy, blockwise with their closed-form backward and no argument checks,
  still sampling with ``torch.multinomial`` (the same draws as ``before``);
- ``+inverse-CDF sampling``: also its inverse-CDF draws;
- ``+fused Adam``: also a fused Adam. ``before`` and the steps between use SB3's unfused Adam;
- ``+kept probabilities``: also the log-probability backward reuses the forward's probabilities
  instead of recomputing the output layer (the steps before it: :class:`RecomputedCategorical`);
- ``after (+log-prob from the draw)``: the adapter as it is (``make_agent``), which while
  collecting also takes the actions' log-probabilities from the sampling pass instead of a second
  pass through the output layer.

Each is timed per update: wall and process CPU seconds, split into ``collect_rollouts`` and
``train`` (the rest is SB3's per-``learn()`` set-up and logging). A profile of ``after`` says where
its time goes (policy forward, environment, SB3's own work while collecting; forward, backward,
Adam while training) and lists the top ops by self CPU time.

Run (``--quick``: smoke sizes only, 1 repetition, 1 thread unless ``--threads``; seconds)::

    .venv/bin/python benchmarks/ppo_speed.py [--threads 1 2] [--reps 3] [--updates 3] [--out PATH] [--quick]
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

# As in rollout_speed.py: passive OpenMP waiting on a shared machine; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from common import machine_info, matmul_gflops  # benchmarks/common.py (this folder is on sys.path)
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy

from seqgan_gym._kernels.log_prob_entropy import _forward_blocks, _LogProbEntropy
from seqgan_gym.agents import make_agent
from seqgan_gym.agents.sb3 import (
    GeneratorCategorical,
    GeneratorPolicy,
    PrefixLSTMExtractor,
    SB3GeneratorUpdates,
    SeqGANSB3VecEnv,
    make_sb3_agent,
)
from seqgan_gym.config import ExperimentConfig, get_preset
from seqgan_gym.envs import SeqGANVectorEnv
from seqgan_gym.models.discriminator import paper_discriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.sampling import sample_categorical
from seqgan_gym.rewards.reward_models import DiscriminatorReward
from seqgan_gym.utils import atomic_write_json

ANCHOR = {"RL4LMs PPO (their issue #76)": 16.0}  # steps/s; not measured here
TARGET_STEPS_PER_S = 5000.0


# ----------------------------------------------------------------------------- the variants
class FullPrefixExtractor(PrefixLSTMExtractor):
    """The extractor as it was: the LSTM over every observation's whole (T + 1)-token input."""

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        tokens = observations.long()
        m = tokens.shape[0]
        written = (tokens >= 0).sum(1)
        inputs = torch.cat([self.generator.start_tokens(m)[:, None], tokens.clamp(min=0)], 1)
        hidden, _ = self.generator.lstm(self.generator.embedding(inputs))
        return hidden[torch.arange(m, device=hidden.device), written]


class DrawOnlyCategorical(GeneratorCategorical):
    """GeneratorCategorical whose sample() returns the draws only: log_prob makes its own pass."""

    def sample(self) -> torch.Tensor:
        return sample_categorical(self.output(self.hidden))


class _RecomputingLogProbEntropy(_LogProbEntropy):
    """The log-probability and entropy kernel as it was before it kept its forward's
    probabilities: the forward exponentiates into a scratch block, the backward always recomputes
    the logits and probabilities."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, actions):
        rows = hidden.shape[0]
        hidden1 = torch.cat([hidden, hidden.new_ones(rows, 1)], 1)  # (M, H + 1)
        weight1 = torch.cat([weight.t(), bias[None]]).contiguous()  # (H + 1, V)
        log_prob, entropy, lse, totals = _forward_blocks(hidden1, weight1, actions, None)
        ctx.kept = None
        ctx.save_for_backward(hidden1, weight1, actions, lse, entropy, totals)
        return log_prob, entropy


class RecomputedCategorical(DrawOnlyCategorical):
    """... whose backward also recomputes the logits and probabilities."""

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        if self.hidden is None or actions.numel() != len(self.hidden):
            return super().log_prob(actions)
        log_prob, self._entropy = _RecomputingLogProbEntropy.apply(
            self.hidden, self.output.weight, self.output.bias, actions.long().reshape(-1))
        return log_prob

    def entropy(self) -> torch.Tensor:
        if self._entropy is not None or self.hidden is None:
            return super().entropy()
        zeros = torch.zeros(len(self.hidden), dtype=torch.long, device=self.hidden.device)
        return _RecomputingLogProbEntropy.apply(self.hidden, self.output.weight, self.output.bias, zeros)[1]


class VariantPolicy(GeneratorPolicy):
    """The adapter's policy with another action distribution, ``distribution_class``."""

    distribution_class: type = GeneratorCategorical

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.action_dist = self.distribution_class(self.action_space.n)


class KeptProbabilitiesPolicy(VariantPolicy):
    """+ kept probabilities: the adapter's policy, its log-probabilities from a pass of their own."""

    distribution_class = DrawOnlyCategorical


class FusedAdamPolicy(VariantPolicy):
    """+ fused Adam: the adapter's policy, its backward recomputing the probabilities."""

    distribution_class = RecomputedCategorical


class UnfusedAdamPolicy(FusedAdamPolicy):
    """SB3's own Adam (eps 1e-5, not fused), as the adapter had it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{"optimizer_kwargs": {"eps": 1e-5}, **kwargs})


class InverseCDFPolicy(UnfusedAdamPolicy):
    """+ inverse-CDF sampling: the adapter's distribution, unfused Adam."""


class MultinomialCategorical(RecomputedCategorical):
    """GeneratorCategorical sampling with torch.multinomial (Categorical.sample), as SB3 does."""

    def sample(self) -> torch.Tensor:
        return self.distribution.sample()


class BlockwiseLogProbPolicy(UnfusedAdamPolicy):
    """+ blockwise log-prob and entropy: still torch.multinomial, unfused Adam."""

    distribution_class = MultinomialCategorical


class PrefixDedupePolicy(UnfusedAdamPolicy):
    """+ prefix dedupe: SB3's own CategoricalDistribution (checked arguments, multinomial, autograd)."""

    distribution_class = CategoricalDistribution
    _get_action_dist_from_latent = ActorCriticPolicy._get_action_dist_from_latent


class BeforePolicy(PrefixDedupePolicy):
    """The adapter as it was: the full-prefix extractor too."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "features_extractor_class": FullPrefixExtractor})


VARIANTS = {"before": BeforePolicy, "+prefix dedupe": PrefixDedupePolicy,
            "+blockwise log-prob": BlockwiseLogProbPolicy, "+inverse-CDF sampling": InverseCDFPolicy,
            "+fused Adam": FusedAdamPolicy, "+kept probabilities": KeptProbabilitiesPolicy,
            "after (+log-prob from the draw)": None}
AFTER = "after (+log-prob from the draw)"


# ----------------------------------------------------------------------------- building and timing
def preset_config(name: str, num_envs: int | None) -> ExperimentConfig:
    changes = ["algo=ppo"] + ([f"num_envs={num_envs}"] if num_envs else [])
    return get_preset(name).override(changes).validate()


def build_agent(cfg: ExperimentConfig, policy: type | None, seed: int = 0) -> SB3GeneratorUpdates:
    """PPO as ``seqgan-gym train --algo ppo`` builds it (``make_agent``), in terminal mode; with
    ``policy`` given, the same arguments with that policy class instead."""
    generator = LSTMLanguageModel(cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
    generator.init_normal_(cfg.gen_init_std, rng=torch.Generator().manual_seed(seed))
    reward = DiscriminatorReward(paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=seed))
    env = SeqGANVectorEnv(num_envs=cfg.num_envs, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                          intermediate_reward="terminal", reward_model=reward, device="cpu")
    logger = Logger(None, [])
    if policy is None:
        return make_agent(cfg, env, generator, seed, logger)
    model = make_sb3_agent(cfg.algo, SeqGANSB3VecEnv(env), generator, learning_rate=cfg.sb3_lr, seed=seed,
                           device="cpu", max_grad_norm=cfg.grad_clip, policy=policy)
    model.set_logger(logger)
    return SB3GeneratorUpdates(model, kl_coef=cfg.kl_coef, kl_target=cfg.kl_target)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PhaseTimer:
    """Wall seconds inside the wrapped methods of one agent, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj, name: str, label: str) -> None:
        method = getattr(obj, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start

        setattr(obj, name, timed)


def timed_updates(agent: SB3GeneratorUpdates, timer: PhaseTimer, updates: int) -> dict:
    """``updates`` generator updates; per-update wall / CPU seconds and the collect / train split."""
    timer.seconds.clear()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    for _ in range(updates):
        agent.update()
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return {"wall_s": wall / updates, "cpu_s": cpu / updates,
            "collect_s": timer.seconds["collect"] / updates, "train_s": timer.seconds["train"] / updates}


def instrument(agent: SB3GeneratorUpdates) -> PhaseTimer:
    timer = PhaseTimer()
    timer.wrap(agent.model, "collect_rollouts", "collect")
    timer.wrap(agent.model, "train", "train")
    return timer


@contextlib.contextmanager
def backward_timer(timer: PhaseTimer):
    original = torch.Tensor.backward

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            timer.seconds["train: backward"] += time.perf_counter() - start

    torch.Tensor.backward = timed
    try:
        yield
    finally:
        torch.Tensor.backward = original


def breakdown(agent: SB3GeneratorUpdates, updates: int) -> dict:
    """Where one update's time goes, from timers around the pieces SB3 calls."""
    timer = PhaseTimer()
    model, policy = agent.model, agent.model.policy
    timer.wrap(model, "collect_rollouts", "collect")
    timer.wrap(model, "train", "train")
    timer.wrap(policy, "forward", "collect: policy forward (both LSTMs, logits, sample, log-prob)")
    timer.wrap(model.env, "step_wait", "collect: environment step (incl. D at t = T)")
    timer.wrap(policy, "evaluate_actions", "train: forward (evaluate_actions)")
    timer.wrap(policy.optimizer, "step", "train: Adam step")
    with backward_timer(timer):
        wall0 = time.perf_counter()
        for _ in range(updates):
            agent.update()
        wall = time.perf_counter() - wall0
    s = {k: v / updates for k, v in timer.seconds.items()}
    parts = {k: v for k, v in s.items() if ":" in k}
    parts["collect: SB3's own work (buffer, tensors, callbacks)"] = s["collect"] - sum(
        v for k, v in parts.items() if k.startswith("collect:"))
    parts["train: SB3's own work (minibatches, losses, clipping)"] = s["train"] - sum(
        v for k, v in parts.items() if k.startswith("train:"))
    parts["learn() set-up and logging"] = wall / updates - s["collect"] - s["train"]
    return {"update_s": wall / updates, "parts_s": dict(sorted(parts.items()))}


def top_ops(agent: SB3GeneratorUpdates, updates: int, rows: int = 12) -> tuple[str, list[dict]]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            agent.update()
    averages = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in averages) or 1.0
    listed = [{"op": e.key, "self_cpu_ms_per_update": e.self_cpu_time_total / 1e3 / updates,
               "share": e.self_cpu_time_total / total, "calls_per_update": e.count / updates}
              for e in averages[:rows]]
    table = "| op | self CPU ms / update | share | calls / update |\n|---|---:|---:|---:|\n" + "\n".join(
        f"| {r['op']} | {r['self_cpu_ms_per_update']:.1f} | {100 * r['share']:.0f}% | "
        f"{r['calls_per_update']:.0f} |" for r in listed)
    return table, listed


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="torch thread counts to time (default 1 2; 1 with --quick)")
    p.add_argument("--reps", type=int, default=3, help="repetitions, every variant once per repetition")
    p.add_argument("--updates", type=int, default=3, help="generator updates per variant per repetition")
    p.add_argument("--wide-envs", type=int, default=256,
                   help="also time the paper's V and T with this many sequences per update (0: skip)")
    p.add_argument("--quick", action="store_true", help="smoke sizes only, 1 repetition")
    p.add_argument("--out", default=None, help="JSON output (default benchmarks/results/ppo_speed.json, "
                                               "ppo_speed_quick.json with --quick)")
    args = p.parse_args()
    args.threads = args.threads or ([1] if args.quick else [1, 2])
    if args.quick:
        args.reps, args.updates, args.wide_envs = 1, 2, 0
    out = Path(args.out or Path(__file__).parent / "results" /
               ("ppo_speed_quick.json" if args.quick else "ppo_speed.json"))
    machine = machine_info(args.threads)
    command = " ".join([Path(sys.executable).name, *sys.argv])

    sizes = {"smoke": preset_config("smoke", None)} if args.quick else {
        "paper": preset_config("paper", None), "smoke": preset_config("smoke", None)}
    if args.wide_envs:
        sizes[f"paper, B={args.wide_envs}"] = preset_config("paper", args.wide_envs)
    wide_variants = ("before", AFTER)  # the wide batch: the two ends only

    # the fp32 matmul rate at each thread count, before and after the timings: host speeds differ
    # by more than the changes measured here, so runs on different days compare through it
    matmul = {threads: [] for threads in args.threads}
    for threads in args.threads:
        torch.set_num_threads(threads)
        matmul[threads].append(matmul_gflops())
    results: list[dict] = []
    for size, cfg in sizes.items():
        names = [v for v in VARIANTS if not size.startswith("paper, B=") or v in wide_variants]
        torch.manual_seed(0)
        agents = {v: build_agent(cfg, VARIANTS[v]) for v in names}
        timers = {v: instrument(agents[v]) for v in names}
        steps = cfg.num_envs * cfg.seq_len
        for threads in args.threads:
            torch.set_num_threads(threads)
            for v in names:  # warm-up: first-call paths, allocator
                agents[v].update()
            runs = defaultdict(list)
            for _ in range(args.reps):
                for v in names:
                    runs[v].append(timed_updates(agents[v], timers[v], args.updates))
            for v in names:
                med = {k: statistics.median(r[k] for r in runs[v]) for k in runs[v][0]}
                results.append({"size": size, "V": cfg.vocab_size, "T": cfg.seq_len, "B": cfg.num_envs,
                                "threads": threads, "variant": v, "steps_per_update": steps,
                                "steps_per_s": steps / med["wall_s"], **med,
                                "reps_wall_s": [r["wall_s"] for r in runs[v]]})
            print(f"[ppo_speed] {size}, {threads} thread(s): " + ", ".join(
                f"{r['variant']} {r['steps_per_s']:,.0f}" for r in results
                if r["size"] == size and r["threads"] == threads) + " steps/s", flush=True)

    # where the time goes: the adapter as it is, the paper's sizes (smoke in --quick), the first thread count
    profile_size = "smoke" if args.quick else "paper"
    torch.set_num_threads(args.threads[0])
    agent = build_agent(sizes[profile_size], None)
    agent.update()
    split = breakdown(agent, max(2, args.updates))
    ops_table, ops = top_ops(agent, max(1, args.updates // 2))
    for threads in args.threads:
        torch.set_num_threads(threads)
        matmul[threads].append(matmul_gflops())
    machine["loadavg_end"] = list(os.getloadavg())
    machine["matmul_gflops_fp32_2048"] = {str(t): v for t, v in matmul.items()}

    # ------------------------------------------------------------------ report
    la = machine["loadavg_start"]
    print(f"\n## PPO learn(): environment steps per second{' (QUICK)' if args.quick else ''}\n")
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
          f"OMP_WAIT_POLICY={machine['OMP_WAIT_POLICY']}; load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} "
          f"at start, {machine['loadavg_end'][0]:.2f} at the end. Median of {args.reps} repetition(s) "
          f"of {args.updates} update(s) per variant, variants interleaved. fp32 `torch.mm` 2048², "
          f"before / after the timings: " + "; ".join(
              f"{t} thread(s) {v[0]:.1f} / {v[1]:.1f} GFLOP/s" for t, v in matmul.items())
          + f". Command: `{command}`\n")
    print("| sizes (V, T, B) | threads | variant | steps/s | s / update | collect s | train s | "
          "CPU s / update | vs before | vs the row above, paired |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(results):
        before = next(b for b in results if b["size"] == r["size"] and b["threads"] == r["threads"]
                      and b["variant"] == "before")
        r["speedup_vs_before"] = r["steps_per_s"] / before["steps_per_s"]
        # each change on its own: the median over repetitions of the previous variant's seconds over
        # this one's in the same repetition (adjacent in time, so the host's drift mostly cancels)
        above = results[i - 1] if r["variant"] != "before" else None
        r["paired_speedup_vs_previous"] = statistics.median(
            a / w for a, w in zip(above["reps_wall_s"], r["reps_wall_s"])) if above else None
        paired = f"{r['paired_speedup_vs_previous']:.2f}x" if above else ""
        print(f"| {r['size']} ({r['V']}, {r['T']}, {r['B']}) | {r['threads']} | {r['variant']} | "
              f"{r['steps_per_s']:,.0f} | {r['wall_s']:.3f} | {r['collect_s']:.3f} | {r['train_s']:.3f} | "
              f"{r['cpu_s']:.3f} | {r['speedup_vs_before']:.2f}x | {paired} |")
    print(f"\nsteps/s = B x T environment steps per update / wall seconds per update (one "
          f"`learn()`: collect B x T steps, then PPO's 4 epochs of minibatches of 256). Anchor, not "
          f"measured here: {', '.join(f'{k} ~{v:g} steps/s' for k, v in ANCHOR.items())}. Target "
          f">= {TARGET_STEPS_PER_S:,.0f} steps/s.")
    if args.wide_envs:
        print(f"B={args.wide_envs} is NOT the paper's setting (64 sequences per update): it shows how "
              "steps/s change with the batch, four times the minibatches per update.")
    print(f"\n## Where the time goes: {AFTER}, {profile_size} sizes, {args.threads[0]} thread(s), "
          f"{split['update_s']:.3f} s per update\n")
    print("| part | s / update | share |\n|---|---:|---:|")
    for k, v in split["parts_s"].items():
        print(f"| {k} | {v:.3f} | {100 * v / split['update_s']:.0f}% |")
    print(f"\nTop ops by self CPU time (torch.profiler, {AFTER}, {profile_size} sizes):\n")
    print(ops_table)

    best = {f"{r['size']}, {r['threads']} thread(s)": r["steps_per_s"]
            for r in results if r["variant"] == AFTER}
    atomic_write_json(out, {
        "benchmark": "ppo_speed", "quick": args.quick, "command": command, "machine": machine,
        "reps": args.reps, "updates_per_rep": args.updates, "variants": list(VARIANTS),
        "results": results, "breakdown": {"sizes": profile_size, "threads": args.threads[0], **split},
        "top_ops": ops, "anchor_steps_per_s_not_measured": ANCHOR,
        "target": {"steps_per_s": TARGET_STEPS_PER_S, "after": best,
                   "met": {k: v >= TARGET_STEPS_PER_S for k, v in best.items()}},
    })
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
