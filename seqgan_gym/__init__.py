"""seqgan-gym: SeqGAN (Yu et al., AAAI 2017) as a Gymnasium environment plus RL agents.

``import seqgan_gym`` registers the environments with gymnasium (``SeqGAN-Oracle-v0``,
``SeqGAN-Text-v0``, ...) and is cheap: torch and the models load on first use of a name below
(``seqgan_gym.LSTMLanguageModel``, ...). The command line relies on this to set
``OMP_WAIT_POLICY`` before torch starts (see :mod:`seqgan_gym.cli`).
"""

from importlib import import_module

import seqgan_gym.envs  # noqa: F401  (registers the environment ids; loads no model code)

__version__ = "0.1.0"

_LAZY = {"LSTMLanguageModel": "seqgan_gym.lstm", "load_corpus": "seqgan_gym.corpus",
         "load_oracle": "seqgan_gym.oracle", "random_oracle": "seqgan_gym.oracle"}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqgan_gym' has no attribute {name!r}")
