"""``nn.LSTM`` in training on one CPU thread.

``nn.LSTM`` in training on a CPU runs oneDNN's RNN kernel, whose small per-step products run slower
on several OpenMP threads than on one at these sizes (a mini-batch of sequences x 20 steps x 32
units): each product is too short to pay for waking the threads. :func:`run_lstm` therefore runs
it on one thread when it trains on at most ``_ONE_THREAD_MAX_ROWS`` sequences; the rest of a step
(the 5000-way output layer) keeps every thread. With several thousand sequences the products are
long enough for several threads.

Kernel and plain reference (tests/test_kernels.py compares them): :func:`run_lstm` /
:func:`run_lstm_reference`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from seqgan_gym.utils import torch_threads

_ONE_THREAD_MAX_ROWS = 1024


def run_lstm(lstm: nn.LSTM, inputs: torch.Tensor) -> torch.Tensor:
    """:func:`run_lstm_reference`: the outputs (batch, L, H) of a ``batch_first`` LSTM over
    ``inputs`` (batch, L, E).

    With gradients enabled on a CPU, more than one torch thread and at most ``_ONE_THREAD_MAX_ROWS``
    sequences, the forward and backward passes run on one thread (see the module docstring); the
    values and gradients are the same.
    """
    if (inputs.device.type != "cpu" or not torch.is_grad_enabled() or torch.get_num_threads() == 1
            or inputs.shape[0] > _ONE_THREAD_MAX_ROWS):
        return lstm(inputs)[0]
    return _OneThreadLSTM.apply(lstm, inputs, *lstm.parameters())


def run_lstm_reference(lstm: nn.LSTM, inputs: torch.Tensor) -> torch.Tensor:
    """``lstm(inputs)[0]``."""
    return lstm(inputs)[0]


class _OneThreadLSTM(torch.autograd.Function):
    """``lstm(inputs)[0]`` whose forward and backward run on one torch thread: the forward builds
    the LSTM's own graph on one thread and keeps it; the backward differentiates that graph, on one
    thread, and hands the gradients of ``inputs`` and the parameters on."""

    @staticmethod
    def forward(ctx, lstm, inputs, *params):
        with torch.enable_grad(), torch_threads(1):
            x = inputs.detach().requires_grad_(inputs.requires_grad)
            out = lstm(x)[0]
        ctx.graph = (out, (x, *params))
        return out.detach()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        out, leaves = ctx.graph
        del ctx.graph  # free the inner graph once used
        wanted = [leaf for leaf in leaves if leaf.requires_grad]  # not empty: backward was called
        with torch_threads(1):
            grads = iter(torch.autograd.grad(out, wanted, grad_out))
        return (None, *(next(grads) if leaf.requires_grad else None for leaf in leaves))
