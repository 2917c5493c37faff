"""The SeqGAN environments (installed as ``seqgan_gym.envs``) and their registration.

``import seqgan_gym`` registers ``SeqGAN-Oracle-v0``::

    gymnasium.make("SeqGAN-Oracle-v0", **kwargs)               # SeqGANEnv
    gymnasium.make_vec("SeqGAN-Oracle-v0", num_envs=64, **kwargs)  # SeqGANVectorEnv (native batch)

Without importing seqgan_gym first, use the id ``"seqgan_gym:SeqGAN-Oracle-v0"``.
``make_vec(..., vectorization_mode="sync")`` also works (B single envs, no batched rollouts).
"""

from gymnasium.envs.registration import register, registry

from .seqgan_env import SeqGANEnv
from .vector_env import SeqGANVectorEnv

ENV_ID = "SeqGAN-Oracle-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="seqgan_gym.envs.seqgan_env:SeqGANEnv",
        vector_entry_point="seqgan_gym.envs.vector_env:SeqGANVectorEnv",
    )

__all__ = ["ENV_ID", "SeqGANEnv", "SeqGANVectorEnv"]
