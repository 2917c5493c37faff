"""One factory for the generator's RL algorithm (``cfg.algo``), as :mod:`seqgan_gym.algorithm1` uses it."""

from __future__ import annotations

import torch
from stable_baselines3.common.logger import Logger

from seqgan_gym.agents.protocol import Agent, make_user_agent
from seqgan_gym.agents.reinforce import Reinforce
from seqgan_gym.agents.sb3 import SB3GeneratorUpdates, SeqGANSB3VecEnv, make_sb3_agent
from seqgan_gym.config import ALGORITHMS, ExperimentConfig
from seqgan_gym.models.lstm import LSTMLanguageModel


def make_agent(cfg: ExperimentConfig, env, generator: LSTMLanguageModel, seed: int, logger: Logger,
               device: torch.device | str = "cpu") -> Agent:
    """The agent of ``cfg.algo`` on ``env`` (a :class:`~seqgan_gym.envs.SeqGANVectorEnv`): an
    :class:`~seqgan_gym.agents.protocol.Agent` (``generator``, ``update() -> dict``,
    ``state_dict`` / ``load_state_dict``).

    REINFORCE (the paper's) trains ``generator`` itself; PPO / A2C (stable-baselines3) and
    MaskablePPO (sb3-contrib) train a policy whose actor starts from ``generator``'s weights; a
    ``cfg.algo`` of the form ``module:Class`` builds your class (see :mod:`seqgan_gym.agents.protocol`).

    :param cfg: the algorithm and its settings (``algo``, ``gen_lr`` / ``sb3_lr``, ``grad_clip``,
        ``reinforce_baseline``, ``kl_coef``, ``kl_target``, the ``sb3_*`` fields).
    :param seed: the seed of the agent's sampling (and of the environment's first reset).
    :param logger: an SB3 logger for the algorithm's own statistics.
    """
    if cfg.algo not in ALGORITHMS:  # your own agent: 'module:Class' or 'path/to/file.py:Class'
        return make_user_agent(cfg.algo, generator, env, seed=seed, config=cfg)
    if cfg.algo == "reinforce":
        return Reinforce(generator, env, lr=cfg.gen_lr, grad_clip=cfg.grad_clip, seed=seed, logger=logger,
                         baseline=cfg.reinforce_baseline, kl_coef=cfg.kl_coef, kl_target=cfg.kl_target)
    model = make_sb3_agent(cfg.algo, SeqGANSB3VecEnv(env), generator, learning_rate=cfg.sb3_lr, seed=seed,
                           device=device, max_grad_norm=cfg.grad_clip, **cfg.sb3_kwargs())
    model.set_logger(logger)
    return SB3GeneratorUpdates(model, kl_coef=cfg.kl_coef, kl_target=cfg.kl_target)
