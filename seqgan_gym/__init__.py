"""seqgan-gym: SeqGAN (Yu et al., AAAI 2017) as a Gymnasium environment plus RL agents."""

from seqgan_gym.corpus import load_corpus
from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.oracle import load_oracle, random_oracle

__version__ = "0.1.0"

__all__ = ["LSTMLanguageModel", "load_corpus", "load_oracle", "random_oracle", "__version__"]

# Registers SeqGAN-Oracle-v0 and the real-corpus ids (SeqGAN-Text-v0, ...) with gymnasium. Last,
# so the core modules it uses are loaded first.
import seqgan_gym.envs  # noqa: E402, F401

