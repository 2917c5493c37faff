"""PG-BLEU against D: the same small SeqGAN run trained on each reward, two seeds, side by side.

    .venv/bin/python examples/compare_rewards.py [OUT]

It is ``seqgan-gym compare`` called from Python: each of the 2 rewards x 2 seeds is an ordinary
``seqgan-gym train`` run (smoke preset: a tiny random oracle, V = 200, T = 10; cut further below),
two at a time, in ``OUT/runs/``. It prints the table (per reward, NLL_oracle for quality and
NLL_test for diversity at the first and the last adversarial evaluation, mean ± std over the
seeds) and writes ``OUT/sweep.md``, ``OUT/sweep.json`` and the curves in ``OUT/sweep.png``. Run it
again with the same OUT and it keeps the finished runs. From the shell, the same comparison is::

    seqgan-gym compare --preset smoke --rewards discriminator bleu --seeds 0 1 --workers 2 \\
        --threads 1 --set adv_iterations=3 --set eval_every=1 --set dis_negatives=64 \\
        --set d_signal_samples=0 --out OUT

At this size the numbers say that the pipeline works, not which reward is better: for that, the
cpu preset (``--preset cpu``; ``seqgan-gym presets`` estimates its time here) and more seeds.
"""

import sys

from seqgan_gym.run.cli import main

ARGS = ["--preset", "smoke", "--rewards", "discriminator", "bleu", "--seeds", "0", "1",
        "--workers", "2", "--threads", "1",  # two runs at a time, one torch thread each
        "--set", "adv_iterations=3", "--set", "eval_every=1",
        "--set", "dis_negatives=64", "--set", "d_signal_samples=0"]  # a smaller D update, no D diagnostics

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/example-compare-rewards"
    sys.exit(main(["compare", *ARGS, "--out", out]))
