"""Independent chunks of work side by side on CPU threads, one torch thread each.

For CPU work made of many short torch operations on a few MB each (the chunks of an output layer,
the filter widths of D's convolutions): with N torch threads per operation each one pays OpenMP's
start-up and wake-ups, while N chunks side by side on one thread each do not.

- :func:`side_by_side` runs ``fn`` on ``workers`` slices of a list at once, in a process-wide pool;
  :func:`side_by_side_reference` is the same calls one after the other.
- :func:`side_by_side_workers` says how many workers a caller should use.
- :func:`one_thread_per_operation` runs a block of many small operations (an SB3 PPO update) on
  one torch thread per operation while :func:`side_by_side_workers` still counts every thread;
  :func:`every_thread` gives a block inside it its threads per operation back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

from seqgan_gym.utils import torch_threads

T = TypeVar("T")

_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, threads, pool): a fork makes its own
# .threads: inside one_thread_per_operation(n) on this thread, n; per thread, so that the
# side-by-side workers themselves (one torch thread each) never split their work again
_ONE_THREAD_OPS = threading.local()


def side_by_side_workers(device: torch.device, n_chunks: int) -> int:
    """How many threads to spread ``n_chunks`` independent chunks of work over with
    :func:`side_by_side`: torch's thread count on CPU (inside :func:`one_thread_per_operation`, the
    count it was given), at most one per chunk; 1 on other devices or with one thread."""
    if device.type != "cpu":
        return 1
    threads = getattr(_ONE_THREAD_OPS, "threads", None) or torch.get_num_threads()
    return max(1, min(threads, n_chunks))


@contextmanager
def one_thread_per_operation(threads: int) -> Iterator[None]:
    """Run the block with one torch thread per operation while :func:`side_by_side_workers` still
    counts ``threads``: work that splits into independent chunks (:func:`side_by_side`) keeps
    ``threads`` threads, one chunk each, and every other operation runs on one thread.

    For loops of many small operations (an SB3 PPO update at the paper's sizes: a 64-row LSTM step,
    a 256 x 5000 output layer), which N OpenMP threads per operation make slower than one, as each
    operation pays their start-up and wake-ups. :func:`every_thread` gives a block inside (an
    environment's Monte-Carlo reward) its ``threads`` per operation back.
    """
    before = getattr(_ONE_THREAD_OPS, "threads", None)
    _ONE_THREAD_OPS.threads = threads
    try:
        with torch_threads(1):
            yield
    finally:
        _ONE_THREAD_OPS.threads = before


@contextmanager
def every_thread() -> Iterator[None]:
    """Inside :func:`one_thread_per_operation`: run the block with all its threads per operation
    again. Elsewhere it changes nothing."""
    threads = getattr(_ONE_THREAD_OPS, "threads", None)
    if threads is None:
        yield
        return
    _ONE_THREAD_OPS.threads = None
    try:
        with torch_threads(threads):
            yield
    finally:
        _ONE_THREAD_OPS.threads = threads


def side_by_side(fn: Callable[[list], T], items: list, workers: int) -> list[T]:
    """:func:`side_by_side_reference`'s ``[fn(items[k::workers]) for k in range(workers)]``, the
    calls on ``workers`` threads at once, each with one torch thread; the results in that order.

    The split of ``items`` is fixed, so whatever sums the caller makes of the results repeat bit
    for bit. ``fn`` must not change state another call reads; it runs with the caller's gradient
    mode. With ``workers <= 1`` it is one plain call.
    """
    if workers <= 1:
        return [fn(items)]
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
        if _POOL is not None and _POOL[0] == os.getpid():
            _POOL[2].shutdown(wait=False)  # too small: replaced (its idle threads exit)
        _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="seqgan-side-by-side"))
    grad_enabled = torch.is_grad_enabled()  # thread-local: the workers get the caller's

    def call(part: list) -> T:
        with torch.set_grad_enabled(grad_enabled):
            return fn(part)

    with torch_threads(1):
        futures = [_POOL[2].submit(call, items[k::workers]) for k in range(workers)]
        return [f.result() for f in futures]


def side_by_side_reference(fn: Callable[[list], T], items: list, workers: int) -> list[T]:
    """What :func:`side_by_side` returns, the calls one after the other on the calling thread."""
    return [fn(items[k::workers]) for k in range(max(1, workers))]
