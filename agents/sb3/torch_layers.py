"""The features extractor that reads prefix observations with the generator's embedding and LSTM."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from seqgan_gym._kernels.lstm import run_lstm
from seqgan_gym._kernels.prefixes import prefix_sources
from seqgan_gym.models.lstm import LSTMLanguageModel


class PrefixLSTMExtractor(BaseFeaturesExtractor):
    """The generator's embedding + LSTM over the prefix: observations (M, T) -> h_t (M, H).

    The observation holds the written tokens first and -1 after them. The LSTM reads the start
    token and the written tokens; the feature is its output after the last written one (after
    the start token alone for an empty prefix), i.e. the state from which the generator predicts
    the next token. Recomputed from the prefixes at every call (no recurrent state to carry through
    SB3's buffers), but not once per observation: the LSTM is causal, so an observation whose
    prefix another observation of the batch extends is read off that one's pass
    (:func:`prefix_sources`; the policy finds those once for the actor's and the critic's
    extractor). A PPO minibatch of 256 observations drawn from 64 whole episodes runs the LSTM
    over at most 64 rows; and a pass stops at the longest prefix of the batch (at step t of a
    rollout, t + 1 positions instead of T + 1). Same features as one pass per observation up to
    float rounding (tests/test_sb3.py).

    :param observation_space: the env's ``Box(-1, V-1, (T,), int64)``.
    :param emb_dim, hidden_dim, start_token: as :class:`~seqgan_gym.models.lstm.LSTMLanguageModel`.
    """

    def __init__(self, observation_space: spaces.Box, emb_dim: int = 32, hidden_dim: int = 32,
                 start_token: int = 0) -> None:
        super().__init__(observation_space, features_dim=hidden_dim)
        seq_len = int(observation_space.shape[0])
        vocab_size = int(np.max(observation_space.high)) + 1
        self.generator = LSTMLanguageModel(vocab_size, seq_len, emb_dim, hidden_dim, start_token)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        tokens = observations.long()  # SB3 hands Box observations over as floats
        return self.read(tokens, prefix_sources(tokens))

    def read(self, tokens: torch.Tensor, sources: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The features of ``tokens`` (M, T) long, given their :func:`prefix_sources` (which the
        actor's and the critic's extractors share: :meth:`_GeneratorActor.extract_features`)."""
        if tokens.shape[0] == 0:
            return tokens.new_zeros(0, self.features_dim, dtype=torch.float32)
        reads, source = sources
        written = (tokens >= 0).sum(1)  # (M,) t, the prefix length
        span = int(written.max())  # the positions any observation needs: start token + span tokens
        inputs = torch.cat([self.generator.start_tokens(len(reads))[:, None],
                            reads[:, :span].clamp(min=0)], 1)  # (U, span + 1)
        hidden = run_lstm(self.generator.lstm, self.generator.embedding(inputs))  # (U, span + 1, H)
        return hidden[source, written]  # (M, H)
