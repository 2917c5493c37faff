"""The named random streams of a run: one table, one seed per stream, all derived from ``cfg.seed``.

The random draws of a training run come from seeded ``torch.Generator`` objects (``rng``), one per
stream, so a run repeats exactly and changing one part of it (say, how often D's signal is
measured) leaves every other stream untouched. The exceptions: D's CNN is initialised from
``cfg.seed`` itself (:func:`~seqgan_gym.models.discriminator.paper_discriminator`), D's dropout draws from
torch's global RNG (seeded from ``torch_global``), and an SB3 agent samples from the global RNGs,
which SB3 seeds from the ``agent`` stream's seed. A stream's seed is ``1000 * cfg.seed + offset``:
the offsets are the ones earlier versions used, scattered over several modules, so seeded runs
give the same numbers as before this table existed. (The data's own streams hang off
``cfg.data_seed`` and ``cfg.oracle_seed`` instead, in :mod:`seqgan_gym.data.shared` and
:mod:`seqgan_gym.models.oracle`: the real data is the same for every ``cfg.seed``.)
"""

from __future__ import annotations

import torch

#: offset of each named stream; see the module docstring.
STREAMS: dict[str, int] = {
    "generator_init": 0,  # G_theta's N(0, 0.1^2) initialisation
    "mle_shuffle": 1,  # the order of the MLE mini-batches
    "evaluation": 2,  # G's samples for NLL_oracle / BLEU during MLE pre-training
    "dis_pretrain_shuffle": 3,  # D pre-training's mini-batch order
    "agent": 4,  # the agent's action sampling and the environment's Monte-Carlo rollouts
    "dis_pretrain_negatives": 5,  # G's negatives for D pre-training
    "torch_global": 6,  # torch's global RNG: D's dropout masks
    "dis_shuffle": 7,  # D's mini-batch order in the adversarial d-steps
    "eval_command": 9,  # `seqgan-gym eval`
    "d_signal": 10,  # D's held-out AUC / oracle Spearman (its own stream: measuring changes nothing)
    "intermediate_init": 13,  # a learned intermediate reward's head (prefix discriminator, critic)
    "intermediate_shuffle": 14,  # its mini-batch order
    "samples_file": 99,  # the 100 samples written to samples.txt at the end of a run
    "adversarial_evaluation": 102,  # G's samples for NLL_oracle / BLEU during adversarial training
    "dis_negatives": 7 + 7919,  # G's fresh negatives in the adversarial d-steps
    # the benchmarks' own streams
    "ss_shuffle": 11,  # scheduled sampling's mini-batch order (benchmarks/paper_table.py)
    "ss_sampling": 12,  # scheduled sampling's own tokens
    "temperature_sweep": 200,  # G's samples at each temperature (paper_table.py)
    "bleu_samples": 500,  # each model's samples scored by BLEU (benchmarks/real_data.py)
    "real_subsample": 501,  # the real sequences scored beside them (real_data.py)
}


def stream_seed(seed: int, stream: str) -> int:
    """The seed of ``stream`` (a key of :data:`STREAMS`) in a run seeded with ``seed``."""
    if stream not in STREAMS:
        raise KeyError(f"unknown random stream {stream!r}; known: {', '.join(STREAMS)}")
    return 1000 * int(seed) + STREAMS[stream]


def stream_rng(seed: int, stream: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` for ``stream`` of a run seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, stream))
