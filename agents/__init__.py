"""Agents for the SeqGAN environments: REINFORCE and the callbacks that close the adversarial loop.

Installed as ``seqgan_gym.agents`` (the top-level folder ``agents/`` of the repository).
"""

from seqgan_gym.agents.callbacks import DiscriminatorUpdateCallback
from seqgan_gym.agents.reinforce import Reinforce, reinforce_loss

__all__ = ["DiscriminatorUpdateCallback", "Reinforce", "reinforce_loss"]
