"""Training pieces shared by the CLI, the callbacks and the benchmarks.

* :func:`mle_epoch` - one epoch of maximum-likelihood pre-training of the generator
  (the paper: Adam lr 0.01, gradient-norm clip 5.0, batch 64).
* :func:`train_discriminator` - the paper's discriminator update: ``d_steps`` times, sample fresh
  negatives from G and train D for ``k`` epochs on real + negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqgan_gym.lstm import LSTMLanguageModel


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam over the trainable ``params``; ``fused=True`` where this torch supports it (faster)."""
    params = [p for p in params if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch / unsupported device
        return torch.optim.Adam(params, lr=lr)


def mle_loss(model: LSTMLanguageModel, batch: torch.Tensor) -> torch.Tensor:
    """Mean per-token negative log-likelihood of ``batch`` (B, T) under ``model`` (a scalar)."""
    logits = model.logits(batch)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch.flatten())


def mle_epoch(
    model: LSTMLanguageModel,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    batch_size: int = 64,
    grad_clip: float = 5.0,
    generator: torch.Generator | None = None,
) -> float:
    """One pass of MLE over ``data`` (N, T) in shuffled mini-batches; returns the mean batch loss.

    The authors' code iterates over the data in a fixed order once it is shuffled at load time; we
    reshuffle every epoch with ``generator`` (seeded), the usual practice.
    """
    model.check_tokens(data)
    model.train()
    device = next(model.parameters()).device
    order = torch.randperm(data.shape[0], generator=generator)
    total, n = 0.0, 0
    for start in range(0, data.shape[0], batch_size):
        batch = data[order[start : start + batch_size]].to(device)
        loss = mle_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.item()
        n += 1
    return total / max(n, 1)
