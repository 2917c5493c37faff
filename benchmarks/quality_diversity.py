"""Quality-diversity curves of saved generators on the paper's oracle: NLL_oracle (quality) and
NLL_test (coverage) at each sampling temperature, and each curve's NLL_test where it crosses
NLL_oracle = 9.0 (Caccia et al. 2020: lower is better; their early-stopped MLE reads 7.71).

    .venv/bin/python benchmarks/quality_diversity.py --model mle=runs/X/checkpoints/generator_mle.pt \\
        --model seqgan=runs/X/checkpoints/generator_adv.pt [--temperatures 0.8 0.9 1.0 1.1 1.2]

The sweep is ``paper_table.temperature_sweep`` (the same code as the paper-table benchmark) on the
``cpu`` preset's data: the paper's oracle, its 10,000 held-out samples for NLL_test, 10,000 samples
of each model for NLL_oracle. Output: a markdown table and ``benchmarks/results/quality_diversity.json``.
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_table import quality_diversity_table, temperature_sweep

from seqgan_gym.config import get_preset
from seqgan_gym.experiment.setup import build_setup
from seqgan_gym.models.saving import load_language_model
from seqgan_gym.utils import atomic_write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.9, 1.0, 1.1, 1.2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/quality_diversity.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {}
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--model expects NAME=CHECKPOINT, got {item!r}")
        models[name] = load_language_model(path)
    start = time.time()
    setup = build_setup(get_preset("cpu"))
    for name, model in models.items():
        if (model.vocab_size, model.seq_len) != (setup.cfg.vocab_size, setup.cfg.seq_len):
            raise SystemExit(f"{name}: V={model.vocab_size}, T={model.seq_len}; the paper's setup has "
                             f"V={setup.cfg.vocab_size}, T={setup.cfg.seq_len}")
    sweep = temperature_sweep(setup, models, args.temperatures)
    print(quality_diversity_table(sweep))
    atomic_write_json(args.out, {"models": dict(arg.partition("=")[::2] for arg in args.model),
                                 "oracle_file": setup.oracle_file, "sweep": sweep,
                                 "wall_s": round(time.time() - start, 1)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
