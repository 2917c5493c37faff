"""Agents for the SeqGAN environments: REINFORCE, the callbacks that close the adversarial loop, and
the stable-baselines3 adapter (PPO, A2C with the MLE generator as actor), and :func:`make_agent`.

Installed as ``seqgan_gym.agents`` (the top-level folder ``agents/`` of the repository).
"""

from seqgan_gym.agents.callbacks import (
    DiscriminatorUpdateCallback,
    EveryNUpdates,
    RolloutPolicyUpdateCallback,
)
from seqgan_gym.agents.factory import make_agent
from seqgan_gym.agents.reinforce import Reinforce, reinforce_loss
from seqgan_gym.agents.sb3 import (
    GeneratorPolicy,
    PrefixLSTMExtractor,
    SB3GeneratorUpdates,
    SeqGANSB3VecEnv,
    make_sb3_agent,
)

__all__ = [
    "DiscriminatorUpdateCallback",
    "EveryNUpdates",
    "GeneratorPolicy",
    "PrefixLSTMExtractor",
    "Reinforce",
    "RolloutPolicyUpdateCallback",
    "SB3GeneratorUpdates",
    "SeqGANSB3VecEnv",
    "make_agent",
    "make_sb3_agent",
    "reinforce_loss",
]
