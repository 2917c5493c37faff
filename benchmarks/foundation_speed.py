"""How fast are SeqGAN's building blocks, against the plain PyTorch a user would write?

The paper's synthetic experiment (Yu et al. 2017; the authors' code) spends its time in four
operations, each measured here on the paper's oracle (V = 5000, T = 20, embedding and hidden 32),
ours beside a PLAIN PYTORCH REFERENCE written in this file the way a user, or a public port, would
write the same step (idiomatic, not deliberately slow; not copied from anywhere):

1. one MLE epoch of the generator: 10,000 oracle sequences, batch 64, lr 0.01, gradient-norm clip 5.
   Ours: :func:`seqgan_gym.training.updates.mle_epoch` (the output layer's cross-entropy fused with its
   gradients, :func:`seqgan_gym.models.sampling.output_cross_entropy`; fused Adam). Plain:
   :class:`PlainLM` (``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear``), ``nn.CrossEntropyLoss``,
   default ``torch.optim.Adam``. Also "ours before": our MLE epoch with the output layer's chunks
   one at a time with every thread per operation, as before they ran side by side on one thread
   each (:func:`chunks_in_turn`; the same at 1 thread);
2. one discriminator epoch: 20,000 sequences = the 10,000 real + 10,000 sampled from G, batch 64,
   lr 1e-4. Ours: the paper's CNN as :class:`seqgan_gym.models.discriminator.Discriminator` computes it,
   :func:`seqgan_gym.training.updates.discriminator_epoch`, fused Adam. Plain: :class:`PlainCNN`, one
   ``nn.Conv2d`` per filter width, ``F.max_pool2d``, highway, dropout, ``nn.CrossEntropyLoss`` plus
   the same L2 term, default ``torch.optim.Adam``. Also "ours before": our D with its widths'
   convolutions one at a time with every thread per operation, as before they ran side by side on
   one thread each (:func:`chunks_in_turn`; the same at 1 thread);
3. sampling 10,000 sequences from G. Plain: ``nn.LSTM`` one step at a time, ``torch.softmax`` and
   ``torch.multinomial``. Also "ours before": each step's chunks in turn (:func:`chunks_in_turn`;
   the same "before" for NLL_oracle);
4. one NLL_oracle evaluation (sample 10,000 sequences from G, score them under the oracle), and its
   scoring half alone. Plain scoring: ``F.cross_entropy`` over the teacher-forced logits.

Every measurement runs at each ``--threads`` count (default 1 and 2), ours and plain interleaved
within each repetition (median over ``--reps``). Each row reports wall seconds, process CPU
seconds, the FLOPs counted analytically (:func:`flop_counts`), the achieved GFLOP/s and its
fraction of a plain fp32 ``torch.mm`` (square 2048) timed the same way in the same run, and
``speedup_over_plain`` = plain seconds / ours, measured side by side. Absolute seconds vary
between machines of this kind (the fp32 matmul rate of these 2-core Xeons ranged from ~175 to
~320 GFLOP/s); the ratios are what the targets are stated in.

Run (``--quick`` is a smoke test of about a minute: 1,000 sequences instead of 10,000, 1 rep)::

    .venv/bin/python benchmarks/foundation_speed.py [--reps 2] [--threads 1 2] [--out PATH] [--quick]

``--compile-plain-d`` also times a copy of the plain D compiled by ``torch.compile`` (inductor, a
candidate the issue names), interleaved with the rest; its JSON row gets ``plain_compiled_seconds``.
"""

# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported)
from __future__ import annotations

import os

# As in rollout_speed.py: on a shared 2-CPU machine OpenMP's default spin-waiting makes every
# small op of a 2-thread torch wait for a time slice. Passive waiting avoids that; an explicit
# setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib
import pkgutil
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F
from common import machine_info  # benchmarks/common.py (this folder is on sys.path)
from torch import nn

import seqgan_gym._kernels as kernels
from seqgan_gym.data.paper_oracle import find_paper_oracle
from seqgan_gym.evaluation.metrics import nll_oracle, sequence_nll
from seqgan_gym.models.discriminator import (
    PAPER_L2_REG_LAMBDA,
    Discriminator,
    discriminator_flops,
    make_discriminator_optimizer,
    paper_discriminator,
)
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.oracle import load_oracle
from seqgan_gym.training.updates import discriminator_epoch, mle_epoch
from seqgan_gym.utils import atomic_write_json, make_adam

# Not measured by this script: context printed beside our numbers. The public PyTorch port of the
# authors' code (ZiJianZhao/SeqGAN-PyTorch), each codebase's own functions interleaved in one run
# on this kind of machine, idle, 2 threads, by the session that filed issue 16 (2026-11).
PUBLIC_PORT = {"mle_epoch": "5.55 s", "d_epoch": "25.1 s", "sample": "25.1 s"}
TARGETS = {"mle_epoch": 1.6, "d_epoch": 2.0}  # speedup over the plain reference, same run


@dataclass
class Sizes:
    """Sizes of one run (the paper's unless ``--quick``)."""

    n_real: int = 10_000  # real sequences: the MLE epoch's data and D's positives
    n_fake: int = 10_000  # sequences sampled from G: D's negatives
    n_eval: int = 10_000  # sequences per sampling / NLL_oracle measurement
    batch_size: int = 64  # MLE and D mini-batch (the paper: 64)
    mle_lr: float = 0.01  # the generator's Adam learning rate
    d_lr: float = 1e-4  # the discriminator's Adam learning rate
    grad_clip: float = 5.0  # the generator's gradient-norm clip
    matmul_n: int = 2048  # side of the square fp32 matmul that sets the reference rate


PAPER = Sizes()
QUICK = Sizes(n_real=1000, n_fake=1000, n_eval=1000, matmul_n=1024)


# ------------------------------------------------------------------------------ plain references
class PlainLM(nn.Module):
    """The generator as a user writes it: ``nn.Embedding`` + ``nn.LSTM`` + ``nn.Linear``.

    Its submodules have our :class:`LSTMLanguageModel`'s names, so ``load_state_dict`` copies a
    generator's weights in, and the plain functions below also run on our models (the oracle).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: inputs (B, T) = start token and y_1 .. y_T-1 -> (B, T, V)."""
        hidden, _ = self.lstm(self.embedding(inputs))
        return self.output(hidden)


def shifted_inputs(sequences: torch.Tensor, start_token: int = 0) -> torch.Tensor:
    """The LSTM's inputs for teacher forcing: the start token, then y_1 .. y_T-1."""
    start = torch.full((sequences.shape[0], 1), start_token, dtype=sequences.dtype)
    return torch.cat([start, sequences[:, :-1]], dim=1)


def plain_mle_epoch(model: PlainLM, optimizer, data, batch_size, grad_clip, rng) -> float:
    """One MLE epoch written plainly: logits, ``nn.CrossEntropyLoss``, clip, default Adam."""
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(data.shape[0], generator=rng)
    total, n = 0.0, 0
    for start in range(0, data.shape[0], batch_size):
        batch = data[order[start : start + batch_size]]
        logits = model(shifted_inputs(batch))
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), batch.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total, n = total + loss.item(), n + 1
    return total / n


@torch.no_grad()
def plain_sample(model, n: int, seq_len: int, rng, start_token: int = 0) -> torch.Tensor:
    """Sampling written plainly: one ``nn.LSTM`` step at a time, softmax, ``torch.multinomial``."""
    tokens = torch.full((n,), start_token, dtype=torch.long)
    state, out = None, []
    for _ in range(seq_len):
        hidden, state = model.lstm(model.embedding(tokens)[:, None], state)
        probs = torch.softmax(model.output(hidden[:, 0]), dim=-1)
        tokens = torch.multinomial(probs, 1, generator=rng)[:, 0]
        out.append(tokens)
    return torch.stack(out, dim=1)


@torch.no_grad()
def plain_nll(model, sequences: torch.Tensor, batch_size: int = 256) -> float:
    """Mean per-token NLL written plainly: teacher-forced logits and ``F.cross_entropy``."""
    total = 0.0
    for start in range(0, sequences.shape[0], batch_size):
        batch = sequences[start : start + batch_size]
        logits = PlainLM.forward(model, shifted_inputs(batch))
        total += F.cross_entropy(logits.flatten(0, 1), batch.flatten(), reduction="sum").item()
    return total / sequences.numel()


class PlainCNN(nn.Module):
    """The paper's discriminator as a user writes it: one ``nn.Conv2d`` per filter width over the
    (B, 1, T, E) embeddings, ReLU, ``F.max_pool2d`` over time, highway, dropout, a linear layer.
    :meth:`from_discriminator` copies our D's weights (the benchmark checks the logits agree)."""

    def __init__(self, vocab_size, seq_len, emb_dim, filter_sizes, num_filters, dropout) -> None:
        super().__init__()
        self.seq_len, self.filter_sizes = seq_len, tuple(filter_sizes)
        features = sum(num_filters)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList(nn.Conv2d(1, n, (w, emb_dim)) for w, n in zip(filter_sizes, num_filters))
        self.highway_transform = nn.Linear(features, features)
        self.highway_gate = nn.Linear(features, features)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(features, 2)

    @classmethod
    def from_discriminator(cls, d: Discriminator) -> PlainCNN:
        plain = cls(d.vocab_size, d.seq_len, d.emb_dim, d.filter_sizes, d.num_filters, d.dropout.p)
        state = {k: v for k, v in d.state_dict().items() if not k.startswith("convs.")}
        for i, (w, conv) in enumerate(zip(d.filter_sizes, d.convs)):
            state[f"convs.{i}.weight"] = conv.weight.detach().view(-1, 1, w, d.emb_dim)
            state[f"convs.{i}.bias"] = conv.bias.detach()
        plain.load_state_dict(state)
        return plain

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(sequences).unsqueeze(1)  # (B, 1, T, E)
        pooled = [F.max_pool2d(F.relu(conv(emb)), (self.seq_len - w + 1, 1)).flatten(1)
                  for w, conv in zip(self.filter_sizes, self.convs)]
        x = torch.cat(pooled, dim=1)
        t = torch.sigmoid(self.highway_gate(x))
        x = t * F.relu(self.highway_transform(x)) + (1 - t) * x
        return self.output(self.dropout(x))


def plain_d_epoch(model: PlainCNN, optimizer, real, fake, batch_size, rng) -> float:
    """One D epoch written plainly: shuffled real (1) + fake (0), ``nn.CrossEntropyLoss`` plus
    the paper's L2 term on the output layer, default Adam."""
    loss_fn = nn.CrossEntropyLoss()
    data = torch.cat([real, fake])
    labels = torch.cat([torch.ones(real.shape[0]), torch.zeros(fake.shape[0])]).long()
    order = torch.randperm(data.shape[0], generator=rng)
    total, n = 0.0, 0
    for start in range(0, data.shape[0], batch_size):
        idx = order[start : start + batch_size]
        l2 = model.output.weight.square().sum() + model.output.bias.square().sum()
        loss = loss_fn(model(data[idx]), labels[idx]) + PAPER_L2_REG_LAMBDA * 0.5 * l2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, n = total + loss.item(), n + 1
    return total / n


@contextmanager
def chunks_in_turn():
    """Every :func:`seqgan_gym._kernels.threads.side_by_side` caller (the MLE loss's chunks, D's
    widths, sampling and NLL) one chunk at a time with every thread on each operation, as the
    kernels ran before they ran chunks side by side on one thread each ("ours before" of the MLE and
    D epochs, sampling and NLL_oracle). The library has no switch for it: for the block, every
    kernel module's ``side_by_side_workers`` is replaced by one that answers 1 (one worker: the
    chunks in turn, on the caller's thread with all its torch threads)."""
    modules = [importlib.import_module(f"{kernels.__name__}.{info.name}")
               for info in pkgutil.iter_modules(kernels.__path__)]
    patched = {module: module.side_by_side_workers for module in modules
               if hasattr(module, "side_by_side_workers")}
    for module in patched:
        module.side_by_side_workers = lambda device, n_chunks: 1
    try:
        yield
    finally:
        for module, workers in patched.items():
            module.side_by_side_workers = workers


# ------------------------------------------------------------------------------ FLOP counts
def flop_counts(s: Sizes, V: int, T: int, E: int, H: int, d_flops_per_seq: int) -> dict:
    """FLOPs of each measurement, a multiply-add counted as 2.

    Per token, forward: the LSTM cell ``2 * 4 * H * (E + H)`` (four gates, input and recurrent
    products) plus the output layer ``2 * H * V``; bias adds, activations, exp/softmax, the
    embedding look-up and the sampling search are not counted. Training (MLE, D) counts the
    backward pass as 2x the forward: 3x forward in all. D's forward per sequence comes from
    :func:`seqgan_gym.models.discriminator.discriminator_flops` (convolutions, highway, output layer).
    """
    token = 2 * 4 * H * (E + H) + 2 * H * V
    flops = {
        "mle_epoch": 3 * token * s.n_real * T,
        "d_epoch": 3 * d_flops_per_seq * (s.n_real + s.n_fake),
        "sample": token * s.n_eval * T,
        "nll_oracle": 2 * token * s.n_eval * T,  # sample from G, then score under the oracle
        "nll_scoring": token * s.n_eval * T,
    }
    formulas = {
        "token_forward": f"2*4*H*(E+H) + 2*H*V = {token:,} (H={H}, E={E}, V={V})",
        "mle_epoch": "3 * token_forward * n_real * T (forward + backward = 3x forward)",
        "d_epoch": f"3 * discriminator_flops(T) * (n_real + n_fake), discriminator_flops(T) = "
                   f"{d_flops_per_seq:,} per sequence",
        "sample": "token_forward * n_eval * T",
        "nll_oracle": "2 * token_forward * n_eval * T (sampling + scoring)",
        "nll_scoring": "token_forward * n_eval * T (teacher-forced LSTM + output layer)",
    }
    return {"flops": flops, "formulas": formulas}


# ------------------------------------------------------------------------------ measurements
def timed(fn) -> tuple[float, float, object]:
    """Run ``fn()``; return (wall seconds, process CPU seconds, its result)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def labels(s: Sizes) -> dict[str, str]:
    """The table's row labels at these sizes."""
    return {
        "mle_epoch": f"MLE epoch ({s.n_real:,} seqs, batch {s.batch_size}, Adam, clip {s.grad_clip:g})",
        "d_epoch": f"D epoch ({s.n_real:,} real + {s.n_fake:,} sampled, batch {s.batch_size})",
        "sample": f"sample {s.n_eval:,} sequences from G",
        "nll_oracle": f"NLL_oracle evaluation (sample + score {s.n_eval:,})",
        "nll_scoring": f"  of which scoring {s.n_eval:,} under the oracle",
    }


def measure(threads: int, s: Sizes, reps: int, parts: dict) -> dict[str, dict[str, list]]:
    """Every measurement at ``threads`` threads, ``reps`` times, ours and plain interleaved (in
    reverse order on odd repetitions).

    Returns ``{name: {variant: [(wall, cpu, value), ...]}}`` with variants ``ours``, ``plain``
    (and ``before`` for the MLE and D epochs, sampling and NLL_oracle, at more than 1 thread) and the
    reference ``matmul``.
    """
    torch.set_num_threads(threads)
    p = parts
    seeded = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    mm = lambda: torch.mm(p["mm_a"], p["mm_b"], out=p["mm_out"])  # noqa: E731
    steps = {
        "matmul": {"ours": mm},
        "mle_epoch": {
            "ours": lambda r: mle_epoch(p["generator"], p["g_opt"], p["real"], s.batch_size,
                                        s.grad_clip, seeded(100 + r)),
            "before": lambda r: _in_turn(lambda: mle_epoch(p["generator"], p["g_opt"], p["real"],
                                                           s.batch_size, s.grad_clip, seeded(100 + r))),
            "plain": lambda r: plain_mle_epoch(p["plain_lm"], p["plain_lm_opt"], p["real"],
                                               s.batch_size, s.grad_clip, seeded(100 + r)),
        },
        "d_epoch": {
            "ours": lambda r: discriminator_epoch(p["d"], p["d_opt"], p["real"], p["fake"],
                                                  s.batch_size, seeded(400 + r))["loss"],
            "before": lambda r: _in_turn(lambda: discriminator_epoch(
                p["d"], p["d_opt"], p["real"], p["fake"], s.batch_size, seeded(400 + r))["loss"]),
            "plain": lambda r: plain_d_epoch(p["plain_d"], p["plain_d_opt"], p["real"], p["fake"],
                                             s.batch_size, seeded(400 + r)),
            **({"plain_compiled": lambda r: plain_d_epoch(
                p["plain_d_compiled"], p["plain_d_compiled_opt"], p["real"], p["fake"], s.batch_size,
                seeded(400 + r))} if "plain_d_compiled" in p else {}),
        },
        "sample": {
            "ours": lambda r: p["generator"].sample(s.n_eval, rng=seeded(200 + r)).shape[0],
            "before": lambda r: _in_turn(lambda: p["generator"].sample(s.n_eval, rng=seeded(200 + r))
                                        .shape[0]),
            "plain": lambda r: plain_sample(p["generator"], s.n_eval, p["T"], seeded(200 + r)).shape[0],
        },
        "nll_oracle": {
            "ours": lambda r: nll_oracle(p["generator"], p["oracle"], s.n_eval, rng=seeded(300 + r)),
            "before": lambda r: _in_turn(lambda: nll_oracle(p["generator"], p["oracle"], s.n_eval,
                                                           rng=seeded(300 + r))),
            "plain": lambda r: plain_nll(p["oracle"], plain_sample(p["generator"], s.n_eval, p["T"],
                                                                   seeded(300 + r))),
        },
        "nll_scoring": {
            "ours": lambda r: sequence_nll(p["oracle"], p["fake"][: s.n_eval]),
            "plain": lambda r: plain_nll(p["oracle"], p["fake"][: s.n_eval]),
        },
    }
    if threads == 1:  # "before" differs from "ours" only where chunks run side by side: not on 1 thread
        for variants in steps.values():
            variants.pop("before", None)
    runs: dict[str, dict[str, list]] = {name: {v: [] for v in fns} for name, fns in steps.items()}
    for rep in range(reps):
        for name, variants in steps.items():
            # odd repetitions run the variants in reverse order: whichever runs first after another
            # measurement was measured up to 20% slower here (the MLE epoch at 2 threads), whatever it was
            order = list(variants.items())[:: 1 if rep % 2 == 0 else -1]
            for variant, fn in order:
                runs[name][variant].append(timed(fn if name == "matmul" else partial(fn, rep)))
    return runs


def _in_turn(run):
    with chunks_in_turn():
        return run()


def build(s: Sizes) -> dict:
    """The oracle, its real data, G and D (ours and plain copies), their optimisers, the negatives."""
    oracle_path = find_paper_oracle()
    oracle = load_oracle(oracle_path)
    V, T, E, H = oracle.vocab_size, oracle.seq_len, oracle.emb_dim, oracle.hidden_dim
    generator = LSTMLanguageModel(V, T, E, H).init_normal_(0.1, torch.Generator().manual_seed(2))
    plain_lm = PlainLM(V, E, H)
    plain_lm.load_state_dict(generator.state_dict())
    d = paper_discriminator(V, T, seed=0)
    plain_d = PlainCNN.from_discriminator(d)
    parts = {
        "oracle": oracle, "oracle_path": str(oracle_path), "V": V, "T": T, "E": E, "H": H,
        "real": oracle.sample(s.n_real, rng=torch.Generator().manual_seed(1)),
        "fake": generator.sample(s.n_fake, rng=torch.Generator().manual_seed(3)),
        "generator": generator, "g_opt": make_adam(generator.parameters(), s.mle_lr),
        "plain_lm": plain_lm, "plain_lm_opt": torch.optim.Adam(plain_lm.parameters(), lr=s.mle_lr),
        "d": d, "d_opt": make_discriminator_optimizer(d, s.d_lr),
        "plain_d": plain_d, "plain_d_opt": torch.optim.Adam(plain_d.parameters(), lr=s.d_lr),
        "mm_a": torch.randn(s.matmul_n, s.matmul_n), "mm_b": torch.randn(s.matmul_n, s.matmul_n),
        "mm_out": torch.empty(s.matmul_n, s.matmul_n),
    }
    # the plain references compute the same functions: check before timing them
    x = parts["real"][:64]
    d.eval(), plain_d.eval()
    with torch.no_grad():
        gap = (d(x) - plain_d(x)).abs().max().item()
        lm_gap = (generator.logits(x) - plain_lm(shifted_inputs(x))).abs().max().item()
    d.train(), plain_d.train()
    if gap > 1e-4 or lm_gap > 1e-4:
        raise RuntimeError(f"plain references disagree with ours: D logits {gap:.2e}, G logits {lm_gap:.2e}")
    parts["check"] = {"max_abs_logit_gap_d": gap, "max_abs_logit_gap_g": lm_gap}
    return parts


def warm_up(parts: dict, s: Sizes) -> None:
    """Allocator, BLAS kernels and first-call paths, on small slices."""
    p, few = parts, 256
    torch.mm(p["mm_a"], p["mm_b"], out=p["mm_out"])
    mle_epoch(p["generator"], p["g_opt"], p["real"][:few], s.batch_size, s.grad_clip)
    plain_mle_epoch(p["plain_lm"], p["plain_lm_opt"], p["real"][:few], s.batch_size, s.grad_clip, None)
    discriminator_epoch(p["d"], p["d_opt"], p["real"][:128], p["fake"][:128], s.batch_size)
    if "plain_d_compiled" in p:  # compiles here (again at another thread count)
        plain_d_epoch(p["plain_d_compiled"], p["plain_d_compiled_opt"], p["real"][:128], p["fake"][:128],
                      s.batch_size, None)
    plain_d_epoch(p["plain_d"], p["plain_d_opt"], p["real"][:128], p["fake"][:128], s.batch_size, None)
    p["generator"].sample(few), plain_sample(p["generator"], few, p["T"], None)
    sequence_nll(p["oracle"], p["real"][:few]), plain_nll(p["oracle"], p["real"][:few])


def rows_for(threads: int, runs: dict, counted: dict, s: Sizes) -> dict:
    """One JSON row per measurement at this thread count, keyed ``<name>_<threads>t``."""
    median = lambda xs: statistics.median(xs)  # noqa: E731
    mm_seconds = median(w for w, _, _ in runs["matmul"]["ours"])
    mm_gflops = 2 * s.matmul_n**3 / mm_seconds / 1e9
    rows = {}
    for name, label in labels(s).items():
        gflop = counted["flops"][name]
        seconds = {v: median(w for w, _, _ in runs[name][v]) for v in runs[name]}
        row = {
            "label": label, "threads": threads, "seconds": seconds["ours"],
            "seconds_reps": [w for w, _, _ in runs[name]["ours"]],
            "cpu_seconds": median(c for _, c, _ in runs[name]["ours"]),
            "gflop": gflop / 1e9, "gflops": gflop / seconds["ours"] / 1e9,
            "fraction_of_matmul": gflop / seconds["ours"] / 1e9 / mm_gflops,
            "plain_seconds": seconds["plain"],
            "plain_seconds_reps": [w for w, _, _ in runs[name]["plain"]],
            "plain_fraction_of_matmul": gflop / seconds["plain"] / 1e9 / mm_gflops,
            "speedup_over_plain": seconds["plain"] / seconds["ours"],
            "target_speedup_over_plain": TARGETS.get(name),
            "public_port_2_threads": PUBLIC_PORT.get(name),
            "flop_formula": counted["formulas"][name],
            "last_value_ours": runs[name]["ours"][-1][2],
            "last_value_plain": runs[name]["plain"][-1][2],
        }
        if "plain_compiled" in seconds:  # --compile-plain-d
            row["plain_compiled_seconds"] = seconds["plain_compiled"]
            row["plain_compiled_speedup_over_plain"] = seconds["plain"] / seconds["plain_compiled"]
            row["speedup_over_plain_compiled"] = seconds["plain_compiled"] / seconds["ours"]
        if "before" in seconds:
            row["before_seconds"] = seconds["before"]
            row["speedup_over_before"] = seconds["before"] / seconds["ours"]
            row["before_speedup_over_plain"] = seconds["plain"] / seconds["before"]
        rows[f"{name}_{threads}t"] = row
    rows["_matmul"] = {"seconds": mm_seconds, "gflops": mm_gflops}
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="JSON output path (default "
                   "benchmarks/results/foundation_speed.json, or foundation_speed_quick.json)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts")
    p.add_argument("--reps", type=int, default=2, help="repetitions of each measurement (median)")
    p.add_argument("--quick", action="store_true", help="smoke test: 1,000 sequences, 1 repetition")
    p.add_argument("--compile-plain-d", action="store_true",
                   help="also time the plain D compiled by torch.compile (inductor; ~1.5 min to compile)")
    args = p.parse_args()
    if min(args.threads) < 1 or args.reps < 1:
        p.error("--threads and --reps must be >= 1")
    s = QUICK if args.quick else PAPER
    reps = 1 if args.quick else args.reps
    out_path = args.out or f"benchmarks/results/foundation_speed{'_quick' if args.quick else ''}.json"
    machine = machine_info(args.threads)

    parts = build(s)
    if args.compile_plain_d:  # a copy of the plain D, compiled: a candidate for issue 16, measured
        compiled = PlainCNN.from_discriminator(parts["d"])
        parts["plain_d_compiled"] = torch.compile(compiled)
        parts["plain_d_compiled_opt"] = torch.optim.Adam(compiled.parameters(), lr=s.d_lr)
    V, T, E, H = parts["V"], parts["T"], parts["E"], parts["H"]
    counted = flop_counts(s, V, T, E, H, discriminator_flops(T))
    rows, matmul = {}, {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        warm_up(parts, s)
        per_thread = rows_for(threads, measure(threads, s, reps, parts), counted, s)
        matmul[threads] = per_thread.pop("_matmul")
        rows.update(per_thread)
    machine["loadavg_end"] = list(os.getloadavg())

    la = machine["loadavg_start"]
    print(f"\n## SeqGAN foundations against plain PyTorch: V={V}, T={T}, E={E}, H={H}"
          f"{' (QUICK: 1,000-sequence sets)' if args.quick else ''}\n")
    print(f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
          f"OMP_WAIT_POLICY={machine['OMP_WAIT_POLICY']}; load average at start {la[0]:.2f} "
          f"{la[1]:.2f} {la[2]:.2f}, at end {machine['loadavg_end'][0]:.2f}. Median of {reps} rep(s), "
          f"ours and plain interleaved. Oracle: {parts['oracle_path']}.\n")
    print("| measurement | threads | ours s | plain s | speedup over plain | target | ours of matmul rate "
          "| plain of matmul rate | public port (2 threads)* |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows.values():
        target = r["target_speedup_over_plain"]
        met = target is not None and r["speedup_over_plain"] >= target
        verdict = "" if target is None else f">= {target:g}x ({'met' if met else 'NOT met'})"
        print(f"| {r['label']} | {r['threads']} | {r['seconds']:.2f} | {r['plain_seconds']:.2f} | "
              f"{r['speedup_over_plain']:.2f}x | {verdict} | {100 * r['fraction_of_matmul']:.0f}% | "
              f"{100 * r['plain_fraction_of_matmul']:.0f}% | {r['public_port_2_threads'] or ''} |")
    for threads, m in matmul.items():
        print(f"\nfp32 torch.mm {s.matmul_n}^2 at {threads} thread(s): {m['seconds']:.3f} s, "
              f"{m['gflops']:.1f} GFLOP/s (the reference rate).", end="")
    print("\n")
    for r in rows.values():
        if "before_seconds" in r:
            change = "side by side (chunks in turn)"
            print(f"{r['label']}, {r['threads']} thread(s): ours before {change} "
                  f"{r['before_seconds']:.2f} s ({r['before_speedup_over_plain']:.2f}x plain); ours now "
                  f"{r['seconds']:.2f} s ({r['speedup_over_before']:.2f}x faster than before).")
    for r in rows.values():
        if "plain_compiled_seconds" in r:
            print(f"{r['label']}, {r['threads']} thread(s): the plain D compiled by torch.compile "
                  f"(inductor) {r['plain_compiled_seconds']:.2f} s, "
                  f"{r['plain_compiled_speedup_over_plain']:.2f}x the eager plain one; ours "
                  f"{r['speedup_over_plain_compiled']:.2f}x the compiled one.")
    print("\n*Not measured by this run: the public PyTorch port of the authors' code "
          "(ZiJianZhao/SeqGAN-PyTorch), measured on this kind of machine, idle, 2 threads, in 2026-11.")
    print(f"FLOPs (multiply-add = 2): per token forward {counted['formulas']['token_forward']}; "
          f"training = 3x forward; D: {counted['formulas']['d_epoch']}.")
    print(f"Plain references checked against ours before timing: max |logit gap| D "
          f"{parts['check']['max_abs_logit_gap_d']:.1e}, G {parts['check']['max_abs_logit_gap_g']:.1e}.")

    atomic_write_json(out_path, {
        "benchmark": "foundation_speed", "quick": args.quick, "sizes": asdict(s), "reps": reps,
        "threads": args.threads, "machine": machine, "oracle": parts["oracle_path"],
        "model": {"vocab_size": V, "seq_len": T, "emb_dim": E, "hidden_dim": H},
        "rows": rows, "matmul": {str(t): m for t, m in matmul.items()},
        "flop_formulas": counted["formulas"], "plain_reference_check": parts["check"],
        "not_measured_here": {"public_port_2_threads": PUBLIC_PORT},
    })
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
