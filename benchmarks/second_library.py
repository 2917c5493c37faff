"""TorchRL's PPO (``examples/torchrl_ppo.py``) against the bundled SB3 PPO, same task, same budget.

Both train a fresh generator on ``SeqGAN-Oracle-v0`` with the oracle's log-likelihood as the
terminal reward (V = 50, T = 8, 16 episodes per update, 4 epochs of minibatches of 64, lr 3e-3,
clip 0.2, GAE lambda 0.95, gamma 1), and report NLL_oracle (2,000 samples) before and after.
Prints a markdown table and writes JSON.

    pip install -e '.[torchrl]'
    python benchmarks/second_library.py [--seeds 0 1 2] [--updates 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqgan_gym import (
    LSTMLanguageModel,
    SeqGANSB3VecEnv,
    SeqGANVectorEnv,
    make_sb3_agent,
    nll_oracle,
    random_oracle,
)
from seqgan_gym.utils import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
V, T, EPISODES = 50, 8, 16


def bundled_ppo(seed: int, updates: int) -> dict:
    """The same task through the SB3 adapter (``make_sb3_agent``)."""
    torch.manual_seed(seed)
    oracle = random_oracle(seed=1, vocab_size=V, seq_len=T)
    g = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(seed))
    env = SeqGANVectorEnv(EPISODES, vocab_size=V, seq_len=T, reward_model="oracle", oracle=oracle,
                          intermediate_reward="terminal", device="cpu")
    model = make_sb3_agent("ppo", SeqGANSB3VecEnv(env), g, learning_rate=3e-3, seed=seed, device="cpu",
                           batch_size=64, n_epochs=4, gae_lambda=0.95, ent_coef=0.0)
    eval_rng = torch.Generator().manual_seed(seed)
    actor = model.policy.generator
    start = nll_oracle(actor, oracle, n_samples=2000, rng=eval_rng)
    began = time.time()
    model.learn(updates * EPISODES * T)
    end = nll_oracle(actor, oracle, n_samples=2000, rng=eval_rng)
    return {"seed": seed, "nll_oracle_start": start, "nll_oracle_end": end, "wall_s": time.time() - began}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--updates", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/second_library")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "examples"))
    import torchrl_ppo

    runs = {"torchrl_ppo": [], "bundled_sb3_ppo": []}
    for seed in args.seeds:
        began = time.time()
        runs["torchrl_ppo"].append({**torchrl_ppo.main(seed=seed, updates=args.updates), "wall_s": None})
        runs["torchrl_ppo"][-1]["wall_s"] = time.time() - began
        runs["bundled_sb3_ppo"].append(bundled_ppo(seed, args.updates))
    lines = [f"NLL_oracle before -> after {args.updates} PPO updates (V={V}, T={T}, {EPISODES} episodes per "
             f"update, oracle reward), seeds {args.seeds}, {args.threads} thread(s)", "",
             "| library | NLL_oracle start | NLL_oracle end (mean ± std) | per seed | wall s (mean) |",
             "| --- | ---: | ---: | --- | ---: |"]
    for name, rows in runs.items():
        start = np.array([r["nll_oracle_start"] for r in rows])
        end = np.array([r["nll_oracle_end"] for r in rows])
        spread = end.std(ddof=1) if len(end) > 1 else 0.0
        lines.append(f"| {name} | {start.mean():.3f} | {end.mean():.3f} ± {spread:.3f} "
                     f"| {', '.join(f'{s:.3f} → {e:.3f}' for s, e in zip(start, end))} "
                     f"| {np.mean([r['wall_s'] for r in rows]):.1f} |")
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "second_library.json", {"command": sys.argv, "runs": runs, "table": lines})
    return 0


if __name__ == "__main__":
    sys.exit(main())
