"""Slow, obviously correct reference implementations that only the tests use.

The package's fast paths are checked against these (bit for bit where the float arithmetic
allows). They live here, not in the package, because nothing but the tests calls them. Tests
import them as ``from references import ...``: pytest's default ``prepend`` import mode puts
``tests/`` (which has no ``__init__.py``) on ``sys.path``.
"""

from __future__ import annotations

import torch

from seqgan_gym.models.sampling import sample_from_uniforms
from seqgan_gym.rewards.reward_models import RewardModel
from seqgan_gym.rewards.rollout import RolloutPolicy, draw_uniforms


def nltk_sentence_scores(hyps, refs, n):
    """nltk's ``sentence_bleu`` of each hypothesis against ``refs``, uniform weights over orders
    1..n, ``SmoothingFunction(epsilon=0.1).method1``: the literature's (Texygen's) BLEU, one
    sentence at a time."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    method1 = SmoothingFunction(epsilon=0.1).method1
    return [sentence_bleu(refs, h, weights=(1 / n,) * n, smoothing_function=method1) for h in hyps]


@torch.no_grad()
def rollout_rewards_reference(
    sequences: torch.Tensor,
    policy: RolloutPolicy,
    reward_model: RewardModel,
    n_rollouts: int,
    rng: torch.Generator,
) -> torch.Tensor:
    """The slow, obviously correct Q (B, T): the looped form public ports use.

    For every sequence b, prefix length t < T and rollout n, it replays the prefix through beta from
    the start token, samples the rest one token at a time, scores that single sequence; Q[b, t-1]
    is the mean over the N rollouts, Q[b, T-1] the score of Y_b. It takes its uniforms from
    ``rng`` by the same draw schedule as :func:`seqgan_gym.rewards.rollout.rollout_rewards`, so both
    sample the same completions.
    """
    model = policy.model
    batch, seq_len = sequences.shape
    uniforms = [
        draw_uniforms(batch, n_rollouts, seq_len - t, rng, sequences.device)
        for t in range(1, seq_len)
    ]
    q = torch.zeros(batch, seq_len, dtype=torch.float32)
    for b in range(batch):
        for t in range(1, seq_len):
            total = 0.0
            for n in range(n_rollouts):
                # replay start token, y_1, ..., y_t
                state, token = model.initial_state(1), model.start_tokens(1)
                for i in range(t):
                    logits, state = model.step(token, state)
                    token = sequences[b : b + 1, i]
                logits, state = model.step(token, state)  # distribution of y_{t+1}
                u = uniforms[t - 1][b : b + 1, n]  # (1, T-t)
                # the first new token from beta's distribution, then one token at a time
                token = sample_from_uniforms(logits, u[:, :1]).reshape(1)
                seq = [*sequences[b, :t].tolist(), int(token)]
                for j in range(1, seq_len - t):
                    token, state = model.complete(token, state, 1, uniforms=u[:, j : j + 1])
                    token = token.reshape(1)
                    seq.append(int(token))
                completed = torch.tensor([seq], dtype=torch.long, device=sequences.device)
                total += float(reward_model.score(model.end_at_eos(completed))[0])
            q[b, t - 1] = total / n_rollouts
        q[b, seq_len - 1] = float(reward_model.score(model.end_at_eos(sequences[b : b + 1]))[0])
    return q.to(sequences.device)
