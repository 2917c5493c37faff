"""seqgan-gym: SeqGAN (Yu et al., AAAI 2017) as a Gymnasium environment plus RL agents.

``import seqgan_gym`` registers the environments with gymnasium (``SeqGAN-Oracle-v0``,
``SeqGAN-Text-v0``, ...) and is cheap: torch and the models load on first use of a name below.
The command line relies on this to set ``OMP_WAIT_POLICY`` before torch starts (see
:mod:`seqgan_gym.run.cli`).

The public API, everything the three uses need (make the env; plug in an algorithm; compare
rewards)::

    from seqgan_gym import (SeqGANEnv, SeqGANVectorEnv,                      # the environments
                            LSTMLanguageModel, Discriminator, RolloutPolicy,  # G / oracle, D, beta
                            DiscriminatorReward, BleuReward, OracleLikelihoodReward, RewardModel,
                            Reinforce, Agent, DiscriminatorUpdateCallback, RolloutPolicyUpdateCallback,
                            SeqGANSB3VecEnv, make_sb3_agent,                  # agents
                            random_oracle, load_oracle, load_corpus, load_run, nll_oracle, nll_test)
"""

from importlib import import_module

import seqgan_gym.envs  # noqa: F401  (registers the environment ids; loads no model code)

__version__ = "0.1.0"

_LAZY = {
    # the environments
    "SeqGANEnv": "seqgan_gym.envs.seqgan_env",
    "SeqGANVectorEnv": "seqgan_gym.envs.vector_env",
    # the models: G_theta and the oracle, D_phi, beta
    "LSTMLanguageModel": "seqgan_gym.models.lstm",
    "Discriminator": "seqgan_gym.models.discriminator",
    "RolloutPolicy": "seqgan_gym.rewards.rollout",
    # the rewards: a finished sequence's score
    "RewardModel": "seqgan_gym.rewards.reward_models",
    "DiscriminatorReward": "seqgan_gym.rewards.reward_models",
    "BleuReward": "seqgan_gym.rewards.reward_models",
    "OracleLikelihoodReward": "seqgan_gym.rewards.reward_models",
    # the agents and what plugs them in
    "Agent": "seqgan_gym.agents.protocol",
    "Reinforce": "seqgan_gym.agents.reinforce",
    "DiscriminatorUpdateCallback": "seqgan_gym.agents.callbacks",
    "RolloutPolicyUpdateCallback": "seqgan_gym.agents.callbacks",
    "SeqGANSB3VecEnv": "seqgan_gym.agents.sb3.vec_env",
    "make_sb3_agent": "seqgan_gym.agents.sb3.updates",
    # data, saved runs and the metrics
    "random_oracle": "seqgan_gym.models.oracle",
    "load_oracle": "seqgan_gym.models.oracle",
    "load_corpus": "seqgan_gym.data.corpus",
    "load_run": "seqgan_gym.experiment.saved_run",
    "nll_oracle": "seqgan_gym.evaluation.metrics",
    "nll_test": "seqgan_gym.evaluation.metrics",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqgan_gym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
