"""Training pieces shared by the CLI, the callbacks and the benchmarks.

* :func:`mle_epoch` - one epoch of maximum-likelihood pre-training of the generator
  (the paper: Adam lr 0.01, gradient-norm clip 5.0, batch 64).
* :func:`scheduled_sampling_epoch` - the SS baseline (Bengio et al. 2015): MLE where each input
  token is replaced by the model's own sample with a probability that rises over training
  (:func:`inverse_sigmoid_sampling_prob`).
* :func:`discriminator_epoch` - one shuffled pass of D over real (label 1) + generated (label 0).
* :func:`train_discriminator` - the paper's discriminator update: ``d_steps`` times, sample fresh
  negatives from G and train D for ``k`` epochs on real + negatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqgan_gym.models.discriminator import FAKE, REAL, Discriminator
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.sampling import output_cross_entropy, sample_categorical


def mle_loss(model: LSTMLanguageModel, batch: torch.Tensor) -> torch.Tensor:
    """Mean per-token negative log-likelihood of ``batch`` (B, T) under ``model`` (a scalar);
    with the model's ``eos_token``, over the positions up to each row's first EOS only."""
    hidden = model.hidden_states(batch)  # (B, T, H)
    mask = model.token_mask(batch)
    if mask is not None:
        hidden, batch = hidden[mask], batch[mask]
    # F.cross_entropy(model.output(hidden), batch), without materialising the (B*T, V) logits
    return output_cross_entropy(hidden.flatten(0, -2), model.output.weight, model.output.bias,
                                batch.flatten())


def mle_epoch(
    model: LSTMLanguageModel,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    batch_size: int = 64,
    grad_clip: float = 5.0,
    shuffle_rng: torch.Generator | None = None,
) -> float:
    """One pass of MLE over ``data`` (N, T) in shuffled mini-batches; returns the mean batch loss.

    The authors' code iterates over the data in a fixed order once it is shuffled at load time; we
    reshuffle every epoch with ``shuffle_rng`` (seeded), the usual practice.
    """
    mean, _ = _shuffled_epoch(model, optimizer, data, batch_size, grad_clip, shuffle_rng,
                              lambda batch, i: mle_loss(model, batch))
    return mean


def _shuffled_epoch(model: LSTMLanguageModel, optimizer: torch.optim.Optimizer, data: torch.Tensor,
                    batch_size: int, grad_clip: float, shuffle_rng: torch.Generator | None,
                    loss_of: Callable[[torch.Tensor, int], torch.Tensor]) -> tuple[float, int]:
    """One pass over ``data`` (N, T) in mini-batches of a fresh ``shuffle_rng`` permutation: for
    batch ``i``, ``loss_of(batch, i)``, backward, gradient-norm clipping at ``grad_clip``, a step.
    Returns the mean batch loss and the number of batches."""
    model.check_tokens(data)
    model.train()
    device = next(model.parameters()).device
    order = torch.randperm(data.shape[0], generator=shuffle_rng)
    total, n = 0.0, 0
    for start in range(0, data.shape[0], batch_size):
        batch = data[order[start : start + batch_size]].to(device)
        loss = loss_of(batch, n)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.item()
        n += 1
    return total / max(n, 1), n


# ---------------------------------------------------------------------- scheduled sampling
def inverse_sigmoid_sampling_prob(step: int, decay: float) -> float:
    """Probability of feeding the model's own sample at mini-batch ``step``: ``1 - eps_step`` with
    Bengio et al.'s inverse-sigmoid decay ``eps_i = decay / (decay + exp(i / decay))`` (decay >= 1;
    Bengio et al. call it k, which here is D's epochs per d-step).

    It starts at ``1 / (decay + 1)`` (near 0 for the usual decay in the hundreds), reaches 1/2 at
    step ``decay ln decay`` and tends to 1.
    """
    if decay < 1:
        raise ValueError(f"the inverse-sigmoid schedule needs decay >= 1, got {decay}")
    x = step / decay
    if x > 700:  # exp overflows; eps is 0 to double precision long before
        return 1.0
    return 1.0 - decay / (decay + math.exp(x))


def scheduled_sampling_loss(
    model: LSTMLanguageModel, batch: torch.Tensor, sample_prob: float, rng: torch.Generator | None
) -> torch.Tensor:
    """Mean per-token NLL of ``batch`` (B, T) where each input token y_{t-1} (t >= 2) is, with
    probability ``sample_prob``, replaced by a token sampled from the model's own prediction at
    t - 1 (no gradient through the sample). ``sample_prob = 0`` is exactly :func:`mle_loss`
    (masked after the first EOS the same way when the model has an ``eos_token``).

    The sequence is stepped token by token, since an input can depend on the previous output.
    """
    b, t_len = batch.shape
    state = model.initial_state(b)
    inputs = model.start_tokens(b)
    losses = []
    for t in range(t_len):
        logits, state = model.step(inputs, state)  # (B, V): the prediction of token t
        losses.append(F.cross_entropy(logits, batch[:, t], reduction="none"))  # (B,)
        if t + 1 < t_len:
            inputs = batch[:, t]
            if sample_prob > 0:
                with torch.no_grad():
                    own = sample_categorical(logits.detach(), rng)  # (B,)
                    use_own = torch.rand(b, generator=rng, device=batch.device) < sample_prob
                inputs = torch.where(use_own, own, inputs)
    losses = torch.stack(losses, dim=1)  # (B, T)
    mask = model.token_mask(batch)  # with an eos_token: positions up to the first EOS only
    return losses.mean() if mask is None else losses[mask].mean()


def scheduled_sampling_epoch(
    model: LSTMLanguageModel,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    decay: float,
    first_step: int = 0,
    batch_size: int = 64,
    grad_clip: float = 5.0,
    shuffle_rng: torch.Generator | None = None,
    sample_rng: torch.Generator | None = None,
) -> tuple[float, int]:
    """One epoch of scheduled sampling over ``data`` (N, T), shuffled as :func:`mle_epoch`.

    Mini-batch ``i`` (counted from ``first_step`` across epochs) feeds the model's own samples
    with probability :func:`inverse_sigmoid_sampling_prob` (i, decay). ``shuffle_rng`` (CPU) drives
    the shuffle; ``sample_rng`` (on the model's device) the samples and the coin flips.
    Returns the mean loss and the next step.
    """
    def loss_of(batch: torch.Tensor, i: int) -> torch.Tensor:
        p = inverse_sigmoid_sampling_prob(first_step + i, decay)
        return scheduled_sampling_loss(model, batch, p, sample_rng)

    mean, n = _shuffled_epoch(model, optimizer, data, batch_size, grad_clip, shuffle_rng, loss_of)
    return mean, first_step + n


# ---------------------------------------------------------------------- discriminator
def discriminator_epoch(
    discriminator: Discriminator,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    batch_size: int = 64,
    shuffle_rng: torch.Generator | None = None,
) -> dict[str, float]:
    """One shuffled pass of D over ``real`` (N, T), label 1, and ``fake`` (M, T), label 0.

    Each mini-batch of ``batch_size`` mixes both kinds (the authors shuffle positives and
    negatives together); the loss is D's mean cross-entropy plus its L2 term. ``shuffle_rng`` seeds
    the shuffle. Returns ``{"loss", "acc_real", "acc_fake"}``: the mean loss per sequence, and the
    fractions of real / fake sequences classified correctly (logit of their class larger) *on the
    training batches, in train mode* (dropout on, weights changing during the epoch) - a cheap
    running figure, not a held-out accuracy.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    discriminator.check_tokens(real)
    discriminator.check_tokens(fake)
    discriminator.train()
    device = next(discriminator.parameters()).device
    data = torch.cat([real, fake]).to(device)
    labels = torch.cat(
        [torch.full((real.shape[0],), REAL), torch.full((fake.shape[0],), FAKE)]
    ).to(device)
    order = torch.randperm(data.shape[0], generator=shuffle_rng).to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros(2, device=device)  # per class: [fake, real]
    for start in range(0, data.shape[0], batch_size):
        idx = order[start : start + batch_size]
        batch, y = data[idx], labels[idx]
        logits = discriminator(batch)
        loss = F.cross_entropy(logits, y) + discriminator.l2_penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            loss_sum += loss.detach() * y.shape[0]
            hit = (logits.argmax(dim=1) == y).float()
            correct.index_add_(0, y, hit)
    n = max(data.shape[0], 1)
    correct = correct.tolist()
    return {
        "loss": loss_sum.item() / n,
        "acc_real": correct[REAL] / max(real.shape[0], 1),
        "acc_fake": correct[FAKE] / max(fake.shape[0], 1),
    }


def train_discriminator(
    discriminator: Discriminator,
    optimizer: torch.optim.Optimizer,
    real_data: torch.Tensor,
    sample_negatives: Callable[[int], torch.Tensor],
    n_negatives: int = 10_000,
    d_steps: int = 5,
    k: int = 3,
    batch_size: int = 64,
    shuffle_rng: torch.Generator | None = None,
) -> dict[str, float]:
    """The paper's discriminator update: ``d_steps`` times, draw fresh negatives, train k epochs.

    Each of the ``d_steps`` rounds calls ``sample_negatives(n_negatives)`` once (it must return
    (n_negatives, T) token ids, e.g. ``lambda n: generator.sample(n)``) and runs ``k``
    :func:`discriminator_epoch` passes over ``real_data`` (N, T) + those negatives. The authors
    draw as many negatives as there are positives (10,000 each, ``generated_num``), hence the
    default; the paper's schedule is ``d_steps=5, k=3`` per adversarial iteration and 50 rounds
    of ``k=3`` for pre-training. ``shuffle_rng`` (a ``torch.Generator``) seeds the shuffles so a
    run repeats; the negatives' randomness is ``sample_negatives``'s own. Returns the last epoch's
    :func:`discriminator_epoch` statistics.
    """
    if d_steps < 1 or k < 1:
        raise ValueError(f"d_steps and k must be >= 1, got d_steps={d_steps}, k={k}")
    stats: dict[str, float] = {}
    for _ in range(d_steps):
        negatives = sample_negatives(n_negatives)
        if negatives.dim() != 2 or negatives.shape[0] != n_negatives:
            raise ValueError(
                f"sample_negatives({n_negatives}) returned shape {tuple(negatives.shape)}, "
                f"expected ({n_negatives}, T)"
            )
        for _ in range(k):
            stats = discriminator_epoch(
                discriminator, optimizer, real_data, negatives, batch_size, shuffle_rng
            )
    return stats
